//! Whole-yen and whole-point amounts, with checked arithmetic and one rounding rule.
//!
//! Yen and points are different units: [`Yen`] and [`Points`] never add to each other, and
//! the one way from points to yen is [`Points::value_at`] a program's [`PointValue`]
//! (rounded down, as every conversion is: [`apply_rate_round_down`]). A currency program's
//! points are worth ¥1 each (its settings refuse another value, `program::ProgramSettings`);
//! a point card's are worth its `point_value_yen`.

use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde::{Deserialize, Serialize};

/// The largest amount a single movement may carry: ¥1,000,000,000,000 (10^12). Far above any
/// real payment, far below i64 overflow even when thousands are summed.
pub const AMOUNT_MAX: i64 = 1_000_000_000_000;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AmountError {
    #[error("amount must be greater than zero")]
    NotPositive,
    #[error("amount must be at most {AMOUNT_MAX}")]
    TooLarge,
    #[error("amount arithmetic overflowed")]
    Overflow,
}

/// A strictly positive amount of one asset (yen of coin or premium, or points), validated
/// once at the edge. Postings carry signed `i64`; requests carry `Amount`.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Hash,
    Serialize,
    Deserialize,
    utoipa::ToSchema,
)]
#[serde(try_from = "i64", into = "i64")]
#[schema(value_type = i64, minimum = 1, maximum = 1_000_000_000_000_i64)]
pub struct Amount(i64);

impl Amount {
    pub fn new(value: i64) -> Result<Self, AmountError> {
        if value <= 0 {
            Err(AmountError::NotPositive)
        } else if value > AMOUNT_MAX {
            Err(AmountError::TooLarge)
        } else {
            Ok(Self(value))
        }
    }

    pub fn get(self) -> i64 {
        self.0
    }
}

impl TryFrom<i64> for Amount {
    type Error = AmountError;
    fn try_from(value: i64) -> Result<Self, Self::Error> {
        Self::new(value)
    }
}

impl From<Amount> for i64 {
    fn from(a: Amount) -> i64 {
        a.0
    }
}

/// The one rounding rule of the field: conversions (rates, rebates, fees, earn rates) round
/// down to the whole unit, so the program never gives away a fraction it does not have.
pub fn apply_rate_round_down(amount: i64, rate: Decimal) -> Result<i64, AmountError> {
    let product = Decimal::from(amount)
        .checked_mul(rate)
        .ok_or(AmountError::Overflow)?;
    product.floor().to_i64().ok_or(AmountError::Overflow)
}

/// A rate applied to an amount: a fee rate, an earn rate, a rebate rate ("0.01" is 1 %).
/// Applying it rounds down ([`apply_rate_round_down`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Rate(Decimal);

impl Rate {
    pub const ZERO: Self = Self(Decimal::ZERO);

    pub const fn new(rate: Decimal) -> Self {
        Self(rate)
    }

    pub fn get(self) -> Decimal {
        self.0
    }

    /// The rate's share of `yen`, rounded down.
    pub fn of_yen(self, yen: Yen) -> Result<Yen, AmountError> {
        apply_rate_round_down(yen.get(), self.0).map(Yen::new)
    }

    /// Points earned on `yen` at this earn or rebate rate (points per yen), rounded down.
    pub fn points_on(self, yen: Yen) -> Result<Points, AmountError> {
        apply_rate_round_down(yen.get(), self.0).map(Points::new)
    }
}

/// What one point is worth in yen (`point_value_yen`): above 0, at most ¥1,000. Always ¥1 in
/// a currency program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PointValue(Decimal);

impl PointValue {
    /// 1 pt = ¥1: a currency program's points, and the default of a point card.
    pub const ONE_YEN: Self = Self(Decimal::ONE);

    pub const fn new(yen_per_point: Decimal) -> Self {
        Self(yen_per_point)
    }

    /// Yen per point.
    pub fn get(self) -> Decimal {
        self.0
    }

    /// The fewest whole points worth at least `yen` at this value (rounded up: a bill is
    /// never covered by a fraction of a point). The way back of [`Points::value_at`]; at
    /// [`PointValue::ONE_YEN`] it is exact: ¥n takes n points. A value of zero or below
    /// (never valid in settings) is an overflow.
    pub fn points_covering(self, yen: Yen) -> Result<Points, AmountError> {
        if self.0 <= Decimal::ZERO {
            return Err(AmountError::Overflow);
        }
        let exact = Decimal::from(yen.get())
            .checked_div(self.0)
            .ok_or(AmountError::Overflow)?;
        exact
            .ceil()
            .to_i64()
            .map(Points::new)
            .ok_or(AmountError::Overflow)
    }
}

macro_rules! whole_units {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(
            Debug, Clone, Copy, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize,
            Deserialize, utoipa::ToSchema,
        )]
        #[serde(transparent)]
        #[schema(value_type = i64)]
        pub struct $name(i64);

        impl $name {
            pub const ZERO: Self = Self(0);

            pub const fn new(value: i64) -> Self {
                Self(value)
            }

            pub const fn get(self) -> i64 {
                self.0
            }

            pub fn checked_add(self, other: Self) -> Result<Self, AmountError> {
                self.0.checked_add(other.0).map(Self).ok_or(AmountError::Overflow)
            }

            pub fn checked_sub(self, other: Self) -> Result<Self, AmountError> {
                self.0.checked_sub(other.0).map(Self).ok_or(AmountError::Overflow)
            }

            pub fn checked_neg(self) -> Result<Self, AmountError> {
                self.0.checked_neg().map(Self).ok_or(AmountError::Overflow)
            }

            /// The larger of this and zero.
            pub fn at_least_zero(self) -> Self {
                Self(self.0.max(0))
            }

            /// Checked sum.
            pub fn sum(values: impl IntoIterator<Item = Self>) -> Result<Self, AmountError> {
                values.into_iter().try_fold(Self::ZERO, Self::checked_add)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    };
}

whole_units!(
    /// Whole yen, signed (a net, a refund as a negative movement). Serialised as a number.
    Yen
);
whole_units!(
    /// Whole points, signed. Serialised as a number. Worth yen only through
    /// [`Points::value_at`].
    Points
);

impl Points {
    /// The one conversion from points to yen: at `value` yen per point, rounded down.
    pub fn value_at(self, value: PointValue) -> Result<Yen, AmountError> {
        apply_rate_round_down(self.0, value.0).map(Yen)
    }
}

/// Points a grant (a rebate, a point card earn) keeps once `refunded` of the `paid` it was
/// earned on has been given back: the advertised `rate` on what was finally paid, rounded
/// down, and never more than was granted (a capped grant keeps its cap). Claw-backs take
/// `granted − kept`, cumulatively over every refund, so the shopper is never left below the
/// rate on the net: ¥999 at 20 % earns 199; after ¥333 back it keeps floor(0.2 × 666) = 133.
/// When the rate is not on record (grants from before it was kept), the proportional share
/// rounded up stands in, `granted − floor(granted × refunded / paid)`, which is never below
/// `floor(rate × net)` either.
pub fn points_kept(
    granted: i64,
    rate: Option<Decimal>,
    paid: i64,
    refunded: i64,
) -> Result<i64, AmountError> {
    let net = (paid - refunded.min(paid)).max(0);
    if net == 0 || granted <= 0 || paid <= 0 {
        return Ok(0);
    }
    let kept = match rate {
        Some(rate) => apply_rate_round_down(net, rate)?,
        None => {
            let taken = i128::from(granted) * i128::from(paid - net) / i128::from(paid);
            granted - i64::try_from(taken).map_err(|_| AmountError::Overflow)?
        }
    };
    Ok(kept.clamp(0, granted))
}

/// Checked sum of signed amounts; overflow is a programmer error surfaced as a Result.
pub fn checked_sum(values: impl IntoIterator<Item = i64>) -> Result<i64, AmountError> {
    values.into_iter().try_fold(0i64, |acc, v| {
        acc.checked_add(v).ok_or(AmountError::Overflow)
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::str::FromStr;

    #[test]
    fn amount_bounds() {
        assert_eq!(Amount::new(0), Err(AmountError::NotPositive));
        assert_eq!(Amount::new(-5), Err(AmountError::NotPositive));
        assert_eq!(Amount::new(AMOUNT_MAX + 1), Err(AmountError::TooLarge));
        assert_eq!(Amount::new(1).map(Amount::get), Ok(1));
    }

    #[test]
    fn rates_round_down() {
        let r = Decimal::from_str("0.2").expect("literal");
        assert_eq!(apply_rate_round_down(999, r), Ok(199));
        let one_pct = Decimal::from_str("0.01").expect("literal");
        assert_eq!(apply_rate_round_down(199, one_pct), Ok(1));
        assert_eq!(apply_rate_round_down(99, one_pct), Ok(0));
    }

    #[test]
    fn claw_backs_leave_the_rate_on_the_net() {
        let r = Decimal::from_str("0.2").expect("literal");
        // The case: 199 on ¥999, ¥333 back: keep 133 (claw 66), never 132.
        assert_eq!(points_kept(199, Some(r), 999, 333), Ok(133));
        assert_eq!(points_kept(199, None, 999, 333), Ok(133));
        // A grant held down by the cap keeps it while the net still earns as much.
        assert_eq!(points_kept(96, Some(r), 1_000, 500), Ok(96));
        assert_eq!(points_kept(96, Some(r), 1_000, 800), Ok(40));
        // Everything back: nothing kept; more than paid is treated as everything.
        assert_eq!(points_kept(200, Some(r), 1_000, 1_000), Ok(0));
        assert_eq!(points_kept(200, None, 1_000, 5_000), Ok(0));
        // The fallback never drops below floor(rate × net), whatever the refund.
        for paid in 1..=300i64 {
            let granted = apply_rate_round_down(paid, r).expect("small");
            for refunded in 0..=paid {
                let floor = apply_rate_round_down(paid - refunded, r).expect("small");
                let kept = points_kept(granted, None, paid, refunded).expect("small");
                assert!(kept >= floor && kept <= granted, "{paid} {refunded}");
                assert_eq!(points_kept(granted, Some(r), paid, refunded), Ok(floor));
            }
        }
    }

    #[test]
    fn points_become_yen_only_at_a_point_value_rounded_down() {
        let half = PointValue::new(Decimal::from_str("0.5").expect("literal"));
        assert_eq!(Points::new(301).value_at(half), Ok(Yen::new(150)));
        assert_eq!(
            Points::new(7).value_at(PointValue::ONE_YEN),
            Ok(Yen::new(7))
        );
        assert_eq!(
            Yen::new(i64::MAX).checked_add(Yen::new(1)),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Points::sum([Points::new(5), Points::new(-3)]),
            Ok(Points::new(2))
        );
        let fee = Rate::new(Decimal::from_str("0.015").expect("literal"));
        assert_eq!(fee.of_yen(Yen::new(10_000)), Ok(Yen::new(150)));
        assert_eq!(serde_json::to_string(&Yen::new(12)).expect("json"), "12");
    }

    #[test]
    fn checked_arithmetic_never_wraps() {
        assert_eq!(
            Yen::new(i64::MIN).checked_sub(Yen::new(1)),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Points::new(i64::MIN).checked_neg(),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Points::new(i64::MAX).checked_add(Points::new(1)),
            Err(AmountError::Overflow)
        );
        assert_eq!(
            Yen::sum([Yen::new(i64::MAX), Yen::new(1)]),
            Err(AmountError::Overflow)
        );
        assert_eq!(Yen::new(5).checked_sub(Yen::new(8)), Ok(Yen::new(-3)));
        assert_eq!(Yen::new(-3).at_least_zero(), Yen::ZERO);
        assert_eq!(
            Points::new(i64::MAX).value_at(PointValue::new(Decimal::from(2))),
            Err(AmountError::Overflow)
        );
    }

    #[test]
    fn points_covering_a_bill_round_up_and_invert_value_at() {
        let half = PointValue::new(Decimal::from_str("0.5").expect("literal"));
        let three = PointValue::new(Decimal::from(3));
        // At ¥1 a point (a currency program's), ¥n takes exactly n points.
        assert_eq!(
            PointValue::ONE_YEN.points_covering(Yen::new(777)),
            Ok(Points::new(777))
        );
        assert_eq!(half.points_covering(Yen::new(5)), Ok(Points::new(10)));
        // ¥10 at ¥3 a point: 3 points cover ¥9, so 4 are needed.
        assert_eq!(three.points_covering(Yen::new(10)), Ok(Points::new(4)));
        for yen in 0..200i64 {
            for value in [PointValue::ONE_YEN, half, three] {
                let points = value.points_covering(Yen::new(yen)).expect("small");
                let worth = points.value_at(value).expect("small");
                assert!(worth >= Yen::new(yen), "{yen}");
                let one_less = Points::new(points.get() - 1)
                    .value_at(value)
                    .expect("small");
                assert!(points == Points::ZERO || one_less < Yen::new(yen), "{yen}");
            }
        }
        assert_eq!(
            PointValue::new(Decimal::ZERO).points_covering(Yen::new(1)),
            Err(AmountError::Overflow)
        );
        let rebate = Rate::new(Decimal::from_str("0.05").expect("literal"));
        assert_eq!(rebate.points_on(Yen::new(999)), Ok(Points::new(49)));
    }

    #[test]
    fn sum_overflow_is_an_error() {
        assert_eq!(checked_sum([i64::MAX, 1]), Err(AmountError::Overflow));
        assert_eq!(checked_sum([5, -3]), Ok(2));
    }
}
