//! What the single writer remembers between jobs and batches (`Known`, its `Facts`), what a
//! remembered row promises (`Fact`), and the facts it loads when it starts (`warm`).

use std::any::{Any, TypeId};
use std::borrow::Borrow;
use std::collections::HashMap;
use std::fmt::Debug;
use std::hash::Hash;

use futures::future::BoxFuture;
use uuid::Uuid;

use crate::error::AppError;
use crate::writer::WriteTx;
use crate::writer::guard;
use crate::writer::read_tx;
use machipay_domain::ids::ProgramId;

/// What the single writer remembers between jobs and batches, so a payment does not re-read
/// rows it has already read. The rows are the capabilities' (a store, a shopper, a program
/// with its settings per date, a static code...): each kind implements `Fact` where it is
/// read, and the writer keeps one table per kind without naming any.
///
/// Why it is safe:
/// - Only the writer writes (it is the one task holding the write transaction; readers never
///   write). SQLite: the single-writer lock keeps other processes out (`db::single_writer`).
///   PostgreSQL: other instances may write; every batch that forgets facts bumps the shared
///   generation in its own transaction, and each batch starts by reading it and forgets all
///   it remembers when it moved (`WriteTx::sync_generation`), so a fact another instance
///   changed is forgotten before this writer's next batch uses it.
/// - Every statement inside the write transaction runs through `guard::Guard`, which reads its
///   SQL: the read macros (`read_tx!`, `read_flushed!`) refuse anything but one SELECT, and
///   `write!` forgets, before the statement runs, the facts of the table it writes
///   (`guard::touched`: per table, the columns the facts hold and whether a new row can
///   change them; each kind of fact names the set that forgets it, `Fact::FORGOTTEN_BY`).
///   A new shopper, store, purchase or ledger row forgets nothing; a settings version forgets
///   the programs' facts, a revoked code the codes'; SQL the guard cannot read forgets
///   everything. The pending ledger rows (`crate::writer::rows::Pending`) are written beside
///   the guard and touch only ledger tables and balances, which are not facts.
/// - Debug and test builds check all of it: after every batch the writer re-reads each
///   remembered fact (`Fact::reread`) and panics on a difference
///   (`writer::known_check::verify_after_batch`).
/// - The settings in effect are remembered per (program, JST date), the key they are a
///   function of (given the versions, which only `write!` statements insert).
/// - Nothing uncommitted leaks: a row read by a job is staged with that job and dropped if the
///   job rolls back to its savepoint (it may have written the row itself); a successful job's
///   rows are staged with the batch and become `committed` only once the batch commits.
/// - Balances are never remembered across jobs. Accounts that may go negative are remembered
///   for their identity only (id, kind, asset, owner, `allow_negative` never change; their
///   balance inside the writer is stale anyway, as their deltas are folded until the batch
///   ends, and no job reads it). Shopper wallets are remembered only within one job, with the
///   exact balances that job's guarded updates returned; the wallets a batch read ahead
///   (`ahead`) are the database's rows as of the batch's start, kept only until its first
///   write or flush, with the pending rows laid over them when a job takes them.
#[derive(Default)]
pub struct Known {
    pub(crate) committed: Facts,
    batch: Facts,
    pub(crate) job: Facts,
    /// The running job's wallets per (program, shopper): every wallet the shopper holds in
    /// the program, with balances kept current by `crate::writer::rows::apply_guarded`.
    pub(crate) wallets: HashMap<(ProgramId, Uuid), Vec<crate::writer::rows::Account>>,
    /// The open lots of those wallets as the database held them when they were read
    /// (`crate::writer::rows::open_lots` lays the pending rows over them). Dropped whenever pending rows
    /// are written, since they would then count twice.
    pub(crate) wallet_lots: HashMap<machipay_domain::ids::AccountId, Vec<crate::writer::rows::Lot>>,
    /// The batch's wallets read ahead per shopper (`crate::writer::rows::read_ahead`): every
    /// wallet with its open lots as the database held them at the batch's start, none for a
    /// shopper who holds none. Kept across the batch's jobs only while the database still
    /// holds exactly that: forgotten at the first write or flush (`WriteTx::barrier`), since
    /// the pending rows laid over them would then count twice.
    pub(crate) ahead:
        HashMap<Uuid, Vec<(crate::writer::rows::Account, Vec<crate::writer::rows::Lot>)>>,
    /// Server secrets by name. They are created before the writer starts (`Db::connect`) and
    /// never change, so nothing ever forgets them.
    pub(crate) secrets: HashMap<String, Vec<u8>>,
    /// PostgreSQL: the shared generation (`machipay_generation`) the committed facts were
    /// read under. Another instance that forgets facts bumps it; the next batch sees it moved
    /// and forgets everything (`WriteTx::sync_generation`).
    pub(crate) generation: Option<i64>,
    /// This batch forgot facts: it bumps the generation before it commits.
    pub(crate) bump: bool,
}

/// Committed facts kept at most; beyond this the writer starts afresh (bounds memory).
const KNOWN_ROWS_MAX: usize = 100_000;

/// A kind of row the writer may remember, implemented by the capability that reads it: its
/// lookup inside the write transaction asks `Known::get` first and stages what it read with
/// `Known::stage`.
pub(crate) trait Fact: Clone + Debug + Send + Sync + 'static {
    /// What the lookup is keyed by (the fact must be a function of it while nothing in
    /// `FORGOTTEN_BY` is written).
    type Key: Eq + Hash + Clone + Debug + Send + Sync + 'static;
    /// What a difference calls it ("merchant").
    const NAME: &'static str;
    /// The writes that may change it (`guard::touched`).
    const FORGOTTEN_BY: guard::FactSet;
    /// The lookup that stages it, run again with nothing remembered (`known_check`).
    fn reread<'a>(
        tx: &'a mut WriteTx,
        key: &'a Self::Key,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>>;
    /// What of it must equal the database (all of it unless it says otherwise).
    fn compared(&self) -> Self {
        self.clone()
    }
}

/// The remembered rows of one kind.
struct Table<F: Fact>(HashMap<F::Key, F>);

/// A [`Table`] of any kind, for what the writer does to all of them alike.
pub(crate) trait AnyTable: Any + Send + Sync {
    fn len(&self) -> usize;
    fn forgotten_by(&self) -> guard::FactSet;
    /// Adds `other`'s rows (a table of the same kind).
    fn absorb(&mut self, other: Box<dyn AnyTable>);
    /// Re-reads every row and compares (`known_check`): how many, or the first difference.
    fn check<'a>(&'a self, tx: &'a mut WriteTx) -> BoxFuture<'a, Result<usize, String>>;
}

impl<F: Fact> AnyTable for Table<F> {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn forgotten_by(&self) -> guard::FactSet {
        F::FORGOTTEN_BY
    }
    fn absorb(&mut self, other: Box<dyn AnyTable>) {
        let other: Box<dyn Any> = other;
        if let Ok(other) = other.downcast::<Table<F>>() {
            if self.0.is_empty() {
                self.0 = other.0;
            } else {
                self.0.extend(other.0);
            }
        }
    }
    fn check<'a>(&'a self, tx: &'a mut WriteTx) -> BoxFuture<'a, Result<usize, String>> {
        Box::pin(crate::writer::known_check::compare(tx, &self.0))
    }
}

/// The facts of one level (a job's, a batch's, the committed ones): one table per kind,
/// found by the kind's `TypeId` (a handful of kinds, so a short list beats a map).
#[derive(Default)]
pub(crate) struct Facts {
    tables: Vec<(TypeId, Box<dyn AnyTable>)>,
}

impl Facts {
    fn table<F: Fact>(&self) -> Option<&HashMap<F::Key, F>> {
        let kind = TypeId::of::<F>();
        let (_, table) = self.tables.iter().find(|(k, _)| *k == kind)?;
        let table: &dyn Any = table.as_ref();
        table.downcast_ref::<Table<F>>().map(|t| &t.0)
    }
    fn table_mut<F: Fact>(&mut self) -> &mut HashMap<F::Key, F> {
        let kind = TypeId::of::<F>();
        let at = match self.tables.iter().position(|(k, _)| *k == kind) {
            Some(at) => at,
            None => {
                self.tables
                    .push((kind, Box::new(Table::<F>(HashMap::new()))));
                self.tables.len() - 1
            }
        };
        let table: &mut dyn Any = self.tables[at].1.as_mut();
        &mut table
            .downcast_mut::<Table<F>>()
            .expect("a table is found by its own kind")
            .0
    }
    /// Every table, whatever its kind.
    pub(crate) fn tables(&self) -> impl Iterator<Item = &dyn AnyTable> {
        self.tables.iter().map(|(_, t)| t.as_ref())
    }
    pub(crate) fn len(&self) -> usize {
        self.tables.iter().map(|(_, t)| t.len()).sum()
    }
    fn clear(&mut self) {
        self.tables.clear();
    }
    fn forget(&mut self, set: guard::FactSet) {
        self.tables.retain(|(_, t)| !set.contains(t.forgotten_by()));
    }
    fn absorb(&mut self, other: &mut Facts) {
        for (kind, theirs) in std::mem::take(&mut other.tables) {
            match self.tables.iter_mut().find(|(k, _)| *k == kind) {
                Some((_, mine)) => mine.absorb(theirs),
                None => self.tables.push((kind, theirs)),
            }
        }
    }
}

impl Known {
    /// Looks a fact up: the running job's, then the batch's, then committed ones.
    pub(crate) fn get<F: Fact, Q>(&self, key: &Q) -> Option<F>
    where
        F::Key: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        [&self.job, &self.batch, &self.committed]
            .into_iter()
            .find_map(|facts| facts.table::<F>()?.get(key))
            .cloned()
    }
    /// Stages a fact the running job read; it outlives the job only if the job succeeds.
    pub(crate) fn stage<F: Fact>(&mut self, key: F::Key, fact: F) {
        self.job.table_mut::<F>().insert(key, fact);
    }
    /// Stages the rows a warmer read (`warm`), unless there are more than `WARM_ROWS_MAX`
    /// (a town too big to load whole): how many were staged.
    pub(crate) fn stage_warm<F: Fact>(
        &mut self,
        rows: Vec<F>,
        key: impl Fn(&F) -> F::Key,
    ) -> usize {
        self.stage_warm_keyed(rows.into_iter().map(|row| (key(&row), row)).collect())
    }
    /// `stage_warm` for facts that do not hold their key: (key, fact) pairs.
    pub(crate) fn stage_warm_keyed<F: Fact>(&mut self, rows: Vec<(F::Key, F)>) -> usize {
        if rows.len() > usize::try_from(WARM_ROWS_MAX).unwrap_or(usize::MAX) {
            return 0;
        }
        let n = rows.len();
        let table = self.job.table_mut::<F>();
        for (key, row) in rows {
            table.insert(key, row);
        }
        n
    }
    /// Forgets the facts of `set` at every level (and the job's wallets, if accounts). The
    /// batch then bumps the shared generation, so other instances forget theirs too.
    pub(crate) fn forget_facts(&mut self, set: guard::FactSet) {
        self.bump = true;
        if set == guard::FactSet::ALL {
            return self.forget();
        }
        for facts in [&mut self.committed, &mut self.batch, &mut self.job] {
            facts.forget(set);
        }
        if set.contains(guard::FactSet::ACCOUNTS) {
            self.wallets.clear();
            self.wallet_lots.clear();
            self.ahead.clear();
        }
    }
    /// Facts remembered, committed or staged.
    pub fn len(&self) -> usize {
        self.committed.len() + self.batch.len() + self.job.len()
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Forgets everything: some statement may have changed a remembered row.
    pub fn forget(&mut self) {
        self.committed.clear();
        self.batch.clear();
        self.job.clear();
        self.wallets.clear();
        self.wallet_lots.clear();
        self.ahead.clear();
    }
    /// The running job ended: keep what it read if it succeeded, drop it if it rolled back.
    pub fn end_job(&mut self, succeeded: bool) {
        if succeeded {
            self.batch.absorb(&mut self.job);
        } else {
            self.job.clear();
        }
        self.wallets.clear();
        self.wallet_lots.clear();
    }
    /// The batch ended: what its jobs read is committed knowledge only if it committed.
    pub fn end_batch(&mut self, committed: bool) {
        if committed {
            self.committed.absorb(&mut self.batch);
            if self.committed.len() > KNOWN_ROWS_MAX {
                self.committed.clear();
            }
        } else {
            self.batch.clear();
        }
        self.bump = false;
        self.job.clear();
        self.wallets.clear();
        self.wallet_lots.clear();
        self.ahead.clear();
    }
}

/// Loads one kind of fact when the writer starts (`Writer::start`), staging it with
/// `Known::stage_warm`: how many rows it staged. The capabilities list theirs; whoever
/// starts the writer hands it the list.
pub type Warmer = for<'a> fn(&'a mut WriteTx) -> BoxFuture<'a, Result<usize, sqlx::Error>>;

/// Rows of each kind a warmer loads at most (a town has a few thousand stores); a warmer
/// reads one more to tell (`Known::stage_warm` stages nothing past it).
pub(crate) const WARM_ROWS_MAX: i64 = 20_000;

/// Facts the writer loads when it starts, if a town is small enough for it
/// (`WARM_ROWS_MAX` of each kind): the accounts that may go negative (identity only, the
/// writer's own), then what `warmers` load (the stores and their static codes). Without it,
/// the first payment at each store after a restart read them one by one inside the writer,
/// and every payment of that first second waited (measured: spread p99 58 ms over 10 s after
/// a restart against 38 ms over 30 s).
pub(crate) async fn warm(tx: &mut WriteTx, warmers: &[Warmer]) -> Result<usize, sqlx::Error> {
    let accounts: Vec<crate::writer::rows::Account> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, program_id, kind, asset, owner_id, allow_negative, balance FROM accounts \
         WHERE allow_negative LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let mut n = tx
        .known
        .stage_warm(accounts, |a| (a.program_id, a.kind, a.asset, a.owner_id));
    for warmer in warmers {
        n += warmer(tx).await?;
    }
    Ok(n)
}
