//! Japanese public holidays (国民の祝日, 振替休日, 国民の休日) from the Cabinet Office's list,
//! kept as a data file, and the years that list covers.
//!
//! Source: 内閣府「国民の祝日」について, the CSV `syukujitsu.csv`
//! (<https://www8.cao.go.jp/chosei/shukujitsu/syukujitsu.csv>), stored as
//! `crates/machipay-domain/data/syukujitsu.csv` in the same layout (header `国民の祝日・休日月日,国民の祝日・休日名称`,
//! one `YYYY/M/D,名称` line per holiday) but in UTF-8 instead of Shift_JIS. The Cabinet Office
//! adds the next year every February, when 春分の日 and 秋分の日 are announced; replace the
//! file then (`iconv -f CP932 -t UTF-8 syukujitsu.csv > data/syukujitsu.csv`). A unit test
//! fails from 1 March of the last year the file covers (the next year is published in
//! February), so it is noticed ten months before the data runs out.
//!
//! Holidays are known only for the years in the file: a date outside them is an error, never
//! silently a business day (the old hand table ended in 2027 and later holidays counted as
//! business days).

use std::collections::BTreeSet;
use std::sync::LazyLock;

use chrono::{Datelike, NaiveDate};

/// The Cabinet Office's list, embedded in the binary.
const SYUKUJITSU_CSV: &str = include_str!("../../data/syukujitsu.csv");

/// A date the holiday data does not cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("public holidays are known for {first_year}–{last_year} only; {date} is outside")]
pub struct HolidayDataNotCovered {
    pub date: NaiveDate,
    pub first_year: i32,
    pub last_year: i32,
}

/// The holidays of every covered year.
#[derive(Debug)]
pub struct HolidayCalendar {
    days: BTreeSet<NaiveDate>,
    first_year: i32,
    last_year: i32,
}

impl HolidayCalendar {
    /// Parses the Cabinet Office's CSV layout. Years between the first and the last holiday
    /// are covered in full: the list is published a whole year at a time.
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut lines = text.lines();
        let header = lines
            .next()
            .unwrap_or_default()
            .trim_start_matches('\u{feff}');
        if !header.starts_with("国民の祝日・休日月日") {
            return Err(format!("unexpected header {header:?}"));
        }
        let mut days = BTreeSet::new();
        for (i, line) in lines.enumerate() {
            let line = line.trim();
            if line.is_empty() {
                continue;
            }
            let (date, name) = line
                .split_once(',')
                .ok_or_else(|| format!("line {}: no name", i + 2))?;
            let date = NaiveDate::parse_from_str(date, "%Y/%m/%d")
                .map_err(|e| format!("line {}: {date:?}: {e}", i + 2))?;
            if name.trim().is_empty() {
                return Err(format!("line {}: empty name", i + 2));
            }
            days.insert(date);
        }
        let (Some(first), Some(last)) = (days.first(), days.last()) else {
            return Err("no holidays".into());
        };
        let (first_year, last_year) = (first.year(), last.year());
        Ok(Self {
            days,
            first_year,
            last_year,
        })
    }

    /// Whether `date` is a public holiday, or an error when the data does not cover its year.
    pub fn is_holiday(&self, date: NaiveDate) -> Result<bool, HolidayDataNotCovered> {
        if !(self.first_year..=self.last_year).contains(&date.year()) {
            return Err(HolidayDataNotCovered {
                date,
                first_year: self.first_year,
                last_year: self.last_year,
            });
        }
        Ok(self.days.contains(&date))
    }

    pub fn first_year(&self) -> i32 {
        self.first_year
    }

    /// The last year whose holidays are known.
    pub fn last_year(&self) -> i32 {
        self.last_year
    }
}

static CALENDAR: LazyLock<HolidayCalendar> = LazyLock::new(|| {
    // The file is part of the source; `embedded_data_parses` keeps it parseable.
    HolidayCalendar::parse(SYUKUJITSU_CSV).expect("data/syukujitsu.csv is well-formed")
});

/// The embedded Cabinet Office list.
pub fn calendar() -> &'static HolidayCalendar {
    &CALENDAR
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().expect("test date")
    }

    #[test]
    fn embedded_data_parses() {
        let c = HolidayCalendar::parse(SYUKUJITSU_CSV).expect("parses");
        assert_eq!(c.first_year(), 1955);
        // Every covered year has at least the 国民の祝日 of its time (9 in 1955, 16 today).
        for year in c.first_year()..=c.last_year() {
            let n = c.days.iter().filter(|d| d.year() == year).count();
            assert!(n >= 9, "{year} has only {n} holidays");
        }
    }

    /// Fails from 1 March of the data's last year: the Cabinet Office publishes the next
    /// year each February, so there are ten months to replace the file before settlement
    /// dates run past it.
    #[test]
    fn holiday_data_covers_next_year() {
        // The Cabinet Office publishes next year's list in early February (春分の日 and
        // 秋分の日 are fixed then), so "next year is covered" cannot hold in January. From
        // 1 March the file must reach into next year: ten months' warning before it runs out.
        let today = crate::calendar::jst_date(chrono::Utc::now());
        let must_cover = if today.month() >= 3 {
            today.year() + 1
        } else {
            today.year()
        };
        assert!(
            calendar().last_year() >= must_cover,
            "data/syukujitsu.csv ends in {}: download the Cabinet Office's syukujitsu.csv \
             (it covers {must_cover} from February) and convert it to UTF-8",
            calendar().last_year()
        );
    }

    #[test]
    fn known_holidays_and_their_substitutes() {
        let c = calendar();
        for date in [
            "2019-05-01", // 天皇の即位の日
            "2019-10-22", // 即位礼正殿の儀
            "2020-07-24", // スポーツの日, moved for the Olympics
            "2024-02-12", // 振替休日
            "2026-09-22", // 国民の休日
            "2027-03-22", // 振替休日
        ] {
            assert_eq!(c.is_holiday(d(date)), Ok(true), "{date}");
        }
        assert_eq!(c.is_holiday(d("2026-01-13")), Ok(false));
        assert_eq!(c.is_holiday(d("2020-10-12")), Ok(false), "moved to 7/24");
    }

    #[test]
    fn dates_outside_the_data_are_refused() {
        let c = calendar();
        let after = NaiveDate::from_ymd_opt(c.last_year() + 1, 1, 4).expect("date");
        assert_eq!(
            c.is_holiday(after),
            Err(HolidayDataNotCovered {
                date: after,
                first_year: 1955,
                last_year: c.last_year()
            })
        );
        assert!(c.is_holiday(d("1954-12-31")).is_err());
        let last = NaiveDate::from_ymd_opt(c.last_year(), 12, 31).expect("date");
        assert_eq!(c.is_holiday(last), Ok(false));
    }

    #[test]
    fn malformed_files_are_refused() {
        assert!(HolidayCalendar::parse("date,name\n2026/1/1,元日").is_err());
        assert!(HolidayCalendar::parse("国民の祝日・休日月日,国民の祝日・休日名称\n").is_err());
        assert!(
            HolidayCalendar::parse("国民の祝日・休日月日,国民の祝日・休日名称\n2026/13/1,x")
                .is_err()
        );
        let bom = "\u{feff}国民の祝日・休日月日,国民の祝日・休日名称\r\n2030/1/1,元日\r\n";
        let c = HolidayCalendar::parse(bom).expect("BOM and CRLF are fine");
        assert_eq!((c.first_year(), c.last_year()), (2030, 2030));
    }
}
