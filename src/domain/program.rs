//! Programs a city runs: a digital currency, a point card, or both, and their settings.

use serde::{Deserialize, Serialize};

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

/// Rules of a program. Every field has a default that matches a typical running scheme, so
/// a program can be created with `{}` and tuned later.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields, default)]
pub struct ProgramSettings {
    /// Most a shopper may hold of coin plus premium, in yen (¥100,000 is typical).
    pub holding_cap_yen: i64,
    /// Whether shoppers may send coin to each other (個人間送金; さるぼぼコイン allows it).
    pub p2p_transfers: bool,
}

impl Default for ProgramSettings {
    fn default() -> Self {
        Self {
            holding_cap_yen: 100_000,
            p2p_transfers: false,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SettingsError {
    #[error("holding_cap_yen must be between 1 and 100000000")]
    HoldingCap,
}

impl ProgramSettings {
    pub fn validate(&self) -> Result<(), SettingsError> {
        if !(1..=100_000_000).contains(&self.holding_cap_yen) {
            return Err(SettingsError::HoldingCap);
        }
        Ok(())
    }
}
