//! Settlement rows: runs, immutable statements and the settled-transaction marks that make a
//! transaction settle in exactly one run. None of these are rows the writer remembers, so
//! their statements run through `write_vetted!`.

use std::collections::BTreeMap;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::{WriteTx, write_vetted};
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;
use machipay_domain::ledger::kinds::PAYOUT_KIND;
use machipay_domain::money::{Points, Yen};
use machipay_domain::settlement::Takings;

/// A settlement run, as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RunRow {
    #[sqlx(try_from = "Uuid")]
    pub id: SettlementRunId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub closing_date: NaiveDate,
    pub transfer_date: NaiveDate,
    /// `calculated`, or `paid` once confirmed.
    pub status: String,
    /// The payout sender (JSON) in force when the run was made.
    pub sender: Option<String>,
    /// Who ran it (the staff member's id): the two-person rule keeps them from confirming it.
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    pub confirmed_by: Option<Uuid>,
    pub confirmed_at: Option<DateTime<Utc>>,
}

const RUN_COLUMNS: &str = "SELECT id, program_id, closing_date, transfer_date, status, sender, \
     created_by, created_at, confirmed_by, confirmed_at FROM settlement_runs";

pub(crate) async fn find_run_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    closing: NaiveDate,
) -> Result<Option<RunRow>, sqlx::Error> {
    let sql = format!("{RUN_COLUMNS} WHERE program_id = $1 AND closing_date = $2");
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(closing)
        .fetch_optional(c)
        .await)
}

/// The program's run with the latest closing date, if any.
pub(crate) async fn latest_run_tx(
    tx: &mut WriteTx,
    program: ProgramId,
) -> Result<Option<RunRow>, sqlx::Error> {
    let sql = format!("{RUN_COLUMNS} WHERE program_id = $1 ORDER BY closing_date DESC LIMIT 1");
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .fetch_optional(c)
        .await)
}

pub(crate) async fn get_run_tx(
    tx: &mut WriteTx,
    id: SettlementRunId,
) -> Result<Option<RunRow>, sqlx::Error> {
    let sql = format!("{RUN_COLUMNS} WHERE id = $1");
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

pub(crate) async fn get_run(db: &Db, id: SettlementRunId) -> Result<Option<RunRow>, sqlx::Error> {
    let sql = format!("{RUN_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

pub(crate) async fn list_runs(
    db: &Db,
    program: ProgramId,
    limit: i64,
) -> Result<Vec<RunRow>, sqlx::Error> {
    let sql = format!("{RUN_COLUMNS} WHERE program_id = $1 ORDER BY closing_date DESC LIMIT $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(limit)
        .fetch_all(c)
        .await)
}

pub(crate) async fn insert_run(tx: &mut WriteTx, r: &RunRow, by: Uuid) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO settlement_runs (id, program_id, closing_date, transfer_date, sender, status, \
         created_by, created_at) VALUES ($1, $2, $3, $4, $5, 'calculated', $6, $7)"
    )
    .bind(r.id.0)
    .bind(r.program_id.0)
    .bind(r.closing_date)
    .bind(r.transfer_date)
    .bind(&r.sender)
    .bind(by)
    .bind(r.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Marks a run paid; false if it already was.
pub(crate) async fn mark_paid(
    tx: &mut WriteTx,
    id: SettlementRunId,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let n = write_vetted!(tx, |c| sqlx::query(
        "UPDATE settlement_runs SET status = 'paid', confirmed_by = $2, confirmed_at = $3 \
         WHERE id = $1 AND status = 'calculated'"
    )
    .bind(id.0)
    .bind(by)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

/// Conditions every query on unsettled store takings shares: the program's Merchant accounts,
/// transactions before `$2`, no payouts, nothing already settled. `owner_id IS NOT NULL` lets
/// SQLite start from the store accounts by the partial index `accounts_owned` (without it, it
/// scanned every posting: 3.3 s against 1.1 s at 300,000 transactions). Both still read every
/// store posting ever made (30 s on PostgreSQL at 10 M): see the README's "Settlement at scale".
const UNSETTLED: &str = "FROM postings p JOIN accounts a ON a.id = p.account_id \
     JOIN transactions t ON t.id = p.transaction_id \
     WHERE a.program_id = $1 AND a.kind = 'merchant' AND a.owner_id IS NOT NULL \
     AND t.created_at < $2 AND t.kind <> $3 \
     AND NOT EXISTS (SELECT 1 FROM settled_transactions s WHERE s.transaction_id = t.id)";

/// What each store took and has not been settled for, from transactions before `before`.
pub(crate) async fn unsettled_takings_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    before: DateTime<Utc>,
) -> Result<BTreeMap<MerchantId, Takings>, sqlx::Error> {
    let sums = format!(
        "SELECT a.owner_id, a.asset, \
         CAST(coalesce(sum(CASE WHEN p.amount > 0 THEN p.amount ELSE 0 END), 0) AS BIGINT), \
         CAST(coalesce(sum(CASE WHEN p.amount < 0 THEN -p.amount ELSE 0 END), 0) AS BIGINT) \
         {UNSETTLED} GROUP BY a.owner_id, a.asset"
    );
    let counts = format!(
        "SELECT a.owner_id, count(DISTINCT p.transaction_id) {UNSETTLED} GROUP BY a.owner_id"
    );
    let rows: Vec<(Uuid, String, i64, i64)> = write_vetted!(tx, |c| sqlx::query_as(&sums)
        .bind(program.0)
        .bind(before)
        .bind(PAYOUT_KIND)
        .fetch_all(c)
        .await)?;
    let n: Vec<(Uuid, i64)> = write_vetted!(tx, |c| sqlx::query_as(&counts)
        .bind(program.0)
        .bind(before)
        .bind(PAYOUT_KIND)
        .fetch_all(c)
        .await)?;
    let mut out: BTreeMap<MerchantId, Takings> = BTreeMap::new();
    for (owner, asset, credit, debit) in rows {
        let t = out.entry(MerchantId(owner)).or_default();
        match Asset::parse(&asset) {
            Some(yen @ (Asset::Coin | Asset::Premium)) => {
                let (credit, debit) = (Yen::new(credit), Yen::new(debit));
                t.payments_yen = t.payments_yen.checked_add(credit).map_err(overflow)?;
                t.refunds_yen = t.refunds_yen.checked_add(debit).map_err(overflow)?;
                let net = credit.checked_sub(debit).map_err(overflow)?;
                let held = if yen == Asset::Coin {
                    &mut t.coin_net
                } else {
                    &mut t.premium_net
                };
                *held = held.checked_add(net).map_err(overflow)?;
            }
            Some(Asset::Points) => {
                let (credit, debit) = (Points::new(credit), Points::new(debit));
                t.points_received = t.points_received.checked_add(credit).map_err(overflow)?;
                t.points_charged = t.points_charged.checked_add(debit).map_err(overflow)?;
            }
            None => {}
        }
    }
    for (owner, count) in n {
        out.entry(MerchantId(owner)).or_default().transactions = count;
    }
    Ok(out)
}

/// A sum past i64 (impossible with amounts bounded by `AMOUNT_MAX`) fails the query.
fn overflow(e: machipay_domain::money::AmountError) -> sqlx::Error {
    sqlx::Error::Decode(Box::new(e))
}

/// Marks a store's unsettled transactions before `before` as settled by `run`. The primary
/// key on the transaction makes settling one twice fail.
pub(crate) async fn settle_transactions(
    tx: &mut WriteTx,
    run: SettlementRunId,
    program: ProgramId,
    merchant: MerchantId,
    before: DateTime<Utc>,
) -> Result<u64, sqlx::Error> {
    let sql = format!(
        "INSERT INTO settled_transactions (transaction_id, run_id, merchant_id) \
         SELECT DISTINCT t.id, $4, a.owner_id {UNSETTLED} AND a.owner_id = $5"
    );
    write_vetted!(tx, |c| sqlx::query(&sql)
        .bind(program.0)
        .bind(before)
        .bind(PAYOUT_KIND)
        .bind(run.0)
        .bind(merchant.0)
        .execute(c)
        .await
        .map(|r| r.rows_affected()))
}

/// A store's statement in a run, as stored (immutable).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StatementRow {
    #[sqlx(try_from = "Uuid")]
    pub id: StatementId,
    #[sqlx(try_from = "Uuid")]
    pub run_id: SettlementRunId,
    #[sqlx(try_from = "Uuid")]
    pub merchant_id: MerchantId,
    /// `payable` (in the transfer file) or `held` (settles nothing; see hold_reason).
    pub status: String,
    /// `new_store`, `no_bank_account` or `nothing_payable`.
    pub hold_reason: Option<String>,
    pub transactions: i64,
    pub payments_yen: i64,
    pub refunds_yen: i64,
    pub coin_net: i64,
    pub premium_net: i64,
    pub points_received: i64,
    pub points_charged: i64,
    pub point_value_yen: String,
    pub points_reimbursed_yen: i64,
    pub points_charged_yen: i64,
    pub fee_yen: i64,
    pub net_payable_yen: i64,
    /// The account paid to (JSON of the bank account), copied when the run was made.
    pub bank_account: Option<String>,
    pub created_at: DateTime<Utc>,
}

const STATEMENT_COLUMNS: &str = "SELECT id, run_id, merchant_id, status, hold_reason, \
     transactions, payments_yen, refunds_yen, coin_net, premium_net, points_received, \
     points_charged, point_value_yen, points_reimbursed_yen, points_charged_yen, fee_yen, \
     net_payable_yen, bank_account, created_at FROM settlement_statements";

pub(crate) async fn insert_statement(
    tx: &mut WriteTx,
    s: &StatementRow,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO settlement_statements (id, run_id, merchant_id, status, hold_reason, \
         transactions, payments_yen, refunds_yen, coin_net, premium_net, points_received, \
         points_charged, point_value_yen, points_reimbursed_yen, points_charged_yen, fee_yen, \
         net_payable_yen, bank_account, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, \
         $9, $10, $11, $12, $13, $14, $15, $16, $17, $18, $19)"
    )
    .bind(s.id.0)
    .bind(s.run_id.0)
    .bind(s.merchant_id.0)
    .bind(&s.status)
    .bind(&s.hold_reason)
    .bind(s.transactions)
    .bind(s.payments_yen)
    .bind(s.refunds_yen)
    .bind(s.coin_net)
    .bind(s.premium_net)
    .bind(s.points_received)
    .bind(s.points_charged)
    .bind(&s.point_value_yen)
    .bind(s.points_reimbursed_yen)
    .bind(s.points_charged_yen)
    .bind(s.fee_yen)
    .bind(s.net_payable_yen)
    .bind(&s.bank_account)
    .bind(s.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

pub(crate) async fn statements(
    db: &Db,
    run: SettlementRunId,
) -> Result<Vec<StatementRow>, sqlx::Error> {
    let sql = format!("{STATEMENT_COLUMNS} WHERE run_id = $1 ORDER BY merchant_id");
    read!(db, |c| sqlx::query_as(&sql).bind(run.0).fetch_all(c).await)
}

pub(crate) async fn statements_tx(
    tx: &mut WriteTx,
    run: SettlementRunId,
) -> Result<Vec<StatementRow>, sqlx::Error> {
    let sql = format!("{STATEMENT_COLUMNS} WHERE run_id = $1 ORDER BY merchant_id");
    write_vetted!(tx, |c| sqlx::query_as(&sql).bind(run.0).fetch_all(c).await)
}

/// The runs of a store's latest statements: id, closing date and transfer date.
pub(crate) async fn merchant_run_dates(
    db: &Db,
    merchant: MerchantId,
    limit: i64,
) -> Result<Vec<(Uuid, NaiveDate, NaiveDate)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT r.id, r.closing_date, r.transfer_date FROM settlement_runs r \
         JOIN settlement_statements s ON s.run_id = r.id WHERE s.merchant_id = $1 \
         ORDER BY s.created_at DESC LIMIT $2"
    )
    .bind(merchant.0)
    .bind(limit)
    .fetch_all(c)
    .await)
}

/// A store's statements, newest first.
pub(crate) async fn merchant_statements(
    db: &Db,
    merchant: MerchantId,
    limit: i64,
) -> Result<Vec<StatementRow>, sqlx::Error> {
    let sql =
        format!("{STATEMENT_COLUMNS} WHERE merchant_id = $1 ORDER BY created_at DESC LIMIT $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(merchant.0)
        .bind(limit)
        .fetch_all(c)
        .await)
}
