//! One writer per database. The writer remembers rows between batches (`writer::Known`) and
//! the server remembers tokens (`app::TokenCache`); a second process writing the same
//! database would keep its own copies and go on accepting what the first has revoked. So a
//! process that opens the database for writing first takes a lock, and a second one is
//! refused with `StartError::WriterRunning`:
//! - PostgreSQL: the session advisory lock `WRITER_LOCK_KEY`, taken by the writer's own
//!   connection when it connects (and again by any connection that replaces it, which fails
//!   if another process took the lock meanwhile, so the writer stops rather than write beside
//!   it). The lock goes with the connection: closing the database or ending the process
//!   releases it.
//! - SQLite: an OS file lock (`flock`) on `<database file>.lock` beside the database, held by
//!   the open file until the database is closed or the process ends.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::future::BoxFuture;
use sqlx::PgConnection;
use sqlx::pool::PoolConnectionMetadata;

use crate::db::StartError;

/// The PostgreSQL advisory lock key of the writer: "machipay" in ASCII. Advisory locks are
/// per database, so servers of different databases on one PostgreSQL do not meet.
/// `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = 1768972665` shows who
/// holds it (the key's low 32 bits).
pub(crate) const WRITER_LOCK_KEY: i64 = 0x6d61_6368_6970_6179;

/// The `after_connect` hook of the PostgreSQL writer pool: takes the lock on every new
/// writer connection. `refused` records a refusal, since the pool retries until its acquire
/// timeout and then reports only a timeout.
pub(crate) fn pg_take_lock(
    refused: Arc<AtomicBool>,
) -> impl for<'c> Fn(
    &'c mut PgConnection,
    PoolConnectionMetadata,
) -> BoxFuture<'c, Result<(), sqlx::Error>>
+ Send
+ Sync
+ 'static {
    move |conn, _| {
        let refused = refused.clone();
        Box::pin(async move {
            let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
                .bind(WRITER_LOCK_KEY)
                .fetch_one(conn)
                .await?;
            if taken {
                refused.store(false, Ordering::Relaxed);
                Ok(())
            } else {
                refused.store(true, Ordering::Relaxed);
                Err(sqlx::Error::Protocol(
                    "another machipay process holds the writer lock of this database".into(),
                ))
            }
        })
    }
}

/// What a failed writer pool start means: the lock was refused, or the error itself.
pub(crate) fn pg_start_error(e: sqlx::Error, refused: &AtomicBool) -> StartError {
    if refused.load(Ordering::Relaxed) {
        StartError::WriterRunning {
            database: "this PostgreSQL database".into(),
        }
    } else {
        StartError::Db(e)
    }
}

/// The SQLite lock: `<database file>.lock`, created if missing and never removed (removing
/// it while another process waits on it would let two hold "the" lock). None for an
/// in-memory database, which no other process can open.
pub(crate) fn lock_sqlite(database: &Path) -> Result<Option<Arc<File>>, StartError> {
    let name = database.to_string_lossy();
    if name.is_empty() || name == ":memory:" {
        return Ok(None);
    }
    let path = format!("{name}.lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StartError::Lock(format!("cannot open {path}: {e}")))?;
    match file.try_lock() {
        Ok(()) => Ok(Some(Arc::new(file))),
        Err(TryLockError::WouldBlock) => Err(StartError::WriterRunning { database: path }),
        Err(TryLockError::Error(e)) => Err(StartError::Lock(format!("cannot lock {path}: {e}"))),
    }
}
