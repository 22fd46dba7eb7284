//! Benchmark: many shoppers paying ONE store at once, over HTTP, on SQLite or PostgreSQL.
//! Prints payments per second and latency percentiles.
//!
//! cargo run --release --example hot_merchant -- [sqlite|postgres] [payments] [concurrency]

use std::time::{Duration, Instant};

use futures::StreamExt;
use machipay::app::App;
use machipay::db::Db;
use machipay::writer::Writer;
use serde_json::{Value, json};

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let backend = args.get(1).map(String::as_str).unwrap_or("sqlite");
    let payments: usize = args.get(2).and_then(|s| s.parse().ok()).unwrap_or(5_000);
    let concurrency: usize = args.get(3).and_then(|s| s.parse().ok()).unwrap_or(64);
    let dir = tempfile::tempdir().expect("dir");
    let (db, pg_name) = connect(backend, &dir).await;
    let (writer, _) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
    let app = App::new(db.clone(), writer);
    let admin =
        machipay::features::directory::bootstrap_city(&app, "ベンチ市".into(), "admin".into())
            .await
            .expect("bootstrap")
            .token;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(machipay::server::serve(
        listener,
        app.clone(),
        std::future::pending(),
    ));
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let call = |path: String, token: String, body: Value| {
        let client = client.clone();
        let url = format!("{base}{path}");
        async move {
            let r = client
                .post(url)
                .bearer_auth(token)
                .header("Idempotency-Key", uuid::Uuid::now_v7().to_string())
                .json(&body)
                .send()
                .await
                .expect("sent");
            let status = r.status();
            let v: Value = r.json().await.expect("json");
            assert!(status.is_success(), "{v}");
            v
        }
    };
    let op = call(
        "/api/v1/staff".into(),
        admin.clone(),
        json!({"name": "op", "kind": "operator", "role": "operator"}),
    )
    .await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let program = call(
        "/api/v1/programs".into(),
        admin.clone(),
        json!({"kind": "currency", "name": "bench"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let merchant = call(
        "/api/v1/merchants".into(),
        op.clone(),
        json!({"name": "スーパー"}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let mut shoppers = Vec::new();
    for _ in 0..concurrency {
        let s = call(
            "/api/v1/shoppers".into(),
            op.clone(),
            json!({"display_name": "客"}),
        )
        .await;
        let id = s["id"].as_str().expect("id").to_owned();
        call(
            format!("/api/v1/programs/{program}/charges"),
            op.clone(),
            json!({"shopper_id": id, "amount": 50_000}),
        )
        .await;
        shoppers.push(s["token"].as_str().expect("token").to_owned());
    }
    let path = format!("/api/v1/programs/{program}/payments");
    let started = Instant::now();
    let mut latencies: Vec<Duration> = futures::stream::iter(0..payments)
        .map(|i| {
            let token = shoppers[i % concurrency].clone();
            let fut = call(
                path.clone(),
                token,
                json!({"merchant_id": merchant, "amount": 1}),
            );
            async move {
                let t = Instant::now();
                fut.await;
                t.elapsed()
            }
        })
        .buffer_unordered(concurrency)
        .collect()
        .await;
    let elapsed = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    println!(
        "backend={backend} payments={payments} concurrency={concurrency} elapsed={:.2}s throughput={:.0}/s p50={:.1}ms p99={:.1}ms",
        elapsed.as_secs_f64(),
        payments as f64 / elapsed.as_secs_f64(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
    );
    let check = machipay::features::payments::reads::merchant_balances(
        &app,
        who_admin(&app, &admin).await,
        machipay_domain::ids::MerchantId(merchant.parse().expect("uuid")),
    )
    .await
    .expect("balances");
    let total: i64 = check.iter().map(|b| b.balance).sum();
    assert_eq!(
        total, payments as i64,
        "the store received every yen exactly once"
    );
    println!("store balance {total} == payments {payments}: ok");
    db.close().await;
    if let Some(name) = pg_name
        && let Ok(pool) = sqlx::PgPool::connect(&pg_admin()).await
    {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&pool)
            .await;
    }
}

fn pg_admin() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".into())
}

async fn connect(backend: &str, dir: &tempfile::TempDir) -> (Db, Option<String>) {
    if backend == "postgres" {
        let pool = sqlx::PgPool::connect(&pg_admin())
            .await
            .expect("postgres reachable");
        let name = format!("machipay_bench_{}", uuid::Uuid::now_v7().simple());
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&pool)
            .await
            .expect("create");
        let base = pg_admin();
        let url = format!("{}/{name}", &base[..base.rfind('/').expect("db in url")]);
        (Db::connect(&url).await.expect("connect"), Some(name))
    } else {
        let url = format!("sqlite:{}", dir.path().join("bench.db").display());
        (Db::connect(&url).await.expect("connect"), None)
    }
}

async fn who_admin(app: &App, token: &str) -> machipay_domain::auth::Principal {
    machipay::features::directory::store::principal_for_token(
        &app.db,
        &machipay_domain::auth::hash_secret(token),
    )
    .await
    .expect("query")
    .expect("admin")
    .1
}
