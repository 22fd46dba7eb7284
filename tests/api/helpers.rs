//! The test harness: a real server on a fresh database per test, on SQLite and PostgreSQL,
//! and role-based helpers to set up cities, programs, stores and shoppers over the API.

use std::io::Write;
use std::sync::Once;

use machipay::app::App;
use machipay::db::Db;
use machipay::features::directory::bootstrap_city;
use machipay::server::Limits;
use machipay::writer::Writer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// Generates a `sqlite` and a `postgres` test from one `async fn(&TestApp)`.
#[macro_export]
macro_rules! both_backends {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn sqlite() {
                let app = $crate::helpers::TestApp::sqlite().await;
                super::$name(&app).await;
                app.cleanup().await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn postgres() {
                let Some(app) = $crate::helpers::TestApp::postgres().await else { return };
                super::$name(&app).await;
                app.cleanup().await;
            }
        }
    )*};
}

pub(crate) struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub app: App,
    /// Token of the city's first admin (city staff, role admin).
    pub admin: String,
    /// The database URL (tests that look behind the server's back).
    pub url: String,
    pg_database: Option<String>,
    _dir: Option<tempfile::TempDir>,
}

pub(crate) fn pg_admin_url() -> String {
    std::env::var("TEST_DATABASE_URL")
        .unwrap_or_else(|_| "postgres://postgres@localhost:5432/postgres".into())
}

static PG_MISSING: Once = Once::new();

impl TestApp {
    pub(crate) async fn sqlite() -> TestApp {
        Self::sqlite_with(Limits::default()).await
    }

    /// `sqlite()` with the server's limits set (shorter time limits for tests of them).
    pub(crate) async fn sqlite_with(limits: Limits) -> TestApp {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("test.db").display());
        let db = Db::connect(&url).await.expect("sqlite connects");
        Self::start(db, url, None, Some(dir), limits).await
    }

    /// A fresh PostgreSQL database, or None (with a loud note) when no server is reachable.
    /// Under CI=true an unreachable server fails the test instead.
    pub(crate) async fn postgres() -> Option<TestApp> {
        Self::postgres_with(Limits::default()).await
    }

    /// `postgres()` with the server's limits set.
    pub(crate) async fn postgres_with(limits: Limits) -> Option<TestApp> {
        let (admin_url, name) = match create_pg_database().await {
            Ok(x) => x,
            Err(e) => {
                if std::env::var("CI").is_ok_and(|v| v == "true") {
                    panic!("PostgreSQL is required under CI=true but is unreachable: {e}");
                }
                PG_MISSING.call_once(|| {
                    let _ = writeln!(
                        std::io::stderr(),
                        "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                         !! PostgreSQL unreachable ({e}).\n\
                         !! The PostgreSQL half of the suite DID NOT RUN. Set TEST_DATABASE_URL.\n\
                         !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                    );
                });
                return None;
            }
        };
        let url = with_database(&admin_url, &name);
        let db = Db::connect(&url).await.expect("postgres connects");
        Some(Self::start(db, url, Some(name), None, limits).await)
    }

    async fn start(
        db: Db,
        url: String,
        pg_database: Option<String>,
        dir: Option<tempfile::TempDir>,
        limits: Limits,
    ) -> TestApp {
        let (writer, _task) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
        let app = App::new(db, writer);
        let admin = bootstrap_city(&app, "テスト市".into(), "admin".into())
            .await
            .expect("bootstrap")
            .token;
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let served = app.clone();
        tokio::spawn(async move {
            let _ = machipay::server::serve_with(listener, served, limits, std::future::pending())
                .await;
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            app,
            admin,
            url,
            pg_database,
            _dir: dir,
        }
    }

    /// Another instance of the server on this test's PostgreSQL database: its own pools,
    /// writer, token cache and listener (what a second `machipay serve` process holds). Its
    /// cleanup leaves the database to this one's.
    pub(crate) async fn another_instance(&self) -> TestApp {
        let db = Db::connect(&self.url)
            .await
            .expect("a second instance connects");
        let (writer, _task) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
        let app = App::new(db, writer);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let served = app.clone();
        tokio::spawn(async move {
            let _ = machipay::server::serve(listener, served, std::future::pending()).await;
        });
        TestApp {
            base,
            client: reqwest::Client::new(),
            app,
            admin: self.admin.clone(),
            url: self.url.clone(),
            pg_database: None,
            _dir: None,
        }
    }

    /// This test's database as served by another server at `base` (a `machipay serve`
    /// process, tests/api/processes.rs): requests go there; `app` (for looking behind the
    /// servers' backs) and the admin stay this one's. Its cleanup is this one's.
    pub(crate) fn through(&self, base: String) -> TestApp {
        TestApp {
            base,
            client: reqwest::Client::new(),
            app: self.app.clone(),
            admin: self.admin.clone(),
            url: self.url.clone(),
            pg_database: None,
            _dir: None,
        }
    }

    pub(crate) async fn cleanup(self) {
        self.app.db.close().await;
        if let Some(name) = self.pg_database
            && let Ok(pool) = sqlx::PgPool::connect(&pg_admin_url()).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await;
        }
    }

    pub(crate) async fn request(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        key: Option<&str>,
        body: Option<&Value>,
    ) -> (StatusCode, Value) {
        let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
        let mut req = self.client.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(k) = key {
            req = req.header("Idempotency-Key", k);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = req.send().await.expect("request sent");
        let status = resp.status();
        let text = resp.text().await.expect("body");
        let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, value)
    }

    pub(crate) async fn get(&self, path: &str, token: &str) -> (StatusCode, Value) {
        self.request("GET", path, Some(token), None, None).await
    }

    pub(crate) async fn post(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request("POST", path, Some(token), None, Some(&body))
            .await
    }

    pub(crate) async fn put(&self, path: &str, token: &str, body: Value) -> (StatusCode, Value) {
        self.request("PUT", path, Some(token), None, Some(&body))
            .await
    }

    /// A GET answered with bytes (files): status, content type and body.
    pub(crate) async fn get_bytes(&self, path: &str, token: &str) -> (StatusCode, String, Vec<u8>) {
        let resp = self
            .client
            .get(format!("{}{path}", self.base))
            .bearer_auth(token)
            .send()
            .await
            .expect("request sent");
        let status = resp.status();
        let content_type = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let body = resp.bytes().await.expect("body").to_vec();
        (status, content_type, body)
    }

    /// A payment posted as if made at `at` (RFC 3339), for fixtures of past periods: the
    /// payment job runs on the writer with the job's clock set back. Everything else about
    /// it (participation check, wallet guard, postings) is the real payment path.
    pub(crate) async fn backdated_payment(
        &self,
        program: &str,
        shopper_token: &str,
        merchant: &str,
        amount: i64,
        at: &str,
    ) -> machipay::features::payments::MovementResponse {
        let (_, who) = machipay::features::directory::store::principal_for_token(
            &self.app.db,
            &machipay_domain::auth::hash_secret(shopper_token),
        )
        .await
        .expect("query")
        .expect("live token");
        let program: machipay_domain::ids::ProgramId =
            uuid::Uuid::parse_str(program).expect("program id").into();
        let req: machipay::features::payments::PaymentRequest =
            serde_json::from_value(json!({"merchant_id": merchant, "amount": amount}))
                .expect("request");
        let at: chrono::DateTime<chrono::Utc> = at.parse().expect("RFC 3339 instant");
        self.app
            .writer
            .answer(None, move |w| {
                Box::pin(async move {
                    w.now = at;
                    machipay::features::payments::pay_in(w, who, program, req).await
                })
            })
            .await
            .and_then(|answer| answer.into_value())
            .expect("backdated payment")
    }

    /// A counter charge posted as if made at `at` (RFC 3339), by the city admin: see
    /// `backdated_payment`.
    pub(crate) async fn backdated_charge(
        &self,
        program: &str,
        shopper: &str,
        amount: i64,
        at: &str,
    ) {
        let (_, who) = machipay::features::directory::store::principal_for_token(
            &self.app.db,
            &machipay_domain::auth::hash_secret(&self.admin),
        )
        .await
        .expect("query")
        .expect("live token");
        let program: machipay_domain::ids::ProgramId =
            uuid::Uuid::parse_str(program).expect("program id").into();
        let req: machipay::features::payments::CounterChargeRequest =
            serde_json::from_value(json!({"shopper_id": shopper, "amount": amount}))
                .expect("request");
        let at: chrono::DateTime<chrono::Utc> = at.parse().expect("RFC 3339 instant");
        self.app
            .writer
            .answer(None, move |w| {
                Box::pin(async move {
                    w.now = at;
                    machipay::features::payments::counter_charge_in(w, who, program, req).await
                })
            })
            .await
            .expect("backdated charge");
    }

    /// A money POST with a fresh Idempotency-Key.
    pub(crate) async fn post_money(
        &self,
        path: &str,
        token: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let key = uuid::Uuid::now_v7().to_string();
        self.request("POST", path, Some(token), Some(&key), Some(&body))
            .await
    }

    /// Creates a staff member and returns (id, token).
    pub(crate) async fn staff(&self, kind: &str, role: &str) -> (String, String) {
        let (s, v) = self
            .post(
                "/api/v1/staff",
                &self.admin,
                json!({"name": format!("{kind}-{role}"), "kind": kind, "role": role}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().expect("id").into(),
            v["token"].as_str().expect("token").into(),
        )
    }

    pub(crate) async fn operator(&self) -> String {
        self.staff("operator", "operator").await.1
    }

    /// A program of `kind` with `settings`; returns its id.
    pub(crate) async fn program(&self, kind: &str, settings: Value) -> String {
        let (s, v) = self
            .post(
                "/api/v1/programs",
                &self.admin,
                json!({"kind": kind, "name": "テスト", "settings": settings}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v["id"].as_str().expect("id").into()
    }

    pub(crate) async fn currency(&self) -> String {
        // Step and minimum of ¥1 so tests can charge any amount; the charge rules have their own tests.
        self.program(
            "currency",
            json!({"p2p_transfers": true, "charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000}),
        )
            .await
    }

    /// A store; returns (id, owner token).
    pub(crate) async fn merchant(&self, op: &str) -> (String, String) {
        let (s, v) = self
            .post("/api/v1/merchants", op, json!({"name": "スーパー"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().expect("id").into(),
            v["token"].as_str().expect("token").into(),
        )
    }

    /// Enrolls a cashier terminal for `merchant` with a one-time code from its `owner`;
    /// returns the enrolment's answer (device id, token, token_id).
    pub(crate) async fn enroll_device(&self, merchant: &str, owner: &str) -> Value {
        let (s, v) = self
            .post(
                &format!("/api/v1/merchants/{merchant}/enrollment-codes"),
                owner,
                json!({"device_name": "レジ1"}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{v}");
        let (s, v) = self
            .request(
                "POST",
                "/api/v1/devices/enroll",
                None,
                None,
                Some(&json!({"code": v["code"]})),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{v}");
        v
    }

    /// A shopper; returns (id, token).
    pub(crate) async fn shopper(&self, op: &str) -> (String, String) {
        let (s, v) = self
            .post("/api/v1/shoppers", op, json!({"display_name": "山田"}))
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        (
            v["id"].as_str().expect("id").into(),
            v["token"].as_str().expect("token").into(),
        )
    }

    pub(crate) async fn charge(
        &self,
        op: &str,
        program: &str,
        shopper: &str,
        amount: i64,
    ) -> Value {
        let (s, v) = self
            .post_money(
                &format!("/api/v1/programs/{program}/charges"),
                op,
                json!({"shopper_id": shopper, "amount": amount}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
        v
    }

    /// One balance of an owner's account (0 if the account does not exist yet).
    pub(crate) async fn balance_of(
        &self,
        who: &str,
        owner_path: &str,
        program: &str,
        asset: &str,
    ) -> i64 {
        let (s, v) = self
            .get(&format!("/api/v1/{owner_path}/balances"), who)
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v.as_array()
            .expect("array")
            .iter()
            .filter(|b| b["program_id"] == program && b["asset"] == asset)
            .map(|b| b["balance"].as_i64().expect("balance"))
            .sum()
    }

    pub(crate) async fn wallet(&self, program: &str, shopper: &str, asset: &str) -> i64 {
        self.balance_of(&self.admin, &format!("shoppers/{shopper}"), program, asset)
            .await
    }

    pub(crate) async fn merchant_balance(&self, program: &str, merchant: &str, asset: &str) -> i64 {
        self.balance_of(
            &self.admin,
            &format!("merchants/{merchant}"),
            program,
            asset,
        )
        .await
    }

    /// Asserts the ledger of `program` is consistent: balanced, caches equal postings and lots.
    pub(crate) async fn assert_ledger_ok(&self, program: &str) -> Value {
        let (s, v) = self
            .get(
                &format!("/api/v1/programs/{program}/ledger-check"),
                &self.admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(v["ok"], true, "ledger check failed: {v}");
        v
    }

    /// The incremental ledger check of `program` (since its latest checkpoint), answered 200.
    pub(crate) async fn incremental_check(&self, program: &str) -> Value {
        let (s, v) = self
            .get(
                &format!("/api/v1/programs/{program}/ledger-check/incremental"),
                &self.admin,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
        v
    }
}

pub(crate) async fn create_pg_database() -> Result<(String, String), String> {
    let admin_url = pg_admin_url();
    let pool = tokio::time::timeout(
        std::time::Duration::from_secs(5),
        sqlx::PgPool::connect(&admin_url),
    )
    .await
    .map_err(|_| "timed out".to_string())?
    .map_err(|e| e.to_string())?;
    let name = format!("machipay_test_{}", uuid::Uuid::now_v7().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&pool)
        .await
        .map_err(|e| e.to_string())?;
    pool.close().await;
    Ok((admin_url, name))
}

/// The admin URL with its database name replaced.
pub(crate) fn with_database(url: &str, name: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let base = match base.rfind('/') {
        Some(i) if i > "postgres://".len() => &base[..i],
        _ => base,
    };
    match query {
        Some(q) => format!("{base}/{name}?{q}"),
        None => format!("{base}/{name}"),
    }
}
