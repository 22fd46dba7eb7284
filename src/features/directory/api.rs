//! What the directory's routes take and answer: requests, and the cities, staff, programs,
//! merchants, devices, shoppers and tokens as the API shows them (made from the rows of
//! `store` with `From`; rows never reach the API themselves).

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::features::directory::store;
use machipay_domain::auth::{Role, StaffKind};
use machipay_domain::ids::*;
use machipay_domain::program::{ProgramKind, ProgramSettings};

/// Which kind of principal a token stands for (a merchant owner's id is its merchant's id).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PrincipalKind {
    Staff,
    MerchantOwner,
    Device,
    Shopper,
}

impl From<PrincipalKind> for store::PrincipalKind {
    fn from(kind: PrincipalKind) -> Self {
        match kind {
            PrincipalKind::Staff => Self::Staff,
            PrincipalKind::MerchantOwner => Self::MerchantOwner,
            PrincipalKind::Device => Self::Device,
            PrincipalKind::Shopper => Self::Shopper,
        }
    }
}

impl From<store::PrincipalKind> for PrincipalKind {
    fn from(kind: store::PrincipalKind) -> Self {
        match kind {
            store::PrincipalKind::Staff => Self::Staff,
            store::PrincipalKind::MerchantOwner => Self::MerchantOwner,
            store::PrincipalKind::Device => Self::Device,
            store::PrincipalKind::Shopper => Self::Shopper,
        }
    }
}

/// A city, as `machipay bootstrap-city` prints it and `GET /api/v1/cities` lists it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct City {
    pub id: CityId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<store::City> for City {
    fn from(row: store::City) -> Self {
        Self {
            id: row.id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Staff {
    pub id: StaffId,
    pub city_id: CityId,
    pub kind: StaffKind,
    pub role: Role,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<store::Staff> for Staff {
    fn from(row: store::Staff) -> Self {
        Self {
            id: row.id,
            city_id: row.city_id,
            kind: row.kind,
            role: row.role,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Merchant {
    pub id: MerchantId,
    pub city_id: CityId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<store::Merchant> for Merchant {
    fn from(row: store::Merchant) -> Self {
        Self {
            id: row.id,
            city_id: row.city_id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Device {
    pub id: DeviceId,
    pub merchant_id: MerchantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
}

impl From<store::Device> for Device {
    fn from(row: store::Device) -> Self {
        Self {
            id: row.id,
            merchant_id: row.merchant_id,
            name: row.name,
            created_at: row.created_at,
        }
    }
}

/// A store's till as its owner sees it: working, or revoked since `revoked_at`.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DeviceStatus {
    pub id: DeviceId,
    pub merchant_id: MerchantId,
    pub name: String,
    pub created_at: DateTime<Utc>,
    /// When the owner revoked it; absent while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<store::DeviceRow> for DeviceStatus {
    fn from(row: store::DeviceRow) -> Self {
        Self {
            id: row.id,
            merchant_id: row.merchant_id,
            name: row.name,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// Whether a shopper may use the app and their money: `blocked` while staff keep them
/// blocked (no sign-in, no token, no payment, charge, transfer, earn or spend).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ShopperStatus {
    Active,
    Blocked,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Shopper {
    pub id: ShopperId,
    pub city_id: CityId,
    pub display_name: String,
    pub created_at: DateTime<Utc>,
    pub status: ShopperStatus,
    /// While blocked: since when, why, and the staff member who blocked.
    pub blocked_at: Option<DateTime<Utc>>,
    pub blocked_reason: Option<String>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub blocked_by: Option<uuid::Uuid>,
}

impl From<store::Shopper> for Shopper {
    fn from(row: store::Shopper) -> Self {
        let status = if row.blocked_at.is_some() {
            ShopperStatus::Blocked
        } else {
            ShopperStatus::Active
        };
        Self {
            id: row.id,
            city_id: row.city_id,
            display_name: row.display_name,
            created_at: row.created_at,
            status,
            blocked_at: row.blocked_at,
            blocked_reason: row.blocked_reason,
            blocked_by: row.blocked_by,
        }
    }
}

/// Why staff block or unblock a shopper (1 to 200 characters; kept in the audit log).
#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopperBlockRequest {
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Program {
    pub id: ProgramId,
    pub city_id: CityId,
    pub kind: ProgramKind,
    pub name: String,
    pub settings: ProgramSettings,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<store::ProgramRow> for Program {
    type Error = AppError;
    fn try_from(row: store::ProgramRow) -> Result<Self, AppError> {
        Ok(Program {
            id: row.id,
            city_id: row.city_id,
            kind: row.kind,
            name: row.name,
            settings: serde_json::from_str(&row.settings)
                .map_err(|e| AppError::Internal(e.to_string()))?,
            created_at: row.created_at,
        })
    }
}

/// A token as staff see it: never its secret or hash.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TokenInfo {
    pub id: TokenId,
    pub created_at: DateTime<Utc>,
    /// When it stopped working; absent while it works.
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<store::TokenInfo> for TokenInfo {
    fn from(row: store::TokenInfo) -> Self {
        Self {
            id: row.id,
            created_at: row.created_at,
            revoked_at: row.revoked_at,
        }
    }
}

/// A freshly minted bearer token: its id (to list and revoke it) and its secret, shown once.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    pub token_id: TokenId,
    /// The bearer token itself. Shown here once and never again.
    pub token: String,
}

impl NewToken {
    /// The answer of a route that made a principal and its first token.
    pub fn with<T>(self, item: T) -> Issued<T> {
        Issued {
            item,
            token_id: self.token_id,
            token: self.token,
        }
    }
}

/// A new principal and its bearer token. The token is shown here once and never again.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Issued<T> {
    #[serde(flatten)]
    pub item: T,
    /// The token's id (to list and revoke it; `GET /api/v1/me` answers it too).
    pub token_id: TokenId,
    pub token: String,
}

/// What revoking a token answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokedToken {
    /// The token that no longer works.
    pub revoked: TokenId,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct EnrollmentCode {
    /// Type this into the terminal once; it works once, for 15 minutes.
    pub code: String,
    pub expires_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStaffRequest {
    pub name: String,
    pub kind: StaffKind,
    pub role: Role,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewProgramRequest {
    pub kind: ProgramKind,
    pub name: String,
    #[serde(default)]
    pub settings: ProgramSettings,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewMerchantRequest {
    pub name: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewEnrollmentCodeRequest {
    /// What the terminal will be called (e.g. "レジ1").
    pub device_name: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    pub code: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewShopperRequest {
    pub display_name: String,
}
