//! The scale fixture's bulk history (issue 15, item 4): one writer job per day of the town,
//! carrying that day's thousands of transactions as the writer's own pending rows
//! (`rows::insert_entry`, `insert_lot`, `move_lot`, `apply_unguarded`: the rows `post()`
//! leaves), written with the batch's multi-row statements and its aggregate upkeep
//! (`write_pending`), with no round trip per transaction. The planner keeps every wallet's
//! lots exactly (so nothing it plans is refused), as the use-cases would post them:
//! charges (issuer float → wallet, a lot expiring per the program), payments (wallet →
//! store, lots earliest-expiry first), refunds (store → wallet, a `refunds` row, a lot with
//! the payment's latest expiry), reversals (the payment's legs negated, its lots restored),
//! point earns and spends (store ↔ card wallet, a `point_movements` row, the earn rate).
//! Expiry is the use-case's own (`expire_program_in`), after which the lots are read back.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;

use chrono::{DateTime, NaiveDate, Utc};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::Mutex;
use uuid::Uuid;

use machipay::app::App;
use machipay::db::Db;
use machipay::error::AppError;
use machipay::features::payments::store::{NewRefund, insert_refunds};
use machipay::features::points::store::{Movement, insert_earn_rates, insert_movements};
use machipay::writer::rows::{
    Account, NewTransaction, apply_unguarded, get_account_tx, insert_entry, insert_lot, move_lot,
};
use machipay::writer::{Done, Work};
use machipay_domain::ids::{AccountId, CardId, LotId, TransactionId};
use machipay_domain::ledger::kinds::{EARN_KIND, SPEND_KIND};
use machipay_domain::ledger::{Asset, Leg};

use super::{COIN_EXPIRY, Fallible, POINT_EXPIRY, RECENT_PAYMENTS_MAX, REFUND_DAYS, Town, err};

/// The accounts the history posts to (made in the set-up).
pub(super) struct Accounts {
    pub(super) float: AccountId,
    /// Each shopper's coin wallet in the currency program.
    pub(super) wallets: Vec<AccountId>,
    /// Each shopper's card and its points wallet, for those with a card.
    pub(super) cards: Vec<Option<(CardId, AccountId)>>,
    pub(super) store_coin: Vec<AccountId>,
    pub(super) store_points: Vec<AccountId>,
}

#[derive(Clone)]
struct Lot {
    id: LotId,
    remaining: i64,
    expires_on: Option<NaiveDate>,
}

/// Spending order: earliest expiry first, never-expiring last, older lots first.
fn order(l: &Lot) -> (bool, Option<NaiveDate>, Uuid) {
    (l.expires_on.is_none(), l.expires_on, l.id.0)
}

#[derive(Default, Clone)]
struct Wallet {
    lots: Vec<Lot>,
}

impl Wallet {
    fn balance(&self) -> i64 {
        self.lots.iter().map(|l| l.remaining).sum()
    }
    fn open(&mut self, lot: Lot) {
        let at = self.lots.partition_point(|l| order(l) <= order(&lot));
        self.lots.insert(at, lot);
    }
    /// Takes `amount` earliest-expiry first: (lot, taken, its expiry).
    fn consume(&mut self, mut amount: i64) -> Vec<(LotId, i64, Option<NaiveDate>)> {
        let mut taken = Vec::new();
        for l in self.lots.iter_mut() {
            if amount == 0 {
                break;
            }
            let take = amount.min(l.remaining);
            l.remaining -= take;
            amount -= take;
            taken.push((l.id, take, l.expires_on));
        }
        self.lots.retain(|l| l.remaining > 0);
        taken
    }
    /// Gives back to a lot what was taken from it.
    fn restore(&mut self, id: LotId, amount: i64, expires_on: Option<NaiveDate>) {
        match self.lots.iter_mut().find(|l| l.id == id) {
            Some(l) => l.remaining += amount,
            None => self.open(Lot {
                id,
                remaining: amount,
                expires_on,
            }),
        }
    }
}

/// A payment a store may still refund or an operator reverse.
struct Paid {
    day: NaiveDate,
    id: TransactionId,
    store: usize,
    shopper: usize,
    yen: i64,
    taken: Vec<(LotId, i64, Option<NaiveDate>)>,
}

/// The planner's exact view of the town's wallets, moved forward one day per writer job.
pub(super) struct Sim {
    rng: StdRng,
    next_day: NaiveDate,
    coin: Vec<Wallet>,
    points: Vec<Wallet>,
    recent: VecDeque<Paid>,
    pub(super) by_kind: std::collections::BTreeMap<&'static str, u64>,
    pub(super) done: u64,
    /// The accounts posted to so far (the writer's pending rows carry each leg's account).
    accounts: HashMap<AccountId, Account>,
}

impl Sim {
    pub(super) fn new(seed: u64, shoppers: usize, first_day: NaiveDate) -> Sim {
        Sim {
            rng: StdRng::seed_from_u64(seed ^ 0x5ca1e),
            next_day: first_day,
            coin: vec![Wallet::default(); shoppers],
            points: vec![Wallet::default(); shoppers],
            recent: VecDeque::new(),
            by_kind: Default::default(),
            done: 0,
            accounts: HashMap::new(),
        }
    }
}

/// What the day job needs of the town (cheap to clone into each job).
#[derive(Clone)]
pub(super) struct Ctx {
    pub(super) town: Arc<Town>,
}

/// The rows written after the day's transactions (their tables refer to them).
enum Later {
    Refund(NewRefund<'static>),
    Movement(Movement, bool),
}

/// How the history's transactions spread over its days.
#[derive(Clone, Copy)]
pub(super) struct Spread {
    pub(super) start: NaiveDate,
    pub(super) days: i64,
    pub(super) transactions: u64,
}

/// The next day of the model's history (its share of the transactions), as pending rows of
/// the running job. Jobs are interchangeable (each takes the day the model is at), so the
/// order they reach the writer in does not matter.
pub(super) async fn day_in(
    w: &mut Work,
    ctx: &Ctx,
    sim: &Mutex<Sim>,
    spread: Spread,
) -> Result<Done<()>, AppError> {
    let mut sim = sim.lock().await;
    let sim = &mut *sim;
    let day = sim.next_day;
    let d = (day - spread.start).num_days();
    if !(0..spread.days).contains(&d) {
        return Err(AppError::Internal(format!("day {day} outside the history")));
    }
    let share = |d: i64| spread.transactions * d as u64 / spread.days as u64;
    let n = share(d + 1) - share(d);
    let town = &ctx.town;
    let acc = &ctx.town.accounts;
    let present = town.shoppers_on(day);
    let mut times: Vec<DateTime<Utc>> = (0..n).map(|_| super::during(day, &mut sim.rng)).collect();
    times.sort();
    let admin = town.admin.scope_id();
    let mut later = Vec::new();
    let coin_expiry = COIN_EXPIRY.lot_expires_on(day);
    let point_expiry = POINT_EXPIRY.lot_expires_on(day);
    for at in times {
        let rng = &mut sim.rng;
        let shopper = rng.random_range(0..present);
        let Some(store) = town.open_store(day, rng) else {
            continue;
        };
        let roll = rng.random_range(0..1000);
        let card = acc.cards[shopper];
        let id = TransactionId::new();
        let tx = |kind: &'static str,
                  by: Uuid,
                  reverses: Option<TransactionId>,
                  memo: Option<&'static str>|
         -> NewTransaction<'static> {
            NewTransaction {
                id,
                program: if kind.starts_with("point_") {
                    town.points
                } else {
                    town.currency
                },
                kind,
                reverses,
                initiated_by: by,
                memo,
                created_at: at,
            }
        };
        let kind: &'static str = if roll < 150 && card.is_some() {
            let (card, wallet) = card.unwrap_or((CardId(Uuid::nil()), AccountId(Uuid::nil())));
            let yen = 100 * rng.random_range(5..=50);
            let points = yen / 100;
            let merchant = town.stores[store];
            let legs = transfer(acc.store_points[store], wallet, Asset::Points, points);
            entry(
                w,
                &mut sim.accounts,
                &tx(EARN_KIND, merchant.0, None, None),
                &legs,
            )
            .await?;
            post_balances(w, &legs);
            let lot = insert_lot(&mut w.tx, wallet, id, points, point_expiry, at).await?;
            sim.points[shopper].open(Lot {
                id: lot,
                remaining: points,
                expires_on: point_expiry,
            });
            later.push(Later::Movement(
                movement(town, id, card, store, "earn", Some(yen), points, at),
                true,
            ));
            "earn"
        } else if roll < 180 && card.is_some() && sim.points[shopper].balance() >= 50 {
            let (card, wallet) = card.unwrap_or((CardId(Uuid::nil()), AccountId(Uuid::nil())));
            let points = sim.points[shopper].balance() / 2;
            let merchant = town.stores[store];
            let legs = transfer(wallet, acc.store_points[store], Asset::Points, points);
            entry(
                w,
                &mut sim.accounts,
                &tx(SPEND_KIND, merchant.0, None, None),
                &legs,
            )
            .await?;
            post_balances(w, &legs);
            for (lot, take, _) in sim.points[shopper].consume(points) {
                move_lot(&mut w.tx, id, lot, wallet, -take);
            }
            later.push(Later::Movement(
                movement(town, id, card, store, "spend", None, points, at),
                false,
            ));
            "spend"
        } else if (180..200).contains(&roll) && !sim.recent.is_empty() {
            let since = day - chrono::Days::new(REFUND_DAYS);
            let first = sim.recent.partition_point(|p| p.day < since);
            let k = rng.random_range(first.min(sim.recent.len() - 1)..sim.recent.len());
            let Some(paid) = sim.recent.remove(k) else {
                continue;
            };
            let wallet = acc.wallets[paid.shopper];
            let store_account = acc.store_coin[paid.store];
            if roll < 195 {
                let back = (paid.yen / 2).max(1);
                let merchant = town.stores[paid.store];
                let legs = vec![
                    Leg {
                        account: store_account,
                        asset: Asset::Coin,
                        amount: -back,
                    },
                    Leg {
                        account: wallet,
                        asset: Asset::Coin,
                        amount: back,
                    },
                ];
                entry(
                    w,
                    &mut sim.accounts,
                    &tx("refund", merchant.0, None, Some("返品")),
                    &legs,
                )
                .await?;
                post_balances(w, &legs);
                // Refunded yen keep the latest expiry of the lots the payment took.
                let expires_on = if paid.taken.iter().any(|t| t.2.is_none()) {
                    None
                } else {
                    paid.taken.iter().filter_map(|t| t.2).max()
                };
                let lot = insert_lot(&mut w.tx, wallet, id, back, expires_on, at).await?;
                sim.coin[paid.shopper].open(Lot {
                    id: lot,
                    remaining: back,
                    expires_on,
                });
                later.push(Later::Refund(NewRefund {
                    transaction_id: id,
                    payment: paid.id,
                    merchant,
                    amount: back,
                    shortfall_points: 0,
                    reason: "返品",
                    created_at: at,
                }));
                "refund"
            } else {
                let legs = vec![
                    Leg {
                        account: wallet,
                        asset: Asset::Coin,
                        amount: paid.yen,
                    },
                    Leg {
                        account: store_account,
                        asset: Asset::Coin,
                        amount: -paid.yen,
                    },
                ];
                let row = tx("reversal", admin, Some(paid.id), Some("誤操作"));
                entry(w, &mut sim.accounts, &row, &legs).await?;
                post_balances(w, &legs);
                for &(lot, take, expires_on) in &paid.taken {
                    move_lot(&mut w.tx, id, lot, wallet, take);
                    sim.coin[paid.shopper].restore(lot, take, expires_on);
                }
                "reversal"
            }
        } else {
            let yen = 100 * rng.random_range(3..=30);
            let wallet = acc.wallets[shopper];
            if sim.coin[shopper].balance() < yen {
                let charged = 1_000 * rng.random_range(5..=30);
                let legs = transfer(acc.float, wallet, Asset::Coin, charged);
                entry(
                    w,
                    &mut sim.accounts,
                    &tx("charge", admin, None, None),
                    &legs,
                )
                .await?;
                post_balances(w, &legs);
                let lot = insert_lot(&mut w.tx, wallet, id, charged, coin_expiry, at).await?;
                sim.coin[shopper].open(Lot {
                    id: lot,
                    remaining: charged,
                    expires_on: coin_expiry,
                });
                "charge"
            } else {
                let legs = transfer(wallet, acc.store_coin[store], Asset::Coin, yen);
                let by = town.shoppers[shopper].0;
                entry(w, &mut sim.accounts, &tx("payment", by, None, None), &legs).await?;
                post_balances(w, &legs);
                let taken = sim.coin[shopper].consume(yen);
                for &(lot, take, _) in &taken {
                    move_lot(&mut w.tx, id, lot, wallet, -take);
                }
                if sim.recent.len() >= RECENT_PAYMENTS_MAX {
                    sim.recent.pop_front();
                }
                sim.recent.push_back(Paid {
                    day,
                    id,
                    store,
                    shopper,
                    yen,
                    taken,
                });
                "payment"
            }
        };
        sim.done += 1;
        *sim.by_kind.entry(kind).or_default() += 1;
    }
    // The first of these writes every pending row above (one multi-row statement per table
    // and chunk, and the aggregates' upkeep); the movements' share of the aggregates is
    // written with the earn rates.
    let mut refunds = Vec::new();
    let mut movements = Vec::new();
    let mut rates = Vec::new();
    for row in later {
        match row {
            Later::Refund(r) => refunds.push(r),
            Later::Movement(m, earn) => {
                if earn {
                    rates.push((m.transaction_id, "0.01".to_owned()));
                }
                movements.push(m);
            }
        }
    }
    insert_refunds(&mut w.tx, &refunds).await?;
    insert_movements(&mut w.tx, &movements).await?;
    insert_earn_rates(&mut w.tx, &rates).await?;
    sim.next_day = day + chrono::Days::new(1);
    Ok(Done::ok(()))
}

/// Leaves one entry pending, each leg with its account (read once, then remembered).
async fn entry(
    w: &mut Work,
    known: &mut HashMap<AccountId, Account>,
    t: &NewTransaction<'_>,
    legs: &[Leg],
) -> Result<(), AppError> {
    for l in legs {
        if let std::collections::hash_map::Entry::Vacant(slot) = known.entry(l.account) {
            let a = get_account_tx(&mut w.tx, l.account)
                .await?
                .ok_or_else(|| AppError::Internal(format!("no account {}", l.account.0)))?;
            slot.insert(a);
        }
    }
    let with: Vec<(&Leg, &Account)> = legs.iter().map(|l| (l, &known[&l.account])).collect();
    insert_entry(&mut w.tx, t, &with).await?;
    Ok(())
}

fn transfer(from: AccountId, to: AccountId, asset: Asset, amount: i64) -> Vec<Leg> {
    vec![
        Leg {
            account: from,
            asset,
            amount: -amount,
        },
        Leg {
            account: to,
            asset,
            amount,
        },
    ]
}

fn post_balances(w: &mut Work, legs: &[Leg]) {
    for l in legs {
        apply_unguarded(&mut w.tx, l.account, l.amount);
    }
}

#[allow(clippy::too_many_arguments)]
fn movement(
    town: &Town,
    id: TransactionId,
    card: CardId,
    store: usize,
    kind: &str,
    purchase_yen: Option<i64>,
    points: i64,
    at: DateTime<Utc>,
) -> Movement {
    Movement {
        transaction_id: id,
        program_id: town.points,
        card_id: card,
        merchant_id: town.stores[store],
        kind: kind.into(),
        purchase_yen,
        points,
        shortfall_points: 0,
        original_id: None,
        created_at: at,
    }
}

/// After an expiry run: the wallets' open lots as the database holds them, and no payment
/// from before it is refunded or reversed any more.
pub(super) async fn reload(app: &App, ctx: &Ctx, sim: &Mutex<Sim>) -> Fallible<()> {
    const SQL: &str = "SELECT account_id, id, remaining, expires_on FROM lots WHERE remaining > 0";
    type Row = (Uuid, Uuid, i64, Option<NaiveDate>);
    let rows: Vec<Row> = match &app.db {
        Db::Pg(pool, _) => sqlx::query_as(SQL).fetch_all(pool).await.map_err(err)?,
        Db::Lite { read, .. } => sqlx::query_as(SQL).fetch_all(read).await.map_err(err)?,
    };
    let mut by_account: HashMap<Uuid, Vec<Lot>> = HashMap::new();
    for (account, id, remaining, expires_on) in rows {
        by_account.entry(account).or_default().push(Lot {
            id: LotId(id),
            remaining,
            expires_on,
        });
    }
    let mut sim = sim.lock().await;
    let acc = &ctx.town.accounts;
    for (i, wallet) in acc.wallets.iter().enumerate() {
        let mut lots = by_account.remove(&wallet.0).unwrap_or_default();
        lots.sort_by_key(order);
        sim.coin[i].lots = lots;
    }
    for (i, card) in acc.cards.iter().enumerate() {
        if let Some((_, wallet)) = card {
            let mut lots = by_account.remove(&wallet.0).unwrap_or_default();
            lots.sort_by_key(order);
            sim.points[i].lots = lots;
        }
    }
    sim.recent.clear();
    Ok(())
}
