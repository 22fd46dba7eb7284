//! What a batch's pending rows add to the report aggregates, computed from the rows the writer
//! holds (each posting's account kind, owner, program and asset, its transaction's JST day and
//! kind) instead of re-running the definitions over the postings just written. The figures
//! are exactly what `aggregates::computed` gives for the same transactions (the check and the
//! tests hold them to it); each table's rows come out in key order, the order they are upserted
//! in (two PostgreSQL instances adding to the same rows then lock them in the same order).
//!
//! What the pending rows do not hold is read once per write, and only when the batch has
//! reversals: the original's kind (`agg_wallet_flows` keys a reversal by it) and the point
//! movement it was, if any (`agg_point_store_months` and `agg_point_store_days` count a
//! movement's reversal at its store). Point movements themselves are written after their
//! transaction's postings, so their share of those two is still computed by the definition
//! (`aggregates::movements_upsert_sql`), for the movements written since the last write.

use std::collections::{BTreeMap, HashMap};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::writer::TxConn;
use crate::writer::aggregates::day_key;
use machipay_domain::ledger::kinds::PAYOUT_KIND;
use machipay_domain::ledger::{AccountKind, Asset};

/// A pending posting with what the aggregates need of its account.
#[derive(Debug, Clone)]
pub(crate) struct PostedLeg {
    pub account: Uuid,
    pub asset: Asset,
    pub amount: i64,
    pub kind: AccountKind,
    pub owner: Option<Uuid>,
    pub program: Uuid,
}

/// A pending transaction as the aggregates see it.
pub(crate) struct Posted<'a> {
    pub created_at: DateTime<Utc>,
    pub kind: &'a str,
    /// The original, for a reversal.
    pub reverses: Option<&'a Original>,
    pub legs: &'a [PostedLeg],
}

/// What a reversal's aggregates need of its original.
#[derive(Debug, Clone)]
pub(crate) struct Original {
    pub kind: String,
    /// The point movement the original was: (program, store, movement kind).
    pub movement: Option<(Uuid, Uuid, String)>,
}

/// The JST day (yyyymmdd) of an instant, as the database computes it from the stored value
/// (`aggregates::day_expr`). PostgreSQL keeps the microseconds the writer stores; SQLite's date
/// functions round the stored text to the nearest millisecond first, so half a millisecond
/// before JST midnight is already the next day there.
pub(crate) fn jst_day(at: DateTime<Utc>, pg: bool) -> i32 {
    let at = if pg {
        at
    } else {
        at + chrono::Duration::microseconds(500)
    };
    day_key((at.naive_utc() + chrono::Duration::hours(9)).date())
}

/// `agg_wallet_flows`' key: program, day, kind, original's kind, reversal, asset, credit.
type FlowKey = (Uuid, i32, String, String, i32, &'static str, i32);

/// The rows a batch adds to each aggregate table, by key (see `aggregates::TABLES`).
#[derive(Default, Debug, PartialEq)]
pub(crate) struct Deltas {
    /// (program, store, day) -> postings.
    pub store_days: BTreeMap<(Uuid, Option<Uuid>, i32), i64>,
    /// (program, day) -> [transactions, value, points issued, points redeemed].
    pub usage_days: BTreeMap<(Uuid, i32), [i64; 4]>,
    /// (program, month, shopper) -> bits of the days of the month.
    pub shopper_months: BTreeMap<(Uuid, i32, Option<Uuid>), i64>,
    pub wallet_flows: BTreeMap<FlowKey, i64>,
    /// (program, month, store, movement kind) -> card-wallet postings of movement reversals.
    pub point_store_months: BTreeMap<(Uuid, i32, Uuid, String), i64>,
    /// (program, day, store, movement kind) -> the same per day.
    pub point_store_days: BTreeMap<(Uuid, i32, Uuid, String), i64>,
}

impl Deltas {
    /// Adds one transaction's share, per `aggregates::computed` (table by table below).
    pub(crate) fn add(&mut self, t: &Posted<'_>, pg: bool) {
        let day = jst_day(t.created_at, pg);
        let month = day / 100;
        let payout = t.kind == PAYOUT_KIND;
        let pays_store = t
            .legs
            .iter()
            .any(|l| l.kind == AccountKind::Merchant && l.amount > 0);
        if !payout {
            self.add_store_and_usage(t, day, pays_store);
        }
        for l in t
            .legs
            .iter()
            .filter(|l| l.kind == AccountKind::ShopperWallet)
        {
            // agg_shopper_months: shoppers paying a store, a bit for the day.
            if !payout && pays_store && l.amount < 0 {
                *self
                    .shopper_months
                    .entry((l.program, month, l.owner))
                    .or_insert(0) |= 1i64 << (day % 100 - 1);
            }
            // agg_wallet_flows: every shopper-wallet posting.
            let original_kind = t.reverses.map_or(t.kind, |o| o.kind.as_str());
            let key = (
                l.program,
                day,
                t.kind.to_owned(),
                original_kind.to_owned(),
                i32::from(t.reverses.is_some()),
                l.asset.as_str(),
                i32::from(l.amount > 0),
            );
            *self.wallet_flows.entry(key).or_insert(0) += l.amount;
            // agg_point_store_months and _days: a reversal of a point movement, at the
            // movement's store.
            if let Some((program, store, kind)) = t.reverses.and_then(|o| o.movement.as_ref())
                && l.program == *program
            {
                let key = (*program, month, *store, kind.clone());
                *self.point_store_months.entry(key).or_insert(0) += l.amount;
                let key = (*program, day, *store, kind.clone());
                *self.point_store_days.entry(key).or_insert(0) += l.amount;
            }
        }
    }

    /// `agg_store_days` (postings on Merchant accounts) and `agg_usage_days`, payouts aside.
    /// A usage row is added to only by what it counts (its figures are never negative, and the
    /// definition keeps no row of zeros).
    fn add_store_and_usage(&mut self, t: &Posted<'_>, day: i32, pays_store: bool) {
        let mut paid_programs: Vec<Uuid> = Vec::new();
        for l in t.legs {
            match l.kind {
                AccountKind::Merchant => {
                    *self
                        .store_days
                        .entry((l.program, l.owner, day))
                        .or_insert(0) += 1;
                    if l.amount > 0 {
                        let u = self.usage_days.entry((l.program, day)).or_default();
                        if !paid_programs.contains(&l.program) {
                            paid_programs.push(l.program);
                            u[0] += 1;
                        }
                        u[1] += l.amount;
                    }
                }
                AccountKind::ShopperWallet if l.asset == Asset::Points => {
                    if l.amount > 0 && t.reverses.is_none() {
                        self.usage_days.entry((l.program, day)).or_default()[2] += l.amount;
                    }
                    if l.amount < 0 && pays_store {
                        self.usage_days.entry((l.program, day)).or_default()[3] -= l.amount;
                    }
                }
                _ => {}
            }
        }
    }
}

/// The originals of `ids` (reversals' originals not among the pending rows): their kind and
/// the point movement each was. One read.
pub(crate) async fn read_originals(
    conn: &mut TxConn,
    ids: &[Uuid],
) -> Result<HashMap<Uuid, Original>, sqlx::Error> {
    type Row = (Uuid, String, Option<Uuid>, Option<Uuid>, Option<String>);
    const SQL: &str = "SELECT t.id, t.kind, m.program_id, m.merchant_id, m.kind FROM transactions t \
         LEFT JOIN point_movements m ON m.transaction_id = t.id WHERE t.id IN ";
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let list = crate::writer::aggregates::ids_text(ids.len(), 1);
    let sql = format!("{SQL}({list})");
    let rows: Vec<Row> = match conn {
        TxConn::Pg(tx) => {
            let mut q = sqlx::query_as(&sql).persistent(false);
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(&mut **tx).await?
        }
        TxConn::Lite(tx) => {
            let mut q = sqlx::query_as(&sql).persistent(false);
            for id in ids {
                q = q.bind(id);
            }
            q.fetch_all(&mut **tx).await?
        }
    };
    Ok(rows
        .into_iter()
        .map(|(id, kind, program, store, movement_kind)| {
            let movement = match (program, store, movement_kind) {
                (Some(p), Some(s), Some(k)) => Some((p, s, k)),
                _ => None,
            };
            (id, Original { kind, movement })
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(s)
            .expect("test instant")
            .with_timezone(&Utc)
    }

    #[test]
    fn the_jst_day_is_the_databases() {
        assert_eq!(jst_day(at("2026-03-31T14:59:59.999999Z"), true), 20260331);
        assert_eq!(jst_day(at("2026-03-31T15:00:00Z"), true), 20260401);
        // SQLite rounds to milliseconds before it adds the nine hours.
        assert_eq!(jst_day(at("2026-03-31T14:59:59.999499Z"), false), 20260331);
        assert_eq!(jst_day(at("2026-03-31T14:59:59.999500Z"), false), 20260401);
    }

    fn leg(kind: AccountKind, owner: u128, asset: Asset, amount: i64) -> PostedLeg {
        PostedLeg {
            account: Uuid::from_u128(owner * 10 + amount.unsigned_abs() as u128 % 10),
            asset,
            amount,
            kind,
            owner: Some(Uuid::from_u128(owner)),
            program: Uuid::from_u128(7),
        }
    }

    #[test]
    fn a_payment_counts_its_store_its_shopper_and_its_flows() {
        let legs = [
            leg(AccountKind::ShopperWallet, 1, Asset::Coin, -300),
            leg(AccountKind::ShopperWallet, 1, Asset::Points, -20),
            leg(AccountKind::Merchant, 2, Asset::Coin, 300),
            leg(AccountKind::Merchant, 2, Asset::Points, 20),
        ];
        let mut d = Deltas::default();
        let t = Posted {
            created_at: at("2026-05-03T16:00:00Z"),
            kind: "payment",
            reverses: None,
            legs: &legs,
        };
        d.add(&t, true);
        d.add(&t, true);
        let program = Uuid::from_u128(7);
        let store = Some(Uuid::from_u128(2));
        assert_eq!(d.store_days[&(program, store, 20260504)], 4);
        assert_eq!(d.usage_days[&(program, 20260504)], [2, 640, 0, 40]);
        assert_eq!(
            d.shopper_months[&(program, 202605, Some(Uuid::from_u128(1)))],
            1 << 3
        );
        let debit = (
            program,
            20260504,
            "payment".to_owned(),
            "payment".to_owned(),
            0,
            "coin",
            0,
        );
        assert_eq!(d.wallet_flows[&debit], -600);
        assert!(d.point_store_months.is_empty() && d.point_store_days.is_empty());
    }

    #[test]
    fn a_reversal_is_keyed_by_its_original_and_counts_no_issue() {
        let legs = [
            leg(AccountKind::ShopperWallet, 1, Asset::Points, 50),
            leg(AccountKind::MerchantPointStock, 2, Asset::Points, -50),
        ];
        let store = Uuid::from_u128(2);
        let original = Original {
            kind: "point_earn".to_owned(),
            movement: Some((Uuid::from_u128(7), store, "earn".to_owned())),
        };
        let mut d = Deltas::default();
        d.add(
            &Posted {
                created_at: at("2026-05-03T01:00:00Z"),
                kind: "reversal",
                reverses: Some(&original),
                legs: &legs,
            },
            false,
        );
        let program = Uuid::from_u128(7);
        assert!(d.usage_days.is_empty(), "a reversal issues no points");
        assert!(d.store_days.is_empty() && d.shopper_months.is_empty());
        let flow = (
            program,
            20260503,
            "reversal".to_owned(),
            "point_earn".to_owned(),
            1,
            "points",
            1,
        );
        assert_eq!(d.wallet_flows[&flow], 50);
        assert_eq!(
            d.point_store_months[&(program, 202605, store, "earn".to_owned())],
            50
        );
        assert_eq!(
            d.point_store_days[&(program, 20260503, store, "earn".to_owned())],
            50
        );
    }
}
