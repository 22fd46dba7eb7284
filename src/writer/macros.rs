//! The statements of the write transaction: `write!` (and `write_vetted!`), `read_tx!` and
//! `read_flushed!`, each run through the statement guard (`guarded!`) and the broken-
//! transaction rule (`checked!`). Reads outside it use `db::read!`.

/// Runs a statement that may write, with `$c` bound to the transaction's connection behind a
/// `guard::Guard` (an executor for `&mut PgConnection` or `&mut SqliteConnection`). The
/// ledger rows jobs have left pending (`crate::writer::rows::Pending`) are written first and the running
/// job's savepoint is taken, so the statement sees, and may be undone with, all of them.
/// The guard reads each statement's SQL and forgets exactly the facts of `Known` its table
/// and columns can change (`guard::touched`): nothing for a SELECT or a new row of a table
/// whose rows are remembered only once they exist, everything for a shape it cannot read.
macro_rules! write {
    ($tx:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::writer::WriteTx = $tx;
        match tx.barrier().await {
            Ok(()) => $crate::writer::guarded!(tx, false, |$c| $body),
            Err(e) => Err(e.into()),
        }
    }};
}

/// The same as `write!`, kept so the call sites written when statements were labelled by hand
/// still compile: what a statement forgets is now read from its SQL either way.
macro_rules! write_vetted {
    ($tx:expr, |$c:ident| $body:expr) => {
        $crate::writer::write!($tx, |$c| $body)
    };
}

/// A read inside the write transaction that does not wait for pending ledger rows: only for
/// tables `crate::writer::rows::Pending` never writes (programs, stores, codes, campaigns...), or for the
/// ledger reads in `writer::rows` that lay the pending rows over what they read. It cannot
/// write: the guard refuses anything but one SELECT.
macro_rules! read_tx {
    ($tx:expr, |$c:ident| $body:expr) => {
        $crate::writer::guarded!($tx, true, |$c| $body)
    };
}

/// A read inside the write transaction that sees every ledger row, pending ones included
/// (they are written first, as for `write!`). It cannot write either.
macro_rules! read_flushed {
    ($tx:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::writer::WriteTx = $tx;
        match tx.barrier().await {
            Ok(()) => $crate::writer::guarded!(tx, true, |$c| $body),
            Err(e) => Err(e.into()),
        }
    }};
}

/// Binds `$c` to a `guard::Guard` over the transaction's connection and `Known`, and runs
/// `$body` as one statement through `checked!` (a failure breaks the transaction).
macro_rules! guarded {
    ($tx:expr, $read_only:expr, |$c:ident| $body:expr) => {{
        let tx: &mut $crate::writer::WriteTx = $tx;
        $crate::writer::checked!(tx, {
            let known = &mut tx.known;
            match &mut tx.conn {
                $crate::writer::TxConn::Pg(t) => {
                    let mut guard = $crate::writer::guard::Guard::new(&mut **t, known, $read_only);
                    let $c = &mut guard;
                    $body
                }
                $crate::writer::TxConn::Lite(t) => {
                    let mut guard = $crate::writer::guard::Guard::new(&mut **t, known, $read_only);
                    let $c = &mut guard;
                    $body
                }
            }
        })
    }};
}

/// Runs `$statement` (one statement of the write transaction; every one goes through here)
/// unless an earlier one failed, and breaks the transaction if it fails (`WriteTx::broken`).
macro_rules! checked {
    ($tx:expr, $statement:expr) => {{
        let ran = match $tx.before_statement().await {
            Err(e) => $crate::writer::Statement::refused(e),
            Ok(()) => $statement,
        };
        $tx.after_statement(&ran);
        ran
    }};
}
pub(crate) use {checked, guarded, read_flushed, read_tx, write, write_vetted};
