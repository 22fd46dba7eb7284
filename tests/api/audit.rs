//! The audit log: each operator change (an application decided, a settings version, a setup
//! code, a settlement run and its confirmation by a second person) appends one entry naming
//! who did what to what, read newest first a page at a time by operators only; a replayed
//! request adds no entry; the table refuses updates and deletes.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::registry::{bank, profile};
use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    every_operator_change_is_logged_with_who_did_it,
    the_log_is_paged_newest_first_and_kept_from_viewers,
);

async fn log(app: &TestApp, query: &str, token: &str) -> Value {
    let (s, v) = app.get(&format!("/api/v1/audit-log{query}"), token).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v
}

fn actions(page: &Value) -> Vec<String> {
    page["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .map(|e| e["action"].as_str().expect("action").to_owned())
        .collect()
}

async fn every_operator_change_is_logged_with_who_did_it(app: &TestApp) {
    let (op_id, op) = app.staff("operator", "operator").await;
    // Closing daily, so any past day is a closing day.
    let p = app
        .program(
            "currency",
            json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000, "closing_days": []}),
        )
        .await;
    let (s, a) = app
        .post(
            "/api/v1/merchant-applications",
            &op,
            json!({"name": "監査の店", "profile": profile("AU-1", None, "飲食", "東", "small"),
                "bank_account": bank("ｶﾝｻ"), "program_id": p}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let application = a["id"].as_str().expect("id").to_owned();
    let decide = format!("/api/v1/merchant-applications/{application}/decision");
    let (s, d) = app.post(&decide, &op, json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::OK, "{d}");
    // A decided application is refused again: the refusal writes nothing.
    let (s, _) = app.post(&decide, &op, json!({"decision": "approve"})).await;
    assert_eq!(s, StatusCode::CONFLICT);

    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/settings"),
            &op,
            json!({"settings": {"p2p_transfers": false, "charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000, "closing_days": []}}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (shopper, _) = app.shopper(&op).await;
    let (s, v) = app
        .post(
            &format!("/api/v1/principals/shopper/{shopper}/setup-codes"),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    let page = log(app, "", &app.admin).await;
    assert_eq!(
        actions(&page),
        [
            "setup_code_issued",
            "settings_changed",
            "application_approved",
            // The approval's join is a participation event of its own.
            "participation_joined"
        ],
        "{page}"
    );
    let entries = page["entries"].as_array().expect("entries");
    for e in entries {
        assert_eq!(
            (
                e["actor_kind"].as_str(),
                e["actor_id"].as_str(),
                e["actor_name"].as_str()
            ),
            (
                Some("staff"),
                Some(op_id.as_str()),
                Some("operator-operator")
            ),
            "{e}"
        );
    }
    let approved = &entries[2];
    assert_eq!(
        (
            approved["subject_kind"].as_str(),
            approved["subject_id"].as_str()
        ),
        (Some("application"), Some(application.as_str()))
    );
    assert_eq!(approved["detail"]["name"], "監査の店");
    assert_eq!(
        approved["detail"]["merchant_id"], d["merchant"]["id"],
        "{d}"
    );
    assert_eq!(entries[1]["subject_id"].as_str(), Some(p.as_str()));
    assert_eq!(
        (
            entries[0]["subject_kind"].as_str(),
            entries[0]["subject_id"].as_str()
        ),
        (Some("shopper"), Some(shopper.as_str()))
    );
    assert!(
        !entries[0]["detail"]
            .to_string()
            .contains(v["code"].as_str().expect("code")),
        "the setup code itself is never logged"
    );

    // A settlement run and its confirmation: who ran it and who confirmed it.
    let (s, run) = app
        .post(
            &format!("/api/v1/programs/{p}/settlement-runs"),
            &op,
            json!({"closing_date": "2020-01-10"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{run}");
    let confirm = format!(
        "/api/v1/programs/{p}/settlement-runs/{}/confirm",
        run["id"].as_str().expect("run")
    );
    let (s, v) = app.post_money(&confirm, &op, json!({})).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("second_person_required"))
    );
    let key = uuid::Uuid::now_v7().to_string();
    for _ in 0..2 {
        let (s, v) = app
            .request(
                "POST",
                &confirm,
                Some(&app.admin),
                Some(&key),
                Some(&json!({})),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let page = log(app, "?limit=2", &op).await;
    assert_eq!(
        actions(&page),
        ["settlement_confirmed", "settlement_run"],
        "a replayed confirmation adds nothing: {page}"
    );
    let confirmed = &page["entries"][0];
    assert_eq!(
        confirmed["actor_name"], "admin",
        "the bootstrap admin: {confirmed}"
    );
    assert_eq!(confirmed["detail"]["ran_by"].as_str(), Some(op_id.as_str()));
    assert_eq!(
        page["entries"][1]["actor_id"].as_str(),
        Some(op_id.as_str())
    );

    // The table itself refuses changes.
    assert!(update_refused(app).await, "audit_log rows can be changed");
}

async fn the_log_is_paged_newest_first_and_kept_from_viewers(app: &TestApp) {
    let op = app.operator().await;
    let mut made = Vec::new();
    for i in 0..5 {
        let (shopper, _) = app.shopper(&op).await;
        let (s, v) = app
            .post(
                &format!("/api/v1/principals/shopper/{shopper}/setup-codes"),
                &op,
                json!({}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{i}: {v}");
        made.push(shopper);
    }
    made.reverse();
    let mut seen = Vec::new();
    let mut query = "?limit=2".to_owned();
    loop {
        let page = log(app, &query, &op).await;
        for e in page["entries"].as_array().expect("entries") {
            seen.push(e["subject_id"].as_str().expect("subject").to_owned());
        }
        match page["next_before"].as_str() {
            Some(before) => query = format!("?limit=2&before={before}"),
            None => break,
        }
    }
    assert_eq!(seen, made, "every entry once, newest first");

    for (kind, role) in [("operator", "viewer"), ("city", "viewer")] {
        let (_, viewer) = app.staff(kind, role).await;
        let (s, _) = app.get("/api/v1/audit-log", &viewer).await;
        assert_eq!(s, StatusCode::FORBIDDEN, "{kind} {role}");
    }
    let (s, v) = app.get("/api/v1/audit-log?limit=201", &op).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_limit"))
    );
}

/// Whether an UPDATE of the log, from a connection of its own, is refused by the database.
async fn update_refused(app: &TestApp) -> bool {
    let sql = "UPDATE audit_log SET action = 'forged'";
    if app.url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(&app.url).await.expect("connects");
        let refused = sqlx::query(sql).execute(&pool).await.is_err();
        pool.close().await;
        refused
    } else {
        let pool = sqlx::PgPool::connect(&app.url).await.expect("connects");
        let refused = sqlx::query(sql).execute(&pool).await.is_err();
        pool.close().await;
        refused
    }
}
