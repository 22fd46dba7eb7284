//! What the activity routes answer: a store's or a shopper's first screen.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use utoipa::ToSchema;

use crate::features::activity::store::ActivityRow;
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;

/// A store's takings today on one of its accounts.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Takings {
    pub program_id: ProgramId,
    pub asset: Asset,
    /// Payments less refunds since midnight JST.
    pub amount: i64,
    /// Payment and refund transactions counted.
    pub transactions: i64,
}

/// The nearest expiry of a shopper's wallet.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Expiring {
    pub program_id: ProgramId,
    pub asset: Asset,
    /// The last JST date on which it can be spent.
    pub date: NaiveDate,
    pub amount: i64,
}

/// One posting on an owner's account, with what its transaction was.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct ActivityEntry {
    pub transaction_id: TransactionId,
    pub program_id: ProgramId,
    /// payment, refund, charge, transfer, ...
    pub kind: String,
    pub asset: Asset,
    /// The change to the owner's balance: positive in, negative out.
    pub amount: i64,
    pub created_at: DateTime<Utc>,
    /// Who is on the other side, by account kind: `shopper_wallet` (a shopper), `merchant`
    /// or `merchant_point_stock` (a store), `issuer_float`, `city_subsidy`, `breakage`,
    /// `points_issuance`, `fee_income` (the program's own accounts); absent when no leg moves
    /// the other way.
    pub counterparty_kind: Option<String>,
    /// The name of the store the transaction touched (paid, refunded, awarded points), if any.
    pub store_name: Option<String>,
    /// Payments only: how much of it has been refunded, in yen (0 when nothing).
    pub refunded_yen: Option<i64>,
}

impl From<ActivityRow> for ActivityEntry {
    fn from(r: ActivityRow) -> Self {
        Self {
            transaction_id: r.transaction_id,
            program_id: r.program_id,
            kind: r.kind,
            asset: r.asset,
            amount: r.amount,
            created_at: r.created_at,
            counterparty_kind: r.counterparty_kind,
            store_name: r.store_name,
            refunded_yen: r.refunded_yen,
        }
    }
}

#[derive(Debug, Clone, Serialize, ToSchema)]
pub(crate) struct Activity {
    /// The JST business date `today` refers to.
    pub date: NaiveDate,
    /// Stores only: takings per program and asset since midnight JST (empty for shoppers).
    pub today: Vec<Takings>,
    /// Shoppers only: per wallet, the earliest date on which value expires (empty for stores).
    pub expiring: Vec<Expiring>,
    /// The latest entries on the owner's accounts, newest first.
    pub entries: Vec<ActivityEntry>,
}
