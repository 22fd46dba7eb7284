//! Settlement rules: which dates close a cycle, when a cycle has ended, and a store's
//! statement arithmetic (payments, refunds, fee, points reimbursed and charged, net payable).

use chrono::{Datelike, Days, NaiveDate, Weekday};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::calendar::end_of_month;
use super::money::{AmountError, apply_rate_round_down};

/// How far back a previous closing date is looked for (two months of days).
const LOOKBACK_DAYS_MAX: u64 = 62;

/// The closing days of a program: days of the month (a day past the month's end closes on
/// its last day), or every day when empty.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClosingDays(Vec<u32>);

impl ClosingDays {
    /// `days` must each be 1 to 31; empty means daily.
    pub fn new(days: &[u32]) -> Option<Self> {
        if days.iter().any(|d| !(1..=31).contains(d)) {
            return None;
        }
        Some(Self(days.to_vec()))
    }

    pub fn is_daily(&self) -> bool {
        self.0.is_empty()
    }

    /// Whether `date` closes a cycle.
    pub fn closes_on(&self, date: NaiveDate) -> bool {
        if self.is_daily() {
            return true;
        }
        let last = end_of_month(date).day();
        self.0
            .iter()
            .any(|&d| d == date.day() || (date.day() == last && d > last))
    }

    /// The closing date before `date` (exclusive), if one is within two months.
    pub fn previous_close(&self, date: NaiveDate) -> Option<NaiveDate> {
        (1..=LOOKBACK_DAYS_MAX)
            .filter_map(|n| date.checked_sub_days(Days::new(n)))
            .find(|d| self.closes_on(*d))
    }
}

mod holidays;

pub use holidays::{HolidayCalendar, HolidayDataNotCovered, calendar as holiday_calendar};

/// Whether banks transfer on `date`: not a Saturday, Sunday, public holiday (the Cabinet
/// Office's list, see `settlement::holidays`) or the banks' new-year closing (12/31 to 1/3).
/// A date whose year the holiday data does not cover is an error, never a guess.
pub fn is_business_day(date: NaiveDate) -> Result<bool, HolidayDataNotCovered> {
    let holiday = holidays::calendar().is_holiday(date)?;
    let (m, d) = (date.month(), date.day());
    Ok(!matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        && !holiday
        && !matches!((m, d), (12, 31) | (1, 1..=3)))
}

/// The `n`th business day after `date` (exclusive).
pub fn add_business_days(date: NaiveDate, n: u32) -> Result<NaiveDate, HolidayDataNotCovered> {
    let mut day = date;
    let mut left = n;
    while left > 0 {
        // Past the last representable date there is no holiday data either.
        day = day.succ_opt().ok_or(HolidayDataNotCovered {
            date: day,
            first_year: holidays::calendar().first_year(),
            last_year: holidays::calendar().last_year(),
        })?;
        if is_business_day(day)? {
            left -= 1;
        }
    }
    Ok(day)
}

/// Why a 振込指定日 (transfer date) is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransferDateError {
    #[error("the transfer date {transfer} must be after the closing date {closing}")]
    NotAfterClosing {
        closing: NaiveDate,
        transfer: NaiveDate,
    },
    /// Today counts as past: a 総合振込 file must reach the bank before its transfer day.
    #[error("the transfer date {transfer} is not after today ({today}, JST)")]
    InPast {
        transfer: NaiveDate,
        today: NaiveDate,
    },
    #[error("{0} is a weekend, public holiday or bank new-year holiday")]
    NotBusinessDay(NaiveDate),
    #[error(transparent)]
    NotCovered(#[from] HolidayDataNotCovered),
}

/// The 振込指定日 of a cycle closing on `closing`, run on `today` (JST): the date asked for,
/// if it is a business day after both; else the `default_days`th business day after the
/// closing date or, when a late run finds that already come, the next business day after
/// today.
pub fn transfer_date(
    closing: NaiveDate,
    asked: Option<NaiveDate>,
    today: NaiveDate,
    default_days: u32,
) -> Result<NaiveDate, TransferDateError> {
    let Some(transfer) = asked else {
        let usual = add_business_days(closing, default_days)?;
        return Ok(if usual > today {
            usual
        } else {
            add_business_days(today, 1)?
        });
    };
    if transfer <= closing {
        return Err(TransferDateError::NotAfterClosing { closing, transfer });
    }
    if transfer <= today {
        return Err(TransferDateError::InPast { transfer, today });
    }
    if !is_business_day(transfer)? {
        return Err(TransferDateError::NotBusinessDay(transfer));
    }
    Ok(transfer)
}

/// The money of one store in one run, summed from its Merchant account postings.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Takings {
    /// Positive yen postings (coin and premium): payments received.
    pub payments_yen: i64,
    /// Negative yen postings, as a positive number: refunds and reversals.
    pub refunds_yen: i64,
    /// Net coin and premium (what the Merchant accounts hold of these transactions).
    pub coin_net: i64,
    pub premium_net: i64,
    /// Points shoppers spent at the store (the operator reimburses them).
    pub points_received: i64,
    /// Points the store issued or bought (it pays for them).
    pub points_charged: i64,
    pub transactions: i64,
}

/// A statement's figures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StatementFigures {
    pub payments_yen: i64,
    pub refunds_yen: i64,
    /// 換金手数料: the rate times the net yen (payments less refunds), rounded down.
    pub fee_yen: i64,
    pub points_received: i64,
    pub points_charged: i64,
    /// Points received times the point value, rounded down.
    pub points_reimbursed_yen: i64,
    /// Points charged times the point value, rounded down.
    pub points_charged_yen: i64,
    /// Payments − refunds − fee + points reimbursed − points charged.
    pub net_payable_yen: i64,
}

/// Computes a statement. Each conversion rounds down with the one rounding rule.
pub fn statement(
    t: &Takings,
    fee_rate: Decimal,
    point_value_yen: Decimal,
) -> Result<StatementFigures, AmountError> {
    let net_yen = t.payments_yen - t.refunds_yen;
    let fee_yen = apply_rate_round_down(net_yen.max(0), fee_rate)?;
    let points_reimbursed_yen = apply_rate_round_down(t.points_received, point_value_yen)?;
    let points_charged_yen = apply_rate_round_down(t.points_charged, point_value_yen)?;
    let net_payable_yen = net_yen - fee_yen + points_reimbursed_yen - points_charged_yen;
    Ok(StatementFigures {
        payments_yen: t.payments_yen,
        refunds_yen: t.refunds_yen,
        fee_yen,
        points_received: t.points_received,
        points_charged: t.points_charged,
        points_reimbursed_yen,
        points_charged_yen,
        net_payable_yen,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    #[test]
    fn closing_days_and_previous_close() {
        let twice = ClosingDays::new(&[10, 25]).unwrap();
        assert!(twice.closes_on(d("2026-01-10")) && !twice.closes_on(d("2026-01-11")));
        assert_eq!(twice.previous_close(d("2026-01-10")), Some(d("2025-12-25")));
        assert_eq!(twice.previous_close(d("2026-01-25")), Some(d("2026-01-10")));
        let month_end = ClosingDays::new(&[31]).unwrap();
        assert!(month_end.closes_on(d("2026-02-28")));
        assert_eq!(
            month_end.previous_close(d("2026-03-31")),
            Some(d("2026-02-28"))
        );
        let daily = ClosingDays::new(&[]).unwrap();
        assert_eq!(daily.previous_close(d("2026-03-01")), Some(d("2026-02-28")));
        assert!(ClosingDays::new(&[0]).is_none() && ClosingDays::new(&[32]).is_none());
    }

    #[test]
    fn business_days_skip_weekends_holidays_and_new_year() {
        let ok = |s: &str| is_business_day(d(s)).expect("covered");
        // Saturday 2026-01-10; Monday 1/12 is 成人の日.
        assert_eq!(add_business_days(d("2026-01-10"), 5), Ok(d("2026-01-19")));
        assert!(!ok("2026-01-11") && !ok("2026-09-22"));
        assert!(!ok("2025-12-31") && !ok("2027-01-03"));
        assert!(ok("2026-01-13"));
        // 2026-12-25 (Fri) + 5: 12/28, 12/29, 12/30, then 1/4, 1/5.
        assert_eq!(add_business_days(d("2026-12-25"), 5), Ok(d("2027-01-05")));
        // 2027: 3/22 is the substitute holiday for 春分の日 (Sunday 3/21).
        assert!(!ok("2027-03-22") && ok("2027-03-23"));
    }

    #[test]
    fn days_beyond_the_holiday_data_are_refused() {
        let last = holiday_calendar().last_year();
        let after = NaiveDate::from_ymd_opt(last + 1, 1, 6).unwrap();
        assert!(matches!(
            is_business_day(after),
            Err(HolidayDataNotCovered { date, .. }) if date == after
        ));
        // Counting business days across the end of the data stops at its first unknown day.
        let dec = NaiveDate::from_ymd_opt(last, 12, 28).unwrap();
        let err = add_business_days(dec, 5).expect_err("runs past the data");
        assert_eq!(err.date, NaiveDate::from_ymd_opt(last + 1, 1, 1).unwrap());
    }

    #[test]
    fn transfer_dates_are_after_closing_and_today_on_a_business_day() {
        let closing = d("2026-01-10");
        // On time: the fifth business day after the closing date.
        assert_eq!(
            transfer_date(closing, None, d("2026-01-11"), 5),
            Ok(d("2026-01-19"))
        );
        // Late (today 2026-01-19, the usual day itself): the next business day after today.
        assert_eq!(
            transfer_date(closing, None, d("2026-01-19"), 5),
            Ok(d("2026-01-20"))
        );
        // Late on a Friday before a holiday weekend: Tuesday.
        assert_eq!(
            transfer_date(d("2025-12-25"), None, d("2026-01-09"), 5),
            Ok(d("2026-01-13"))
        );
        let today = d("2026-01-14");
        assert_eq!(
            transfer_date(closing, Some(d("2026-01-09")), today, 5),
            Err(TransferDateError::NotAfterClosing {
                closing,
                transfer: d("2026-01-09")
            })
        );
        for past in ["2026-01-13", "2026-01-14"] {
            assert_eq!(
                transfer_date(closing, Some(d(past)), today, 5),
                Err(TransferDateError::InPast {
                    transfer: d(past),
                    today
                })
            );
        }
        assert_eq!(
            transfer_date(closing, Some(d("2026-01-17")), today, 5),
            Err(TransferDateError::NotBusinessDay(d("2026-01-17")))
        );
        assert_eq!(
            transfer_date(closing, Some(d("2026-01-15")), today, 5),
            Ok(d("2026-01-15"))
        );
        let beyond = NaiveDate::from_ymd_opt(holiday_calendar().last_year() + 1, 2, 1).unwrap();
        assert!(matches!(
            transfer_date(closing, Some(beyond), today, 5),
            Err(TransferDateError::NotCovered(_))
        ));
    }

    #[test]
    fn statement_arithmetic_rounds_down() {
        let t = Takings {
            payments_yen: 10_050,
            refunds_yen: 50,
            points_received: 301,
            points_charged: 100,
            ..Takings::default()
        };
        let s = statement(&t, Decimal::from_str("0.015").unwrap(), Decimal::ONE).unwrap();
        assert_eq!(s.fee_yen, 150);
        assert_eq!(s.net_payable_yen, 10_000 - 150 + 301 - 100);
        let half = statement(&t, Decimal::ZERO, Decimal::from_str("0.5").unwrap()).unwrap();
        assert_eq!(
            (half.points_reimbursed_yen, half.points_charged_yen),
            (150, 50)
        );
    }
}
