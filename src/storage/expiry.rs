//! What the expiry run reads: every program, and the shopper wallets holding value that has
//! expired (lots past their date, or whole wallets untouched for too long). Run inside the
//! writer's transaction, so what is found is what is posted.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Db, WriteTx, read, read_flushed};
use crate::domain::ids::*;
use crate::domain::ledger::Asset;

/// A program as the expiry run needs it: its id, kind and the settings text it was created with
/// (the dated versions are read apart, see `storage::currency::settings_at`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramForExpiry {
    #[sqlx(try_from = "Uuid")]
    pub id: ProgramId,
    pub kind: String,
    pub settings: String,
}

/// Every program of every city, in id order.
pub async fn all_programs(db: &Db) -> Result<Vec<ProgramForExpiry>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, kind, settings FROM programs ORDER BY id"
    )
    .fetch_all(c)
    .await)
}

/// Shopper wallets of `program` holding value of `assets`, whose last posting was before
/// `changed_before`: under the wallet-level rule the whole balance of these has expired. At
/// most `limit`, in id order. A point card's clock is its last use: an import or a card
/// replacement is not a use, and the last use the plastic system knew (carried over by
/// both, `point_cards.last_used_at`) counts as one.
pub async fn wallets_unchanged_since(
    tx: &mut WriteTx,
    program: ProgramId,
    assets: &[Asset],
    changed_before: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<AccountId>, sqlx::Error> {
    if assets.is_empty() {
        return Ok(Vec::new());
    }
    // The asset names are the fixed spellings of `Asset::as_str`, never caller input.
    let in_list = assets
        .iter()
        .map(|a| format!("'{}'", a.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "SELECT a.id FROM accounts a WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' \
         AND a.asset IN ({in_list}) AND a.balance > 0 \
         AND (SELECT max(u.at) FROM (\
              SELECT t.created_at AS at FROM postings p JOIN transactions t ON t.id = p.transaction_id \
              WHERE p.account_id = a.id AND t.kind NOT IN ('card_import', 'card_replacement') \
              UNION ALL SELECT c.last_used_at AS at FROM point_cards c WHERE c.id = a.owner_id) u) < $2 \
         ORDER BY a.id LIMIT $3"
    );
    let ids: Vec<Uuid> = read_flushed!(tx, |c| sqlx::query_scalar(&sql)
        .bind(program.0)
        .bind(changed_before)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    Ok(ids.into_iter().map(AccountId).collect())
}

/// Shopper wallets of `program` with an open lot whose last spendable day is before `as_of`.
/// At most `limit`, in id order.
pub async fn wallets_with_expired_lots(
    tx: &mut WriteTx,
    program: ProgramId,
    as_of: NaiveDate,
    limit: i64,
) -> Result<Vec<AccountId>, sqlx::Error> {
    let ids: Vec<Uuid> = read_flushed!(tx, |c| sqlx::query_scalar(
        "SELECT DISTINCT l.account_id FROM lots l JOIN accounts a ON a.id = l.account_id \
         WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND l.remaining > 0 \
         AND l.expires_on IS NOT NULL AND l.expires_on < $2 \
         ORDER BY l.account_id LIMIT $3"
    )
    .bind(program.0)
    .bind(as_of)
    .bind(limit)
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(AccountId).collect())
}

/// What remains in an account's lots whose last spendable day is before `as_of`.
pub async fn expired_remaining(
    tx: &mut WriteTx,
    account: AccountId,
    as_of: NaiveDate,
) -> Result<i64, sqlx::Error> {
    read_flushed!(tx, |c| sqlx::query_scalar(
        "SELECT CAST(coalesce(sum(remaining), 0) AS BIGINT) FROM lots \
         WHERE account_id = $1 AND remaining > 0 AND expires_on IS NOT NULL AND expires_on < $2"
    )
    .bind(account.0)
    .bind(as_of)
    .fetch_one(c)
    .await)
}
