//! The sale-day scenarios of the load benchmark (issue 17), included by `load.rs`; both run one
//! server process from setup to the end (no restart), so its memory and its writer's
//! remembered facts are those of a real day.
//!
//! `mixed` (PostgreSQL; `mixed-sqlite`): for `--duration-secs` (20), `--clients` clients at
//! once split into sign-ups with a first charge, top-up charges, premium purchases through a
//! waiting room, QR payments, and payments at a few stores that refund half of each.
//!
//! `rush` (PostgreSQL; `rush-sqlite`): `--clients` (32) shoppers pay at stores for 10 s; then
//! 5,000 shoppers rush a campaign with budget for 2,000 sets (2 per person) through its
//! waiting room over up to 512 connections, while the payments go on. Each takes a ticket,
//! polls it as the wallet does, and once admitted asks for 2 sets and then 1 more (a greedy
//! second try, to be refused); every tenth also tries to buy before its turn. Reported: sets
//! sold (must equal the budget), shoppers over their limit (must be 0), outcomes by kind,
//! payments' p99 before and during the rush (goal < 100 ms during), 5xx other than a 503
//! with Retry-After (must be 0), the server's peak memory and its open-files limit.
//! `MACHIPAY_RUSH_ADMITS_PER_S` sets the waiting room's rate (default 100 a second).

use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicUsize, Ordering};

use super::*;

/// Shoppers in the rush, the sets its budget covers, the sets each may buy.
const RUSH_SHOPPERS: usize = 5_000;
const RUSH_BUDGET_SETS: i64 = 2_000;
const RUSH_SETS_EACH: i64 = 2;
/// Most requests of the rush in flight at once (one connection each).
const RUSH_CONNECTIONS_MAX: usize = 512;
/// A set: ¥10,000 paid, ¥2,000 added by the city.
const SET_PRICE_YEN: i64 = 10_000;
const SET_PREMIUM_YEN: i64 = 2_000;
/// Payments alone before the rush starts.
const BEFORE_RUSH_SECS: u64 = 10;
/// The rush must be over (every shopper answered) within this.
const RUSH_GOAL_SECS: f64 = 30.0;
/// Stores of the mixed scenario that refund half of every payment they take.
const REFUND_STORES: usize = 20;

pub(super) fn is_sale(s: Scenario) -> bool {
    matches!(
        s,
        Scenario::Mixed | Scenario::MixedSqlite | Scenario::Rush | Scenario::RushSqlite
    )
}

/// Runs a sale-day scenario and prints its report; Err if the money or a rule is wrong.
pub(super) async fn run(args: &Args, scenario: Scenario) -> Result<(), String> {
    let (db, url) = FreshDb::create(args, scenario).await?;
    let logdir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let result = async {
        let admin = bootstrap_city(&args.server_bin, &url)?;
        let mut server =
            start_server(&args.server_bin, &url, logdir.path().join("server.log")).await?;
        let files = open_files_limit(server.pid(), RUSH_CONNECTIONS_MAX as u64 + 256);
        println!("{scenario}: server open-files limit {files}");
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, sampler) = sample_memory(server.pid(), stop.clone());
        let r = match scenario {
            Scenario::Mixed | Scenario::MixedSqlite => mixed(args, &server.base, &admin).await,
            _ => rush(args, &server.base, &admin).await,
        };
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        let peak_kb = peak
            .load(Ordering::Relaxed)
            .max(vm_hwm_kb(server.pid()).unwrap_or(0));
        println!(
            "{scenario}: server peak memory {:.1} MB (VmHWM, setup included: one process throughout)",
            peak_kb as f64 / 1024.0
        );
        let log = server.log_tail();
        server.stop();
        r.map_err(|e| format!("{e}\nserver log:\n{log}"))
    }
    .await;
    db.cleanup().await;
    match &result {
        Ok(()) => println!("{scenario}: PASS (money and rules)"),
        Err(e) => println!("{scenario}: FAILED: {e}"),
    }
    result
}

/// The server's soft limit on open files, raised with `prlimit` to `want` if below it.
fn open_files_limit(pid: u32, want: u64) -> String {
    let read = || -> Option<u64> {
        let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).ok()?;
        let line = limits.lines().find(|l| l.starts_with("Max open files"))?;
        line.split_whitespace().nth(3)?.parse().ok()
    };
    match read() {
        Some(n) if n >= want => format!("{n} (enough for {want})"),
        Some(n) => {
            let ok = Command::new("prlimit")
                .args([
                    "--pid",
                    &pid.to_string(),
                    &format!("--nofile={want}:{want}"),
                ])
                .status()
                .is_ok_and(|s| s.success());
            format!(
                "{n}, raised to {want}: {}",
                if ok { "ok" } else { "FAILED" }
            )
        }
        None => "unknown".into(),
    }
}

// ---------------------------------------------------------------------------------------------
// Requests and what they answered

struct Hit {
    status: StatusCode,
    body: Value,
    /// A 503 said when to come back.
    retry_after: bool,
    us: u32,
}

impl Hit {
    /// `created`/`ok`, or the status and error code.
    fn label(&self) -> String {
        if self.status.is_success() {
            return if self.status == StatusCode::CREATED {
                "created"
            } else {
                "ok"
            }
            .into();
        }
        format!(
            "{} {}",
            self.status.as_u16(),
            self.body["error"]["code"].as_str().unwrap_or("?")
        )
    }
}

async fn hit(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
) -> Result<Hit, String> {
    let mut req = client
        .request(method, format!("{base}{path}"))
        .bearer_auth(token);
    if let Some(k) = key {
        req = req.header("Idempotency-Key", k);
    }
    if let Some(b) = body {
        req = req.json(b);
    }
    let t = Instant::now();
    let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
    let status = resp.status();
    let retry_after = resp.headers().contains_key(reqwest::header::RETRY_AFTER);
    let bytes = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
    let us = t.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
    let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
    Ok(Hit {
        status,
        body,
        retry_after,
        us,
    })
}

/// Latencies and outcomes per kind of request, and the 5xx that are not a 503 with
/// Retry-After (each a failure of the overload rules).
#[derive(Default)]
struct Recorder {
    kinds: Mutex<BTreeMap<String, Kind>>,
    bad_5xx: AtomicUsize,
}

#[derive(Default)]
struct Kind {
    lat_us: Vec<u32>,
    outcomes: BTreeMap<String, usize>,
}

impl Recorder {
    fn note(&self, kind: &str, r: &Result<Hit, String>) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let k = kinds.entry(kind.to_owned()).or_default();
        match r {
            Ok(h) => {
                if h.status.is_server_error()
                    && !(h.status == StatusCode::SERVICE_UNAVAILABLE && h.retry_after)
                {
                    self.bad_5xx.fetch_add(1, Ordering::Relaxed);
                }
                if h.status.is_success() {
                    k.lat_us.push(h.us);
                }
                *k.outcomes.entry(h.label()).or_default() += 1;
            }
            Err(e) => *k.outcomes.entry(format!("transport: {e}")).or_default() += 1,
        }
    }

    fn count(&self, kind: &str, outcome: &str) {
        let mut kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        *kinds
            .entry(kind.to_owned())
            .or_default()
            .outcomes
            .entry(outcome.to_owned())
            .or_default() += 1;
    }

    /// (successes, p50 ms, p99 ms) of a kind.
    fn latency(&self, kind: &str) -> (usize, f64, f64) {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        let mut lat = kinds
            .get(kind)
            .map(|k| k.lat_us.clone())
            .unwrap_or_default();
        lat.sort_unstable();
        let pct = |p: f64| {
            if lat.is_empty() {
                return f64::NAN;
            }
            f64::from(lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)]) / 1e3
        };
        (lat.len(), pct(0.50), pct(0.99))
    }

    fn print(&self, secs: &BTreeMap<&str, f64>) {
        let kinds = self.kinds.lock().unwrap_or_else(|e| e.into_inner());
        println!("| kind | done | per s | p50 | p99 | outcomes |\n|---|---|---|---|---|---|");
        for (name, k) in kinds.iter() {
            let mut lat = k.lat_us.clone();
            lat.sort_unstable();
            let pct = |p: f64| {
                lat.get(((lat.len() as f64 * p) as usize).min(lat.len().saturating_sub(1)))
                    .map_or(f64::NAN, |v| f64::from(*v) / 1e3)
            };
            let per_s = secs
                .iter()
                .find(|(prefix, _)| name.starts_with(**prefix))
                .map_or(f64::NAN, |(_, s)| lat.len() as f64 / s.max(1e-9));
            println!(
                "| {name} | {} | {per_s:.0} | {:.1} ms | {:.1} ms | {:?} |",
                lat.len(),
                pct(0.50),
                pct(0.99),
                k.outcomes
            );
        }
    }
}

fn client(connections: usize) -> Result<reqwest::Client, String> {
    reqwest::Client::builder()
        .pool_max_idle_per_host(connections)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(60))
        .build()
        .map_err(|e| e.to_string())
}

async fn operator(api: &Api, admin: &str) -> Result<String, String> {
    let v = api
        .create(
            "/api/v1/staff",
            admin,
            json!({"name": "販売op", "kind": "operator", "role": "operator"}),
            false,
        )
        .await?;
    field(&v, "token")
}

/// Opens a first-come campaign with a waiting room; answers its id.
async fn open_campaign(
    api: &Api,
    op: &str,
    program: &str,
    budget_sets: i64,
    admits_per_s: i64,
) -> Result<String, String> {
    let v = api
        .create(
            &format!("/api/v1/programs/{program}/premium-campaigns"),
            op,
            json!({"name": "プレミアム付き商品券", "price_yen": SET_PRICE_YEN, "premium_yen": SET_PREMIUM_YEN,
                "units_per_person_max": RUSH_SETS_EACH, "budget_yen": SET_PREMIUM_YEN * budget_sets,
                "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z",
                "waiting_room": {"admits_per_s": admits_per_s, "admitted_for_s": 120}}),
            true,
        )
        .await?;
    field(&v, "id")
}

/// Shoppers signed up by the operator: (id, token).
async fn new_shoppers(
    api: &Api,
    op: &str,
    n: usize,
    concurrency: usize,
) -> Result<Vec<(String, String)>, String> {
    futures::stream::iter(0..n)
        .map(|i| {
            let (api, op) = (api.clone(), op.to_owned());
            async move {
                let s = api
                    .create(
                        "/api/v1/shoppers",
                        &op,
                        json!({"display_name": format!("並{i}")}),
                        false,
                    )
                    .await?;
                Ok::<_, String>((field(&s, "id")?, field(&s, "token")?))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect()
}

/// What a payment loop tags its latencies with: payments before, during and after the rush.
const PHASES: [&str; 3] = [
    "payment before rush",
    "payment during rush",
    "payment after rush",
];

/// A closed-loop shopper paying random stores from random wallets until `stop`.
async fn pay_loop(
    client: reqwest::Client,
    base: String,
    setup: Arc<Setup>,
    stop: Arc<AtomicBool>,
    phase: Arc<AtomicU8>,
    rec: Arc<Recorder>,
    seed: u64,
) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    while !stop.load(Ordering::Relaxed) {
        let token = &setup.shoppers[rng.random_range(0..setup.shoppers.len())];
        let payload = &setup.stores[rng.random_range(0..setup.stores.len())].1;
        let body = json!({"payload": payload, "amount": rng.random_range(1..=PAYMENT_MAX_YEN)});
        let key = uuid::Uuid::now_v7().to_string();
        let kind = PHASES[usize::from(phase.load(Ordering::Relaxed)).min(2)];
        let r = hit(
            &client,
            &base,
            reqwest::Method::POST,
            "/api/v1/qr/payments",
            token,
            Some(&key),
            Some(&body),
        )
        .await;
        rec.note(kind, &r);
    }
}

/// Sends a request again (same key) while it answers 503 with Retry-After, as a wallet does;
/// each answer is noted under `kind`.
#[allow(clippy::too_many_arguments)]
async fn patient(
    client: &reqwest::Client,
    base: &str,
    method: reqwest::Method,
    path: &str,
    token: &str,
    key: Option<&str>,
    body: Option<&Value>,
    rec: &Recorder,
    kind: &str,
) -> Result<Hit, String> {
    for _ in 0..20 {
        let r = hit(client, base, method.clone(), path, token, key, body).await;
        rec.note(kind, &r);
        match r {
            Ok(h) if h.status == StatusCode::SERVICE_UNAVAILABLE && h.retry_after => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            other => return other,
        }
    }
    Err(format!("{path}: still 503 after 20 tries"))
}

// ---------------------------------------------------------------------------------------------
// rush

struct Rush {
    client: reqwest::Client,
    base: String,
    program: String,
    campaign: String,
    op: String,
    permits: Arc<tokio::sync::Semaphore>,
    rec: Arc<Recorder>,
}

impl Rush {
    /// One request of the rush, within the connection limit.
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
        kind: &str,
    ) -> Result<Hit, String> {
        let _permit = self.permits.acquire().await.map_err(|e| e.to_string())?;
        patient(
            &self.client,
            &self.base,
            method,
            path,
            token,
            key,
            body,
            &self.rec,
            kind,
        )
        .await
    }

    /// One shopper: ticket, polls, and the purchases once admitted.
    async fn shopper(&self, i: usize, (id, token): (String, String)) {
        let queue = format!(
            "/api/v1/programs/{}/premium-campaigns/{}/queue",
            self.program, self.campaign
        );
        let buy = format!(
            "/api/v1/programs/{}/premium-campaigns/{}/purchases",
            self.program, self.campaign
        );
        let Ok(mut ticket) = self
            .call(
                reqwest::Method::POST,
                &queue,
                &token,
                None,
                None,
                "queue: take a ticket",
            )
            .await
        else {
            return;
        };
        if !ticket.status.is_success() {
            return;
        }
        let ticket_id = ticket.body["id"].clone();
        if i.is_multiple_of(10) && ticket.body["state"] == "waiting" {
            let body = json!({"shopper_id": id, "units": 1, "ticket_id": ticket_id});
            let key = uuid::Uuid::now_v7().to_string();
            let _ = self
                .call(
                    reqwest::Method::POST,
                    &buy,
                    &self.op,
                    Some(&key),
                    Some(&body),
                    "purchase before its turn",
                )
                .await;
        }
        let poll = format!("{queue}/{}", ticket_id.as_str().unwrap_or_default());
        while ticket.body["state"] == "waiting" {
            let pause = ticket.body["poll_after_ms"].as_u64().unwrap_or(1_000);
            tokio::time::sleep(Duration::from_millis(pause)).await;
            match self
                .call(
                    reqwest::Method::GET,
                    &poll,
                    &token,
                    None,
                    None,
                    "queue: poll",
                )
                .await
            {
                Ok(h) if h.status.is_success() => ticket = h,
                _ => return,
            }
        }
        if ticket.body["state"] != "admitted" {
            self.rec
                .count("queue: poll", &format!("ended {}", ticket.body["state"]));
            return;
        }
        for (units, kind) in [
            (RUSH_SETS_EACH, "purchase of 2 sets"),
            (1, "purchase of 1 more (over the limit)"),
        ] {
            let body = json!({"shopper_id": id, "units": units, "ticket_id": ticket_id});
            let key = uuid::Uuid::now_v7().to_string();
            let _ = self
                .call(
                    reqwest::Method::POST,
                    &buy,
                    &self.op,
                    Some(&key),
                    Some(&body),
                    kind,
                )
                .await;
        }
    }
}

async fn rush(args: &Args, base: &str, admin: &str) -> Result<(), String> {
    let api = Api {
        client: client(args.setup_concurrency)?,
        base: base.to_owned(),
    };
    let started = Instant::now();
    let setup = Arc::new(
        setup(
            &api,
            admin,
            args.stores,
            args.wallets,
            args.setup_concurrency,
        )
        .await?,
    );
    let op = operator(&api, admin).await?;
    let shoppers = new_shoppers(&api, &op, RUSH_SHOPPERS, args.setup_concurrency).await?;
    let admits_per_s: i64 = std::env::var("MACHIPAY_RUSH_ADMITS_PER_S")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let campaign = open_campaign(&api, &op, &setup.program, RUSH_BUDGET_SETS, admits_per_s).await?;
    println!(
        "rush: setup {:.1} s ({} stores, {} paying wallets, {RUSH_SHOPPERS} rush shoppers); waiting room {admits_per_s} a second",
        started.elapsed().as_secs_f64(),
        setup.stores.len(),
        setup.shoppers.len()
    );

    let rec = Arc::new(Recorder::default());
    let stop = Arc::new(AtomicBool::new(false));
    let phase = Arc::new(AtomicU8::new(0));
    let pay_client = client(args.clients)?;
    let payers: Vec<_> = (0..args.clients)
        .map(|c| {
            tokio::spawn(pay_loop(
                pay_client.clone(),
                base.to_owned(),
                setup.clone(),
                stop.clone(),
                phase.clone(),
                rec.clone(),
                c as u64,
            ))
        })
        .collect();
    tokio::time::sleep(Duration::from_secs(BEFORE_RUSH_SECS)).await;

    phase.store(1, Ordering::Relaxed);
    let rush = Arc::new(Rush {
        client: client(RUSH_CONNECTIONS_MAX)?,
        base: base.to_owned(),
        program: setup.program.clone(),
        campaign: campaign.clone(),
        op: op.clone(),
        permits: Arc::new(tokio::sync::Semaphore::new(RUSH_CONNECTIONS_MAX)),
        rec: rec.clone(),
    });
    let rush_started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for (i, s) in shoppers.iter().cloned().enumerate() {
        let rush = rush.clone();
        tasks.spawn(async move { rush.shopper(i, s).await });
    }
    while tasks.join_next().await.is_some() {}
    let rush_secs = rush_started.elapsed().as_secs_f64();
    phase.store(2, Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.store(true, Ordering::Relaxed);
    for p in payers {
        let _ = p.await;
    }

    // The sale's figures and rules.
    let list = api
        .get(
            &format!("/api/v1/programs/{}/premium-campaigns", setup.program),
            &op,
        )
        .await?;
    let c = list
        .as_array()
        .and_then(|l| l.iter().find(|c| c["id"] == campaign.as_str()))
        .ok_or("campaign not listed")?;
    let sold = c["units_sold"].as_i64().unwrap_or(-1);
    let held: Vec<i64> = futures::stream::iter(shoppers.iter())
        .map(|(id, _)| {
            let (api, admin, program) = (api.clone(), admin.to_owned(), setup.program.clone());
            async move {
                let v = api
                    .get(&format!("/api/v1/shoppers/{id}/balances"), &admin)
                    .await?;
                Ok::<_, String>(
                    v.as_array()
                        .ok_or("balances")?
                        .iter()
                        .filter(|b| b["program_id"] == program.as_str() && b["asset"] == "premium")
                        .filter_map(|b| b["balance"].as_i64())
                        .sum(),
                )
            }
        })
        .buffer_unordered(64)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    let over = held
        .iter()
        .filter(|p| **p > RUSH_SETS_EACH * SET_PREMIUM_YEN)
        .count();
    let sets_held: i64 = held.iter().sum::<i64>() / SET_PREMIUM_YEN;
    let check = api
        .get(
            &format!("/api/v1/programs/{}/ledger-check", setup.program),
            admin,
        )
        .await?;

    let mut secs = BTreeMap::new();
    secs.insert("payment before", BEFORE_RUSH_SECS as f64);
    secs.insert("payment during", rush_secs);
    secs.insert("payment after", 2.0);
    secs.insert("purchase", rush_secs);
    secs.insert("queue", rush_secs);
    rec.print(&secs);
    let (_, _, p99_before) = rec.latency(PHASES[0]);
    let (during, _, p99_during) = rec.latency(PHASES[1]);
    let bad_5xx = rec.bad_5xx.load(Ordering::Relaxed);
    println!(
        "rush: {RUSH_SHOPPERS} shoppers answered in {rush_secs:.1} s (goal {RUSH_GOAL_SECS} s: {}); sets sold {sold} (counter), {sets_held} held by the shoppers, budget {RUSH_BUDGET_SETS}: {}",
        pass(rush_secs <= RUSH_GOAL_SECS),
        pass(sold == RUSH_BUDGET_SETS && sets_held == RUSH_BUDGET_SETS)
    );
    println!(
        "rush: shoppers over their limit {over}: {}",
        pass(over == 0)
    );
    println!(
        "rush: payments p99 {p99_before:.1} ms before, {p99_during:.1} ms during the rush ({during} payments, {:.0}/s; goal < 100 ms): {}",
        during as f64 / rush_secs.max(1e-9),
        pass(p99_during < 100.0)
    );
    println!(
        "rush: 5xx other than 503 with Retry-After: {bad_5xx}: {}",
        pass(bad_5xx == 0)
    );
    println!("rush: ledger-check ok: {}", check["ok"]);
    if check["ok"] != true {
        return Err(format!("ledger-check not ok: {check}"));
    }
    if sold != RUSH_BUDGET_SETS || sets_held != RUSH_BUDGET_SETS || over > 0 || bad_5xx > 0 {
        return Err(format!(
            "sold {sold}, held {sets_held}, over the limit {over}, bad 5xx {bad_5xx}"
        ));
    }
    Ok(())
}

fn pass(ok: bool) -> &'static str {
    if ok { "PASS" } else { "MISS" }
}

// ---------------------------------------------------------------------------------------------
// mixed

/// A store of the mixed scenario that refunds: (id, owner token, store code payload).
type RefundStore = (String, String, String);

async fn refund_stores(api: &Api, op: &str, program: &str) -> Result<Vec<RefundStore>, String> {
    let mut stores = Vec::with_capacity(REFUND_STORES);
    for i in 0..REFUND_STORES {
        let m = api
            .create(
                "/api/v1/merchants",
                op,
                json!({"name": format!("返品店{i}")}),
                false,
            )
            .await?;
        let (id, owner) = (field(&m, "id")?, field(&m, "token")?);
        let code = api
            .create(
                &format!("/api/v1/merchants/{id}/codes"),
                &owner,
                json!({"program_id": program}),
                false,
            )
            .await?;
        stores.push((id, owner, field(&code, "payload")?));
    }
    Ok(stores)
}

struct Mixed {
    client: reqwest::Client,
    base: String,
    setup: Arc<Setup>,
    op: String,
    campaign: String,
    refund_stores: Vec<RefundStore>,
    /// Shoppers signed up during the run: topped up by the chargers.
    signed_up: Mutex<Vec<String>>,
    /// Signed-up shoppers not yet sent to the sale: (id, token).
    buyers: Mutex<Vec<(String, String)>>,
    stop: AtomicBool,
    rec: Recorder,
}

impl Mixed {
    async fn post(&self, path: &str, token: &str, body: &Value, kind: &str) -> Result<Hit, String> {
        let key = uuid::Uuid::now_v7().to_string();
        patient(
            &self.client,
            &self.base,
            reqwest::Method::POST,
            path,
            token,
            Some(&key),
            Some(body),
            &self.rec,
            kind,
        )
        .await
    }

    /// Sign-ups at the counter, each charged at once.
    async fn sign_ups(&self, n: usize) {
        let charges = format!("/api/v1/programs/{}/charges", self.setup.program);
        let mut i = 0;
        while !self.stop.load(Ordering::Relaxed) {
            i += 1;
            let body = json!({"display_name": format!("新{n}-{i}")});
            let Ok(h) = self
                .post("/api/v1/shoppers", &self.op, &body, "sign-up")
                .await
            else {
                continue;
            };
            let (Some(id), Some(token)) = (h.body["id"].as_str(), h.body["token"].as_str()) else {
                continue;
            };
            let _ = self
                .post(
                    &charges,
                    &self.op,
                    &json!({"shopper_id": id, "amount": 20_000}),
                    "charge (first)",
                )
                .await;
            self.signed_up
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(id.to_owned());
            self.buyers
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push((id.to_owned(), token.to_owned()));
        }
    }

    /// Top-up charges of ¥1,000 to shoppers signed up in the run.
    async fn charges(&self, seed: u64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        let charges = format!("/api/v1/programs/{}/charges", self.setup.program);
        while !self.stop.load(Ordering::Relaxed) {
            let id = {
                let s = self.signed_up.lock().unwrap_or_else(|e| e.into_inner());
                (!s.is_empty()).then(|| s[rng.random_range(0..s.len())].clone())
            };
            let Some(id) = id else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let _ = self
                .post(
                    &charges,
                    &self.op,
                    &json!({"shopper_id": id, "amount": 1_000}),
                    "charge (top-up)",
                )
                .await;
        }
    }

    /// New shoppers buying a set through the waiting room.
    async fn purchases(&self) {
        let queue = format!(
            "/api/v1/programs/{}/premium-campaigns/{}/queue",
            self.setup.program, self.campaign
        );
        let buy = format!(
            "/api/v1/programs/{}/premium-campaigns/{}/purchases",
            self.setup.program, self.campaign
        );
        while !self.stop.load(Ordering::Relaxed) {
            let next = self.buyers.lock().unwrap_or_else(|e| e.into_inner()).pop();
            let Some((id, token)) = next else {
                tokio::time::sleep(Duration::from_millis(20)).await;
                continue;
            };
            let r = hit(
                &self.client,
                &self.base,
                reqwest::Method::POST,
                &queue,
                &token,
                None,
                None,
            )
            .await;
            self.rec.note("queue: take a ticket", &r);
            let Ok(mut ticket) = r else { continue };
            while ticket.status.is_success() && ticket.body["state"] == "waiting" {
                let pause = ticket.body["poll_after_ms"].as_u64().unwrap_or(100);
                tokio::time::sleep(Duration::from_millis(pause)).await;
                let poll = format!("{queue}/{}", ticket.body["id"].as_str().unwrap_or_default());
                let r = hit(
                    &self.client,
                    &self.base,
                    reqwest::Method::GET,
                    &poll,
                    &token,
                    None,
                    None,
                )
                .await;
                self.rec.note("queue: poll", &r);
                let Ok(h) = r else { break };
                ticket = h;
            }
            if ticket.body["state"] == "admitted" {
                let body = json!({"shopper_id": id, "units": 1, "ticket_id": ticket.body["id"]});
                let _ = self.post(&buy, &self.op, &body, "premium purchase").await;
            }
        }
    }

    /// QR payments at random stores from random wallets.
    async fn payments(&self, seed: u64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        while !self.stop.load(Ordering::Relaxed) {
            let token = &self.setup.shoppers[rng.random_range(0..self.setup.shoppers.len())];
            let payload = &self.setup.stores[rng.random_range(0..self.setup.stores.len())].1;
            let body = json!({"payload": payload, "amount": rng.random_range(1..=PAYMENT_MAX_YEN)});
            let _ = self
                .post("/api/v1/qr/payments", token, &body, "payment")
                .await;
        }
    }

    /// A payment at a refunding store, then half of it refunded by the store.
    async fn refunds(&self, seed: u64) {
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        while !self.stop.load(Ordering::Relaxed) {
            let token = &self.setup.shoppers[rng.random_range(0..self.setup.shoppers.len())];
            let (store, owner, payload) =
                &self.refund_stores[rng.random_range(0..self.refund_stores.len())];
            let amount = rng.random_range(2..=PAYMENT_MAX_YEN);
            let body = json!({"payload": payload, "amount": amount});
            let Ok(paid) = self
                .post("/api/v1/qr/payments", token, &body, "payment (to refund)")
                .await
            else {
                continue;
            };
            let Some(tx) = paid.body["transaction_id"].as_str() else {
                continue;
            };
            let body = json!({"transaction_id": tx, "amount": amount / 2, "reason": "返品"});
            let _ = self
                .post(
                    &format!("/api/v1/merchants/{store}/refunds"),
                    owner,
                    &body,
                    "refund",
                )
                .await;
        }
    }
}

async fn mixed(args: &Args, base: &str, admin: &str) -> Result<(), String> {
    let api = Api {
        client: client(args.setup_concurrency)?,
        base: base.to_owned(),
    };
    let started = Instant::now();
    let setup = Arc::new(
        setup(
            &api,
            admin,
            args.stores,
            args.wallets,
            args.setup_concurrency,
        )
        .await?,
    );
    let op = operator(&api, admin).await?;
    let refund_stores = refund_stores(&api, &op, &setup.program).await?;
    let campaign = open_campaign(&api, &op, &setup.program, 1_000_000, 1_000).await?;
    println!(
        "mixed: setup {:.1} s ({} stores, {} wallets), same server process from here on",
        started.elapsed().as_secs_f64(),
        setup.stores.len(),
        setup.shoppers.len()
    );
    let m = Arc::new(Mixed {
        client: client(args.clients)?,
        base: base.to_owned(),
        setup,
        op,
        campaign,
        refund_stores,
        signed_up: Mutex::default(),
        buyers: Mutex::default(),
        stop: AtomicBool::new(false),
        rec: Recorder::default(),
    });
    // Of the clients: 2 sign up, 2 top up, 2 buy sets, 2 pay and refund; the rest pay.
    let others = 8;
    let payers = args.clients.saturating_sub(others).max(1);
    let mut tasks = tokio::task::JoinSet::new();
    for c in 0..2u64 {
        let m1 = m.clone();
        tasks.spawn(async move { m1.sign_ups(c as usize).await });
        let m2 = m.clone();
        tasks.spawn(async move { m2.charges(100 + c).await });
        let m3 = m.clone();
        tasks.spawn(async move { m3.purchases().await });
        let m4 = m.clone();
        tasks.spawn(async move { m4.refunds(200 + c).await });
    }
    for c in 0..payers as u64 {
        let m = m.clone();
        tasks.spawn(async move { m.payments(c).await });
    }
    let secs = args.duration_secs.unwrap_or(20);
    let measured = Instant::now();
    tokio::time::sleep(Duration::from_secs(secs)).await;
    m.stop.store(true, Ordering::Relaxed);
    while tasks.join_next().await.is_some() {}
    let elapsed = measured.elapsed().as_secs_f64();

    let check = api
        .get(
            &format!("/api/v1/programs/{}/ledger-check", m.setup.program),
            admin,
        )
        .await?;
    let mut by = BTreeMap::new();
    for k in ["sign-up", "charge", "premium", "queue", "payment", "refund"] {
        by.insert(k, elapsed);
    }
    println!(
        "mixed: {elapsed:.1} s, {payers} paying clients + 2 each signing up, topping up, buying sets, paying and refunding"
    );
    m.rec.print(&by);
    let bad_5xx = m.rec.bad_5xx.load(Ordering::Relaxed);
    let (n, p50, p99) = m.rec.latency("payment");
    println!(
        "mixed: payments {n} ({:.0}/s), p50 {p50:.1} ms, p99 {p99:.1} ms; 5xx other than 503 with Retry-After: {bad_5xx}: {}",
        n as f64 / elapsed,
        pass(bad_5xx == 0)
    );
    println!(
        "mixed: ledger-check ok: {} ({} transactions)",
        check["ok"], check["transactions"]
    );
    if check["ok"] != true {
        return Err(format!("ledger-check not ok: {check}"));
    }
    if bad_5xx > 0 {
        return Err(format!(
            "{bad_5xx} answers were 5xx other than 503 with Retry-After"
        ));
    }
    Ok(())
}
