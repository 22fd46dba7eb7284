//! Japan-time business dates, month ends, fiscal years (年度) and the legal reference dates (基準日).
//!
//! Every business date in machipay is a date in Japan Standard Time (UTC+9, no daylight
//! saving). Instants are stored in UTC; this module is the one place that turns one into the
//! other, so "which day is it" is never answered with a UTC date by accident.

use std::fmt;
use std::str::FromStr;

use chrono::{
    DateTime, Datelike, Duration, FixedOffset, Months, NaiveDate, NaiveTime, SubsecRound, Utc,
};
use serde::{Deserialize, Deserializer, Serialize};

/// Japan Standard Time is UTC+9 all year round, in seconds.
pub const JST_OFFSET_SECS: i32 = 9 * 3600;

/// The JST offset as a chrono time zone, for formatting instants in Japan time.
pub fn jst() -> FixedOffset {
    FixedOffset::east_opt(JST_OFFSET_SECS).expect("UTC+9 is a valid offset")
}

/// The current instant as it will be stored: truncated to whole microseconds.
///
/// Why: PostgreSQL keeps microseconds, so an instant with nanoseconds would be answered one
/// way in the reply that made it and another way when read back. Every instant that is
/// stored (the writer's clock above all) is made here, so one event has one time everywhere.
pub fn now() -> DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

/// Serde `deserialize_with` for an instant a request sends: read as RFC 3339 and truncated to
/// whole microseconds, for the reason `now` gives (a stored `starts_at` with nanoseconds would
/// be answered one way at creation and another way when read back from PostgreSQL).
pub fn deserialize_micros<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<DateTime<Utc>, D::Error> {
    DateTime::<Utc>::deserialize(deserializer).map(|at| at.trunc_subsecs(6))
}

/// The Japan-time calendar date on which the instant `at` falls.
pub fn jst_date(at: DateTime<Utc>) -> NaiveDate {
    at.with_timezone(&jst()).date_naive()
}

/// The instant the JST day `date` begins (its midnight, 15:00 UTC of the day before).
///
/// Returns `None` only for the first date chrono can represent.
pub fn jst_start_of_day_utc(date: NaiveDate) -> Option<DateTime<Utc>> {
    date.pred_opt().map(jst_end_of_day_utc)
}

/// The instant the JST day `date` ends: the next JST midnight, which is 15:00 UTC of `date`
/// itself. The end is exclusive: an instant belongs to `date` when it is before this.
///
/// Computed as `date` at 15:00 UTC rather than "next day at 00:00 minus nine hours", so it is
/// total even for the last date chrono can represent.
pub fn jst_end_of_day_utc(date: NaiveDate) -> DateTime<Utc> {
    // 24 h − 9 h: JST midnight at the end of `date` is 15:00 UTC on `date`.
    let fifteen = NaiveTime::from_hms_opt(15, 0, 0).expect("15:00:00 is a valid time");
    date.and_time(fifteen).and_utc()
}

/// The last day of the month `date` falls in.
pub fn end_of_month(date: NaiveDate) -> NaiveDate {
    let last_day = u32::from(date.num_days_in_month());
    date.with_day(last_day)
        .expect("the month's own length is a valid day")
}

/// The last day of the month `months` months after the month of `date`.
///
/// This is the "N months from issue" expiry: issued 2026-01-15 with 6 months expires on
/// 2026-07-31, and the day of the month at issue does not matter (issued on 31 January with
/// one month ends on the last day of February, not in March). `months = 0` is the end of the
/// issue month itself. `None` only when the result is beyond chrono's calendar.
pub fn add_months_to_month_end(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    // Step from the first of the month, so no day-of-month clamping can move us across a
    // month boundary, then take that month's end.
    let first = date.with_day(1).expect("day 1 exists in every month");
    first
        .checked_add_months(Months::new(months))
        .map(end_of_month)
}

/// The same day of the month `months` months later, clamped to the month's last day when the
/// day does not exist there (2026-01-31 + 1 month = 2026-02-28; 2028-02-29 + 12 months =
/// 2029-02-28). `None` only when the result is beyond chrono's calendar.
pub fn add_months_same_day_clamped(date: NaiveDate, months: u32) -> Option<NaiveDate> {
    // chrono's month arithmetic clamps to the end of the month; this name says so at the call site.
    date.checked_add_months(Months::new(months))
}

/// Why a fiscal year could not be built or parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FiscalYearError {
    #[error(
        "fiscal year must start between {} and {} (令和元年度 to 令和{}年度)",
        FiscalYear::START_YEAR_MIN,
        FiscalYear::START_YEAR_MAX,
        FiscalYear::START_YEAR_MAX - REIWA_YEAR_OFFSET
    )]
    OutOfRange,
    #[error("not a fiscal year: expected e.g. \"2026\", \"令和8年度\" or \"R8\"")]
    Unparsable,
}

/// 令和N年 is Western year 2018 + N.
const REIWA_YEAR_OFFSET: i32 = 2018;

/// A Japanese fiscal year (年度), 1 April to 31 March, named by the calendar year it starts in:
/// `FiscalYear` 2026 is 令和8年度, 2026-04-01 to 2027-03-31.
///
/// Bounded to the Reiwa era (from 2019, 令和元年度) so that its label is always well defined,
/// and to a far but finite end, so every date arithmetic on it stays in range.
///
/// Serialised as the start year (`2026`); deserialised from that number or from any text
/// [`FromStr`] accepts, so a query string `?fiscal_year=令和8年度` works too.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, utoipa::ToSchema)]
#[serde(into = "i32")]
#[schema(value_type = i32, minimum = 2019, maximum = 2999, example = 2026)]
pub struct FiscalYear(i32);

impl FiscalYear {
    /// 令和元年度 (FY2019), the first fiscal year of the Reiwa era.
    pub const START_YEAR_MIN: i32 = 2019;
    /// A limit far beyond any program's life; keeps every derived date representable.
    pub const START_YEAR_MAX: i32 = 2999;
    /// Longest text [`FromStr`] looks at, in characters.
    const TEXT_CHARS_MAX: usize = 32;

    /// The fiscal year starting on 1 April of `start_year`.
    pub fn new(start_year: i32) -> Result<Self, FiscalYearError> {
        if (Self::START_YEAR_MIN..=Self::START_YEAR_MAX).contains(&start_year) {
            Ok(Self(start_year))
        } else {
            Err(FiscalYearError::OutOfRange)
        }
    }

    /// The fiscal year containing the (JST) business date `date`: January to March belong to
    /// the year that started the April before.
    pub fn of(date: NaiveDate) -> Result<Self, FiscalYearError> {
        let start_year = if date.month() >= 4 {
            date.year()
        } else {
            date.year() - 1
        };
        Self::new(start_year)
    }

    /// The Western calendar year the fiscal year starts in.
    pub fn start_year(self) -> i32 {
        self.0
    }

    /// N in 令和N年度 (1 for 令和元年度).
    pub fn reiwa_year(self) -> i32 {
        self.0 - REIWA_YEAR_OFFSET
    }

    /// First day: 1 April of the start year.
    pub fn start(self) -> NaiveDate {
        ymd(self.0, 4, 1)
    }

    /// Last day (inclusive): 31 March of the following year.
    pub fn end(self) -> NaiveDate {
        ymd(self.0 + 1, 3, 31)
    }

    /// Whether the business date `date` falls in this fiscal year.
    pub fn contains(self, date: NaiveDate) -> bool {
        (self.start()..=self.end()).contains(&date)
    }

    /// The fiscal year before, if it is still in range.
    pub fn previous(self) -> Option<Self> {
        Self::new(self.0 - 1).ok()
    }

    /// The fiscal year after, if it is still in range.
    pub fn next(self) -> Option<Self> {
        Self::new(self.0 + 1).ok()
    }

    /// The label city documents use: "令和8年度"; the first year is "令和元年度", as written
    /// in official documents, never "令和1年度".
    pub fn reiwa_label(self) -> String {
        match self.reiwa_year() {
            1 => "令和元年度".to_owned(),
            n => format!("令和{n}年度"),
        }
    }

    /// Reads "2026", "2026年度", "FY2026", "令和8年度", "令和8年", "令和8", "令和元年度", "R8"
    /// or "r8"; full-width digits (令和８年度) are accepted as typed by Japanese input methods.
    fn parse_text(text: &str) -> Result<Self, FiscalYearError> {
        let text = text.trim();
        if text.chars().count() > Self::TEXT_CHARS_MAX {
            return Err(FiscalYearError::Unparsable);
        }
        let ascii: String = text.chars().map(half_width_digit).collect();
        let body = ascii
            .strip_suffix("年度")
            .or_else(|| ascii.strip_suffix('年'))
            .unwrap_or(&ascii);
        let reiwa = body
            .strip_prefix("令和")
            .or_else(|| body.strip_prefix('R'))
            .or_else(|| body.strip_prefix('r'));
        match reiwa {
            Some("元") => Self::new(REIWA_YEAR_OFFSET + 1),
            Some(n) => Self::new(REIWA_YEAR_OFFSET + parse_year_digits(n, 3)?),
            None => {
                let western = body
                    .strip_prefix("FY")
                    .or_else(|| body.strip_prefix("fy"))
                    .unwrap_or(body);
                Self::new(parse_year_digits(western, 4)?)
            }
        }
    }
}

/// Parses 1 to `digits_max` ASCII digits (no sign, no spaces) as a year number.
fn parse_year_digits(text: &str, digits_max: usize) -> Result<i32, FiscalYearError> {
    let well_formed =
        !text.is_empty() && text.len() <= digits_max && text.bytes().all(|b| b.is_ascii_digit());
    if !well_formed {
        return Err(FiscalYearError::Unparsable);
    }
    text.parse().map_err(|_| FiscalYearError::Unparsable)
}

/// Maps full-width digits ０–９ to ASCII; every other character is kept.
fn half_width_digit(c: char) -> char {
    match c {
        '０'..='９' => {
            char::from_u32(u32::from(c) - u32::from('０') + u32::from('0')).unwrap_or(c)
        }
        _ => c,
    }
}

impl fmt::Display for FiscalYear {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.reiwa_label())
    }
}

impl FromStr for FiscalYear {
    type Err = FiscalYearError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse_text(s)
    }
}

impl TryFrom<i32> for FiscalYear {
    type Error = FiscalYearError;
    fn try_from(start_year: i32) -> Result<Self, Self::Error> {
        Self::new(start_year)
    }
}

impl From<FiscalYear> for i32 {
    fn from(fy: FiscalYear) -> i32 {
        fy.0
    }
}

impl<'de> Deserialize<'de> for FiscalYear {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Repr {
            Number(i64),
            Text(String),
        }
        let parsed = match Repr::deserialize(deserializer)? {
            Repr::Number(n) => i32::try_from(n)
                .map_err(|_| FiscalYearError::OutOfRange)
                .and_then(Self::new),
            Repr::Text(text) => Self::parse_text(&text),
        };
        parsed.map_err(serde::de::Error::custom)
    }
}

/// The two 基準日 (reference dates) of the prepaid-instrument law that fall in `fy`, in order:
/// 30 September of the start year, then 31 March that ends the fiscal year. The unused
/// balance is measured at the end of each of these JST days.
pub fn reference_dates(fy: FiscalYear) -> [NaiveDate; 2] {
    [ymd(fy.start_year(), 9, 30), fy.end()]
}

/// Whether `date` is a 基準日 (31 March or 30 September of any year).
pub fn is_reference_date(date: NaiveDate) -> bool {
    matches!((date.month(), date.day()), (3, 31) | (9, 30))
}

/// The most recent 基準日 on or before `date` (which is `date` itself when it is one).
///
/// A reference date's balance is taken at the end of that day, so on 31 March itself the
/// figure is not final yet; use [`latest_closed_reference_date`] to ask "which report can be
/// produced now". `None` only at the very start of chrono's calendar.
pub fn latest_reference_date_on_or_before(date: NaiveDate) -> Option<NaiveDate> {
    let year = date.year();
    let september = NaiveDate::from_ymd_opt(year, 9, 30)?;
    let march = NaiveDate::from_ymd_opt(year, 3, 31)?;
    if date >= september {
        Some(september)
    } else if date >= march {
        Some(march)
    } else {
        NaiveDate::from_ymd_opt(year - 1, 9, 30)
    }
}

/// The most recent 基準日 whose JST day has fully ended at the instant `now`, i.e. the latest
/// reference date whose unused balance is final.
pub fn latest_closed_reference_date(now: DateTime<Utc>) -> Option<NaiveDate> {
    // The day before today (JST) is the last day that has ended.
    let yesterday = jst_date(now) - Duration::days(1);
    latest_reference_date_on_or_before(yesterday)
}

/// A date known to exist (the fiscal-year bounds keep every caller in range).
fn ymd(year: i32, month: u32, day: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(year, month, day).expect("fixed month/day within the supported years")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn now_is_whole_microseconds() {
        let at = now();
        assert_eq!(at.timestamp_subsec_nanos() % 1_000, 0);
    }

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn utc(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("valid test instant")
            .with_timezone(&Utc)
    }

    fn fy(start_year: i32) -> FiscalYear {
        FiscalYear::new(start_year).expect("valid test fiscal year")
    }

    #[test]
    fn jst_date_turns_at_15_00_utc() {
        assert_eq!(jst_date(utc("2026-03-31T14:59:59Z")), d(2026, 3, 31));
        assert_eq!(jst_date(utc("2026-03-31T15:00:00Z")), d(2026, 4, 1));
        assert_eq!(jst_date(utc("2026-04-01T08:59:59+09:00")), d(2026, 4, 1));
        // 00:30 JST on New Year's Day is still the old year in UTC.
        assert_eq!(jst_date(utc("2025-12-31T15:30:00Z")), d(2026, 1, 1));
    }

    #[test]
    fn jst_day_bounds_are_next_jst_midnight() {
        assert_eq!(
            jst_end_of_day_utc(d(2026, 3, 31)),
            utc("2026-04-01T00:00:00+09:00")
        );
        assert_eq!(
            jst_end_of_day_utc(d(2026, 3, 31)),
            utc("2026-03-31T15:00:00Z")
        );
        assert_eq!(
            jst_start_of_day_utc(d(2026, 4, 1)),
            Some(utc("2026-03-31T15:00:00Z"))
        );
        // Total at the edges of chrono's calendar.
        let _ = jst_end_of_day_utc(NaiveDate::MAX);
        assert_eq!(jst_start_of_day_utc(NaiveDate::MIN), None);
        // The last instant of the day is on the day; the end instant is on the next.
        let end = jst_end_of_day_utc(d(2026, 9, 30));
        assert_eq!(jst_date(end - Duration::nanoseconds(1)), d(2026, 9, 30));
        assert_eq!(jst_date(end), d(2026, 10, 1));
    }

    #[test]
    fn month_ends() {
        assert_eq!(end_of_month(d(2026, 1, 15)), d(2026, 1, 31));
        assert_eq!(end_of_month(d(2026, 2, 1)), d(2026, 2, 28));
        assert_eq!(end_of_month(d(2028, 2, 10)), d(2028, 2, 29));
        assert_eq!(end_of_month(d(2100, 2, 10)), d(2100, 2, 28)); // not a leap year
        assert_eq!(end_of_month(d(2000, 2, 10)), d(2000, 2, 29)); // 400-year leap
        assert_eq!(end_of_month(d(2026, 4, 30)), d(2026, 4, 30));
        assert_eq!(end_of_month(d(2026, 12, 1)), d(2026, 12, 31));
        assert_eq!(end_of_month(NaiveDate::MAX), NaiveDate::MAX);
    }

    #[test]
    fn months_to_month_end() {
        // (input, months, expected)
        let cases = [
            (d(2026, 1, 15), 6, d(2026, 7, 31)),
            (d(2026, 1, 31), 1, d(2026, 2, 28)),
            (d(2028, 1, 31), 1, d(2028, 2, 29)),
            (d(2028, 2, 29), 12, d(2029, 2, 28)),
            (d(2027, 2, 28), 12, d(2028, 2, 29)),
            (d(2026, 8, 31), 6, d(2027, 2, 28)),
            (d(2026, 10, 1), 3, d(2027, 1, 31)),
            (d(2026, 1, 1), 0, d(2026, 1, 31)),
            (d(2026, 1, 15), 120, d(2036, 1, 31)),
        ];
        for (date, months, expected) in cases {
            assert_eq!(
                add_months_to_month_end(date, months),
                Some(expected),
                "{date} + {months}"
            );
        }
        assert_eq!(add_months_to_month_end(NaiveDate::MAX, 1), None);
        assert_eq!(add_months_to_month_end(d(2026, 1, 1), u32::MAX), None);
    }

    #[test]
    fn months_same_day_clamped() {
        // (input, months, expected)
        let cases = [
            (d(2026, 1, 31), 1, d(2026, 2, 28)),
            (d(2028, 1, 31), 1, d(2028, 2, 29)),
            (d(2028, 2, 29), 12, d(2029, 2, 28)),
            (d(2028, 2, 29), 48, d(2032, 2, 29)),
            (d(2026, 3, 31), 1, d(2026, 4, 30)),
            (d(2026, 1, 15), 6, d(2026, 7, 15)),
            (d(2026, 11, 30), 3, d(2027, 2, 28)),
            (d(2026, 5, 5), 0, d(2026, 5, 5)),
        ];
        for (date, months, expected) in cases {
            assert_eq!(
                add_months_same_day_clamped(date, months),
                Some(expected),
                "{date} + {months}"
            );
        }
        assert_eq!(add_months_same_day_clamped(NaiveDate::MAX, 1), None);
    }

    #[test]
    fn fiscal_year_of_dates() {
        assert_eq!(FiscalYear::of(d(2026, 3, 31)), Ok(fy(2025)));
        assert_eq!(FiscalYear::of(d(2026, 4, 1)), Ok(fy(2026)));
        assert_eq!(FiscalYear::of(d(2027, 1, 1)), Ok(fy(2026)));
        assert_eq!(FiscalYear::of(d(2027, 3, 31)), Ok(fy(2026)));
        assert_eq!(FiscalYear::of(d(2019, 4, 1)), Ok(fy(2019)));
        assert_eq!(
            FiscalYear::of(d(2019, 3, 31)),
            Err(FiscalYearError::OutOfRange)
        );
        assert_eq!(
            FiscalYear::of(d(3000, 4, 1)),
            Err(FiscalYearError::OutOfRange)
        );
        assert_eq!(FiscalYear::of(d(3000, 3, 31)), Ok(fy(2999)));
    }

    #[test]
    fn fiscal_year_boundary_is_jst_not_utc() {
        // 2026-04-01 08:00 JST is still 31 March in UTC, but already the new 年度.
        let morning_of_april_first = utc("2026-03-31T23:00:00Z");
        assert_eq!(morning_of_april_first.date_naive(), d(2026, 3, 31));
        assert_eq!(
            FiscalYear::of(jst_date(morning_of_april_first)),
            Ok(fy(2026))
        );
        // The last JST second of 31 March belongs to the old year.
        let last_second = utc("2026-03-31T14:59:59Z");
        assert_eq!(FiscalYear::of(jst_date(last_second)), Ok(fy(2025)));
        assert_eq!(
            jst_end_of_day_utc(fy(2025).end()),
            utc("2026-03-31T15:00:00Z")
        );
        assert_eq!(
            jst_start_of_day_utc(fy(2026).start()),
            Some(utc("2026-03-31T15:00:00Z"))
        );
    }

    #[test]
    fn fiscal_year_bounds_and_neighbours() {
        let r8 = fy(2026);
        assert_eq!(r8.start(), d(2026, 4, 1));
        assert_eq!(r8.end(), d(2027, 3, 31));
        assert!(r8.contains(d(2026, 4, 1)));
        assert!(r8.contains(d(2027, 3, 31)));
        assert!(!r8.contains(d(2026, 3, 31)));
        assert!(!r8.contains(d(2027, 4, 1)));
        assert_eq!(r8.previous(), Some(fy(2025)));
        assert_eq!(r8.next(), Some(fy(2027)));
        assert_eq!(fy(2019).previous(), None);
        assert_eq!(fy(2999).next(), None);
        assert_eq!(fy(2999).end(), d(3000, 3, 31));
        assert_eq!(FiscalYear::new(2018), Err(FiscalYearError::OutOfRange));
        assert_eq!(FiscalYear::new(3000), Err(FiscalYearError::OutOfRange));
    }

    #[test]
    fn reiwa_labels() {
        assert_eq!(fy(2026).reiwa_label(), "令和8年度");
        assert_eq!(fy(2023).reiwa_label(), "令和5年度");
        assert_eq!(fy(2019).reiwa_label(), "令和元年度");
        assert_eq!(fy(2020).reiwa_label(), "令和2年度");
        assert_eq!(fy(2026).reiwa_year(), 8);
        assert_eq!(fy(2026).to_string(), "令和8年度");
    }

    #[test]
    fn fiscal_year_parses_western_and_reiwa_forms() {
        for text in [
            "2026",
            " 2026 ",
            "2026年度",
            "2026年",
            "FY2026",
            "fy2026",
            "令和8年度",
            "令和8年",
            "令和8",
            "令和08年度",
            "令和８年度",
            "R8",
            "r8",
            "R08",
            "２０２６",
        ] {
            assert_eq!(text.parse::<FiscalYear>(), Ok(fy(2026)), "{text:?}");
        }
        assert_eq!("令和元年度".parse::<FiscalYear>(), Ok(fy(2019)));
        assert_eq!("令和1年度".parse::<FiscalYear>(), Ok(fy(2019)));
        assert_eq!("R5".parse::<FiscalYear>(), Ok(fy(2023)));
    }

    #[test]
    fn fiscal_year_rejects_bad_text() {
        for text in [
            "",
            "令和",
            "R",
            "令和-1年度",
            "R+8",
            "20 26",
            "2026.0",
            "平成30年度",
            "令和8年度度",
            "R1234",
            "12026",
            "令和８年度ですね",
            &"0".repeat(40),
        ] {
            assert_eq!(
                text.parse::<FiscalYear>(),
                Err(FiscalYearError::Unparsable),
                "{text:?}"
            );
        }
        for text in ["令和0年度", "R0", "2018", "3000", "R982"] {
            assert_eq!(
                text.parse::<FiscalYear>(),
                Err(FiscalYearError::OutOfRange),
                "{text:?}"
            );
        }
    }

    #[test]
    fn fiscal_year_serde() {
        assert_eq!(serde_json::to_string(&fy(2026)).expect("serialise"), "2026");
        let from_number: FiscalYear = serde_json::from_str("2026").expect("number");
        let from_label: FiscalYear = serde_json::from_str("\"令和8年度\"").expect("label");
        assert_eq!((from_number, from_label), (fy(2026), fy(2026)));
        assert!(serde_json::from_str::<FiscalYear>("2018").is_err());
        assert!(serde_json::from_str::<FiscalYear>("99999999999").is_err());
        assert!(serde_json::from_str::<FiscalYear>("\"soon\"").is_err());
    }

    #[test]
    fn reference_dates_of_a_fiscal_year() {
        assert_eq!(reference_dates(fy(2026)), [d(2026, 9, 30), d(2027, 3, 31)]);
        for date in reference_dates(fy(2026)) {
            assert!(is_reference_date(date));
            assert!(fy(2026).contains(date));
        }
        assert!(!is_reference_date(d(2026, 4, 1)));
        assert!(!is_reference_date(d(2026, 9, 29)));
    }

    #[test]
    fn latest_reference_date() {
        let latest = latest_reference_date_on_or_before;
        assert_eq!(latest(d(2026, 3, 30)), Some(d(2025, 9, 30)));
        assert_eq!(latest(d(2026, 3, 31)), Some(d(2026, 3, 31)));
        assert_eq!(latest(d(2026, 4, 1)), Some(d(2026, 3, 31)));
        assert_eq!(latest(d(2026, 9, 29)), Some(d(2026, 3, 31)));
        assert_eq!(latest(d(2026, 9, 30)), Some(d(2026, 9, 30)));
        assert_eq!(latest(d(2026, 12, 31)), Some(d(2026, 9, 30)));
        assert_eq!(latest(d(2027, 1, 1)), Some(d(2026, 9, 30)));
        assert_eq!(latest(NaiveDate::MIN), None);
    }

    #[test]
    fn closed_reference_date_waits_for_the_jst_day_to_end() {
        // 23:59 JST on 31 March: the day is not over, the March figure is not final yet.
        assert_eq!(
            latest_closed_reference_date(utc("2026-03-31T14:59:00Z")),
            Some(d(2025, 9, 30))
        );
        // 00:00 JST on 1 April (still 31 March in UTC): it is.
        assert_eq!(
            latest_closed_reference_date(utc("2026-03-31T15:00:00Z")),
            Some(d(2026, 3, 31))
        );
    }

    fn any_date() -> impl Strategy<Value = NaiveDate> {
        // 1900-01-01 to 2999-12-31, as days from the common era.
        (693_596i32..=1_095_363).prop_map(|days| {
            NaiveDate::from_num_days_from_ce_opt(days).expect("days within chrono's range")
        })
    }

    proptest! {
        #[test]
        fn month_end_addition_is_a_month_end_not_before_input(date in any_date(), months in 0u32..=1200) {
            let end = add_months_to_month_end(date, months).expect("in range");
            prop_assert!(end >= date);
            prop_assert_eq!(end, end_of_month(end));
            prop_assert!(end.succ_opt().is_some_and(|next| next.day() == 1));
            let month_index = |x: NaiveDate| i64::from(x.year()) * 12 + i64::from(x.month0());
            prop_assert_eq!(month_index(end) - month_index(date), i64::from(months));
        }

        #[test]
        fn same_day_clamped_stays_in_the_target_month(date in any_date(), months in 0u32..=1200) {
            let later = add_months_same_day_clamped(date, months).expect("in range");
            let month_index = |x: NaiveDate| i64::from(x.year()) * 12 + i64::from(x.month0());
            prop_assert_eq!(month_index(later) - month_index(date), i64::from(months));
            prop_assert!(later.day() == date.day() || later == end_of_month(later));
            prop_assert!(later.day() <= date.day());
            prop_assert!(later <= add_months_to_month_end(date, months).expect("in range"));
        }

        #[test]
        fn fiscal_year_contains_its_dates(date in any_date()) {
            match FiscalYear::of(date) {
                Ok(fy) => {
                    prop_assert!(fy.contains(date));
                    prop_assert_eq!(fy.start_year().to_string().parse::<FiscalYear>(), Ok(fy));
                    prop_assert_eq!(fy.reiwa_label().parse::<FiscalYear>(), Ok(fy));
                }
                Err(e) => prop_assert_eq!(e, FiscalYearError::OutOfRange),
            }
        }

        #[test]
        fn latest_reference_date_is_within_half_a_year(date in any_date()) {
            let latest = latest_reference_date_on_or_before(date).expect("in range");
            prop_assert!(is_reference_date(latest));
            prop_assert!(latest <= date);
            prop_assert!((date - latest).num_days() < 184);
        }

        #[test]
        fn jst_date_matches_the_day_bounds(secs in 0i64..=32_503_680_000) {
            let at = DateTime::from_timestamp(secs, 0).expect("in range");
            let day = jst_date(at);
            prop_assert!(jst_start_of_day_utc(day).expect("in range") <= at);
            prop_assert!(at < jst_end_of_day_utc(day));
        }
    }
}
