//! What the point card's API shows: request and response types (with their OpenAPI schemas)
//! of the till, the cards, rates, campaigns and reports, and how storage rows become them.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::features::points::store::{CardRow, Movement, PointCampaignRow};
use machipay_domain::calendar::FiscalYear;
use machipay_domain::card::{CardNumber, ImportProblem};
use machipay_domain::ids::*;
use machipay_domain::money::{Amount, Yen};

// ---- The till ----

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EarnRequest {
    pub program_id: ProgramId,
    /// The 16 digits scanned or typed at the till.
    #[schema(value_type = String, example = "4111111111111111")]
    pub card_number: CardNumber,
    /// The purchase before tax, in yen.
    pub amount: Amount,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardMovementResponse {
    /// None when nothing moved (a purchase too small to earn a point).
    pub transaction_id: Option<TransactionId>,
    pub kind: String,
    pub card_id: CardId,
    pub points: i64,
    /// Points earned per yen, with any campaign multiplier applied (earning only).
    #[schema(value_type = Option<String>)]
    pub effective_rate: Option<Decimal>,
    /// Yen value of the points (spending and refunds).
    pub yen_value: Option<Yen>,
    /// Points the return could not take back because the card had spent them.
    pub shortfall_points: i64,
    /// The card's balance after the movement.
    pub balance: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SpendRequest {
    pub program_id: ProgramId,
    #[schema(value_type = String, example = "4111111111111111")]
    pub card_number: CardNumber,
    /// Points to pay with.
    pub amount: Amount,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PointReturnRequest {
    /// The earn or spend transaction at this store being returned.
    pub transaction_id: TransactionId,
    /// For an earn: the yen of the purchase returned; for a spend: the points refunded.
    pub amount: Amount,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StockPurchaseRequest {
    pub program_id: ProgramId,
    /// Points bought.
    pub amount: Amount,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StockPurchaseResponse {
    pub transaction_id: TransactionId,
    pub points: i64,
    /// The store's prepaid stock after the purchase.
    pub stock: i64,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CheckoutRequest {
    /// The point card program.
    pub program_id: ProgramId,
    #[schema(value_type = String, example = "4111111111111111")]
    pub card_number: CardNumber,
    /// The currency program whose wallet pays the rest.
    pub currency_program_id: ProgramId,
    /// The whole bill in yen.
    pub amount: Amount,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CheckoutResponse {
    /// The points part, if any.
    pub points: Option<CardMovementResponse>,
    /// The currency payment, if any.
    pub payment_transaction_id: Option<TransactionId>,
    /// Yen paid from the currency wallet.
    pub wallet_yen: Yen,
    pub created_at: DateTime<Utc>,
}

// ---- Cards ----

/// A card as shown to staff and to its shopper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardView {
    pub id: CardId,
    pub program_id: ProgramId,
    /// 16 digits, the last the Luhn check digit: what the till scans or types.
    pub number: String,
    pub shopper_id: Option<ShopperId>,
    /// "active", "blocked" or "replaced".
    pub status: String,
    pub replaced_by: Option<CardId>,
    pub balance: i64,
    pub created_at: DateTime<Utc>,
}

impl CardView {
    /// The card as shown, holding `balance` points.
    pub fn new(card: CardRow, balance: i64) -> Self {
        Self {
            id: card.id,
            program_id: card.program_id,
            number: card.number,
            shopper_id: card.shopper_id.map(ShopperId),
            status: card.status,
            replaced_by: card.replaced_by.map(CardId),
            balance,
            created_at: card.created_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCardRequest {
    /// Link the new card to this shopper at once.
    pub shopper_id: Option<ShopperId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Cards created by this file.
    pub imported: u64,
    /// Cards of this file already imported earlier with the same balance (left alone).
    pub already_imported: u64,
    /// Points carried in by the cards created.
    pub points: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportRejection {
    pub error: crate::error::ErrorBody,
    /// Every bad row, by line of the file (the header is line 1). Absent when the refusal is
    /// not about rows (e.g. `wrong_program_kind`), so the 422 is this or the plain envelope.
    #[serde(default)]
    pub problems: Vec<ImportProblem>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    #[schema(value_type = String, example = "4111111111111111")]
    pub card_number: CardNumber,
    /// Operators name the shopper; a shopper links the card to themself (omit it).
    pub shopper_id: Option<ShopperId>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplacementRequest {
    /// Why (1–200 characters), e.g. "紛失".
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplacementResponse {
    pub old_card: CardView,
    pub new_card: CardView,
    /// The transfer of the balance; none when the old card held nothing.
    pub transaction_id: Option<TransactionId>,
}

// ---- Rates and campaigns ----

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// Points per yen at this store ("0.02": 2 pt per ¥100), 0 to 1; null returns the store
    /// to the program's rate.
    #[schema(value_type = Option<String>, example = "0.02")]
    pub earn_rate: Option<Decimal>,
}

/// A store's own earn rate as set (none: the program's rate applies).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointRate {
    pub program_id: ProgramId,
    pub merchant_id: MerchantId,
    /// Decimal text, e.g. "0.02"; null when the store follows the program's rate.
    pub earn_rate: Option<String>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPointCampaignRequest {
    pub name: String,
    /// Above 1 and at most 10, e.g. "2" for double points.
    #[schema(value_type = String, example = "2")]
    pub multiplier: Decimal,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub starts_at: DateTime<Utc>,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub ends_at: DateTime<Utc>,
    /// Only this store; every store when omitted.
    pub merchant_id: Option<MerchantId>,
}

/// A time-boxed multiplier campaign. (Its schema keeps the name it was published under.)
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[schema(as = PointCampaignRow)]
pub struct PointCampaign {
    pub id: PointCampaignId,
    pub program_id: ProgramId,
    /// The one store it applies to; every store when null.
    pub merchant_id: Option<MerchantId>,
    pub name: String,
    /// Decimal text, e.g. "2" (double points).
    pub multiplier: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl From<PointCampaignRow> for PointCampaign {
    fn from(row: PointCampaignRow) -> Self {
        Self {
            id: row.id,
            program_id: row.program_id,
            merchant_id: row.merchant_id.map(MerchantId),
            name: row.name,
            multiplier: row.multiplier,
            starts_at: row.starts_at,
            ends_at: row.ends_at,
            created_by: row.created_by,
            created_at: row.created_at,
        }
    }
}

// ---- Reports ----

/// One store's card movements in the year (all points, all positive).
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct StoreFigures {
    pub merchant_id: MerchantId,
    pub issued: i64,
    pub clawed_back: i64,
    pub redeemed: i64,
    pub refunded: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointsReport {
    pub program_id: ProgramId,
    pub fiscal_year: FiscalYear,
    /// e.g. 令和8年度.
    pub label: String,
    pub from: NaiveDate,
    /// Last day included (31 March, or today for the running year).
    pub to: NaiveDate,
    pub issued: i64,
    pub clawed_back: i64,
    pub redeemed: i64,
    pub refunded: i64,
    pub expired: i64,
    /// Balances carried in from plastic cards.
    pub imported: i64,
    /// Points the cards held at the start and at the end of the period (the liability).
    pub liability_start: i64,
    pub liability_end: i64,
    /// 回収率 (redemption rate) of the 年度: points redeemed net of refunds over points issued
    /// net of claw-backs, both within the year (4 decimals; none if nothing was issued).
    /// Expired points count as not redeemed (they lower nothing but the liability) and
    /// balances imported from plastic cards are not "issued" in the year; both have columns.
    #[schema(value_type = Option<String>)]
    pub redemption_rate: Option<Decimal>,
    pub stores: Vec<StoreFigures>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementLine {
    pub transaction_id: TransactionId,
    /// earn, spend, earn_return or spend_refund; `reversal_of_<kind>` for an operator's
    /// reversal of one of those (its points are the original's).
    pub kind: String,
    pub card_id: CardId,
    /// The purchase (earn) or the yen returned (earn_return).
    pub purchase_yen: Option<i64>,
    pub points: i64,
    pub shortfall_points: i64,
    pub created_at: DateTime<Utc>,
}

impl From<Movement> for StatementLine {
    fn from(m: Movement) -> Self {
        Self {
            transaction_id: m.transaction_id,
            kind: m.kind,
            card_id: m.card_id,
            purchase_yen: m.purchase_yen,
            points: m.points,
            shortfall_points: m.shortfall_points,
            created_at: m.created_at,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PointStatement {
    pub program_id: ProgramId,
    pub merchant_id: MerchantId,
    pub fiscal_year: FiscalYear,
    pub label: String,
    /// Points the store issued, net of claw-backs (it pays for these).
    pub issued_net: i64,
    /// Points shoppers spent at the store, net of refunds (it is reimbursed for these).
    pub redeemed_net: i64,
    pub lines: Vec<StatementLine>,
}
