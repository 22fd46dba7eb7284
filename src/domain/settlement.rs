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

/// Japanese public holidays (国民の祝日, 振替休日, 国民の休日) of 2023–2027 as (year, month, day),
/// from the Cabinet Office's published lists. Years outside the table count weekends only.
const HOLIDAYS: &[(i32, u32, u32)] = &[
    (2023, 1, 1),
    (2023, 1, 2),
    (2023, 1, 9),
    (2023, 2, 11),
    (2023, 2, 23),
    (2023, 3, 21),
    (2023, 4, 29),
    (2023, 5, 3),
    (2023, 5, 4),
    (2023, 5, 5),
    (2023, 7, 17),
    (2023, 8, 11),
    (2023, 9, 18),
    (2023, 9, 23),
    (2023, 10, 9),
    (2023, 11, 3),
    (2023, 11, 23),
    (2024, 1, 1),
    (2024, 1, 8),
    (2024, 2, 11),
    (2024, 2, 12),
    (2024, 2, 23),
    (2024, 3, 20),
    (2024, 4, 29),
    (2024, 5, 3),
    (2024, 5, 4),
    (2024, 5, 5),
    (2024, 5, 6),
    (2024, 7, 15),
    (2024, 8, 11),
    (2024, 8, 12),
    (2024, 9, 16),
    (2024, 9, 22),
    (2024, 9, 23),
    (2024, 10, 14),
    (2024, 11, 3),
    (2024, 11, 4),
    (2024, 11, 23),
    (2025, 1, 1),
    (2025, 1, 13),
    (2025, 2, 11),
    (2025, 2, 23),
    (2025, 2, 24),
    (2025, 3, 20),
    (2025, 4, 29),
    (2025, 5, 3),
    (2025, 5, 4),
    (2025, 5, 5),
    (2025, 5, 6),
    (2025, 7, 21),
    (2025, 8, 11),
    (2025, 9, 15),
    (2025, 9, 23),
    (2025, 10, 13),
    (2025, 11, 3),
    (2025, 11, 23),
    (2025, 11, 24),
    (2026, 1, 1),
    (2026, 1, 12),
    (2026, 2, 11),
    (2026, 2, 23),
    (2026, 3, 20),
    (2026, 4, 29),
    (2026, 5, 3),
    (2026, 5, 4),
    (2026, 5, 5),
    (2026, 5, 6),
    (2026, 7, 20),
    (2026, 8, 11),
    (2026, 9, 21),
    (2026, 9, 22),
    (2026, 9, 23),
    (2026, 10, 12),
    (2026, 11, 3),
    (2026, 11, 23),
    (2027, 1, 1),
    (2027, 1, 11),
    (2027, 2, 11),
    (2027, 2, 23),
    (2027, 3, 21),
    (2027, 3, 22),
    (2027, 4, 29),
    (2027, 5, 3),
    (2027, 5, 4),
    (2027, 5, 5),
    (2027, 7, 19),
    (2027, 8, 11),
    (2027, 9, 20),
    (2027, 9, 23),
    (2027, 10, 11),
    (2027, 11, 3),
    (2027, 11, 23),
];

/// Whether banks transfer on `date`: not a Saturday, Sunday, public holiday (2023–2027 table)
/// or the banks' new-year closing (12/31 to 1/3).
pub fn is_business_day(date: NaiveDate) -> bool {
    let (y, m, d) = (date.year(), date.month(), date.day());
    !matches!(date.weekday(), Weekday::Sat | Weekday::Sun)
        && !HOLIDAYS.contains(&(y, m, d))
        && !matches!((m, d), (12, 31) | (1, 1..=3))
}

/// The `n`th business day after `date` (exclusive), if within range.
pub fn add_business_days(date: NaiveDate, n: u32) -> Option<NaiveDate> {
    let mut day = date;
    let mut left = n;
    while left > 0 {
        day = day.succ_opt()?;
        if is_business_day(day) {
            left -= 1;
        }
    }
    Some(day)
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
        // Saturday 2026-01-10; Monday 1/12 is 成人の日.
        assert_eq!(add_business_days(d("2026-01-10"), 5), Some(d("2026-01-19")));
        assert!(!is_business_day(d("2026-01-11")) && !is_business_day(d("2026-09-22")));
        assert!(!is_business_day(d("2025-12-31")) && !is_business_day(d("2027-01-03")));
        assert!(is_business_day(d("2026-01-13")));
        // 2026-12-25 (Fri) + 5: 12/28, 12/29, 12/30, then 1/4, 1/5.
        assert_eq!(add_business_days(d("2026-12-25"), 5), Some(d("2027-01-05")));
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
