//! `App`, the state every use-case and HTTP handler shares: the database (for reads) and the
//! writer (for every write). Cheap to clone.

use crate::ledger::writer::Writer;
use crate::storage::Db;

#[derive(Clone)]
pub struct App {
    /// Reads go straight to the database (SQLite readers run beside the writer under WAL).
    pub db: Db,
    /// Every write, money or not, is a job on the single writer.
    pub writer: Writer,
}
