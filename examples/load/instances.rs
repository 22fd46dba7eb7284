//! The load benchmark's many-instance scenarios (issue 16, item 7), included by load.rs.
//!
//! `two-instances`: two `machipay serve` processes on one PostgreSQL database, the clients
//! spread across them (client `c` pays through instance `c % 2`), measured like `spread`.
//!
//! `rolling-restart`: the same, and during the measurement each instance in turn gets
//! SIGTERM, is waited for and started again (on a new port; the clients learn it as from a
//! load balancer). A client whose payment meets a connection error or a 503 sends it again
//! to the other instance with the same Idempotency-Key, as the tills do. It reports failed
//! payments (never answered 201 or a refusal after `ATTEMPTS_MAX` tries) and doubled ones
//! (the ledger holding more payments, or more yen, than the clients were told), which must
//! both be 0, and the p99 of the payments begun while an instance was restarting.

use super::*;

/// Tries of one payment at most (each on the other instance than the last).
const ATTEMPTS_MAX: u32 = 200;
/// The pause before a retry grows by this per try, up to `RETRY_PAUSE_MAX_MS`.
const RETRY_PAUSE_STEP_MS: u64 = 5;
const RETRY_PAUSE_MAX_MS: u64 = 100;

/// Where each instance is now (`bases[i]`), changed when one is started again.
type Bases = Arc<std::sync::RwLock<Vec<String>>>;

/// One instance restart: how long its drain took and how long until it was ready again.
struct Restart {
    instance: usize,
    drain_ms: u128,
    down_ms: u128,
    begun: Duration,
    ended: Duration,
}

pub(super) async fn run(args: &Args, scenario: Scenario) -> Result<Outcome, String> {
    let (db, url) = FreshDb::create(args, scenario).await?;
    let logdir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let result = run_on(args, scenario, &url, logdir.path()).await;
    db.cleanup().await;
    result
}

async fn run_on(
    args: &Args,
    scenario: Scenario,
    url: &str,
    logdir: &Path,
) -> Result<Outcome, String> {
    let admin = bootstrap_city(&args.server_bin, url)?;
    let mut server = start_server(&args.server_bin, url, logdir.join("setup.log")).await?;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(args.setup_concurrency.max(args.clients))
        .tcp_nodelay(true)
        .build()
        .map_err(|e| e.to_string())?;
    let api = Api {
        client: client.clone(),
        base: server.base.clone(),
    };
    let started = Instant::now();
    let setup = setup(
        &api,
        &admin,
        args.stores,
        args.wallets,
        args.setup_concurrency,
    )
    .await
    .map_err(|e| format!("setup: {e}\nserver log:\n{}", server.log_tail()))?;
    let setup_secs = started.elapsed().as_secs_f64();
    let setup_peak_kb = vm_hwm_kb(server.pid()).unwrap_or(0);
    server.stop();
    println!("{scenario}: setup done in {setup_secs:.1}s; starting two instances and measuring");
    let mut servers = vec![
        start_server(&args.server_bin, url, logdir.join("a-0.log")).await?,
        start_server(&args.server_bin, url, logdir.join("b-0.log")).await?,
    ];
    let bases: Bases = Arc::new(std::sync::RwLock::new(
        servers.iter().map(|s| s.base.clone()).collect(),
    ));
    let retry = scenario == Scenario::RollingRestart;
    let duration = Duration::from_secs(args.duration_secs.unwrap_or(20));
    let measuring = tokio::spawn(measure(
        client.clone(),
        bases.clone(),
        Arc::new(setup.shoppers.clone()),
        Arc::new(setup.stores.iter().map(|(_, p)| p.clone()).collect()),
        args.clients,
        duration,
        retry,
    ));
    let t0 = Instant::now();
    let mut restarts = Vec::new();
    let mut peak_kb = 0;
    if retry {
        // Each instance in turn, at a fifth and at a half of the measurement.
        for (instance, at) in [(0usize, duration / 5), (1, duration / 2)] {
            tokio::time::sleep(at.saturating_sub(t0.elapsed())).await;
            peak_kb = peak_kb.max(vm_hwm_kb(servers[instance].pid()).unwrap_or(0));
            let begun = t0.elapsed();
            let stopping = Instant::now();
            // `stop` waits on the process by polling: off the clients' worker threads.
            tokio::task::block_in_place(|| servers[instance].stop());
            let drain_ms = stopping.elapsed().as_millis();
            let log = logdir.join(format!("{instance}-1.log"));
            servers[instance] = start_server(&args.server_bin, url, log).await?;
            let mut now_at = bases.write().map_err(|e| e.to_string())?;
            now_at[instance] = servers[instance].base.clone();
            drop(now_at);
            let r = Restart {
                instance,
                drain_ms,
                down_ms: stopping.elapsed().as_millis(),
                begun,
                ended: t0.elapsed(),
            };
            println!(
                "{scenario}: instance {} restarted at {:.1}s: SIGTERM to exit {} ms, to ready again {} ms",
                r.instance,
                r.begun.as_secs_f64(),
                r.drain_ms,
                r.down_ms
            );
            restarts.push(r);
        }
    }
    let m = measuring.await.map_err(|e| format!("measurement: {e}"))?;
    for s in &servers {
        peak_kb = peak_kb.max(vm_hwm_kb(s.pid()).unwrap_or(0));
    }
    let api = Api {
        client,
        base: servers[0].base.clone(),
    };
    let money = verify(&api, &admin, &setup, &m, &restarts).await;
    for s in &mut servers {
        s.stop();
    }
    let mut all: Vec<u32> = m.payments.iter().map(|p| p.us).collect();
    all.sort_unstable();
    Ok(Outcome {
        scenario,
        wallets: args.wallets,
        stores: args.stores,
        setup_secs,
        setup_requests: setup.requests,
        setup_peak_mb: setup_peak_kb as f64 / 1024.0,
        accepted: m.payments.len(),
        refused: m.refused,
        errors: m.errors.clone(),
        elapsed_secs: m.elapsed_secs,
        pps: m.payments.len() as f64 / m.elapsed_secs.max(1e-9),
        p50_ms: percentile(&all, 0.50),
        p99_ms: percentile(&all, 0.99),
        peak_mb: peak_kb as f64 / 1024.0,
        money,
    })
}

fn again_note(retry: bool) -> &'static str {
    if retry { " (tried again)" } else { "" }
}

/// The `p` quantile of sorted microseconds, in ms.
fn percentile(sorted_us: &[u32], p: f64) -> f64 {
    if sorted_us.is_empty() {
        return f64::NAN;
    }
    sorted_us[((sorted_us.len() as f64 * p) as usize).min(sorted_us.len() - 1)] as f64 / 1e3
}

/// One payment answered 201: when it was begun, its latency through every try, its yen.
struct Paid {
    begun: Duration,
    us: u32,
    yen: i64,
    attempts: u32,
}

#[derive(Default)]
struct Measured {
    payments: Vec<Paid>,
    refused: usize,
    /// Payments given up after `ATTEMPTS_MAX` tries, or answered something unexpected.
    failed: usize,
    errors: BTreeMap<String, usize>,
    elapsed_secs: f64,
}

/// `clients` closed-loop shoppers paying random stores from random wallets, client `c`
/// through instance `c % 2`; with `retry`, a connection error or 503 sends the payment again
/// to the other instance with the same key.
async fn measure(
    client: reqwest::Client,
    bases: Bases,
    shoppers: Arc<Vec<String>>,
    payloads: Arc<Vec<String>>,
    clients: usize,
    duration: Duration,
    retry: bool,
) -> Measured {
    let started = Instant::now();
    let deadline = started + duration;
    let tasks: Vec<_> = (0..clients)
        .map(|c| {
            let (client, bases, shoppers, payloads) = (
                client.clone(),
                bases.clone(),
                shoppers.clone(),
                payloads.clone(),
            );
            tokio::spawn(async move {
                let mut rng = rand::rngs::StdRng::seed_from_u64(c as u64);
                let mut m = Measured::default();
                let mut at = c % 2;
                while Instant::now() < deadline {
                    let token = &shoppers[rng.random_range(0..shoppers.len())];
                    let payload = &payloads[rng.random_range(0..payloads.len())];
                    let yen = rng.random_range(1..=PAYMENT_MAX_YEN);
                    let body = json!({"payload": payload, "amount": yen});
                    let key = uuid::Uuid::now_v7().to_string();
                    let begun = started.elapsed();
                    let t = Instant::now();
                    let mut attempts = 0;
                    loop {
                        attempts += 1;
                        let base = bases.read().map(|b| b[at].clone()).unwrap_or_default();
                        let api = Api {
                            client: client.clone(),
                            base,
                        };
                        let r = api
                            .call(
                                reqwest::Method::POST,
                                "/api/v1/qr/payments",
                                token,
                                Some(&key),
                                Some(&body),
                            )
                            .await;
                        let again = match r {
                            Ok((StatusCode::CREATED, _)) => {
                                let us = t.elapsed().as_micros().min(u32::MAX as u128) as u32;
                                m.payments.push(Paid {
                                    begun,
                                    us,
                                    yen,
                                    attempts,
                                });
                                false
                            }
                            Ok((StatusCode::UNPROCESSABLE_ENTITY, v))
                                if v["error"]["code"] == "insufficient_funds" =>
                            {
                                m.refused += 1;
                                false
                            }
                            Ok((StatusCode::SERVICE_UNAVAILABLE, v)) => {
                                *m.errors
                                    .entry(format!(
                                        "503 {}{}",
                                        v["error"]["code"],
                                        again_note(retry)
                                    ))
                                    .or_default() += 1;
                                retry
                            }
                            Ok((s, v)) => {
                                *m.errors
                                    .entry(format!("{s} {}", v["error"]["code"]))
                                    .or_default() += 1;
                                m.failed += 1;
                                false
                            }
                            Err(e) => {
                                let kind = if e.contains("connect") {
                                    "connection refused or reset"
                                } else {
                                    "connection error"
                                };
                                *m.errors
                                    .entry(format!("{kind}{}", again_note(retry)))
                                    .or_default() += 1;
                                retry
                            }
                        };
                        if !again {
                            break;
                        }
                        if attempts >= ATTEMPTS_MAX {
                            m.failed += 1;
                            break;
                        }
                        // The other instance; a little later each time.
                        at = 1 - at;
                        let pause =
                            (RETRY_PAUSE_STEP_MS * u64::from(attempts)).min(RETRY_PAUSE_MAX_MS);
                        tokio::time::sleep(Duration::from_millis(pause)).await;
                    }
                }
                m
            })
        })
        .collect();
    let mut all = Measured::default();
    for t in tasks {
        match t.await {
            Ok(m) => {
                all.payments.extend(m.payments);
                all.refused += m.refused;
                all.failed += m.failed;
                for (k, v) in m.errors {
                    *all.errors.entry(k).or_default() += v;
                }
            }
            Err(e) => *all.errors.entry(format!("client task: {e}")).or_default() += 1,
        }
    }
    all.elapsed_secs = started.elapsed().as_secs_f64();
    all
}

/// The ledger against what the clients were told: ledger-check ok, the program's
/// transactions = one charge per wallet + the payments answered 201 (more would be a doubled
/// payment), the stores' balances = the yen of those payments. With restarts, the failed
/// and doubled counts and the p99 of the payments begun during a restart.
async fn verify(
    api: &Api,
    admin: &str,
    setup: &Setup,
    m: &Measured,
    restarts: &[Restart],
) -> Result<String, String> {
    let check = api
        .get(
            &format!("/api/v1/programs/{}/ledger-check", setup.program),
            admin,
        )
        .await?;
    let store_yen = super::stores_hold(api, admin, setup).await?;
    let paid_yen: i64 = m.payments.iter().map(|p| p.yen).sum();
    let transactions = check["transactions"].as_i64().unwrap_or(-1);
    let expected = (setup.shoppers.len() + m.payments.len()) as i64;
    let doubled = transactions - expected;
    let retried = m.payments.iter().filter(|p| p.attempts > 1).count();
    let mut during: Vec<u32> = m
        .payments
        .iter()
        .filter(|p| {
            restarts
                .iter()
                .any(|r| p.begun >= r.begun && p.begun <= r.ended + Duration::from_secs(1))
        })
        .map(|p| p.us)
        .collect();
    during.sort_unstable();
    let summary = format!(
        "ledger-check ok ({transactions} transactions = {} charges + {} payments), store balances \
         ¥{store_yen} = ¥{paid_yen} paid; failed {}, doubled {doubled}; {retried} payments \
         answered on a retry{}",
        setup.shoppers.len(),
        m.payments.len(),
        m.failed,
        if restarts.is_empty() {
            String::new()
        } else {
            format!(
                "; {} payments begun during a restart (SIGTERM to ready + 1 s): p99 {:.1} ms, max {:.1} ms",
                during.len(),
                percentile(&during, 0.99),
                percentile(&during, 1.0),
            )
        }
    );
    if check["ok"] != true {
        Err(format!("ledger-check not ok: {check}"))
    } else if doubled != 0 || store_yen != paid_yen {
        Err(format!("DOUBLED OR LOST: {summary}"))
    } else if m.failed > 0 && !restarts.is_empty() {
        Err(format!("FAILED PAYMENTS: {summary}"))
    } else {
        Ok(summary)
    }
}
