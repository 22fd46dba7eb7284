//! Load benchmark: concurrent QR payments over HTTP against a real `machipay serve` process.
//!
//! For each scenario it creates a fresh database (a PostgreSQL database it drops afterwards, or
//! a temporary SQLite file), runs `machipay bootstrap-city` and `machipay serve` on a free
//! port, sets up an operator, a currency program, stores (each with a static store code) and
//! charged shoppers through the API, then lets `--clients` shoppers pay random stores by QR
//! (`POST /api/v1/qr/payments`) for `--duration-secs` (or `--payments` in all). It prints
//! payments per second, p50/p99 latency, the server's peak memory (VmHWM), verifies the money
//! (ledger-check ok, store balances sum to what was paid), runs `pgbench` (TPC-B) for
//! comparison, and reports PASS/MISS for each floor.
//!
//! ```sh
//! cargo run --release --example load                        # all scenarios, ~4 minutes
//! cargo run --release --example load -- --wallets 10000     # as measured in the README
//! cargo run --release --example load -- --scenarios spread --wallets 100000
//! cargo run --release --example load -- --help
//! ```
//!
//! Scenarios: `spread` (PostgreSQL, payments over `--stores` stores and `--wallets` wallets),
//! `one-store` (PostgreSQL, every payment to one store), `sqlite` (the spread scenario on
//! SQLite, `synchronous=FULL`), `two-instances` and `rolling-restart` (two servers on one
//! PostgreSQL, load/instances.rs). `target/release/machipay` is built first
//! (`cargo build --release --bin machipay`) unless `--no-build`.

#[path = "load/instances.rs"]
mod instances;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use clap::{Parser, ValueEnum};
use futures::StreamExt;
use rand::{Rng, SeedableRng};
use reqwest::StatusCode;
use serde_json::{Value, json};

// The sale-day scenarios (`mixed`, `rush`): README "Sale day".
#[path = "load/sale.rs"]
mod sale;

/// Each shopper is charged this much once (the default program's largest charge).
const CHARGE_YEN: i64 = 50_000;
/// Payments are uniformly random in 1..=PAYMENT_MAX_YEN yen.
const PAYMENT_MAX_YEN: i64 = 1_000;

#[derive(Parser, Debug)]
#[command(about = "QR payment load benchmark against a running machipay server")]
struct Args {
    /// Scenarios to run, comma-separated.
    #[arg(long, value_delimiter = ',', default_values_t = [Scenario::Spread, Scenario::OneStore, Scenario::Sqlite])]
    scenarios: Vec<Scenario>,
    /// Concurrent paying clients (each waits for its answer before the next payment).
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// Measure for this many seconds (default 20 unless --payments is given).
    #[arg(long)]
    duration_secs: Option<u64>,
    /// Measure this many payments in all instead of a duration.
    #[arg(long, conflicts_with = "duration_secs")]
    payments: Option<usize>,
    /// Shopper wallets (the issue's full figure is 100000; setup then takes many minutes).
    #[arg(long, default_value_t = 5_000)]
    wallets: usize,
    /// Stores in the spread scenarios (one-store always uses one).
    #[arg(long, default_value_t = 1_000)]
    stores: usize,
    /// Wallets for the sqlite scenario (default: --wallets).
    #[arg(long)]
    sqlite_wallets: Option<usize>,
    /// Concurrent requests while setting up stores and shoppers.
    #[arg(long, default_value_t = 256)]
    setup_concurrency: usize,
    /// pgbench duration in seconds.
    #[arg(long, default_value_t = 20)]
    pgbench_secs: u64,
    /// pgbench scale factor for `pgbench -i -s`.
    #[arg(long, default_value_t = 10)]
    pgbench_scale: u32,
    /// Skip pgbench (the ratios to it are then not checked).
    #[arg(long)]
    no_pgbench: bool,
    /// Also print each second of the measurement: payments answered, p50, p99 and max (of the
    /// payments begun in that second), to see whether the slow ones come together.
    #[arg(long)]
    timeline: bool,
    /// Do not run `cargo build --release --bin machipay` first.
    #[arg(long)]
    no_build: bool,
    /// The server binary.
    #[arg(long, default_value = "target/release/machipay")]
    server_bin: PathBuf,
    /// PostgreSQL URL allowed to create databases.
    #[arg(
        long,
        env = "TEST_DATABASE_URL",
        default_value = "postgres://postgres@localhost:5432/postgres"
    )]
    pg_url: String,
}

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
enum Scenario {
    Spread,
    OneStore,
    Sqlite,
    TwoInstances,
    RollingRestart,
    Mixed,
    MixedSqlite,
    Rush,
    RushSqlite,
}

impl Scenario {
    fn name(self) -> &'static str {
        match self {
            Scenario::Spread => "spread",
            Scenario::OneStore => "one-store",
            Scenario::Sqlite => "sqlite",
            Scenario::TwoInstances => "two-instances",
            Scenario::RollingRestart => "rolling-restart",
            Scenario::Mixed => "mixed",
            Scenario::MixedSqlite => "mixed-sqlite",
            Scenario::Rush => "rush",
            Scenario::RushSqlite => "rush-sqlite",
        }
    }
    fn postgres(self) -> bool {
        !matches!(
            self,
            Scenario::Sqlite | Scenario::MixedSqlite | Scenario::RushSqlite
        )
    }
}

impl std::fmt::Display for Scenario {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

struct Outcome {
    scenario: Scenario,
    wallets: usize,
    stores: usize,
    setup_secs: f64,
    setup_requests: usize,
    setup_peak_mb: f64,
    accepted: usize,
    refused: usize,
    errors: BTreeMap<String, usize>,
    elapsed_secs: f64,
    pps: f64,
    p50_ms: f64,
    p99_ms: f64,
    peak_mb: f64,
    money: Result<String, String>,
}

#[tokio::main]
async fn main() -> std::process::ExitCode {
    let args = Args::parse();
    if !args.no_build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
        eprintln!("building: {cargo} build --release --bin machipay");
        let ok = Command::new(&cargo)
            .args(["build", "--release", "--bin", "machipay"])
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            eprintln!("cargo build --release failed");
            return std::process::ExitCode::FAILURE;
        }
    }
    if !args.server_bin.exists() {
        eprintln!(
            "{} not found: run `cargo build --release` first",
            args.server_bin.display()
        );
        return std::process::ExitCode::FAILURE;
    }
    let measure = match (args.payments, args.duration_secs) {
        (Some(n), _) => format!("{n} payments"),
        (None, d) => format!("{} s", d.unwrap_or(20)),
    };
    println!(
        "machipay load: scenarios={:?} clients={} measure={} wallets={} stores={} on {} cores",
        args.scenarios.iter().map(|s| s.name()).collect::<Vec<_>>(),
        args.clients,
        measure,
        args.wallets,
        args.stores,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
    );

    let mut outcomes = Vec::new();
    let mut failed = false;
    for &scenario in &args.scenarios {
        println!("\n== {scenario} ==");
        if sale::is_sale(scenario) {
            failed |= sale::run(&args, scenario).await.is_err();
            continue;
        }
        match run_scenario(&args, scenario).await {
            Ok(o) => {
                print_outcome(&o, args.clients);
                failed |= o.money.is_err();
                outcomes.push(o);
            }
            Err(e) => {
                println!("{scenario}: FAILED: {e}");
                failed = true;
            }
        }
    }

    let pgbench_tps = if !args.no_pgbench && args.scenarios.iter().any(|s| s.postgres()) {
        println!("\n== pgbench (TPC-B, -s {}) ==", args.pgbench_scale);
        match pgbench(&args).await {
            Ok(tps) => {
                println!(
                    "pgbench -c {} -j 2 -T {}: tps = {tps:.0}",
                    args.clients, args.pgbench_secs
                );
                Some(tps)
            }
            Err(e) => {
                println!("pgbench FAILED: {e}");
                None
            }
        }
    } else {
        None
    };

    report_floors(&outcomes, pgbench_tps, args.clients);
    if failed {
        std::process::ExitCode::FAILURE
    } else {
        std::process::ExitCode::SUCCESS
    }
}

fn print_outcome(o: &Outcome, clients: usize) {
    println!(
        "{}: setup {} stores + {} wallets in {:.1}s ({} requests, {:.0}/s, setup server peak {:.0} MB)",
        o.scenario,
        o.stores,
        o.wallets,
        o.setup_secs,
        o.setup_requests,
        o.setup_requests as f64 / o.setup_secs.max(1e-9),
        o.setup_peak_mb,
    );
    println!(
        "{}: {} payments accepted in {:.1}s at {} clients: {:.0} payments/s, p50 {:.1} ms, p99 {:.1} ms, server peak memory {:.1} MB",
        o.scenario, o.accepted, o.elapsed_secs, clients, o.pps, o.p50_ms, o.p99_ms, o.peak_mb
    );
    if o.refused > 0 {
        println!(
            "{}: {} payments refused (insufficient funds)",
            o.scenario, o.refused
        );
    }
    if !o.errors.is_empty() {
        println!("{}: errors {:?}", o.scenario, o.errors);
    }
    match &o.money {
        Ok(m) => println!("{}: money OK: {m}", o.scenario),
        Err(m) => println!("{}: money WRONG: {m}", o.scenario),
    }
}

fn report_floors(outcomes: &[Outcome], pgbench_tps: Option<f64>, clients: usize) {
    println!("\n== summary ==");
    println!(
        "| scenario | backend | stores | wallets | setup (server peak) | clients | payments/s | p50 | p99 | server peak memory | money |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for o in outcomes {
        println!(
            "| {} | {} | {} | {} | {:.0} s ({:.0} MB) | {} | {:.0} | {:.1} ms | {:.1} ms | {:.0} MB | {} |",
            o.scenario,
            if o.scenario.postgres() {
                "PostgreSQL"
            } else {
                "SQLite"
            },
            o.stores,
            o.wallets,
            o.setup_secs,
            o.setup_peak_mb,
            clients,
            o.pps,
            o.p50_ms,
            o.p99_ms,
            o.peak_mb,
            if o.money.is_ok() { "ok" } else { "WRONG" },
        );
    }
    if let Some(tps) = pgbench_tps {
        println!("| pgbench TPC-B | PostgreSQL | | | | {clients} | {tps:.0} tps | | | | |");
    }
    // Issue 17's goals (the first issue's floors were 0.6 x pgbench, 2,000/s, p99 < 50 ms,
    // memory < 200 MB).
    println!("\n== goals (issue 17) ==");
    let verdict = |ok: bool| if ok { "PASS" } else { "MISS" };
    let find = |s: Scenario| outcomes.iter().find(|o| o.scenario == s);
    for o in outcomes.iter().filter(|o| o.scenario.postgres()) {
        match pgbench_tps {
            Some(tps) => {
                let r = o.pps / tps;
                println!(
                    "{}  {} payments/s >= 1.0 x pgbench tps: {:.0} / {:.0} = {:.2}",
                    verdict(r >= 1.0),
                    o.scenario,
                    o.pps,
                    tps,
                    r
                );
            }
            None => println!(
                "n/a   {} payments/s vs pgbench: no pgbench figure",
                o.scenario
            ),
        }
    }
    match (find(Scenario::OneStore), find(Scenario::Spread)) {
        (Some(one), Some(spread)) => {
            let r = one.pps / spread.pps.max(1e-9);
            println!(
                "{}  one-store >= 0.9 x spread: {:.0} / {:.0} = {:.2}",
                verdict(r >= 0.9),
                one.pps,
                spread.pps,
                r
            );
        }
        _ => println!("n/a   one-store vs spread: needs both scenarios"),
    }
    match find(Scenario::Sqlite) {
        Some(o) => println!(
            "{}  sqlite >= 3,000 payments/s: {:.0}",
            verdict(o.pps >= 3_000.0),
            o.pps
        ),
        None => println!("n/a   sqlite >= 3,000 payments/s: scenario not run"),
    }
    for o in outcomes {
        let note = if clients == 32 {
            String::new()
        } else {
            format!(" (floor is stated for 32 clients; ran {clients})")
        };
        println!(
            "{}  {} p99 < 25 ms: {:.1} ms{note}",
            verdict(o.p99_ms < 25.0),
            o.scenario,
            o.p99_ms
        );
    }
    for o in outcomes {
        println!(
            "{}  {} server peak memory < 150 MB: {:.1} MB",
            verdict(o.peak_mb < 150.0),
            o.scenario,
            o.peak_mb
        );
    }
    for o in outcomes {
        println!(
            "{}  {} money verified (ledger-check ok, store balances = total paid)",
            if o.money.is_ok() { "PASS" } else { "FAIL" },
            o.scenario
        );
    }
}

// ---------------------------------------------------------------------------------------------
// Databases and the server process

/// A fresh database for one scenario; dropped (PostgreSQL) or deleted (SQLite) by `cleanup`.
enum FreshDb {
    Pg { admin_url: String, name: String },
    Lite { _dir: tempfile::TempDir },
}

fn pg_url_with_db(admin_url: &str, name: &str) -> Result<String, String> {
    let (base, query) = match admin_url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (admin_url, String::new()),
    };
    let slash = base
        .rfind('/')
        .filter(|&i| i > "postgres://".len())
        .ok_or("the PostgreSQL URL needs a database path (…/postgres)")?;
    Ok(format!("{}/{name}{query}", &base[..slash]))
}

async fn create_pg_db(admin_url: &str, prefix: &str) -> Result<(String, String), String> {
    let pool = sqlx::PgPool::connect(admin_url)
        .await
        .map_err(|e| format!("PostgreSQL at {admin_url}: {e}"))?;
    let name = format!("{prefix}_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .map_err(|e| format!("CREATE DATABASE: {e}"))?;
    pool.close().await;
    Ok((pg_url_with_db(admin_url, &name)?, name))
}

async fn drop_pg_db(admin_url: &str, name: &str) {
    if let Ok(pool) = sqlx::PgPool::connect(admin_url).await {
        if let Err(e) = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await
        {
            eprintln!("could not drop database {name}: {e}");
        }
        pool.close().await;
    }
}

impl FreshDb {
    async fn create(args: &Args, scenario: Scenario) -> Result<(FreshDb, String), String> {
        if scenario.postgres() {
            let (url, name) = create_pg_db(&args.pg_url, "machipay_load").await?;
            Ok((
                FreshDb::Pg {
                    admin_url: args.pg_url.clone(),
                    name,
                },
                url,
            ))
        } else {
            let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
            let url = format!("sqlite:{}", dir.path().join("load.db").display());
            Ok((FreshDb::Lite { _dir: dir }, url))
        }
    }

    async fn cleanup(self) {
        if let FreshDb::Pg { admin_url, name } = self {
            drop_pg_db(&admin_url, &name).await;
        }
    }
}

/// The `machipay serve` child process; killed on drop if not stopped.
struct Server {
    child: Child,
    base: String,
    log: PathBuf,
}

impl Server {
    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM (graceful: drains the writer), then SIGKILL after 15 s.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

fn bootstrap_city(bin: &Path, url: &str) -> Result<String, String> {
    let out = Command::new(bin)
        .args(["bootstrap-city", "--name", "負荷市"])
        .env("DATABASE_URL", url)
        .output()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let stdout = String::from_utf8_lossy(&out.stdout);
    if !out.status.success() {
        return Err(format!(
            "bootstrap-city failed: {stdout}{}",
            String::from_utf8_lossy(&out.stderr)
        ));
    }
    stdout
        .lines()
        .find_map(|l| l.strip_prefix("admin token:"))
        .map(|t| t.trim().to_owned())
        .ok_or_else(|| format!("no admin token in bootstrap-city output: {stdout}"))
}

fn free_port() -> Result<u16, String> {
    let l = std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    Ok(l.local_addr().map_err(|e| e.to_string())?.port())
}

async fn start_server(bin: &Path, url: &str, log: PathBuf) -> Result<Server, String> {
    let port = free_port()?;
    let out = std::fs::File::create(&log).map_err(|e| e.to_string())?;
    let err = out.try_clone().map_err(|e| e.to_string())?;
    let child = Command::new(bin)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .env("DATABASE_URL", url)
        .stdin(Stdio::null())
        .stdout(out)
        .stderr(err)
        .spawn()
        .map_err(|e| format!("{}: {e}", bin.display()))?;
    let mut server = Server {
        child,
        base: format!("http://127.0.0.1:{port}"),
        log,
    };
    let client = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(Some(status)) = server.child.try_wait() {
            return Err(format!("server exited ({status}):\n{}", server.log_tail()));
        }
        if let Ok(r) = client.get(format!("{}/healthz", server.base)).send().await
            && r.status().is_success()
        {
            return Ok(server);
        }
        if Instant::now() > deadline {
            server.stop();
            return Err(format!(
                "server not healthy after 60 s:\n{}",
                server.log_tail()
            ));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Samples VmHWM (the kernel's peak resident set) of `pid` every 100 ms; keeps the max in kB.
fn sample_memory(pid: u32, stop: Arc<AtomicBool>) -> (Arc<AtomicU64>, tokio::task::JoinHandle<()>) {
    let peak = Arc::new(AtomicU64::new(0));
    let p = peak.clone();
    let task = tokio::spawn(async move {
        loop {
            if let Some(kb) = vm_hwm_kb(pid) {
                p.fetch_max(kb, Ordering::Relaxed);
            }
            if stop.load(Ordering::Relaxed) {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    (peak, task)
}

fn vm_hwm_kb(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

// ---------------------------------------------------------------------------------------------
// HTTP

#[derive(Clone)]
struct Api {
    client: reqwest::Client,
    base: String,
}

impl Api {
    /// One request; `key` makes it a money POST. Answers (status, JSON body).
    async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        token: &str,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> Result<(StatusCode, Value), String> {
        let mut req = self
            .client
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.map_err(|e| format!("{path}: {e}"))?;
        let status = resp.status();
        let bytes = resp.bytes().await.map_err(|e| format!("{path}: {e}"))?;
        let value = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Ok((status, value))
    }

    /// A setup POST that must succeed with 201; retried (same idempotency key) on 503 or a
    /// transport error, so a saturated writer queue slows setup down instead of failing it.
    async fn create(
        &self,
        path: &str,
        token: &str,
        body: Value,
        money: bool,
    ) -> Result<Value, String> {
        let key = money.then(|| uuid::Uuid::now_v7().to_string());
        let mut last = String::new();
        for attempt in 0..10u64 {
            if attempt > 0 {
                tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
            }
            match self
                .call(
                    reqwest::Method::POST,
                    path,
                    token,
                    key.as_deref(),
                    Some(&body),
                )
                .await
            {
                Ok((StatusCode::CREATED, v)) => return Ok(v),
                Ok((StatusCode::SERVICE_UNAVAILABLE, v)) => last = format!("503 {v}"),
                Ok((s, v)) => return Err(format!("POST {path}: {s} {v}")),
                // Only money POSTs are safe to retry blindly (the key dedups them).
                Err(e) if money => last = e,
                Err(e) => return Err(e),
            }
        }
        Err(format!("POST {path}: gave up after retries: {last}"))
    }

    async fn get(&self, path: &str, token: &str) -> Result<Value, String> {
        match self
            .call(reqwest::Method::GET, path, token, None, None)
            .await?
        {
            (StatusCode::OK, v) => Ok(v),
            (s, v) => Err(format!("GET {path}: {s} {v}")),
        }
    }
}

fn field(v: &Value, name: &str) -> Result<String, String> {
    v[name]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| format!("no {name} in {v}"))
}

// ---------------------------------------------------------------------------------------------
// A scenario

struct Setup {
    program: String,
    /// (merchant id, static store code payload)
    stores: Vec<(String, String)>,
    /// Shopper tokens.
    shoppers: Vec<String>,
    requests: usize,
}

async fn run_scenario(args: &Args, scenario: Scenario) -> Result<Outcome, String> {
    if matches!(scenario, Scenario::TwoInstances | Scenario::RollingRestart) {
        return instances::run(args, scenario).await;
    }
    let (db, url) = FreshDb::create(args, scenario).await?;
    let logdir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let result = async {
        let admin = bootstrap_city(&args.server_bin, &url)?;
        let wallets = match scenario {
            Scenario::Sqlite => args.sqlite_wallets.unwrap_or(args.wallets),
            _ => args.wallets,
        };
        let stores = match scenario {
            Scenario::OneStore => 1,
            _ => args.stores,
        };
        // Setup on one server process...
        let mut server =
            start_server(&args.server_bin, &url, logdir.path().join("setup.log")).await?;
        let mut api = Api {
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(args.setup_concurrency.max(args.clients))
                .tcp_nodelay(true)
                .build()
                .map_err(|e| e.to_string())?,
            base: server.base.clone(),
        };
        let started = Instant::now();
        let setup = setup(&api, &admin, stores, wallets, args.setup_concurrency)
            .await
            .map_err(|e| format!("setup: {e}\nserver log:\n{}", server.log_tail()))?;
        let setup_secs = started.elapsed().as_secs_f64();
        let setup_peak_kb = vm_hwm_kb(server.pid()).unwrap_or(0);
        server.stop();
        println!(
            "{scenario}: setup done in {setup_secs:.1}s ({} requests, setup server peak memory {:.1} MB); restarting the server and measuring",
            setup.requests,
            setup_peak_kb as f64 / 1024.0,
        );
        // ...and the measurement on a fresh one, so its peak memory is that of the payments
        // (the setup's hundreds of concurrent requests leave the allocator's high-water mark).
        let mut server =
            start_server(&args.server_bin, &url, logdir.path().join("server.log")).await?;
        api.base = server.base.clone();
        let stop = Arc::new(AtomicBool::new(false));
        let (peak, sampler) = sample_memory(server.pid(), stop.clone());
        let r = measure_and_verify(args, &api, &admin, &setup).await;
        stop.store(true, Ordering::Relaxed);
        let _ = sampler.await;
        let peak_kb = peak
            .load(Ordering::Relaxed)
            .max(vm_hwm_kb(server.pid()).unwrap_or(0));
        server.stop();
        let mut o = r.map_err(|e| format!("{e}\nserver log:\n{}", server.log_tail()))?;
        o.scenario = scenario;
        o.wallets = wallets;
        o.stores = stores;
        o.setup_secs = setup_secs;
        o.setup_requests = setup.requests;
        o.setup_peak_mb = setup_peak_kb as f64 / 1024.0;
        o.peak_mb = peak_kb as f64 / 1024.0;
        Ok(o)
    }
    .await;
    db.cleanup().await;
    result
}

async fn measure_and_verify(
    args: &Args,
    api: &Api,
    admin: &str,
    setup: &Setup,
) -> Result<Outcome, String> {
    let m = measure(api, setup, args).await;

    // Verify the money.
    let check = api
        .get(
            &format!("/api/v1/programs/{}/ledger-check", setup.program),
            admin,
        )
        .await?;
    let store_total = stores_hold(api, admin, setup).await?;
    let money = if check["ok"] != true {
        Err(format!("ledger-check not ok: {check}"))
    } else if store_total != m.paid_yen {
        Err(format!(
            "store balances sum to ¥{store_total} but ¥{} was paid",
            m.paid_yen
        ))
    } else {
        Ok(format!(
            "ledger-check ok ({} transactions), {} store balances sum to ¥{store_total} = total paid",
            check["transactions"],
            setup.stores.len()
        ))
    };

    let mut lat = m.latencies_us;
    lat.sort_unstable();
    let pct = |p: f64| -> f64 {
        if lat.is_empty() {
            return f64::NAN;
        }
        lat[((lat.len() as f64 * p) as usize).min(lat.len() - 1)] as f64 / 1e3
    };
    Ok(Outcome {
        scenario: Scenario::Spread,
        wallets: 0,
        stores: 0,
        setup_secs: 0.0,
        setup_requests: 0,
        setup_peak_mb: 0.0,
        accepted: m.accepted,
        refused: m.refused,
        errors: m.errors,
        elapsed_secs: m.elapsed_secs,
        pps: m.accepted as f64 / m.elapsed_secs.max(1e-9),
        p50_ms: pct(0.50),
        p99_ms: pct(0.99),
        peak_mb: 0.0,
        money,
    })
}

async fn setup(
    api: &Api,
    admin: &str,
    stores: usize,
    wallets: usize,
    concurrency: usize,
) -> Result<Setup, String> {
    let op = field(
        &api.create(
            "/api/v1/staff",
            admin,
            json!({"name": "負荷op", "kind": "operator", "role": "operator"}),
            false,
        )
        .await?,
        "token",
    )?;
    // Default settings: charges of ¥1,000 steps up to ¥50,000, holding cap ¥100,000.
    let program = field(
        &api.create(
            "/api/v1/programs",
            admin,
            json!({"kind": "currency", "name": "負荷コイン"}),
            false,
        )
        .await?,
        "id",
    )?;
    let done = Arc::new(AtomicUsize::new(0));
    let progress = |what: &'static str, total: usize| {
        let done = done.clone();
        move || {
            let n = done.fetch_add(1, Ordering::Relaxed) + 1;
            if n.is_multiple_of(10_000) || n == total {
                eprintln!("  {what}: {n}/{total}");
            }
        }
    };
    let tick = progress("stores", stores);
    let store_list: Vec<(String, String)> = futures::stream::iter(0..stores)
        .map(|i| {
            let (api, op, program, tick) = (api.clone(), op.clone(), program.clone(), tick.clone());
            async move {
                let m = api
                    .create(
                        "/api/v1/merchants",
                        &op,
                        json!({"name": format!("店{i}")}),
                        false,
                    )
                    .await?;
                let id = field(&m, "id")?;
                let owner = field(&m, "token")?;
                let code = api
                    .create(
                        &format!("/api/v1/merchants/{id}/codes"),
                        &owner,
                        json!({"program_id": program}),
                        false,
                    )
                    .await?;
                tick();
                Ok::<_, String>((id, field(&code, "payload")?))
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    done.store(0, Ordering::Relaxed);
    let tick = progress("wallets", wallets);
    let path = format!("/api/v1/programs/{program}/charges");
    let shoppers: Vec<String> = futures::stream::iter(0..wallets)
        .map(|i| {
            let (api, op, path, tick) = (api.clone(), op.clone(), path.clone(), tick.clone());
            async move {
                let s = api
                    .create(
                        "/api/v1/shoppers",
                        &op,
                        json!({"display_name": format!("客{i}")}),
                        false,
                    )
                    .await?;
                api.create(
                    &path,
                    &op,
                    json!({"shopper_id": field(&s, "id")?, "amount": CHARGE_YEN}),
                    true,
                )
                .await?;
                tick();
                field(&s, "token")
            }
        })
        .buffer_unordered(concurrency)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .collect::<Result<_, _>>()?;
    Ok(Setup {
        program,
        stores: store_list,
        shoppers,
        requests: 2 + 2 * stores + 2 * wallets,
    })
}

struct Measured {
    accepted: usize,
    refused: usize,
    paid_yen: i64,
    errors: BTreeMap<String, usize>,
    latencies_us: Vec<u32>,
    /// (ms since the measurement began, µs) of each accepted payment, for `--timeline`.
    timeline: Vec<(u32, u32)>,
    elapsed_secs: f64,
}

/// `clients` closed-loop shoppers, each paying a random store from a random wallet.
async fn measure(api: &Api, setup: &Setup, args: &Args) -> Measured {
    let shoppers = Arc::new(setup.shoppers.clone());
    let payloads: Arc<Vec<String>> =
        Arc::new(setup.stores.iter().map(|(_, p)| p.clone()).collect());
    let deadline = match args.payments {
        Some(_) => None,
        None => Some(Instant::now() + Duration::from_secs(args.duration_secs.unwrap_or(20))),
    };
    let budget = Arc::new(AtomicUsize::new(args.payments.unwrap_or(usize::MAX)));
    let started = Instant::now();
    let tasks: Vec<_> = (0..args.clients)
        .map(|c| {
            let (api, shoppers, payloads, budget) = (
                api.clone(),
                shoppers.clone(),
                payloads.clone(),
                budget.clone(),
            );
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
                let mut m = Measured {
                    accepted: 0,
                    refused: 0,
                    paid_yen: 0,
                    errors: BTreeMap::new(),
                    latencies_us: Vec::with_capacity(4096),
                    timeline: Vec::new(),
                    elapsed_secs: 0.0,
                };
                loop {
                    if deadline.is_some_and(|d| Instant::now() >= d)
                        || budget
                            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| {
                                n.checked_sub(1)
                            })
                            .is_err()
                    {
                        break;
                    }
                    let token = &shoppers[rng.random_range(0..shoppers.len())];
                    let payload = &payloads[rng.random_range(0..payloads.len())];
                    let amount = rng.random_range(1..=PAYMENT_MAX_YEN);
                    let key = uuid::Uuid::now_v7().to_string();
                    let body = json!({"payload": payload, "amount": amount});
                    let t = Instant::now();
                    let r = api
                        .call(
                            reqwest::Method::POST,
                            "/api/v1/qr/payments",
                            token,
                            Some(&key),
                            Some(&body),
                        )
                        .await;
                    let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                    match r {
                        Ok((StatusCode::CREATED, _)) => {
                            m.accepted += 1;
                            m.paid_yen += amount;
                            m.latencies_us.push(us);
                            let at = t.duration_since(started).as_millis() as u32;
                            m.timeline.push((at, us));
                        }
                        Ok((StatusCode::UNPROCESSABLE_ENTITY, v))
                            if v["error"]["code"] == "insufficient_funds" =>
                        {
                            m.refused += 1;
                        }
                        Ok((s, v)) => {
                            *m.errors
                                .entry(format!("{s} {}", v["error"]["code"]))
                                .or_default() += 1;
                        }
                        Err(e) => *m.errors.entry(e).or_default() += 1,
                    }
                }
                m
            })
        })
        .collect();
    let mut all = Measured {
        accepted: 0,
        refused: 0,
        paid_yen: 0,
        errors: BTreeMap::new(),
        latencies_us: Vec::new(),
        timeline: Vec::new(),
        elapsed_secs: 0.0,
    };
    for t in tasks {
        match t.await {
            Ok(m) => {
                all.accepted += m.accepted;
                all.refused += m.refused;
                all.paid_yen += m.paid_yen;
                all.latencies_us.extend(m.latencies_us);
                all.timeline.extend(m.timeline);
                for (k, v) in m.errors {
                    *all.errors.entry(k).or_default() += v;
                }
            }
            Err(e) => *all.errors.entry(format!("client task: {e}")).or_default() += 1,
        }
    }
    all.elapsed_secs = started.elapsed().as_secs_f64();
    if args.timeline {
        print_timeline(&all.timeline);
    }
    all
}

/// `--timeline`: per second of the measurement, the payments begun in it and their latency.
fn print_timeline(points: &[(u32, u32)]) {
    let mut seconds: BTreeMap<u32, Vec<u32>> = BTreeMap::new();
    for &(at, us) in points {
        seconds.entry(at / 1000).or_default().push(us);
    }
    println!("second | payments | p50 ms | p99 ms | max ms");
    for (second, mut lat) in seconds {
        lat.sort_unstable();
        let pct = |q: f64| lat[((lat.len() - 1) as f64 * q).round() as usize] as f64 / 1000.0;
        println!(
            "{second:>6} | {:>8} | {:>6.1} | {:>6.1} | {:>6.1}",
            lat.len(),
            pct(0.5),
            pct(0.99),
            pct(1.0)
        );
    }
}

// ---------------------------------------------------------------------------------------------
// pgbench

async fn pgbench(args: &Args) -> Result<f64, String> {
    let (url, name) = create_pg_db(&args.pg_url, "machipay_pgbench").await?;
    let run = || -> Result<f64, String> {
        let init = Command::new("pgbench")
            .args(["-i", "-q", "-s", &args.pgbench_scale.to_string(), &url])
            .output()
            .map_err(|e| format!("pgbench: {e}"))?;
        if !init.status.success() {
            return Err(format!(
                "pgbench -i failed: {}",
                String::from_utf8_lossy(&init.stderr)
            ));
        }
        let out = Command::new("pgbench")
            .args([
                "-c",
                &args.clients.to_string(),
                "-j",
                "2",
                "-T",
                &args.pgbench_secs.to_string(),
                &url,
            ])
            .output()
            .map_err(|e| format!("pgbench: {e}"))?;
        let stdout = String::from_utf8_lossy(&out.stdout);
        if !out.status.success() {
            return Err(format!(
                "pgbench failed: {stdout}{}",
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        parse_tps(&stdout).ok_or_else(|| format!("no \"tps = \" in pgbench output: {stdout}"))
    };
    let r = tokio::task::block_in_place(run);
    drop_pg_db(&args.pg_url, &name).await;
    r
}

/// The figure from `tps = 1234.567890 (without initial connection time)`.
fn parse_tps(out: &str) -> Option<f64> {
    out.lines()
        .find_map(|l| l.trim().strip_prefix("tps = "))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// What the stores of the set-up hold in its program, summed: every scenario's money check
/// compares it with what was paid.
async fn stores_hold(api: &Api, admin: &str, setup: &Setup) -> Result<i64, String> {
    let balances: Vec<Result<i64, String>> = futures::stream::iter(setup.stores.iter())
        .map(|(id, _)| {
            let api = api.clone();
            let program = setup.program.clone();
            async move {
                let v = api
                    .get(&format!("/api/v1/merchants/{id}/balances"), admin)
                    .await?;
                Ok(v.as_array()
                    .ok_or_else(|| format!("balances: {v}"))?
                    .iter()
                    .filter(|b| b["program_id"] == program.as_str())
                    .filter_map(|b| b["balance"].as_i64())
                    .sum())
            }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    Ok(balances
        .into_iter()
        .collect::<Result<Vec<i64>, _>>()?
        .iter()
        .sum())
}
