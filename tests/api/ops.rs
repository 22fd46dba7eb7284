//! Running it as operators do (issue 16): a money request past the time limit answers 503
//! `outcome_unknown` and its replay moves money once; a full writer queue answers 503
//! `overloaded` at once; silent and idle connections are closed; a caller who may not import
//! is refused before the body is read, and uploads are capped; enrollment codes are rate
//! limited; request ids, `/metrics`, `/healthz` and `/readyz`; bulk work and a sale day's
//! crowd queued ahead of a payment do not hold it back, and a full sale lane is refused like
//! a full queue; and the binary under SIGTERM with an event stream open exits within its
//! bound.

use std::sync::Arc;
use std::time::{Duration, Instant};

use machipay::server::Limits;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::both_backends;
use crate::helpers::TestApp;

/// Like `both_backends!`, with the server's limits set by `$limits`.
macro_rules! both_backends_with {
    ($limits:expr; $($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::sqlite_with($limits).await;
                super::$name(&app).await;
                app.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(app) = $crate::helpers::TestApp::postgres_with($limits).await else { return };
                super::$name(&app).await;
                app.cleanup().await;
            }
        }
    )*};
}

/// The limits of these tests: a 1 s request limit, a 500 ms header-read timeout.
fn short() -> Limits {
    Limits {
        request_timeout_ms: 1_000,
        header_read_timeout_ms: 500,
        ..Limits::default()
    }
}

both_backends_with!(super::short();
    a_money_request_past_the_limit_answers_outcome_unknown_and_its_replay_pays_once,
    a_silent_or_idle_connection_is_closed,
    a_caller_who_may_not_import_is_refused_before_the_body_is_read,
);

both_backends!(
    uploads_at_once_are_capped,
    a_full_writer_queue_answers_overloaded_at_once,
    enrollment_codes_are_rate_limited,
    every_answer_carries_a_request_id_and_metrics_count_it,
    health_and_readiness_are_separate,
    a_payment_is_answered_before_the_bulk_work_queued_ahead_of_it,
    a_payment_is_committed_beside_one_share_of_the_sale_jobs_queued_ahead_of_it,
    a_full_sale_lane_answers_overloaded_at_once_and_payments_still_pass,
);

/// A store and a shopper holding ¥1,000 in a currency program: (program, store, shopper id,
/// shopper token).
async fn town(app: &TestApp) -> (String, String, String, String) {
    let op = app.operator().await;
    let program = app.currency().await;
    let (store, _owner) = app.merchant(&op).await;
    let (shopper, token) = app.shopper(&op).await;
    app.charge(&op, &program, &shopper, 1_000).await;
    (program, store, shopper, token)
}

async fn a_money_request_past_the_limit_answers_outcome_unknown_and_its_replay_pays_once(
    app: &TestApp,
) {
    let (program, store, shopper, token) = town(app).await;
    let path = format!("/api/v1/programs/{program}/payments");
    let body = json!({"merchant_id": store, "amount": 300});
    // The writer's next batch waits for two jobs: the first payment is queued and held past
    // the 1 s limit, as a batch stuck behind a slow database would hold it.
    app.app.writer.faults().arm(2, None);
    let resp = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&token)
        .header("Idempotency-Key", "slow-1")
        .json(&body)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(resp.headers().contains_key("retry-after"), "{resp:?}");
    let v: Value = resp.json().await.expect("the envelope");
    assert_eq!(v["error"]["code"], "outcome_unknown", "{v}");
    // The press again with the same key: it joins the held payment's batch, and both commit
    // as one payment.
    let (s, first) = app
        .request("POST", &path, Some(&token), Some("slow-1"), Some(&body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{first}");
    let (s, again) = app
        .request("POST", &path, Some(&token), Some("slow-1"), Some(&body))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{again}");
    assert_eq!(first["transaction_id"], again["transaction_id"]);
    assert_eq!(app.wallet(&program, &shopper, "coin").await, 700);
    assert_eq!(app.merchant_balance(&program, &store, "coin").await, 300);
    app.assert_ledger_ok(&program).await;
}

async fn a_full_writer_queue_answers_overloaded_at_once(app: &TestApp) {
    let (program, store, _, token) = town(app).await;
    let writer = app.app.writer.clone();
    // A job that holds the writer until released: everything after it queues.
    let gate = Arc::new(tokio::sync::Notify::new());
    let (held, holding) = tokio::sync::oneshot::channel::<()>();
    let release = gate.clone();
    // Jobs are remade when a batch is retried, so they are Clone: the sender goes in a slot.
    let held = Arc::new(std::sync::Mutex::new(Some(held)));
    let blocker = tokio::spawn({
        let writer = writer.clone();
        async move {
            writer
                .answer(None, move |_w| {
                    Box::pin(async move {
                        let sender = held.lock().expect("the slot").take();
                        if let Some(sender) = sender {
                            let _ = sender.send(());
                        }
                        release.notified().await;
                        Ok(machipay::writer::Done::ok(()))
                    })
                })
                .await
        }
    });
    holding.await.expect("the writer runs the holding job");
    let queued: Vec<_> = (0..machipay::writer::QUEUE_SIZE_MAX)
        .map(|_| {
            let writer = writer.clone();
            tokio::spawn(async move {
                writer
                    .answer(None, |_w| {
                        Box::pin(async { Ok(machipay::writer::Done::ok(())) })
                    })
                    .await
            })
        })
        .collect();
    while writer.queue_depth() < machipay::writer::QUEUE_SIZE_MAX {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // The queue is full: a payment is refused at once, with nothing done.
    let started = Instant::now();
    let resp = app
        .client
        .post(format!("{}/api/v1/programs/{program}/payments", app.base))
        .bearer_auth(&token)
        .header("Idempotency-Key", "overloaded-1")
        .json(&json!({"merchant_id": store, "amount": 100}))
        .send()
        .await
        .expect("sent");
    let took = started.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let v: Value = resp.json().await.expect("the envelope");
    assert_eq!(v["error"]["code"], "overloaded", "{v}");
    assert!(took < Duration::from_secs(2), "answered in {took:?}");
    gate.notify_one();
    blocker
        .await
        .expect("joined")
        .expect("the holding job commits");
    for q in queued {
        q.await.expect("joined").expect("each queued job commits");
    }
    // The refused payment did nothing; the same key now pays.
    assert_eq!(app.merchant_balance(&program, &store, "coin").await, 0);
    let (s, v) = app
        .request(
            "POST",
            &format!("/api/v1/programs/{program}/payments"),
            Some(&token),
            Some("overloaded-1"),
            Some(&json!({"merchant_id": store, "amount": 100})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(app.merchant_balance(&program, &store, "coin").await, 100);
}

/// Reads until the server closes the connection; panics if it has not within `within`.
async fn closed_within(stream: &mut tokio::net::TcpStream, within: Duration) -> Vec<u8> {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let read_all = async {
        loop {
            match stream.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => got.extend_from_slice(&buf[..n]),
            }
        }
    };
    tokio::time::timeout(within, read_all)
        .await
        .expect("the server closed the connection");
    got
}

pub(crate) async fn a_silent_or_idle_connection_is_closed(app: &TestApp) {
    let addr = app.base.trim_start_matches("http://").to_owned();
    // Connects and never sends a byte: closed after the 500 ms header-read timeout.
    let started = Instant::now();
    let mut silent = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    let got = closed_within(&mut silent, Duration::from_secs(5)).await;
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );
    assert!(
        got.is_empty() || String::from_utf8_lossy(&got).starts_with("HTTP/1.1 408"),
        "{}",
        String::from_utf8_lossy(&got)
    );
    // Half a request head, then nothing: closed too.
    let mut half = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    half.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .expect("writes");
    closed_within(&mut half, Duration::from_secs(5)).await;
    // One request on a keep-alive connection, then idle: answered, then closed.
    let mut idle = tokio::net::TcpStream::connect(&addr)
        .await
        .expect("connects");
    idle.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .expect("writes");
    let got = closed_within(&mut idle, Duration::from_secs(5)).await;
    assert!(
        String::from_utf8_lossy(&got).starts_with("HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&got)
    );
}

/// Sends a request head announcing `length` bytes of body and only `sent` of them, then reads
/// the answer's status line (the server answers without waiting for the rest).
async fn partial_upload(
    app: &TestApp,
    path: &str,
    token: &str,
    length: usize,
    sent: &[u8],
) -> tokio::net::TcpStream {
    let addr = app.base.trim_start_matches("http://");
    let mut stream = tokio::net::TcpStream::connect(addr)
        .await
        .expect("connects");
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\
         Content-Type: text/csv\r\nContent-Length: {length}\r\n\r\n"
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(sent).await.expect("writes");
    stream
}

async fn status_line(stream: &mut tokio::net::TcpStream, within: Duration) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(within, async {
        while !got.windows(2).any(|w| w == b"\r\n") {
            let n = stream.read(&mut buf).await.expect("reads");
            assert!(n > 0, "closed before answering");
            got.extend_from_slice(&buf[..n]);
        }
    })
    .await
    .expect("answered in time");
    let text = String::from_utf8_lossy(&got).into_owned();
    text.lines().next().unwrap_or_default().to_owned()
}

pub(crate) async fn a_caller_who_may_not_import_is_refused_before_the_body_is_read(app: &TestApp) {
    let op = app.operator().await;
    let points = app.program("points", json!({})).await;
    let (_, shopper) = app.shopper(&op).await;
    const EIGHT_MIB: usize = 8 * 1024 * 1024;
    for path in [
        format!("/api/v1/programs/{points}/card-imports"),
        "/api/v1/merchants/imports".to_owned(),
    ] {
        // A shopper announces 8 MiB and sends 10 bytes: refused 403 at once, the rest never
        // awaited (nor buffered).
        let mut stream = partial_upload(app, &path, &shopper, EIGHT_MIB, b"card_numbe").await;
        let line = status_line(&mut stream, Duration::from_secs(5)).await;
        assert!(line.starts_with("HTTP/1.1 403"), "{path}: {line}");
        // No token at all: 401, the same way.
        let mut stream = partial_upload(app, &path, "", EIGHT_MIB, b"card_numbe").await;
        let line = status_line(&mut stream, Duration::from_secs(5)).await;
        assert!(line.starts_with("HTTP/1.1 401"), "{path}: {line}");
    }
}

async fn uploads_at_once_are_capped(app: &TestApp) {
    let op = app.operator().await;
    // Operators who may import, sending their files slowly: each holds one of the turns.
    let path = "/api/v1/merchants/imports";
    let mut slow = Vec::new();
    for _ in 0..machipay::app::UPLOADS_MAX {
        slow.push(partial_upload(app, path, &op, 1_000_000, b"store_number,").await);
    }
    while app.app.uploads.available_permits() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // One more: refused 503 `overloaded` after its wait, nothing read.
    let (s, v) = {
        let resp = app
            .client
            .post(format!("{}{path}", app.base))
            .bearer_auth(&op)
            .header("Content-Type", "text/csv")
            .body("店舗番号,店舗名\n")
            .send()
            .await
            .expect("sent");
        let s = resp.status();
        (s, resp.json::<Value>().await.expect("the envelope"))
    };
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "overloaded", "{v}");
    // A turn frees when a slow upload goes away.
    drop(slow);
    while app.app.uploads.available_permits() < machipay::app::UPLOADS_MAX {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn enrollment_codes_are_rate_limited(app: &TestApp) {
    let op = app.operator().await;
    let (store, owner) = app.merchant(&op).await;
    let path = format!("/api/v1/merchants/{store}/enrollment-codes");
    for i in 0..machipay::rate_limit::ENROLLMENT_CODES_BURST {
        let (s, v) = app
            .post(&path, &owner, json!({"device_name": format!("レジ{i}")}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}: {v}");
    }
    let resp = app
        .client
        .post(format!("{}{path}", app.base))
        .bearer_auth(&owner)
        .json(&json!({"device_name": "もう一台"}))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = resp
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!((1..=61).contains(&wait), "{wait}");
    let v: Value = resp.json().await.expect("the envelope");
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
    // Another store's owner has a budget of their own.
    let (other, other_owner) = app.merchant(&op).await;
    let (s, v) = app
        .post(
            &format!("/api/v1/merchants/{other}/enrollment-codes"),
            &other_owner,
            json!({"device_name": "レジ1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Redeeming codes (no token yet) is limited per peer address: wrong guesses are refused
    // 401 until the budget is spent, then 429 without a look at the code.
    for i in 0..machipay::rate_limit::ENROLLMENTS_BURST {
        let body = json!({"code": format!("enr_{i:024}")});
        let (s, v) = app
            .request("POST", "/api/v1/devices/enroll", None, None, Some(&body))
            .await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{i}: {v}");
    }
    let body = json!({"code": "enr_000000000000000000000000"});
    let (s, v) = app
        .request("POST", "/api/v1/devices/enroll", None, None, Some(&body))
        .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "rate_limited", "{v}");
}

async fn every_answer_carries_a_request_id_and_metrics_count_it(app: &TestApp) {
    // Given by the client (a balancer): returned as is.
    let resp = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .bearer_auth(&app.admin)
        .header("x-request-id", "lb-1234.abc")
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["x-request-id"], "lb-1234.abc");
    // Not given, or unfit for a log line: a fresh one, errors included.
    for given in [None, Some("has space")] {
        let mut req = app.client.get(format!("{}/api/v1/nowhere", app.base));
        if let Some(g) = given {
            req = req.header("x-request-id", g);
        }
        let resp = req.send().await.expect("sent");
        assert_eq!(resp.status(), StatusCode::NOT_FOUND);
        let id = resp.headers()["x-request-id"].to_str().expect("ASCII");
        assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");
    }
    let resp = app
        .client
        .get(format!("{}/metrics", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .expect("ASCII")
            .starts_with("text/plain; version=0.0.4")
    );
    let text = resp.text().await.expect("text");
    for wanted in [
        r#"machipay_http_requests_total{method="GET",route="/api/v1/me",status="200"}"#,
        r#"route="unmatched",status="404""#,
        "machipay_http_request_duration_seconds_bucket",
        "machipay_writer_queue_depth",
        "machipay_writer_batch_jobs_bucket",
        "machipay_writer_commit_duration_seconds_bucket",
        r#"machipay_writer_batches_total{outcome="committed"}"#,
        "machipay_writer_batch_retries_total",
        r#"machipay_db_pool_connections{pool="read",state="idle"}"#,
        "machipay_sse_subscribers",
        "machipay_expiry_jobs_total",
        "machipay_settlement_runs_total",
    ] {
        assert!(text.contains(wanted), "no {wanted} in:\n{text}");
    }
}

async fn health_and_readiness_are_separate(app: &TestApp) {
    let (s, v) = app.request("GET", "/healthz", None, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ok");
    let (s, v) = app.request("GET", "/readyz", None, None, None).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "ready");
    // Draining (shutdown has begun): still alive, no longer ready.
    app.app.draining.start();
    let (s, _) = app.request("GET", "/healthz", None, None, None).await;
    assert_eq!(s, StatusCode::OK);
    let (s, v) = app.request("GET", "/readyz", None, None, None).await;
    assert_eq!(s, StatusCode::SERVICE_UNAVAILABLE, "{v}");
    assert_eq!(v["error"]["code"], "unavailable", "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_open_event_stream_exits_in_bounded_time_sqlite() {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = format!("sqlite:{}", dir.path().join("server.db").display());
    sigterm_with_an_open_event_stream(&url, dir.path()).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_with_an_open_event_stream_exits_in_bounded_time_postgres() {
    let Ok((admin_url, name)) = crate::helpers::create_pg_database().await else {
        return;
    };
    let url = crate::helpers::with_database(&admin_url, &name);
    let dir = tempfile::tempdir().expect("temp dir");
    sigterm_with_an_open_event_stream(&url, dir.path()).await;
    if let Ok(pool) = sqlx::PgPool::connect(&admin_url).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
    }
}

/// What a deploy does to an instance: `machipay serve` (the binary, JSON logs) with a store
/// screen's event stream open gets SIGTERM. The stream is told to reconnect and ends, the
/// process exits 0 well within its bound (grace 10 s + writer drain 10 s), and its log lines
/// carry the request ids its answers returned.
async fn sigterm_with_an_open_event_stream(url: &str, dir: &std::path::Path) {
    let bin = env!("CARGO_BIN_EXE_machipay");
    let out = tokio::process::Command::new(bin)
        .args(["bootstrap-city", "--name", "終了市", "--database-url", url])
        .output()
        .await
        .expect("bootstrap-city runs");
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let admin = stdout
        .lines()
        .find_map(|l| l.strip_prefix("admin token: "))
        .expect("the admin token is printed")
        .trim()
        .to_owned();
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("a free port")
        .local_addr()
        .expect("addr")
        .port();
    let log_path = dir.join("server.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let mut server = tokio::process::Command::new(bin)
        .args(["serve", "--addr", &format!("127.0.0.1:{port}")])
        .args(["--database-url", url, "--log-format", "json"])
        .env("RUST_LOG", "info,tower_http=debug")
        .stdout(log)
        .stderr(std::process::Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("serve starts");
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let started = Instant::now();
    loop {
        let up = client.get(format!("{base}/readyz")).send().await;
        if up.is_ok_and(|r| r.status().is_success()) {
            break;
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "the server never got ready"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let post = |path: &str, token: &str, body: Value| {
        client
            .post(format!("{base}{path}"))
            .bearer_auth(token)
            .json(&body)
            .send()
    };
    let op: Value = post(
        "/api/v1/staff",
        &admin,
        json!({"name": "op", "kind": "operator", "role": "operator"}),
    )
    .await
    .expect("sent")
    .json()
    .await
    .expect("staff");
    let op = op["token"].as_str().expect("token").to_owned();
    let store: Value = post("/api/v1/merchants", &op, json!({"name": "八百屋"}))
        .await
        .expect("sent")
        .json()
        .await
        .expect("store");
    let me = client
        .get(format!("{base}/api/v1/me"))
        .bearer_auth(&admin)
        .header("x-request-id", "sigterm-test-1")
        .send()
        .await
        .expect("sent");
    assert_eq!(me.headers()["x-request-id"], "sigterm-test-1");
    let mut events = client
        .get(format!(
            "{base}/api/v1/merchants/{}/events",
            store["id"].as_str().expect("id")
        ))
        .bearer_auth(store["token"].as_str().expect("owner token"))
        .send()
        .await
        .expect("the stream opens");
    assert_eq!(events.status(), StatusCode::OK);

    let pid = server.id().expect("running").to_string();
    let signalled = Instant::now();
    let kill = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .expect("kill runs");
    assert!(kill.success());
    let mut seen = String::new();
    tokio::time::timeout(Duration::from_secs(25), async {
        while let Ok(Some(chunk)) = events.chunk().await {
            seen.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await
    .expect("the stream ends");
    assert!(seen.contains("event: reconnect"), "{seen}");
    let status = tokio::time::timeout(Duration::from_secs(25), server.wait())
        .await
        .expect("the server exits within its bound")
        .expect("waited");
    let took = signalled.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(took < Duration::from_secs(20), "took {took:?}");
    eprintln!("SIGTERM with an open event stream: exited in {took:?}");
    let logged = std::fs::read_to_string(&log_path).expect("the log");
    let line = logged
        .lines()
        .find(|l| l.contains("sigterm-test-1"))
        .unwrap_or_else(|| panic!("no log line carries the request id:\n{logged}"));
    let parsed: Value = serde_json::from_str(line).expect("a JSON log line");
    assert!(parsed["timestamp"].is_string(), "{parsed}");
}

/// Two seconds of bulk work (100 jobs of 20 ms, as imports, grants and expiry submit them
/// through `Writer::bulk`) queued before a payment: the payment is answered after at most
/// a couple of them, not after all (the writer takes interactive jobs first and one bulk
/// job a batch), and the bulk work still all gets done.
async fn a_payment_is_answered_before_the_bulk_work_queued_ahead_of_it(app: &TestApp) {
    use std::sync::atomic::{AtomicUsize, Ordering};
    let (program, store, shopper, token) = town(app).await;
    let bulk = app.app.writer.bulk();
    let done = Arc::new(AtomicUsize::new(0));
    let jobs: Vec<_> = (0..100)
        .map(|_| {
            let (bulk, done) = (bulk.clone(), done.clone());
            tokio::spawn(async move {
                bulk.answer(None, |_w| {
                    Box::pin(async {
                        tokio::time::sleep(Duration::from_millis(20)).await;
                        Ok(machipay::writer::Done::ok(()))
                    })
                })
                .await
                .expect("a bulk job");
                done.fetch_add(1, Ordering::SeqCst);
            })
        })
        .collect();
    let started = Instant::now();
    while app.app.writer.queue_depth() < 80 {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "bulk jobs never queued"
        );
        tokio::task::yield_now().await;
    }
    let (s, v) = app
        .post_money(
            &format!("/api/v1/programs/{program}/payments"),
            &token,
            json!({"merchant_id": store, "amount": 100}),
        )
        .await;
    let bulk_done = done.load(Ordering::SeqCst);
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert!(
        bulk_done < 10,
        "the payment waited for {bulk_done} of 100 queued bulk jobs"
    );
    for job in jobs {
        job.await.expect("bulk job task");
    }
    assert_eq!(done.load(Ordering::SeqCst), 100);
    assert_eq!(app.wallet(&program, &shopper, "coin").await, 900);
}

/// Holds the writer in a batch of its own until the returned `Notify` is notified: jobs
/// submitted meanwhile queue in their lanes. The handle answers the holding job.
async fn hold(
    writer: &machipay::writer::Writer,
) -> (
    Arc<tokio::sync::Notify>,
    tokio::task::JoinHandle<Result<machipay::writer::Answer<()>, machipay::error::AppError>>,
) {
    let gate = Arc::new(tokio::sync::Notify::new());
    let (held, holding) = tokio::sync::oneshot::channel::<()>();
    let release = gate.clone();
    // Jobs are remade when a batch is retried, so they are Clone: the sender goes in a slot.
    let held = Arc::new(std::sync::Mutex::new(Some(held)));
    let writer = writer.clone();
    let blocker = tokio::spawn(async move {
        writer
            .answer(None, move |_w| {
                Box::pin(async move {
                    let sender = held.lock().expect("the slot").take();
                    if let Some(sender) = sender {
                        let _ = sender.send(());
                    }
                    release.notified().await;
                    Ok(machipay::writer::Done::ok(()))
                })
            })
            .await
    });
    holding.await.expect("the writer runs the holding job");
    (gate, blocker)
}

/// Waits until `depth` jobs are queued in the writer's lanes.
async fn queued(writer: &machipay::writer::Writer, depth: usize) {
    let started = Instant::now();
    while writer.queue_depth() < depth {
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "{} of {depth} jobs queued",
            writer.queue_depth()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A payment POSTed now, answered in the background: (status, body).
fn pay_in_background(
    app: &TestApp,
    program: &str,
    store: &str,
    token: &str,
) -> tokio::task::JoinHandle<(StatusCode, Value)> {
    let request = app
        .client
        .post(format!("{}/api/v1/programs/{program}/payments", app.base))
        .bearer_auth(token)
        .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
        .json(&json!({"merchant_id": store, "amount": 100}));
    tokio::spawn(async move {
        let resp = request.send().await.expect("sent");
        let status = resp.status();
        (status, resp.json().await.expect("json"))
    })
}

/// A sale day's crowd queued ahead of a payment (issue 17): 200 sale jobs, each a real ¥1
/// payment as tickets and purchases are real writes, wait in the sale lane (`Writer::sale`)
/// when a payment arrives. The payment is committed in the very next batch, beside exactly
/// one share (`SALE_JOBS_PER_BATCH_MAX`) of them, and the sale still gets all its work done.
async fn a_payment_is_committed_beside_one_share_of_the_sale_jobs_queued_ahead_of_it(
    app: &TestApp,
) {
    use machipay::writer::SALE_JOBS_PER_BATCH_MAX;
    use std::sync::atomic::{AtomicUsize, Ordering};
    const SALE_JOBS: usize = 200;
    let (program, store, shopper, token) = town(app).await;
    let who = machipay::features::directory::store::principal_for_token(
        &app.app.db,
        &machipay_domain::auth::hash_secret(&token),
    )
    .await
    .expect("query")
    .expect("live token")
    .1;
    let program_id: machipay_domain::ids::ProgramId =
        uuid::Uuid::parse_str(&program).expect("program id").into();
    let req: machipay::features::payments::PaymentRequest =
        serde_json::from_value(json!({"merchant_id": store, "amount": 1})).expect("request");
    let writer = app.app.writer.clone();
    let (gate, blocker) = hold(&writer).await;
    // The sale jobs run after the first share wait until the lane is opened: were the
    // payment put behind them in their batch, it could not be answered while they wait.
    let (open, opened) = tokio::sync::watch::channel(false);
    let (started, ran) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let sale = writer.sale();
    let jobs: Vec<_> = (0..SALE_JOBS)
        .map(|_| {
            let (sale, started, ran) = (sale.clone(), started.clone(), ran.clone());
            let (opened, req) = (opened.clone(), req.clone());
            tokio::spawn(async move {
                sale.answer(None, move |w| {
                    Box::pin(async move {
                        // In the order run (the tasks queue them in any order).
                        if started.fetch_add(1, Ordering::SeqCst) >= SALE_JOBS_PER_BATCH_MAX {
                            let mut opened = opened;
                            opened.wait_for(|o| *o).await.expect("the lane opens");
                        }
                        let paid =
                            machipay::features::payments::pay_in(w, who, program_id, req).await?;
                        ran.fetch_add(1, Ordering::SeqCst);
                        Ok(paid)
                    })
                })
                .await
            })
        })
        .collect();
    queued(&writer, SALE_JOBS).await;
    let payment = pay_in_background(app, &program, &store, &token);
    queued(&writer, SALE_JOBS + 1).await;
    gate.notify_one();
    let (s, v) = tokio::time::timeout(Duration::from_secs(30), payment)
        .await
        .expect("the payment is answered while the sale jobs behind its batch wait")
        .expect("joined");
    assert_eq!(s, StatusCode::CREATED, "{v}");
    // Its batch took the payment and then one share of the sale lane, no more.
    assert_eq!(ran.load(Ordering::SeqCst), SALE_JOBS_PER_BATCH_MAX);
    open.send(true).expect("the sale jobs wait");
    for job in jobs {
        job.await.expect("joined").expect("each sale job commits");
    }
    assert_eq!(ran.load(Ordering::SeqCst), SALE_JOBS);
    blocker
        .await
        .expect("joined")
        .expect("the holding job commits");
    let sold = i64::try_from(SALE_JOBS).expect("small");
    assert_eq!(
        app.wallet(&program, &shopper, "coin").await,
        1_000 - 100 - sold
    );
    assert_eq!(
        app.merchant_balance(&program, &store, "coin").await,
        100 + sold
    );
    app.assert_ledger_ok(&program).await;
}

/// A full sale lane refuses a waiting-room ticket at once with 503 `overloaded` and
/// `Retry-After: 1`, as a full interactive queue refuses a payment (the wallet's waiting room
/// retries it), while a payment is still queued and committed; the same shopper's ticket
/// is given once the lane has room.
async fn a_full_sale_lane_answers_overloaded_at_once_and_payments_still_pass(app: &TestApp) {
    use machipay::writer::SALE_QUEUE_SIZE_MAX;
    let (program, store, _, token) = town(app).await;
    let op = app.operator().await;
    let open = json!({"name": "待合室セール", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
        "budget_yen": 3_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z",
        "waiting_room": {"admits_per_s": 10, "admitted_for_s": 600}});
    let (s, c) = app
        .post_money(
            &format!("/api/v1/programs/{program}/premium-campaigns"),
            &op,
            open,
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{c}");
    let queue = format!(
        "/api/v1/programs/{program}/premium-campaigns/{}/queue",
        c["id"].as_str().expect("id")
    );
    let (_, buyer) = app.shopper(&op).await;
    let writer = app.app.writer.clone();
    let (gate, blocker) = hold(&writer).await;
    let sale = writer.sale();
    let waiting: Vec<_> = (0..SALE_QUEUE_SIZE_MAX)
        .map(|_| {
            let sale = sale.clone();
            tokio::spawn(async move {
                sale.answer(None, |_w| {
                    Box::pin(async { Ok(machipay::writer::Done::ok(())) })
                })
                .await
            })
        })
        .collect();
    queued(&writer, SALE_QUEUE_SIZE_MAX).await;
    let started = Instant::now();
    let resp = app
        .client
        .post(format!("{}{queue}", app.base))
        .bearer_auth(&buyer)
        .json(&json!({}))
        .send()
        .await
        .expect("sent");
    let took = started.elapsed();
    assert_eq!(resp.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(
        resp.headers()
            .get("retry-after")
            .and_then(|v| v.to_str().ok()),
        Some("1")
    );
    let v: Value = resp.json().await.expect("the envelope");
    assert_eq!(v["error"]["code"], "overloaded", "{v}");
    assert!(took < Duration::from_secs(2), "answered in {took:?}");
    // The interactive lane still has room: a payment queues and commits.
    let payment = pay_in_background(app, &program, &store, &token);
    queued(&writer, SALE_QUEUE_SIZE_MAX + 1).await;
    gate.notify_one();
    let (s, v) = payment.await.expect("joined");
    assert_eq!(s, StatusCode::CREATED, "{v}");
    for job in waiting {
        job.await
            .expect("joined")
            .expect("each queued sale job commits");
    }
    blocker
        .await
        .expect("joined")
        .expect("the holding job commits");
    // Nothing was queued for the refused ticket: the shopper takes the first one now.
    let (s, t) = app.post(&queue, &buyer, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{t}");
    assert_eq!(t["position"].as_i64(), Some(1), "{t}");
}
