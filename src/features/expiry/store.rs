//! What the expiry run reads: every program, and the shopper wallets holding value that has
//! expired (lots past their date, or whole wallets untouched for too long). Run inside the
//! writer's transaction, so what is found is what is posted.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::{WriteTx, read_flushed};
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;

/// A program as the expiry run needs it: its id, kind and the settings text it was created with
/// (the dated versions are read apart, see `directory::settings_at`).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ProgramForExpiry {
    #[sqlx(try_from = "Uuid")]
    pub id: ProgramId,
    pub kind: String,
    pub name: String,
    pub settings: String,
}

/// Every program of every city, in id order.
pub async fn all_programs(db: &Db) -> Result<Vec<ProgramForExpiry>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT id, kind, name, settings FROM programs ORDER BY id"
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
    let sql = format!(
        "SELECT a.id FROM accounts a WHERE {} ORDER BY a.id LIMIT $3",
        unchanged_since_clause(assets)
    );
    let ids: Vec<Uuid> = read_flushed!(tx, |c| sqlx::query_scalar(&sql)
        .bind(program.0)
        .bind(changed_before)
        .bind(limit)
        .fetch_all(c)
        .await)?;
    Ok(ids.into_iter().map(AccountId).collect())
}

/// The condition on `accounts a` of `wallets_unchanged_since` (`$1` the program, `$2` the
/// instant), shared with the dry run so both find the same wallets. `assets` is not empty.
///
/// "The wallet's last use is before `$2`" is asked set-wise, not per wallet: the wallets used
/// since `$2` are one pass over the program's transactions since then (the index
/// `transactions_program (program_id, created_at)`) and their postings, anti-joined with the
/// program's wallets. The earlier form took, for every wallet with a balance, the max
/// `created_at` over all its postings joined to their transactions: a nested loop over the
/// whole ledger that PostgreSQL ran for minutes at a few hundred thousand transactions, and
/// again for each job of the run. A wallet counts only if it has been used at all (a posting
/// that is not an import or a replacement, or a carried-over `last_used_at`), as the max
/// over no use was no date.
fn unchanged_since_clause(assets: &[Asset]) -> String {
    // The asset names are the fixed spellings of `Asset::as_str`, never caller input.
    let in_list = assets
        .iter()
        .map(|a| format!("'{}'", a.as_str()))
        .collect::<Vec<_>>()
        .join(", ");
    format!(
        "a.program_id = $1 AND a.kind = 'shopper_wallet' \
         AND a.asset IN ({in_list}) AND a.balance > 0 \
         AND NOT EXISTS (SELECT 1 FROM (\
              SELECT DISTINCT p.account_id FROM transactions t \
              JOIN postings p ON p.transaction_id = t.id \
              WHERE t.program_id = $1 AND t.created_at >= $2 \
              AND t.kind NOT IN ('card_import', 'card_replacement')) used \
              WHERE used.account_id = a.id) \
         AND NOT EXISTS (SELECT 1 FROM point_cards c WHERE c.id = a.owner_id AND c.last_used_at >= $2) \
         AND (EXISTS (SELECT 1 FROM point_cards c WHERE c.id = a.owner_id AND c.last_used_at IS NOT NULL) \
              OR EXISTS (SELECT 1 FROM postings p JOIN transactions t ON t.id = p.transaction_id \
                 WHERE p.account_id = a.id AND t.kind NOT IN ('card_import', 'card_replacement')))"
    )
}

/// What an expiry run of `program` as of `as_of` would move, per asset: (asset, wallets,
/// amount), without moving anything (the dry run of `machipay expire`). Wallets the
/// wallet-level rule empties (`unchanged`: its assets and instant) count with their whole
/// balance; the others with what remains in their lots past their date, as the run does.
/// A read of committed rows: what the writer commits meanwhile may change the real run.
pub async fn preview(
    db: &Db,
    program: ProgramId,
    as_of: NaiveDate,
    unchanged: Option<(&[Asset], DateTime<Utc>)>,
) -> Result<Vec<(Asset, i64, i64)>, sqlx::Error> {
    let (whole, changed_before) = match unchanged {
        Some((assets, before)) if !assets.is_empty() => (
            format!(
                "SELECT a.id, a.asset, a.balance AS amount FROM accounts a WHERE {}",
                unchanged_since_clause(assets)
            ),
            before,
        ),
        // No wallet rule: no whole wallets ($2 is still bound, to keep one statement).
        _ => (
            "SELECT a.id, a.asset, a.balance AS amount FROM accounts a \
             WHERE a.program_id = $1 AND $2 IS NULL AND 1 = 0"
                .to_owned(),
            DateTime::<Utc>::UNIX_EPOCH,
        ),
    };
    let sql = format!(
        "WITH whole AS ({whole}), by_lot AS (\
           SELECT l.account_id AS id, a.asset AS asset, CAST(sum(l.remaining) AS BIGINT) AS amount \
           FROM lots l JOIN accounts a ON a.id = l.account_id \
           WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND l.remaining > 0 \
           AND l.expires_on IS NOT NULL AND l.expires_on < $3 \
           AND l.account_id NOT IN (SELECT id FROM whole) \
           GROUP BY l.account_id, a.asset) \
         SELECT asset, CAST(count(*) AS BIGINT), CAST(sum(amount) AS BIGINT) FROM (\
           SELECT asset, amount FROM whole UNION ALL SELECT asset, amount FROM by_lot) x \
         WHERE amount > 0 GROUP BY asset ORDER BY asset"
    );
    let rows: Vec<(String, i64, i64)> = read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(changed_before)
        .bind(as_of)
        .fetch_all(c)
        .await)?;
    rows.into_iter()
        .map(|(asset, wallets, amount)| {
            Asset::parse(&asset)
                .map(|a| (a, wallets, amount))
                .ok_or_else(|| sqlx::Error::Decode(format!("stored asset {asset}").into()))
        })
        .collect()
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
