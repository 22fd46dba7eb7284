//! Queries of the city's reports: which stores transacted in a period, and the usage figures
//! per JST month. Read from the report aggregates (`writer::aggregates`: per JST day, so a
//! past period's figures never change); the `*_from_postings` twins recompute the same figures
//! from postings (the definition, for checks and tests).

use chrono::{DateTime, Datelike, NaiveDate, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::aggregates::{day_key, month_key};
use machipay_domain::ids::*;
// A payout (`PAYOUT_KIND`) is never counted as store activity: it is the operator's, not a sale.
use machipay_domain::ledger::kinds::PAYOUT_KIND;

/// Stores with at least one posting on their Merchant accounts of the program from
/// transactions created in [from, to).
pub(crate) async fn active_merchants_from_postings(
    db: &Db,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<MerchantId>, sqlx::Error> {
    let ids: Vec<Uuid> = read!(db, |c| sqlx::query_scalar(
        "SELECT DISTINCT a.owner_id FROM postings p JOIN accounts a ON a.id = p.account_id \
         JOIN transactions t ON t.id = p.transaction_id \
         WHERE a.program_id = $1 AND a.kind = 'merchant' AND t.created_at >= $2 \
         AND t.created_at < $3 AND t.kind <> $4"
    )
    .bind(program.0)
    .bind(from)
    .bind(to)
    .bind(PAYOUT_KIND)
    .fetch_all(c)
    .await)?;
    Ok(ids.into_iter().map(MerchantId).collect())
}

/// Usage figures of one month (or of a whole period).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Usage {
    /// Transactions paying a store.
    pub transactions: i64,
    /// What stores were paid (coin, premium and points).
    pub value: i64,
    pub active_shoppers: i64,
    /// Points credited to shoppers (rebates, earnings), reversals excluded.
    pub points_issued: i64,
    /// Points shoppers spent at stores.
    pub points_redeemed: i64,
}

/// A transaction's JST month ("2025-04"), per dialect.
fn month_expr(db: &Db) -> &'static str {
    match db {
        Db::Pg(..) => "to_char((t.created_at AT TIME ZONE 'UTC') + interval '9 hours', 'YYYY-MM')",
        Db::Lite { .. } => "strftime('%Y-%m', t.created_at, '+9 hours')",
    }
}

/// A payment to a store: the transaction credits some Merchant account.
const PAYS_STORE: &str = "EXISTS (SELECT 1 FROM postings mp JOIN accounts ma ON ma.id = mp.account_id \
     WHERE mp.transaction_id = t.id AND ma.kind = 'merchant' AND mp.amount > 0)";

/// Usage per JST month of transactions created in [from, to), months in order. With
/// `by_month` false, one row for the whole period (key "").
pub(crate) async fn usage_from_postings(
    db: &Db,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    by_month: bool,
) -> Result<Vec<(String, Usage)>, sqlx::Error> {
    let key = if by_month { month_expr(db) } else { "''" };
    let base = "FROM postings p JOIN accounts a ON a.id = p.account_id \
         JOIN transactions t ON t.id = p.transaction_id \
         WHERE a.program_id = $1 AND t.created_at >= $2 AND t.created_at < $3 AND t.kind <> $4";
    let queries = [
        format!(
            "SELECT {key}, count(DISTINCT t.id), CAST(coalesce(sum(p.amount), 0) AS BIGINT) {base} \
             AND a.kind = 'merchant' AND p.amount > 0 GROUP BY 1"
        ),
        format!(
            "SELECT {key}, count(DISTINCT a.owner_id), CAST(0 AS BIGINT) {base} \
             AND a.kind = 'shopper_wallet' AND p.amount < 0 AND {PAYS_STORE} GROUP BY 1"
        ),
        format!(
            "SELECT {key}, CAST(0 AS BIGINT), CAST(coalesce(sum(p.amount), 0) AS BIGINT) {base} \
             AND a.kind = 'shopper_wallet' AND a.asset = 'points' AND p.amount > 0 \
             AND t.reverses_id IS NULL GROUP BY 1"
        ),
        format!(
            "SELECT {key}, CAST(0 AS BIGINT), CAST(coalesce(sum(-p.amount), 0) AS BIGINT) {base} \
             AND a.kind = 'shopper_wallet' AND a.asset = 'points' AND p.amount < 0 \
             AND {PAYS_STORE} GROUP BY 1"
        ),
    ];
    let mut out: std::collections::BTreeMap<String, Usage> = Default::default();
    for (i, sql) in queries.iter().enumerate() {
        let rows: Vec<(String, i64, i64)> = read!(db, |c| sqlx::query_as(sql)
            .bind(program.0)
            .bind(from)
            .bind(to)
            .bind(PAYOUT_KIND)
            .fetch_all(c)
            .await)?;
        for (month, a, b) in rows {
            let u = out.entry(month).or_default();
            match i {
                0 => (u.transactions, u.value) = (a, b),
                1 => u.active_shoppers = a,
                2 => u.points_issued = b,
                _ => u.points_redeemed = b,
            }
        }
    }
    Ok(out.into_iter().collect())
}

/// `active_merchants_from_postings` for the JST days `from..=to`, from `agg_store_days`: one
/// index probe per store account of the program (found through `accounts_owned`, a partial
/// index SQLite uses only when the query says `owner_id IS NOT NULL`: without it, it scanned
/// every account, shoppers' included, on each of the report's five or six periods).
pub(crate) async fn active_merchants(
    db: &Db,
    program: ProgramId,
    from: NaiveDate,
    to: NaiveDate,
) -> Result<Vec<MerchantId>, sqlx::Error> {
    let ids: Vec<Uuid> = read!(db, |c| {
        sqlx::query_scalar(
        "SELECT DISTINCT a.owner_id FROM accounts a WHERE a.program_id = $1 AND a.kind = 'merchant' \
         AND a.owner_id IS NOT NULL AND EXISTS (SELECT 1 FROM agg_store_days s WHERE s.program_id = $1 \
         AND s.merchant_id = a.owner_id AND s.day >= $2 AND s.day <= $3)"
    )
    .bind(program.0)
    .bind(day_key(from))
    .bind(day_key(to))
    .fetch_all(c)
    .await
    })?;
    Ok(ids.into_iter().map(MerchantId).collect())
}

/// `usage_from_postings` for the JST days `from..=to`, from `agg_usage_days` and
/// `agg_shopper_months` (a shopper is active in a range when a bit of a day in it is set).
pub(crate) async fn usage(
    db: &Db,
    program: ProgramId,
    from: NaiveDate,
    to: NaiveDate,
    by_month: bool,
) -> Result<Vec<(String, Usage)>, sqlx::Error> {
    let key = if by_month { "day / 100" } else { "0" };
    let sums = format!(
        "SELECT {key}, CAST(sum(transactions) AS BIGINT), CAST(sum(value) AS BIGINT), \
         CAST(sum(points_issued) AS BIGINT), CAST(sum(points_redeemed) AS BIGINT) \
         FROM agg_usage_days WHERE program_id = $1 AND day >= $2 AND day <= $3 GROUP BY 1"
    );
    let rows: Vec<(i32, i64, i64, i64, i64)> = read!(db, |c| sqlx::query_as(&sums)
        .bind(program.0)
        .bind(day_key(from))
        .bind(day_key(to))
        .fetch_all(c)
        .await)?;
    let active = active_shoppers(db, program, from, to, by_month).await?;
    let label = |k: i32| {
        if by_month {
            format!("{:04}-{:02}", k / 100, k % 100)
        } else {
            String::new()
        }
    };
    let mut out: std::collections::BTreeMap<String, Usage> = Default::default();
    for (k, transactions, value, points_issued, points_redeemed) in rows {
        let u = out.entry(label(k)).or_default();
        (u.transactions, u.value) = (transactions, value);
        (u.points_issued, u.points_redeemed) = (points_issued, points_redeemed);
    }
    for (k, n) in active {
        out.entry(label(k)).or_default().active_shoppers = n;
    }
    Ok(out.into_iter().collect())
}

/// Distinct shoppers who paid a store on the JST days `from..=to` (per month key yyyymm, or
/// one row keyed 0). Whole months, across 年度 too, sum rows of `agg_shopper_returns` (a
/// shopper counts in the months s..e through the one active month in them whose previous
/// active month is before s); a month the period cuts counts its shoppers day by day
/// (`agg_shopper_months`' bits), less those already counted in the whole months (by the
/// row's links to the shopper's previous and next active months).
async fn active_shoppers(
    db: &Db,
    program: ProgramId,
    from: NaiveDate,
    to: NaiveDate,
    by_month: bool,
) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    let (first, last) = (month_key(from), month_key(to));
    let starts_whole = from.day() == 1;
    let ends_whole = to.succ_opt().is_none_or(|d| d.day() == 1);
    // As bounds only: yyyymm + 1 of a December is after it and before the next January.
    let whole_from = if starts_whole { first } else { first + 1 };
    let whole_to = if ends_whole { last } else { last - 1 };
    if by_month {
        // Whole months from their rows, cut months from the days.
        let mut out: Vec<(i32, i64)> = read!(db, |c| sqlx::query_as(
            "SELECT month, CAST(sum(shoppers) AS BIGINT) FROM agg_shopper_returns \
             WHERE program_id = $1 AND month >= $2 AND month <= $3 GROUP BY month ORDER BY month"
        )
        .bind(program.0)
        .bind(whole_from)
        .bind(whole_to)
        .fetch_all(c)
        .await)?;
        let mut cut = Vec::new();
        if !starts_whole {
            cut.push((from, end_of_month(from).min(to)));
        }
        if !ends_whole && (starts_whole || first != last) {
            cut.push((start_of_month(to).max(from), to));
        }
        for (a, b) in cut {
            out.extend(active_by_days(db, program, a, b, true).await?);
        }
        out.sort();
        return Ok(out);
    }
    if whole_from > whole_to {
        // No whole month: at most two cut ones, day by day.
        return active_by_days(db, program, from, to, false).await;
    }
    let whole: i64 = read!(db, |c| sqlx::query_scalar(
        "SELECT CAST(coalesce(sum(shoppers), 0) AS BIGINT) FROM agg_shopper_returns \
         WHERE program_id = $1 AND month >= $2 AND month <= $3 AND prev_month < $2"
    )
    .bind(program.0)
    .bind(whole_from)
    .bind(whole_to)
    .fetch_one(c)
    .await)?;
    let cut: i64 = if starts_whole && ends_whole {
        0
    } else {
        // Shoppers of the cut months' days (0: no such month) not active in a whole month:
        // before them, the next active month is after the whole ones (or none); after them,
        // the previous one is before (migration 0026's links on the month's own rows).
        let (head, head_days) = if starts_whole {
            (0, 0)
        } else {
            (first, -1i64 << (from.day() - 1))
        };
        let (tail, tail_days) = if ends_whole {
            (0, 0)
        } else {
            (last, (1i64 << to.day()) - 1)
        };
        read!(db, |c| {
            sqlx::query_scalar(
            // Each month by its own index range: SQLite planned the OR of the two as a walk of
            // all the program's rows (0.7 s against 55 ms at 10 M).
            "SELECT CAST(count(DISTINCT owner_id) AS BIGINT) FROM ( \
             SELECT owner_id FROM agg_shopper_months WHERE program_id = $1 AND month = $2 \
                 AND (days & $3) <> 0 AND (next_month = 0 OR next_month > $7) \
             UNION ALL SELECT owner_id FROM agg_shopper_months WHERE program_id = $1 AND month = $4 \
                 AND (days & $5) <> 0 AND prev_month < $6) c"
        )
        .bind(program.0)
        .bind(head)
        .bind(head_days)
        .bind(tail)
        .bind(tail_days)
        .bind(whole_from)
        .bind(whole_to)
        .fetch_one(c)
        .await
        })?
    };
    let n = whole + cut;
    Ok(if n > 0 { vec![(0, n)] } else { Vec::new() })
}

/// Distinct active shoppers of the days `from..=to` from the day bits of
/// `agg_shopper_months` (per month, or one row keyed 0).
async fn active_by_days(
    db: &Db,
    program: ProgramId,
    from: NaiveDate,
    to: NaiveDate,
    by_month: bool,
) -> Result<Vec<(i32, i64)>, sqlx::Error> {
    let (first, last) = (month_key(from), month_key(to));
    // Days of the first month from `from` on, of the last up to `to`.
    let first_days: i64 = -1i64 << (from.day() - 1);
    let last_days: i64 = (1i64 << to.day()) - 1;
    // A shopper has one row a month: per month, its rows are its shoppers (no DISTINCT to sort).
    let (key, count) = if by_month {
        ("month", "count(*)")
    } else {
        ("0", "count(DISTINCT owner_id)")
    };
    let shoppers = format!(
        "SELECT {key}, {count} FROM agg_shopper_months \
         WHERE program_id = $1 AND month >= $2 AND month <= $3 \
         AND (days & (CASE WHEN month = $2 THEN $4 ELSE -1 END) \
             & (CASE WHEN month = $3 THEN $5 ELSE -1 END)) <> 0 GROUP BY 1"
    );
    read!(db, |c| sqlx::query_as(&shoppers)
        .bind(program.0)
        .bind(first)
        .bind(last)
        .bind(first_days)
        .bind(last_days)
        .fetch_all(c)
        .await)
}

fn start_of_month(d: NaiveDate) -> NaiveDate {
    d.with_day(1).unwrap_or(d)
}

fn end_of_month(d: NaiveDate) -> NaiveDate {
    let next = if d.month() == 12 {
        NaiveDate::from_ymd_opt(d.year() + 1, 1, 1)
    } else {
        NaiveDate::from_ymd_opt(d.year(), d.month() + 1, 1)
    };
    next.and_then(|n| n.pred_opt()).unwrap_or(d)
}
