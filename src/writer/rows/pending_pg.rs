//! PostgreSQL: a write of pending rows in one statement. Every table's rows travel as arrays
//! (one parameter per column) and each table is written by a data-modifying CTE over
//! `unnest` of them, so the batch's transactions, postings, lots, lot changes, balances,
//! idempotency records and aggregates cost one round trip instead of one per table.
//!
//! What one statement changes about the rules the statement-per-table write had:
//! - CTEs all see the database as it was before the statement, so an UPDATE cannot see a row
//!   another CTE inserts: a lot opened and consumed in the same write is inserted with what
//!   remains of it (its movements are recorded all the same), and only lots already stored
//!   are updated.
//! - A row may be changed once per statement: balance and lot changes are folded per row,
//!   aggregate rows are one per key (`Deltas`).
//! - Updated rows are found by an index scan on `id = ANY(...)` (in id order, the order two
//!   instances then lock them in) and aggregates are inserted in key order, the array order.
//! - Foreign keys are checked at the end of the statement, when every row is in; the balance
//!   of each transaction's postings at commit, as before.

use std::collections::HashSet;

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use super::{Pending, fold};
use crate::writer::aggregate_deltas::Deltas;
use crate::writer::aggregates::unnest_upsert_sql;

/// The statement: every table's CTE, then a SELECT that reads none of them (PostgreSQL runs
/// data-modifying CTEs to completion whether or not they are read).
fn statement() -> String {
    let mut ctes = vec![
        "t AS (INSERT INTO transactions (id, program_id, kind, reverses_id, initiated_by, memo, \
         created_at) SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::uuid[], \
         $5::uuid[], $6::text[], $7::timestamptz[]))"
            .to_owned(),
        "p AS (INSERT INTO postings (transaction_id, account_id, asset, amount) \
         SELECT * FROM unnest($8::uuid[], $9::uuid[], $10::text[], $11::int8[]))"
            .to_owned(),
        "l AS (INSERT INTO lots (id, account_id, transaction_id, amount, remaining, expires_on, \
         created_at) SELECT * FROM unnest($12::uuid[], $13::uuid[], $14::uuid[], $15::int8[], \
         $16::int8[], $17::date[], $18::timestamptz[]))"
            .to_owned(),
        "r AS (UPDATE lots SET remaining = lots.remaining + v.d \
         FROM unnest($19::uuid[], $20::int8[]) AS v(id, d) \
         WHERE lots.id = v.id AND lots.id = ANY($19::uuid[]))"
            .to_owned(),
        "m AS (INSERT INTO lot_movements (transaction_id, lot_id, amount) \
         SELECT * FROM unnest($21::uuid[], $22::uuid[], $23::int8[]))"
            .to_owned(),
        "b AS (UPDATE accounts SET balance = accounts.balance + v.d \
         FROM unnest($24::uuid[], $25::int8[]) AS v(id, d) \
         WHERE accounts.id = v.id AND accounts.id = ANY($24::uuid[]))"
            .to_owned(),
        "k AS (INSERT INTO idempotency_keys (principal_id, key, request_hash, status_code, \
         response_body, created_at) SELECT * FROM unnest($26::uuid[], $27::text[], \
         $28::bytea[], $29::int4[], $30::text[], $31::timestamptz[]))"
            .to_owned(),
    ];
    let mut next = 32;
    for i in 0..crate::writer::aggregates::TABLES.len() {
        let (sql, after) = unnest_upsert_sql(i, next);
        ctes.push(format!("a{i} AS ({sql})"));
        next = after;
    }
    format!("WITH {} SELECT 1", ctes.join(", "))
}

/// Writes `p`'s rows and the aggregates `d` in one statement (see the module's comment).
pub(super) async fn write(
    conn: &mut sqlx::PgConnection,
    p: &Pending,
    d: &Deltas,
) -> Result<(), sqlx::Error> {
    static SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(statement);
    let t = &p.transactions;
    let postings: Vec<(Uuid, &crate::writer::aggregate_deltas::PostedLeg)> = t
        .iter()
        .flat_map(|t| t.postings.iter().map(move |l| (t.id, l)))
        .collect();
    // Moves on lots opened in this write are folded into the inserted lot.
    let opened: HashSet<Uuid> = p.lots.iter().map(|l| l.lot.id.0).collect();
    let stored_lot_changes = fold(
        p.lot_moves
            .iter()
            .filter(|m| !opened.contains(&m.lot.0))
            .map(|m| (m.lot.0, m.amount)),
    );
    let remaining: Vec<i64> = p
        .lots
        .iter()
        .map(|l| {
            let moved: i64 = p
                .lot_moves
                .iter()
                .filter(|m| m.lot == l.lot.id)
                .map(|m| m.amount)
                .sum();
            l.lot.remaining + moved
        })
        .collect();
    let balances = fold(p.balances.iter().map(|(a, d)| (a.0, *d)));
    let q = sqlx::query(&SQL)
        .bind(t.iter().map(|t| t.id).collect::<Vec<Uuid>>())
        .bind(t.iter().map(|t| t.program).collect::<Vec<Uuid>>())
        .bind(t.iter().map(|t| t.kind.as_str()).collect::<Vec<&str>>())
        .bind(t.iter().map(|t| t.reverses).collect::<Vec<Option<Uuid>>>())
        .bind(t.iter().map(|t| t.initiated_by).collect::<Vec<Uuid>>())
        .bind(
            t.iter()
                .map(|t| t.memo.as_deref())
                .collect::<Vec<Option<&str>>>(),
        )
        .bind(
            t.iter()
                .map(|t| t.created_at)
                .collect::<Vec<DateTime<Utc>>>(),
        )
        .bind(postings.iter().map(|r| r.0).collect::<Vec<Uuid>>())
        .bind(postings.iter().map(|r| r.1.account).collect::<Vec<Uuid>>())
        .bind(
            postings
                .iter()
                .map(|r| r.1.asset.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(postings.iter().map(|r| r.1.amount).collect::<Vec<i64>>())
        .bind(p.lots.iter().map(|l| l.lot.id.0).collect::<Vec<Uuid>>())
        .bind(
            p.lots
                .iter()
                .map(|l| l.lot.account_id.0)
                .collect::<Vec<Uuid>>(),
        )
        .bind(p.lots.iter().map(|l| l.transaction).collect::<Vec<Uuid>>())
        .bind(p.lots.iter().map(|l| l.lot.amount).collect::<Vec<i64>>())
        .bind(remaining)
        .bind(
            p.lots
                .iter()
                .map(|l| l.lot.expires_on)
                .collect::<Vec<Option<NaiveDate>>>(),
        )
        .bind(
            p.lots
                .iter()
                .map(|l| l.created_at)
                .collect::<Vec<DateTime<Utc>>>(),
        )
        .bind(
            stored_lot_changes
                .iter()
                .map(|c| c.0)
                .collect::<Vec<Uuid>>(),
        )
        .bind(stored_lot_changes.iter().map(|c| c.1).collect::<Vec<i64>>())
        .bind(
            p.lot_moves
                .iter()
                .map(|m| m.transaction)
                .collect::<Vec<Uuid>>(),
        )
        .bind(p.lot_moves.iter().map(|m| m.lot.0).collect::<Vec<Uuid>>())
        .bind(p.lot_moves.iter().map(|m| m.amount).collect::<Vec<i64>>())
        .bind(balances.iter().map(|c| c.0).collect::<Vec<Uuid>>())
        .bind(balances.iter().map(|c| c.1).collect::<Vec<i64>>())
        .bind(p.replies.iter().map(|r| r.scope).collect::<Vec<Uuid>>())
        .bind(
            p.replies
                .iter()
                .map(|r| r.key.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            p.replies
                .iter()
                .map(|r| r.reply.request_hash.as_slice())
                .collect::<Vec<&[u8]>>(),
        )
        .bind(
            p.replies
                .iter()
                .map(|r| r.reply.status_code)
                .collect::<Vec<i32>>(),
        )
        .bind(
            p.replies
                .iter()
                .map(|r| r.reply.response_body.as_str())
                .collect::<Vec<&str>>(),
        )
        .bind(
            p.replies
                .iter()
                .map(|r| r.created_at)
                .collect::<Vec<DateTime<Utc>>>(),
        );
    let q = bind_aggregates(q, d);
    q.execute(conn).await?;
    Ok(())
}

type PgQuery<'q> = sqlx::query::Query<'q, sqlx::Postgres, sqlx::postgres::PgArguments>;

/// The aggregates' columns, table by table in `TABLES` order, each in key order.
fn bind_aggregates<'q>(q: PgQuery<'q>, d: &'q Deltas) -> PgQuery<'q> {
    let s = &d.store_days;
    let q = q
        .bind(s.keys().map(|k| k.0).collect::<Vec<Uuid>>())
        .bind(s.keys().map(|k| k.1).collect::<Vec<Option<Uuid>>>())
        .bind(s.keys().map(|k| k.2).collect::<Vec<i32>>())
        .bind(s.values().copied().collect::<Vec<i64>>());
    let u = &d.usage_days;
    let q = q
        .bind(u.keys().map(|k| k.0).collect::<Vec<Uuid>>())
        .bind(u.keys().map(|k| k.1).collect::<Vec<i32>>())
        .bind(u.values().map(|v| v[0]).collect::<Vec<i64>>())
        .bind(u.values().map(|v| v[1]).collect::<Vec<i64>>())
        .bind(u.values().map(|v| v[2]).collect::<Vec<i64>>())
        .bind(u.values().map(|v| v[3]).collect::<Vec<i64>>());
    let m = &d.shopper_months;
    let q = q
        .bind(m.keys().map(|k| k.0).collect::<Vec<Uuid>>())
        .bind(m.keys().map(|k| k.1).collect::<Vec<i32>>())
        .bind(m.keys().map(|k| k.2).collect::<Vec<Option<Uuid>>>())
        .bind(m.values().copied().collect::<Vec<i64>>());
    let f = &d.wallet_flows;
    let q = q
        .bind(f.keys().map(|k| k.0).collect::<Vec<Uuid>>())
        .bind(f.keys().map(|k| k.1).collect::<Vec<i32>>())
        .bind(f.keys().map(|k| k.2.as_str()).collect::<Vec<&str>>())
        .bind(f.keys().map(|k| k.3.as_str()).collect::<Vec<&str>>())
        .bind(f.keys().map(|k| k.4).collect::<Vec<i32>>())
        .bind(f.keys().map(|k| k.5).collect::<Vec<&str>>())
        .bind(f.keys().map(|k| k.6).collect::<Vec<i32>>())
        .bind(f.values().copied().collect::<Vec<i64>>());
    let q = bind_point_store(q, &d.point_store_months);
    bind_point_store(q, &d.point_store_days)
}

/// `agg_point_store_months`' or `agg_point_store_days`' columns (the same shape: program,
/// month or day, store, movement kind, amount).
fn bind_point_store<'q>(
    q: PgQuery<'q>,
    s: &'q std::collections::BTreeMap<(Uuid, i32, Uuid, String), i64>,
) -> PgQuery<'q> {
    q.bind(s.keys().map(|k| k.0).collect::<Vec<Uuid>>())
        .bind(s.keys().map(|k| k.1).collect::<Vec<i32>>())
        .bind(s.keys().map(|k| k.2).collect::<Vec<Uuid>>())
        .bind(s.keys().map(|k| k.3.as_str()).collect::<Vec<&str>>())
        .bind(s.values().copied().collect::<Vec<i64>>())
}
