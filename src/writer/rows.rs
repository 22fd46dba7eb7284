//! Accounts, transactions, postings, lots and idempotency records. Postings and lot
//! movements are only ever inserted; balances and lot remainders are caches kept in the
//! same transaction as the rows they summarise.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::aggregate_deltas::{Deltas, Original, Posted, PostedLeg, read_originals};
use crate::writer::aggregates::{POINT_STORE_DAYS, POINT_STORE_MONTHS};
use crate::writer::{TxConn, WriteTx, read_tx, write_vetted};
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Leg};
use std::collections::HashMap;

mod pending_pg;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    #[sqlx(try_from = "Uuid")]
    pub id: AccountId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    #[sqlx(try_from = "String")]
    pub kind: AccountKind,
    #[sqlx(try_from = "String")]
    pub asset: Asset,
    pub owner_id: Option<Uuid>,
    pub allow_negative: bool,
    pub balance: i64,
}

/// The writer remembers accounts that may go negative by (program, kind, asset, owner), for
/// their identity only: their balance moves in every batch and no job reads it.
impl crate::writer::Fact for Account {
    type Key = (ProgramId, AccountKind, Asset, Option<Uuid>);
    const NAME: &'static str = "account";
    const FORGOTTEN_BY: crate::writer::guard::FactSet = crate::writer::guard::FactSet::ACCOUNTS;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        key: &'a Self::Key,
    ) -> futures::future::BoxFuture<'a, Result<Option<Self>, crate::error::AppError>> {
        let (program, kind, asset, owner) = *key;
        Box::pin(async move { Ok(find_account_tx(tx, program, kind, asset, owner).await?) })
    }
    fn compared(&self) -> Self {
        Account {
            balance: 0,
            ..self.clone()
        }
    }
}

const ACCOUNT_COLUMNS: &str =
    "SELECT id, program_id, kind, asset, owner_id, allow_negative, balance FROM accounts";

/// A shopper's wallet of `asset` in a program (opened if need be).
pub(crate) async fn shopper_wallet(
    tx: &mut WriteTx,
    program: ProgramId,
    shopper: ShopperId,
    asset: Asset,
) -> Result<Account, sqlx::Error> {
    ensure_account(
        tx,
        program,
        AccountKind::ShopperWallet,
        asset,
        Some(shopper.0),
    )
    .await
}

/// Finds or creates the account of `kind` and `asset` for `owner` (None for the program's
/// own books). Accounts are created on first use.
///
/// Shopper wallets come from the running job's view of the shopper's wallets (one read for
/// all of them; exact balances). Accounts that may go negative are remembered by the writer
/// across batches for their identity: their `balance` here may be stale (the writer folds
/// their deltas until the batch ends anyway) and no job reads it.
pub async fn ensure_account(
    tx: &mut WriteTx,
    program: ProgramId,
    kind: AccountKind,
    asset: Asset,
    owner: Option<Uuid>,
) -> Result<Account, sqlx::Error> {
    if let (AccountKind::ShopperWallet, Some(shopper)) = (kind, owner) {
        let held = shopper_wallets(tx, program, shopper).await?;
        if let Some(found) = held.into_iter().find(|a| a.asset == asset) {
            return Ok(found);
        }
        let created = create_account(tx, program, kind, asset, owner).await?;
        if let Some(wallets) = tx.known.wallets.get_mut(&(program, shopper)) {
            wallets.push(created.clone());
        }
        return Ok(created);
    }
    let key = (program, kind, asset, owner);
    if kind.allows_negative()
        && let Some(found) = tx.known.get::<Account, _>(&key)
    {
        return Ok(found);
    }
    let found = match find_account_tx(tx, program, kind, asset, owner).await? {
        Some(found) => found,
        None => create_account(tx, program, kind, asset, owner).await?,
    };
    if found.allow_negative {
        tx.known.stage(key, found.clone());
    }
    Ok(found)
}

async fn create_account(
    tx: &mut WriteTx,
    program: ProgramId,
    kind: AccountKind,
    asset: Asset,
    owner: Option<Uuid>,
) -> Result<Account, sqlx::Error> {
    let account = Account {
        id: AccountId::new(),
        program_id: program,
        kind,
        asset,
        owner_id: owner,
        allow_negative: kind.allows_negative(),
        balance: 0,
    };
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO accounts (id, program_id, kind, asset, owner_id, allow_negative, balance) \
         VALUES ($1, $2, $3, $4, $5, $6, 0)"
    )
    .bind(account.id.0)
    .bind(program.0)
    .bind(kind.as_str())
    .bind(asset.as_str())
    .bind(owner)
    .bind(account.allow_negative)
    .execute(c)
    .await
    .map(|_| ()))?;
    Ok(account)
}

/// Every wallet a shopper holds in a program, with exact balances, in one read that also
/// brings their open lots (a payment spends them next). Within a job the answer is
/// remembered and kept current by `apply_guarded` and `ensure_account` (`Known`);
/// it is dropped when the job ends.
pub async fn shopper_wallets(
    tx: &mut WriteTx,
    program: ProgramId,
    shopper: Uuid,
) -> Result<Vec<Account>, sqlx::Error> {
    if let Some(held) = tx.known.wallets.get(&(program, shopper)) {
        return Ok(held.clone());
    }
    if let Some(read) = tx.known.ahead.get(&shopper) {
        let read: Vec<(Account, Vec<Lot>)> = read
            .iter()
            .filter(|(a, _)| a.program_id == program)
            .cloned()
            .collect();
        return Ok(hold_wallets(tx, program, shopper, read));
    }
    const SQL: &str = "SELECT a.id, a.program_id, a.kind, a.asset, a.owner_id, a.allow_negative, \
         a.balance, l.id AS lot_id, l.amount AS lot_amount, l.remaining AS lot_remaining, \
         l.expires_on AS lot_expires_on \
         FROM accounts a LEFT JOIN lots l ON l.account_id = a.id AND l.remaining > 0 \
         WHERE a.owner_id = $2 AND a.program_id = $1 AND a.kind = 'shopper_wallet' \
         ORDER BY a.id, l.expires_on ASC NULLS LAST, l.id ASC";
    // PostgreSQL: the wallets are locked until the batch commits, so a writer of another
    // instance spending from them waits and then reads what this one left (no overdraft,
    // no stale refusal). The lots go with their wallet.
    const SQL_LOCKED: &str = "SELECT a.id, a.program_id, a.kind, a.asset, a.owner_id, \
         a.allow_negative, a.balance, l.id AS lot_id, l.amount AS lot_amount, \
         l.remaining AS lot_remaining, l.expires_on AS lot_expires_on \
         FROM accounts a LEFT JOIN lots l ON l.account_id = a.id AND l.remaining > 0 \
         WHERE a.owner_id = $2 AND a.program_id = $1 AND a.kind = 'shopper_wallet' \
         ORDER BY a.id, l.expires_on ASC NULLS LAST, l.id ASC FOR UPDATE OF a";
    let sql = if tx.is_postgres() { SQL_LOCKED } else { SQL };
    // Accounts are never pending (created at once); their balances and lots may be.
    let rows: Vec<WalletLotRow> = read_tx!(tx, |c| sqlx::query_as(sql)
        .bind(program.0)
        .bind(shopper)
        .fetch_all(c)
        .await)?;
    Ok(hold_wallets(tx, program, shopper, wallets_with_lots(rows)))
}

/// The rows of a wallets-with-lots read, one entry per wallet (rows come in wallet order).
fn wallets_with_lots(rows: Vec<WalletLotRow>) -> Vec<(Account, Vec<Lot>)> {
    let mut out: Vec<(Account, Vec<Lot>)> = Vec::new();
    for row in rows {
        let account = row.account.id;
        if out.last().is_none_or(|(a, _)| a.id != account) {
            out.push((row.account, Vec::new()));
        }
        if let (Some(id), Some(amount), Some(remaining), Some((_, lots))) = (
            row.lot_id,
            row.lot_amount,
            row.lot_remaining,
            out.last_mut(),
        ) {
            lots.push(Lot {
                id: LotId(id),
                account_id: account,
                amount,
                remaining,
                expires_on: row.lot_expires_on,
            });
        }
    }
    out
}

/// The running job's view of a shopper's wallets in a program, from what the database holds
/// (`read`): the pending rows laid over the balances (and, by `open_lots`, over the lots).
fn hold_wallets(
    tx: &mut WriteTx,
    program: ProgramId,
    shopper: Uuid,
    read: Vec<(Account, Vec<Lot>)>,
) -> Vec<Account> {
    let mut held = Vec::with_capacity(read.len());
    for (mut account, lots) in read {
        account.balance += tx.pending_delta(account.id);
        tx.known.wallet_lots.insert(account.id, lots);
        held.push(account);
    }
    tx.known.wallets.insert((program, shopper), held.clone());
    held
}

/// Reads ahead, at the start of a batch, the wallets (with their open lots) of the shoppers
/// its jobs said they would pay from (`Writer::answer_for`): one statement instead of one per
/// job, locked on PostgreSQL as `shopper_wallets` locks. `shopper_wallets` takes them from
/// `Known::ahead` for as long as they are what the database holds: until the transaction's
/// first write or flush of pending rows (`WriteTx::barrier`), which forgets them.
pub async fn read_ahead(tx: &mut WriteTx, shoppers: &[Uuid]) -> Result<(), sqlx::Error> {
    const COLUMNS: &str = "SELECT a.id, a.program_id, a.kind, a.asset, a.owner_id, \
         a.allow_negative, a.balance, l.id AS lot_id, l.amount AS lot_amount, \
         l.remaining AS lot_remaining, l.expires_on AS lot_expires_on \
         FROM accounts a LEFT JOIN lots l ON l.account_id = a.id AND l.remaining > 0 ";
    const ORDER: &str = " ORDER BY a.id, l.expires_on ASC NULLS LAST, l.id ASC";
    if shoppers.is_empty() {
        return Ok(());
    }
    // PostgreSQL locks them, as `shopper_wallets` does.
    let lock = if tx.is_postgres() {
        " FOR UPDATE OF a"
    } else {
        ""
    };
    let mut rows: Vec<WalletLotRow> = Vec::new();
    let mut at = 0;
    for (real, n) in chunk_sizes(shoppers.len()) {
        let chunk = &shoppers[at..at + real];
        at += real;
        let list = (1..=n)
            .map(|i| format!("${i}"))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "{COLUMNS}WHERE a.owner_id IN ({list}) AND a.owner_id IS NOT NULL \
             AND a.kind = 'shopper_wallet'{ORDER}{lock}"
        );
        let mut found: Vec<WalletLotRow> = read_tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            // Padded with the last shopper again: the same rows, found once.
            for i in 0..n {
                q = q.bind(chunk[i.min(real - 1)]);
            }
            q.fetch_all(c).await
        })?;
        rows.append(&mut found);
    }
    let mut ahead: HashMap<Uuid, Vec<(Account, Vec<Lot>)>> =
        shoppers.iter().map(|s| (*s, Vec::new())).collect();
    for (account, lots) in wallets_with_lots(rows) {
        if let Some(owner) = account.owner_id
            && let Some(held) = ahead.get_mut(&owner)
        {
            held.push((account, lots));
        }
    }
    tx.known.ahead = ahead;
    Ok(())
}

#[derive(sqlx::FromRow)]
struct WalletLotRow {
    #[sqlx(flatten)]
    account: Account,
    lot_id: Option<Uuid>,
    lot_amount: Option<i64>,
    lot_remaining: Option<i64>,
    lot_expires_on: Option<NaiveDate>,
}

pub async fn find_account_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    kind: AccountKind,
    asset: Asset,
    owner: Option<Uuid>,
) -> Result<Option<Account>, sqlx::Error> {
    let owner_clause = if owner.is_some() {
        "owner_id = $4"
    } else {
        "owner_id IS NULL"
    };
    let sql = format!(
        "{ACCOUNT_COLUMNS} WHERE program_id = $1 AND kind = $2 AND asset = $3 AND {owner_clause}"
    );
    let found: Option<Account> = read_tx!(tx, |c| {
        let q = sqlx::query_as(&sql)
            .bind(program.0)
            .bind(kind.as_str())
            .bind(asset.as_str());
        let q = match owner {
            Some(o) => q.bind(o),
            None => q,
        };
        q.fetch_optional(c).await
    })?;
    Ok(found.map(|mut a| {
        a.balance += tx.pending_delta(a.id);
        a
    }))
}

pub async fn get_account_tx(
    tx: &mut WriteTx,
    id: AccountId,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("{ACCOUNT_COLUMNS} WHERE id = $1");
    let found: Option<Account> = read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)?;
    Ok(found.map(|mut a| {
        a.balance += tx.pending_delta(a.id);
        a
    }))
}

/// Accounts an owner holds in a program (wallets of a shopper, accounts of a merchant).
pub async fn accounts_of_owner(
    db: &Db,
    program: ProgramId,
    owner: Uuid,
) -> Result<Vec<Account>, sqlx::Error> {
    let sql =
        format!("{ACCOUNT_COLUMNS} WHERE program_id = $1 AND owner_id = $2 ORDER BY kind, asset");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(owner)
        .fetch_all(c)
        .await)
}

pub async fn system_accounts(db: &Db, program: ProgramId) -> Result<Vec<Account>, sqlx::Error> {
    let sql = format!(
        "{ACCOUNT_COLUMNS} WHERE program_id = $1 AND owner_id IS NULL ORDER BY kind, asset"
    );
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .fetch_all(c)
        .await)
}

pub struct NewTransaction<'a> {
    pub id: TransactionId,
    pub program: ProgramId,
    pub kind: &'a str,
    pub reverses: Option<TransactionId>,
    pub initiated_by: Uuid,
    pub memo: Option<&'a str>,
    pub created_at: DateTime<Utc>,
}

/// Leaves a transaction row and its postings pending: they are written with the batch's
/// others (`write_pending`). Each leg comes with its account (what the report aggregates
/// need of it). The balance of the postings is the caller's business (`Entry`); PostgreSQL
/// re-checks it at commit.
pub async fn insert_entry(
    tx: &mut WriteTx,
    t: &NewTransaction<'_>,
    legs: &[(&Leg, &Account)],
) -> Result<(), sqlx::Error> {
    let postings = legs
        .iter()
        .map(|(l, a)| PostedLeg {
            account: l.account.0,
            asset: l.asset,
            amount: l.amount,
            kind: a.kind,
            owner: a.owner_id,
            program: a.program_id.0,
        })
        .collect();
    tx.pending_mut().transactions.push(PendingTransaction {
        id: t.id.0,
        program: t.program.0,
        kind: t.kind.to_owned(),
        reverses: t.reverses.map(|r| r.0),
        initiated_by: t.initiated_by,
        memo: t.memo.map(str::to_owned),
        created_at: t.created_at,
        postings,
    });
    Ok(())
}

/// Applies `delta` to a balance only if the result stays at or above zero. Returns false
/// (and changes nothing) when it would not: the caller reports insufficient funds. The
/// change is left pending; the CHECK constraint on accounts backs the check up when it is
/// written. The new balance updates the running job's view of the shopper's wallets.
pub async fn apply_guarded(
    tx: &mut WriteTx,
    account: AccountId,
    delta: i64,
) -> Result<bool, sqlx::Error> {
    let viewed = tx
        .known
        .wallets
        .values()
        .flatten()
        .find(|a| a.id == account)
        .map(|a| a.balance);
    let balance = match viewed {
        Some(b) => b,
        None => {
            // Locked on PostgreSQL, as `shopper_wallets` locks.
            let sql = if tx.is_postgres() {
                "SELECT balance FROM accounts WHERE id = $1 FOR UPDATE"
            } else {
                "SELECT balance FROM accounts WHERE id = $1"
            };
            let stored: Option<i64> = read_tx!(tx, |c| sqlx::query_scalar(sql)
                .bind(account.0)
                .fetch_optional(c)
                .await)?;
            let Some(stored) = stored else {
                return Ok(false);
            };
            stored + tx.pending_delta(account)
        }
    };
    let Some(balance) = balance.checked_add(delta).filter(|b| *b >= 0) else {
        return Ok(false);
    };
    tx.pending_mut().balances.push((account, delta));
    for held in tx.known.wallets.values_mut().flatten() {
        if held.id == account {
            held.balance = balance;
        }
    }
    Ok(true)
}

/// Applies a folded delta to an account that may go negative (see `writer`): left
/// pending like the rest, written with the batch.
pub fn apply_unguarded(tx: &mut WriteTx, account: AccountId, delta: i64) {
    tx.pending_mut().balances.push((account, delta));
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Lot {
    #[sqlx(try_from = "Uuid")]
    pub id: LotId,
    #[sqlx(try_from = "Uuid")]
    pub account_id: AccountId,
    pub amount: i64,
    pub remaining: i64,
    pub expires_on: Option<NaiveDate>,
}

pub async fn insert_lot(
    tx: &mut WriteTx,
    account: AccountId,
    txn: TransactionId,
    amount: i64,
    expires_on: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<LotId, sqlx::Error> {
    let id = LotId::new();
    tx.pending_mut().lots.push(PendingLot {
        lot: Lot {
            id,
            account_id: account,
            amount,
            remaining: amount,
            expires_on,
        },
        transaction: txn.0,
        created_at: now,
    });
    Ok(id)
}

/// Open lots of an account in spending order: earliest expiry first, never-expiring last,
/// oldest first within a date (lot ids are time-ordered). Pending lots and movements are
/// laid over what the database holds. (Both dialects accept NULLS LAST; SQLite's default
/// differs.)
pub async fn open_lots(tx: &mut WriteTx, account: AccountId) -> Result<Vec<Lot>, sqlx::Error> {
    const SQL: &str = "SELECT id, account_id, amount, remaining, expires_on FROM lots \
         WHERE account_id = $1 AND remaining > 0 ORDER BY expires_on ASC NULLS LAST, id ASC";
    // A pending movement into an emptied lot would be missed by `remaining > 0`: then
    // write everything first and read the plain truth.
    let refills = [&tx.pending, &tx.job_pending]
        .iter()
        .flat_map(|p| p.lot_moves.iter())
        .any(|m| m.account == account && m.amount > 0);
    if refills {
        return write_vetted!(tx, |c| sqlx::query_as(SQL)
            .bind(account.0)
            .fetch_all(c)
            .await);
    }
    let mut lots: Vec<Lot> = match tx.known.wallet_lots.get(&account) {
        Some(read) => read.clone(),
        None => read_tx!(tx, |c| sqlx::query_as(SQL)
            .bind(account.0)
            .fetch_all(c)
            .await)?,
    };
    let mut added = false;
    for p in [&tx.pending, &tx.job_pending] {
        for new in p.lots.iter().filter(|l| l.lot.account_id == account) {
            lots.push(new.lot.clone());
            added = true;
        }
    }
    for p in [&tx.pending, &tx.job_pending] {
        for m in p.lot_moves.iter().filter(|m| m.account == account) {
            if let Some(lot) = lots.iter_mut().find(|l| l.id == m.lot) {
                lot.remaining += m.amount;
            }
        }
    }
    lots.retain(|l| l.remaining > 0);
    if added {
        // The database's order, for the pending lots too.
        lots.sort_by(|a, b| match (a.expires_on, b.expires_on) {
            (Some(x), Some(y)) => x.cmp(&y).then(a.id.0.cmp(&b.id.0)),
            (Some(_), None) => std::cmp::Ordering::Less,
            (None, Some(_)) => std::cmp::Ordering::Greater,
            (None, None) => a.id.0.cmp(&b.id.0),
        });
    }
    Ok(lots)
}

pub async fn lots_opened_by(tx: &mut WriteTx, txn: TransactionId) -> Result<Vec<Lot>, sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT id, account_id, amount, remaining, expires_on FROM lots WHERE transaction_id = $1 ORDER BY id"
    )
    .bind(txn.0)
    .fetch_all(c)
    .await
    })
}

/// Moves `delta` in or out of a lot of `account` and records the movement (consumption is
/// negative): left pending, written with the batch.
pub fn move_lot(tx: &mut WriteTx, txn: TransactionId, lot: LotId, account: AccountId, delta: i64) {
    tx.pending_mut().lot_moves.push(PendingLotMove {
        transaction: txn.0,
        lot,
        account,
        amount: delta,
    });
}

/// Movements a transaction made: (lot, the lot's account, signed amount).
pub async fn lot_movements_of(
    tx: &mut WriteTx,
    txn: TransactionId,
) -> Result<Vec<(LotId, AccountId, i64)>, sqlx::Error> {
    let rows: Vec<(Uuid, Uuid, i64)> = write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT m.lot_id, l.account_id, m.amount FROM lot_movements m JOIN lots l ON l.id = m.lot_id \
         WHERE m.transaction_id = $1 ORDER BY m.id"
    )
    .bind(txn.0)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(l, a, m)| (LotId(l), AccountId(a), m))
        .collect())
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, serde::Deserialize)]
pub struct TransactionRecord {
    #[sqlx(try_from = "Uuid")]
    pub id: TransactionId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub kind: String,
    pub reverses_id: Option<Uuid>,
    pub reversed_by: Option<Uuid>,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, serde::Deserialize)]
pub struct PostingRecord {
    #[sqlx(try_from = "Uuid")]
    pub account_id: AccountId,
    #[sqlx(try_from = "String")]
    pub account_kind: AccountKind,
    pub owner_id: Option<Uuid>,
    #[sqlx(try_from = "String")]
    pub asset: Asset,
    pub amount: i64,
}

const TRANSACTION_SQL: &str = "SELECT t.id, t.program_id, t.kind, t.reverses_id, r.id AS reversed_by, t.memo, t.created_at \
     FROM transactions t LEFT JOIN transactions r ON r.reverses_id = t.id WHERE t.id = $1";
const POSTINGS_SQL: &str = "SELECT p.account_id, a.kind AS account_kind, a.owner_id, p.asset, p.amount \
     FROM postings p JOIN accounts a ON a.id = p.account_id WHERE p.transaction_id = $1 ORDER BY p.id";

pub async fn get_transaction(
    db: &Db,
    id: TransactionId,
) -> Result<Option<(TransactionRecord, Vec<PostingRecord>)>, sqlx::Error> {
    let t: Option<TransactionRecord> = read!(db, |c| sqlx::query_as(TRANSACTION_SQL)
        .bind(id.0)
        .fetch_optional(c)
        .await)?;
    let Some(t) = t else { return Ok(None) };
    let p = read!(db, |c| sqlx::query_as(POSTINGS_SQL)
        .bind(id.0)
        .fetch_all(c)
        .await)?;
    Ok(Some((t, p)))
}

pub async fn get_transaction_tx(
    tx: &mut WriteTx,
    id: TransactionId,
) -> Result<Option<(TransactionRecord, Vec<PostingRecord>)>, sqlx::Error> {
    let t: Option<TransactionRecord> = write_vetted!(tx, |c| sqlx::query_as(TRANSACTION_SQL)
        .bind(id.0)
        .fetch_optional(c)
        .await)?;
    let Some(t) = t else { return Ok(None) };
    let p = write_vetted!(tx, |c| sqlx::query_as(POSTINGS_SQL)
        .bind(id.0)
        .fetch_all(c)
        .await)?;
    Ok(Some((t, p)))
}

/// How many refunds, point returns and (for a batch rebate grant) refunds of the payment it
/// rebates have come back from `original` so far: what makes a reversal of it unsound.
pub async fn returns_of_tx(
    tx: &mut WriteTx,
    original: TransactionId,
    rebate_grant: bool,
) -> Result<i64, sqlx::Error> {
    // A refund of the payment takes part of its batch rebate back (or cancels it before the
    // grant; either way the grant is no longer what is outstanding).
    let rebate_part = if rebate_grant {
        " + (SELECT count(*) FROM rebate_accruals a JOIN refunds f \
         ON f.payment_transaction_id = a.payment_transaction_id WHERE a.granted_transaction_id = $1)"
    } else {
        ""
    };
    let sql = format!(
        "SELECT CAST((SELECT count(*) FROM refunds WHERE payment_transaction_id = $1) \
         + (SELECT count(*) FROM point_movements WHERE original_id = $1){rebate_part} AS BIGINT)"
    );
    write_vetted!(tx, |c| sqlx::query_scalar(&sql)
        .bind(original.0)
        .fetch_one(c)
        .await)
}

/// A batch rebate grant paid for `payment` that has not been reversed, if any: reversing the
/// payment would leave the shopper a rebate for a payment that no longer is.
pub async fn live_rebate_grant_tx(
    tx: &mut WriteTx,
    payment: TransactionId,
) -> Result<Option<TransactionId>, sqlx::Error> {
    let found: Option<Uuid> = write_vetted!(tx, |c| sqlx::query_scalar(
        "SELECT a.granted_transaction_id FROM rebate_accruals a \
         WHERE a.payment_transaction_id = $1 AND a.granted_transaction_id IS NOT NULL \
         AND a.granted_transaction_id <> $1 AND NOT EXISTS \
         (SELECT 1 FROM transactions r WHERE r.reverses_id = a.granted_transaction_id) LIMIT 1"
    )
    .bind(payment.0)
    .fetch_optional(c)
    .await)?;
    Ok(found.map(TransactionId))
}

/// Whether the wallet owner `card` is a point card that was replaced: a reversal never lands
/// on one, where no number could spend it.
pub async fn replaced_card_tx(tx: &mut WriteTx, card: CardId) -> Result<bool, sqlx::Error> {
    let status: Option<String> = read_tx!(tx, |c| sqlx::query_scalar(
        "SELECT status FROM point_cards WHERE id = $1"
    )
    .bind(card.0)
    .fetch_optional(c)
    .await)?;
    Ok(status.as_deref() == Some("replaced"))
}

/// A stored reply to an idempotent request.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredReply {
    pub request_hash: Vec<u8>,
    pub status_code: i32,
    pub response_body: String,
}

pub async fn find_reply(
    tx: &mut WriteTx,
    scope: Uuid,
    key: &str,
) -> Result<Option<StoredReply>, sqlx::Error> {
    // A key used earlier in this batch is pending, not in the table yet.
    for p in [&tx.pending, &tx.job_pending] {
        if let Some(r) = p.replies.iter().find(|r| r.scope == scope && r.key == key) {
            return Ok(Some(r.reply.clone()));
        }
    }
    if let Some(read) = tx.replies_read.get(&(scope, key.to_owned())) {
        return Ok(read.clone());
    }
    read_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE principal_id = $1 AND key = $2"
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(c)
    .await
    })
}

/// Reads the stored replies of many keys at once (a batch's, when it begins) for
/// `find_reply`: one statement per 128 keys instead of one per job.
pub async fn read_replies(tx: &mut WriteTx, keys: Vec<(Uuid, String)>) -> Result<(), sqlx::Error> {
    type Row = (Uuid, String, Vec<u8>, i32, String);
    let mut at = 0;
    for (real, n) in chunk_sizes(keys.len()) {
        let chunk = &keys[at..at + real];
        at += real;
        // Padding rows of NULLs join nothing. On PostgreSQL the join is LATERAL so each key
        // is an index lookup: a plain join's generic plan hashes the keys and scans the
        // table (seen: 16 ms a batch at 64,000 keys).
        let join = if matches!(tx.conn, TxConn::Pg(_)) {
            "CROSS JOIN LATERAL (SELECT * FROM idempotency_keys k \
             WHERE k.principal_id = v.column1 AND k.key = v.column2) i"
        } else {
            "JOIN idempotency_keys i ON i.principal_id = v.column1 AND i.key = v.column2"
        };
        let sql = format!(
            "SELECT i.principal_id, i.key, i.request_hash, i.status_code, i.response_body \
             FROM (VALUES {}) AS v {join}",
            placeholders(2, n, 1)
        );
        let found: Vec<Row> = read_tx!(tx, |c| {
            let mut q = sqlx::query_as(&sql);
            let padded = chunk
                .iter()
                .map(Some)
                .chain(std::iter::repeat_n(None, n - real));
            for k in padded {
                q = q.bind(k.map(|k| k.0)).bind(k.map(|k| k.1.as_str()));
            }
            q.fetch_all(c).await
        })?;
        for (scope, key) in chunk {
            tx.replies_read.insert((*scope, key.clone()), None);
        }
        for (scope, key, request_hash, status_code, response_body) in found {
            let reply = StoredReply {
                request_hash,
                status_code,
                response_body,
            };
            tx.replies_read.insert((scope, key), Some(reply));
        }
    }
    Ok(())
}

/// Leaves the stored reply pending: it is written in the same transaction as the rows it
/// describes.
pub fn store_reply(
    tx: &mut WriteTx,
    scope: Uuid,
    key: &str,
    reply: &StoredReply,
    now: DateTime<Utc>,
) {
    tx.pending_mut().replies.push(PendingReply {
        scope,
        key: key.to_owned(),
        reply: reply.clone(),
        created_at: now,
    });
}

/// What the integrity check found; every number should be zero.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct IntegrityReport {
    /// Transactions of the program whose postings do not sum to zero for some asset.
    pub unbalanced_transactions: i64,
    /// Accounts whose cached balance differs from the sum of their postings.
    pub balance_mismatches: i64,
    /// Shopper wallets whose balance differs from the sum of their open lots.
    pub lot_mismatches: i64,
    /// Accounts that may not go negative but are.
    pub negative_balances: i64,
    /// (original, asset, account) triples where the original's refunds, returns, claw-backs
    /// and reversal together gave back more than the original moved (see `over_returned`).
    pub over_returned: i64,
    /// A few of them, to start looking from.
    pub over_returned_examples: Vec<OverReturn>,
    pub transactions: i64,
    pub postings: i64,
}

/// One account on which what came back from an original exceeds what it moved.
#[derive(Debug, Clone, Serialize, serde::Deserialize, sqlx::FromRow)]
pub struct OverReturn {
    #[sqlx(try_from = "Uuid")]
    pub original_id: TransactionId,
    #[sqlx(try_from = "String")]
    pub asset: Asset,
    /// The account; for a point card, the wallet of the card that now holds its balance.
    #[sqlx(try_from = "Uuid")]
    pub account_id: AccountId,
    /// What the original (with its batch rebate grants) credited to / debited from it.
    pub moved_in: i64,
    pub moved_out: i64,
    /// What its refunds, returns, claw-backs and reversals credited to / debited from it.
    pub returned_in: i64,
    pub returned_out: i64,
}

/// Examples of over-returns `integrity` reports at most.
pub const OVER_RETURN_EXAMPLES_MAX: i64 = 5;

/// The invariant "for every original, what its refunds, returns and reversal gave back is at
/// most what it moved, per asset and per account", checked in each direction apart: what came
/// back into an account is at most what the original took out of it, and what went back out
/// at most what it put in. An original is grouped with its batch rebate grants (a refund
/// claws back points a grant paid), and what it gave back is every refund
/// (`refunds.payment_transaction_id`), every point return (`point_movements.original_id`) and
/// every reversal (`transactions.reverses_id`) of the group. A point card's wallet counts as
/// the wallet of the card that replaced it (returns follow the card's balance). Reads only
/// the program's refunds, returns and reversals and the postings of their originals.
/// The start of `OVER_RETURNED_SQL` and of the ledger check's incremental form
/// (`check_rows`): an original is grouped with its batch rebate grants (`grants`).
macro_rules! over_returned_head {
    () => {
        "WITH RECURSIVE \
    grants(payment, grant_id) AS ( \
        SELECT a.payment_transaction_id, a.granted_transaction_id FROM rebate_accruals a \
        JOIN rebate_campaigns k ON k.id = a.campaign_id WHERE k.program_id = $1 \
        AND a.granted_transaction_id IS NOT NULL AND a.granted_transaction_id <> a.payment_transaction_id), "
    };
}
pub(crate) use over_returned_head;

/// The middle of `OVER_RETURNED_SQL` and of its incremental form: from `links(root, txn)`,
/// the transactions of each group (`members`: the original and its grants moved, the links
/// gave back).
macro_rules! over_returned_members {
    () => {
        "    members(root, txn, back) AS ( \
        SELECT root, txn, 1 FROM links \
        UNION ALL SELECT DISTINCT root, root, 0 FROM links \
        UNION ALL SELECT g.payment, g.grant_id, 0 FROM grants g \
        WHERE g.payment IN (SELECT root FROM links)), "
    };
}
pub(crate) use over_returned_members;

/// Every card of the program with the card its wallet now follows (`heads(card, head)`: a
/// card's wallet counts as the wallet of the card that replaced it), walked down from the
/// cards not replaced (the full check).
macro_rules! all_heads {
    () => {
        "    heads(card, head) AS ( \
        SELECT id, id FROM point_cards WHERE program_id = $1 AND replaced_by IS NULL \
        UNION ALL SELECT c.id, h.head FROM point_cards c JOIN heads h ON c.replaced_by = h.card), "
    };
}

/// The end of `OVER_RETURNED_SQL` and of its incremental form: from `members` and `heads`,
/// what each group moved and gave back per account, and the groups that gave back too much.
macro_rules! over_returned_tail {
    () => {
        "    sums AS ( \
        SELECT m.root, p.asset, coalesce(ha.id, p.account_id) AS account_id, \
        CAST(sum(CASE WHEN m.back = 0 AND p.amount > 0 THEN p.amount ELSE 0 END) AS BIGINT) AS moved_in, \
        CAST(sum(CASE WHEN m.back = 0 AND p.amount < 0 THEN -p.amount ELSE 0 END) AS BIGINT) AS moved_out, \
        CAST(sum(CASE WHEN m.back = 1 AND p.amount > 0 THEN p.amount ELSE 0 END) AS BIGINT) AS returned_in, \
        CAST(sum(CASE WHEN m.back = 1 AND p.amount < 0 THEN -p.amount ELSE 0 END) AS BIGINT) AS returned_out \
        FROM members m JOIN postings p ON p.transaction_id = m.txn \
        JOIN accounts a ON a.id = p.account_id \
        LEFT JOIN heads h ON a.kind = 'shopper_wallet' AND h.card = a.owner_id \
        LEFT JOIN accounts ha ON ha.program_id = a.program_id AND ha.kind = 'shopper_wallet' \
            AND ha.asset = a.asset AND ha.owner_id = h.head \
        GROUP BY m.root, p.asset, coalesce(ha.id, p.account_id)) \
    SELECT root AS original_id, asset, account_id, moved_in, moved_out, returned_in, returned_out, \
        count(*) OVER () AS total FROM sums \
    WHERE returned_in > moved_out OR returned_out > moved_in \
    ORDER BY root, asset LIMIT $2"
    };
}
pub(crate) use over_returned_tail;

pub(crate) const OVER_RETURNED_SQL: &str = concat!(
    over_returned_head!(),
    all_heads!(),
    "    links(root, txn) AS ( \
        SELECT f.payment_transaction_id, f.transaction_id FROM refunds f \
        JOIN transactions t ON t.id = f.transaction_id WHERE t.program_id = $1 \
        UNION ALL SELECT m.original_id, m.transaction_id FROM point_movements m \
        WHERE m.program_id = $1 AND m.original_id IS NOT NULL \
        UNION ALL SELECT coalesce(g.payment, t.reverses_id), t.id FROM transactions t \
        LEFT JOIN grants g ON g.grant_id = t.reverses_id \
        WHERE t.program_id = $1 AND t.reverses_id IS NOT NULL), ",
    over_returned_members!(),
    over_returned_tail!()
);

#[derive(sqlx::FromRow)]
struct OverReturnRow {
    #[sqlx(flatten)]
    example: OverReturn,
    total: i64,
}

/// How many (original, asset, account) triples break the returns invariant, and a few of
/// them (see `OVER_RETURNED_SQL`).
pub async fn over_returned(
    db: &Db,
    program: ProgramId,
) -> Result<(i64, Vec<OverReturn>), sqlx::Error> {
    let rows: Vec<OverReturnRow> = read!(db, |c| sqlx::query_as(OVER_RETURNED_SQL)
        .bind(program.0)
        .bind(OVER_RETURN_EXAMPLES_MAX)
        .fetch_all(c)
        .await)?;
    let total = rows.first().map_or(0, |r| r.total);
    Ok((total, rows.into_iter().map(|r| r.example).collect()))
}

pub async fn integrity(db: &Db, program: ProgramId) -> Result<IntegrityReport, sqlx::Error> {
    let q = |sql: &'static str| async move {
        read!(db, |c| sqlx::query_scalar::<_, i64>(sql)
            .bind(program.0)
            .fetch_one(c)
            .await)
    };
    let (over_returned, over_returned_examples) = over_returned(db, program).await?;
    Ok(IntegrityReport {
        over_returned,
        over_returned_examples,
        unbalanced_transactions: q("SELECT count(*) FROM (SELECT p.transaction_id FROM postings p \
             JOIN transactions t ON t.id = p.transaction_id WHERE t.program_id = $1 \
             GROUP BY p.transaction_id, p.asset HAVING sum(p.amount) <> 0) x")
        .await?,
        balance_mismatches: q("SELECT count(*) FROM accounts a WHERE a.program_id = $1 AND a.balance <> \
             (SELECT coalesce(sum(p.amount), 0) FROM postings p WHERE p.account_id = a.id)")
        .await?,
        lot_mismatches: q("SELECT count(*) FROM accounts a WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' \
             AND a.balance <> (SELECT coalesce(sum(l.remaining), 0) FROM lots l WHERE l.account_id = a.id AND l.remaining > 0)")
        .await?,
        negative_balances: q("SELECT count(*) FROM accounts WHERE program_id = $1 AND NOT allow_negative AND balance < 0")
            .await?,
        transactions: q("SELECT count(*) FROM transactions WHERE program_id = $1").await?,
        postings: q("SELECT count(*) FROM postings p JOIN transactions t ON t.id = p.transaction_id WHERE t.program_id = $1")
            .await?,
    })
}

/// Sum of every account balance per asset in a program.
pub async fn net_by_asset(db: &Db, program: ProgramId) -> Result<Vec<(Asset, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = read!(db, |c| {
        sqlx::query_as(
        "SELECT asset, CAST(coalesce(sum(balance), 0) AS BIGINT) FROM accounts WHERE program_id = $1 GROUP BY asset ORDER BY asset"
    )
    .bind(program.0)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| Asset::parse(&a).map(|a| (a, n)))
        .collect())
}

// ---------------------------------------------------------------------------------------------
// Pending ledger rows

/// Ledger rows the writer's jobs have produced but not written yet. A payment's rows
/// (transaction, postings, lots and their movements, balance changes, the idempotency
/// record) are kept here and written for the whole batch at once, a few multi-row
/// statements per table (`write_pending`), instead of a dozen round trips per payment.
///
/// Why it is safe:
/// - Only the writer writes, and every statement that is not one of the overlay reads below
///   goes through `write!` / `read_flushed!`, which write everything pending first
///   (`WriteTx::barrier`): such a statement sees exactly what it would have seen had each row
///   been written at once.
/// - The reads a payment makes lay the pending rows over what they read: wallet balances
///   (`shopper_wallets`, `find_account_tx`, `get_account_tx`, `apply_guarded`), open lots
///   (`open_lots`) and idempotency records (`find_reply`). Guarded balances are checked
///   against that view, so no wallet can be overdrawn; the CHECK constraints back it up
///   when the rows are written.
/// - A failing job's rows are dropped (`WriteTx::undo_job`); if it had to write rows early it
///   had taken its savepoint first, and is rolled back to it.
/// - If writing the rows fails, the batch's transaction fails and no job of it is answered
///   as done (`writer`).
#[derive(Default)]
pub struct Pending {
    /// Transactions with their postings.
    transactions: Vec<PendingTransaction>,
    lots: Vec<PendingLot>,
    lot_moves: Vec<PendingLotMove>,
    /// Balance changes, guarded ones (checked when left here) and folded deltas alike.
    balances: Vec<(AccountId, i64)>,
    replies: Vec<PendingReply>,
    /// Point movements written since the last write of pending rows (their transactions were
    /// written before them): their card postings join `agg_point_store_months` and
    /// `agg_point_store_days`.
    movements: Vec<Uuid>,
}

struct PendingTransaction {
    id: Uuid,
    program: Uuid,
    kind: String,
    reverses: Option<Uuid>,
    initiated_by: Uuid,
    memo: Option<String>,
    created_at: DateTime<Utc>,
    postings: Vec<PostedLeg>,
}

struct PendingLot {
    lot: Lot,
    transaction: Uuid,
    created_at: DateTime<Utc>,
}

struct PendingLotMove {
    transaction: Uuid,
    lot: LotId,
    account: AccountId,
    amount: i64,
}

struct PendingReply {
    scope: Uuid,
    key: String,
    reply: StoredReply,
    created_at: DateTime<Utc>,
}

impl Pending {
    pub fn is_empty(&self) -> bool {
        self.transactions.is_empty()
            && self.lots.is_empty()
            && self.lot_moves.is_empty()
            && self.balances.is_empty()
            && self.replies.is_empty()
            && self.movements.is_empty()
    }

    /// Rows to write besides point movements (whose aggregates alone may be pending).
    fn has_rows(&self) -> bool {
        !(self.transactions.is_empty()
            && self.lots.is_empty()
            && self.lot_moves.is_empty()
            && self.balances.is_empty()
            && self.replies.is_empty())
    }

    pub fn clear(&mut self) {
        self.transactions.clear();
        self.lots.clear();
        self.lot_moves.clear();
        self.balances.clear();
        self.replies.clear();
        self.movements.clear();
    }

    /// Moves `other`'s rows after this one's, leaving `other` empty.
    pub fn append(&mut self, other: &mut Pending) {
        self.transactions.append(&mut other.transactions);
        self.lots.append(&mut other.lots);
        self.lot_moves.append(&mut other.lot_moves);
        self.balances.append(&mut other.balances);
        self.replies.append(&mut other.replies);
        self.movements.append(&mut other.movements);
    }

    /// The idempotency records among these rows, by (scope, key).
    pub(crate) fn replies(&self) -> impl Iterator<Item = ((Uuid, String), StoredReply)> + '_ {
        self.replies
            .iter()
            .map(|r| ((r.scope, r.key.clone()), r.reply.clone()))
    }

    fn delta(&self, account: AccountId) -> i64 {
        self.balances
            .iter()
            .filter(|(a, _)| *a == account)
            .map(|(_, d)| d)
            .sum()
    }
}

impl WriteTx {
    /// Where the statements of the moment leave their rows: the running job's, or the
    /// batch's between jobs.
    pub(crate) fn pending_mut(&mut self) -> &mut Pending {
        if self.in_job {
            &mut self.job_pending
        } else {
            &mut self.pending
        }
    }

    /// What pending rows add to an account's stored balance.
    pub(crate) fn pending_delta(&self, account: AccountId) -> i64 {
        self.pending.delta(account) + self.job_pending.delta(account)
    }
}

/// PostgreSQL writes pending rows in one statement (`pending_pg`) unless
/// MACHIPAY_PG_FLUSH=tables (one statement per table, to measure the difference).
fn pg_one_statement() -> bool {
    static ONE: std::sync::LazyLock<bool> =
        std::sync::LazyLock::new(|| std::env::var("MACHIPAY_PG_FLUSH").as_deref() != Ok("tables"));
    *ONE
}

/// Rows per statement at most. A statement's row count is rounded up to a power of two with
/// rows of NULLs that it skips, so eight statement shapes per table (kept prepared) serve any
/// count in one statement per 128 rows.
const ROWS_PER_STATEMENT_MAX: usize = 128;

/// Statement sizes for `n` rows: full statements, then the rest rounded up to a power of two.
fn chunk_sizes(mut n: usize) -> Vec<(usize, usize)> {
    let mut sizes = Vec::new();
    while n > 0 {
        let rows = n.min(ROWS_PER_STATEMENT_MAX);
        sizes.push((rows, rows.next_power_of_two()));
        n -= rows;
    }
    sizes
}

/// `rows` rows of `cols` parameters each, numbered from `first`: "($1, $2), ($3, $4)".
pub(crate) fn placeholders(cols: usize, rows: usize, first: usize) -> String {
    let mut out = String::with_capacity(rows * cols * 6);
    for r in 0..rows {
        if r > 0 {
            out.push_str(", ");
        }
        out.push('(');
        for k in 0..cols {
            if k > 0 {
                out.push_str(", ");
            }
            out.push('$');
            out.push_str(&(first + r * cols + k).to_string());
        }
        out.push(')');
    }
    out
}

/// "INSERT INTO `head` SELECT * FROM (VALUES ...) AS v WHERE v.column1 IS NOT NULL": the
/// padding rows (all NULL) are skipped. PostgreSQL and SQLite both name a VALUES list's
/// columns column1, column2, ...
fn insert_sql(head: &str, cols: usize, rows: usize, first: usize) -> String {
    format!(
        "INSERT INTO {head} SELECT * FROM (VALUES {}) AS v WHERE v.column1 IS NOT NULL",
        placeholders(cols, rows, first)
    )
}

/// "Add each (id, delta) to `column` of `table`" in one statement; padding rows match no id.
fn add_sql(table: &str, column: &str, rows: usize, first: usize) -> String {
    format!(
        "UPDATE {table} AS t SET {column} = t.{column} + v.column2 FROM (VALUES {}) AS v \
         WHERE t.id = v.column1",
        placeholders(2, rows, first)
    )
}

/// Parameters one SQLite statement may number up to (SQLite's limit is 32,766).
const SQLITE_PARAMS_MAX: usize = 30_000;

/// A joined SQLite text with at most this many parameters stays prepared (`LiteStatements::run`):
/// a payment batch of 32 is about 1,200; compiled, SQLite's programs take about 100 bytes a
/// parameter, so a full statement cache of these holds at most ~200 MB, not the 1.4 GiB of
/// bulk flushes.
const LITE_KEPT_PARAMS_MAX: usize = 2_048;

/// SQLite: the statements of one write of pending rows, sent to the connection's thread as
/// one multi-statement query (parameters are numbered across statements). On a busy 2-core
/// machine each trip to that thread costs more than the statement it carries.
#[derive(Default)]
struct LiteStatements<'q> {
    sql: String,
    args: sqlx::sqlite::SqliteArguments<'q>,
    failed: Option<sqlx::error::BoxDynError>,
}

impl<'q> LiteStatements<'q> {
    fn bind<T>(mut self, value: T) -> Self
    where
        T: 'q + sqlx::Encode<'q, sqlx::Sqlite> + sqlx::Type<sqlx::Sqlite>,
    {
        use sqlx::Arguments;
        if let Err(e) = self.args.add(value) {
            self.failed.get_or_insert(e);
        }
        self
    }

    fn used(&self) -> usize {
        use sqlx::Arguments;
        self.args.len()
    }

    async fn run(&mut self, conn: &mut sqlx::SqliteConnection) -> Result<(), sqlx::Error> {
        if let Some(e) = self.failed.take() {
            return Err(sqlx::Error::Encode(e));
        }
        if self.sql.is_empty() {
            return Ok(());
        }
        let sql = std::mem::take(&mut self.sql);
        let args = std::mem::take(&mut self.args);
        // Kept prepared (sqlx's statement cache, `STATEMENT_CACHE_CAPACITY` per connection)
        // when small: a payment batch's joined text comes again often, and preparing it afresh
        // each time cost 12-22 % of SQLite's payments per second (measured). A large joined
        // text (bulk work: its mix of tables and sizes seldom repeats) is not kept: kept, the
        // 10 M scale fill's flushes filled the cache with 1.4 GiB of SQLite's compiled
        // programs (README "10,000,000 transactions, measured"). Full statements of 128 rows
        // run alone (`per_chunk!`), so their one text per table is kept and reused.
        let keep = {
            use sqlx::Arguments;
            args.len() <= LITE_KEPT_PARAMS_MAX
        };
        sqlx::query_with(&sql, args)
            .persistent(keep)
            .execute(conn)
            .await?;
        Ok(())
    }
}

/// One statement per chunk of `$rows` (`$cols` parameters a row): on PostgreSQL each runs at
/// once; on SQLite it joins `$lite`. `$sql` is built for the padded size `$n` with
/// parameters numbered from `$first`, and `$bind` binds `$row` (`Some(row)`, or `None` for a
/// padding row, which must bind NULLs of the same types).
macro_rules! per_chunk {
    ($conn:expr, $lite:ident, $rows:expr, $cols:expr, |$n:ident, $first:ident| $sql:expr, |$q:ident, $row:ident| $bind:expr) => {{
        let mut at = 0;
        for (real, $n) in chunk_sizes($rows.len()) {
            let chunk = &$rows[at..at + real];
            at += real;
            let padded = chunk
                .iter()
                .map(Some)
                .chain(std::iter::repeat_n(None, $n - real));
            match &mut *$conn {
                TxConn::Pg(tx) => {
                    let $first = 1;
                    let sql: String = $sql;
                    let mut $q = sqlx::query(&sql);
                    for $row in padded {
                        $q = $bind;
                    }
                    $q.execute(&mut **tx).await?;
                }
                TxConn::Lite(tx) => {
                    // A full statement runs alone, after what is joined before it (table
                    // order holds), numbered from $1: its text is the same every time.
                    let alone = $n == ROWS_PER_STATEMENT_MAX;
                    if alone || $lite.used() + $n * $cols > SQLITE_PARAMS_MAX {
                        $lite.run(&mut **tx).await?;
                    }
                    let $first = $lite.used() + 1;
                    let sql: String = $sql;
                    $lite.sql.push_str(&sql);
                    $lite.sql.push_str(";\n");
                    let mut $q = std::mem::take(&mut $lite);
                    for $row in padded {
                        $q = $bind;
                    }
                    $lite = $q;
                    if alone {
                        $lite.run(&mut **tx).await?;
                    }
                }
            }
        }
    }};
}

/// Writes `p`'s rows in table order (transactions, postings, lots, lot changes, movements,
/// balances, idempotency records) and empties it.
pub(crate) async fn write_pending(conn: &mut TxConn, p: &mut Pending) -> Result<(), sqlx::Error> {
    let deltas = aggregate_deltas(conn, p).await?;
    if let TxConn::Pg(tx) = conn
        && pg_one_statement()
    {
        if p.has_rows() {
            pending_pg::write(tx, p, &deltas).await?;
        }
        count_movements(conn, &mut LiteStatements::default(), &p.movements).await?;
        p.clear();
        return Ok(());
    }
    let mut lite = LiteStatements::default();
    per_chunk!(
        conn,
        lite,
        p.transactions,
        7,
        |n, first| insert_sql(
            "transactions (id, program_id, kind, reverses_id, initiated_by, memo, created_at)",
            7,
            n,
            first
        ),
        |q, t| q
            .bind(t.map(|t| t.id))
            .bind(t.map(|t| t.program))
            .bind(t.map(|t| t.kind.as_str()))
            .bind(t.and_then(|t| t.reverses))
            .bind(t.map(|t| t.initiated_by))
            .bind(t.and_then(|t| t.memo.as_deref()))
            .bind(t.map(|t| t.created_at))
    );
    let postings: Vec<(Uuid, &PostedLeg)> = p
        .transactions
        .iter()
        .flat_map(|t| t.postings.iter().map(move |l| (t.id, l)))
        .collect();
    per_chunk!(
        conn,
        lite,
        postings,
        4,
        |n, first| insert_sql(
            "postings (transaction_id, account_id, asset, amount)",
            4,
            n,
            first
        ),
        |q, r| q
            .bind(r.map(|r| r.0))
            .bind(r.map(|r| r.1.account))
            .bind(r.map(|r| r.1.asset.as_str()))
            .bind(r.map(|r| r.1.amount))
    );
    per_chunk!(
        conn,
        lite,
        p.lots,
        7,
        |n, first| insert_sql(
            "lots (id, account_id, transaction_id, amount, remaining, expires_on, created_at)",
            7,
            n,
            first
        ),
        |q, l| q
            .bind(l.map(|l| l.lot.id.0))
            .bind(l.map(|l| l.lot.account_id.0))
            .bind(l.map(|l| l.transaction))
            .bind(l.map(|l| l.lot.amount))
            .bind(l.map(|l| l.lot.remaining))
            .bind(l.and_then(|l| l.lot.expires_on))
            .bind(l.map(|l| l.created_at))
    );
    let lot_changes = fold(p.lot_moves.iter().map(|m| (m.lot.0, m.amount)));
    per_chunk!(
        conn,
        lite,
        lot_changes,
        2,
        |n, first| add_sql("lots", "remaining", n, first),
        |q, r| q.bind(r.map(|r| r.0)).bind(r.map(|r| r.1))
    );
    per_chunk!(
        conn,
        lite,
        p.lot_moves,
        3,
        |n, first| insert_sql(
            "lot_movements (transaction_id, lot_id, amount)",
            3,
            n,
            first
        ),
        |q, m| q
            .bind(m.map(|m| m.transaction))
            .bind(m.map(|m| m.lot.0))
            .bind(m.map(|m| m.amount))
    );
    let balance_changes = fold(p.balances.iter().map(|(a, d)| (a.0, *d)));
    per_chunk!(
        conn,
        lite,
        balance_changes,
        2,
        |n, first| add_sql("accounts", "balance", n, first),
        |q, r| q.bind(r.map(|r| r.0)).bind(r.map(|r| r.1))
    );
    per_chunk!(
        conn,
        lite,
        p.replies,
        6,
        |n, first| insert_sql(
            "idempotency_keys (principal_id, key, request_hash, status_code, response_body, \
             created_at)",
            6,
            n,
            first
        ),
        |q, r| q
            .bind(r.map(|r| r.scope))
            .bind(r.map(|r| r.key.as_str()))
            .bind(r.map(|r| r.reply.request_hash.as_slice()))
            .bind(r.map(|r| r.reply.status_code))
            .bind(r.map(|r| r.reply.response_body.as_str()))
            .bind(r.map(|r| r.created_at))
    );
    write_aggregates(conn, &mut lite, &deltas, &p.movements).await?;
    if let TxConn::Lite(tx) = conn {
        lite.run(tx).await?;
    }
    p.clear();
    Ok(())
}

/// What the batch's transactions add to the report aggregates, computed from their pending
/// rows (`aggregate_deltas`); the originals of reversals that are not pending are read.
async fn aggregate_deltas(conn: &mut TxConn, p: &Pending) -> Result<Deltas, sqlx::Error> {
    let pending: HashMap<Uuid, &str> = p
        .transactions
        .iter()
        .map(|t| (t.id, t.kind.as_str()))
        .collect();
    let mut unread: Vec<Uuid> = p
        .transactions
        .iter()
        .filter_map(|t| t.reverses)
        .filter(|o| !pending.contains_key(o))
        .collect();
    unread.sort_unstable();
    unread.dedup();
    let mut originals = read_originals(conn, &unread).await?;
    for o in p.transactions.iter().filter_map(|t| t.reverses) {
        if let Some(kind) = pending.get(&o) {
            // Written in this batch: not a point movement yet (those are written after).
            let kind = (*kind).to_owned();
            originals.insert(
                o,
                Original {
                    kind,
                    movement: None,
                },
            );
        }
    }
    let pg = matches!(conn, TxConn::Pg(_));
    let mut deltas = Deltas::default();
    for t in &p.transactions {
        let posted = Posted {
            created_at: t.created_at,
            kind: &t.kind,
            reverses: t.reverses.and_then(|o| originals.get(&o)),
            legs: &t.postings,
        };
        deltas.add(&posted, pg);
    }
    Ok(deltas)
}

/// Adds `d` to the report aggregates, table by table in key order, and the point movements
/// written since the last write (`movements_upsert_sql`). PostgreSQL: one statement per table
/// (per 128 rows); SQLite: they join the batch's other statements.
async fn write_aggregates<'q>(
    conn: &mut TxConn,
    statements: &mut LiteStatements<'q>,
    d: &'q Deltas,
    movements: &'q [Uuid],
) -> Result<(), sqlx::Error> {
    use crate::writer::aggregates::upsert_values_sql;
    let mut lite = std::mem::take(statements);
    let store_days: Vec<_> = d.store_days.iter().collect();
    per_chunk!(
        conn,
        lite,
        store_days,
        4,
        |n, first| upsert_values_sql(0, n, first),
        |q, r| q
            .bind(r.map(|r| r.0.0))
            .bind(r.and_then(|r| r.0.1))
            .bind(r.map(|r| r.0.2))
            .bind(r.map(|r| *r.1))
    );
    let usage_days: Vec<_> = d.usage_days.iter().collect();
    per_chunk!(
        conn,
        lite,
        usage_days,
        6,
        |n, first| upsert_values_sql(1, n, first),
        |q, r| q
            .bind(r.map(|r| r.0.0))
            .bind(r.map(|r| r.0.1))
            .bind(r.map(|r| r.1[0]))
            .bind(r.map(|r| r.1[1]))
            .bind(r.map(|r| r.1[2]))
            .bind(r.map(|r| r.1[3]))
    );
    let shopper_months: Vec<_> = d.shopper_months.iter().collect();
    per_chunk!(
        conn,
        lite,
        shopper_months,
        4,
        |n, first| upsert_values_sql(2, n, first),
        |q, r| q
            .bind(r.map(|r| r.0.0))
            .bind(r.map(|r| r.0.1))
            .bind(r.and_then(|r| r.0.2))
            .bind(r.map(|r| *r.1))
    );
    let wallet_flows: Vec<_> = d.wallet_flows.iter().collect();
    per_chunk!(
        conn,
        lite,
        wallet_flows,
        8,
        |n, first| upsert_values_sql(3, n, first),
        |q, r| q
            .bind(r.map(|r| r.0.0))
            .bind(r.map(|r| r.0.1))
            .bind(r.map(|r| r.0.2.as_str()))
            .bind(r.map(|r| r.0.3.as_str()))
            .bind(r.map(|r| r.0.4))
            .bind(r.map(|r| r.0.5))
            .bind(r.map(|r| r.0.6))
            .bind(r.map(|r| *r.1))
    );
    for (table, rows) in [
        (POINT_STORE_MONTHS, &d.point_store_months),
        (POINT_STORE_DAYS, &d.point_store_days),
    ] {
        let rows: Vec<_> = rows.iter().collect();
        per_chunk!(
            conn,
            lite,
            rows,
            5,
            |n, first| upsert_values_sql(table, n, first),
            |q, r| q
                .bind(r.map(|r| r.0.0))
                .bind(r.map(|r| r.0.1))
                .bind(r.map(|r| r.0.2))
                .bind(r.map(|r| r.0.3.as_str()))
                .bind(r.map(|r| *r.1))
        );
    }
    count_movements(conn, &mut lite, movements).await?;
    *statements = lite;
    Ok(())
}

/// The point movements written since the last write, to `agg_point_store_months` and
/// `agg_point_store_days` by their definition: PostgreSQL one statement, SQLite two per 128
/// movements.
async fn count_movements<'q>(
    conn: &mut TxConn,
    lite: &mut LiteStatements<'q>,
    movements: &'q [Uuid],
) -> Result<(), sqlx::Error> {
    use crate::writer::aggregates::{ids_text, movements_upsert_sql};
    static PG: std::sync::LazyLock<String> =
        std::sync::LazyLock::new(|| movements_upsert_sql(true, "$1"));
    if movements.is_empty() {
        return Ok(());
    }
    match conn {
        TxConn::Pg(tx) => {
            // Not prepared once and reused: a generic plan does not know how few ids the
            // array holds and scans whole tables; planned with it bound, it walks the indexes.
            sqlx::query(&PG)
                .bind(movements)
                .persistent(false)
                .execute(&mut **tx)
                .await?;
        }
        TxConn::Lite(tx) => {
            for chunk in movements.chunks(ROWS_PER_STATEMENT_MAX) {
                let n = chunk.len().next_power_of_two();
                if lite.used() + n > SQLITE_PARAMS_MAX {
                    lite.run(tx).await?;
                }
                lite.sql
                    .push_str(&movements_upsert_sql(false, &ids_text(n, lite.used() + 1)));
                lite.sql.push_str(";\n");
                let mut q = std::mem::take(lite);
                for id in chunk
                    .iter()
                    .map(Some)
                    .chain(std::iter::repeat_n(None, n - chunk.len()))
                {
                    q = q.bind(id.copied());
                }
                *lite = q;
            }
        }
    }
    Ok(())
}
/// A point movement was written (after its transaction): its card postings join the report
/// aggregates with the next write of pending rows.
pub fn count_point_movement(tx: &mut WriteTx, transaction: TransactionId) {
    tx.pending_mut().movements.push(transaction.0);
}

/// Sums changes per row id, dropping those that cancel out; in id order.
fn fold(changes: impl Iterator<Item = (Uuid, i64)>) -> Vec<(Uuid, i64)> {
    let mut by_id = std::collections::BTreeMap::new();
    for (id, delta) in changes {
        *by_id.entry(id).or_insert(0i64) += delta;
    }
    by_id.into_iter().filter(|(_, d)| *d != 0).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_cover_any_count_with_few_shapes() {
        for n in 0..1_000 {
            let sizes = chunk_sizes(n);
            assert_eq!(sizes.iter().map(|(real, _)| real).sum::<usize>(), n);
            assert_eq!(sizes.len(), n.div_ceil(ROWS_PER_STATEMENT_MAX));
            for (real, padded) in sizes {
                assert!(padded.is_power_of_two() && padded >= real);
                assert!(padded <= ROWS_PER_STATEMENT_MAX);
            }
        }
        assert_eq!(chunk_sizes(300), vec![(128, 128), (128, 128), (44, 64)]);
        assert_eq!(placeholders(2, 2, 1), "($1, $2), ($3, $4)");
        assert_eq!(placeholders(1, 2, 5), "($5), ($6)");
    }

    #[test]
    fn fold_sums_per_id_and_drops_zeros() {
        let a = Uuid::from_u128(1);
        let b = Uuid::from_u128(2);
        assert_eq!(
            fold([(b, 5), (a, 3), (b, -5), (a, 4)].into_iter()),
            vec![(a, 7)]
        );
    }
}
