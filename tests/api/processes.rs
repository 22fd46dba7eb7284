//! Two `machipay serve` processes on one PostgreSQL database (issue 16): the built binary,
//! twice, as a city runs it behind a load balancer. The in-process two-instance tests
//! (instances.rs) and the overload tests (ops.rs) are run again against the processes, and
//! what only processes show is tested here: SIGTERM to one with store screens open and
//! payments going on (clients retrying on the other with the same key), a money request
//! that timed out on one replayed on the other, and a crowd of silent connections.
//! PostgreSQL only (SQLite stays one process); skipped without a server unless CI=true.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::TestApp;

/// The processes' request limit (their `--request-timeout-ms`).
const REQUEST_TIMEOUT_MS: u64 = 1_000;
/// The processes' header-read timeout (`--header-read-timeout-ms`), as ops.rs's `short()`.
const HEADER_READ_TIMEOUT_MS: u64 = 500;

/// One two-process test at a time: each pair holds up to ~36 PostgreSQL connections, and
/// the one-second assertions want the processes' CPU.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// A `machipay serve` child process; killed if dropped while running.
struct Serve {
    child: tokio::process::Child,
    base: String,
    log: PathBuf,
}

impl Serve {
    /// Starts `machipay serve` on `url` and waits until it is ready (`/readyz`).
    async fn start(url: &str, log: PathBuf) -> Serve {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .expect("a free port")
            .local_addr()
            .expect("addr")
            .port();
        let out = std::fs::File::create(&log).expect("log file");
        let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_machipay"))
            .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
            .args(["--database-url", url])
            .args(["--request-timeout-ms", &REQUEST_TIMEOUT_MS.to_string()])
            .args([
                "--header-read-timeout-ms",
                &HEADER_READ_TIMEOUT_MS.to_string(),
            ])
            .stdout(out.try_clone().expect("log file"))
            .stderr(out)
            .stdin(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("machipay serve starts");
        let serve = Serve {
            child,
            base: format!("http://127.0.0.1:{port}"),
            log,
        };
        let client = reqwest::Client::new();
        let started = Instant::now();
        loop {
            let ready = client.get(format!("{}/readyz", serve.base)).send().await;
            if ready.is_ok_and(|r| r.status().is_success()) {
                return serve;
            }
            assert!(
                started.elapsed() < Duration::from_secs(60),
                "machipay serve not ready after 60 s:\n{}",
                serve.log_text()
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    fn sigterm(&self) {
        let pid = self.child.id().expect("running").to_string();
        let sent = std::process::Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .expect("kill runs");
        assert!(sent.success());
    }

    /// SIGTERM, and the exit within `within` (panics otherwise); how long it took.
    async fn stop_within(&mut self, within: Duration) -> Duration {
        let signalled = Instant::now();
        self.sigterm();
        let status = tokio::time::timeout(within, self.child.wait())
            .await
            .unwrap_or_else(|_| panic!("not exited {within:?} after SIGTERM"))
            .expect("waited");
        assert!(status.success(), "{status:?}\n{}", self.log_text());
        signalled.elapsed()
    }
}

/// Two processes on one fresh PostgreSQL database, and a view of each (`a`, `b`: the test
/// harness's role helpers, sending their requests to that process). `home` made the
/// database and the city's admin; it holds the database URL and is what cleans up.
struct Processes {
    home: TestApp,
    a: TestApp,
    b: TestApp,
    serve_a: Serve,
    serve_b: Serve,
    _dir: tempfile::TempDir,
}

impl Processes {
    async fn start() -> Option<Processes> {
        let home = TestApp::postgres().await?;
        let dir = tempfile::tempdir().expect("temp dir");
        let serve_a = Serve::start(&home.url, dir.path().join("a.log")).await;
        let serve_b = Serve::start(&home.url, dir.path().join("b.log")).await;
        Some(Processes {
            a: home.through(serve_a.base.clone()),
            b: home.through(serve_b.base.clone()),
            home,
            serve_a,
            serve_b,
            _dir: dir,
        })
    }

    async fn finish(self) {
        let Processes {
            home,
            mut serve_a,
            mut serve_b,
            ..
        } = self;
        for serve in [&mut serve_a, &mut serve_b] {
            if let Ok(None) = serve.child.try_wait() {
                serve.stop_within(Duration::from_secs(25)).await;
            }
        }
        home.cleanup().await;
    }
}

/// Runs an in-process test of another module against two processes.
macro_rules! two_processes {
    ($($module:ident :: $name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $name() {
            let _turn = ONE_AT_A_TIME.lock().await;
            let Some(p) = Processes::start().await else { return };
            crate::$module::$name(&p.a, &p.b).await;
            p.finish().await;
        }
    )*};
}

/// Runs a test of this module against two processes.
macro_rules! processes {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let _turn = super::ONE_AT_A_TIME.lock().await;
                let Some(mut p) = super::Processes::start().await else { return };
                super::$name(&mut p).await;
                p.finish().await;
            }
        }
    )*};
}

two_processes!(
    instances::the_overdraft_race_holds_across_instances,
    instances::one_key_raced_across_instances_moves_money_once,
    instances::a_revoked_token_is_refused_by_the_other_instance_within_a_second,
    instances::a_suspended_store_and_a_revoked_code_are_refused_by_the_other_instance,
    instances::a_store_screen_on_one_instance_hears_payments_on_the_other,
);

processes!(
    sigterm_with_open_streams_and_payments_going_on_fails_no_payment,
    a_timed_out_money_request_replayed_on_the_other_process_moves_money_once,
    slow_headers_are_closed_and_lock_no_till_out,
    large_bodies_are_refused_before_they_are_read,
);

/// Reads an event stream until it ends (or `within` passes); its text.
async fn read_to_end(mut stream: reqwest::Response, within: Duration) -> String {
    let mut seen = String::new();
    let _ = tokio::time::timeout(within, async {
        while let Ok(Some(chunk)) = stream.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    seen
}

/// A payment as a till pays: on `first`, and on a connection error or a 503 again on the
/// other instance with the same Idempotency-Key, until it is answered otherwise. The answer
/// and the attempts it took.
async fn pay_retrying(
    on: [&TestApp; 2],
    first: usize,
    path: &str,
    token: &str,
    body: &Value,
) -> ((StatusCode, Value), u32) {
    let key = uuid::Uuid::now_v7().to_string();
    for (attempt, at) in (1..=40).zip(first..) {
        let app = on[at % 2];
        let sent = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(token)
            .header("Idempotency-Key", &key)
            .json(body)
            .timeout(Duration::from_secs(10))
            .send()
            .await;
        if let Ok(resp) = sent {
            let status = resp.status();
            let v: Value = resp.json().await.unwrap_or(Value::Null);
            if status != StatusCode::SERVICE_UNAVAILABLE {
                return ((status, v), attempt);
            }
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("a payment never answered in 40 attempts");
}

/// A deploy of one instance: B gets SIGTERM while three store screens listen on it and
/// shoppers keep paying through both instances, retrying on the other with the same key
/// when one refuses them or is gone. Every screen is told to reconnect and its stream ends,
/// B exits 0 within its bound (grace 10 s + writer drain 10 s), no payment fails and none
/// is applied twice, and a screen reconnected to A hears the payments after.
async fn sigterm_with_open_streams_and_payments_going_on_fails_no_payment(p: &mut Processes) {
    let (a, b) = (&p.a, &p.b);
    let op = a.operator().await;
    let program = a.currency().await;
    let (store, owner) = a.merchant(&op).await;
    let mut shoppers = Vec::new();
    for _ in 0..4 {
        let (id, token) = a.shopper(&op).await;
        a.charge(&op, &program, &id, 100_000).await;
        shoppers.push((id, token));
    }
    let events = format!("/api/v1/merchants/{store}/events");
    let mut screens = Vec::new();
    for _ in 0..3 {
        let screen = b
            .client
            .get(format!("{}{events}", b.base))
            .bearer_auth(&owner)
            .send()
            .await
            .expect("the stream opens");
        assert_eq!(screen.status(), StatusCode::OK);
        screens.push(screen);
    }
    // Four tills paying ¥1 each, alternating instances, until told to stop.
    let stop = Arc::new(AtomicBool::new(false));
    let path = format!("/api/v1/programs/{program}/payments");
    let tills: Vec<_> = shoppers
        .iter()
        .enumerate()
        .map(|(i, (_, token))| {
            let (a, b) = (a.through(a.base.clone()), b.through(b.base.clone()));
            let (stop, path, token, store) =
                (stop.clone(), path.clone(), token.clone(), store.clone());
            tokio::spawn(async move {
                let body = json!({"merchant_id": store, "amount": 1});
                let (mut paid, mut retried, mut failed) = (0i64, 0u32, Vec::new());
                let mut n = i;
                while !stop.load(Ordering::Relaxed) {
                    let ((status, v), attempts) =
                        pay_retrying([&a, &b], n, &path, &token, &body).await;
                    n += 1;
                    retried += attempts - 1;
                    if status == StatusCode::CREATED {
                        paid += 1;
                    } else {
                        failed.push(format!("{status} {v}"));
                    }
                }
                (paid, retried, failed)
            })
        })
        .collect();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let readers: Vec<_> = screens
        .into_iter()
        .map(|s| tokio::spawn(read_to_end(s, Duration::from_secs(25))))
        .collect();
    let took = p.serve_b.stop_within(Duration::from_secs(25)).await;
    for reader in readers {
        let seen = reader.await.expect("read");
        assert!(seen.contains("event: reconnect"), "{seen}");
    }
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("SIGTERM with 3 open streams and payments going on: exited in {took:?}");
    // The screen reconnects to A and hears what is paid there from now on.
    let mut screen = a
        .client
        .get(format!("{}{events}", a.base))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("the stream opens on A");
    assert_eq!(screen.status(), StatusCode::OK);
    tokio::time::sleep(Duration::from_millis(300)).await;
    stop.store(true, Ordering::Relaxed);
    let (mut paid, mut retried) = (0i64, 0u32);
    for till in tills {
        let (n, r, failed) = till.await.expect("till");
        assert!(failed.is_empty(), "failed payments: {failed:?}");
        paid += n;
        retried += r;
    }
    eprintln!("{paid} payments, {retried} retried on the other instance");
    assert!(paid > 0);
    let mut heard = String::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), async {
        while !heard.contains("transaction_id") {
            match screen.chunk().await {
                Ok(Some(chunk)) => heard.push_str(&String::from_utf8_lossy(&chunk)),
                _ => return,
            }
        }
    })
    .await;
    assert!(
        heard.contains("transaction_id"),
        "the reconnected screen heard: {heard}"
    );
    // Not one payment doubled: the store holds what the tills were told was paid, and the
    // ledger holds exactly the charges and those payments.
    assert_eq!(a.merchant_balance(&program, &store, "coin").await, paid);
    let mut left = 0;
    for (id, _) in &shoppers {
        left += a.wallet(&program, id, "coin").await;
    }
    assert_eq!(left, 4 * 100_000 - paid);
    let check = a.assert_ledger_ok(&program).await;
    assert_eq!(check["transactions"], 4 + paid, "{check}");
}

/// A payment whose batch is held behind a lock past A's request limit answers 503
/// `outcome_unknown` and is applied once the lock goes; a till that gave up waiting on its
/// own (a client timeout) likewise. Each retried on B with its key moves money once.
async fn a_timed_out_money_request_replayed_on_the_other_process_moves_money_once(
    p: &mut Processes,
) {
    let (a, b) = (&p.a, &p.b);
    let op = a.operator().await;
    let program = a.currency().await;
    let (store, _) = a.merchant(&op).await;
    let (shopper, token) = a.shopper(&op).await;
    a.charge(&op, &program, &shopper, 1_000).await;
    let path = format!("/api/v1/programs/{program}/payments");
    let body = json!({"merchant_id": store, "amount": 300});
    let db = sqlx::PgPool::connect(&p.home.url).await.expect("connects");
    for (key, client_gives_up) in [("slow-1", false), ("slow-2", true)] {
        // The shopper's wallet locked, as a slow statement of another instance would hold it.
        let mut lock = db.begin().await.expect("begin");
        sqlx::query(
            "SELECT id FROM accounts WHERE owner_id = $1::uuid AND kind = 'shopper_wallet' \
             FOR UPDATE",
        )
        .bind(&shopper)
        .fetch_all(&mut *lock)
        .await
        .expect("locked");
        let started = Instant::now();
        let mut req = a
            .client
            .post(format!("{}{path}", a.base))
            .bearer_auth(&token)
            .header("Idempotency-Key", key)
            .json(&body);
        if client_gives_up {
            req = req.timeout(Duration::from_millis(300));
        }
        match req.send().await {
            Err(e) => assert!(client_gives_up && e.is_timeout(), "{e}"),
            Ok(resp) => {
                assert!(!client_gives_up);
                assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
                assert!(resp.headers().contains_key("retry-after"), "{resp:?}");
                let v: Value = resp.json().await.expect("the envelope");
                assert_eq!(v["error"]["code"], "outcome_unknown", "{v}");
                assert!(started.elapsed() >= Duration::from_millis(REQUEST_TIMEOUT_MS));
            }
        }
        lock.rollback().await.expect("unlocked");
        // The press again, on the other instance, with the same key: the one payment.
        let (s, first) = b
            .request("POST", &path, Some(&token), Some(key), Some(&body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{first}");
        let (s, again) = a
            .request("POST", &path, Some(&token), Some(key), Some(&body))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{again}");
        assert_eq!(first["transaction_id"], again["transaction_id"]);
    }
    db.close().await;
    assert_eq!(a.wallet(&program, &shopper, "coin").await, 400);
    assert_eq!(b.merchant_balance(&program, &store, "coin").await, 600);
    let check = a.assert_ledger_ok(&program).await;
    assert_eq!(
        check["transactions"], 3,
        "one charge, two payments: {check}"
    );
}

/// What the built binary does with connections that send nothing (ops.rs's test, against
/// process A), and with a crowd of them: 300 silent connections do not keep a till from
/// paying, and each is closed after the header-read timeout.
async fn slow_headers_are_closed_and_lock_no_till_out(p: &mut Processes) {
    crate::ops::a_silent_or_idle_connection_is_closed(&p.a).await;
    let (a, b) = (&p.a, &p.b);
    let op = b.operator().await;
    let program = b.currency().await;
    let (store, _) = b.merchant(&op).await;
    let (shopper, token) = b.shopper(&op).await;
    b.charge(&op, &program, &shopper, 1_000).await;
    let addr = a.base.trim_start_matches("http://").to_owned();
    let mut silent = Vec::new();
    for _ in 0..300 {
        silent.push(
            tokio::net::TcpStream::connect(&addr)
                .await
                .expect("connects"),
        );
    }
    let (s, v) = a
        .post_money(
            &format!("/api/v1/programs/{program}/payments"),
            &token,
            json!({"merchant_id": store, "amount": 100}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let closed = futures::future::join_all(silent.iter_mut().map(|c| async move {
        use tokio::io::AsyncReadExt;
        let mut buf = [0u8; 256];
        tokio::time::timeout(Duration::from_secs(5), async {
            loop {
                match c.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => {}
                }
            }
        })
        .await
        .is_ok()
    }))
    .await;
    assert!(closed.iter().all(|&c| c), "every silent connection closed");
    assert_eq!(a.wallet(&program, &shopper, "coin").await, 900);
}

/// A shopper (or no one) announcing an 8 MiB import to process A is refused from the
/// headers (ops.rs's test), and 48 of them at once leave the process's memory where it was.
async fn large_bodies_are_refused_before_they_are_read(p: &mut Processes) {
    crate::ops::a_caller_who_may_not_import_is_refused_before_the_body_is_read(&p.a).await;
    let a = &p.a;
    let op = a.operator().await;
    let points = a.program("points", json!({})).await;
    let (_, shopper) = a.shopper(&op).await;
    let pid = p.serve_a.child.id().expect("running");
    let before = rss_kb(pid);
    let chunk = vec![b'x'; 1024 * 1024];
    let sends = (0..48).map(|_| {
        let (client, url, shopper, chunk) = (
            a.client.clone(),
            format!("{}/api/v1/programs/{points}/card-imports", a.base),
            shopper.clone(),
            chunk.clone(),
        );
        async move {
            // 8 MiB offered in 1 MiB pieces; the server answers without taking them.
            let body =
                futures::stream::iter((0..8).map(move |_| Ok::<_, std::io::Error>(chunk.clone())));
            client
                .post(url)
                .bearer_auth(shopper)
                .header("content-type", "text/csv")
                .body(reqwest::Body::wrap_stream(body))
                .timeout(Duration::from_secs(10))
                .send()
                .await
                .map(|r| r.status())
        }
    });
    let answers = futures::future::join_all(sends).await;
    // Refused 403, or the connection closed under the unread body: never accepted.
    for status in answers.iter().flatten() {
        assert_eq!(*status, StatusCode::FORBIDDEN);
    }
    let after = rss_kb(pid);
    eprintln!(
        "resident memory of A: {before} kB before 48 refused 8 MiB imports, {after} kB after"
    );
    assert!(
        after < before + 64 * 1024,
        "the refused bodies were buffered: {before} kB -> {after} kB"
    );
}

/// The resident memory of process `pid` now, in kB.
fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("proc status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}
