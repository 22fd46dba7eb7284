//! Point cards: the 16-digit card number with its Luhn check digit, and the rows of a plastic
//! card import file (CSV), parsed and checked line by line before anything is written.

use std::collections::HashSet;

use chrono::NaiveDate;
use rand::Rng;
use serde::{Deserialize, Serialize};

/// Digits of a card number, the last one the Luhn check digit.
pub const CARD_DIGITS: usize = 16;
/// Largest purchase (yen before tax) one earn may award points for: ¥10 million is beyond any
/// shop of a shopping street, and it keeps rate × campaign × purchase far inside the ledger's
/// amount limit (at most 10 × 1 × 10^7 points).
pub const EARN_PURCHASE_YEN_MAX: i64 = 10_000_000;
/// Largest balance a card may carry in from the plastic system.
pub const IMPORT_BALANCE_MAX: i64 = 10_000_000;
/// Rows one import file may hold at most (a city's whole plastic card base; about 3.5 MB,
/// within the import route's own body limit).
pub const IMPORT_ROWS_MAX: usize = 100_000;
/// Bytes an import file may hold at most (the import route's body limit; every other route
/// keeps the global 64 KiB).
pub const IMPORT_BYTES_MAX: usize = 8 * 1024 * 1024;
/// Rows written per writer job, so an import never holds the single writer for long.
pub const IMPORT_ROWS_PER_JOB: usize = 500;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CardNumberError {
    #[error("a card number is 16 digits")]
    Length,
    #[error("a card number has digits only")]
    NotDigits,
    #[error("the check digit does not match")]
    CheckDigit,
}

/// A card number with a valid check digit; spaces and hyphens are accepted on input (a
/// cashier types what is printed) and dropped.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct CardNumber(String);

impl CardNumber {
    pub fn parse(text: &str) -> Result<Self, CardNumberError> {
        let digits: String = text.chars().filter(|c| *c != ' ' && *c != '-').collect();
        if !digits.chars().all(|c| c.is_ascii_digit()) {
            return Err(CardNumberError::NotDigits);
        }
        if digits.len() != CARD_DIGITS {
            return Err(CardNumberError::Length);
        }
        if !luhn_sum(digits.as_bytes()).is_multiple_of(10) {
            return Err(CardNumberError::CheckDigit);
        }
        Ok(Self(digits))
    }

    /// A fresh random number (15 random digits, the first not zero, and the check digit).
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        let mut body: Vec<u8> = (0..CARD_DIGITS - 1)
            .map(|i| b'0' + rng.random_range(if i == 0 { 1 } else { 0 }..10))
            .collect();
        body.push(b'0');
        let check = (10 - luhn_sum(&body) % 10) % 10;
        let last = body.len() - 1;
        body[last] = b'0' + check as u8;
        Self(String::from_utf8(body).expect("ascii digits"))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The Luhn sum of ASCII digits: every second digit from the right doubled (minus 9 above 9).
fn luhn_sum(digits: &[u8]) -> u32 {
    digits
        .iter()
        .rev()
        .enumerate()
        .map(|(i, d)| {
            let d = u32::from(d - b'0');
            if i % 2 == 1 {
                let twice = d * 2;
                if twice > 9 { twice - 9 } else { twice }
            } else {
                d
            }
        })
        .sum()
}

impl TryFrom<String> for CardNumber {
    type Error = CardNumberError;
    fn try_from(value: String) -> Result<Self, Self::Error> {
        Self::parse(&value)
    }
}

impl From<CardNumber> for String {
    fn from(n: CardNumber) -> String {
        n.0
    }
}

/// One good row of an import file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ImportRow {
    pub line: u64,
    pub number: CardNumber,
    pub balance: i64,
    pub last_used_on: Option<NaiveDate>,
}

/// A bad row: its line in the file (the header is line 1) and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ImportProblem {
    pub line: u64,
    pub reason: String,
}

/// The header an import file must start with.
pub const IMPORT_HEADER: [&str; 3] = ["card_number", "balance", "last_used_on"];

/// Parses a whole import file. Either every row is good, or the answer lists every bad row;
/// a file with one bad row imports nothing. `today` bounds the last-use dates.
pub fn parse_import(text: &str, today: NaiveDate) -> Result<Vec<ImportRow>, Vec<ImportProblem>> {
    let (rows, problems) = parse_import_rows(text, today);
    if problems.is_empty() {
        Ok(rows)
    } else {
        Err(problems)
    }
}

/// Parses a whole import file into its good rows and its bad ones, so the caller can check
/// the good rows further (against the cards already held) and report every problem at once.
pub fn parse_import_rows(text: &str, today: NaiveDate) -> (Vec<ImportRow>, Vec<ImportProblem>) {
    // A file saved by Excel as "CSV UTF-8" starts with a byte order mark.
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    let mut reader = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .trim(csv::Trim::All)
        .from_reader(text.as_bytes());
    let mut rows = Vec::new();
    let mut problems = Vec::new();
    let mut seen = HashSet::new();
    let mut header_seen = false;
    for record in reader.records() {
        let record = match record {
            Ok(r) => r,
            Err(e) => {
                let line = e.position().map_or(0, |p| p.line());
                problems.push(problem(line, format!("unreadable row: {e}")));
                continue;
            }
        };
        let line = record.position().map_or(0, |p| p.line());
        if !header_seen {
            header_seen = true;
            if record.iter().collect::<Vec<_>>() != IMPORT_HEADER {
                problems.push(problem(
                    line,
                    "the header must be card_number,balance,last_used_on".into(),
                ));
            }
            continue;
        }
        if record.iter().all(str::is_empty) {
            continue;
        }
        if rows.len() + problems.len() >= IMPORT_ROWS_MAX {
            // Past the cap the rest is not worth reading: the file is refused as a whole.
            problems.push(problem(
                line,
                format!("a file holds at most {IMPORT_ROWS_MAX} rows; split it"),
            ));
            break;
        }
        match parse_row(line, &record, today) {
            Ok(row) if !seen.insert(row.number.clone()) => problems.push(problem(
                line,
                "the card number appears twice in the file".into(),
            )),
            Ok(row) => rows.push(row),
            Err(reason) => problems.push(problem(line, reason)),
        }
    }
    if !header_seen {
        problems.push(problem(1, "the file is empty".into()));
    }
    (rows, problems)
}

fn problem(line: u64, reason: String) -> ImportProblem {
    ImportProblem { line, reason }
}

fn parse_row(line: u64, record: &csv::StringRecord, today: NaiveDate) -> Result<ImportRow, String> {
    if record.len() != 3 {
        return Err(format!("expected 3 fields, found {}", record.len()));
    }
    let number = CardNumber::parse(&record[0]).map_err(|e| format!("card_number: {e}"))?;
    let balance: i64 = record[1]
        .parse()
        .map_err(|_| "balance: not a whole number".to_string())?;
    if !(0..=IMPORT_BALANCE_MAX).contains(&balance) {
        return Err(format!("balance: must be 0 to {IMPORT_BALANCE_MAX}"));
    }
    let last_used_on = match &record[2] {
        "" => None,
        text => {
            let date = NaiveDate::parse_from_str(text, "%Y-%m-%d")
                .map_err(|_| "last_used_on: not a date as YYYY-MM-DD".to_string())?;
            if date > today {
                return Err("last_used_on: in the future".into());
            }
            Some(date)
        }
    };
    Ok(ImportRow {
        line,
        number,
        balance,
        last_used_on,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn luhn_numbers_are_checked_and_generated() {
        assert!(CardNumber::parse("4111 1111 1111 1111").is_ok());
        assert_eq!(
            CardNumber::parse("4111111111111112"),
            Err(CardNumberError::CheckDigit)
        );
        assert_eq!(
            CardNumber::parse("411111111111111"),
            Err(CardNumberError::Length)
        );
        assert_eq!(
            CardNumber::parse("41111111111x1111"),
            Err(CardNumberError::NotDigits)
        );
        for _ in 0..200 {
            let n = CardNumber::generate();
            assert_eq!(CardNumber::parse(n.as_str()), Ok(n.clone()));
        }
    }

    #[test]
    fn a_file_over_the_row_cap_is_refused_without_reading_the_rest() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let mut file = String::from("card_number,balance,last_used_on\n");
        for _ in 0..IMPORT_ROWS_MAX + 5 {
            file.push_str("4111111111111111,1,\n");
        }
        let problems = parse_import(&file, today).expect_err("too many rows");
        let last = problems.last().expect("a problem");
        assert_eq!(last.line, IMPORT_ROWS_MAX as u64 + 2);
        assert!(last.reason.contains("at most"), "{last:?}");
        assert_eq!(problems.len(), IMPORT_ROWS_MAX);
        // A BOM (Excel's "CSV UTF-8") is not part of the header.
        let bom = "\u{feff}card_number,balance,last_used_on\n4111111111111111,1,\n";
        assert_eq!(parse_import(bom, today).map(|r| r.len()), Ok(1));
    }

    #[test]
    fn a_file_with_a_bad_row_lists_every_bad_row() {
        let today = NaiveDate::from_ymd_opt(2026, 11, 23).expect("date");
        let good = "card_number,balance,last_used_on\n4111111111111111,120,2026-01-05\n";
        assert_eq!(parse_import(good, today).map(|r| r.len()), Ok(1));
        let bad = "card_number,balance,last_used_on\n4111111111111111,120,2026-01-05\n\
                   4111111111111112,5,\n4111111111111111,1,\n5555555555554444,-3,\n";
        let problems = parse_import(bad, today).expect_err("bad rows");
        let lines: Vec<u64> = problems.iter().map(|p| p.line).collect();
        assert_eq!(lines, vec![3, 4, 5]);
    }
}
