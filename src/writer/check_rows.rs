//! The ledger check's storage (issue 15): the full check's reads, paged over the postings in
//! one read snapshot (never the writer's connection), and the checkpoints it leaves for the
//! incremental check (`ledger_checkpoints`, `ledger_checkpoint_balances`).
//!
//! `postings.id` grows with insertion order: the single writer commits one batch after the
//! other and a batch's postings take ids above every committed one (a PostgreSQL identity, a
//! SQLite AUTOINCREMENT). So "every posting with id <= the highest one a snapshot sees" is
//! exactly what that snapshot saw, and a transaction's postings never straddle that mark.
//! `created_at` is no such marker: transactions can be backdated.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::Db;
use crate::writer::rows::{over_returned_head, over_returned_members, over_returned_tail};
use crate::writer::{WriteTx, write};
use machipay_domain::ids::*;

/// A read-only transaction on a read connection: every read of a check sees the same
/// committed state (PostgreSQL REPEATABLE READ; SQLite's read transaction in WAL mode), and
/// the writer goes on beside it.
pub enum Snapshot {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// Runs `$body` with `$c` bound to the snapshot's connection.
macro_rules! snap {
    ($s:expr, |$c:ident| $body:expr) => {
        match $s {
            Snapshot::Pg(t) => {
                let $c = &mut **t;
                $body
            }
            Snapshot::Lite(t) => {
                let $c = &mut **t;
                $body
            }
        }
    };
}

impl Snapshot {
    pub async fn begin(db: &Db) -> Result<Snapshot, sqlx::Error> {
        match db {
            Db::Pg(read, _) => {
                let mut t = read.begin().await?;
                sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
                    .execute(&mut *t)
                    .await?;
                Ok(Snapshot::Pg(t))
            }
            Db::Lite { read, .. } => Ok(Snapshot::Lite(read.begin().await?)),
        }
    }

    /// Ends the snapshot (it only read).
    pub async fn end(self) {
        let _ = match self {
            Snapshot::Pg(t) => t.rollback().await,
            Snapshot::Lite(t) => t.rollback().await,
        };
    }

    /// The postings table for a read of the ids after a mark. SQLite, which keeps no
    /// statistics here, would rather walk a whole index in the order a GROUP BY or DISTINCT
    /// wants than take the few rows after the mark by their primary key: `NOT INDEXED` leaves
    /// it the primary key (rowid) range.
    fn postings_after(&self) -> &'static str {
        match self {
            Snapshot::Pg(_) => "postings p",
            Snapshot::Lite(_) => "postings p NOT INDEXED",
        }
    }

    /// The highest posting id the snapshot sees (0: none). Also fixes SQLite's snapshot (its
    /// first read does).
    pub async fn posting_mark(&mut self) -> Result<i64, sqlx::Error> {
        snap!(self, |c| sqlx::query_scalar(
            "SELECT CAST(coalesce(max(id), 0) AS BIGINT) FROM postings"
        )
        .fetch_one(c)
        .await)
    }

    /// The program's accounts: (id, kind, asset, may go negative, balance), a page of at most
    /// `limit` after `after` in id order.
    pub async fn accounts_page(
        &mut self,
        program: ProgramId,
        after: Uuid,
        limit: i64,
    ) -> Result<Vec<AccountRow>, sqlx::Error> {
        snap!(self, |c| sqlx::query_as(
            "SELECT id, kind, asset, allow_negative, balance FROM accounts \
             WHERE program_id = $1 AND id > $2 ORDER BY id LIMIT $3"
        )
        .bind(program.0)
        .bind(after)
        .bind(limit)
        .fetch_all(c)
        .await)
    }

    /// Per account, the sum and count of its postings with id in `(from, to]`.
    pub async fn posting_sums(
        &mut self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Uuid, i64, i64)>, sqlx::Error> {
        snap!(self, |c| sqlx::query_as(
            "SELECT account_id, CAST(sum(amount) AS BIGINT), CAST(count(*) AS BIGINT) \
             FROM postings WHERE id > $1 AND id <= $2 GROUP BY account_id"
        )
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await)
    }

    /// (transaction, asset, sum) of the postings with id in `(from, to]` that do not sum to
    /// zero within that range: unbalanced transactions, or ones the range cuts.
    pub async fn open_sums(
        &mut self,
        from: i64,
        to: i64,
    ) -> Result<Vec<(Uuid, String, i64)>, sqlx::Error> {
        snap!(self, |c| sqlx::query_as(
            "SELECT transaction_id, asset, CAST(sum(amount) AS BIGINT) FROM postings \
             WHERE id > $1 AND id <= $2 GROUP BY transaction_id, asset HAVING sum(amount) <> 0"
        )
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await)
    }

    /// Those of `transactions` that belong to `program`.
    pub async fn of_program(
        &mut self,
        program: ProgramId,
        transactions: &[Uuid],
    ) -> Result<std::collections::HashSet<Uuid>, sqlx::Error> {
        let mut ours = std::collections::HashSet::new();
        for t in transactions {
            let p: Option<Uuid> = snap!(self, |c| sqlx::query_scalar(
                "SELECT program_id FROM transactions WHERE id = $1"
            )
            .bind(*t)
            .fetch_optional(c)
            .await)?;
            if p == Some(program.0) {
                ours.insert(*t);
            }
        }
        Ok(ours)
    }

    /// Shopper wallets of a page (ids in `(after, to]`, in id order) whose balance differs
    /// from the sum of their open lots.
    pub async fn lot_mismatches(
        &mut self,
        program: ProgramId,
        after: Uuid,
        to: Uuid,
    ) -> Result<i64, sqlx::Error> {
        snap!(self, |c| {
            sqlx::query_scalar(
            "SELECT CAST(count(*) AS BIGINT) FROM accounts a WHERE a.program_id = $1 \
             AND a.kind = 'shopper_wallet' AND a.id > $2 AND a.id <= $3 AND a.balance <> \
             (SELECT coalesce(sum(l.remaining), 0) FROM lots l WHERE l.account_id = a.id AND l.remaining > 0)"
        )
        .bind(program.0)
        .bind(after)
        .bind(to)
        .fetch_one(c)
        .await
        })
    }

    /// The returns invariant over the whole program (`rows::over_returned`), in the snapshot.
    pub async fn over_returned(
        &mut self,
        program: ProgramId,
    ) -> Result<(i64, Vec<crate::writer::rows::OverReturn>), sqlx::Error> {
        let rows: Vec<OverReturnRow> = snap!(self, |c| sqlx::query_as(
            crate::writer::rows::OVER_RETURNED_SQL
        )
        .bind(program.0)
        .bind(crate::writer::rows::OVER_RETURN_EXAMPLES_MAX)
        .fetch_all(c)
        .await)?;
        let total = rows.first().map_or(0, |r| r.total);
        Ok((total, rows.into_iter().map(|r| r.example).collect()))
    }

    /// The returns invariant for the originals that something after posting `mark` gave
    /// back from (their whole groups, old returns included).
    pub async fn over_returned_since(
        &mut self,
        program: ProgramId,
        mark: i64,
    ) -> Result<(i64, Vec<crate::writer::rows::OverReturn>), sqlx::Error> {
        let sql = OVER_RETURNED_SINCE_SQL.replace(
            "FROM postings p WHERE p.id > $3",
            &format!("FROM {} WHERE p.id > $3", self.postings_after()),
        );
        let rows: Vec<OverReturnRow> = snap!(self, |c| sqlx::query_as(&sql)
            .bind(program.0)
            .bind(crate::writer::rows::OVER_RETURN_EXAMPLES_MAX)
            .bind(mark)
            .fetch_all(c)
            .await)?;
        let total = rows.first().map_or(0, |r| r.total);
        Ok((total, rows.into_iter().map(|r| r.example).collect()))
    }

    /// Transactions of the program.
    pub async fn transactions(&mut self, program: ProgramId) -> Result<i64, sqlx::Error> {
        snap!(self, |c| sqlx::query_scalar(
            "SELECT CAST(count(*) AS BIGINT) FROM transactions WHERE program_id = $1"
        )
        .bind(program.0)
        .fetch_one(c)
        .await)
    }

    /// The program's latest completed checkpoint.
    pub async fn last_checkpoint(
        &mut self,
        program: ProgramId,
    ) -> Result<Option<Checkpoint>, sqlx::Error> {
        snap!(self, |c| sqlx::query_as(
            "SELECT id, through_posting_id, checked_at FROM ledger_checkpoints \
             WHERE program_id = $1 AND completed_at IS NOT NULL \
             ORDER BY through_posting_id DESC LIMIT 1"
        )
        .bind(program.0)
        .fetch_optional(c)
        .await)
    }

    /// What came after posting `mark`, checked against the checkpoint `checkpoint` (None: no
    /// checkpoint, every balance started at 0).
    pub async fn since(
        &mut self,
        program: ProgramId,
        checkpoint: Option<Uuid>,
        mark: i64,
    ) -> Result<Since, sqlx::Error> {
        // A nil id matches no checkpoint row: every account then starts at 0.
        let cp = checkpoint.unwrap_or(Uuid::nil());
        let after = self.postings_after();
        let (transactions, postings): (i64, i64) = snap!(self, |c| sqlx::query_as(
            "SELECT CAST(count(DISTINCT p.transaction_id) AS BIGINT), CAST(count(*) AS BIGINT) \
             FROM postings p JOIN accounts a ON a.id = p.account_id \
             WHERE p.id > $2 AND a.program_id = $1"
        )
        .bind(program.0)
        .bind(mark)
        .fetch_one(c)
        .await)?;
        // Driven by the postings after the mark (their primary key), never by the
        // program's transactions as a whole.
        let sql = format!(
            "SELECT CAST(count(*) AS BIGINT) FROM (SELECT p.transaction_id FROM {after} \
             WHERE p.id > $2 AND EXISTS (SELECT 1 FROM transactions t \
                 WHERE t.id = p.transaction_id AND t.program_id = $1) \
             GROUP BY p.transaction_id, p.asset HAVING sum(p.amount) <> 0) x"
        );
        let unbalanced_transactions: i64 = snap!(self, |c| sqlx::query_scalar(&sql)
            .bind(program.0)
            .bind(mark)
            .fetch_one(c)
            .await)?;
        // One pass over the program's accounts: per asset the net, the negative balances and
        // the balances that are not their checkpoint's plus what was posted since.
        let sql = format!(
            "SELECT a.asset, CAST(coalesce(sum(a.balance), 0) AS BIGINT), \
             CAST(sum(CASE WHEN NOT a.allow_negative AND a.balance < 0 THEN 1 ELSE 0 END) AS BIGINT), \
             CAST(sum(CASE WHEN a.balance <> coalesce(b.balance, 0) + coalesce(d.moved, 0) \
                 THEN 1 ELSE 0 END) AS BIGINT) \
             FROM accounts a \
             LEFT JOIN ledger_checkpoint_balances b ON b.checkpoint_id = $3 AND b.account_id = a.id \
             LEFT JOIN (SELECT p.account_id, sum(p.amount) AS moved FROM {after} WHERE p.id > $2 \
                 GROUP BY p.account_id) d ON d.account_id = a.id \
             WHERE a.program_id = $1 GROUP BY a.asset ORDER BY a.asset"
        );
        let per_asset: Vec<(String, i64, i64, i64)> = snap!(self, |c| {
            sqlx::query_as(&sql)
                .bind(program.0)
                .bind(mark)
                .bind(cp)
                .fetch_all(c)
                .await
        })?;
        let lot_mismatches: i64 = snap!(self, |c| {
            sqlx::query_scalar(
            "SELECT CAST(count(*) AS BIGINT) FROM accounts a WHERE a.program_id = $1 \
             AND a.kind = 'shopper_wallet' \
             AND a.id IN (SELECT account_id FROM postings WHERE id > $2) AND a.balance <> \
             (SELECT coalesce(sum(l.remaining), 0) FROM lots l WHERE l.account_id = a.id AND l.remaining > 0)"
        )
        .bind(program.0)
        .bind(mark)
        .fetch_one(c)
        .await
        })?;
        let balance_mismatches = per_asset.iter().map(|r| r.3).sum();
        let negative_balances = per_asset.iter().map(|r| r.2).sum();
        let net = per_asset.into_iter().map(|r| (r.0, r.1)).collect();
        Ok(Since {
            transactions,
            postings,
            unbalanced_transactions,
            balance_mismatches,
            lot_mismatches,
            negative_balances,
            net_by_asset: net,
        })
    }
}

/// Every program's id, in id order.
pub async fn program_ids(db: &Db) -> Result<Vec<ProgramId>, sqlx::Error> {
    let ids: Vec<Uuid> = crate::db::read!(db, |c| sqlx::query_scalar(
        "SELECT id FROM programs ORDER BY id"
    )
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(ProgramId).collect())
}

/// One account as the full check reads it.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AccountRow {
    pub id: Uuid,
    pub kind: String,
    pub asset: String,
    pub allow_negative: bool,
    pub balance: i64,
}

/// A completed checkpoint: what the incremental check starts from.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Checkpoint {
    pub id: Uuid,
    pub through_posting_id: i64,
    pub checked_at: DateTime<Utc>,
}

/// What the incremental check counts after a mark.
#[derive(Debug, Clone)]
pub struct Since {
    pub transactions: i64,
    pub postings: i64,
    pub unbalanced_transactions: i64,
    pub balance_mismatches: i64,
    pub lot_mismatches: i64,
    pub negative_balances: i64,
    pub net_by_asset: Vec<(String, i64)>,
}

#[derive(sqlx::FromRow)]
struct OverReturnRow {
    #[sqlx(flatten)]
    example: crate::writer::rows::OverReturn,
    total: i64,
}

/// `rows::OVER_RETURNED_SQL` for the groups touched after posting `$3`: the originals a
/// refund, return or reversal posted after it gives back from, each with all of its returns
/// (found through `refunds_payment`, `point_movements_original` and the unique
/// `transactions.reverses_id`), not the program's whole history. A card's wallet follows the
/// cards that replaced it, walked up from the cards of those groups' postings (`up`), not
/// down from every card of the program: SQLite materializes a recursive CTE whole, and at
/// 90,000 cards that walk was most of a 2–4.5 s check. Each step is driven by the rows
/// before it (`fresh`, then the touched cards) through `CROSS JOIN`, which SQLite keeps in
/// the written order: given `t.program_id = $1 AND t.id IN fresh` it walked the program's
/// transactions by `transactions_program` instead (all of them, 2–3 s at 10 M).
const OVER_RETURNED_SINCE_SQL: &str = concat!(
    over_returned_head!(),
    "    fresh(txn) AS (SELECT DISTINCT p.transaction_id FROM postings p WHERE p.id > $3), \
    roots(root) AS ( \
        SELECT f.payment_transaction_id FROM fresh x CROSS JOIN refunds f CROSS JOIN transactions t \
        WHERE f.transaction_id = x.txn AND t.id = f.transaction_id AND t.program_id = $1 \
        UNION SELECT m.original_id FROM fresh x CROSS JOIN point_movements m \
        WHERE m.transaction_id = x.txn AND m.program_id = $1 AND m.original_id IS NOT NULL \
        UNION SELECT coalesce(g.payment, t.reverses_id) FROM fresh x CROSS JOIN transactions t \
        LEFT JOIN grants g ON g.grant_id = t.reverses_id \
        WHERE t.id = x.txn AND t.program_id = $1 AND t.reverses_id IS NOT NULL), \
    links(root, txn) AS ( \
        SELECT f.payment_transaction_id, f.transaction_id FROM refunds f \
        WHERE f.payment_transaction_id IN (SELECT root FROM roots) \
        UNION ALL SELECT m.original_id, m.transaction_id FROM point_movements m \
        WHERE m.program_id = $1 AND m.original_id IN (SELECT root FROM roots) \
        UNION ALL SELECT coalesce(g.payment, t.reverses_id), t.id FROM transactions t \
        LEFT JOIN grants g ON g.grant_id = t.reverses_id \
        WHERE t.reverses_id IN (SELECT root FROM roots UNION SELECT grant_id FROM grants \
            WHERE payment IN (SELECT root FROM roots))), ",
    over_returned_members!(),
    "    up(card, cur) AS ( \
        SELECT c.id, c.id FROM (SELECT DISTINCT a.owner_id AS card FROM members m \
            JOIN postings p ON p.transaction_id = m.txn JOIN accounts a ON a.id = p.account_id \
            WHERE a.kind = 'shopper_wallet') o CROSS JOIN point_cards c \
        WHERE c.id = o.card AND c.program_id = $1 \
        UNION ALL SELECT u.card, c.replaced_by FROM up u JOIN point_cards c ON c.id = u.cur \
        WHERE c.replaced_by IS NOT NULL), \
    heads(card, head) AS ( \
        SELECT u.card, u.cur FROM up u JOIN point_cards c ON c.id = u.cur WHERE c.replaced_by IS NULL), ",
    over_returned_tail!()
);

// ---------------------------------------------------------------------------------------------
// Checkpoints (writer jobs)

/// Starts a checkpoint of `program` covering postings up to `through` (not yet complete).
pub async fn begin_checkpoint(
    tx: &mut WriteTx,
    id: Uuid,
    program: ProgramId,
    through: i64,
    transactions: i64,
    postings: i64,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO ledger_checkpoints (id, program_id, through_posting_id, transactions, \
         postings, checked_at, completed_at) VALUES ($1, $2, $3, $4, $5, $6, NULL)"
    )
    .bind(id)
    .bind(program.0)
    .bind(through)
    .bind(transactions)
    .bind(postings)
    .bind(at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Balances of the checkpoint, written in one statement.
pub async fn add_checkpoint_balances(
    tx: &mut WriteTx,
    checkpoint: Uuid,
    balances: &[(Uuid, i64)],
) -> Result<(), sqlx::Error> {
    if balances.is_empty() {
        return Ok(());
    }
    let values = (0..balances.len())
        .map(|i| format!("(${}, ${}, ${})", 3 * i + 1, 3 * i + 2, 3 * i + 3))
        .collect::<Vec<_>>()
        .join(", ");
    let sql = format!(
        "INSERT INTO ledger_checkpoint_balances (checkpoint_id, account_id, balance) VALUES {values}"
    );
    write!(tx, |c| {
        let mut q = sqlx::query(&sql);
        for (account, balance) in balances {
            q = q.bind(checkpoint).bind(*account).bind(*balance);
        }
        q.execute(c).await.map(|_| ())
    })
}

/// Marks the checkpoint complete: from now on the incremental check starts from it.
pub async fn complete_checkpoint(
    tx: &mut WriteTx,
    checkpoint: Uuid,
    at: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE ledger_checkpoints SET completed_at = $2 WHERE id = $1"
    )
    .bind(checkpoint)
    .bind(at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Checkpoints of `program` other than `keep` (older ones, or one a crash left incomplete).
pub async fn other_checkpoints(
    db: &Db,
    program: ProgramId,
    keep: Uuid,
) -> Result<Vec<Uuid>, sqlx::Error> {
    crate::db::read!(db, |c| sqlx::query_scalar(
        "SELECT id FROM ledger_checkpoints WHERE program_id = $1 AND id <> $2"
    )
    .bind(program.0)
    .bind(keep)
    .fetch_all(c)
    .await)
}

/// Deletes up to `limit` balances of `checkpoint`, and the checkpoint itself once it has
/// none left; true when it is gone.
pub async fn drop_checkpoint_some(
    tx: &mut WriteTx,
    checkpoint: Uuid,
    limit: i64,
) -> Result<bool, sqlx::Error> {
    let deleted = write!(tx, |c| sqlx::query(
        "DELETE FROM ledger_checkpoint_balances WHERE checkpoint_id = $1 AND account_id IN \
         (SELECT account_id FROM ledger_checkpoint_balances WHERE checkpoint_id = $1 LIMIT $2)"
    )
    .bind(checkpoint)
    .bind(limit)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    if deleted as i64 >= limit {
        return Ok(false);
    }
    write!(tx, |c| sqlx::query(
        "DELETE FROM ledger_checkpoints WHERE id = $1"
    )
    .bind(checkpoint)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(true)
}
