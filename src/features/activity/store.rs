//! Activity reads for the apps: an account's latest postings with their transactions, an
//! account's net since an instant for some transaction kinds, and an account's nearest
//! expiring lots. All are bounded: by a LIMIT, by one account, or by one date.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;

/// One posting on an owner's account, with what its transaction was.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ActivityRow {
    /// Orders entries newest first across accounts (not shown to people).
    pub posting_id: i64,
    #[sqlx(try_from = "Uuid")]
    pub transaction_id: TransactionId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    /// payment, refund, charge, transfer, ...
    pub kind: String,
    #[sqlx(try_from = "String")]
    pub asset: Asset,
    /// The change to the owner's balance: positive in, negative out.
    pub amount: i64,
    pub created_at: DateTime<Utc>,
    /// The kind of account on the other side (the largest leg moving the other way).
    pub counterparty_kind: Option<String>,
    /// The store the transaction touched, if one did.
    pub store_name: Option<String>,
    /// Payments only: the yen refunded of it so far.
    pub refunded_yen: Option<i64>,
}

/// The other side of an entry: the kind of the account of the largest leg moving the other
/// way (ties by posting order), so a store's line can say who paid and a shopper's who was
/// paid. The postings_transaction index bounds it to the transaction's few legs.
const COUNTERPARTY_KIND: &str = "(SELECT a2.kind FROM postings q JOIN accounts a2 ON a2.id = q.account_id \
     WHERE q.transaction_id = p.transaction_id AND q.account_id <> p.account_id \
     AND (q.amount < 0) <> (p.amount < 0) ORDER BY abs(q.amount) DESC, q.id LIMIT 1)";

/// The name of the store whose account the transaction touched (a shopper's history names
/// where the money went), through the store's own account or its point stock.
const STORE_NAME: &str = "(SELECT m.name FROM postings q JOIN accounts a2 ON a2.id = q.account_id \
     JOIN merchants m ON m.id = a2.owner_id WHERE q.transaction_id = p.transaction_id \
     AND a2.kind IN ('merchant', 'merchant_point_stock') ORDER BY q.id LIMIT 1)";

/// What was refunded of a payment so far, in yen (the refunds_payment index); NULL for
/// anything but a payment.
const REFUNDED_YEN: &str = "CASE WHEN t.kind = 'payment' THEN (SELECT CAST(coalesce(sum(f.amount), 0) AS BIGINT) \
     FROM refunds f WHERE f.payment_transaction_id = p.transaction_id) END";

/// The latest `limit` postings of one account, newest first (the postings_account index).
pub(crate) async fn recent_postings(
    db: &Db,
    account: AccountId,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    let sql = format!(
        "SELECT p.id AS posting_id, p.transaction_id, t.program_id, t.kind, p.asset, p.amount, t.created_at, \
         {COUNTERPARTY_KIND} AS counterparty_kind, {STORE_NAME} AS store_name, {REFUNDED_YEN} AS refunded_yen \
         FROM postings p JOIN transactions t ON t.id = p.transaction_id \
         WHERE p.account_id = $1 ORDER BY p.id DESC LIMIT $2"
    );
    read!(db, |c| {
        sqlx::query_as(&sql)
            .bind(account.0)
            .bind(limit)
            .fetch_all(c)
            .await
    })
}

/// The net of one account's postings made by transactions of `kinds` created at or after
/// `since`, and how many such transactions there were.
pub(crate) async fn net_since(
    db: &Db,
    account: AccountId,
    since: DateTime<Utc>,
    kinds: &[&str; 2],
) -> Result<(i64, i64), sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
        "SELECT CAST(coalesce(sum(p.amount), 0) AS BIGINT), CAST(count(DISTINCT p.transaction_id) AS BIGINT) \
         FROM postings p JOIN transactions t ON t.id = p.transaction_id \
         WHERE p.account_id = $1 AND t.created_at >= $2 AND t.kind IN ($3, $4)"
    )
    .bind(account.0)
    .bind(since)
    .bind(kinds[0])
    .bind(kinds[1])
    .fetch_one(c)
    .await
    })
}

/// The earliest expiry date among an account's open lots and what remains on it.
pub(crate) async fn nearest_expiry(
    db: &Db,
    account: AccountId,
) -> Result<Option<(NaiveDate, i64)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT expires_on, CAST(sum(remaining) AS BIGINT) FROM lots \
         WHERE account_id = $1 AND remaining > 0 AND expires_on IS NOT NULL \
         GROUP BY expires_on ORDER BY expires_on LIMIT 1"
    )
    .bind(account.0)
    .fetch_optional(c)
    .await)
}
