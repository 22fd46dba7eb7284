//! The prepaid-instrument law (資金決済法) report: unused balance at a 基準日 and the deposit owed.
//!
//! At the end of each reference date (31 March and 30 September, JST) the issuer measures the
//! unused balance (未使用残高) of the currency. When it exceeds ¥10,000,000, at least half of
//! the excess must be secured as an issue deposit (発行保証金). The report states the balance,
//! the excess and that half.
//!
//! What counts: paid coin and the city-funded premium are both value of the prepaid instrument
//! (the shopper holds and spends them as one currency), so both are in the total. Free points
//! are outside the law; they are reported apart and never counted. Balances cancelled under
//! the legal procedure count as used, so the caller passes balances after cancellation.

use chrono::NaiveDate;
use serde::Serialize;

use super::calendar::is_reference_date;

/// The unused balance above which the issuer owes a deposit: ¥10,000,000.
pub const THRESHOLD_YEN: i64 = 10_000_000;

/// The balances measured at the end of a reference date, the input of the report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UnusedBalances {
    /// Unused coin bought with money (有償), in yen.
    pub paid_yen: i64,
    /// Unused premium granted with premium sets (プレミアム分), in yen.
    pub premium_yen: i64,
    /// Unused free points (無償ポイント), reported apart.
    pub free_points: i64,
}

/// Why a report could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepaidLawError {
    #[error("{date} is not a reference date (31 March or 30 September)")]
    NotAReferenceDate { date: NaiveDate },
    /// Balances are never negative; a negative input is a bug upstream.
    #[error("{what} must not be negative, got {value}")]
    NegativeBalance { what: &'static str, value: i64 },
    #[error("unused balance arithmetic overflowed")]
    Overflow,
}

/// The unused-balance report for one reference date (未使用残高の報告).
///
/// Built only by [`UnusedBalanceReport::compute`], so its figures always agree with each
/// other; fields are read through the accessors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnusedBalanceReport {
    /// 基準日: the JST date at whose end the balances were measured.
    reference_date: NaiveDate,
    /// Unused paid coin, in yen.
    unused_paid_yen: i64,
    /// Unused premium, in yen.
    unused_premium_yen: i64,
    /// 未使用残高: paid plus premium, in yen.
    unused_total_yen: i64,
    /// The legal threshold, ¥10,000,000.
    threshold_yen: i64,
    /// The part of the total above the threshold (0 when at or below it), in yen.
    excess_yen: i64,
    /// 発行保証金: half the excess, rounded up to the yen.
    required_deposit_yen: i64,
    /// Unused free points, outside the law and not in the total.
    free_points: i64,
}

/// Column names of the CSV form, in the order of [`UnusedBalanceReport::to_csv_row`]; they
/// match the JSON field names.
const CSV_HEADER: [&str; 8] = [
    "reference_date",
    "unused_paid_yen",
    "unused_premium_yen",
    "unused_total_yen",
    "threshold_yen",
    "excess_yen",
    "required_deposit_yen",
    "free_points",
];

impl UnusedBalanceReport {
    /// Computes the report for `reference_date` from the balances at the end of that day.
    pub fn compute(
        reference_date: NaiveDate,
        balances: UnusedBalances,
    ) -> Result<Self, PrepaidLawError> {
        if !is_reference_date(reference_date) {
            return Err(PrepaidLawError::NotAReferenceDate {
                date: reference_date,
            });
        }
        Self::compute_as_of(reference_date, balances)
    }

    /// The same figures at the end of any date (for monitoring between 基準日; only the
    /// reports at 31 March and 30 September are filed).
    pub fn compute_as_of(
        reference_date: NaiveDate,
        balances: UnusedBalances,
    ) -> Result<Self, PrepaidLawError> {
        let UnusedBalances {
            paid_yen,
            premium_yen,
            free_points,
        } = balances;
        not_negative("paid_yen", paid_yen)?;
        not_negative("premium_yen", premium_yen)?;
        not_negative("free_points", free_points)?;

        let total = paid_yen
            .checked_add(premium_yen)
            .ok_or(PrepaidLawError::Overflow)?;
        // Both terms are non-negative, so the subtraction cannot overflow; checked anyway
        // because money arithmetic here is checked without exception.
        let excess = total
            .checked_sub(THRESHOLD_YEN)
            .ok_or(PrepaidLawError::Overflow)?
            .max(0);
        Ok(Self {
            reference_date,
            unused_paid_yen: paid_yen,
            unused_premium_yen: premium_yen,
            unused_total_yen: total,
            threshold_yen: THRESHOLD_YEN,
            excess_yen: excess,
            required_deposit_yen: half_rounded_up(excess),
            free_points,
        })
    }

    pub fn reference_date(&self) -> NaiveDate {
        self.reference_date
    }

    pub fn unused_paid_yen(&self) -> i64 {
        self.unused_paid_yen
    }

    pub fn unused_premium_yen(&self) -> i64 {
        self.unused_premium_yen
    }

    pub fn unused_total_yen(&self) -> i64 {
        self.unused_total_yen
    }

    pub fn threshold_yen(&self) -> i64 {
        self.threshold_yen
    }

    pub fn excess_yen(&self) -> i64 {
        self.excess_yen
    }

    pub fn required_deposit_yen(&self) -> i64 {
        self.required_deposit_yen
    }

    pub fn free_points(&self) -> i64 {
        self.free_points
    }

    /// Whether the issuer owes a deposit for this reference date.
    pub fn deposit_required(&self) -> bool {
        self.required_deposit_yen > 0
    }

    /// The CSV column names, matching [`Self::to_csv_row`] and the JSON field names.
    pub fn csv_header() -> [&'static str; 8] {
        CSV_HEADER
    }

    /// The report as one CSV record, fields in [`Self::csv_header`] order: an ISO date and
    /// plain integers, so no field ever needs quoting. Feed it to `csv::Writer::write_record`,
    /// or join with `,` for a hand-written file.
    pub fn to_csv_row(&self) -> [String; 8] {
        [
            self.reference_date.format("%Y-%m-%d").to_string(),
            self.unused_paid_yen.to_string(),
            self.unused_premium_yen.to_string(),
            self.unused_total_yen.to_string(),
            self.threshold_yen.to_string(),
            self.excess_yen.to_string(),
            self.required_deposit_yen.to_string(),
            self.free_points.to_string(),
        ]
    }
}

fn not_negative(what: &'static str, value: i64) -> Result<(), PrepaidLawError> {
    if value < 0 {
        Err(PrepaidLawError::NegativeBalance { what, value })
    } else {
        Ok(())
    }
}

/// Half of a non-negative amount, rounded up to the yen: the law asks for *at least* half,
/// so an odd excess of ¥1 needs ¥1. Written without `+ 1` so it cannot overflow.
fn half_rounded_up(amount: i64) -> i64 {
    debug_assert!(amount >= 0, "excess is never negative");
    amount / 2 + amount % 2
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn march_31() -> NaiveDate {
        d(2026, 3, 31)
    }

    fn report(paid_yen: i64, premium_yen: i64) -> UnusedBalanceReport {
        UnusedBalanceReport::compute(
            march_31(),
            UnusedBalances {
                paid_yen,
                premium_yen,
                free_points: 0,
            },
        )
        .expect("valid inputs")
    }

    #[test]
    fn below_and_at_threshold_owe_nothing() {
        for (paid, premium) in [
            (0, 0),
            (9_999_999, 0),
            (7_000_000, 3_000_000),
            (10_000_000, 0),
        ] {
            let r = report(paid, premium);
            assert_eq!(r.excess_yen(), 0, "{paid} + {premium}");
            assert_eq!(r.required_deposit_yen(), 0);
            assert!(!r.deposit_required());
        }
    }

    #[test]
    fn odd_excess_rounds_the_deposit_up() {
        let r = report(10_000_001, 0);
        assert_eq!(
            (
                r.unused_total_yen(),
                r.excess_yen(),
                r.required_deposit_yen()
            ),
            (10_000_001, 1, 1)
        );
        assert!(r.deposit_required());
        let r = report(10_000_002, 0);
        assert_eq!((r.excess_yen(), r.required_deposit_yen()), (2, 1));
        let r = report(10_000_003, 0);
        assert_eq!((r.excess_yen(), r.required_deposit_yen()), (3, 2));
    }

    #[test]
    fn premium_counts_and_free_points_do_not() {
        // ¥12,000,000 paid and ¥3,600,000 premium (30% sets): ¥15,600,000 unused.
        let r = UnusedBalanceReport::compute(
            d(2026, 9, 30),
            UnusedBalances {
                paid_yen: 12_000_000,
                premium_yen: 3_600_000,
                free_points: 50_000_000,
            },
        )
        .expect("valid inputs");
        assert_eq!(r.unused_total_yen(), 15_600_000);
        assert_eq!(r.threshold_yen(), THRESHOLD_YEN);
        assert_eq!(r.excess_yen(), 5_600_000);
        assert_eq!(r.required_deposit_yen(), 2_800_000);
        assert_eq!(r.free_points(), 50_000_000);
        assert_eq!(
            (r.unused_paid_yen(), r.unused_premium_yen()),
            (12_000_000, 3_600_000)
        );
        // Premium alone can push the total over the threshold.
        assert_eq!(report(9_000_000, 1_000_001).excess_yen(), 1);
    }

    #[test]
    fn only_reference_dates_are_reported() {
        let balances = UnusedBalances {
            paid_yen: 1,
            premium_yen: 0,
            free_points: 0,
        };
        for date in [
            d(2026, 3, 30),
            d(2026, 4, 1),
            d(2026, 9, 29),
            d(2026, 12, 31),
        ] {
            assert_eq!(
                UnusedBalanceReport::compute(date, balances),
                Err(PrepaidLawError::NotAReferenceDate { date })
            );
        }
        assert!(UnusedBalanceReport::compute(d(2026, 9, 30), balances).is_ok());
    }

    #[test]
    fn negative_and_overflowing_inputs_are_errors() {
        let compute = |paid_yen, premium_yen, free_points| {
            UnusedBalanceReport::compute(
                march_31(),
                UnusedBalances {
                    paid_yen,
                    premium_yen,
                    free_points,
                },
            )
        };
        assert_eq!(
            compute(-1, 0, 0),
            Err(PrepaidLawError::NegativeBalance {
                what: "paid_yen",
                value: -1
            })
        );
        assert_eq!(
            compute(0, -5, 0),
            Err(PrepaidLawError::NegativeBalance {
                what: "premium_yen",
                value: -5
            })
        );
        assert_eq!(
            compute(0, 0, -2),
            Err(PrepaidLawError::NegativeBalance {
                what: "free_points",
                value: -2
            })
        );
        assert_eq!(compute(i64::MAX, 1, 0), Err(PrepaidLawError::Overflow));
        let most = compute(i64::MAX, 0, 0).expect("largest total");
        assert_eq!(most.excess_yen(), i64::MAX - THRESHOLD_YEN);
        assert_eq!(
            most.required_deposit_yen(),
            (i64::MAX - THRESHOLD_YEN) / 2 + 1
        );
    }

    #[test]
    fn json_and_csv_forms() {
        let r = UnusedBalanceReport::compute(
            march_31(),
            UnusedBalances {
                paid_yen: 10_000_001,
                premium_yen: 2,
                free_points: 7,
            },
        )
        .expect("valid inputs");
        let json = serde_json::to_value(&r).expect("serialise");
        assert_eq!(
            json,
            serde_json::json!({
                "reference_date": "2026-03-31",
                "unused_paid_yen": 10_000_001,
                "unused_premium_yen": 2,
                "unused_total_yen": 10_000_003,
                "threshold_yen": 10_000_000,
                "excess_yen": 3,
                "required_deposit_yen": 2,
                "free_points": 7,
            })
        );
        let header = UnusedBalanceReport::csv_header();
        let object = json.as_object().expect("an object");
        assert_eq!(header.len(), object.len());
        assert!(header.iter().all(|name| object.contains_key(*name)));
        assert_eq!(
            header.join(","),
            "reference_date,unused_paid_yen,unused_premium_yen,unused_total_yen,\
             threshold_yen,excess_yen,required_deposit_yen,free_points"
        );
        assert_eq!(
            r.to_csv_row().join(","),
            "2026-03-31,10000001,2,10000003,10000000,3,2,7"
        );
    }

    proptest! {
        #[test]
        fn deposit_is_the_smallest_whole_half(
            paid in 0i64..=1_000_000_000_000,
            premium in 0i64..=1_000_000_000_000,
            points in 0i64..=1_000_000_000_000,
        ) {
            let r = UnusedBalanceReport::compute(
                march_31(),
                UnusedBalances { paid_yen: paid, premium_yen: premium, free_points: points },
            ).expect("valid inputs");
            prop_assert_eq!(r.unused_total_yen(), paid + premium);
            prop_assert_eq!(r.excess_yen(), (paid + premium - THRESHOLD_YEN).max(0));
            // At least half, and the least whole yen that is.
            prop_assert!(2 * r.required_deposit_yen() >= r.excess_yen());
            prop_assert!(2 * (r.required_deposit_yen() - 1) < r.excess_yen());
            prop_assert!(r.required_deposit_yen() <= r.excess_yen());
        }
    }
}
