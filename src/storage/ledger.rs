//! Accounts, transactions, postings, lots and idempotency records. Postings and lot
//! movements are only ever inserted; balances and lot remainders are caches kept in the
//! same transaction as the rows they summarise.

use chrono::{DateTime, NaiveDate, Utc};
use serde::Serialize;
use uuid::Uuid;

use super::{Db, TxConn, WriteTx, read, write_vetted};
use crate::domain::ids::*;
use crate::domain::ledger::{AccountKind, Asset, Leg};

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

const ACCOUNT_COLUMNS: &str =
    "SELECT id, program_id, kind, asset, owner_id, allow_negative, balance FROM accounts";

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
        && let Some(found) = tx.known.get(|f| f.accounts.get(&key))
    {
        return Ok(found);
    }
    let found = match find_account_tx(tx, program, kind, asset, owner).await? {
        Some(found) => found,
        None => create_account(tx, program, kind, asset, owner).await?,
    };
    if found.allow_negative {
        tx.known.stage(|f| {
            f.accounts.insert(key, found.clone());
        });
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

/// Every wallet a shopper holds in a program, with exact balances, in one read. Within a job
/// the answer is remembered and kept current by `apply_guarded` and `ensure_account`
/// (`storage::Known`); it is dropped when the job ends.
pub async fn shopper_wallets(
    tx: &mut WriteTx,
    program: ProgramId,
    shopper: Uuid,
) -> Result<Vec<Account>, sqlx::Error> {
    if let Some(held) = tx.known.wallets.get(&(program, shopper)) {
        return Ok(held.clone());
    }
    let sql = format!(
        "{ACCOUNT_COLUMNS} WHERE program_id = $1 AND kind = 'shopper_wallet' AND owner_id = $2"
    );
    let held: Vec<Account> = write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(shopper)
        .fetch_all(c)
        .await)?;
    tx.known.wallets.insert((program, shopper), held.clone());
    Ok(held)
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
    write_vetted!(tx, |c| {
        let q = sqlx::query_as(&sql)
            .bind(program.0)
            .bind(kind.as_str())
            .bind(asset.as_str());
        let q = match owner {
            Some(o) => q.bind(o),
            None => q,
        };
        q.fetch_optional(c).await
    })
}

pub async fn get_account_tx(
    tx: &mut WriteTx,
    id: AccountId,
) -> Result<Option<Account>, sqlx::Error> {
    let sql = format!("{ACCOUNT_COLUMNS} WHERE id = $1");
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
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

/// Inserts a transaction row and its postings: one statement on PostgreSQL (a data-modifying
/// CTE), two on SQLite (which has none). The balance of the postings is the caller's
/// business (`Entry`); PostgreSQL re-checks it at commit.
pub async fn insert_entry(
    tx: &mut WriteTx,
    t: &NewTransaction<'_>,
    legs: &[Leg],
) -> Result<(), sqlx::Error> {
    const TXN: &str = "INSERT INTO transactions \
        (id, program_id, kind, reverses_id, initiated_by, memo, created_at) \
        VALUES ($1, $2, $3, $4, $5, $6, $7)";
    // "INSERT INTO postings ... VALUES ($1, $k, $k+1, $k+2), ($1, $k+3, ...)": $1 is the
    // transaction id, legs' parameters start at $k.
    let postings = |k: usize| {
        let rows: Vec<String> = (0..legs.len())
            .map(|i| {
                let n = k + 3 * i;
                format!("($1, ${n}, ${}, ${})", n + 1, n + 2)
            })
            .collect();
        format!(
            "INSERT INTO postings (transaction_id, account_id, asset, amount) VALUES {}",
            rows.join(", ")
        )
    };
    macro_rules! bind_transaction {
        ($q:expr) => {
            $q.bind(t.id.0)
                .bind(t.program.0)
                .bind(t.kind)
                .bind(t.reverses.map(|r| r.0))
                .bind(t.initiated_by)
                .bind(t.memo)
                .bind(t.created_at)
        };
    }
    macro_rules! bind_legs {
        ($q:expr) => {{
            let mut q = $q;
            for leg in legs {
                q = q
                    .bind(leg.account.0)
                    .bind(leg.asset.as_str())
                    .bind(leg.amount);
            }
            q
        }};
    }
    match &mut tx.conn {
        TxConn::Pg(c) if legs.is_empty() => {
            bind_transaction!(sqlx::query(TXN))
                .execute(&mut **c)
                .await?;
        }
        TxConn::Pg(c) => {
            let sql = format!("WITH t AS ({TXN}) {}", postings(8));
            bind_legs!(bind_transaction!(sqlx::query(&sql)))
                .execute(&mut **c)
                .await?;
        }
        TxConn::Lite(c) => {
            bind_transaction!(sqlx::query(TXN))
                .execute(&mut **c)
                .await?;
            if legs.is_empty() {
                return Ok(());
            }
            let sql = postings(2);
            bind_legs!(sqlx::query(&sql).bind(t.id.0))
                .execute(&mut **c)
                .await?;
        }
    }
    Ok(())
}

/// Applies `delta` to a balance only if the result stays at or above zero. Returns false
/// (and changes nothing) when it would not: the caller reports insufficient funds. The
/// CHECK constraint on accounts backs this up. The new balance updates the running job's
/// view of the shopper's wallets.
pub async fn apply_guarded(
    tx: &mut WriteTx,
    account: AccountId,
    delta: i64,
) -> Result<bool, sqlx::Error> {
    let balance: Option<i64> = write_vetted!(tx, |c| sqlx::query_scalar(
        "UPDATE accounts SET balance = balance + $2 WHERE id = $1 AND balance + $2 >= 0 \
         RETURNING balance"
    )
    .bind(account.0)
    .bind(delta)
    .fetch_optional(c)
    .await)?;
    let Some(balance) = balance else {
        return Ok(false);
    };
    for held in tx.known.wallets.values_mut().flatten() {
        if held.id == account {
            held.balance = balance;
        }
    }
    Ok(true)
}

/// Applies a folded delta to an account that may go negative (see ledger::writer).
pub async fn apply_unguarded(
    tx: &mut WriteTx,
    account: AccountId,
    delta: i64,
) -> Result<(), sqlx::Error> {
    // Vetted: accounts that may go negative are remembered for their identity only, and
    // a shopper wallet (never such an account) is not changed here.
    write_vetted!(tx, |c| sqlx::query(
        "UPDATE accounts SET balance = balance + $2 WHERE id = $1"
    )
    .bind(account.0)
    .bind(delta)
    .execute(c)
    .await
    .map(|_| ()))
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
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO lots (id, account_id, transaction_id, amount, remaining, expires_on, created_at) \
         VALUES ($1, $2, $3, $4, $4, $5, $6)"
    )
    .bind(id.0)
    .bind(account.0)
    .bind(txn.0)
    .bind(amount)
    .bind(expires_on)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    Ok(id)
}

/// Open lots of an account in spending order: earliest expiry first, never-expiring last,
/// oldest first within a date. (Both dialects accept NULLS LAST; SQLite's default differs.)
pub async fn open_lots(tx: &mut WriteTx, account: AccountId) -> Result<Vec<Lot>, sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query_as(
        "SELECT id, account_id, amount, remaining, expires_on FROM lots \
         WHERE account_id = $1 AND remaining > 0 ORDER BY expires_on ASC NULLS LAST, id ASC"
    )
    .bind(account.0)
    .fetch_all(c)
    .await)
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

/// Moves `delta` in or out of a lot and records the movement. Consumption is negative.
/// One statement on PostgreSQL (a data-modifying CTE), two on SQLite.
pub async fn move_lot(
    tx: &mut WriteTx,
    txn: TransactionId,
    lot: LotId,
    delta: i64,
) -> Result<(), sqlx::Error> {
    const MOVE: &str = "UPDATE lots SET remaining = remaining + $3 WHERE id = $2";
    const RECORD: &str =
        "INSERT INTO lot_movements (transaction_id, lot_id, amount) VALUES ($1, $2, $3)";
    match &mut tx.conn {
        TxConn::Pg(c) => {
            sqlx::query(&format!("WITH m AS ({MOVE}) {RECORD}"))
                .bind(txn.0)
                .bind(lot.0)
                .bind(delta)
                .execute(&mut **c)
                .await?;
        }
        TxConn::Lite(c) => {
            sqlx::query("UPDATE lots SET remaining = remaining + $2 WHERE id = $1")
                .bind(lot.0)
                .bind(delta)
                .execute(&mut **c)
                .await?;
            sqlx::query(RECORD)
                .bind(txn.0)
                .bind(lot.0)
                .bind(delta)
                .execute(&mut **c)
                .await?;
        }
    }
    Ok(())
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

#[derive(Debug, Clone, sqlx::FromRow, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct TransactionRecord {
    #[sqlx(try_from = "Uuid")]
    pub id: TransactionId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub kind: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub reverses_id: Option<Uuid>,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub reversed_by: Option<Uuid>,
    pub memo: Option<String>,
    pub created_at: DateTime<Utc>,
}

#[derive(Debug, Clone, sqlx::FromRow, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct PostingRecord {
    #[sqlx(try_from = "Uuid")]
    pub account_id: AccountId,
    #[sqlx(try_from = "String")]
    pub account_kind: AccountKind,
    #[schema(value_type = Option<String>, format = Uuid)]
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
    write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT request_hash, status_code, response_body FROM idempotency_keys WHERE principal_id = $1 AND key = $2"
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(c)
    .await
    })
}

pub async fn store_reply(
    tx: &mut WriteTx,
    scope: Uuid,
    key: &str,
    reply: &StoredReply,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO idempotency_keys (principal_id, key, request_hash, status_code, response_body, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(scope)
    .bind(key)
    .bind(&reply.request_hash)
    .bind(reply.status_code)
    .bind(&reply.response_body)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// What the integrity check found; every number should be zero.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize, utoipa::ToSchema)]
pub struct IntegrityReport {
    /// Transactions of the program whose postings do not sum to zero for some asset.
    pub unbalanced_transactions: i64,
    /// Accounts whose cached balance differs from the sum of their postings.
    pub balance_mismatches: i64,
    /// Shopper wallets whose balance differs from the sum of their open lots.
    pub lot_mismatches: i64,
    /// Accounts that may not go negative but are.
    pub negative_balances: i64,
    pub transactions: i64,
    pub postings: i64,
}

pub async fn integrity(db: &Db, program: ProgramId) -> Result<IntegrityReport, sqlx::Error> {
    let q = |sql: &'static str| async move {
        read!(db, |c| sqlx::query_scalar::<_, i64>(sql)
            .bind(program.0)
            .fetch_one(c)
            .await)
    };
    Ok(IntegrityReport {
        unbalanced_transactions: q("SELECT count(*) FROM (SELECT p.transaction_id FROM postings p \
             JOIN transactions t ON t.id = p.transaction_id WHERE t.program_id = $1 \
             GROUP BY p.transaction_id, p.asset HAVING sum(p.amount) <> 0) x")
        .await?,
        balance_mismatches: q("SELECT count(*) FROM accounts a WHERE a.program_id = $1 AND a.balance <> \
             (SELECT coalesce(sum(p.amount), 0) FROM postings p WHERE p.account_id = a.id)")
        .await?,
        lot_mismatches: q("SELECT count(*) FROM accounts a WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' \
             AND a.balance <> (SELECT coalesce(sum(l.remaining), 0) FROM lots l WHERE l.account_id = a.id)")
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
