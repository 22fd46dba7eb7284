//! The double-entry shape: assets, account kinds, and `Entry`, a set of legs that is
//! balanced per asset by construction. Storage writes only entries built here.

pub mod kinds;

use serde::{Deserialize, Serialize};

use super::ids::AccountId;
use super::money::{AMOUNT_MAX, checked_sum};

/// What a posting moves. Paid coin, city-funded premium and points are different assets and
/// never net against each other.
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
#[serde(rename_all = "snake_case")]
pub enum Asset {
    /// Yen the shopper paid in (prepaid-instrument balance).
    Coin,
    /// Yen the city added on top (プレミアム分), tracked apart for the city's reconciliation.
    Premium,
    /// Free points (point card, rebates); 1 pt is spent as ¥1.
    Points,
}

impl Asset {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Coin => "coin",
            Self::Premium => "premium",
            Self::Points => "points",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "coin" => Some(Self::Coin),
            "premium" => Some(Self::Premium),
            "points" => Some(Self::Points),
            _ => None,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AccountKind {
    /// A shopper's holding of one asset. Never negative.
    ShopperWallet,
    /// What the program owes a store (payments received, points accepted), paid out by transfer.
    Merchant,
    /// Points a store has bought in advance to hand out (point card).
    MerchantPointStock,
    /// The issuer's side of every charge: coin in circulation is the negative of this.
    IssuerFloat,
    /// The city's side of every premium and rebate it funds.
    CitySubsidy,
    /// Fees the operator earns (cash-out fees).
    FeeIncome,
    /// Balances that expired unused (失効).
    Breakage,
    /// The program's side of points issued (points liability).
    PointsIssuance,
}

impl AccountKind {
    pub const ALL: [AccountKind; 8] = [
        Self::ShopperWallet,
        Self::Merchant,
        Self::MerchantPointStock,
        Self::IssuerFloat,
        Self::CitySubsidy,
        Self::FeeIncome,
        Self::Breakage,
        Self::PointsIssuance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::ShopperWallet => "shopper_wallet",
            Self::Merchant => "merchant",
            Self::MerchantPointStock => "merchant_point_stock",
            Self::IssuerFloat => "issuer_float",
            Self::CitySubsidy => "city_subsidy",
            Self::FeeIncome => "fee_income",
            Self::Breakage => "breakage",
            Self::PointsIssuance => "points_issuance",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// Owned kinds belong to one shopper or merchant; the rest are one per program and asset.
    pub fn is_owned(self) -> bool {
        matches!(
            self,
            Self::ShopperWallet | Self::Merchant | Self::MerchantPointStock
        )
    }

    /// Whether the balance may go below zero. Only the program's own books may: they hold
    /// the other side of what shoppers and stores are owed. A merchant's account may go
    /// negative when a refund exceeds what it is owed; settlement nets it.
    pub fn allows_negative(self) -> bool {
        !matches!(self, Self::ShopperWallet | Self::MerchantPointStock)
    }
}

/// One side of an entry: `amount` is signed (credit to the account is positive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Leg {
    pub account: AccountId,
    pub asset: Asset,
    pub amount: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EntryError {
    #[error("an entry needs at least two legs")]
    TooFewLegs,
    #[error("a leg may not be zero")]
    ZeroLeg,
    #[error("a leg is larger than the amount limit")]
    TooLarge,
    #[error("legs of asset {0:?} do not sum to zero")]
    Unbalanced(Asset),
}

/// A balanced set of legs. The only way to get one is `Entry::new`, which checks that every
/// asset nets to zero, so storage cannot be handed an unbalanced transaction. (PostgreSQL
/// re-checks at commit with a deferred trigger; SQLite has no deferred triggers, so this
/// type is its guard.)
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    legs: Vec<Leg>,
}

impl Entry {
    pub fn new(legs: Vec<Leg>) -> Result<Self, EntryError> {
        if legs.len() < 2 {
            return Err(EntryError::TooFewLegs);
        }
        for leg in &legs {
            if leg.amount == 0 {
                return Err(EntryError::ZeroLeg);
            }
            if leg.amount.unsigned_abs() > AMOUNT_MAX as u64 {
                return Err(EntryError::TooLarge);
            }
        }
        for asset in [Asset::Coin, Asset::Premium, Asset::Points] {
            let sum = checked_sum(legs.iter().filter(|l| l.asset == asset).map(|l| l.amount))
                .map_err(|_| EntryError::Unbalanced(asset))?;
            if sum != 0 {
                return Err(EntryError::Unbalanced(asset));
            }
        }
        Ok(Self { legs })
    }

    /// A two-legged move of `amount` of `asset` from one account to another.
    pub fn transfer(
        from: AccountId,
        to: AccountId,
        asset: Asset,
        amount: i64,
    ) -> Result<Self, EntryError> {
        Self::new(vec![
            Leg {
                account: from,
                asset,
                amount: -amount,
            },
            Leg {
                account: to,
                asset,
                amount,
            },
        ])
    }

    /// The exact opposite of this entry: what a reversal posts.
    pub fn reversed(&self) -> Self {
        Self {
            legs: self
                .legs
                .iter()
                .map(|l| Leg {
                    amount: -l.amount,
                    ..*l
                })
                .collect(),
        }
    }

    pub fn legs(&self) -> &[Leg] {
        &self.legs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn acct() -> AccountId {
        AccountId::new()
    }

    #[test]
    fn balanced_entries_are_accepted_and_reverse_exactly() {
        let (a, b) = (acct(), acct());
        let e = Entry::transfer(a, b, Asset::Coin, 500).expect("balanced");
        let r = e.reversed();
        assert_eq!(r.legs()[0].amount, 500);
        assert_eq!(r.legs()[1].amount, -500);
    }

    #[test]
    fn unbalanced_entries_are_refused() {
        let (a, b) = (acct(), acct());
        let legs = vec![
            Leg {
                account: a,
                asset: Asset::Coin,
                amount: -5,
            },
            Leg {
                account: b,
                asset: Asset::Premium,
                amount: 5,
            },
        ];
        assert_eq!(Entry::new(legs), Err(EntryError::Unbalanced(Asset::Coin)));
        assert_eq!(
            Entry::new(vec![Leg {
                account: a,
                asset: Asset::Coin,
                amount: 1
            }]),
            Err(EntryError::TooFewLegs)
        );
        assert_eq!(
            Entry::transfer(a, b, Asset::Coin, 0),
            Err(EntryError::ZeroLeg)
        );
        assert_eq!(
            Entry::transfer(a, b, Asset::Coin, AMOUNT_MAX + 1),
            Err(EntryError::TooLarge)
        );
    }
}
