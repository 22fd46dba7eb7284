//! Fault injection into the single writer, for tests only (cargo feature `faults`, which only
//! this package's own tests turn on): the next batch fails at a chosen point, in the database
//! itself where it can, so the tests prove the writer's failure rules (`writer`) on
//! both backends. Each writer has its own plan, so tests running side by side never meet each
//! other's faults.

use std::sync::Mutex;

/// Where the next batch fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    /// The `n`th statement (from 1) that the batch runs fails in the database (a read that
    /// fails, a statement timeout): PostgreSQL aborts the transaction. Counted from its first
    /// read at the start (the stored replies of its keys, then the wallets read ahead), then
    /// its jobs' statements.
    Statement(u32),
    /// Writing the batch's pending ledger rows fails after they are written.
    Flush,
    /// The COMMIT fails: nothing of the batch is in the database.
    Commit,
    /// The batch commits but the writer is told it failed (an acknowledgement lost on the
    /// way back): retries must find the stored replies.
    CommitLost,
}

#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct Plan {
    /// The batch waits until it holds exactly this many jobs (so a test knows which
    /// requests share it).
    pub jobs: usize,
    pub fault: Option<Fault>,
}

/// A writer's fault plan for its next batch.
#[derive(Debug, Default)]
pub struct Faults {
    next: Mutex<Option<Plan>>,
}

impl Faults {
    /// The next batch the writer forms waits for exactly `jobs` requests (at most
    /// `BATCH_SIZE_MAX`) and then meets `fault`, if any. Applies to one batch.
    pub fn arm(&self, jobs: usize, fault: Option<Fault>) {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next = Some(Plan { jobs, fault });
    }

    /// The plan for the batch being formed (taken: the batch after it runs normally).
    pub(crate) fn take(&self) -> Plan {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        next.take().unwrap_or_default()
    }
}

/// A batch's fault as its transaction runs: counts the batch's statements.
#[derive(Debug, Default)]
pub(crate) struct Armed {
    fault: Option<Fault>,
    statements: u32,
}

impl Armed {
    pub(crate) fn new(fault: Option<Fault>) -> Armed {
        Armed {
            fault,
            statements: 0,
        }
    }

    /// The batch is about to run a statement: fail it?
    pub(crate) fn fails_statement(&mut self) -> bool {
        let Some(Fault::Statement(n)) = self.fault else {
            return false;
        };
        self.statements += 1;
        self.statements == n
    }

    pub(crate) fn fails(&self, fault: Fault) -> bool {
        self.fault == Some(fault)
    }
}

/// A statement that fails when it runs (not when it is prepared), on either backend:
/// PostgreSQL's integer overflow aborts the transaction as any error does; SQLite's abs()
/// of the smallest integer is its runtime "integer overflow".
pub(crate) const FAILING_STATEMENT_PG: &str = "SELECT CAST(-9223372036854775808 AS BIGINT) - 1";
pub(crate) const FAILING_STATEMENT_SQLITE: &str = "SELECT abs(-9223372036854775808)";
