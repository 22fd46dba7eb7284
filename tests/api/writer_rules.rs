//! The writer's rules, executable: one writer per database, a dead writer fails `/healthz`
//! and stops the server, remembered facts survive what cannot change them and are checked
//! against the database, migrations are pinned and an old database upgrades, and stored
//! replies are purged after their window.

use std::path::Path;

use machipay::app::App;
use machipay::db::{Db, StartError};
use machipay::writer::{Done, Writer};
use reqwest::StatusCode;
use serde_json::json;

use crate::both_backends;
use crate::helpers::{TestApp, create_pg_database, with_database};

both_backends!(
    new_shoppers_stores_and_purchases_keep_the_remembered_facts,
    a_row_changed_behind_the_writers_back_is_caught,
    a_stale_fact_stops_the_writer_after_its_batch,
    a_starting_writer_loads_what_it_is_handed,
    expired_replies_are_purged_in_batches_and_their_keys_act_new,
);

// ---------------------------------------------------------------------------------------
// Fresh databases outside the harness (the harness connects and migrates at once).

enum Fresh {
    /// The directory holding the database file, removed when dropped.
    Lite {
        _dir: tempfile::TempDir,
    },
    Pg(String),
}

impl Fresh {
    async fn sqlite() -> (Fresh, String) {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite:{}", dir.path().join("w.db").display());
        (Fresh::Lite { _dir: dir }, url)
    }

    /// None when PostgreSQL is unreachable (the harness says so loudly elsewhere).
    async fn postgres() -> Option<(Fresh, String)> {
        match create_pg_database().await {
            Ok((admin, name)) => {
                let url = with_database(&admin, &name);
                Some((Fresh::Pg(name), url))
            }
            Err(e) => {
                assert!(
                    std::env::var("CI").map_or(true, |v| v != "true"),
                    "PostgreSQL unreachable under CI: {e}"
                );
                None
            }
        }
    }

    async fn drop_database(self) {
        if let Fresh::Pg(name) = self
            && let Ok(pool) = sqlx::PgPool::connect(&crate::helpers::pg_admin_url()).await
        {
            let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&pool)
                .await;
        }
    }
}

// ---------------------------------------------------------------------------------------
// Item 22: one writer per database.

async fn second_writer_is_refused(url: &str) {
    let first = Db::connect(url).await.expect("the first writer starts");
    let refused = Db::connect(url)
        .await
        .expect_err("a second writer on the same database must be refused");
    assert!(
        matches!(refused, StartError::WriterRunning { .. }),
        "{refused}"
    );
    assert!(refused.to_string().contains("already writing"), "{refused}");
    // The binary says so and exits non-zero.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_machipay"))
        .args(["bootstrap-city", "--name", "二つ目"])
        .env("DATABASE_URL", url)
        .output()
        .expect("runs");
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("already writing"), "{stderr}");
    // Once the first is closed and dropped, a new one starts (PostgreSQL: the new writer
    // connection retries the lock until the old session has ended).
    first.close().await;
    drop(first);
    let next = Db::connect(url)
        .await
        .expect("a writer starts once the first has gone");
    next.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_writer_is_refused_sqlite() {
    let (fresh, url) = Fresh::sqlite().await;
    second_writer_is_refused(&url).await;
    fresh.drop_database().await;
}

/// PostgreSQL takes no single-writer lock: many instances serve one database (README
/// "Many instances"; tests/api/instances.rs runs two servers on one).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_second_writer_starts_beside_the_first_postgres() {
    let Some((fresh, url)) = Fresh::postgres().await else {
        return;
    };
    let first = Db::connect(&url).await.expect("the first writer starts");
    let second = Db::connect(&url).await.expect("a second writer starts too");
    second.close().await;
    first.close().await;
    fresh.drop_database().await;
}

async fn dead_writer_fails_health_and_stops_the_server(url: &str) {
    let db = Db::connect(url).await.expect("connects");
    let (writer, mut task) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
    let kill = task.abort_handle();
    let app = App::new(db.clone(), writer);
    // One server watching the writer (what `serve` runs), one that only answers health.
    let watched = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let plain = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let health = format!("http://{}/healthz", plain.local_addr().expect("addr"));
    tokio::spawn(machipay::server::serve(
        plain,
        app.clone(),
        std::future::pending(),
    ));
    let served = app.clone();
    let server = tokio::spawn(async move {
        machipay::server::serve_with_writer(
            watched,
            served,
            machipay::server::Limits::default(),
            &mut task,
            std::future::pending(),
        )
        .await
    });
    let client = reqwest::Client::new();
    let ok = client.get(&health).send().await.expect("health");
    assert_eq!(ok.status(), StatusCode::OK);
    // The writer task dies.
    kill.abort();
    let ended = server.await.expect("server task");
    let message = ended.expect_err("the server must stop when its writer dies");
    assert!(message.contains("writer"), "{message}");
    let dead = client.get(&health).send().await.expect("health");
    assert_eq!(dead.status(), StatusCode::SERVICE_UNAVAILABLE);
    // A write is refused too, not left waiting.
    let refused =
        machipay::features::directory::bootstrap_city(&app, "市".into(), "admin".into()).await;
    assert!(refused.is_err());
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_writer_fails_health_and_stops_the_server_sqlite() {
    let (fresh, url) = Fresh::sqlite().await;
    dead_writer_fails_health_and_stops_the_server(&url).await;
    fresh.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_dead_writer_fails_health_and_stops_the_server_postgres() {
    let Some((fresh, url)) = Fresh::postgres().await else {
        return;
    };
    dead_writer_fails_health_and_stops_the_server(&url).await;
    fresh.drop_database().await;
}

// ---------------------------------------------------------------------------------------
// Item 23: what the writer remembers.

/// Facts the writer remembers right now, asked inside a writer job.
async fn known_facts(app: &TestApp) -> u64 {
    known_facts_of(&app.app.writer).await
}

async fn known_facts_of(writer: &Writer) -> u64 {
    let facts = writer
        .answer(None, |w| {
            Box::pin(async move { Ok(Done::ok(w.tx.known_facts())) })
        })
        .await
        .and_then(|answer| answer.into_value())
        .expect("job runs");
    u64::try_from(facts).expect("count")
}

async fn new_shoppers_stores_and_purchases_keep_the_remembered_facts(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 50_000).await;
    let (code, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 100}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    // The payment left the program, the store, the shopper and the store's accounts known.
    let before = known_facts(app).await;
    assert!(
        before >= 4,
        "only {before} facts remembered after a payment"
    );
    // A new shopper and a new store are new rows: nothing remembered can have changed.
    app.shopper(&op).await;
    app.merchant(&op).await;
    assert!(known_facts(app).await >= before);
    // A premium-set purchase reads its campaign and writes ledger rows and a purchase row.
    let campaigns = format!("/api/v1/programs/{p}/premium-campaigns");
    let open = json!({"name": "第1弾", "price_yen": 10_000, "premium_yen": 3_000,
        "units_per_person_max": 2, "budget_yen": 9_000,
        "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"});
    let (status, c) = app.post_money(&campaigns, &op, open).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let with_campaign = known_facts(app).await;
    let buy = format!("{campaigns}/{}/purchases", c["id"].as_str().expect("id"));
    let (status, v) = app
        .post_money(&buy, &op, json!({"shopper_id": s, "units": 1}))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let after = known_facts(app).await;
    assert!(
        after >= with_campaign && after >= before,
        "a purchase emptied what the writer knew: {before} -> {with_campaign} -> {after}"
    );
    // And the facts are still true (the writer checks this after every batch in test
    // builds; asked here once more, explicitly).
    let checked = app
        .app
        .writer
        .answer(None, |w| {
            Box::pin(async move {
                let checked = w.tx.verify_known().await;
                Ok(Done::ok(checked.map_err(|e| e.to_string())))
            })
        })
        .await
        .and_then(|answer| answer.into_value())
        .expect("job runs");
    assert!(checked.is_ok(), "{checked:?}");
    app.assert_ledger_ok(&p).await;
}

async fn a_row_changed_behind_the_writers_back_is_caught(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let (code, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 100}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    let rename = rename_sql(app, &m);
    let checked = app
        .app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let renamed = w.tx.execute_past_the_guard(&rename).await?;
                assert_eq!(renamed, 1, "the store was renamed");
                let checked = w.tx.verify_known().await;
                // Forgotten so the check after this batch does not stop the writer (see the
                // next test).
                w.tx.forget_known();
                Ok(Done::ok(checked.map_err(|e| e.to_string())))
            })
        })
        .await
        .and_then(|answer| answer.into_value())
        .expect("job runs");
    let difference = checked.clone().err().unwrap_or_default();
    assert!(
        difference.contains("merchant") && difference.contains("こっそり"),
        "the stale store name went unnoticed: {checked:?}"
    );
}

/// The check the writer runs after every batch in test builds is live: a fact made stale
/// behind its back stops the writer (loudly: a panic), `/healthz` fails and writes are
/// refused, instead of payments going on against a stale store.
async fn a_stale_fact_stops_the_writer_after_its_batch(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let pay = format!("/api/v1/programs/{p}/payments");
    let (code, v) = app
        .post_money(&pay, &st, json!({"merchant_id": m, "amount": 100}))
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    // The rename's batch commits, then its check finds the stale store and the writer stops.
    let rename = rename_sql(app, &m);
    let renamed = app
        .app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let renamed = w.tx.execute_past_the_guard(&rename).await?;
                Ok(Done::ok(renamed))
            })
        })
        .await
        .and_then(|answer| answer.into_value())
        .expect("the batch itself commits");
    assert_eq!(renamed, 1);
    // A job sent now finds the writer gone, or is dropped with its queue when it goes.
    let after = app
        .app
        .writer
        .answer(None, |_| Box::pin(async move { Ok(Done::ok("too late")) }))
        .await;
    assert!(
        after.is_err(),
        "the writer took a job after its check failed"
    );
    let (code, _) = app.request("GET", "/healthz", None, None, None).await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE);
    assert!(!app.app.writer.is_running());
    let (code, v) = app
        .post_money(&pay, &st, json!({"merchant_id": m, "amount": 100}))
        .await;
    assert_eq!(code, StatusCode::SERVICE_UNAVAILABLE, "{v}");
}

/// A writer loads, before its first batch, the accounts that may go negative and what it is
/// handed (`features::WARM_AT_START`: the stores, the shoppers, the static codes and the
/// coded stores' latest participation), and what it loaded is true. Two writers on one
/// database only here: the second reads, and writes nothing.
async fn a_starting_writer_loads_what_it_is_handed(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, owner) = app.merchant(&op).await;
    let (m2, owner2) = app.merchant(&op).await;
    // Both stores take QR payments in p; the second has a participation history.
    for (store, token) in [(&m, &owner), (&m2, &owner2)] {
        let (code, v) = app
            .post(
                &format!("/api/v1/merchants/{store}/codes"),
                token,
                json!({"program_id": p}),
            )
            .await;
        assert_eq!(code, StatusCode::CREATED, "{v}");
    }
    let (code, v) = app
        .post(
            &format!("/api/v1/programs/{p}/merchants/{m2}/participation-events"),
            &op,
            json!({"kind": "joined", "effective_on": "2025-04-01"}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 1_000).await;
    let (code, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &st,
            json!({"merchant_id": m, "amount": 100}),
        )
        .await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    let (cold, _task) = Writer::start(app.app.db.clone(), &[]);
    let accounts = known_facts_of(&cold).await;
    assert!(accounts >= 1, "the store's account was not loaded");
    drop(cold);
    let (warm, _task) = Writer::start(app.app.db.clone(), machipay::features::WARM_AT_START);
    let warmed = known_facts_of(&warm).await;
    // Two stores, one shopper, two codes, two stores' participation.
    assert!(
        warmed >= accounts + 7,
        "the stores, shopper, codes and participation were not loaded: {accounts} -> {warmed}"
    );
    let checked = warm
        .answer(None, |w| {
            Box::pin(async move {
                let checked = w.tx.verify_known().await;
                Ok(Done::ok(checked.map_err(|e| e.to_string())))
            })
        })
        .await
        .and_then(|answer| answer.into_value())
        .expect("job runs");
    assert_eq!(checked, Ok(usize::try_from(warmed).expect("count")));
}

/// SQL renaming a store, to run in a writer job past the statement guard
/// (`WriteTx::execute_past_the_guard`): the writer does not forget the name it remembers, as
/// with a statement escaping the guard. In a job, so no other batch's check runs between the
/// rename and what the test does next.
fn rename_sql(app: &TestApp, merchant: &str) -> String {
    let id = uuid::Uuid::parse_str(merchant).expect("uuid");
    let id = if app.url.starts_with("sqlite:") {
        format!("X'{}'", id.simple())
    } else {
        format!("'{id}'")
    };
    format!("UPDATE merchants SET name = 'こっそり' WHERE id = {id}")
}

// ---------------------------------------------------------------------------------------
// Item 25: migrations and retention.

/// Every migration file and its SHA-384 (the checksum sqlx records), per backend. A migration
/// is never edited once committed: a changed checksum here means a database that applied
/// the old text would refuse to start. A new migration adds one line (both backends).
const MIGRATIONS: &[(&str, &str, &str)] = &[
    // (file, PostgreSQL SHA-384, SQLite SHA-384)
    (
        "0001_core.sql",
        "4a2e3c1c900a80485e0eaa1c4b62f4a2052f197269912a221f4e88f537d5ae2c43d6627d9a6a3be0df0c8d4f53524555",
        "1501f5a1d5e59a9bcfb2a0b116a886827c9c113b22f89625c03d880632441d18d689250d5c19f655e2f0449e2db89f52",
    ),
    (
        "0002_currency.sql",
        "166403914eb5a884d524c4538c8cd0798851237a20977fb250cce997a802f437df3d90951dad4c7538817cc1f538314b",
        "942f3fac7be06554169628bdd5e2cd336d7f2e320d8b9e1895a197542868f9cc2280c2360b8fafd1dbcfa11c3c56366c",
    ),
    (
        "0003_qr.sql",
        "4b4c50bb778fcbdd67f701ebf62f4cb2f78bf2aa3607fa04002397cbd920d48f396c95b80c53a2813d57f68047eca084",
        "146e87b810f393f46e78dbf1369c26fbff69c3b41e497cc7eb0b88b68c6a6d87bb026e723eaa0a632c7b79aa0e1a24a2",
    ),
    (
        "0004_rebates_refunds.sql",
        "cc715670148e83b0a4f1564e3af6533788031ec8ab27a8d6b9326f2d09da62b5e5f7abeab49f83b27c44270bf37bb9a2",
        "e24f8cf791b2c3c7c0900f5b3355df9ec5c2099733a85c1caae33454e274285f157bf1ead2bc8d6ca620d9dd1cb1c981",
    ),
    (
        "0005_point_card.sql",
        "b5290b6da284d4e7375a35f94d59abe2e42b6408f6ba58ed9fd702568df6e181b7008411d4c4a6f4712b716169c9654a",
        "4408f24960e5089e090138ae066555fbe9affc7356107ad517cd4340bfd1ad2a9df8fe4face627ebad8603842f477ddf",
    ),
    (
        "0006_registry_settlement.sql",
        "550882aa51e735b9d3236a0ea324e1e8fa9209068a241734203f7fc7e001c627f84c1591dd8604a16b1b9543264b040f",
        "efc6219abb3490670fadab1b2f5ce4384192e9a4dc8079c14eaa1495cba10fed2f903c6a2c18af0baa890241b877f919",
    ),
    (
        "0007_owner_index.sql",
        "b48ec8459112867c5c6d306f1537f83e5ce0c361ab5774fe636bfd47bc66a06d6d7bfd04499ad12cc3e4c9e427aecac1",
        "cf69c7f6430728e60529211a2055351afcc684e3e461df9f91843d080e826bf3aad1f81b4f3a4c7366c6a9e9d53aa676",
    ),
    (
        "0008_returns.sql",
        "5d2b74f76c67113a588ea37bf960ede386e69c928e5ff0da6a5d5eb6b623733eb333d248b784fdcda4ebf38dcd9c91bf",
        "5d2b74f76c67113a588ea37bf960ede386e69c928e5ff0da6a5d5eb6b623733eb333d248b784fdcda4ebf38dcd9c91bf",
    ),
    (
        "0009_idempotency_retention.sql",
        "dd46aa05b5ca8f937055b094d3aaff6c455824fd256ea1726ae3ed1e12be7760ec0470dadafef73d53476338a2a8c7f6",
        "dd46aa05b5ca8f937055b094d3aaff6c455824fd256ea1726ae3ed1e12be7760ec0470dadafef73d53476338a2a8c7f6",
    ),
    (
        "0010_rebate_limits.sql",
        "28166197fafdaa7f57a82496dbf40a80577e57c2710a3ea9d348d63867f0d8c60002961c3156aed180c7b1d75ffd18ba",
        "c83aac3499fb4a528e4cb375725827344c9f01c672a299ef0fdb38c1d25b2429ee02404de5a3b6f5a9dde143e3ef0d69",
    ),
    (
        "0011_report_aggregates.sql",
        "72b8a5bff1fb01b37ead8d5d7b699ccc2ade57b889d33afa59458b3691b6f78ac0de915afaeb517332cac5bd09144d13",
        "eadf6fa4ea6e115b1c55a51dee35e5574801eb22e02dcfd86cae324cbd4283131a435e126a3294dff0ddb3561e97798f",
    ),
    (
        "0012_ledger_checkpoints.sql",
        "c31411c4535e334033e1373999f391fdf59e0adbbd10eccf04e4124e576cc31b4eac23c9e3ebfbf89c4d69def4cb7c34",
        "07055eb9e780f84cb02d505043ad4cf668da126a3af30dcfc8e45118b8082b65810f12aa4cb2e58d26e4432a9ee579b6",
    ),
    (
        "0014_sale_day.sql",
        "3c7560d0f8a9a52d665cc7c369837771678513f68846f601f172d756299a747bb2b163d8d33ff808d543c9b5dd823359",
        "a782dba7a85ab11aa1f00b8ec52df51f932107134a994d32b07a00aff2a5aa72448a573223b49cef4dd7d41f7de0d9ba",
    ),
    (
        "0015_sign_in.sql",
        "9d9d9a5e557a31f38e61c47d03f0785472dc48078ef2a91bc13299432a339b0c0394ac890ffe89c8bbeff66565e26e34",
        "af5aa565ac420724cef3da14a5b41863fbdafb2d4fbc70f9c8c72253255cfd6c8df312abb868cf163f82f9421fbb2d0f",
    ),
    (
        "0016_generation.sql",
        "a1e9f52245f518b94abdafda018e7b27d7ea04902a7f6140c75c682e85bd7023f49bbafb3da413131d5ad313e667b56d",
        "a1e9f52245f518b94abdafda018e7b27d7ea04902a7f6140c75c682e85bd7023f49bbafb3da413131d5ad313e667b56d",
    ),
    (
        "0018_active_shoppers.sql",
        "62bae4e12c50fc119603b4024764d32d225aec24bc8453004acbd2e9c5dc529271b9d444f9fb15ed102358d7e743d424",
        "1da0b030a6e21fce42cc2c9ef79a5b0ba3d559e9548c75d2aab2887efa740c352f253240fee3dd2ac31c501ed67b45cf",
    ),
    (
        "0020_waiting_room.sql",
        "70d230627d92d40a11e5b8841c780980798ac45980940532d348fab7f3e3bae9d31478e450b7c6976a2f2893069f4e31",
        "0b9c01dd8e06197971e962d041e0d9eae03acd38354d3cbc2c5758da0de4fb33a5700f7d70f53e1151b242e6ef17c206",
    ),
    (
        "0021_audit_log.sql",
        "db38e52dc35220589f8b1a63accbddbe5c98320cd7ac65f74a95c879c9c2434d6233d544438add3f590729a38ac70c75",
        "3b3d7e12da56ac07ed83ab4bf5794682cb7f47c9215730fa5595053ef5edf2008ceb40702e27859402926fee3aeaaae5",
    ),
    (
        "0022_passkeys.sql",
        "2be0ad7f406fd40d0245a6dcfa5fc4386061abc0d2bb6af86574ef0c6d0578265a65419727f64532146b9e712722965c",
        "28586ddb7b0a441dc30583cb01761dd31bf0fecf338c9be3cd00673bd4e0a7b27090a9e0911709142e5054b1f45eec74",
    ),
    (
        "0023_shopper_block.sql",
        "2870692f1f033c3b71e24fadfae706d122d563287291c35f04cdbb9aeab4755422b954c4d948c3a6c7d668c072aba4c1",
        "f7e33a79e2e67e13f3f2911f7ea2b8892595bf299a81c2033c979ca16f3262fc90f18bc950425b9ee82dce07937d8419",
    ),
    (
        "0024_point_store_days.sql",
        "7f21e70f45a854f9cfb9b93a8e680112e635a8d9c4a60ecc9b76edb4d2931b90c72fa1bc08560f874bf1acc57df4d18d",
        "ede6dab38d78d47eb5bba639adda270c4fe8364374904681bba8468bf9819cc3037cac7faaed4f0c8d3e56e22dc11d96",
    ),
    (
        "0025_shopper_returns.sql",
        "7e463f5d7a8a3d10374115bd0f703c363eb7138e781699f629aabbeb6c67ad8428bf1caa3689d4c7577b57e078587395",
        "eb0585e47e18ed39a32615546210b849e301e48da8a771409859a78eafe2a089178e9a3b55f8e4954845d88e1706630e",
    ),
    (
        "0026_shopper_month_links.sql",
        "b7b943de6ccf364607c381f065d267c125ca539f6e133810ce6837bbba96df98eb9030ca915ecb65b6943ee7d99b9579",
        "d9a9054b74be2ff23a2272d60c7b87ffd4af7f9670c3d49b9108a18af525594b3b0cc9afcd6da2461828d25d19c0f10d",
    ),
    (
        "0027_shopper_months_cover.sql",
        "ba7e55c287cf4093965a0ab5db9ca428fa40d837a3570317874b3a6dcc5036dac3f55a38fe23106f787401f3fb4afcdb",
        "5066e43a60bbc27384e0d68e27ed26f6015b53353bda77d32d49f1d6dcb51e8283bc1107130a4acc677c5e6bc1832f97",
    ),
];

#[test]
fn every_migration_checksum_is_pinned() {
    use sha2::Digest;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("migrations");
    for (backend, column, migrator) in [
        ("postgres", 1, &machipay::db::schema::POSTGRES),
        ("sqlite", 2, &machipay::db::schema::SQLITE),
    ] {
        let pinned = |file: &str| {
            MIGRATIONS
                .iter()
                .find(|m| m.0 == file)
                .map(|m| match column {
                    1 => m.1,
                    _ => m.2,
                })
        };
        let mut files: Vec<String> = std::fs::read_dir(root.join(backend))
            .expect("migrations dir")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .filter(|f| f.ends_with(".sql"))
            .collect();
        files.sort();
        for file in &files {
            let text = std::fs::read(root.join(backend).join(file)).expect("read");
            let sha = hex::encode(sha2::Sha384::digest(&text));
            match pinned(file) {
                Some(p) => assert_eq!(
                    p, sha,
                    "migrations/{backend}/{file} changed after it was pinned: never edit a \
                     migration, add a new one"
                ),
                None => panic!(
                    "migrations/{backend}/{file} is not pinned: add it to MIGRATIONS in \
                     tests/api/writer_rules.rs with SHA-384 {sha}"
                ),
            }
        }
        assert_eq!(
            files.len(),
            MIGRATIONS.len(),
            "MIGRATIONS pins a file missing from migrations/{backend}"
        );
        // And sqlx, which embeds the files, computes the same checksums.
        for m in migrator.iter() {
            let file = files
                .iter()
                .find(|f| f.starts_with(&format!("{:04}_", m.version)))
                .expect("embedded migration has a file");
            assert_eq!(
                pinned(file),
                Some(hex::encode(&*m.checksum).as_str()),
                "{file}"
            );
        }
    }
}

/// A database made with the oldest texts: 0001-0006 as they are and 0007 as first committed
/// (tests/fixtures/first_0007), then opened by the real start (`Db::connect`), which must
/// upgrade it to the newest.
async fn upgrade_from_the_first_0007(url: &str, backend: &str) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let old = tempfile::tempdir().expect("temp dir");
    for entry in std::fs::read_dir(root.join("migrations").join(backend)).expect("dir") {
        let path = entry.expect("entry").path();
        let name = path
            .file_name()
            .expect("name")
            .to_string_lossy()
            .into_owned();
        if name.as_str() < "0007" {
            std::fs::copy(&path, old.path().join(&name)).expect("copy");
        }
    }
    let first = root
        .join("tests/fixtures/first_0007")
        .join(backend)
        .join("0007_owner_index.sql");
    std::fs::copy(&first, old.path().join("0007_owner_index.sql")).expect("copy");
    let oldest = sqlx::migrate::Migrator::new(old.path())
        .await
        .expect("old migrations");
    assert_eq!(oldest.iter().count(), 7);
    let index_sql;
    if backend == "sqlite" {
        let opts = <sqlx::sqlite::SqliteConnectOptions as std::str::FromStr>::from_str(url)
            .expect("url")
            .create_if_missing(true);
        let pool = sqlx::SqlitePool::connect_with(opts).await.expect("pool");
        oldest.run(&pool).await.expect("old schema");
        pool.close().await;
        index_sql = "SELECT sql FROM sqlite_master WHERE name = 'accounts_owner'";
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("pool");
        oldest.run(&pool).await.expect("old schema");
        pool.close().await;
        index_sql = "SELECT indexdef FROM pg_indexes WHERE indexname = 'accounts_owner'";
    }
    // The real start: repairs 0007, then applies everything newer.
    let db = Db::connect(url).await.expect("an old database upgrades");
    let newest = match backend {
        "sqlite" => &machipay::db::schema::SQLITE,
        _ => &machipay::db::schema::POSTGRES,
    };
    let (applied, index, seven): (i64, String, Vec<u8>) = match &db {
        Db::Lite { read, .. } => (
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(read)
                .await
                .expect("count"),
            sqlx::query_scalar(index_sql)
                .fetch_one(read)
                .await
                .expect("index"),
            sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = 7")
                .fetch_one(read)
                .await
                .expect("checksum"),
        ),
        Db::Pg(read, _) => (
            sqlx::query_scalar("SELECT count(*) FROM _sqlx_migrations WHERE success")
                .fetch_one(read)
                .await
                .expect("count"),
            sqlx::query_scalar(index_sql)
                .fetch_one(read)
                .await
                .expect("index"),
            sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = 7")
                .fetch_one(read)
                .await
                .expect("checksum"),
        ),
    };
    assert_eq!(applied as usize, newest.iter().count());
    let current = newest.iter().find(|m| m.version == 7).expect("0007");
    assert_eq!(seven, current.checksum.to_vec());
    assert!(
        index.contains("kind"),
        "0007's index is still the first one: {index}"
    );
    // The upgraded database serves: a city is made through the writer.
    let (writer, _task) = Writer::start(db.clone(), machipay::features::WARM_AT_START);
    let app = App::new(db.clone(), writer);
    machipay::features::directory::bootstrap_city(&app, "旧市".into(), "admin".into())
        .await
        .expect("bootstrap on the upgraded database");
    db.close().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_from_the_first_0007_upgrades_sqlite() {
    let (fresh, url) = Fresh::sqlite().await;
    upgrade_from_the_first_0007(&url, "sqlite").await;
    fresh.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_from_the_first_0007_upgrades_postgres() {
    let Some((fresh, url)) = Fresh::postgres().await else {
        return;
    };
    upgrade_from_the_first_0007(&url, "postgres").await;
    fresh.drop_database().await;
}

async fn expired_replies_are_purged_in_batches_and_their_keys_act_new(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (s, st) = app.shopper(&op).await;
    app.charge(&op, &p, &s, 10_000).await;
    let pay = format!("/api/v1/programs/{p}/payments");
    let send = |key: &'static str, amount: i64| {
        let body = json!({"merchant_id": m, "amount": amount});
        let (pay, st) = (pay.clone(), st.clone());
        async move {
            app.request("POST", &pay, Some(&st), Some(key), Some(&body))
                .await
        }
    };
    for key in ["old-1", "old-2", "old-3"] {
        let (code, v) = send(key, 100).await;
        assert_eq!(code, StatusCode::CREATED, "{v}");
    }
    let cutoff = chrono::Utc::now();
    let (code, v) = send("young", 100).await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    // Kept replies: the same key with another body is refused as reused.
    let (code, v) = send("old-1", 200).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // A purge of everything older than the cutoff (the charge's key and three payments'),
    // one row per writer job.
    let purged = machipay::writer::retention::purge_before(&app.app.writer, cutoff, 1)
        .await
        .expect("purge");
    assert_eq!(purged, 4);
    // A purged key is new again: the payment moves money a second time...
    let (code, v) = send("old-1", 200).await;
    assert_eq!(code, StatusCode::CREATED, "{v}");
    assert_eq!(app.wallet(&p, &s, "coin").await, 10_000 - 400 - 200);
    // ...while a key inside the window still answers as before.
    let (code, v) = send("young", 300).await;
    assert_eq!(code, StatusCode::UNPROCESSABLE_ENTITY, "{v}");
    // Nothing is left to purge before the cutoff.
    let again = machipay::writer::retention::purge_before(&app.app.writer, cutoff, 1_000)
        .await
        .expect("purge");
    assert_eq!(again, 0);
    app.assert_ledger_ok(&p).await;
}
