//! What the single writer remembers between jobs and batches (`Known`, its `Facts`), and
//! the facts it loads when it starts (`warm`).

use std::collections::HashMap;

use chrono::NaiveDate;
use uuid::Uuid;

use crate::writer::WriteTx;
use crate::writer::guard;
use crate::writer::read_tx;
use machipay_domain::ids::{MerchantId, ProgramId, ShopperId};
use machipay_domain::ledger::{AccountKind, Asset};

/// What the single writer remembers between jobs and batches, so a payment does not re-read
/// rows it has already read.
///
/// Why it is safe:
/// - Only the writer writes (it is the one task holding the write transaction; readers never
///   write, and the single-writer lock keeps other processes out: `db::single_writer`).
/// - Every statement inside the write transaction runs through `guard::Guard`, which reads its
///   SQL: the read macros (`read_tx!`, `read_flushed!`) refuse anything but one SELECT, and
///   `write!` forgets, before the statement runs, the facts of the table it writes
///   (`guard::touched`: per table, the columns the facts hold and whether a new row can
///   change them). A new shopper, store, purchase or ledger row forgets nothing; a settings
///   version forgets the programs' facts, a revoked code the codes'; SQL the guard cannot
///   read forgets everything. The pending ledger rows (`crate::writer::rows::Pending`) are written beside
///   the guard and touch only ledger tables and balances, which are not facts.
/// - Debug and test builds check all of it: after every batch the writer re-reads each
///   remembered fact and panics on a difference (`writer::known_check::verify_after_batch`).
/// - The settings in effect are remembered per (program, JST date), the key they are a
///   function of (given the versions, which only `write!` statements insert).
/// - Nothing uncommitted leaks: a row read by a job is staged with that job and dropped if the
///   job rolls back to its savepoint (it may have written the row itself); a successful job's
///   rows are staged with the batch and become `committed` only once the batch commits.
/// - Balances are never remembered across jobs. Accounts that may go negative are remembered
///   for their identity only (id, kind, asset, owner, `allow_negative` never change; their
///   balance inside the writer is stale anyway, as their deltas are folded until the batch
///   ends, and no job reads it). Shopper wallets are remembered only within one job, with the
///   exact balances that job's guarded updates returned.
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
    /// Server secrets by name. They are created before the writer starts (`Db::connect`) and
    /// never change, so nothing ever forgets them.
    pub(crate) secrets: HashMap<String, Vec<u8>>,
}

/// Committed facts kept at most; beyond this the writer starts afresh (bounds memory).
const KNOWN_ROWS_MAX: usize = 100_000;

#[derive(Default)]
pub(crate) struct Facts {
    /// (program, JST date) -> the program row and the settings text in effect that day.
    /// The lookups that stage these facts are the ones `known_check` re-runs.
    pub programs: HashMap<
        (ProgramId, NaiveDate),
        (
            crate::features::directory::store::ProgramRow,
            Option<String>,
        ),
    >,
    /// The settings of `programs`, parsed once (`features::program_in_city_on`); forgotten
    /// with them.
    pub settings: HashMap<(ProgramId, NaiveDate), machipay_domain::program::ProgramSettings>,
    pub merchants: HashMap<MerchantId, crate::features::directory::store::Merchant>,
    pub shoppers: HashMap<ShopperId, crate::features::directory::store::Shopper>,
    /// Accounts that may go negative, by (program, kind, asset, owner).
    pub accounts:
        HashMap<(ProgramId, AccountKind, Asset, Option<Uuid>), crate::writer::rows::Account>,
    /// A store's latest participation event in a program (None: no history). Events are
    /// inserted only through `write!`, which forgets this.
    pub participation:
        HashMap<(ProgramId, MerchantId), Option<machipay_domain::registry::ParticipationKind>>,
    /// Static store codes by code id (revocation goes through `write!`).
    pub store_codes: HashMap<String, crate::features::qr::store::StoreCode>,
    /// Every rebate campaign of a program, whatever its dates (campaign rows are never
    /// changed; a new one is inserted through `write!`).
    pub rebate_campaigns:
        HashMap<ProgramId, Vec<crate::features::campaigns::rebates::store::RebateCampaignRow>>,
}

impl Facts {
    pub(crate) fn len(&self) -> usize {
        self.programs.len()
            + self.merchants.len()
            + self.shoppers.len()
            + self.accounts.len()
            + self.participation.len()
            + self.store_codes.len()
            + self.rebate_campaigns.len()
    }
    fn clear(&mut self) {
        *self = Facts::default();
    }
    fn forget(&mut self, set: guard::FactSet) {
        use guard::FactSet as F;
        if set.contains(F::PROGRAMS) {
            self.programs.clear();
            self.settings.clear();
        }
        if set.contains(F::MERCHANTS) {
            self.merchants.clear();
        }
        if set.contains(F::SHOPPERS) {
            self.shoppers.clear();
        }
        if set.contains(F::ACCOUNTS) {
            self.accounts.clear();
        }
        if set.contains(F::PARTICIPATION) {
            self.participation.clear();
        }
        if set.contains(F::STORE_CODES) {
            self.store_codes.clear();
        }
        if set.contains(F::REBATE_CAMPAIGNS) {
            self.rebate_campaigns.clear();
        }
    }
    fn absorb(&mut self, other: &mut Facts) {
        let other = std::mem::take(other);
        self.programs.extend(other.programs);
        self.settings.extend(other.settings);
        self.merchants.extend(other.merchants);
        self.shoppers.extend(other.shoppers);
        self.accounts.extend(other.accounts);
        self.participation.extend(other.participation);
        self.store_codes.extend(other.store_codes);
        self.rebate_campaigns.extend(other.rebate_campaigns);
    }
}

impl Known {
    /// Looks a fact up: the running job's, then the batch's, then committed ones.
    pub(crate) fn get<T: Clone>(&self, pick: impl Fn(&Facts) -> Option<&T>) -> Option<T> {
        pick(&self.job)
            .or_else(|| pick(&self.batch))
            .or_else(|| pick(&self.committed))
            .cloned()
    }
    /// Stages a fact the running job read; it outlives the job only if the job succeeds.
    pub(crate) fn stage(&mut self, put: impl FnOnce(&mut Facts)) {
        put(&mut self.job);
    }
    /// Forgets the facts of `set` at every level (and the job's wallets, if accounts).
    pub(crate) fn forget_facts(&mut self, set: guard::FactSet) {
        if set == guard::FactSet::ALL {
            return self.forget();
        }
        for facts in [&mut self.committed, &mut self.batch, &mut self.job] {
            facts.forget(set);
        }
        if set.contains(guard::FactSet::ACCOUNTS) {
            self.wallets.clear();
            self.wallet_lots.clear();
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
        self.job.clear();
        self.wallets.clear();
        self.wallet_lots.clear();
    }
}

/// Facts the writer loads when it starts, if a town is small enough for it
/// (`WARM_ROWS_MAX` of each): the stores, their static codes and the accounts that may go
/// negative (identity only). Without it, the first payment at each store after a restart
/// read them one by one inside the writer, and every payment of that first second waited
/// (measured: spread p99 58 ms over 10 s after a restart against 38 ms over 30 s).
pub(crate) async fn warm(tx: &mut WriteTx) -> Result<usize, sqlx::Error> {
    let merchants: Vec<crate::features::directory::store::Merchant> =
        read_tx!(tx, |c| sqlx::query_as(
            "SELECT id, city_id, name, created_at FROM merchants LIMIT $1"
        )
        .bind(WARM_ROWS_MAX + 1)
        .fetch_all(c)
        .await)?;
    let codes: Vec<crate::features::qr::store::StoreCode> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, code_id, merchant_id, program_id, payload, created_at, revoked_at \
         FROM store_codes LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let accounts: Vec<crate::writer::rows::Account> = read_tx!(tx, |c| sqlx::query_as(
        "SELECT id, program_id, kind, asset, owner_id, allow_negative, balance FROM accounts \
         WHERE allow_negative LIMIT $1"
    )
    .bind(WARM_ROWS_MAX + 1)
    .fetch_all(c)
    .await)?;
    let limit = usize::try_from(WARM_ROWS_MAX).unwrap_or(usize::MAX);
    if merchants.len() > limit || codes.len() > limit || accounts.len() > limit {
        return Ok(0);
    }
    let n = merchants.len() + codes.len() + accounts.len();
    tx.known.stage(|f| {
        for m in merchants {
            f.merchants.insert(m.id, m);
        }
        for c in codes {
            f.store_codes.insert(c.code_id.clone(), c);
        }
        for a in accounts {
            f.accounts
                .insert((a.program_id, a.kind, a.asset, a.owner_id), a);
        }
    });
    Ok(n)
}

/// Rows of each kind `warm` loads at most (a town has a few thousand stores).
const WARM_ROWS_MAX: i64 = 20_000;
