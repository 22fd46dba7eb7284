//! Purging stored idempotent replies past their retention window (`writer::retention`).

use chrono::{DateTime, Utc};

use crate::writer::{WriteTx, write};

/// Deletes at most `limit` stored replies created before `before`, oldest first; returns how
/// many. The index `idempotency_keys_created` (migration 0009) finds them without a scan.
pub(crate) async fn purge_replies(
    tx: &mut WriteTx,
    before: DateTime<Utc>,
    limit: i64,
) -> Result<u64, sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "DELETE FROM idempotency_keys WHERE (principal_id, key) IN \
         (SELECT principal_id, key FROM idempotency_keys WHERE created_at < $1 \
          ORDER BY created_at LIMIT $2)"
    )
    .bind(before)
    .bind(limit)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))
}
