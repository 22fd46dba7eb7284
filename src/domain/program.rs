//! Programs a city runs: a digital currency, a point card, or both, and their settings.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::expiry::ExpiryPolicy;
use super::ledger::Asset;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProgramKind {
    /// デジタル地域通貨: a prepaid instrument holding paid coin and city-funded premium.
    Currency,
    /// ポイントカード: free points earned and spent at member stores.
    Points,
}

impl ProgramKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Currency => "currency",
            Self::Points => "points",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "currency" => Some(Self::Currency),
            "points" => Some(Self::Points),
            _ => None,
        }
    }

    /// The assets a shopper of this program can hold. A currency program also carries
    /// points, because rebate campaigns pay out in points.
    pub fn assets(self) -> &'static [Asset] {
        match self {
            Self::Currency => &[Asset::Coin, Asset::Premium, Asset::Points],
            Self::Points => &[Asset::Points],
        }
    }
}

/// Which asset a currency payment draws on first. Within yen, the city-funded premium is
/// always spent before paid coin: it is the part the city wants spent in town and usually the
/// part that expires first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SpendOrder {
    PointsFirst,
    CoinFirst,
}

/// When stores are paid what they are owed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PayoutCycle {
    /// Closing on the 10th and the 25th, paid within five business days.
    TwiceMonthly,
    /// Each business day's takings paid the next business day.
    NextBusinessDay,
}

/// Who pays for the points a store issues on a point card.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PointsFunding {
    /// The store buys points in advance (a stock that can never go negative).
    PrepaidStock,
    /// The store is billed for the points it issued at settlement.
    Billed,
}

/// What a return does when the points to claw back were already spent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ClawbackShortfall {
    /// Refuse the return with `points_already_spent`; nothing moves.
    Refuse,
    /// Take what the card holds and record the rest as a shortfall.
    TakeRemaining,
}

/// Rules of a program. Every field has a default that matches a typical running scheme, so
/// a program can be created with `{}` and tuned later. Changes are versioned with an
/// effective date (see `program_settings_versions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProgramSettings {
    /// Most a shopper may hold of coin plus premium, in yen (¥100,000 is typical).
    pub holding_cap_yen: i64,
    /// Charges must be a multiple of this (¥1,000 is typical).
    pub charge_step_yen: i64,
    /// Smallest single charge.
    pub charge_min_yen: i64,
    /// Largest single charge.
    pub charge_max_yen: i64,
    /// When charged and granted yen expire.
    pub expiry: ExpiryPolicy,
    /// Points or coin first when a payment can draw on both.
    pub spend_order: SpendOrder,
    /// Fee on a store's cash-out (換金), as a fraction: "0.01" is 1 %. 0 to 0.1.
    #[schema(value_type = String, example = "0.01")]
    pub cashout_fee_rate: Decimal,
    pub payout_cycle: PayoutCycle,
    /// Days after a payment within which the store may refund it.
    pub refund_window_days: i64,
    /// Whether shoppers may send coin to each other (個人間送金; さるぼぼコイン allows it).
    pub p2p_transfers: bool,
    /// Point card: points earned per yen of purchase before tax ("0.01": 1 pt per ¥100).
    #[schema(value_type = String, example = "0.01")]
    pub earn_rate: Decimal,
    /// Point card: the yen value of one point when spent ("1": 1 pt = ¥1).
    #[schema(value_type = String, example = "1")]
    pub point_value_yen: Decimal,
    /// Point card: who pays for the points a store issues.
    pub points_funding: PointsFunding,
    /// Point card: what a return does when the earned points were already spent.
    pub clawback_shortfall: ClawbackShortfall,
}

impl Default for ProgramSettings {
    fn default() -> Self {
        Self {
            holding_cap_yen: 100_000,
            charge_step_yen: 1_000,
            charge_min_yen: 1_000,
            charge_max_yen: 50_000,
            expiry: ExpiryPolicy::Never,
            spend_order: SpendOrder::PointsFirst,
            cashout_fee_rate: Decimal::ZERO,
            payout_cycle: PayoutCycle::TwiceMonthly,
            refund_window_days: 30,
            p2p_transfers: false,
            earn_rate: Decimal::new(1, 2),
            point_value_yen: Decimal::ONE,
            points_funding: PointsFunding::Billed,
            clawback_shortfall: ClawbackShortfall::Refuse,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("holding_cap_yen must be between 1 and 100000000")]
    HoldingCap,
    #[error("charge_step_yen must be between 1 and 100000")]
    ChargeStep,
    #[error(
        "charge_min_yen and charge_max_yen must be positive multiples of charge_step_yen with min <= max <= holding_cap_yen"
    )]
    ChargeLimits,
    #[error("cashout_fee_rate must be between 0 and 0.1")]
    FeeRate,
    #[error("refund_window_days must be between 0 and 366")]
    RefundWindow,
    #[error("earn_rate must be between 0 and 1")]
    EarnRate,
    #[error("point_value_yen must be above 0 and at most 1000")]
    PointValue,
    #[error("expiry: {0}")]
    Expiry(String),
}

impl ProgramSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=100_000_000).contains(&self.holding_cap_yen) {
            return Err(SettingsError::HoldingCap);
        }
        if !(1..=100_000).contains(&self.charge_step_yen) {
            return Err(SettingsError::ChargeStep);
        }
        let step = self.charge_step_yen;
        let limits_ok = self.charge_min_yen > 0
            && self.charge_min_yen % step == 0
            && self.charge_max_yen % step == 0
            && self.charge_min_yen <= self.charge_max_yen
            && self.charge_max_yen <= self.holding_cap_yen;
        if !limits_ok {
            return Err(SettingsError::ChargeLimits);
        }
        if self.cashout_fee_rate < Decimal::ZERO || self.cashout_fee_rate > Decimal::new(1, 1) {
            return Err(SettingsError::FeeRate);
        }
        if !(0..=366).contains(&self.refund_window_days) {
            return Err(SettingsError::RefundWindow);
        }
        if self.earn_rate < Decimal::ZERO || self.earn_rate > Decimal::ONE {
            return Err(SettingsError::EarnRate);
        }
        if self.point_value_yen <= Decimal::ZERO || self.point_value_yen > Decimal::from(1_000) {
            return Err(SettingsError::PointValue);
        }
        self.expiry
            .validate()
            .map_err(|e| SettingsError::Expiry(e.to_string()))
    }

    /// Whether `amount` is a chargeable amount under these settings.
    pub fn check_charge(&self, amount: i64) -> Result<(), String> {
        if amount < self.charge_min_yen || amount > self.charge_max_yen {
            return Err(format!(
                "a charge must be between ¥{} and ¥{}",
                self.charge_min_yen, self.charge_max_yen
            ));
        }
        if amount % self.charge_step_yen != 0 {
            return Err(format!(
                "a charge must be a multiple of ¥{}",
                self.charge_step_yen
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid_and_limits_are_checked() {
        let s = ProgramSettings::default();
        assert_eq!(s.validate(), Ok(()));
        assert!(s.check_charge(3_000).is_ok());
        assert!(s.check_charge(3_500).is_err());
        assert!(s.check_charge(51_000).is_err());
        let bad = ProgramSettings {
            charge_min_yen: 1_500,
            ..ProgramSettings::default()
        };
        assert_eq!(bad.validate(), Err(SettingsError::ChargeLimits));
        let fee = ProgramSettings {
            cashout_fee_rate: Decimal::new(2, 1),
            ..ProgramSettings::default()
        };
        assert_eq!(fee.validate(), Err(SettingsError::FeeRate));
    }

    #[test]
    fn point_card_settings_default_and_are_checked() {
        let s: ProgramSettings = serde_json::from_str("{}").expect("defaults");
        assert_eq!(s.earn_rate, Decimal::new(1, 2));
        assert_eq!(s.point_value_yen, Decimal::ONE);
        assert_eq!(s.points_funding, PointsFunding::Billed);
        assert_eq!(s.clawback_shortfall, ClawbackShortfall::Refuse);
        let rate = ProgramSettings {
            earn_rate: Decimal::new(11, 1),
            ..ProgramSettings::default()
        };
        assert_eq!(rate.validate(), Err(SettingsError::EarnRate));
        let value = ProgramSettings {
            point_value_yen: Decimal::ZERO,
            ..ProgramSettings::default()
        };
        assert_eq!(value.validate(), Err(SettingsError::PointValue));
    }
}
