//! The prepaid-instrument law (資金決済法) report: unused balance at a 基準日, the deposit owed,
//! and what was issued and used in the half-year ending on it.
//!
//! 資金決済法 第14条1項: when the 基準日未使用残高 (unused balance at the end of 31 March or
//! 30 September) exceeds the 基準額 (¥10,000,000, 施行令 第6条), the issuer must deposit a
//! 発行保証金 of at least HALF OF THAT WHOLE BALANCE (要供託額), not half of the excess:
//! ¥10,104,067 unused means ¥5,052,034 (half, rounded up to the yen because the law says
//! "at least"). Securing may also be a guarantee (第15条) or a trust (第16条).
//!
//! What counts as value of the instrument: paid coin and the city-funded premium (the shopper
//! holds and spends them as one currency). Free points (rebates) are outside the law; they
//! are reported apart and never counted.
//!
//! The half-year's movements (Oct 1–Mar 31 or Apr 1–Sep 30, up to the reported date), from the
//! postings on shopper wallets, each by the kind of its transaction (a reversal by the kind of
//! what it reverses, so it lowers that figure):
//! - 発行額 (issued): counter and bank charges and premium-set sales, paid part and premium.
//! - 回収額 (used): payments net of refunds, and balances paid back or cancelled under the
//!   legal procedure (払戻し, `cash_out`), which the FSA counts as 回収.
//! - 失効額 (expired): balances that expired; apart, since they are neither issued nor used.
//! - その他 (other): anything else; transfers between shoppers net to zero, so this is zero
//!   unless a new kind of movement appears (then the report still balances and shows it).
//!
//! Free points: granted (rebate grants, less claw-backs when a payment is refunded), used
//! (spent in payments, net of refunds) and expired.
//!
//! The figures tie: previous 基準日's balance + issued − used − expired + other = this balance.

use chrono::{Datelike, NaiveDate};
use serde::Serialize;

use super::calendar::is_reference_date;
use super::ledger::Asset;
use super::money::{Points, Yen};

/// The unused balance above which the issuer owes a deposit: ¥10,000,000 (基準額).
pub const THRESHOLD_YEN: Yen = Yen::new(10_000_000);

/// The balances held in shopper wallets at one instant: sums of the ledger's per-asset
/// amounts (coin and premium in yen, points in points), as the ledger stores them. The
/// report below counts them as [`Yen`] and [`Points`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct UnusedBalances {
    /// Unused coin bought with money (有償), in yen.
    pub paid_yen: i64,
    /// Unused premium granted with premium sets (プレミアム分), in yen.
    pub premium_yen: i64,
    /// Unused free points (無償ポイント), reported apart.
    pub free_points: i64,
}

impl UnusedBalances {
    fn total_yen(&self) -> Result<Yen, PrepaidLawError> {
        Yen::new(self.paid_yen)
            .checked_add(Yen::new(self.premium_yen))
            .map_err(|_| PrepaidLawError::Overflow)
    }
}

/// One sum of shopper-wallet postings in the period: of transactions of one kind (for a
/// reversal, the kind of the transaction it reverses), one asset, one sign.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WalletFlow {
    pub kind: String,
    /// Whether these postings belong to reversals.
    pub reversal: bool,
    pub asset: Asset,
    /// Whether these postings credit the wallets (the sum is then positive).
    pub credit: bool,
    pub amount: i64,
}

/// Which figure of the report a flow moves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Figure {
    Issued,
    Used,
    Expired,
    Other,
}

/// The report's rule for a flow (see the module comment). `original_credit` is the sign of
/// the original transaction's postings, so a reversal lands where the original did.
fn figure_of(kind: &str, asset: Asset, original_credit: bool) -> Figure {
    match (asset, kind) {
        (_, "expiry") => Figure::Expired,
        (Asset::Coin | Asset::Premium, "charge" | "bank_charge" | "premium_sale") => Figure::Issued,
        (Asset::Coin | Asset::Premium, "payment" | "refund" | "cash_out") => Figure::Used,
        (Asset::Points, "rebate_grant") => Figure::Issued,
        // A refund takes back the rebate the payment earned: that undoes a grant.
        (Asset::Points, "refund") if !original_credit => Figure::Issued,
        (Asset::Points, "payment" | "refund") => Figure::Used,
        _ => Figure::Other,
    }
}

/// The half-year's movements, summed from [`WalletFlow`]s.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct PeriodFlows {
    pub issued_yen: i64,
    pub used_yen: i64,
    pub expired_yen: i64,
    pub other_yen: i64,
    pub free_points_granted: i64,
    pub free_points_used: i64,
    pub free_points_expired: i64,
    pub free_points_other: i64,
}

impl PeriodFlows {
    /// Sums the flows; issued and "other" add what wallets received, used and expired what
    /// they gave.
    pub fn from_flows<'a>(
        flows: impl IntoIterator<Item = &'a WalletFlow>,
    ) -> Result<Self, PrepaidLawError> {
        let mut out = Self::default();
        for f in flows {
            let original_credit = f.credit != f.reversal;
            let figure = figure_of(&f.kind, f.asset, original_credit);
            let points = f.asset == Asset::Points;
            let (slot, signed) = match (figure, points) {
                (Figure::Issued, false) => (&mut out.issued_yen, f.amount),
                (Figure::Used, false) => (&mut out.used_yen, -f.amount),
                (Figure::Expired, false) => (&mut out.expired_yen, -f.amount),
                (Figure::Other, false) => (&mut out.other_yen, f.amount),
                (Figure::Issued, true) => (&mut out.free_points_granted, f.amount),
                (Figure::Used, true) => (&mut out.free_points_used, -f.amount),
                (Figure::Expired, true) => (&mut out.free_points_expired, -f.amount),
                (Figure::Other, true) => (&mut out.free_points_other, f.amount),
            };
            let sum = slot.checked_add(signed).ok_or(PrepaidLawError::Overflow)?;
            *slot = sum;
        }
        Ok(out)
    }
}

/// Why a report could not be computed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrepaidLawError {
    #[error("{date} is not a reference date (31 March or 30 September)")]
    NotAReferenceDate { date: NaiveDate },
    /// Balances are never negative; a negative input is a bug upstream.
    #[error("{what} must not be negative, got {value}")]
    NegativeBalance { what: &'static str, value: i64 },
    /// The movements do not lead from the opening to the closing balance: the inputs were
    /// not measured over the same period (a bug upstream).
    #[error("{what}: opening {opening} + movements {moved} ≠ closing {closing}")]
    Unbalanced {
        what: &'static str,
        opening: i64,
        moved: i64,
        closing: i64,
    },
    #[error("unused balance arithmetic overflowed")]
    Overflow,
}

/// The first day of the half-year (1 April or 1 October) that `date` falls in: the period
/// whose 発行額 and 回収額 a report at `date` gives.
pub fn half_year_start(date: NaiveDate) -> NaiveDate {
    let (year, month) = match date.month() {
        4..=9 => (date.year(), 4),
        10..=12 => (date.year(), 10),
        _ => (date.year() - 1, 10),
    };
    NaiveDate::from_ymd_opt(year, month, 1).unwrap_or(date)
}

/// The unused-balance report for one date (未使用残高の報告).
///
/// Built only by [`UnusedBalanceReport::compute`], so its figures always agree with each
/// other; fields are read through the accessors.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct UnusedBalanceReport {
    /// 基準日: the JST date at whose end the balances were measured.
    reference_date: NaiveDate,
    /// First day of the half-year ending on the reference date (1 April or 1 October).
    period_from: NaiveDate,
    /// Unused paid coin, in yen.
    unused_paid_yen: Yen,
    /// Unused premium, in yen.
    unused_premium_yen: Yen,
    /// 基準日未使用残高: paid plus premium, in yen.
    unused_total_yen: Yen,
    /// 基準額, ¥10,000,000.
    threshold_yen: Yen,
    /// 要供託額: half of the whole unused total, rounded up, when the total exceeds the
    /// threshold; 0 otherwise (資金決済法 第14条1項).
    required_deposit_yen: Yen,
    /// The unused total at the end of the day before `period_from` (the previous 基準日).
    opening_unused_yen: Yen,
    /// 発行額: charges and premium-set sales (paid and premium) in the half-year.
    issued_yen: Yen,
    /// 回収額: payments net of refunds, and 払戻し, in the half-year.
    used_yen: Yen,
    /// 失効額: expired balances in the half-year.
    expired_yen: Yen,
    /// Other movements (zero unless a new kind of movement appears).
    other_yen: Yen,
    /// Unused free points, outside the law and not in the total.
    free_points: Points,
    /// Free points granted in the half-year (rebates, less claw-backs).
    free_points_granted: Points,
    /// Free points spent in the half-year, net of refunds.
    free_points_used: Points,
    /// Free points expired in the half-year.
    free_points_expired: Points,
}

impl UnusedBalanceReport {
    /// The report at the end of `reference_date`: the balances then, the balances at the end
    /// of the day before the half-year began, and the movements between.
    pub fn compute(
        reference_date: NaiveDate,
        opening: UnusedBalances,
        closing: UnusedBalances,
        flows: PeriodFlows,
    ) -> Result<Self, PrepaidLawError> {
        for (what, value) in [
            ("paid_yen", closing.paid_yen),
            ("premium_yen", closing.premium_yen),
            ("free_points", closing.free_points),
            ("opening paid_yen", opening.paid_yen),
            ("opening premium_yen", opening.premium_yen),
            ("opening free_points", opening.free_points),
        ] {
            if value < 0 {
                return Err(PrepaidLawError::NegativeBalance { what, value });
            }
        }
        let total = closing.total_yen()?;
        let opening_total = opening.total_yen()?;
        let yen_moved = checked_sum(&[
            flows.issued_yen,
            -flows.used_yen,
            -flows.expired_yen,
            flows.other_yen,
        ])?;
        ties(
            "unused_total_yen",
            opening_total.get(),
            yen_moved,
            total.get(),
        )?;
        let points_moved = checked_sum(&[
            flows.free_points_granted,
            -flows.free_points_used,
            -flows.free_points_expired,
            flows.free_points_other,
        ])?;
        ties(
            "free_points",
            opening.free_points,
            points_moved,
            closing.free_points,
        )?;
        Ok(Self {
            reference_date,
            period_from: half_year_start(reference_date),
            unused_paid_yen: Yen::new(closing.paid_yen),
            unused_premium_yen: Yen::new(closing.premium_yen),
            unused_total_yen: total,
            threshold_yen: THRESHOLD_YEN,
            required_deposit_yen: required_deposit(total),
            opening_unused_yen: opening_total,
            issued_yen: Yen::new(flows.issued_yen),
            used_yen: Yen::new(flows.used_yen),
            expired_yen: Yen::new(flows.expired_yen),
            other_yen: Yen::new(flows.other_yen),
            free_points: Points::new(closing.free_points),
            free_points_granted: Points::new(flows.free_points_granted),
            free_points_used: Points::new(flows.free_points_used),
            free_points_expired: Points::new(flows.free_points_expired),
        })
    }

    /// [`Self::compute`] for the reports that are filed: 31 March and 30 September only.
    pub fn compute_filed(
        reference_date: NaiveDate,
        opening: UnusedBalances,
        closing: UnusedBalances,
        flows: PeriodFlows,
    ) -> Result<Self, PrepaidLawError> {
        if !is_reference_date(reference_date) {
            return Err(PrepaidLawError::NotAReferenceDate {
                date: reference_date,
            });
        }
        Self::compute(reference_date, opening, closing, flows)
    }

    pub fn reference_date(&self) -> NaiveDate {
        self.reference_date
    }

    pub fn period_from(&self) -> NaiveDate {
        self.period_from
    }

    pub fn unused_total_yen(&self) -> Yen {
        self.unused_total_yen
    }

    pub fn required_deposit_yen(&self) -> Yen {
        self.required_deposit_yen
    }

    pub fn issued_yen(&self) -> Yen {
        self.issued_yen
    }

    pub fn used_yen(&self) -> Yen {
        self.used_yen
    }

    /// Whether the issuer owes a deposit for this date.
    pub fn deposit_required(&self) -> bool {
        self.required_deposit_yen > Yen::ZERO
    }

    /// Japanese column names for Excel, in [`Self::csv_cells`] order.
    pub fn csv_header() -> [&'static str; 17] {
        [
            "基準日",
            "期間開始日",
            "未使用残高(有償)",
            "未使用残高(プレミアム分)",
            "基準日未使用残高",
            "基準額",
            "要供託額",
            "前基準日未使用残高",
            "発行額",
            "回収額",
            "失効額",
            "その他増減",
            "無償ポイント残高",
            "無償ポイント付与",
            "無償ポイント利用",
            "無償ポイント失効",
            "供託要否",
        ]
    }

    /// The report as CSV cells: ISO dates, plain integers and 要/不要.
    pub fn csv_cells(&self) -> [String; 17] {
        [
            self.reference_date.format("%Y-%m-%d").to_string(),
            self.period_from.format("%Y-%m-%d").to_string(),
            self.unused_paid_yen.to_string(),
            self.unused_premium_yen.to_string(),
            self.unused_total_yen.to_string(),
            self.threshold_yen.to_string(),
            self.required_deposit_yen.to_string(),
            self.opening_unused_yen.to_string(),
            self.issued_yen.to_string(),
            self.used_yen.to_string(),
            self.expired_yen.to_string(),
            self.other_yen.to_string(),
            self.free_points.to_string(),
            self.free_points_granted.to_string(),
            self.free_points_used.to_string(),
            self.free_points_expired.to_string(),
            if self.deposit_required() {
                "要"
            } else {
                "不要"
            }
            .to_owned(),
        ]
    }
}

/// 要供託額: at least half of the whole unused balance once it exceeds the threshold, as the
/// least whole yen that is (an odd total of ¥10,000,001 needs ¥5,000,001).
pub fn required_deposit(unused_total_yen: Yen) -> Yen {
    if unused_total_yen <= THRESHOLD_YEN {
        return Yen::ZERO;
    }
    // Written without `+ 1` so it cannot overflow.
    let total = unused_total_yen.get();
    Yen::new(total / 2 + total % 2)
}

fn checked_sum(terms: &[i64]) -> Result<i64, PrepaidLawError> {
    terms
        .iter()
        .try_fold(0i64, |acc, t| acc.checked_add(*t))
        .ok_or(PrepaidLawError::Overflow)
}

fn ties(what: &'static str, opening: i64, moved: i64, closing: i64) -> Result<(), PrepaidLawError> {
    if opening.checked_add(moved) == Some(closing) {
        Ok(())
    } else {
        Err(PrepaidLawError::Unbalanced {
            what,
            opening,
            moved,
            closing,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(y: i32, m: u32, day: u32) -> NaiveDate {
        NaiveDate::from_ymd_opt(y, m, day).expect("valid test date")
    }

    fn balances(paid_yen: i64, premium_yen: i64) -> UnusedBalances {
        UnusedBalances {
            paid_yen,
            premium_yen,
            free_points: 0,
        }
    }

    /// A report whose whole balance was charged in the half-year.
    fn report(paid_yen: i64, premium_yen: i64) -> UnusedBalanceReport {
        let flows = PeriodFlows {
            issued_yen: paid_yen + premium_yen,
            ..PeriodFlows::default()
        };
        UnusedBalanceReport::compute_filed(
            d(2026, 3, 31),
            UnusedBalances::default(),
            balances(paid_yen, premium_yen),
            flows,
        )
        .expect("valid inputs")
    }

    #[test]
    fn the_deposit_is_half_of_the_whole_balance_above_ten_million() {
        // The figure: ¥10,104,067 unused → ¥5,052,034 (not ¥52,034).
        assert_eq!(
            report(10_104_067, 0).required_deposit_yen().get(),
            5_052_034
        );
        assert_eq!(
            report(10_000_001, 0).required_deposit_yen().get(),
            5_000_001
        );
        assert_eq!(
            report(10_000_002, 0).required_deposit_yen().get(),
            5_000_001
        );
        assert_eq!(
            report(20_000_000, 0).required_deposit_yen().get(),
            10_000_000
        );
        // Premium is value of the instrument too: it can push the total over.
        let r = report(9_000_000, 1_000_001);
        assert_eq!(
            (r.unused_total_yen().get(), r.required_deposit_yen().get()),
            (10_000_001, 5_000_001)
        );
        assert!(r.deposit_required());
    }

    #[test]
    fn at_or_below_the_threshold_nothing_is_owed() {
        for (paid, premium) in [(0, 0), (9_999_999, 0), (7_000_000, 3_000_000)] {
            let r = report(paid, premium);
            assert_eq!(r.required_deposit_yen().get(), 0, "{paid} + {premium}");
            assert!(!r.deposit_required());
        }
    }

    #[test]
    fn half_years_end_on_the_reference_dates() {
        assert_eq!(half_year_start(d(2026, 3, 31)), d(2025, 10, 1));
        assert_eq!(half_year_start(d(2026, 1, 15)), d(2025, 10, 1));
        assert_eq!(half_year_start(d(2026, 9, 30)), d(2026, 4, 1));
        assert_eq!(half_year_start(d(2026, 4, 1)), d(2026, 4, 1));
        assert_eq!(half_year_start(d(2026, 10, 1)), d(2026, 10, 1));
        assert_eq!(half_year_start(d(2026, 12, 31)), d(2026, 10, 1));
    }

    fn flow(kind: &str, reversal: bool, asset: Asset, amount: i64) -> WalletFlow {
        WalletFlow {
            kind: kind.into(),
            reversal,
            asset,
            credit: amount > 0,
            amount,
        }
    }

    #[test]
    fn movements_are_classified_by_the_original_kind() {
        use Asset::*;
        let flows = [
            flow("charge", false, Coin, 50_000),
            flow("bank_charge", false, Coin, 20_000),
            flow("premium_sale", false, Coin, 10_000),
            flow("premium_sale", false, Premium, 3_000),
            // A reversed charge lowers what was issued.
            flow("charge", true, Coin, -5_000),
            flow("payment", false, Premium, -3_000),
            flow("payment", false, Coin, -30_000),
            flow("refund", false, Coin, 2_000),
            // A reversed payment gives back: less used.
            flow("payment", true, Coin, 1_000),
            flow("cash_out", false, Coin, -4_000),
            flow("expiry", false, Coin, -500),
            // Transfers between shoppers net to zero.
            flow("transfer", false, Coin, -700),
            flow("transfer", false, Coin, 700),
            flow("rebate_grant", false, Points, 300),
            flow("payment", false, Points, -100),
            // The refund gives 40 points back and claws 20 of the rebate back.
            flow("refund", false, Points, 40),
            flow("refund", false, Points, -20),
            // Reversing that refund undoes both, each where it landed.
            flow("refund", true, Points, -40),
            flow("refund", true, Points, 20),
            flow("expiry", false, Points, -10),
        ];
        let f = PeriodFlows::from_flows(&flows).expect("sums");
        assert_eq!(
            f,
            PeriodFlows {
                issued_yen: 78_000,
                used_yen: 34_000,
                expired_yen: 500,
                other_yen: 0,
                free_points_granted: 300,
                free_points_used: 100,
                free_points_expired: 10,
                free_points_other: 0,
            }
        );
        let unknown = PeriodFlows::from_flows(&[flow("city_grant", false, Coin, 9)]).unwrap();
        assert_eq!(unknown.other_yen, 9);
    }

    #[test]
    fn the_figures_tie_or_the_report_is_refused() {
        let opening = balances(1_000, 0);
        let flows = PeriodFlows {
            issued_yen: 5_000,
            used_yen: 2_000,
            expired_yen: 100,
            ..PeriodFlows::default()
        };
        let r = UnusedBalanceReport::compute(d(2026, 2, 1), opening, balances(3_800, 100), flows)
            .expect("ties");
        assert_eq!(r.period_from(), d(2025, 10, 1));
        assert_eq!((r.issued_yen().get(), r.used_yen().get()), (5_000, 2_000));
        assert_eq!(
            UnusedBalanceReport::compute(d(2026, 2, 1), opening, balances(3_901, 0), flows),
            Err(PrepaidLawError::Unbalanced {
                what: "unused_total_yen",
                opening: 1_000,
                moved: 2_900,
                closing: 3_901
            })
        );
    }

    #[test]
    fn only_reference_dates_are_filed() {
        for date in [
            d(2026, 3, 30),
            d(2026, 4, 1),
            d(2026, 9, 29),
            d(2026, 12, 31),
        ] {
            assert_eq!(
                UnusedBalanceReport::compute_filed(
                    date,
                    UnusedBalances::default(),
                    UnusedBalances::default(),
                    PeriodFlows::default()
                ),
                Err(PrepaidLawError::NotAReferenceDate { date })
            );
        }
    }

    #[test]
    fn negative_and_overflowing_inputs_are_errors() {
        let zero = UnusedBalances::default();
        let flows = PeriodFlows::default();
        assert_eq!(
            UnusedBalanceReport::compute(d(2026, 3, 31), zero, balances(-1, 0), flows),
            Err(PrepaidLawError::NegativeBalance {
                what: "paid_yen",
                value: -1
            })
        );
        assert_eq!(
            UnusedBalanceReport::compute(d(2026, 3, 31), zero, balances(i64::MAX, 1), flows),
            Err(PrepaidLawError::Overflow)
        );
        assert_eq!(
            required_deposit(Yen::new(i64::MAX)),
            Yen::new(i64::MAX / 2 + 1)
        );
    }

    #[test]
    fn json_and_csv_forms() {
        let r = report(10_000_001, 2);
        let json = serde_json::to_value(&r).expect("serialise");
        assert_eq!(json["unused_total_yen"], 10_000_003);
        assert_eq!(json["required_deposit_yen"], 5_000_002);
        assert_eq!(json["period_from"], "2025-10-01");
        assert_eq!(json["issued_yen"], 10_000_003);
        assert!(
            json.get("excess_yen").is_none(),
            "the excess is not a figure of the law"
        );
        let object = json.as_object().expect("an object");
        assert_eq!(
            UnusedBalanceReport::csv_header().len(),
            object.len() + 1,
            "one column per field, and 供託要否"
        );
        assert_eq!(
            r.csv_cells().join(","),
            "2026-03-31,2025-10-01,10000001,2,10000003,10000000,5000002,0,10000003,0,0,0,0,0,0,0,要"
        );
    }

    proptest! {
        #[test]
        fn deposit_is_the_least_whole_half_of_the_total(
            paid in 0i64..=1_000_000_000_000,
            premium in 0i64..=1_000_000_000_000,
        ) {
            let r = report(paid, premium);
            let total = paid + premium;
            prop_assert_eq!(r.unused_total_yen().get(), total);
            if total <= THRESHOLD_YEN.get() {
                prop_assert_eq!(r.required_deposit_yen().get(), 0);
            } else {
                prop_assert!(2 * r.required_deposit_yen().get() >= total);
                prop_assert!(2 * (r.required_deposit_yen().get() - 1) < total);
            }
        }
    }
}
