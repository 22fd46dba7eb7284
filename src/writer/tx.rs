//! The write transaction of the single writer (`WriteTx`): its connection on either backend,
//! the ledger rows its jobs leave pending, the job savepoints, and the rule that a failed
//! statement breaks it (no later statement runs, it never commits).

use std::collections::HashMap;

use uuid::Uuid;

use crate::db::Db;
#[cfg(feature = "faults")]
use crate::writer::faults;
use crate::writer::known::Known;

/// A write transaction on either backend, with what the writer remembers across batches.
pub struct WriteTx {
    pub(crate) conn: TxConn,
    /// Rows the single writer has already read (see `Known`). A statement through `write!`
    /// forgets the facts its SQL can change first (`guard::touched`).
    pub(crate) known: Known,
    /// Ledger rows of finished jobs of this batch, not written yet (`crate::writer::rows::Pending`).
    pub(crate) pending: crate::writer::rows::Pending,
    /// Ledger rows of the running job, not written yet; dropped if the job fails.
    pub(crate) job_pending: crate::writer::rows::Pending,
    /// A job is running.
    pub(crate) in_job: bool,
    /// The running job has taken its savepoint (it ran a statement that writes or must see
    /// the pending rows).
    savepoint: bool,
    /// A statement failed (a read, a write, writing pending rows): PostgreSQL has aborted the
    /// transaction (its COMMIT would be a silent ROLLBACK), SQLite may have rolled it back
    /// (later savepoints would run outside it), or it holds half of some rows. It must not
    /// commit, and every later statement fails without reaching the database; the writer
    /// answers the whole batch 503 (`crate::writer::rows::writer`).
    broken: bool,
    /// The statement that broke the transaction lost a race with another instance
    /// (`lost_race`): the batch may be retried whole.
    raced: bool,
    /// Stored replies of the batch's idempotency keys, read at once when the batch began
    /// (None: the key was unused then). Replies stored since are pending.
    pub(crate) replies_read: HashMap<(Uuid, String), Option<crate::writer::rows::StoredReply>>,
    /// Keys whose replies the running job wrote early (inside its savepoint); forgotten
    /// again from `replies_read` if the job is undone.
    job_replies_written: Vec<(Uuid, String)>,
    /// The fault a test armed for this batch.
    #[cfg(feature = "faults")]
    pub(crate) fault: faults::Armed,
}

pub(crate) enum TxConn {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// What a statement of the write transaction answered, as `read_tx!` sees it.
pub(crate) trait Statement {
    fn failed(&self) -> bool;
    /// It failed because it lost a race with another instance (`lost_race`).
    fn raced(&self) -> bool;
    /// The answer of a statement that did not run.
    fn refused(e: sqlx::Error) -> Self;
}

impl<T> Statement for Result<T, sqlx::Error> {
    fn failed(&self) -> bool {
        self.is_err()
    }
    fn raced(&self) -> bool {
        self.as_ref().err().is_some_and(lost_race)
    }
    fn refused(e: sqlx::Error) -> Self {
        Err(e)
    }
}

/// PostgreSQL said this statement lost a race with another transaction, one another
/// instance runs: a deadlock (40P01), a serialization failure (40001), or a unique
/// violation (23505: two instances inserting the same idempotency key or the same new
/// row). Run again from the start, the batch sees the other's committed rows and comes out
/// right (a found key replays its reply). SQLite has one writer process and never races.
pub(crate) fn lost_race(e: &sqlx::Error) -> bool {
    let Some(db) = e.as_database_error() else {
        return false;
    };
    db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
        .is_some_and(|pg| matches!(pg.code(), "40P01" | "40001" | "23505"))
}

impl WriteTx {
    /// Opens a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a transaction never fails half-way for want of it.
    pub async fn begin(db: &Db) -> Result<WriteTx, sqlx::Error> {
        Ok(match db {
            Db::Pg(_, write) => WriteTx::new(TxConn::Pg(write.begin().await?)),
            Db::Lite { write, .. } => {
                WriteTx::new(TxConn::Lite(write.begin_with("BEGIN IMMEDIATE").await?))
            }
        })
    }

    fn new(conn: TxConn) -> WriteTx {
        WriteTx {
            conn,
            known: Known::default(),
            pending: crate::writer::rows::Pending::default(),
            job_pending: crate::writer::rows::Pending::default(),
            in_job: false,
            savepoint: false,
            broken: false,
            raced: false,
            replies_read: HashMap::new(),
            job_replies_written: Vec::new(),
            #[cfg(feature = "faults")]
            fault: faults::Armed::default(),
        }
    }

    /// A statement failed in this transaction (whether or not the job passed the error on):
    /// the batch must not commit.
    pub fn failed(&self) -> bool {
        self.broken
    }

    /// The transaction is PostgreSQL's (where other instances may write beside this one).
    pub(crate) fn is_postgres(&self) -> bool {
        matches!(self.conn, TxConn::Pg(_))
    }

    /// PostgreSQL, at the start of a batch: reads the shared generation and forgets every
    /// remembered fact if another instance moved it since they were read. One cheap read.
    pub(crate) async fn sync_generation(&mut self) -> Result<(), sqlx::Error> {
        let TxConn::Pg(t) = &mut self.conn else {
            return Ok(());
        };
        let now: i64 = sqlx::query_scalar("SELECT value FROM machipay_generation WHERE id = 1")
            .fetch_one(&mut **t)
            .await?;
        if self.known.generation != Some(now) {
            self.known.forget();
            self.known.generation = Some(now);
        }
        Ok(())
    }

    /// PostgreSQL, just before COMMIT of a batch that forgot facts: bumps the shared
    /// generation so other instances forget theirs. If someone else bumped it during this
    /// batch, this writer forgets everything too. `bump` is taken from the batch's `Known`.
    pub(crate) async fn bump_generation(&mut self, known: &mut Known) -> Result<(), sqlx::Error> {
        let TxConn::Pg(t) = &mut self.conn else {
            return Ok(());
        };
        if !std::mem::take(&mut known.bump) {
            return Ok(());
        }
        let bumped: Result<i64, sqlx::Error> = sqlx::query_scalar(
            "UPDATE machipay_generation SET value = value + 1 WHERE id = 1 RETURNING value",
        )
        .fetch_one(&mut **t)
        .await;
        self.after_statement(&bumped);
        let now = bumped?;
        if known.generation != Some(now - 1) {
            known.forget();
        }
        known.generation = Some(now);
        Ok(())
    }

    /// PostgreSQL, just before COMMIT: queues the batch's store events (JSON payloads) as
    /// notifications on `channel`, in one statement. PostgreSQL delivers them when, and only
    /// if, the transaction commits.
    pub(crate) async fn notify(
        &mut self,
        channel: &str,
        payloads: Vec<String>,
    ) -> Result<(), sqlx::Error> {
        let TxConn::Pg(t) = &mut self.conn else {
            return Ok(());
        };
        if payloads.is_empty() {
            return Ok(());
        }
        let sent = sqlx::query("SELECT pg_notify($1, p) FROM unnest($2::text[]) AS p")
            .bind(channel)
            .bind(payloads)
            .execute(&mut **t)
            .await
            .map(|_| ());
        self.after_statement(&sent);
        sent
    }
    /// The running job changed something other instances cache beside the writer's facts (a
    /// revoked token): the batch bumps the shared generation (`bump_generation`).
    pub fn changes_shared_state(&mut self) {
        self.known.bump = true;
    }

    /// The statement that broke the transaction lost a race (`lost_race`).
    pub fn raced(&self) -> bool {
        self.raced
    }

    /// Before each statement: none runs once one has failed.
    pub(crate) async fn before_statement(&mut self) -> Result<(), sqlx::Error> {
        if self.broken {
            return Err(sqlx::Error::Protocol(
                "an earlier statement of this write transaction failed".into(),
            ));
        }
        #[cfg(feature = "faults")]
        if self.fault.fails_statement() {
            return Err(self.fail_in_database().await);
        }
        Ok(())
    }

    /// After each statement: a failure breaks the transaction.
    pub(crate) fn after_statement(&mut self, ran: &impl Statement) {
        if ran.failed() {
            if !self.broken && ran.raced() {
                self.raced = true;
            }
            self.broken = true;
        }
    }

    /// Runs a statement that fails in the database and returns its error (fault injection).
    #[cfg(feature = "faults")]
    async fn fail_in_database(&mut self) -> sqlx::Error {
        self.broken = true;
        let ran = match &mut self.conn {
            TxConn::Pg(tx) => sqlx::query(faults::FAILING_STATEMENT_PG)
                .execute(&mut **tx)
                .await
                .map(|_| ()),
            TxConn::Lite(tx) => sqlx::query(faults::FAILING_STATEMENT_SQLITE)
                .execute(&mut **tx)
                .await
                .map(|_| ()),
        };
        ran.err()
            .unwrap_or_else(|| sqlx::Error::Protocol("the failing statement succeeded".into()))
    }

    /// Rolls back (a failed batch). Dropping would too; waiting for it lets SQLite's
    /// connection be checked before the next batch (`Db::connect`'s `after_release`).
    pub async fn rollback(self) {
        let rolled_back = match self.conn {
            TxConn::Pg(tx) => tx.rollback().await,
            TxConn::Lite(tx) => tx.rollback().await,
        };
        if let Err(e) = rolled_back {
            // SQLite rolls back by itself on some errors (SQLITE_FULL, IOERR): then there is
            // nothing left to roll back.
            tracing::warn!(error = %e, "rolling back a failed write batch");
        }
    }

    /// Writes what is pending, then commits. A broken transaction never commits (on
    /// PostgreSQL its COMMIT would answer as if it had).
    pub async fn commit(mut self) -> Result<(), sqlx::Error> {
        self.barrier().await?;
        #[cfg(feature = "faults")]
        if self.fault.fails(faults::Fault::Commit) {
            return Err(sqlx::Error::Protocol("injected: COMMIT failed".into()));
        }
        #[cfg(feature = "faults")]
        let lost = self.fault.fails(faults::Fault::CommitLost);
        let committed = match self.conn {
            TxConn::Pg(tx) => tx.commit().await,
            TxConn::Lite(tx) => tx.commit().await,
        };
        #[cfg(feature = "faults")]
        if lost && committed.is_ok() {
            return Err(sqlx::Error::Protocol(
                "injected: COMMIT acknowledgement lost".into(),
            ));
        }
        committed
    }

    /// A job starts. Its savepoint is taken lazily, before its first statement that writes
    /// or must see pending rows: a job that only reads and leaves rows pending (a payment)
    /// costs no savepoint round trips, and failing it is dropping its pending rows.
    pub fn begin_job(&mut self) {
        debug_assert!(!self.in_job && self.job_pending.is_empty());
        self.in_job = true;
        self.savepoint = false;
    }

    /// Undoes the running job: back to its savepoint if it took one, its pending rows
    /// dropped. The job stays open (its refusal may still be recorded).
    pub async fn undo_job(&mut self) -> Result<(), sqlx::Error> {
        self.job_pending.clear();
        for key in self.job_replies_written.drain(..) {
            self.replies_read.insert(key, None);
        }
        if std::mem::take(&mut self.savepoint) {
            self.exec("ROLLBACK TO SAVEPOINT job").await?;
            // PostgreSQL and SQLite both keep the savepoint after ROLLBACK TO; release it
            // so the next job starts from a clean stack.
            self.exec("RELEASE SAVEPOINT job").await?;
        }
        Ok(())
    }

    /// The running job is done: what it left pending joins the batch's.
    pub async fn end_job(&mut self) -> Result<(), sqlx::Error> {
        self.job_replies_written.clear();
        if std::mem::take(&mut self.savepoint) {
            self.exec("RELEASE SAVEPOINT job").await?;
        }
        let mut job = std::mem::take(&mut self.job_pending);
        self.pending.append(&mut job);
        self.job_pending = job;
        self.in_job = false;
        Ok(())
    }

    /// Before a statement that writes or must see every ledger row: the finished jobs'
    /// pending rows are written, the running job's savepoint taken, then its own pending
    /// rows written inside it.
    pub(crate) async fn barrier(&mut self) -> Result<(), sqlx::Error> {
        // What was read ahead is what the database held before this statement (or the
        // pending rows it writes first): no longer safe to lay pending rows over.
        self.known.ahead.clear();
        if self.broken {
            return Err(sqlx::Error::Protocol(
                "an earlier write of pending ledger rows failed".into(),
            ));
        }
        if !self.pending.is_empty() {
            self.write_pending(false).await?;
        }
        if self.in_job && !self.savepoint {
            self.exec("SAVEPOINT job").await?;
            self.savepoint = true;
        }
        if !self.job_pending.is_empty() {
            self.write_pending(true).await?;
        }
        Ok(())
    }

    async fn write_pending(&mut self, job: bool) -> Result<(), sqlx::Error> {
        let slot = if job {
            &mut self.job_pending
        } else {
            &mut self.pending
        };
        let mut rows = std::mem::take(slot);
        // Written idempotency records leave the pending rows, where `find_reply` looks
        // first: it must still find them, or a duplicate of a request later in the batch
        // would run again (and the batch fail on the key's primary key at commit).
        let replies: Vec<_> = rows.replies().collect();
        let written = crate::writer::rows::write_pending(&mut self.conn, &mut rows).await;
        #[cfg(feature = "faults")]
        let written = match written {
            Ok(()) if !job && self.fault.fails(faults::Fault::Flush) => {
                Err(self.fail_in_database().await)
            }
            other => other,
        };
        if let Err(e) = &written {
            if !self.broken && lost_race(e) {
                self.raced = true;
            }
            self.broken = true;
            return written;
        }
        for (key, reply) in replies {
            if job {
                self.job_replies_written.push(key.clone());
            }
            self.replies_read.insert(key, Some(reply));
        }
        // The database now holds what the remembered lots lacked.
        self.known.wallet_lots.clear();
        written
    }

    /// Transaction control (savepoints), beside the guard: it changes no row.
    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        match &mut self.conn {
            TxConn::Pg(t) => sqlx::query(sql).execute(&mut **t).await.map(|_| ()),
            TxConn::Lite(t) => sqlx::query(sql).execute(&mut **t).await.map(|_| ()),
        }
    }
}
