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
}

/// The latest `limit` postings of one account, newest first (the postings_account index).
pub(crate) async fn recent_postings(
    db: &Db,
    account: AccountId,
    limit: i64,
) -> Result<Vec<ActivityRow>, sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
        "SELECT p.id AS posting_id, p.transaction_id, t.program_id, t.kind, p.asset, p.amount, t.created_at \
         FROM postings p JOIN transactions t ON t.id = p.transaction_id \
         WHERE p.account_id = $1 ORDER BY p.id DESC LIMIT $2"
    )
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
