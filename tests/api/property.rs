//! Property: any sequence of counter charges, payments, transfers and reversals between a few
//! shoppers and stores keeps the books right. A small model in the test predicts each answer
//! (201, or the named refusal: holding cap, insufficient funds, same wallet, already reversed,
//! a reversal of a reversal) and the balances; after each sequence the ledger check passes,
//! every transaction balances and mirrors the model, every wallet and store balance equals
//! the model, and each asset nets to zero.
//!
//! proptest's runner is synchronous: it runs inside `block_in_place` on the test's
//! multi-thread runtime and drives each case with `Handle::block_on`. All cases of one
//! backend share one server; each case gets its own program, shoppers and stores.

use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(random_money_movements_keep_the_books_balanced);

const SHOPPERS: usize = 3;
const MERCHANTS: usize = 2;
/// The default holding cap of a program (coin plus premium per wallet).
const CAP: i64 = 100_000;
const OPS_MAX: usize = 40;
const CASES: u32 = 16;

#[derive(Debug, Clone)]
enum Op {
    Charge {
        shopper: usize,
        amount: i64,
    },
    Pay {
        shopper: usize,
        merchant: usize,
        amount: i64,
    },
    Transfer {
        from: usize,
        to: usize,
        amount: i64,
    },
    /// Reverse one of the transactions made so far (any: reversals and already reversed ones
    /// included, so the refusals are exercised too).
    Reverse {
        pick: Index,
    },
}

/// What is charged: mostly amounts that fit, some at and beyond the holding cap.
fn charge_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => 1i64..=20_000,
        3 => 20_000i64..=60_000,
        1 => 90_000i64..=150_000,
        1 => Just(CAP),
        1 => Just(CAP + 1),
    ]
}

/// What is spent or sent: mostly less than a wallet holds, sometimes far more.
fn spend_amount() -> impl Strategy<Value = i64> {
    prop_oneof![
        6 => 1i64..=3_000,
        2 => 1i64..=30_000,
        1 => 30_000i64..=150_000,
        1 => Just(CAP + 1),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        3 => (0..SHOPPERS, charge_amount()).prop_map(|(shopper, amount)| Op::Charge { shopper, amount }),
        3 => (0..SHOPPERS, 0..MERCHANTS, spend_amount()).prop_map(|(shopper, merchant, amount)| Op::Pay { shopper, merchant, amount }),
        2 => (0..SHOPPERS, prop_oneof![1 => Just(0), 4 => 1..SHOPPERS], spend_amount())
            .prop_map(|(from, offset, amount)| Op::Transfer { from, to: (from + offset) % SHOPPERS, amount }),
        2 => any::<Index>().prop_map(|pick| Op::Reverse { pick }),
    ]
}

fn ops() -> impl Strategy<Value = Vec<Op>> {
    prop::collection::vec(op(), 5..=OPS_MAX)
}

async fn random_money_movements_keep_the_books_balanced(app: &TestApp) {
    let operator = app.operator().await;
    let config = Config {
        failure_persistence: None, // no regression files in the tree; the failure prints the case
        max_shrink_iters: 256,
        ..Config::with_cases(CASES)
    };
    let mut runner = TestRunner::new(config);
    let handle = tokio::runtime::Handle::current();
    let result = tokio::task::block_in_place(|| {
        runner.run(&ops(), |ops| {
            handle.block_on(run_case(app, &operator, &ops))
        })
    });
    if let Err(e) = result {
        panic!("{e}");
    }
}

/// Whose account a leg touches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Party {
    Float,
    Shopper(usize),
    Merchant(usize),
}

#[derive(Debug, Clone)]
struct Txn {
    id: String,
    legs: Vec<(Party, i64)>,
    /// Index of the transaction this one reverses.
    reverses: Option<usize>,
    /// Index of the transaction that reversed this one.
    reversed_by: Option<usize>,
}

/// Coin balances as the model sees them. Nothing here grants premium or points.
#[derive(Debug, Default)]
struct Model {
    shoppers: [i64; SHOPPERS],
    merchants: [i64; MERCHANTS],
    float: i64,
    txns: Vec<Txn>,
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Created(Vec<(Party, i64)>),
    Refused(u16, &'static str),
}

impl Model {
    fn balance(&self, p: Party) -> i64 {
        match p {
            Party::Float => self.float,
            Party::Shopper(i) => self.shoppers[i],
            Party::Merchant(i) => self.merchants[i],
        }
    }

    fn predict(&self, op: &Op) -> Outcome {
        use Outcome::*;
        match *op {
            // The test program allows single charges of ¥1 up to the cap.
            Op::Charge { amount, .. } if amount > CAP => Refused(422, "invalid_charge_amount"),
            Op::Charge { shopper, amount } if self.shoppers[shopper] + amount > CAP => {
                Refused(422, "holding_cap_exceeded")
            }
            Op::Charge { shopper, amount } => Created(vec![
                (Party::Float, -amount),
                (Party::Shopper(shopper), amount),
            ]),
            Op::Pay {
                shopper, amount, ..
            } if self.shoppers[shopper] < amount => Refused(422, "insufficient_funds"),
            Op::Pay {
                shopper,
                merchant,
                amount,
            } => Created(vec![
                (Party::Shopper(shopper), -amount),
                (Party::Merchant(merchant), amount),
            ]),
            Op::Transfer { from, to, .. } if from == to => Refused(422, "same_wallet"),
            Op::Transfer { from, amount, .. } if self.shoppers[from] < amount => {
                Refused(422, "insufficient_funds")
            }
            Op::Transfer { to, amount, .. } if self.shoppers[to] + amount > CAP => {
                Refused(422, "holding_cap_exceeded")
            }
            Op::Transfer { from, to, amount } => Created(vec![
                (Party::Shopper(from), -amount),
                (Party::Shopper(to), amount),
            ]),
            Op::Reverse { pick } => {
                let Some(t) = self.pick(pick) else {
                    return Refused(404, "not_found");
                };
                if t.reverses.is_some() {
                    return Refused(409, "is_a_reversal");
                }
                if t.reversed_by.is_some() {
                    return Refused(409, "already_reversed");
                }
                let legs: Vec<_> = t.legs.iter().map(|&(p, a)| (p, -a)).collect();
                // Only shopper wallets are guarded; stores and the float may go negative. The
                // holding cap is not applied to reversals: they restore an earlier state.
                let overdrawn = legs
                    .iter()
                    .any(|&(p, a)| matches!(p, Party::Shopper(_)) && self.balance(p) + a < 0);
                if overdrawn {
                    Refused(422, "insufficient_funds")
                } else {
                    Created(legs)
                }
            }
        }
    }

    fn pick(&self, pick: Index) -> Option<&Txn> {
        (!self.txns.is_empty()).then(|| &self.txns[pick.index(self.txns.len())])
    }

    fn apply(&mut self, op: &Op, id: String, legs: Vec<(Party, i64)>) {
        for &(p, a) in &legs {
            match p {
                Party::Float => self.float += a,
                Party::Shopper(i) => self.shoppers[i] += a,
                Party::Merchant(i) => self.merchants[i] += a,
            }
        }
        let reverses = match op {
            Op::Reverse { pick } => Some(pick.index(self.txns.len())),
            _ => None,
        };
        let index = self.txns.len();
        if let Some(r) = reverses {
            self.txns[r].reversed_by = Some(index);
        }
        self.txns.push(Txn {
            id,
            legs,
            reverses,
            reversed_by: None,
        });
    }
}

/// The ids of one case's program, shoppers and stores, and the tokens to act with.
struct Cast {
    program: String,
    shoppers: Vec<(String, String)>,
    merchants: Vec<String>,
}

impl Cast {
    fn owner(&self, p: Party) -> Option<&str> {
        match p {
            Party::Float => None,
            Party::Shopper(i) => Some(&self.shoppers[i].0),
            Party::Merchant(i) => Some(&self.merchants[i]),
        }
    }

    /// The account kind and owner of a leg, as the API shows postings.
    fn account(&self, p: Party) -> (&'static str, Option<&str>) {
        let kind = match p {
            Party::Float => "issuer_float",
            Party::Shopper(_) => "shopper_wallet",
            Party::Merchant(_) => "merchant",
        };
        (kind, self.owner(p))
    }
}

async fn run_case(app: &TestApp, operator: &str, ops: &[Op]) -> Result<(), TestCaseError> {
    let mut shoppers = Vec::new();
    for _ in 0..SHOPPERS {
        shoppers.push(app.shopper(operator).await);
    }
    let mut merchants = Vec::new();
    for _ in 0..MERCHANTS {
        merchants.push(app.merchant(operator).await.0);
    }
    // p2p_transfers on, holding cap left at its default of ¥100,000.
    let cast = Cast {
        program: app.currency().await,
        shoppers,
        merchants,
    };
    let program = &cast.program;
    let mut model = Model::default();

    for (step, op) in ops.iter().enumerate() {
        let (path, token, body) = match *op {
            Op::Charge { shopper, amount } => (
                format!("/api/v1/programs/{program}/charges"),
                operator,
                json!({"shopper_id": cast.shoppers[shopper].0, "amount": amount}),
            ),
            Op::Pay {
                shopper,
                merchant,
                amount,
            } => (
                format!("/api/v1/programs/{program}/payments"),
                cast.shoppers[shopper].1.as_str(),
                json!({"merchant_id": cast.merchants[merchant], "amount": amount}),
            ),
            Op::Transfer { from, to, amount } => (
                format!("/api/v1/programs/{program}/transfers"),
                cast.shoppers[from].1.as_str(),
                json!({"to_shopper_id": cast.shoppers[to].0, "amount": amount}),
            ),
            Op::Reverse { pick } => {
                let id = model
                    .pick(pick)
                    .map_or_else(|| uuid::Uuid::now_v7().to_string(), |t| t.id.clone());
                (
                    format!("/api/v1/transactions/{id}/reversals"),
                    operator,
                    json!({"reason": "プロパティテスト"}),
                )
            }
        };
        let (status, answer) = app.post_money(&path, token, body).await;
        let expected = model.predict(op);
        let context = format!(
            "step {step}: {op:?} -> {status} {answer}; model before: {:?} {:?}",
            model.shoppers, model.merchants
        );
        match expected {
            Outcome::Refused(code, name) => {
                prop_assert_eq!(status.as_u16(), code, "{}", context);
                prop_assert_eq!(answer["error"]["code"].as_str(), Some(name), "{}", context);
            }
            Outcome::Created(legs) => {
                prop_assert_eq!(status.as_u16(), 201, "{}", context);
                let id = answer["transaction_id"]
                    .as_str()
                    .ok_or_else(|| TestCaseError::fail(format!("no transaction_id: {context}")))?;
                let actor = match *op {
                    Op::Charge { shopper, .. }
                    | Op::Pay { shopper, .. }
                    | Op::Transfer { from: shopper, .. } => Some(shopper),
                    Op::Reverse { .. } => None,
                };
                model.apply(op, id.to_owned(), legs);
                // Money movements answer the acting shopper's wallet after the movement.
                if let Some(s) = actor {
                    prop_assert_eq!(
                        coin_in(&answer["balances"]),
                        model.shoppers[s],
                        "{}",
                        context
                    );
                }
            }
        }
    }

    // The integrity check passes and every asset nets to zero.
    let (status, check) = app
        .get(
            &format!("/api/v1/programs/{program}/ledger-check"),
            &app.admin,
        )
        .await;
    prop_assert_eq!(status.as_u16(), 200, "{}", check);
    prop_assert_eq!(&check["ok"], &json!(true), "ledger check failed: {}", check);
    prop_assert_eq!(
        check["transactions"].as_u64(),
        Some(model.txns.len() as u64),
        "{}",
        check
    );
    for net in check["net_by_asset"]
        .as_array()
        .ok_or_else(|| TestCaseError::fail(format!("no net_by_asset: {check}")))?
    {
        prop_assert_eq!(
            net[1].as_i64(),
            Some(0),
            "an asset does not net to zero: {}",
            check
        );
    }
    let model_net =
        model.float + model.shoppers.iter().sum::<i64>() + model.merchants.iter().sum::<i64>();
    prop_assert_eq!(model_net, 0, "the model itself is unbalanced: {:?}", model);

    // Every transaction balances, and is the one the model expects.
    for t in &model.txns {
        let (status, v) = app
            .get(&format!("/api/v1/transactions/{}", t.id), &app.admin)
            .await;
        prop_assert_eq!(status.as_u16(), 200, "{}", v);
        let postings = v["postings"]
            .as_array()
            .ok_or_else(|| TestCaseError::fail(format!("no postings: {v}")))?;
        let mut by_asset = std::collections::BTreeMap::<String, i64>::new();
        let mut seen = Vec::new();
        for p in postings {
            let amount = p["amount"].as_i64().unwrap_or(i64::MIN);
            *by_asset
                .entry(p["asset"].as_str().unwrap_or("?").to_owned())
                .or_default() += amount;
            seen.push((
                p["account_kind"].as_str().unwrap_or("?").to_owned(),
                p["owner_id"].as_str().map(str::to_owned),
                p["asset"].clone(),
                amount,
            ));
        }
        prop_assert!(
            by_asset.values().all(|&n| n == 0),
            "postings do not sum to zero: {}",
            v
        );
        let mut want: Vec<_> = t
            .legs
            .iter()
            .map(|&(p, a)| {
                let (kind, owner) = cast.account(p);
                (kind.to_owned(), owner.map(str::to_owned), json!("coin"), a)
            })
            .collect();
        seen.sort_by(|a, b| (&a.0, &a.1, a.3).cmp(&(&b.0, &b.1, b.3)));
        want.sort_by(|a, b| (&a.0, &a.1, a.3).cmp(&(&b.0, &b.1, b.3)));
        prop_assert_eq!(&seen, &want, "postings of {} differ from the model", t.id);
        let id_of = |i: Option<usize>| i.map(|i| json!(model.txns[i].id)).unwrap_or(Value::Null);
        prop_assert_eq!(&v["reverses_id"], &id_of(t.reverses), "{}", v);
        prop_assert_eq!(&v["reversed_by"], &id_of(t.reversed_by), "{}", v);
    }

    // Every wallet and store holds what the model says, and no premium or points appeared.
    for (i, (id, _)) in cast.shoppers.iter().enumerate() {
        let (coin, other) = balances(app, &format!("shoppers/{id}"), program).await?;
        prop_assert_eq!(coin, model.shoppers[i], "shopper {} ({})", i, id);
        prop_assert_eq!(other, 0, "shopper {} holds premium or points", i);
    }
    for (i, id) in cast.merchants.iter().enumerate() {
        let (coin, other) = balances(app, &format!("merchants/{id}"), program).await?;
        prop_assert_eq!(coin, model.merchants[i], "merchant {} ({})", i, id);
        prop_assert_eq!(other, 0, "merchant {} holds premium or points", i);
    }
    Ok(())
}

/// The coin entry of a movement's `balances` (0 if absent).
fn coin_in(balances: &Value) -> i64 {
    balances
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["asset"] == "coin")
        .filter_map(|b| b["balance"].as_i64())
        .sum()
}

/// An owner's (coin, everything else) in `program`, as the admin reads it.
async fn balances(
    app: &TestApp,
    owner_path: &str,
    program: &str,
) -> Result<(i64, i64), TestCaseError> {
    let (status, v) = app
        .get(&format!("/api/v1/{owner_path}/balances"), &app.admin)
        .await;
    prop_assert_eq!(status.as_u16(), 200, "{}", v);
    let (mut coin, mut other) = (0, 0);
    for b in v
        .as_array()
        .into_iter()
        .flatten()
        .filter(|b| b["program_id"] == program)
    {
        let n = b["balance"]
            .as_i64()
            .ok_or_else(|| TestCaseError::fail(format!("bad balance: {b}")))?;
        if b["asset"] == "coin" {
            coin += n
        } else {
            other += n.abs()
        }
    }
    Ok((coin, other))
}
