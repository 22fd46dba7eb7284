//! Settlement rules: which dates close a cycle, when a cycle has ended, and a store's
//! statement arithmetic (payments, refunds, fee, points reimbursed and charged, net payable).

use chrono::{Datelike, Days, NaiveDate};
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
