//! Report queries. Figures are read from the report aggregates (`agg_wallet_flows`, per JST
//! day, kept with the postings: `writer::aggregates`), never from cached balances, so a report
//! for a past date gives the same answer however often and however late it is asked. The
//! `*_from_postings` twins recompute them from postings (the definition, for checks and tests).

use chrono::{DateTime, NaiveDate, Utc};

use crate::db::{Db, read};
use crate::writer::aggregates::day_key;
use machipay_domain::ids::*;
use machipay_domain::ledger::Asset;
use machipay_domain::prepaid_law::WalletFlow;

/// Sum per asset of every posting on the program's shopper wallets made by a transaction
/// created before `before`: what shoppers held at that instant.
pub async fn wallet_totals_before_from_postings(
    db: &Db,
    program: ProgramId,
    before: DateTime<Utc>,
) -> Result<Vec<(Asset, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = read!(db, |c| sqlx::query_as(
        "SELECT p.asset, CAST(coalesce(sum(p.amount), 0) AS BIGINT) FROM postings p \
         JOIN accounts a ON a.id = p.account_id JOIN transactions t ON t.id = p.transaction_id \
         WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND t.created_at < $2 \
         GROUP BY p.asset ORDER BY p.asset"
    )
    .bind(program.0)
    .bind(before)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| Asset::parse(&a).map(|a| (a, n)))
        .collect())
}

/// The postings on the program's shopper wallets made by transactions created before `to`,
/// summed per period (`true`: created at `from` or later), kind (a reversal's is the kind of
/// what it reverses), reversal or not, asset and sign. The unused-balance report takes its
/// opening balance, its half-year's movements and so its closing balance from this one
/// statement, so they always agree even while payments commit.
pub async fn wallet_flows_before_from_postings(
    db: &Db,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(bool, WalletFlow)>, sqlx::Error> {
    // Flags are 0/1 integers, which both dialects group and decode alike.
    let rows: Vec<FlowRow> = read!(db, |c| sqlx::query_as(
        "SELECT CAST(CASE WHEN t.created_at >= $2 THEN 1 ELSE 0 END AS BIGINT), \
         coalesce(o.kind, t.kind), \
         CAST(CASE WHEN t.reverses_id IS NULL THEN 0 ELSE 1 END AS BIGINT), p.asset, \
         CAST(CASE WHEN p.amount > 0 THEN 1 ELSE 0 END AS BIGINT), CAST(sum(p.amount) AS BIGINT) \
         FROM postings p JOIN accounts a ON a.id = p.account_id \
         JOIN transactions t ON t.id = p.transaction_id \
         LEFT JOIN transactions o ON o.id = t.reverses_id \
         WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND t.created_at < $3 \
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    )
    .bind(program.0)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)?;
    Ok(flows(rows))
}

/// `wallet_totals_before_from_postings` at the start of the JST day `day`, from
/// `agg_wallet_flows` (a prefix sum over days).
pub async fn wallet_totals_before_day(
    db: &Db,
    program: ProgramId,
    day: NaiveDate,
) -> Result<Vec<(Asset, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = read!(db, |c| sqlx::query_as(
        "SELECT asset, CAST(sum(amount) AS BIGINT) FROM agg_wallet_flows \
         WHERE program_id = $1 AND day < $2 GROUP BY asset ORDER BY asset"
    )
    .bind(program.0)
    .bind(day_key(day))
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| Asset::parse(&a).map(|a| (a, n)))
        .collect())
}

/// `wallet_flows_before_from_postings` for the period of JST days `from..=to` (and every day
/// before it), from `agg_wallet_flows`.
pub async fn wallet_flows_through(
    db: &Db,
    program: ProgramId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<(bool, WalletFlow)>, sqlx::Error> {
    let rows: Vec<FlowRow> = read!(db, |c| sqlx::query_as(
        "SELECT CAST(CASE WHEN day >= $2 THEN 1 ELSE 0 END AS BIGINT), original_kind, \
         CAST(reversal AS BIGINT), asset, CAST(credit AS BIGINT), CAST(sum(amount) AS BIGINT) \
         FROM agg_wallet_flows WHERE program_id = $1 AND day <= $3 \
         GROUP BY 1, 2, 3, 4, 5 ORDER BY 1, 2, 3, 4, 5"
    )
    .bind(program.0)
    .bind(day_key(from))
    .bind(day_key(to))
    .fetch_all(c)
    .await)?;
    Ok(flows(rows))
}

/// What the program's shopper wallets gained per asset from transactions created in
/// [from, to) (a part of a day, beside `wallet_totals_before_day`). Through the program's
/// transactions by time (`transactions_program`): a transaction posts to its own program's
/// accounts.
pub async fn wallet_totals_between_from_postings(
    db: &Db,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Asset, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = read!(db, |c| sqlx::query_as(
        "SELECT p.asset, CAST(coalesce(sum(p.amount), 0) AS BIGINT) FROM transactions t \
         JOIN postings p ON p.transaction_id = t.id JOIN accounts a ON a.id = p.account_id \
         WHERE t.program_id = $1 AND a.program_id = $1 AND a.kind = 'shopper_wallet' \
         AND t.created_at >= $2 AND t.created_at < $3 GROUP BY p.asset ORDER BY p.asset"
    )
    .bind(program.0)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| Asset::parse(&a).map(|a| (a, n)))
        .collect())
}

/// A row of `wallet_flows_before` or `wallet_flows_before_day` (in the period?, kind,
/// reversal, asset, credit, amount) as a flow; rows of an unknown asset are left out.
type FlowRow = (i64, String, i64, String, i64, i64);

fn flows(rows: Vec<FlowRow>) -> Vec<(bool, WalletFlow)> {
    rows.into_iter()
        .filter_map(|(in_period, kind, reversal, asset, credit, amount)| {
            let flow = WalletFlow {
                kind,
                reversal: reversal == 1,
                asset: Asset::parse(&asset)?,
                credit: credit == 1,
                amount,
            };
            Some((in_period == 1, flow))
        })
        .collect()
}
