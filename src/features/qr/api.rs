//! What the QR routes take and answer, as the OpenAPI document shows it: requests, the
//! answers (`From` the rows in `store.rs`, which the API never shows as they are) and the
//! image formats.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::features::qr::store;
use machipay_domain::ids::*;
use machipay_domain::money::Amount;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewStoreCodeRequest {
    pub program_id: ProgramId,
}

/// A store's static code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StoreCode {
    pub id: StoreCodeId,
    /// The opaque id inside the payload.
    pub code_id: String,
    pub merchant_id: MerchantId,
    pub program_id: ProgramId,
    /// The JPQR text the QR image encodes.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

impl From<store::StoreCode> for StoreCode {
    fn from(c: store::StoreCode) -> Self {
        Self {
            id: c.id,
            code_id: c.code_id,
            merchant_id: c.merchant_id,
            program_id: c.program_id,
            payload: c.payload,
            created_at: c.created_at,
            revoked_at: c.revoked_at,
        }
    }
}

/// A revoked store code.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RevokedStoreCode {
    pub revoked: StoreCodeId,
}

/// Image formats of a store code.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ImageFormat {
    Png,
    Svg,
    /// A printable A4 poster with the store's name.
    Poster,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPaymentRequest {
    pub program_id: ProgramId,
    pub amount: Amount,
    /// The till's own reference for the sale (≤ 64 characters).
    pub order_reference: Option<String>,
}

/// A cashier's request for an amount: a single-use dynamic code, and whether it was paid.
// Shown under the schema name the document has always used.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PaymentRequestRow)]
pub struct PaymentRequest {
    pub id: PaymentRequestId,
    pub code_id: String,
    pub merchant_id: MerchantId,
    /// The till that asked; none when the store's owner did.
    pub device_id: Option<DeviceId>,
    pub program_id: ProgramId,
    pub amount: i64,
    pub order_reference: Option<String>,
    pub payload: String,
    pub expires_at: DateTime<Utc>,
    /// The payment that paid it, once paid.
    pub paid_transaction_id: Option<TransactionId>,
    pub created_at: DateTime<Utc>,
}

impl From<store::PaymentRequestRow> for PaymentRequest {
    fn from(r: store::PaymentRequestRow) -> Self {
        Self {
            id: r.id,
            code_id: r.code_id,
            merchant_id: r.merchant_id,
            device_id: r.device_id.map(DeviceId),
            program_id: r.program_id,
            amount: r.amount,
            order_reference: r.order_reference,
            payload: r.payload,
            expires_at: r.expires_at,
            paid_transaction_id: r.paid_transaction_id.map(TransactionId),
            created_at: r.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShopperCode {
    /// Show this as a QR code or barcode; it works once, for a minute.
    pub code: String,
    pub program_id: ProgramId,
    pub expires_at: DateTime<Utc>,
    /// The code as an SVG QR image, for the shopper's app to show.
    pub qr_svg: String,
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ResolveRequest {
    /// The scanned text.
    pub payload: String,
}

/// What a scanned code means, as the server knows it.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ResolvedCode {
    /// "static" (the shopper types the amount) or "dynamic" (the amount is set).
    pub kind: String,
    pub merchant_id: MerchantId,
    /// The store's registered name: show this, not what the sticker says.
    pub merchant_name: String,
    pub program_id: ProgramId,
    pub amount: Option<i64>,
    pub payment_request_id: Option<PaymentRequestId>,
    pub expires_at: Option<DateTime<Utc>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CodePaymentRequest {
    /// The scanned text.
    pub payload: String,
    /// Required for a store's static code; for a dynamic code, omit it or repeat the
    /// requested amount.
    pub amount: Option<Amount>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShopperCodePaymentRequest {
    /// The code the shopper's app shows.
    pub code: String,
    pub amount: Amount,
}

/// What the till sees of a payment it took by a shopper's code: the movement, without the
/// shopper's balances.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ShopperCodePayment {
    pub transaction_id: TransactionId,
    /// Always "payment".
    pub kind: String,
    pub program_id: ProgramId,
    /// Total yen moved.
    pub amount: i64,
    pub created_at: DateTime<Utc>,
}
