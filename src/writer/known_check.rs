//! The check behind `Known`'s promise: every remembered fact equals what the
//! database holds. Debug and test builds run it after every batch (`writer`), so a
//! statement that changes a remembered row without forgetting it fails the test that ran it.

use std::fmt::Debug;

use crate::features::campaigns::rebates::store as rebates;
use crate::features::directory::store as directory;
use crate::features::merchants::store as registry;
use crate::features::qr::store as qr;
use crate::writer::rows as ledger;
use crate::writer::{Facts, Known, TxConn, WriteTx};

impl WriteTx {
    /// Re-reads, in this transaction, every fact `Known` holds as committed, through the same
    /// lookups that staged it, and compares. Returns how many facts were compared, or the
    /// first difference.
    pub async fn verify_known(&mut self) -> Result<usize, String> {
        let remembered = std::mem::take(&mut self.known);
        let checked = compare(self, &remembered.committed).await;
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
    let checked = tx.verify_known().await;
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

async fn compare(tx: &mut WriteTx, facts: &Facts) -> Result<usize, String> {
    let e = |e: sqlx::Error| format!("re-reading a remembered fact: {e}");
    // Each lookup runs with nothing remembered, so it reads the database.
    for ((id, date), fact) in &facts.programs {
        tx.known = Known::default();
        let stored = directory::program_with_settings_tx(tx, *id, *date)
            .await
            .map_err(e)?;
        same(
            &format!("program {id:?} on {date}"),
            &Some(fact.clone()),
            &stored,
        )?;
    }
    for (id, fact) in &facts.merchants {
        tx.known = Known::default();
        let stored = directory::get_merchant_tx(tx, *id).await.map_err(e)?;
        same(&format!("merchant {id:?}"), &Some(fact.clone()), &stored)?;
    }
    for (id, fact) in &facts.shoppers {
        tx.known = Known::default();
        let stored = directory::get_shopper_tx(tx, *id).await.map_err(e)?;
        same(&format!("shopper {id:?}"), &Some(fact.clone()), &stored)?;
    }
    for ((program, kind, asset, owner), fact) in &facts.accounts {
        tx.known = Known::default();
        let stored = ledger::find_account_tx(tx, *program, *kind, *asset, *owner)
            .await
            .map_err(e)?;
        // Only the identity is remembered: balances move in every batch.
        let identity = |a: &ledger::Account| ledger::Account {
            balance: 0,
            ..a.clone()
        };
        same(
            &format!("account {program:?}/{kind:?}/{asset:?}/{owner:?}"),
            &Some(identity(fact)),
            &stored.as_ref().map(identity),
        )?;
    }
    for ((program, merchant), fact) in &facts.participation {
        tx.known = Known::default();
        let stored = registry::participation_tx(tx, *program, *merchant)
            .await
            .map_err(e)?;
        same(
            &format!("participation of {merchant:?} in {program:?}"),
            fact,
            &stored,
        )?;
    }
    for (code_id, fact) in &facts.store_codes {
        tx.known = Known::default();
        let stored = qr::store_code_by_code_id_tx(tx, code_id).await.map_err(e)?;
        same(
            &format!("store code {code_id}"),
            &Some(fact.clone()),
            &stored,
        )?;
    }
    for (program, fact) in &facts.rebate_campaigns {
        tx.known = Known::default();
        // The lookup filters by date; what it stages is the whole list.
        rebates::active_campaigns_tx(tx, *program, chrono::Utc::now())
            .await
            .map_err(e)?;
        let stored = tx.known.job.rebate_campaigns.get(program).cloned();
        same(
            &format!("rebate campaigns of {program:?}"),
            &Some(fact.clone()),
            &stored,
        )?;
    }
    tx.known = Known::default();
    Ok(facts.len())
}
