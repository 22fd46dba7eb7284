//! What the money routes take and answer: requests, movements, reversals, refunds, balances, one
//! transaction with its postings, and the integrity check. Ledger rows (`writer::rows`) map
//! into these; the JSON is what the apps and the OpenAPI document see.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::writer::rows;
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset};
use machipay_domain::money::{Amount, Points, Yen};

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CounterChargeRequest {
    pub shopper_id: ShopperId,
    /// Yen paid in at the counter.
    pub amount: Amount,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PaymentRequest {
    pub merchant_id: MerchantId,
    pub amount: Amount,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferRequest {
    pub to_shopper_id: ShopperId,
    pub amount: Amount,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReversalRequest {
    /// Why the transaction is reversed; kept on the reversing transaction (1–200 chars).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct BalanceView {
    pub asset: Asset,
    pub balance: i64,
}

/// What a money movement answers.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct MovementResponse {
    pub transaction_id: TransactionId,
    pub kind: String,
    pub program_id: ProgramId,
    /// Yen moved (charges, payments, transfers, premium sales and cash-outs are in yen).
    pub amount: Yen,
    pub created_at: DateTime<Utc>,
    /// The shopper's wallet balances in this program after the movement.
    pub balances: Vec<BalanceView>,
}

/// What a reversal answers: the reversing transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReversalResponse {
    pub transaction_id: TransactionId,
    pub reverses_id: TransactionId,
    pub created_at: DateTime<Utc>,
}

/// One account's balance, as the balance routes list them.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AccountBalance {
    pub program_id: ProgramId,
    pub account_id: AccountId,
    pub kind: AccountKind,
    pub asset: Asset,
    pub balance: i64,
}

impl From<rows::Account> for AccountBalance {
    fn from(a: rows::Account) -> Self {
        Self {
            program_id: a.program_id,
            account_id: a.id,
            kind: a.kind,
            asset: a.asset,
            balance: a.balance,
        }
    }
}

/// A transaction as shown: what it was, what reverses it, what it reverses.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransactionRecord {
    pub id: TransactionId,
    pub program_id: ProgramId,
    pub kind: String,
    pub reverses_id: Option<TransactionId>,
    pub reversed_by: Option<TransactionId>,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<rows::TransactionRecord> for TransactionRecord {
    fn from(t: rows::TransactionRecord) -> Self {
        Self {
            id: t.id,
            program_id: t.program_id,
            kind: t.kind,
            reverses_id: t.reverses_id.map(TransactionId),
            reversed_by: t.reversed_by.map(TransactionId),
            memo: t.memo,
            created_at: t.created_at,
        }
    }
}

/// One leg of a transaction.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PostingRecord {
    pub account_id: AccountId,
    pub account_kind: AccountKind,
    /// The shopper, store or card owning the account (none for the program's own books).
    #[schema(value_type = Option<String>, format = Uuid)]
    pub owner_id: Option<Uuid>,
    pub asset: Asset,
    pub amount: i64,
}

impl From<rows::PostingRecord> for PostingRecord {
    fn from(p: rows::PostingRecord) -> Self {
        Self {
            account_id: p.account_id,
            account_kind: p.account_kind,
            owner_id: p.owner_id,
            asset: p.asset,
            amount: p.amount,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TransactionView {
    #[serde(flatten)]
    pub transaction: TransactionRecord,
    pub postings: Vec<PostingRecord>,
}

/// What the integrity check found; every number should be zero.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct IntegrityReport {
    /// Transactions of the program whose postings do not sum to zero for some asset.
    pub unbalanced_transactions: i64,
    /// Accounts whose cached balance differs from the sum of their postings.
    pub balance_mismatches: i64,
    /// Shopper wallets whose balance differs from the sum of their open lots.
    pub lot_mismatches: i64,
    /// Accounts that may not go negative but are.
    pub negative_balances: i64,
    /// (original, asset, account) triples where the original's refunds, returns, claw-backs
    /// and reversal together gave back more than the original moved (see `over_returned`).
    pub over_returned: i64,
    /// A few of them, to start looking from.
    pub over_returned_examples: Vec<OverReturn>,
    pub transactions: i64,
    pub postings: i64,
}

impl From<rows::IntegrityReport> for IntegrityReport {
    fn from(r: rows::IntegrityReport) -> Self {
        Self {
            unbalanced_transactions: r.unbalanced_transactions,
            balance_mismatches: r.balance_mismatches,
            lot_mismatches: r.lot_mismatches,
            negative_balances: r.negative_balances,
            over_returned: r.over_returned,
            over_returned_examples: r
                .over_returned_examples
                .into_iter()
                .map(OverReturn::from)
                .collect(),
            transactions: r.transactions,
            postings: r.postings,
        }
    }
}

/// One account on which what came back from an original exceeds what it moved.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct OverReturn {
    pub original_id: TransactionId,
    pub asset: Asset,
    /// The account; for a point card, the wallet of the card that now holds its balance.
    pub account_id: AccountId,
    /// What the original (with its batch rebate grants) credited to / debited from it.
    pub moved_in: i64,
    pub moved_out: i64,
    /// What its refunds, returns, claw-backs and reversals credited to / debited from it.
    pub returned_in: i64,
    pub returned_out: i64,
}

impl From<rows::OverReturn> for OverReturn {
    fn from(o: rows::OverReturn) -> Self {
        Self {
            original_id: o.original_id,
            asset: o.asset,
            account_id: o.account_id,
            moved_in: o.moved_in,
            moved_out: o.moved_out,
            returned_in: o.returned_in,
            returned_out: o.returned_out,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LedgerCheck {
    pub program_id: ProgramId,
    /// True when every count below that should be zero is zero.
    pub ok: bool,
    #[serde(flatten)]
    pub report: IntegrityReport,
    /// Sum of all balances per asset; double entry makes each zero.
    pub net_by_asset: Vec<(Asset, i64)>,
    /// The check saw every posting up to this id (postings.id grows with insertion order):
    /// a full check that passed leaves it as the mark the incremental check starts from.
    pub through_posting_id: i64,
    /// An incremental check: it checked only what came after this posting id (its
    /// checkpoint's mark; 0 without one), and `transactions` / `postings` count those. Absent
    /// for a full check.
    pub since_posting_id: Option<i64>,
}

/// Whether the report aggregates equal what the postings say (`writer::aggregates`).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct AggregatesCheck {
    pub program_id: ProgramId,
    /// True when every aggregate row of the program equals its recomputation from postings.
    pub ok: bool,
    /// The first row that differs (table, key, stored and recomputed values).
    pub first_difference: Option<crate::writer::aggregates::AggregateMismatch>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RefundRequest {
    /// The payment to refund.
    pub transaction_id: TransactionId,
    pub amount: Amount,
    /// Why (kept with the refund; 1–200 characters).
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RefundResponse {
    pub transaction_id: TransactionId,
    pub payment_transaction_id: TransactionId,
    /// Yen given back.
    pub amount: Yen,
    /// Rebate points taken back.
    pub points_clawed_back: Points,
    /// Rebate points that could not be taken back because the shopper had spent them.
    pub shortfall_points: Points,
    pub created_at: DateTime<Utc>,
}
