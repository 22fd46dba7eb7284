//! Who is calling: principals, staff roles, and bearer-token generation and hashing.
//! Tokens are random, shown once, and only their SHA-256 is ever stored.

use rand::RngCore;
use serde::Serialize;
use sha2::{Digest, Sha256};

use super::ids::{CityId, DeviceId, MerchantId, ShopperId, StaffId, TokenId};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum StaffKind {
    /// 市役所 staff: set up programs, read reports.
    City,
    /// Program operator staff (商工会 / 事務局): run merchants, shoppers, counter charges.
    Operator,
}

#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    PartialOrd,
    Ord,
    Serialize,
    serde::Deserialize,
    utoipa::ToSchema,
)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl StaffKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::City => "city",
            Self::Operator => "operator",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "city" => Some(Self::City),
            "operator" => Some(Self::Operator),
            _ => None,
        }
    }
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "viewer" => Some(Self::Viewer),
            "operator" => Some(Self::Operator),
            "admin" => Some(Self::Admin),
            _ => None,
        }
    }
}

/// An authenticated caller. Every principal belongs to exactly one city; nothing outside
/// that city is visible to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Principal {
    Staff {
        id: StaffId,
        city: CityId,
        kind: StaffKind,
        role: Role,
    },
    MerchantOwner {
        merchant: MerchantId,
        city: CityId,
    },
    Device {
        id: DeviceId,
        merchant: MerchantId,
        city: CityId,
    },
    Shopper {
        id: ShopperId,
        city: CityId,
    },
}

/// What a route requires. The table lives here so the whole access policy reads in one place.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Capability {
    /// Read anything in the city (reports, ledger checks, any merchant or shopper).
    ViewCity,
    /// Create programs and staff: city admins.
    AdministerCity,
    /// Run the program day to day (merchants, shoppers, counter charges, reversals):
    /// operator staff with role operator or admin, and city admins.
    OperateProgram,
}

impl Principal {
    pub fn city(&self) -> CityId {
        match *self {
            Self::Staff { city, .. }
            | Self::MerchantOwner { city, .. }
            | Self::Device { city, .. }
            | Self::Shopper { city, .. } => city,
        }
    }

    /// The account idempotency keys are scoped to: a shopper, a store (its owner and every
    /// one of its devices share one key space, so a till and the back office retrying the
    /// same refund make one refund), or a staff member. Two accounts never share a key space.
    pub fn idempotency_scope(&self) -> uuid::Uuid {
        match *self {
            Self::Device { merchant, .. } => merchant.0,
            _ => self.scope_id(),
        }
    }

    /// Who acted, as recorded beside what they did (a device is itself, not its store).
    pub fn scope_id(&self) -> uuid::Uuid {
        match *self {
            Self::Staff { id, .. } => id.0,
            Self::MerchantOwner { merchant, .. } => merchant.0,
            Self::Device { id, .. } => id.0,
            Self::Shopper { id, .. } => id.0,
        }
    }

    pub fn can(&self, cap: Capability) -> bool {
        let Self::Staff { kind, role, .. } = *self else {
            return false;
        };
        match cap {
            Capability::ViewCity => true,
            Capability::AdministerCity => kind == StaffKind::City && role == Role::Admin,
            Capability::OperateProgram => {
                (kind == StaffKind::Operator && role >= Role::Operator)
                    || (kind == StaffKind::City && role == Role::Admin)
            }
        }
    }

    /// Whether this caller acts for the given store: its owner or one of its devices.
    pub fn acts_for_merchant(&self, merchant: MerchantId) -> bool {
        match *self {
            Self::MerchantOwner { merchant: m, .. } | Self::Device { merchant: m, .. } => {
                m == merchant
            }
            _ => false,
        }
    }

    pub fn is_shopper(&self, shopper: ShopperId) -> bool {
        matches!(*self, Self::Shopper { id, .. } if id == shopper)
    }
}

/// A freshly minted secret (bearer token or enrollment code) and the hash that is stored.
#[derive(Debug, Clone)]
pub struct Secret {
    pub id: TokenId,
    /// Shown to the caller once; never stored, never logged.
    pub plaintext: String,
    pub hash: Vec<u8>,
}

/// A new bearer token: "mp_" + 256 random bits in hex.
pub fn new_token() -> Secret {
    new_secret("mp_", 32)
}

/// A new device enrollment code: shorter, because a person may type it into a terminal.
pub fn new_enrollment_code() -> Secret {
    new_secret("enr_", 12)
}

fn new_secret(prefix: &str, bytes: usize) -> Secret {
    let mut raw = vec![0u8; bytes];
    rand::rng().fill_bytes(&mut raw);
    let plaintext = format!("{prefix}{}", hex::encode(raw));
    let hash = hash_secret(&plaintext);
    Secret {
        id: TokenId::new(),
        plaintext,
        hash,
    }
}

pub fn hash_secret(plaintext: &str) -> Vec<u8> {
    Sha256::digest(plaintext.as_bytes()).to_vec()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_random_and_hash_deterministically() {
        let a = new_token();
        let b = new_token();
        assert_ne!(a.plaintext, b.plaintext);
        assert!(a.plaintext.starts_with("mp_") && a.plaintext.len() == 3 + 64);
        assert_eq!(hash_secret(&a.plaintext), a.hash);
    }

    #[test]
    fn capabilities_follow_the_policy() {
        let city = CityId::new();
        let staff = |kind, role| Principal::Staff {
            id: StaffId::new(),
            city,
            kind,
            role,
        };
        assert!(staff(StaffKind::City, Role::Admin).can(Capability::AdministerCity));
        assert!(!staff(StaffKind::Operator, Role::Admin).can(Capability::AdministerCity));
        assert!(staff(StaffKind::Operator, Role::Operator).can(Capability::OperateProgram));
        assert!(!staff(StaffKind::Operator, Role::Viewer).can(Capability::OperateProgram));
        assert!(!staff(StaffKind::City, Role::Operator).can(Capability::OperateProgram));
        let shopper = Principal::Shopper {
            id: ShopperId::new(),
            city,
        };
        assert!(!shopper.can(Capability::ViewCity));
    }
}
