//! Programs a city runs: a digital currency, a point card, or both, and their settings.

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use super::expiry::ExpiryPolicy;
use super::ledger::Asset;
use super::money::{PointValue, Rate};
use super::settlement::ClosingDays;

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
    /// Kept for compatibility: `closing_days`, when given, wins. TwiceMonthly closes on the
    /// 10th and 25th, NextBusinessDay every day.
    pub payout_cycle: PayoutCycle,
    /// Days of the month that close a settlement cycle (e.g. `[10, 25]`; 31 is the month's
    /// last day); `[]` closes every day. Absent: as `payout_cycle` says.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub closing_days: Option<Vec<u32>>,
    /// A store that joined the program within this many days before a closing date has its
    /// payout held to a later run (new stores are where QR fraud shows up first).
    pub payout_hold_days: i64,
    /// What one point is worth in yen when stores are reimbursed or charged for points
    /// ("1" is 1 pt = ¥1). Conversions round down (`money::Points::value_at`).
    ///
    /// The rule: a point card values its points at this everywhere (the till, settlement,
    /// reports). A currency program's points are spent 1:1 with yen at stores, so a currency
    /// program must leave this at "1": another value is refused with 422
    /// `point_value_fixed` ([`ProgramSettings::fits_kind`]).
    #[schema(value_type = String, example = "1")]
    pub point_value_yen: Decimal,
    /// The operator's side of the 全銀 総合振込 file (依頼人). Settlement files need it.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub payout_sender: Option<PayoutSender>,
    /// Days after a payment within which the store may refund it.
    pub refund_window_days: i64,
    /// Whether shoppers may send coin to each other (個人間送金; さるぼぼコイン allows it).
    pub p2p_transfers: bool,
    /// Point card: points earned per yen of purchase before tax ("0.01": 1 pt per ¥100).
    #[schema(value_type = String, example = "0.01")]
    pub earn_rate: Decimal,
    /// Point card: who pays for the points a store issues.
    pub points_funding: PointsFunding,
    /// Point card: what a return does when the earned points were already spent.
    pub clawback_shortfall: ClawbackShortfall,
    /// The city's name in ASCII for field 60 of the program's store codes (1 to 15 printable
    /// ASCII characters, e.g. "ITABASHI"). Absent: the city's name romanized if it is kana,
    /// else "JAPAN".
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merchant_city_ascii: Option<String>,
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
            closing_days: None,
            payout_hold_days: 0,
            point_value_yen: Decimal::ONE,
            payout_sender: None,
            refund_window_days: 30,
            p2p_transfers: false,
            earn_rate: Decimal::new(1, 2),
            points_funding: PointsFunding::Billed,
            clawback_shortfall: ClawbackShortfall::Refuse,
            merchant_city_ascii: None,
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
    /// A currency program's points are spent 1:1 with yen; their value is fixed at ¥1.
    #[error("a currency program's points are spent 1:1 with yen: point_value_yen must be 1")]
    PointValueFixed,
    #[error("expiry: {0}")]
    Expiry(String),
    #[error("closing_days must be days of the month 1 to 31 ([] for daily)")]
    ClosingDays,
    #[error("payout_hold_days must be between 0 and 366")]
    PayoutHold,
    #[error("payout_sender: {0}")]
    PayoutSender(String),
    #[error("merchant_city_ascii must be 1 to 15 printable ASCII characters")]
    MerchantCityAscii,
}

/// The operator's bank details for the 総合振込 header, as typed (kana converted).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PayoutSender {
    /// 依頼人コード: ten digits assigned by the operator's bank.
    pub code: String,
    pub name_kana: String,
    pub bank_code: String,
    pub bank_name_kana: String,
    pub branch_code: String,
    pub branch_name_kana: String,
    /// `ordinary` or `current`.
    pub account_type: String,
    pub account_number: String,
}

impl PayoutSender {
    /// The header's typed form; errors name the field.
    pub fn parse(&self) -> Result<super::zengin::Sender, String> {
        use super::zengin::{AccountNumber, BankCode, BranchCode, KanaText, SenderCode};
        let account_type =
            super::registry::parse_account_type(&self.account_type).map_err(|e| e.to_string())?;
        if account_type == super::zengin::AccountType::Savings {
            return Err("the sender's account must be ordinary or current".into());
        }
        let f = |field: &'static str| move |e: super::zengin::ZenginError| format!("{field}: {e}");
        Ok(super::zengin::Sender {
            code: SenderCode::new(&self.code).map_err(f("code"))?,
            name_kana: KanaText::new(&self.name_kana).map_err(f("name_kana"))?,
            bank_code: BankCode::new(&self.bank_code).map_err(f("bank_code"))?,
            bank_name_kana: KanaText::new(&self.bank_name_kana).map_err(f("bank_name_kana"))?,
            branch_code: BranchCode::new(&self.branch_code).map_err(f("branch_code"))?,
            branch_name_kana: KanaText::new(&self.branch_name_kana)
                .map_err(f("branch_name_kana"))?,
            account_type,
            account_number: AccountNumber::new(&self.account_number)
                .map_err(f("account_number"))?,
        })
    }
}

impl ProgramSettings {
    /// What the program's kind requires of settings [`ProgramSettings::validate`] accepts:
    /// a currency program's `point_value_yen` is 1 ([`SettingsError::PointValueFixed`]).
    pub fn fits_kind(&self, kind: ProgramKind) -> Result<(), SettingsError> {
        if kind == ProgramKind::Currency && self.point_value_yen != Decimal::ONE {
            return Err(SettingsError::PointValueFixed);
        }
        Ok(())
    }

    /// What one point of a program of `kind` is worth: ¥1 in a currency program (whatever
    /// older stored settings say), `point_value_yen` on a point card.
    pub fn point_value(&self, kind: ProgramKind) -> PointValue {
        match kind {
            ProgramKind::Currency => PointValue::ONE_YEN,
            ProgramKind::Points => PointValue::new(self.point_value_yen),
        }
    }

    /// The fee on a store's cash-out, as a rate.
    pub fn cashout_fee(&self) -> Rate {
        Rate::new(self.cashout_fee_rate)
    }

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
            .map_err(|e| SettingsError::Expiry(e.to_string()))?;
        if let Some(city) = &self.merchant_city_ascii
            && super::jpqr::MerchantCity::new(city).is_err()
        {
            return Err(SettingsError::MerchantCityAscii);
        }
        self.validate_settlement()
    }

    fn validate_settlement(&self) -> Result<(), SettingsError> {
        if self
            .closing_days
            .as_ref()
            .is_some_and(|d| d.len() > 31 || ClosingDays::new(d).is_none())
        {
            return Err(SettingsError::ClosingDays);
        }
        if !(0..=366).contains(&self.payout_hold_days) {
            return Err(SettingsError::PayoutHold);
        }
        if let Some(sender) = &self.payout_sender {
            sender.parse().map_err(SettingsError::PayoutSender)?;
        }
        Ok(())
    }

    /// The dates that close a settlement cycle under these settings.
    pub fn closing(&self) -> ClosingDays {
        let days = match (&self.closing_days, self.payout_cycle) {
            (Some(days), _) => days.clone(),
            (None, PayoutCycle::TwiceMonthly) => vec![10, 25],
            (None, PayoutCycle::NextBusinessDay) => vec![],
        };
        ClosingDays::new(&days).unwrap_or_else(|| ClosingDays::new(&[]).expect("empty is daily"))
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

    #[test]
    fn a_currency_programs_points_are_worth_one_yen() {
        let two = ProgramSettings {
            point_value_yen: Decimal::TWO,
            ..ProgramSettings::default()
        };
        assert_eq!(two.validate(), Ok(()));
        assert_eq!(
            two.fits_kind(ProgramKind::Currency),
            Err(SettingsError::PointValueFixed)
        );
        assert_eq!(two.fits_kind(ProgramKind::Points), Ok(()));
        assert_eq!(two.point_value(ProgramKind::Currency), PointValue::ONE_YEN);
        assert_eq!(
            two.point_value(ProgramKind::Points),
            PointValue::new(Decimal::TWO)
        );
        let one_point_zero = ProgramSettings {
            point_value_yen: Decimal::new(10, 1),
            ..ProgramSettings::default()
        };
        assert_eq!(one_point_zero.fits_kind(ProgramKind::Currency), Ok(()));
    }
}
