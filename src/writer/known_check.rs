//! The check behind `Known`'s promise: every remembered fact equals what the
//! database holds. Debug and test builds run it after every batch (`writer`), so a
//! statement that changes a remembered row without forgetting it fails the test that ran it.

use std::collections::HashMap;
use std::fmt::Debug;

use crate::writer::{Fact, Facts, Known, TxConn, WriteTx};

impl WriteTx {
    /// Re-reads, in this transaction, every fact `Known` holds as committed, through the same
    /// lookups that staged it, and compares. Returns how many facts were compared, or the
    /// first difference.
    pub async fn verify_known(&mut self) -> Result<usize, String> {
        let remembered = std::mem::take(&mut self.known);
        let checked = compare_all(self, &remembered.committed).await;
        self.known = remembered;
        checked
    }

    /// Facts the writer remembers (committed, or staged by this batch and job).
    pub fn known_facts(&self) -> usize {
        self.known.len()
    }

    /// Forgets every remembered fact (tests that change rows behind the writer's back).
    pub fn forget_known(&mut self) {
        self.known.forget();
    }

    /// Tests only: runs `sql` on the transaction's connection past the guard, so nothing is
    /// forgotten: what a statement escaping the guard (or another process) would do.
    #[doc(hidden)]
    pub async fn execute_past_the_guard(&mut self, sql: &str) -> Result<u64, sqlx::Error> {
        self.barrier().await?;
        match &mut self.conn {
            TxConn::Pg(t) => sqlx::query(sql)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
            TxConn::Lite(t) => sqlx::query(sql)
                .execute(&mut **t)
                .await
                .map(|r| r.rows_affected()),
        }
    }
}

/// Debug and test builds: re-reads every committed fact after a batch and panics on a
/// difference (a stale fact would let a payment through a closed store or a revoked code).
pub(crate) async fn verify_after_batch(db: &crate::db::Db, known: &mut Known) {
    if !cfg!(debug_assertions) || known.committed.len() == 0 {
        return;
    }
    let Ok(mut tx) = WriteTx::begin(db).await else {
        // The next batch will meet the same trouble and answer for it.
        return;
    };
    tx.known = std::mem::take(known);
    // PostgreSQL: another instance may have changed a fact since this batch (it bumped the
    // generation in the same transaction): then the facts are forgotten, not compared, and a
    // bump committed while comparing voids the comparison.
    let before = tx.sync_generation().await;
    let mut checked = tx.verify_known().await;
    let after = tx.known.generation;
    if before.is_err() || tx.sync_generation().await.is_err() || tx.known.generation != after {
        tx.known.forget();
        checked = Ok(0);
    }
    *known = std::mem::take(&mut tx.known);
    tx.rollback().await;
    if let Err(difference) = checked {
        panic!("the writer's remembered facts (Known) differ from the database: {difference}");
    }
}

fn same<T: Debug>(what: &str, remembered: &T, stored: &T) -> Result<(), String> {
    let (r, s) = (format!("{remembered:?}"), format!("{stored:?}"));
    if r == s {
        Ok(())
    } else {
        Err(format!("{what}: remembered {r}, database {s}"))
    }
}

async fn compare_all(tx: &mut WriteTx, facts: &Facts) -> Result<usize, String> {
    let mut checked = 0;
    for table in facts.tables() {
        checked += table.check(tx).await?;
    }
    tx.known = Known::default();
    Ok(checked)
}

/// Re-reads every fact of one kind through its own lookup and compares (what the kind says
/// is compared of it: `Fact::compared`).
pub(crate) async fn compare<F: Fact>(
    tx: &mut WriteTx,
    facts: &HashMap<F::Key, F>,
) -> Result<usize, String> {
    for (key, fact) in facts {
        // Each lookup runs with nothing remembered, so it reads the database.
        tx.known = Known::default();
        let stored = F::reread(tx, key)
            .await
            .map_err(|e| format!("re-reading a remembered {}: {e}", F::NAME))?;
        same(
            &format!("{} {key:?}", F::NAME),
            &Some(fact.compared()),
            &stored.as_ref().map(F::compared),
        )?;
    }
    Ok(facts.len())
}
