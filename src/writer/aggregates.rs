//! Report aggregates: the figures the city's reports read (store activity, usage, wallet flows
//! for 未使用残高, point card movements per store), kept per JST day or month in six tables
//! the writer maintains in the same transaction as the postings they sum, and the one
//! definition of each as a query over postings, used to maintain, rebuild and check them.
//!
//! Each table's figures are defined once, by `computed`: a GROUP BY over postings (with their
//! accounts and transactions) keyed by the JST day of the transaction's `created_at` (its
//! effective time: a backdated transaction lands on its own day, a reversal or refund on the
//! day it was made, exactly where the reports' queries over postings count it).
//! - maintained: `write_pending` (`writer::rows`) adds what the batch's pending rows add, as
//!   `aggregate_deltas` computes them in Rust from those rows (the same figures, held to this
//!   definition by the check and the tests), one multi-row upsert per table that adds to what
//!   is stored (`days` is OR-ed), in key order; point movements, written after their
//!   transaction, are added by this definition restricted to them (`movements_upsert_sql`);
//! - rebuilt: `rebuild_in` empties the tables and inserts it whole, in one writer job;
//! - checked: `check` compares the stored rows with it and names the first row that differs.
//!
//! The tables:
//! - `agg_store_days` (program, store, day): postings on the store's Merchant accounts, payouts
//!   aside (the store report's "active" stores);
//! - `agg_usage_days` (program, day): transactions paying a store and their value, points
//!   credited to shoppers (reversals aside) and points spent at stores (the usage report);
//! - `agg_shopper_months` (program, month, shopper): a bit per day of the month on which the
//!   shopper paid a store (distinct active shoppers over any range of days);
//! - `agg_wallet_flows` (program, day, kind, kind of the original, reversal, asset, sign): the
//!   sum of shopper-wallet postings (未使用残高 at any date is a prefix sum; the half-year's
//!   発行額 / 回収額 / 失効額; the point report's liabilities, expiry and imports);
//! - `agg_point_store_months` (program, month, store, movement kind): card-wallet postings of
//!   point movements and of their reversals (the point report per store, whole months);
//! - `agg_point_store_days` (program, day, store, movement kind): the same per day (the whole
//!   days of the month a point report is cut in; the months table keeps a 年度 to ≤ 12 rows
//!   per store and kind, where days would be ~365).

use crate::db::{Db, read};
use crate::error::AppError;
use crate::writer::{TxConn, Work, write};
use serde::{Deserialize, Serialize};

/// Where a report takes its figures from: the aggregates (what the API serves) or the postings
/// themselves (the definition, for checks and tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    Aggregates,
    Postings,
}

/// A column's type, to name a differing row in text.
#[derive(Clone, Copy)]
enum Ty {
    Uuid,
    Int,
    Text,
}

/// How a stored value takes a new contribution.
#[derive(Clone, Copy)]
enum Combine {
    Add,
    Or,
}

pub(crate) struct Table {
    pub name: &'static str,
    keys: &'static [(&'static str, Ty)],
    values: &'static [(&'static str, Combine)],
}

/// The six tables, in the order they are written.
pub(crate) const TABLES: [Table; 6] = [
    Table {
        name: "agg_store_days",
        keys: &[
            ("program_id", Ty::Uuid),
            ("merchant_id", Ty::Uuid),
            ("day", Ty::Int),
        ],
        values: &[("postings", Combine::Add)],
    },
    Table {
        name: "agg_usage_days",
        keys: &[("program_id", Ty::Uuid), ("day", Ty::Int)],
        values: &[
            ("transactions", Combine::Add),
            ("value", Combine::Add),
            ("points_issued", Combine::Add),
            ("points_redeemed", Combine::Add),
        ],
    },
    Table {
        name: "agg_shopper_months",
        keys: &[
            ("program_id", Ty::Uuid),
            ("month", Ty::Int),
            ("owner_id", Ty::Uuid),
        ],
        values: &[("days", Combine::Or)],
    },
    Table {
        name: "agg_wallet_flows",
        keys: &[
            ("program_id", Ty::Uuid),
            ("day", Ty::Int),
            ("kind", Ty::Text),
            ("original_kind", Ty::Text),
            ("reversal", Ty::Int),
            ("asset", Ty::Text),
            ("credit", Ty::Int),
        ],
        values: &[("amount", Combine::Add)],
    },
    Table {
        name: "agg_point_store_months",
        keys: &[
            ("program_id", Ty::Uuid),
            ("month", Ty::Int),
            ("merchant_id", Ty::Uuid),
            ("kind", Ty::Text),
        ],
        values: &[("amount", Combine::Add)],
    },
    Table {
        name: "agg_point_store_days",
        keys: &[
            ("program_id", Ty::Uuid),
            ("day", Ty::Int),
            ("merchant_id", Ty::Uuid),
            ("kind", Ty::Text),
        ],
        values: &[("amount", Combine::Add)],
    },
];

/// The JST day (yyyymmdd, an integer) of `t.created_at`, per dialect.
pub(crate) fn day_expr(pg: bool) -> &'static str {
    if pg {
        "CAST(to_char((t.created_at AT TIME ZONE 'UTC') + interval '9 hours', 'YYYYMMDD') AS INTEGER)"
    } else {
        "CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER)"
    }
}

/// A JST date as the tables key it: yyyymmdd.
pub fn day_key(d: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    d.year() * 10_000 + d.month() as i32 * 100 + d.day() as i32
}

/// A JST month as the tables key it: yyyymm.
pub fn month_key(d: chrono::NaiveDate) -> i32 {
    day_key(d) / 100
}

/// A payment to a store: the transaction credits some Merchant account.
const PAYS_STORE: &str = "EXISTS (SELECT 1 FROM postings mp JOIN accounts ma ON ma.id = mp.account_id \
     WHERE mp.transaction_id = t.id AND ma.kind = 'merchant' AND mp.amount > 0)";

/// Which postings a computation covers.
pub(crate) struct Filter<'a> {
    /// On `t` (the transaction of the posting), `a` (its account).
    pub tx: &'a str,
    /// On `m`, a point movement whose own postings are summed (the first half of
    /// `agg_point_store_months` and `agg_point_store_days`).
    pub movement: &'a str,
    /// On `m`, a point movement whose reversals' postings are summed (with `tx` on the
    /// reversal `t`).
    pub reversed: &'a str,
}

impl Filter<'static> {
    const ALL: Filter<'static> = Filter {
        tx: "1 = 1",
        movement: "1 = 1",
        reversed: "1 = 1",
    };
    /// One program, `$1`.
    const PROGRAM: Filter<'static> = Filter {
        tx: "a.program_id = $1",
        movement: "m.program_id = $1",
        reversed: "m.program_id = $1",
    };
}

/// Table `i`'s rows computed from postings: its key columns then its values, named as the
/// table names them. The definition every figure is held to.
pub(crate) fn computed(i: usize, pg: bool, f: &Filter<'_>) -> String {
    let day = day_expr(pg);
    let payout = machipay_domain::ledger::kinds::PAYOUT_KIND;
    let from = "FROM postings p JOIN accounts a ON a.id = p.account_id \
                JOIN transactions t ON t.id = p.transaction_id";
    let tx = f.tx;
    match i {
        0 => format!(
            "SELECT a.program_id AS program_id, a.owner_id AS merchant_id, {day} AS day, \
             count(*) AS postings {from} \
             WHERE a.kind = 'merchant' AND t.kind <> '{payout}' AND {tx} GROUP BY 1, 2, 3"
        ),
        1 => format!(
            "SELECT program_id, day, transactions, value, points_issued, points_redeemed FROM ( \
             SELECT a.program_id AS program_id, {day} AS day, \
             count(DISTINCT CASE WHEN a.kind = 'merchant' AND p.amount > 0 THEN t.id END) AS transactions, \
             CAST(coalesce(sum(CASE WHEN a.kind = 'merchant' AND p.amount > 0 THEN p.amount ELSE 0 END), 0) AS BIGINT) AS value, \
             CAST(coalesce(sum(CASE WHEN a.kind = 'shopper_wallet' AND a.asset = 'points' AND p.amount > 0 \
                 AND t.reverses_id IS NULL THEN p.amount ELSE 0 END), 0) AS BIGINT) AS points_issued, \
             CAST(coalesce(sum(CASE WHEN a.kind = 'shopper_wallet' AND a.asset = 'points' AND p.amount < 0 \
                 AND {PAYS_STORE} THEN -p.amount ELSE 0 END), 0) AS BIGINT) AS points_redeemed {from} \
             WHERE a.kind IN ('merchant', 'shopper_wallet') AND t.kind <> '{payout}' AND {tx} GROUP BY 1, 2) u \
             WHERE transactions > 0 OR points_issued > 0 OR points_redeemed > 0"
        ),
        2 => format!(
            "SELECT a.program_id AS program_id, {day} / 100 AS month, a.owner_id AS owner_id, \
             CAST(sum(DISTINCT CAST(1 AS BIGINT) << ({day} % 100 - 1)) AS BIGINT) AS days {from} \
             WHERE a.kind = 'shopper_wallet' AND p.amount < 0 AND t.kind <> '{payout}' \
             AND {PAYS_STORE} AND {tx} GROUP BY 1, 2, 3"
        ),
        3 => format!(
            "SELECT a.program_id AS program_id, {day} AS day, t.kind AS kind, \
             coalesce(o.kind, t.kind) AS original_kind, \
             CASE WHEN t.reverses_id IS NULL THEN 0 ELSE 1 END AS reversal, p.asset AS asset, \
             CASE WHEN p.amount > 0 THEN 1 ELSE 0 END AS credit, \
             CAST(sum(p.amount) AS BIGINT) AS amount {from} \
             LEFT JOIN transactions o ON o.id = t.reverses_id \
             WHERE a.kind = 'shopper_wallet' AND {tx} GROUP BY 1, 2, 3, 4, 5, 6, 7"
        ),
        _ => point_store(
            if i == POINT_STORE_MONTHS {
                "month"
            } else {
                "day"
            },
            pg,
            f,
        ),
    }
}

/// `agg_point_store_months` (`period` "month") or `agg_point_store_days` ("day") computed
/// from postings: a movement's own card-wallet postings and its reversals' at the movement's
/// store and kind, on the JST day (or month) of the transaction that posted them.
fn point_store(period: &str, pg: bool, f: &Filter<'_>) -> String {
    let day = day_expr(pg);
    let at = if period == "month" {
        format!("{day} / 100")
    } else {
        day.to_owned()
    };
    format!(
        "SELECT program_id, {period}, merchant_id, kind, CAST(sum(amount) AS BIGINT) AS amount FROM ( \
         SELECT m.program_id AS program_id, {at} AS {period}, m.merchant_id AS merchant_id, \
         m.kind AS kind, p.amount AS amount FROM point_movements m \
         JOIN transactions t ON t.id = m.transaction_id JOIN postings p ON p.transaction_id = t.id \
         JOIN accounts a ON a.id = p.account_id \
         WHERE a.program_id = m.program_id AND a.kind = 'shopper_wallet' AND a.owner_id = m.card_id \
         AND {movement} \
         UNION ALL \
         SELECT m.program_id, {at}, m.merchant_id, m.kind, p.amount FROM point_movements m \
         JOIN transactions t ON t.reverses_id = m.transaction_id JOIN postings p ON p.transaction_id = t.id \
         JOIN accounts a ON a.id = p.account_id \
         WHERE a.program_id = m.program_id AND a.kind = 'shopper_wallet' AND {reversed} AND {tx} \
         ) x GROUP BY 1, 2, 3, 4",
        movement = f.movement,
        reversed = f.reversed,
        tx = f.tx,
    )
}

fn columns(t: &Table) -> String {
    let keys = t.keys.iter().map(|k| k.0);
    let values = t.values.iter().map(|v| v.0);
    keys.chain(values).collect::<Vec<_>>().join(", ")
}

/// Adds table `i`'s rows computed under `f` to what it holds, in key order.
pub(crate) fn upsert_sql(i: usize, pg: bool, f: &Filter<'_>) -> String {
    let t = &TABLES[i];
    let keys: Vec<&str> = t.keys.iter().map(|k| k.0).collect();
    let order: Vec<String> = (1..=keys.len()).map(|n| n.to_string()).collect();
    let set: Vec<String> = t
        .values
        .iter()
        .map(|(v, c)| match c {
            Combine::Add => format!("{v} = {name}.{v} + excluded.{v}", name = t.name),
            Combine::Or => format!("{v} = {name}.{v} | excluded.{v}", name = t.name),
        })
        .collect();
    format!(
        "INSERT INTO {name} ({cols}) SELECT * FROM ({sql}) g WHERE 1 = 1 ORDER BY {order} \
         ON CONFLICT ({keys}) DO UPDATE SET {set}",
        name = t.name,
        cols = columns(t),
        sql = computed(i, pg, f),
        order = order.join(", "),
        keys = keys.join(", "),
        set = set.join(", "),
    )
}

/// Adds `rows` rows of table `i` given as parameters (key columns then values, numbered from
/// `first`; a row of NULLs is padding and skipped) to what the table holds: the upkeep of
/// `write_pending`, with the rows `aggregate_deltas` computed, in the order given.
pub(crate) fn upsert_values_sql(i: usize, rows: usize, first: usize) -> String {
    let t = &TABLES[i];
    let cols = t.keys.len() + t.values.len();
    let keys: Vec<&str> = t.keys.iter().map(|k| k.0).collect();
    format!(
        "INSERT INTO {name} ({cols_named}) SELECT * FROM (VALUES {values}) AS v \
         WHERE v.column1 IS NOT NULL ON CONFLICT ({keys}) DO UPDATE SET {set}",
        name = t.name,
        cols_named = columns(t),
        values = crate::writer::rows::placeholders(cols, rows, first),
        keys = keys.join(", "),
        set = combine_set(t),
    )
}

/// PostgreSQL: adds table `i`'s rows given as one array per column (key columns then values,
/// parameters numbered from `first`) to what it holds, in the arrays' order; with the first
/// parameter after them. A CTE of `writer::rows`' one-statement write.
pub(crate) fn unnest_upsert_sql(i: usize, first: usize) -> (String, usize) {
    let t = &TABLES[i];
    let types = t
        .keys
        .iter()
        .map(|(_, ty)| match ty {
            Ty::Uuid => "uuid",
            Ty::Int => "int4",
            Ty::Text => "text",
        })
        .chain(t.values.iter().map(|_| "int8"));
    let arrays: Vec<String> = types
        .enumerate()
        .map(|(k, ty)| format!("${}::{ty}[]", first + k))
        .collect();
    let keys: Vec<&str> = t.keys.iter().map(|k| k.0).collect();
    let sql = format!(
        "INSERT INTO {name} ({cols}) SELECT * FROM unnest({arrays}) \
         ON CONFLICT ({keys}) DO UPDATE SET {set}",
        name = t.name,
        cols = columns(t),
        arrays = arrays.join(", "),
        keys = keys.join(", "),
        set = combine_set(t),
    );
    (sql, first + arrays.len())
}

/// "x = table.x + excluded.x, ..." (`days` OR-ed). A table of OR-ed values only is left as
/// it is when the bits are already set (a shopper's second payment of a day): no new row
/// version, no index entries, where PostgreSQL otherwise rewrote the row on every payment.
fn combine_set(t: &Table) -> String {
    let set = t
        .values
        .iter()
        .map(|(v, c)| match c {
            Combine::Add => format!("{v} = {name}.{v} + excluded.{v}", name = t.name),
            Combine::Or => format!("{v} = {name}.{v} | excluded.{v}", name = t.name),
        })
        .collect::<Vec<_>>()
        .join(", ");
    if t.values.iter().all(|(_, c)| matches!(c, Combine::Or)) {
        let changed = t
            .values
            .iter()
            .map(|(v, _)| format!("({name}.{v} | excluded.{v}) <> {name}.{v}", name = t.name))
            .collect::<Vec<_>>()
            .join(" OR ");
        format!("{set} WHERE {changed}")
    } else {
        set
    }
}

/// The tables `agg_point_store_months` and `agg_point_store_days` are, for the point
/// movements listed (`list`: "$1" on PostgreSQL, an array; "$1, $2, ..." on SQLite): their own
/// card-wallet postings, by the definition (a movement is written after its transaction's
/// postings, which are no longer pending then). Reversals of movements come with the
/// reversal's pending rows. PostgreSQL: one statement (the months' upsert a CTE of the days');
/// SQLite: two, naming the same parameters.
pub(crate) fn movements_upsert_sql(pg: bool, list: &str) -> String {
    let movement = if pg {
        format!("m.transaction_id = ANY({list})")
    } else {
        format!("m.transaction_id IN ({list})")
    };
    let f = Filter {
        tx: "1 = 0",
        movement: &movement,
        reversed: "1 = 0",
    };
    let months = upsert_sql(POINT_STORE_MONTHS, pg, &f);
    let days = upsert_sql(POINT_STORE_DAYS, pg, &f);
    if pg {
        format!("WITH months AS ({months}) {days}")
    } else {
        format!("{months};\n{days}")
    }
}

/// `agg_point_store_months`' place in `TABLES`.
pub(crate) const POINT_STORE_MONTHS: usize = 4;

/// `agg_point_store_days`' place in `TABLES`.
pub(crate) const POINT_STORE_DAYS: usize = 5;

/// A column as text, per dialect (a differing row is named in text).
fn text_of(col: &str, ty: Ty, pg: bool) -> String {
    match (ty, pg) {
        (Ty::Text, _) => col.to_owned(),
        (Ty::Int, _) | (Ty::Uuid, true) => format!("CAST({col} AS TEXT)"),
        (Ty::Uuid, false) => format!(
            "lower(substr(hex({col}), 1, 8) || '-' || substr(hex({col}), 9, 4) || '-' || \
             substr(hex({col}), 13, 4) || '-' || substr(hex({col}), 17, 4) || '-' || substr(hex({col}), 21))"
        ),
    }
}

/// The first row of table `i` where the stored aggregates and the postings disagree, under `f`
/// (the stored side filtered by `stored_where`).
fn diff_sql(i: usize, pg: bool, f: &Filter<'_>, stored_where: &str) -> String {
    diff_sql_of(&TABLES[i], &computed(i, pg, f), pg, stored_where)
}

/// `diff_sql` for table `t` against its rows `computed` from postings.
fn diff_sql_of(t: &Table, computed: &str, pg: bool, stored_where: &str) -> String {
    let key = t
        .keys
        .iter()
        .map(|(k, ty)| text_of(k, *ty, pg))
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    let value = t
        .values
        .iter()
        .map(|(v, _)| format!("'{v}=' || {}", text_of(v, Ty::Int, pg)))
        .collect::<Vec<_>>()
        .join(" || ' ' || ");
    let stored = format!(
        "SELECT {key} AS k, {value} AS v FROM {name} WHERE {stored_where}",
        name = t.name
    );
    let derived = format!("SELECT {key} AS k, {value} AS v FROM ({computed}) c");
    format!(
        "SELECT side, k, v FROM ( \
         SELECT 'stored' AS side, k, v FROM ({stored} EXCEPT {derived}) s \
         UNION ALL SELECT 'postings' AS side, k, v FROM ({derived} EXCEPT {stored}) d \
         ) x ORDER BY k, side LIMIT 2"
    )
}

/// The first aggregate row that differs from what the postings say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AggregateMismatch {
    /// The aggregate table.
    pub table: String,
    /// Its key, in the table's key order (ids, JST day yyyymmdd or month yyyymm, kinds).
    pub key: String,
    /// What the table holds (none: no row).
    pub stored: Option<String>,
    /// What the postings say (none: no row).
    pub from_postings: Option<String>,
}

/// Compares every aggregate table with the postings (of one program, or all) and names the
/// first differing row of the first table that has one. Reads only; at scale it costs what a
/// report over postings costs.
pub async fn check(
    db: &Db,
    program: Option<machipay_domain::ids::ProgramId>,
) -> Result<Option<AggregateMismatch>, sqlx::Error> {
    let pg = matches!(db, Db::Pg(..));
    let (f, stored_where) = match program {
        Some(_) => (Filter::PROGRAM, "program_id = $1"),
        None => (Filter::ALL, "1 = 1"),
    };
    for (i, t) in TABLES.iter().enumerate() {
        let sql = diff_sql(i, pg, &f, stored_where);
        if let Some(m) = first_difference(db, program, t.name, &sql).await? {
            return Ok(Some(m));
        }
    }
    check_shopper_counts(db, program).await
}

/// What a rebuild wrote: rows per table.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Rebuilt {
    pub rows: Vec<(String, i64)>,
}

/// Recomputes every aggregate table from postings, inside a writer job: the tables are
/// emptied and refilled in the job's transaction, so a reader sees the old figures or the new
/// ones, never a half. Meant for the CLI (`machipay rebuild-aggregates`), with no server
/// running (the single-writer lock keeps one out); on a large ledger it holds the writer for
/// as long as a full report over postings takes.
pub async fn rebuild_in(w: &mut Work) -> Result<Rebuilt, AppError> {
    let pg = matches!(w.tx.conn, TxConn::Pg(..));
    let mut rows = Vec::new();
    clear_shopper_counts(w).await?;
    for (i, t) in TABLES.iter().enumerate() {
        let delete = format!("DELETE FROM {}", t.name);
        write!(&mut w.tx, |c| sqlx::query(&delete)
            .execute(c)
            .await
            .map(|_| ()))?;
        let insert = format!(
            "INSERT INTO {name} ({cols}) {sql}",
            name = t.name,
            cols = columns(t),
            sql = computed(i, pg, &Filter::ALL)
        );
        let done = write!(&mut w.tx, |c| sqlx::query(&insert)
            .execute(c)
            .await
            .map(|r| r.rows_affected()))?;
        rows.push((t.name.to_owned(), i64::try_from(done).unwrap_or(i64::MAX)));
    }
    Ok(Rebuilt { rows })
}

/// Rebuilds the aggregates through the writer (one job, one transaction).
pub async fn rebuild(writer: &crate::writer::Writer) -> Result<Rebuilt, AppError> {
    writer
        .answer(None, |w| {
            Box::pin(async move { rebuild_in(w).await.map(crate::writer::Done::ok) })
        })
        .await?
        .into_value()
}

/// The rows of the aggregate tables, in a stable order (tests compare them before and after
/// a rebuild).
pub async fn snapshot(db: &Db) -> Result<Vec<String>, sqlx::Error> {
    let pg = matches!(db, Db::Pg(..));
    let mut out = Vec::new();
    for t in TABLES.iter().chain(SHOPPER_TABLES.iter()) {
        let cols: Vec<String> = t
            .keys
            .iter()
            .map(|(k, ty)| text_of(k, *ty, pg))
            .chain(t.values.iter().map(|(v, _)| text_of(v, Ty::Int, pg)))
            .collect();
        let sql = format!(
            "SELECT {} FROM {} ORDER BY 1",
            cols.join(" || ' ' || "),
            t.name
        );
        let rows: Vec<String> = read!(db, |c| sqlx::query_scalar(&sql).fetch_all(c).await)?;
        out.extend(rows.into_iter().map(|r| format!("{} {r}", t.name)));
    }
    out.sort();
    Ok(out)
}

/// Placeholders "$first, $first+1, ..." for a list of `n` ids.
pub(crate) fn ids_text(n: usize, first: usize) -> String {
    (0..n)
        .map(|k| format!("${}", first + k))
        .collect::<Vec<_>>()
        .join(", ")
}

// ---------------------------------------------------------------------------------------------
// Distinct active shoppers as counts (migrations 0018, 0025)
//
// The usage report's "active shoppers" is a distinct count, which sums of months cannot give.
// `agg_shopper_returns` (program, month, the shopper's previous active month, 0 for none)
// keeps it: a shopper is active in the months s..e exactly once through the one active month
// in s..e whose previous active month is before s, so any run of whole months, across 年度,
// is `sum(shoppers) WHERE month BETWEEN s AND e AND prev_month < s` over at most
// (months so far)² / 2 rows. A trigger on `agg_shopper_months` keeps it as that table gains
// rows (so whichever way its rows are written, a shopper's first payment at a store in a
// month counts once; a backdated one moves the shopper's next month to follow it).
// The rebuild empties it before it rewrites `agg_shopper_months` (whose trigger fills it
// again); the check compares it with its definition over postings (`shopper_computed`).
// (Migration 0018's per-month, per-年度 and per-shopper-年度 counts, which it replaced,
// answered only runs inside one 年度 without a row per shopper.)

///
/// The second entry is not a table of its own: the links migration 0026 keeps on each
/// `agg_shopper_months` row (the shopper's previous and next active month, 0 for none), set by
/// the same trigger, so a month a period cuts is counted from its own rows. Checked like the
/// others; emptied with `agg_shopper_months`, which the rebuild then rewrites.
pub(crate) const SHOPPER_TABLES: [Table; 2] = [
    Table {
        name: "agg_shopper_returns",
        keys: &[
            ("program_id", Ty::Uuid),
            ("month", Ty::Int),
            ("prev_month", Ty::Int),
        ],
        values: &[("shoppers", Combine::Add)],
    },
    Table {
        name: "agg_shopper_months",
        keys: &[
            ("program_id", Ty::Uuid),
            ("month", Ty::Int),
            ("owner_id", Ty::Uuid),
        ],
        values: &[("prev_month", Combine::Add), ("next_month", Combine::Add)],
    },
];

/// `SHOPPER_TABLES[i]`'s rows computed from postings (through `agg_shopper_months`'s
/// definition, `computed(2, ..)`).
fn shopper_computed(i: usize, pg: bool, f: &Filter<'_>) -> String {
    let months = computed(2, pg, f);
    let links = format!(
        "SELECT program_id, month, owner_id, \
         coalesce(lag(month) OVER w, 0) AS prev_month, coalesce(lead(month) OVER w, 0) AS next_month \
         FROM ({months}) m WINDOW w AS (PARTITION BY program_id, owner_id ORDER BY month)"
    );
    match i {
        0 => format!(
            "SELECT program_id, month, prev_month, CAST(count(*) AS BIGINT) AS shoppers \
             FROM ({links}) r GROUP BY 1, 2, 3"
        ),
        _ => links,
    }
}

/// The first row a diff query (`diff_sql_of`: stored against recomputed) returns, as a
/// mismatch of `table`; `None` when they agree.
async fn first_difference(
    db: &Db,
    program: Option<machipay_domain::ids::ProgramId>,
    table: &str,
    sql: &str,
) -> Result<Option<AggregateMismatch>, sqlx::Error> {
    let rows: Vec<(String, String, String)> = read!(db, |c| {
        let q = sqlx::query_as(sql);
        let q = match program {
            Some(p) => q.bind(p.0),
            None => q,
        };
        q.fetch_all(c).await
    })?;
    let Some((side, key, value)) = rows.first().cloned() else {
        return Ok(None);
    };
    let other = rows.get(1).filter(|r| r.1 == key).map(|r| r.2.clone());
    let (stored, from_postings) = if side == "stored" {
        (Some(value), other)
    } else {
        (other, Some(value))
    };
    Ok(Some(AggregateMismatch {
        table: table.to_owned(),
        key,
        stored,
        from_postings,
    }))
}

/// `check` for the distinct-shopper counts: the first row that differs from the postings.
async fn check_shopper_counts(
    db: &Db,
    program: Option<machipay_domain::ids::ProgramId>,
) -> Result<Option<AggregateMismatch>, sqlx::Error> {
    let pg = matches!(db, Db::Pg(..));
    let (f, stored_where) = match program {
        Some(_) => (Filter::PROGRAM, "program_id = $1"),
        None => (Filter::ALL, "1 = 1"),
    };
    for (i, t) in SHOPPER_TABLES.iter().enumerate() {
        let sql = diff_sql_of(t, &shopper_computed(i, pg, &f), pg, stored_where);
        if let Some(m) = first_difference(db, program, t.name, &sql).await? {
            return Ok(Some(m));
        }
    }
    Ok(None)
}

/// Empties the distinct-shopper counts before a rebuild rewrites `agg_shopper_months` (whose
/// insert triggers count them again from nothing).
async fn clear_shopper_counts(w: &mut Work) -> Result<(), AppError> {
    for t in &SHOPPER_TABLES {
        let delete = format!("DELETE FROM {}", t.name);
        write!(&mut w.tx, |c| sqlx::query(&delete)
            .execute(c)
            .await
            .map(|_| ()))?;
    }
    Ok(())
}
