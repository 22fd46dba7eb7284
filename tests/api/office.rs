//! What the back office reads and does beyond the other capabilities' routes: shoppers found
//! by a part of their name, by id or by a point card's number at the counter (staff only;
//! another city's never); a shopper blocked and unblocked by staff (a state: no token, no
//! session, no sign-in, nothing moves, balances kept; audited); stores searched server-side.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    shoppers_are_found_by_name_or_id,
    shoppers_are_found_by_card_number,
    a_blocked_shopper_can_do_nothing_until_unblocked,
    stores_are_searched_by_the_server,
    the_audit_log_keeps_registry_and_card_changes,
);

async fn named_shopper(app: &TestApp, op: &str, name: &str) -> String {
    let (s, v) = app
        .post("/api/v1/shoppers", op, json!({"display_name": name}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s["display_name"].as_str().expect("name"))
        .collect()
}

async fn shoppers_are_found_by_name_or_id(app: &TestApp) {
    let op = app.operator().await;
    let hanako = named_shopper(app, &op, "山田花子").await;
    named_shopper(app, &op, "山田太郎").await;
    named_shopper(app, &op, "佐藤100%").await;

    let (s, v) = app.get("/api/v1/shoppers?q=%E5%B1%B1%E7%94%B0", &op).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        names(&v),
        ["山田太郎", "山田花子"],
        "a part of the name, by name"
    );
    let (_, v) = app.get(&format!("/api/v1/shoppers?q={hanako}"), &op).await;
    assert_eq!(names(&v), ["山田花子"], "by id");
    // % is a character, not a wildcard.
    let (_, v) = app.get("/api/v1/shoppers?q=%25", &op).await;
    assert_eq!(names(&v), ["佐藤100%"]);
    let (_, v) = app.get("/api/v1/shoppers?limit=2", &app.admin).await;
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");

    let (_, viewer) = app.staff("city", "viewer").await;
    assert_eq!(
        app.get("/api/v1/shoppers?q=x", &viewer).await.0,
        StatusCode::OK
    );
    let (_, token) = app.shopper(&op).await;
    assert_eq!(
        app.get("/api/v1/shoppers?q=x", &token).await.0,
        StatusCode::FORBIDDEN
    );
    let long = "あ".repeat(101);
    let (s, v) = app.get(&format!("/api/v1/shoppers?q={long}"), &op).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
}

fn code(v: &Value) -> Option<&str> {
    v["error"]["code"].as_str()
}

async fn shoppers_are_found_by_card_number(app: &TestApp) {
    let op = app.operator().await;
    let points = app.program("points", json!({})).await;
    let hanako = named_shopper(app, &op, "山田花子").await;
    named_shopper(app, &op, "山田太郎").await;
    let (s, card) = app
        .post(
            &format!("/api/v1/programs/{points}/cards"),
            &op,
            json!({"shopper_id": hanako}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{card}");
    let number = card["number"].as_str().expect("number").to_owned();
    let spaced = format!(
        "{}%20{}%20{}%20{}",
        &number[0..4],
        &number[4..8],
        &number[8..12],
        &number[12..16]
    );
    for q in [number.clone(), spaced] {
        let (s, v) = app.get(&format!("/api/v1/shoppers?q={q}"), &op).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        assert_eq!(names(&v), ["山田花子"], "by card number {q}");
        assert_eq!(v[0]["id"], hanako.as_str());
    }
    // A number no card has finds nobody (and is never read as a name).
    let other = if number.ends_with('0') { "1" } else { "0" };
    let unknown = format!("{}{other}", &number[..15]);
    let (_, v) = app.get(&format!("/api/v1/shoppers?q={unknown}"), &op).await;
    assert_eq!(names(&v), Vec::<&str>::new());

    // Another city's staff do not find the card's holder.
    let foreign = machipay::features::directory::bootstrap_city(
        &app.app,
        "よその町".into(),
        "よその管理者".into(),
    )
    .await
    .expect("bootstrap")
    .token;
    let (_, v) = app
        .get(&format!("/api/v1/shoppers?q={number}"), &foreign)
        .await;
    assert_eq!(names(&v), Vec::<&str>::new());
}

/// A shopper with a password login (from a setup code); the session cookie it answered.
async fn with_login(app: &TestApp, op: &str, shopper: &str, login: &str) -> String {
    let code = setup_code(app, op, shopper).await;
    let (s, v, cookie) = set_up(app, &code, Some(login)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    cookie
}

async fn setup_code(app: &TestApp, op: &str, shopper: &str) -> String {
    let path = format!("/api/v1/principals/shopper/{shopper}/setup-codes");
    let (s, v) = app.post(&path, op, json!({})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["code"].as_str().expect("code").to_owned()
}

/// Redeems a setup code; the status, body and the session cookie (empty if none).
async fn set_up(app: &TestApp, code: &str, login: Option<&str>) -> (StatusCode, Value, String) {
    let body = json!({"code": code, "login": login, "password": PASSWORD});
    open_post(app, "/api/v1/setup", body).await
}

const PASSWORD: &str = "correct horse battery";

async fn open_post(app: &TestApp, path: &str, body: Value) -> (StatusCode, Value, String) {
    let resp = app
        .client
        .post(format!("{}{path}", app.base))
        .json(&body)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let cookie = resp
        .headers()
        .get_all(reqwest::header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|c| c.split(';').next())
        .filter(|c| c.starts_with("machipay_session="))
        .collect::<Vec<_>>()
        .join("; ");
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
        cookie,
    )
}

async fn me_by_cookie(app: &TestApp, cookie: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .get(format!("{}/api/v1/me", app.base))
        .header(reqwest::header::COOKIE, cookie)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

async fn audit_actions(app: &TestApp, op: &str, subject: &str) -> Vec<(String, Value)> {
    let (s, v) = app.get("/api/v1/audit-log?limit=200", op).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["subject_id"] == subject)
        .map(|e| (e["action"].as_str().expect("action").to_owned(), e.clone()))
        .collect()
}

async fn a_blocked_shopper_can_do_nothing_until_unblocked(app: &TestApp) {
    let (op_id, op) = app.staff("operator", "operator").await;
    let p = app.currency().await;
    let points = app.program("points", json!({})).await;
    let (merchant, owner) = app.merchant(&op).await;
    let (shopper, token) = app.shopper(&op).await;
    let (friend, friend_token) = app.shopper(&op).await;
    app.charge(&op, &p, &shopper, 5_000).await;
    app.charge(&op, &p, &friend, 1_000).await;
    let cookie = with_login(app, &op, &shopper, "hanako@example.jp").await;
    let (s, card) = app
        .post(
            &format!("/api/v1/programs/{points}/cards"),
            &op,
            json!({"shopper_id": shopper}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{card}");
    // A code the shopper showed before the block.
    let (s, shown) = app
        .post(
            &format!("/api/v1/programs/{p}/shopper-codes"),
            &token,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{shown}");

    // Who may block: operators and city admins; a viewer and the shopper may not; a reason.
    let path = format!("/api/v1/shoppers/{shopper}/block");
    let (_, viewer) = app.staff("city", "viewer").await;
    let why = json!({"reason": "カード紛失の届出"});
    assert_eq!(
        app.post(&path, &viewer, why.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        app.post(&path, &token, why.clone()).await.0,
        StatusCode::FORBIDDEN
    );
    let (s, v) = app.post(&path, &op, json!({"reason": " "})).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, Some("invalid_reason"))
    );
    let (s, v) = app.post(&path, &op, why.clone()).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["status"], "blocked");
    assert_eq!(v["blocked_reason"], "カード紛失の届出");
    assert_eq!(v["blocked_by"], op_id.as_str());
    // Again: answered as it is, nothing recorded twice.
    let (s, again) = app.post(&path, &op, why.clone()).await;
    assert_eq!(
        (s, &again["blocked_at"]),
        (StatusCode::OK, &v["blocked_at"])
    );

    // The bearer token and the session stop at once, with a named refusal.
    let (s, v) = app.get("/api/v1/me", &token).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, Some("shopper_blocked"))
    );
    let (s, v) = me_by_cookie(app, &cookie).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, Some("shopper_blocked"))
    );
    // Sign-in by password and by a setup code are refused; the code stays unused.
    let (s, v, c) = open_post(
        app,
        "/api/v1/sessions",
        json!({"login": "hanako@example.jp", "password": PASSWORD}),
    )
    .await;
    assert_eq!(
        (s, code(&v), c.as_str()),
        (StatusCode::FORBIDDEN, Some("shopper_blocked"), "")
    );
    let slip = setup_code(app, &op, &shopper).await;
    let (s, v, _) = set_up(app, &slip, None).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::FORBIDDEN, Some("shopper_blocked"))
    );

    // Nothing moves: pay, the till by the earlier code, a counter charge, a transfer to them,
    // the point card at a till.
    let blocked = |(s, v): (StatusCode, Value)| {
        assert_eq!(
            (s, code(&v)),
            (StatusCode::FORBIDDEN, Some("shopper_blocked")),
            "{v}"
        );
    };
    blocked(
        app.post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &token,
            json!({"merchant_id": merchant, "amount": 1_000}),
        )
        .await,
    );
    blocked(
        app.post_money(
            &format!("/api/v1/merchants/{merchant}/shopper-code-payments"),
            &owner,
            json!({"code": shown["code"], "amount": 1_000}),
        )
        .await,
    );
    blocked(
        app.post_money(
            &format!("/api/v1/programs/{p}/charges"),
            &op,
            json!({"shopper_id": shopper, "amount": 1_000}),
        )
        .await,
    );
    blocked(
        app.post_money(
            &format!("/api/v1/programs/{p}/transfers"),
            &friend_token,
            json!({"to_shopper_id": shopper, "amount": 500}),
        )
        .await,
    );
    blocked(
        app.post_money(
            &format!("/api/v1/merchants/{merchant}/point-earns"),
            &owner,
            json!({"program_id": points, "card_number": card["number"], "amount": 1_000}),
        )
        .await,
    );
    // Balances untouched, and staff still see them and the state.
    assert_eq!(app.wallet(&p, &shopper, "coin").await, 5_000);
    assert_eq!(app.wallet(&p, &friend, "coin").await, 1_000);
    assert_eq!(app.merchant_balance(&p, &merchant, "coin").await, 0);
    let (s, v) = app.get(&format!("/api/v1/shoppers/{shopper}"), &op).await;
    assert_eq!((s, &v["status"]), (StatusCode::OK, &json!("blocked")));
    let (_, found) = app
        .get(&format!("/api/v1/shoppers?q={shopper}"), &viewer)
        .await;
    assert_eq!(found[0]["status"], "blocked");

    // Unblock: everything works again, the earlier token and the setup code included.
    let unblock = format!("/api/v1/shoppers/{shopper}/unblock");
    let (s, v) = app
        .post(&unblock, &op, json!({"reason": "本人確認のうえ解除"}))
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (&v["status"], &v["blocked_at"]),
        (&json!("active"), &Value::Null)
    );
    assert_eq!(app.get("/api/v1/me", &token).await.0, StatusCode::OK);
    let (s, v) = app
        .post_money(
            &format!("/api/v1/programs/{p}/payments"),
            &token,
            json!({"merchant_id": merchant, "amount": 1_000}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    assert_eq!(app.wallet(&p, &shopper, "coin").await, 4_000);
    let (s, v, c) = set_up(app, &slip, None).await;
    assert_eq!(s, StatusCode::CREATED, "the slip was kept: {v}");
    assert_eq!(me_by_cookie(app, &c).await.0, StatusCode::OK);
    app.assert_ledger_ok(&p).await;

    // The audit log: one block and one unblock, who, why, before and after.
    let log = audit_actions(app, &op, &shopper).await;
    let kinds: Vec<&str> = log
        .iter()
        .map(|(a, _)| a.as_str())
        .filter(|a| a.starts_with("shopper_"))
        .collect();
    assert_eq!(
        kinds,
        ["shopper_unblocked", "shopper_blocked"],
        "newest first"
    );
    let (_, blocked_entry) = &log
        .iter()
        .find(|(a, _)| a == "shopper_blocked")
        .expect("entry");
    assert_eq!(blocked_entry["actor_id"], op_id.as_str());
    assert_eq!(blocked_entry["detail"]["reason"], "カード紛失の届出");
    assert_eq!(blocked_entry["detail"]["after"], "blocked");

    // Another city's staff: not found.
    let foreign = machipay::features::directory::bootstrap_city(
        &app.app,
        "よその町".into(),
        "よその管理者".into(),
    )
    .await
    .expect("bootstrap")
    .token;
    let (s, v) = app.post(&path, &foreign, why).await;
    assert_eq!((s, code(&v)), (StatusCode::NOT_FOUND, Some("not_found")));
}

async fn stores_are_searched_by_the_server(app: &TestApp) {
    let op = app.operator().await;
    let program = app.currency().await;
    // Three stores with profiles (by the CSV import: 店舗番号, name, kana) and one without.
    let csv = "店舗番号,店舗名,店舗名カナ,業種,商店会,地区,規模,住所,連絡先\r\n\
               S-001,山田精肉店,ヤマダセイニクテン,食料品,駅前商店会,駅前,small,駅前1-1,042-000-0001\r\n\
               S-002,やまだ書店,ヤマダショテン,書籍,,本町,small,本町2-2,042-000-0002\r\n\
               K-100,佐藤100%ストア,サトウストア,雑貨,,本町,medium,本町3-3,042-000-0003\r\n";
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/merchants/imports?program_id={program}&joined_on=2026-04-01",
            app.base
        ))
        .bearer_auth(&op)
        .header("Content-Type", "text/csv")
        .body(csv)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    assert!(
        status.is_success(),
        "{status} {}",
        resp.text().await.unwrap_or_default()
    );
    let (lone, _) = app.merchant(&op).await;

    let found = |q: &'static str| {
        let op = op.clone();
        async move {
            let (s, v) = app.get(&format!("/api/v1/merchants?q={q}"), &op).await;
            assert_eq!(s, StatusCode::OK, "{q}: {v}");
            let mut names: Vec<String> = v
                .as_array()
                .expect("array")
                .iter()
                .map(|m| m["name"].as_str().expect("name").to_owned())
                .collect();
            names.sort();
            names
        }
    };
    assert_eq!(
        found("%E5%B1%B1%E7%94%B0").await,
        ["山田精肉店"],
        "a part of the name"
    );
    assert_eq!(
        found("%E3%83%A4%E3%83%9E%E3%83%80").await,
        ["やまだ書店", "山田精肉店"],
        "kana: ヤマダ"
    );
    assert_eq!(
        found("%E3%82%84%E3%81%BE%E3%81%A0").await,
        ["やまだ書店", "山田精肉店"],
        "hiragana やまだ finds the kana"
    );
    assert_eq!(
        found("s-00").await,
        ["やまだ書店", "山田精肉店"],
        "店舗番号, case aside"
    );
    assert_eq!(found("%25").await, ["佐藤100%ストア"], "% is a character");
    assert_eq!(
        found("%E3%82%B9%E3%83%BC%E3%83%91%E3%83%BC").await,
        ["スーパー"],
        "a store without a profile, by name"
    );
    let (_, v) = app.get(&format!("/api/v1/merchants?q={lone}"), &op).await;
    assert_eq!(v[0]["id"], lone.as_str(), "by id");

    // Paged: a limit and the last id seen.
    let (_, first) = app.get("/api/v1/merchants?q=s-00&limit=1", &op).await;
    assert_eq!(first.as_array().map(Vec::len), Some(1));
    let after = first[0]["id"].as_str().expect("id");
    let (_, second) = app
        .get(
            &format!("/api/v1/merchants?q=s-00&limit=1&after={after}"),
            &op,
        )
        .await;
    assert_eq!(second.as_array().map(Vec::len), Some(1));
    assert_ne!(second[0]["id"], first[0]["id"]);
    let last = second[0]["id"].as_str().expect("id");
    let (_, none) = app
        .get(
            &format!("/api/v1/merchants?q=s-00&limit=1&after={last}"),
            &op,
        )
        .await;
    assert_eq!(none.as_array().map(Vec::len), Some(0));

    // Refusals, and another city's staff find none of these.
    let long = "あ".repeat(101);
    let (s, v) = app.get(&format!("/api/v1/merchants?q={long}"), &op).await;
    assert_eq!(
        (s, code(&v)),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    let (_, shopper) = app.shopper(&op).await;
    assert_eq!(
        app.get("/api/v1/merchants?q=x", &shopper).await.0,
        StatusCode::FORBIDDEN
    );
    let foreign = machipay::features::directory::bootstrap_city(
        &app.app,
        "よその町".into(),
        "よその管理者".into(),
    )
    .await
    .expect("bootstrap")
    .token;
    let (_, v) = app.get("/api/v1/merchants?q=s-00", &foreign).await;
    assert_eq!(v.as_array().map(Vec::len), Some(0), "{v}");
}

/// The newest entry of `action` about `subject`.
async fn entry(app: &TestApp, op: &str, subject: &str, action: &str) -> Value {
    audit_actions(app, op, subject)
        .await
        .into_iter()
        .find(|(a, _)| a == action)
        .unwrap_or_else(|| panic!("no {action} entry about {subject}"))
        .1
}

async fn the_audit_log_keeps_registry_and_card_changes(app: &TestApp) {
    use crate::registry::{bank, profile};
    let (op_id, op) = app.staff("operator", "operator").await;
    let p = app.currency().await;
    let points = app.program("points", json!({})).await;
    let (m, _) = app.merchant(&op).await;

    // A profile: first set (every field is new), then one field changed.
    let path = format!("/api/v1/merchants/{m}/profile");
    let first = profile("S-9", None, "食料品", "駅前", "small");
    assert_eq!(app.put(&path, &op, first).await.0, StatusCode::OK);
    let second = profile("S-9", None, "食料品", "本町", "small");
    assert_eq!(app.put(&path, &op, second).await.0, StatusCode::OK);
    let e = entry(app, &op, &m, "store_profile_changed").await;
    assert_eq!(e["actor_id"], op_id.as_str());
    assert_eq!(e["subject_kind"], "merchant");
    assert_eq!(e["detail"]["name"], "スーパー");
    assert_eq!(e["detail"]["fields"], json!(["district"]));
    assert_eq!(e["detail"]["before"], json!({"district": "駅前"}));
    assert_eq!(e["detail"]["after"], json!({"district": "本町"}));

    // A bank account, then another: masked before and after, never the whole number.
    let path = format!("/api/v1/merchants/{m}/bank-account");
    assert_eq!(app.put(&path, &op, bank("ｽ-ﾊﾟ-")).await.0, StatusCode::OK);
    let mut moved = bank("ｽ-ﾊﾟ-");
    moved["account_number"] = json!("7654321");
    assert_eq!(app.put(&path, &op, moved).await.0, StatusCode::OK);
    let e = entry(app, &op, &m, "bank_account_changed").await;
    assert_eq!(e["detail"]["before"]["masked"], "ﾐﾂｲｽﾐﾄﾓ ｼﾌﾞﾔ ••••567");
    assert_eq!(e["detail"]["after"]["masked"], "ﾐﾂｲｽﾐﾄﾓ ｼﾌﾞﾔ ••••321");
    let text = e.to_string();
    assert!(
        !text.contains("1234567") && !text.contains("7654321"),
        "{text}"
    );

    // Participation events.
    let path = format!("/api/v1/programs/{p}/merchants/{m}/participation-events");
    let (s, v) = app.post(&path, &op, json!({"kind": "joined"})).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = app
        .post(
            &path,
            &op,
            json!({"kind": "suspended", "reason": "規約違反の調査"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let e = entry(app, &op, &m, "participation_suspended").await;
    assert_eq!(e["detail"]["reason"], "規約違反の調査");
    assert_eq!(e["detail"]["program_id"], p.as_str());
    assert_eq!(e["detail"]["event_id"], v["id"]);
    entry(app, &op, &m, "participation_joined").await;

    // A card issued, blocked, and replaced: the number kept as its last four digits.
    let (shopper, _) = app.shopper(&op).await;
    let (s, card) = app
        .post(
            &format!("/api/v1/programs/{points}/cards"),
            &op,
            json!({"shopper_id": shopper}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{card}");
    let id = card["id"].as_str().expect("id");
    let number = card["number"].as_str().expect("number");
    let e = entry(app, &op, id, "card_issued").await;
    assert_eq!(
        e["detail"]["number"],
        format!("•••• •••• •••• {}", &number[12..])
    );
    assert_eq!(e["detail"]["shopper_id"], shopper.as_str());
    assert!(!e.to_string().contains(number));
    let (s, _) = app
        .post(&format!("/api/v1/cards/{id}/block"), &op, json!({}))
        .await;
    assert_eq!(s, StatusCode::OK);
    let e = entry(app, &op, id, "card_blocked").await;
    assert_eq!(
        (&e["detail"]["before"], &e["detail"]["after"]),
        (&json!("active"), &json!("blocked"))
    );
    let (s, r) = app
        .post_money(
            &format!("/api/v1/cards/{id}/replacements"),
            &op,
            json!({"reason": "紛失"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{r}");
    let e = entry(app, &op, id, "card_replaced").await;
    assert_eq!(e["detail"]["reason"], "紛失");
    assert_eq!(e["detail"]["new_card_id"], r["new_card"]["id"]);
}
