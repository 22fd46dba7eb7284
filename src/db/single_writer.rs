//! One writer per SQLite database. The writer remembers rows between batches
//! (`writer::Known`) and the server remembers tokens (`app::TokenCache`); on SQLite a second
//! process writing the same file would keep its own copies, and SQLite serialises writers
//! anyway, so a process that opens a SQLite database for writing takes an OS file lock
//! (`flock`) on `<database file>.lock` beside the database, held by the open file until the
//! database is closed or the process ends; a second one is refused with
//! `StartError::WriterRunning`.
//!
//! PostgreSQL takes no such lock: any number of processes may serve one database
//! ("many instances", README). What makes that safe lives in the writer: wallets read for a
//! payment are locked (`SELECT ... FOR UPDATE`), folded deltas are applied in account
//! order, a batch that loses a race (deadlock, serialization failure, unique violation) is
//! retried whole, and remembered facts and tokens are forgotten when another instance bumps
//! the generation counter (`writer::generation`).

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;
use std::sync::Arc;

use crate::db::StartError;

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
