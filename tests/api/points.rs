//! The point card over HTTP: cards and their import, earning (rates, overrides, campaigns,
//! funding), spending at any store, returns, combined checkout, expiry, reports, bad input,
//! and the liability always equal to what the cards hold.

use chrono::{Days, Utc};
use machipay::features::expiry::expire;
use machipay::writer::rows::system_accounts;
use machipay_domain::calendar::jst_date;
use machipay_domain::card::CardNumber;
use machipay_domain::ids::ProgramId;
use machipay_domain::ledger::{AccountKind, Asset};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    earning_follows_rate_overrides_and_campaigns_and_spending_reimburses_the_store,
    prepaid_stock_pays_for_points_and_never_goes_negative,
    returns_claw_back_in_proportion_and_restore_spent_points,
    import_reports_every_bad_row_and_imports_nothing_until_the_file_is_clean,
    cards_link_block_replace_and_show_a_scannable_code,
    bad_till_input_is_refused_by_name_and_moves_nothing,
    expiry_after_last_use_and_per_grant_runs_once,
    combined_checkout_takes_points_and_coin_together_or_not_at_all,
    reports_per_year_and_store_as_json_and_csv,
    the_liability_always_equals_what_the_cards_hold,
    a_point_is_worth_what_the_program_says,
    a_suspended_store_neither_issues_nor_accepts_points,
    a_city_sized_import_is_written_in_jobs_and_completed_by_sending_it_again,
    twenty_concurrent_spends_of_a_card_never_overdraw_it,
    probes_at_the_till_and_on_cards_are_answered_by_name,
    an_operator_reversal_counts_against_the_store_in_the_report,
);

struct Setup {
    op: String,
    program: String,
    a: String,
    owner_a: String,
    device_a: String,
    b: String,
    owner_b: String,
    device_b: String,
}

async fn setup(app: &TestApp, settings: Value) -> Setup {
    let op = app.operator().await;
    let program = app.program("points", settings).await;
    let (a, owner_a) = app.merchant(&op).await;
    let (b, owner_b) = app.merchant(&op).await;
    let device_a = enroll(app, &a, &owner_a).await;
    let device_b = enroll(app, &b, &owner_b).await;
    Setup {
        op,
        program,
        a,
        owner_a,
        device_a,
        b,
        owner_b,
        device_b,
    }
}

async fn enroll(app: &TestApp, merchant: &str, owner: &str) -> String {
    app.enroll_device(merchant, owner).await["token"]
        .as_str()
        .expect("token")
        .to_owned()
}

/// Issues a card; returns (id, number).
async fn card(app: &TestApp, op: &str, program: &str, shopper: Option<&str>) -> (String, String) {
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{program}/cards"),
            op,
            json!({"shopper_id": shopper}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    (
        v["id"].as_str().expect("id").into(),
        v["number"].as_str().expect("number").into(),
    )
}

async fn till(
    app: &TestApp,
    token: &str,
    merchant: &str,
    what: &str,
    body: Value,
) -> (StatusCode, Value) {
    app.post_money(&format!("/api/v1/merchants/{merchant}/{what}"), token, body)
        .await
}

async fn earn(
    app: &TestApp,
    token: &str,
    merchant: &str,
    program: &str,
    number: &str,
    yen: i64,
) -> Value {
    let (s, v) = till(
        app,
        token,
        merchant,
        "point-earns",
        json!({"program_id": program, "card_number": number, "amount": yen}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v
}

async fn spend(
    app: &TestApp,
    token: &str,
    merchant: &str,
    program: &str,
    number: &str,
    points: i64,
) -> (StatusCode, Value) {
    till(
        app,
        token,
        merchant,
        "point-spends",
        json!({"program_id": program, "card_number": number, "amount": points}),
    )
    .await
}

async fn card_balance(app: &TestApp, id: &str) -> i64 {
    let (s, v) = app.get(&format!("/api/v1/cards/{id}"), &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["balance"].as_i64().expect("balance")
}

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or("")
}

async fn book(app: &TestApp, p: &str, kind: AccountKind) -> i64 {
    system_accounts(&app.app.db, ProgramId(p.parse().expect("id")))
        .await
        .expect("accounts")
        .iter()
        .filter(|a| a.kind == kind && a.asset == Asset::Points)
        .map(|a| a.balance)
        .sum()
}

async fn earning_follows_rate_overrides_and_campaigns_and_spending_reimburses_the_store(
    app: &TestApp,
) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (card_id, number) = card(app, &s.op, p, None).await;
    // Base rate 1 pt per ¥100, rounded down.
    let v = earn(app, &s.device_a, &s.a, p, &number, 1_299).await;
    assert_eq!(
        (v["points"].as_i64(), v["balance"].as_i64()),
        (Some(12), Some(12)),
        "{v}"
    );
    // Too small to earn: nothing moves.
    let v = earn(app, &s.device_a, &s.a, p, &number, 99).await;
    assert_eq!(
        (v["points"].as_i64(), v["transaction_id"].is_null()),
        (Some(0), true),
        "{v}"
    );
    // Store B earns 5 % by its own rate.
    let (st, v) = app
        .request(
            "PUT",
            &format!("/api/v1/programs/{p}/merchants/{}/point-rate", s.b),
            Some(&s.op),
            None,
            Some(&json!({"earn_rate": "0.05"})),
        )
        .await;
    assert_eq!(st, StatusCode::OK, "{v}");
    let v = earn(app, &s.device_b, &s.b, p, &number, 1_000).await;
    assert_eq!(v["points"], 50, "{v}");
    // A double-points week at store A only.
    let (st, v) = app
        .post_money(&format!("/api/v1/programs/{p}/point-campaigns"), &s.op,
            json!({"name": "倍ポイント", "multiplier": "2", "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "merchant_id": s.a}))
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let v = earn(app, &s.owner_a, &s.a, p, &number, 1_050).await;
    assert_eq!(v["points"], 21, "{v}");
    let v = earn(app, &s.device_b, &s.b, p, &number, 100).await;
    assert_eq!(v["points"], 5, "campaign is store A's only: {v}");
    assert_eq!(card_balance(app, &card_id).await, 12 + 50 + 21 + 5);
    // Billed: the issuing stores owe the points they issued.
    assert_eq!(app.merchant_balance(p, &s.a, "points").await, -33);
    assert_eq!(app.merchant_balance(p, &s.b, "points").await, -55);
    // Spent at store B (any member store): B is owed the value.
    let (st, v) = spend(app, &s.device_b, &s.b, p, &number, 30).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    assert_eq!(
        (v["yen_value"].as_i64(), v["balance"].as_i64()),
        (Some(30), Some(58)),
        "{v}"
    );
    assert_eq!(app.merchant_balance(p, &s.b, "points").await, -25);
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 59).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points"),
        "{v}"
    );
    let (st, _) = spend(app, &s.device_a, &s.a, p, &number, 58).await;
    assert_eq!(st, StatusCode::CREATED);
    assert_eq!(card_balance(app, &card_id).await, 0);
    app.assert_ledger_ok(p).await;
}

async fn prepaid_stock_pays_for_points_and_never_goes_negative(app: &TestApp) {
    let s = setup(app, json!({"points_funding": "prepaid_stock"})).await;
    let p = &s.program;
    let (_, number) = card(app, &s.op, p, None).await;
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-earns",
        json!({"program_id": p, "card_number": number, "amount": 1_000}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "point_stock_insufficient"),
        "{v}"
    );
    let (st, v) = app
        .post_money(
            &format!("/api/v1/merchants/{}/point-stock", s.a),
            &s.op,
            json!({"program_id": p, "amount": 15}),
        )
        .await;
    assert_eq!(
        (st, v["stock"].as_i64()),
        (StatusCode::CREATED, Some(15)),
        "{v}"
    );
    earn(app, &s.device_a, &s.a, p, &number, 1_000).await;
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-earns",
        json!({"program_id": p, "card_number": number, "amount": 600}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "point_stock_insufficient"),
        "{v}"
    );
    earn(app, &s.device_a, &s.a, p, &number, 500).await;
    assert_eq!(
        app.merchant_balance(p, &s.a, "points").await,
        -15,
        "the purchase is owed at settlement"
    );
    app.assert_ledger_ok(p).await;
}

async fn returns_claw_back_in_proportion_and_restore_spent_points(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (card_id, number) = card(app, &s.op, p, None).await;
    let e = earn(app, &s.device_a, &s.a, p, &number, 10_000).await; // 100 pt
    let earn_tx = e["transaction_id"].as_str().expect("id").to_owned();
    let ret = |amount: i64, who: &str, m: &str, tx: &str| {
        let body = json!({"transaction_id": tx, "amount": amount});
        let (who, m) = (who.to_owned(), m.to_owned());
        async move { till(app, &who, &m, "point-returns", body).await }
    };
    // Another store cannot return store A's purchase.
    let (st, _) = ret(1_000, &s.device_b, &s.b, &earn_tx).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // The card keeps the rate on what is still paid: floor(1 % of ¥6,667) = 66, so 34 go.
    let (st, v) = ret(3_333, &s.device_a, &s.a, &earn_tx).await;
    assert_eq!(
        (st, v["points"].as_i64()),
        (StatusCode::CREATED, Some(34)),
        "{v}"
    );
    let (st, v) = ret(3_334, &s.device_a, &s.a, &earn_tx).await;
    assert_eq!(v["points"], 33, "cumulative: 67 of 100 after ¥6,667: {v}");
    let (st2, v) = ret(3_334, &s.device_a, &s.a, &earn_tx).await;
    assert_eq!(
        (st, st2, code(&v)),
        (
            StatusCode::CREATED,
            StatusCode::UNPROCESSABLE_ENTITY,
            "return_exceeds_original"
        )
    );
    assert_eq!(card_balance(app, &card_id).await, 33);
    assert_eq!(app.merchant_balance(p, &s.a, "points").await, -33);
    // Spent points, refunded in part then in full, never above what was spent.
    let (_, sp) = spend(app, &s.device_b, &s.b, p, &number, 30).await;
    let spend_tx = sp["transaction_id"].as_str().expect("id").to_owned();
    let (st, v) = ret(10, &s.device_b, &s.b, &spend_tx).await;
    assert_eq!(
        (st, v["balance"].as_i64()),
        (StatusCode::CREATED, Some(13)),
        "{v}"
    );
    let (st, v) = ret(21, &s.device_b, &s.b, &spend_tx).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "return_exceeds_original")
    );
    // The rest of the purchase returned while only 13 are held: refused by default.
    let (st, v) = ret(3_333, &s.device_a, &s.a, &earn_tx).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "points_already_spent"),
        "{v}"
    );
    assert_eq!(card_balance(app, &card_id).await, 13);
    // A spend an operator reversed has nothing left to return.
    let (_, sp) = spend(app, &s.device_b, &s.b, p, &number, 4).await;
    let spend_tx = sp["transaction_id"].as_str().expect("id").to_owned();
    let (st, v) = app
        .post_money(
            &format!("/api/v1/transactions/{spend_tx}/reversals"),
            &s.op,
            json!({"reason": "二重打ち"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let (st, v) = ret(4, &s.device_b, &s.b, &spend_tx).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "already_reversed"),
        "{v}"
    );
    assert_eq!(card_balance(app, &card_id).await, 13);
    // Take-remaining: what is left is taken and the rest recorded as shortfall.
    let s2 = setup(app, json!({"clawback_shortfall": "take_remaining"})).await;
    let (c2, n2) = card(app, &s2.op, &s2.program, None).await;
    let e = earn(app, &s2.device_a, &s2.a, &s2.program, &n2, 5_000).await;
    let (st, _) = spend(app, &s2.device_a, &s2.a, &s2.program, &n2, 45).await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v) = till(
        app,
        &s2.device_a,
        &s2.a,
        "point-returns",
        json!({"transaction_id": e["transaction_id"], "amount": 5_000}),
    )
    .await;
    assert_eq!(
        (st, v["points"].as_i64(), v["shortfall_points"].as_i64()),
        (StatusCode::CREATED, Some(5), Some(45)),
        "{v}"
    );
    assert_eq!(card_balance(app, &c2).await, 0);
    app.assert_ledger_ok(p).await;
    app.assert_ledger_ok(&s2.program).await;
}

async fn import(app: &TestApp, op: &str, p: &str, csv: &str) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/programs/{p}/card-imports", app.base))
        .bearer_auth(op)
        .header("Content-Type", "text/csv")
        .body(csv.to_owned())
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    (status, resp.json().await.expect("json"))
}

async fn import_reports_every_bad_row_and_imports_nothing_until_the_file_is_clean(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (g1, g2, g3) = (
        CardNumber::generate(),
        CardNumber::generate(),
        CardNumber::generate(),
    );
    let (g1, g2, g3) = (g1.as_str(), g2.as_str(), g3.as_str());
    let mut bad_check: Vec<u8> = g3.as_bytes().to_vec();
    bad_check[15] = b'0' + (bad_check[15] - b'0' + 1) % 10;
    let bad_check = String::from_utf8(bad_check).expect("ascii");
    let tomorrow = jst_date(Utc::now()) + Days::new(1);
    let file = format!(
        "card_number,balance,last_used_on\n{g1},1200,2026-01-05\n{bad_check},10,\n{g2},-5,\n{g2},abc,2026-01-01\n\
         12345,1,\n{g3},300,{tomorrow}\n{g1},7,\n{g2},40\n"
    );
    let (st, v) = import(app, &s.op, p, &file).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "import_rejected"),
        "{v}"
    );
    let lines: Vec<i64> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .map(|x| x["line"].as_i64().expect("line"))
        .collect();
    assert_eq!(lines, vec![3, 4, 5, 6, 7, 8, 9], "{v}");
    assert!(
        v["problems"][0]["reason"]
            .as_str()
            .expect("reason")
            .contains("check digit"),
        "{v}"
    );
    let (st, v) = app
        .get(&format!("/api/v1/programs/{p}/reports/points"), &app.admin)
        .await;
    assert_eq!(
        (st, v["imported"].as_i64()),
        (StatusCode::OK, Some(0)),
        "nothing imported: {v}"
    );
    // The clean file imports; sending it again changes nothing.
    let clean =
        format!("card_number,balance,last_used_on\n{g1},1200,2026-01-05\n{g2},0,\n{g3},300,\n");
    let (st, v) = import(app, &s.op, p, &clean).await;
    assert_eq!(
        (st, v["imported"].as_u64(), v["points"].as_i64()),
        (StatusCode::CREATED, Some(3), Some(1_500)),
        "{v}"
    );
    let (st, v) = import(app, &s.op, p, &clean).await;
    assert_eq!(
        (st, v["imported"].as_u64(), v["already_imported"].as_u64()),
        (StatusCode::CREATED, Some(0), Some(3)),
        "{v}"
    );
    // A row contradicting an imported card is refused.
    let (st, v) = import(
        app,
        &s.op,
        p,
        &format!("card_number,balance,last_used_on\n{g1},999,\n"),
    )
    .await;
    assert_eq!(
        (st, v["problems"][0]["line"].as_i64()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some(2)),
        "{v}"
    );
    assert_eq!(book(app, p, AccountKind::PointsIssuance).await, -1_500);
    // Imported cards work at the till.
    let (st, v) = spend(app, &s.device_a, &s.a, p, g1, 200).await;
    assert_eq!(
        (st, v["balance"].as_i64()),
        (StatusCode::CREATED, Some(1_000)),
        "{v}"
    );
    // Only operators import, and only text/csv.
    let (st, _) = import(app, &s.owner_a, p, &clean).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    let (st, v) = app
        .post(
            &format!("/api/v1/programs/{p}/card-imports"),
            &s.op,
            json!({"csv": clean}),
        )
        .await;
    assert_eq!((st.as_u16(), code(&v)), (415, "unsupported_media_type"));
    app.assert_ledger_ok(p).await;
}

async fn cards_link_block_replace_and_show_a_scannable_code(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (x, xt) = app.shopper(&s.op).await;
    let (_, yt) = app.shopper(&s.op).await;
    let (card_id, number) = card(app, &s.op, p, None).await;
    // The shopper links the plastic card by its number.
    let (st, v) = app
        .post(
            &format!("/api/v1/programs/{p}/card-links"),
            &xt,
            json!({"card_number": number}),
        )
        .await;
    assert_eq!(
        (st, v["shopper_id"].as_str()),
        (StatusCode::CREATED, Some(x.as_str())),
        "{v}"
    );
    let (st, v) = app
        .post(
            &format!("/api/v1/programs/{p}/card-links"),
            &yt,
            json!({"card_number": number}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "card_linked_elsewhere")
    );
    let (st, v) = app.get(&format!("/api/v1/shoppers/{x}/cards"), &xt).await;
    assert_eq!(
        (st, v[0]["number"].as_str()),
        (StatusCode::OK, Some(number.as_str())),
        "{v}"
    );
    // The app shows the card as a QR code of its number.
    let resp = app
        .client
        .get(format!("{}/api/v1/cards/{card_id}/image", app.base))
        .bearer_auth(&xt)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.headers()["content-type"], "image/png");
    let png = resp.bytes().await.expect("bytes");
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    let resp = app
        .client
        .get(format!(
            "{}/api/v1/cards/{card_id}/image?format=svg",
            app.base
        ))
        .bearer_auth(&xt)
        .send()
        .await
        .expect("sent");
    assert!(resp.text().await.expect("text").contains("<svg"));
    let (st, _) = app.get(&format!("/api/v1/cards/{card_id}"), &yt).await;
    assert_eq!(
        st,
        StatusCode::NOT_FOUND,
        "another shopper does not see the card"
    );
    earn(app, &s.device_a, &s.a, p, &number, 5_000).await;
    // Blocked: the till refuses it.
    let (st, v) = app
        .post(
            &format!("/api/v1/cards/{card_id}/block"),
            &s.op,
            json!(null),
        )
        .await;
    assert_eq!(
        (st, v["status"].as_str()),
        (StatusCode::OK, Some("blocked")),
        "{v}"
    );
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 1).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_blocked")
    );
    // Replaced: the balance and the shopper move to a new number.
    let (st, v) = app
        .post_money(
            &format!("/api/v1/cards/{card_id}/replacements"),
            &s.op,
            json!({"reason": "紛失"}),
        )
        .await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    let new_id = v["new_card"]["id"].as_str().expect("id").to_owned();
    let new_number = v["new_card"]["number"].as_str().expect("number").to_owned();
    assert_eq!(
        (
            card_balance(app, &card_id).await,
            card_balance(app, &new_id).await
        ),
        (0, 50)
    );
    assert_eq!(v["new_card"]["shopper_id"].as_str(), Some(x.as_str()));
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 1).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_replaced")
    );
    let (st, _) = spend(app, &s.device_a, &s.a, p, &new_number, 50).await;
    assert_eq!(st, StatusCode::CREATED);
    app.assert_ledger_ok(p).await;
}

async fn bad_till_input_is_refused_by_name_and_moves_nothing(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (card_id, number) = card(app, &s.op, p, None).await;
    earn(app, &s.device_a, &s.a, p, &number, 1_000).await;
    // Unknown card (valid check digit, never issued) and a mistyped one.
    let unknown = CardNumber::generate();
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-earns",
        json!({"program_id": p, "card_number": unknown.as_str(), "amount": 100}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "unknown_card"),
        "{v}"
    );
    let mut typo = number.clone().into_bytes();
    typo[3] = b'0' + (typo[3] - b'0' + 1) % 10;
    let (st, v) = till(app, &s.device_a, &s.a, "point-earns", json!({"program_id": p, "card_number": String::from_utf8(typo).expect("ascii"), "amount": 100})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_card_number"),
        "{v}"
    );
    // Zero and negative amounts.
    for bad in [0, -100] {
        let (st, v) = till(
            app,
            &s.device_a,
            &s.a,
            "point-earns",
            json!({"program_id": p, "card_number": number, "amount": bad}),
        )
        .await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_amount"),
            "{v}"
        );
        let (st, v) = spend(app, &s.device_a, &s.a, p, &number, bad).await;
        assert_eq!(
            (st, code(&v)),
            (StatusCode::BAD_REQUEST, "invalid_amount"),
            "{v}"
        );
    }
    // A device of store B acting for store A: not found.
    let (st, _) = till(
        app,
        &s.device_b,
        &s.a,
        "point-earns",
        json!({"program_id": p, "card_number": number, "amount": 100}),
    )
    .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, _) = spend(app, &s.owner_b, &s.a, p, &number, 1).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    // A replayed scan: the same answer, nothing moves twice.
    let body = json!({"program_id": p, "card_number": number, "amount": 500});
    let path = format!("/api/v1/merchants/{}/point-earns", s.a);
    let (s1, v1) = app
        .request(
            "POST",
            &path,
            Some(&s.device_a),
            Some("scan-1"),
            Some(&body),
        )
        .await;
    let (s2, v2) = app
        .request(
            "POST",
            &path,
            Some(&s.device_a),
            Some("scan-1"),
            Some(&body),
        )
        .await;
    assert_eq!((s1, s2), (StatusCode::CREATED, StatusCode::CREATED));
    assert_eq!(v1, v2);
    let other = json!({"program_id": p, "card_number": number, "amount": 900});
    let (s3, v3) = app
        .request(
            "POST",
            &path,
            Some(&s.device_a),
            Some("scan-1"),
            Some(&other),
        )
        .await;
    assert_eq!(
        (s3, code(&v3)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused")
    );
    // Spending more than held.
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 16).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points")
    );
    assert_eq!(card_balance(app, &card_id).await, 15);
    assert_eq!(app.merchant_balance(p, &s.a, "points").await, -15);
    // A shopper cannot work the till.
    let (_, xt) = app.shopper(&s.op).await;
    let (st, _) = spend(app, &xt, &s.a, p, &number, 1).await;
    assert_eq!(st, StatusCode::FORBIDDEN);
    app.assert_ledger_ok(p).await;
}

async fn expiry_after_last_use_and_per_grant_runs_once(app: &TestApp) {
    let today = jst_date(Utc::now());
    // One year after the last earn or spend.
    let s = setup(
        app,
        json!({"expiry": {"rule": "months_after_last_change", "months": 12}}),
    )
    .await;
    let p = &s.program;
    let (old, fresh, used) = (
        CardNumber::generate(),
        CardNumber::generate(),
        CardNumber::generate(),
    );
    let long_ago = today - Days::new(800);
    let file = format!(
        "card_number,balance,last_used_on\n{},500,{long_ago}\n{},300,\n{},200,{long_ago}\n",
        old.as_str(),
        fresh.as_str(),
        used.as_str()
    );
    let (st, v) = import(app, &s.op, p, &file).await;
    assert_eq!(st, StatusCode::CREATED, "{v}");
    // A use today restarts the clock of the third card.
    earn(app, &s.device_a, &s.a, p, used.as_str(), 100).await;
    let run = expire(&app.app, today).await.expect("expiry");
    assert_eq!((run.points.wallets, run.points.amount), (1, 500), "{run}");
    let again = expire(&app.app, today).await.expect("expiry");
    assert_eq!(again.transactions(), 0, "a second run changes nothing");
    assert_eq!(book(app, p, AccountKind::Breakage).await, 500);
    let (_, v) = spend(app, &s.device_a, &s.a, p, old.as_str(), 1).await;
    assert_eq!(code(&v), "insufficient_points");
    app.assert_ledger_ok(p).await;
    // Per grant: each earn lasts to the end of the next month.
    let s = setup(
        app,
        json!({"expiry": {"rule": "months_from_issue_to_month_end", "months": 1}}),
    )
    .await;
    let (id, number) = card(app, &s.op, &s.program, None).await;
    earn(app, &s.device_a, &s.a, &s.program, &number, 2_000).await;
    let later = today + Days::new(70);
    let run = expire(&app.app, later).await.expect("expiry");
    assert_eq!(run.points.amount, 20, "{run}");
    assert_eq!(
        expire(&app.app, later)
            .await
            .expect("expiry")
            .transactions(),
        0
    );
    assert_eq!(card_balance(app, &id).await, 0);
    app.assert_ledger_ok(&s.program).await;
}

async fn combined_checkout_takes_points_and_coin_together_or_not_at_all(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let currency = app.currency().await;
    let (x, _) = app.shopper(&s.op).await;
    app.charge(&s.op, &currency, &x, 1_000).await;
    let (card_id, number) = card(app, &s.op, p, Some(&x)).await;
    earn(app, &s.device_a, &s.a, p, &number, 30_000).await; // 300 pt
    let body = |yen: i64| json!({"program_id": p, "card_number": number, "currency_program_id": currency, "amount": yen});
    // Points first (the default): 300 pt and ¥500 of coin for a ¥800 bill.
    let (st, v) = till(app, &s.device_b, &s.b, "point-checkouts", body(800)).await;
    assert_eq!(
        (st, v["points"]["points"].as_i64(), v["wallet_yen"].as_i64()),
        (StatusCode::CREATED, Some(300), Some(500)),
        "{v}"
    );
    assert_eq!(card_balance(app, &card_id).await, 0);
    assert_eq!(app.wallet(&currency, &x, "coin").await, 500);
    assert_eq!(app.merchant_balance(p, &s.b, "points").await, 300);
    assert_eq!(app.merchant_balance(&currency, &s.b, "coin").await, 500);
    // The wallet cannot cover the rest: neither part moves.
    earn(app, &s.device_a, &s.a, p, &number, 10_000).await; // 100 pt
    let (st, v) = till(app, &s.device_b, &s.b, "point-checkouts", body(700)).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_funds"),
        "{v}"
    );
    assert_eq!(card_balance(app, &card_id).await, 100);
    assert_eq!(app.wallet(&currency, &x, "coin").await, 500);
    // An unlinked card cannot be combined with a wallet.
    let (_, loose) = card(app, &s.op, p, None).await;
    let (st, v) = till(app, &s.device_b, &s.b, "point-checkouts", json!({"program_id": p, "card_number": loose, "currency_program_id": currency, "amount": 10})).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_not_linked")
    );
    app.assert_ledger_ok(p).await;
    app.assert_ledger_ok(&currency).await;
}

async fn reports_per_year_and_store_as_json_and_csv(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (_, number) = card(app, &s.op, p, None).await;
    let e = earn(app, &s.device_a, &s.a, p, &number, 20_000).await; // 200
    earn(app, &s.device_b, &s.b, p, &number, 10_000).await; // 100
    let (_, sp) = spend(app, &s.device_b, &s.b, p, &number, 150).await;
    till(
        app,
        &s.device_a,
        &s.a,
        "point-returns",
        json!({"transaction_id": e["transaction_id"], "amount": 5_000}),
    )
    .await; // -50
    till(
        app,
        &s.device_b,
        &s.b,
        "point-returns",
        json!({"transaction_id": sp["transaction_id"], "amount": 30}),
    )
    .await; // +30
    let (st, r) = app
        .get(&format!("/api/v1/programs/{p}/reports/points"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let fig = |k: &str| r[k].as_i64().expect(k);
    assert_eq!(
        (
            fig("issued"),
            fig("clawed_back"),
            fig("redeemed"),
            fig("refunded")
        ),
        (300, 50, 150, 30),
        "{r}"
    );
    assert_eq!(
        (fig("liability_start"), fig("liability_end")),
        (0, 130),
        "{r}"
    );
    assert_eq!(r["redemption_rate"], "0.48", "120 of 250: {r}");
    let store_b = r["stores"]
        .as_array()
        .expect("stores")
        .iter()
        .find(|x| x["merchant_id"] == s.b.as_str())
        .expect("store B")
        .clone();
    assert_eq!(
        (store_b["issued"].as_i64(), store_b["redeemed"].as_i64()),
        (Some(100), Some(150))
    );
    let resp = app
        .client
        .get(format!(
            "{}/api/v1/programs/{p}/reports/points?format=csv&fiscal_year={}",
            app.base, r["fiscal_year"]
        ))
        .bearer_auth(&app.admin)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let bytes = resp.bytes().await.expect("bytes");
    // For Excel: a BOM, Japanese headers, CRLF, as the currency and city reports.
    assert!(bytes.starts_with(b"\xEF\xBB\xBF"), "BOM");
    let text = String::from_utf8(bytes[3..].to_vec()).expect("utf-8");
    assert!(text.contains("\r\n"), "CRLF");
    let lines: Vec<&str> = text.lines().collect();
    assert_eq!(
        lines[0],
        "年度,店舗ID,付与ポイント,付与取消ポイント,利用ポイント,利用取消ポイント,失効ポイント,移行ポイント,期首未使用ポイント,期末未使用ポイント,回収率"
    );
    assert_eq!(lines.len(), 4, "{text}");
    assert!(
        lines[3].ends_with(",TOTAL,300,50,150,30,0,0,0,130,0.48"),
        "{text}"
    );
    // A store's statement, readable by the store.
    let (st, v) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{}/point-statement", s.b),
            &s.device_b,
        )
        .await;
    assert_eq!(
        (st, v["issued_net"].as_i64(), v["redeemed_net"].as_i64()),
        (StatusCode::OK, Some(100), Some(120)),
        "{v}"
    );
    assert_eq!(v["lines"].as_array().map(Vec::len), Some(3));
    let (st, _) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{}/point-statement", s.b),
            &s.owner_a,
        )
        .await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let resp = app
        .client
        .get(format!(
            "{}/api/v1/programs/{p}/merchants/{}/point-statement?format=csv",
            app.base, s.a
        ))
        .bearer_auth(&s.owner_a)
        .send()
        .await
        .expect("sent");
    let text = resp.text().await.expect("text");
    assert_eq!(text.lines().count(), 3, "{text}");
    let (st, v) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/points?fiscal_year=1999"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::BAD_REQUEST, "invalid_fiscal_year")
    );
}

/// A small deterministic generator, so a failure replays exactly.
struct Lcg(u64);

impl Lcg {
    fn next(&mut self, n: u64) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        (self.0 >> 33) % n
    }
}

async fn the_liability_always_equals_what_the_cards_hold(app: &TestApp) {
    let s = setup(app, json!({"clawback_shortfall": "take_remaining"})).await;
    let p = &s.program;
    let mut cards = Vec::new();
    for _ in 0..4 {
        cards.push(card(app, &s.op, p, None).await);
    }
    let stores = [(&s.a, &s.device_a), (&s.b, &s.device_b)];
    let mut earns: Vec<(String, usize)> = Vec::new();
    let mut spends: Vec<(String, usize)> = Vec::new();
    let mut rng = Lcg(0x6d61_6368_6970_6179);
    for step in 0..60 {
        let c = rng.next(cards.len() as u64) as usize;
        let st = rng.next(2) as usize;
        let (m, dev) = stores[st];
        let number = cards[c].1.clone();
        match rng.next(5) {
            0 | 1 => {
                let v = earn(app, dev, m, p, &number, 100 + rng.next(20_000) as i64).await;
                if let Some(t) = v["transaction_id"].as_str() {
                    earns.push((t.to_owned(), st));
                }
            }
            2 => {
                let (code_, v) = spend(app, dev, m, p, &number, 1 + rng.next(150) as i64).await;
                if code_ == StatusCode::CREATED {
                    spends.push((v["transaction_id"].as_str().expect("id").to_owned(), st));
                }
            }
            3 if !earns.is_empty() => {
                let (t, st) = earns[rng.next(earns.len() as u64) as usize].clone();
                let (m, dev) = stores[st];
                till(
                    app,
                    dev,
                    m,
                    "point-returns",
                    json!({"transaction_id": t, "amount": 1 + rng.next(5_000) as i64}),
                )
                .await;
            }
            _ if !spends.is_empty() => {
                let (t, st) = spends[rng.next(spends.len() as u64) as usize].clone();
                let (m, dev) = stores[st];
                till(
                    app,
                    dev,
                    m,
                    "point-returns",
                    json!({"transaction_id": t, "amount": 1 + rng.next(50) as i64}),
                )
                .await;
            }
            _ => {}
        }
        if step % 20 == 19 {
            // A replacement now and then: the balance moves, the liability does not.
            let (st, v) = app
                .post_money(
                    &format!("/api/v1/cards/{}/replacements", cards[c].0),
                    &s.op,
                    json!({"reason": "破損"}),
                )
                .await;
            assert_eq!(st, StatusCode::CREATED, "{v}");
            cards[c] = (
                v["new_card"]["id"].as_str().expect("id").into(),
                v["new_card"]["number"].as_str().expect("n").into(),
            );
        }
        if step % 10 == 9 {
            assert_liability(app, &s, &cards).await;
        }
    }
}

async fn assert_liability(app: &TestApp, s: &Setup, cards: &[(String, String)]) {
    let p = &s.program;
    let mut held = 0;
    for (id, _) in cards {
        held += card_balance(app, id).await;
    }
    // The books' side: what the issuance account, the stores and breakage hold against the cards.
    let books = book(app, p, AccountKind::PointsIssuance).await
        + book(app, p, AccountKind::Breakage).await
        + app.merchant_balance(p, &s.a, "points").await
        + app.merchant_balance(p, &s.b, "points").await;
    assert_eq!(
        -books, held,
        "liability on the books equals the cards' balances"
    );
    let (_, r) = app
        .get(&format!("/api/v1/programs/{p}/reports/points"), &app.admin)
        .await;
    assert_eq!(r["liability_end"].as_i64(), Some(held), "{r}");
    app.assert_ledger_ok(p).await;
}

async fn a_point_is_worth_what_the_program_says(app: &TestApp) {
    let s = setup(app, json!({"point_value_yen": "0.5"})).await;
    let p = &s.program;
    let currency = app.currency().await;
    let (x, _) = app.shopper(&s.op).await;
    app.charge(&s.op, &currency, &x, 1_000).await;
    let (_, number) = card(app, &s.op, p, Some(&x)).await;
    earn(app, &s.device_a, &s.a, p, &number, 30_000).await; // 300 pt
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 3).await;
    assert_eq!(
        (st, v["yen_value"].as_i64()),
        (StatusCode::CREATED, Some(1)),
        "rounded down: {v}"
    );
    // 297 pt pay ¥148 of an ¥800 bill; the wallet pays the other ¥652.
    let (st, v) = till(app, &s.device_b, &s.b, "point-checkouts",
        json!({"program_id": p, "card_number": number, "currency_program_id": currency, "amount": 800})).await;
    assert_eq!(
        (st, v["points"]["points"].as_i64(), v["wallet_yen"].as_i64()),
        (StatusCode::CREATED, Some(297), Some(652)),
        "{v}"
    );
    assert_eq!(app.wallet(&currency, &x, "coin").await, 348);
}

/// The participation history gates the till as it gates currency payments: a store suspended
/// in the point card program can neither award nor accept points, and nothing moves.
async fn a_suspended_store_neither_issues_nor_accepts_points(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let (id, number) = card(app, &s.op, &s.program, None).await;
    let joined = app
        .post(
            &format!(
                "/api/v1/programs/{}/merchants/{}/participation-events",
                s.program, s.a
            ),
            &s.op,
            json!({"kind": "joined", "effective_on": "2026-04-01"}),
        )
        .await;
    assert_eq!(joined.0, StatusCode::CREATED, "{}", joined.1);
    earn(app, &s.device_a, &s.a, &s.program, &number, 1_000).await;
    let suspended = app
        .post(
            &format!(
                "/api/v1/programs/{}/merchants/{}/participation-events",
                s.program, s.a
            ),
            &s.op,
            json!({"kind": "suspended", "reason": "調査中"}),
        )
        .await;
    assert_eq!(suspended.0, StatusCode::CREATED, "{}", suspended.1);
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-earns",
        json!({"program_id": s.program, "card_number": number, "amount": 1_000}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "merchant_not_participating"
        )
    );
    let (st, v) = spend(app, &s.device_a, &s.a, &s.program, &number, 5).await;
    assert_eq!(
        (st, code(&v)),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            "merchant_not_participating"
        )
    );
    assert_eq!(
        card_balance(app, &id).await,
        10,
        "only the earn before the suspension"
    );
    let (st, v) = spend(app, &s.device_b, &s.b, &s.program, &number, 5).await;
    assert_eq!(
        st,
        StatusCode::CREATED,
        "a store with no history still takes points: {v}"
    );
    assert_eq!(card_balance(app, &id).await, 5);
    app.assert_ledger_ok(&s.program).await;
}

/// `n` distinct valid card numbers.
fn numbers(n: usize) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    while seen.len() < n {
        seen.insert(CardNumber::generate().as_str().to_owned());
    }
    seen.into_iter().collect()
}

fn import_file(rows: &[String]) -> String {
    let mut f = String::from("card_number,balance,last_used_on\n");
    for (i, n) in rows.iter().enumerate() {
        f.push_str(&format!("{n},{},2026-01-05\n", i % 7));
    }
    f
}

async fn a_city_sized_import_is_written_in_jobs_and_completed_by_sending_it_again(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let all = numbers(9_001);
    let (cards, others) = all.split_at(5_000);
    let file = import_file(cards);
    assert!(file.len() > 64 * 1024, "bigger than the global body limit");
    let total: i64 = (0..5_000).map(|i| i % 7).sum();
    // A crash after the first 2,000 rows were written is what this first file leaves behind.
    let first = import_file(&cards[..2_000]);
    let (st, v) = import(app, &s.op, p, &first).await;
    assert_eq!(
        (st, v["imported"].as_u64()),
        (StatusCode::CREATED, Some(2_000)),
        "{v}"
    );
    // Sending the whole file (saved by Excel, with a BOM) completes it.
    let (st, v) = import(app, &s.op, p, &format!("\u{feff}{file}")).await;
    assert_eq!(
        (st, v["imported"].as_u64(), v["already_imported"].as_u64()),
        (StatusCode::CREATED, Some(3_000), Some(2_000)),
        "{v}"
    );
    let (st, v) = import(app, &s.op, p, &file).await;
    assert_eq!(
        (
            st,
            v["imported"].as_u64(),
            v["already_imported"].as_u64(),
            v["points"].as_i64()
        ),
        (StatusCode::CREATED, Some(0), Some(5_000), Some(0)),
        "{v}"
    );
    assert_eq!(book(app, p, AccountKind::PointsIssuance).await, -total);
    // 4,000 new rows and one bad one at the end: nothing of it is written.
    let mut bad = import_file(&others[..4_000]);
    bad.push_str(&format!("{},-1,\n", others[4_000]));
    bad.push_str(&format!("{},5,2026-01-05\n", cards[3]));
    let (st, v) = import(app, &s.op, p, &bad).await;
    let lines: Vec<u64> = v["problems"]
        .as_array()
        .expect("problems")
        .iter()
        .filter_map(|x| x["line"].as_u64())
        .collect();
    assert_eq!(
        (st, lines),
        (StatusCode::UNPROCESSABLE_ENTITY, vec![4_002, 4_003]),
        "{v}"
    );
    assert_eq!(book(app, p, AccountKind::PointsIssuance).await, -total);
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-earns",
        json!({"program_id": p, "card_number": others[0], "amount": 1_000}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::NOT_FOUND, "unknown_card"),
        "{v}"
    );
    // A file for a currency program is refused even when it would write nothing.
    let currency = app.currency().await;
    let (st, v) = import(app, &s.op, &currency, "card_number,balance,last_used_on\n").await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "wrong_program_kind"),
        "{v}"
    );
    // Every other route keeps the 64 KiB limit.
    let (st, _) = app
        .post(
            &format!("/api/v1/programs/{p}/cards"),
            &s.op,
            json!({"shopper_id": null, "pad": "x".repeat(70 * 1024)}),
        )
        .await;
    assert_eq!(st, StatusCode::PAYLOAD_TOO_LARGE);
    app.assert_ledger_ok(p).await;
}

async fn twenty_concurrent_spends_of_a_card_never_overdraw_it(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (id, number) = card(app, &s.op, p, None).await;
    earn(app, &s.device_a, &s.a, p, &number, 10_000).await;
    assert_eq!(card_balance(app, &id).await, 100);
    let answers =
        futures::future::join_all((0..20).map(|_| spend(app, &s.device_b, &s.b, p, &number, 10)))
            .await;
    let ok = answers
        .iter()
        .filter(|(st, _)| *st == StatusCode::CREATED)
        .count();
    let short = answers
        .iter()
        .filter(|(st, v)| {
            *st == StatusCode::UNPROCESSABLE_ENTITY && code(v) == "insufficient_points"
        })
        .count();
    assert_eq!((ok, short), (10, 10), "{answers:?}");
    assert_eq!(card_balance(app, &id).await, 0);
    assert_eq!(app.merchant_balance(p, &s.b, "points").await, 100);
    app.assert_ledger_ok(p).await;
}

async fn probes_at_the_till_and_on_cards_are_answered_by_name(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (x, _) = app.shopper(&s.op).await;
    let (y, _) = app.shopper(&s.op).await;
    let (id, number) = card(app, &s.op, p, Some(&x)).await;
    // A number typed at the till as printed, with spaces or hyphens, is the same card.
    let spaced = format!(
        "{} {} {} {}",
        &number[..4],
        &number[4..8],
        &number[8..12],
        &number[12..]
    );
    let v = earn(app, &s.device_a, &s.a, p, &spaced, 5_000).await;
    assert_eq!(v["card_id"].as_str(), Some(id.as_str()));
    let hyphened = spaced.replace(' ', "-");
    let (st, _) = spend(app, &s.device_a, &s.a, p, &hyphened, 1).await;
    assert_eq!(st, StatusCode::CREATED);
    // Huge, negative and mistyped amounts are refused by name; nothing moves.
    for amount in [
        json!(10_000_000_000_000_i64),
        json!(-5),
        json!(0),
        json!("100"),
        json!(1.5),
    ] {
        let (st, v) = till(
            app,
            &s.device_a,
            &s.a,
            "point-earns",
            json!({"program_id": p, "card_number": number, "amount": amount}),
        )
        .await;
        assert!(
            st.is_client_error() && !code(&v).is_empty(),
            "{amount}: {st} {v}"
        );
    }
    // ¥10^12 is a valid amount but no purchase at a till: refused before any rate applies
    // (with rate 1 and a 10× campaign it used to overflow the ledger's limit as a 500).
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-earns",
        json!({"program_id": p, "card_number": number, "amount": 1_000_000_000_000_i64}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "purchase_too_large"),
        "{v}"
    );
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 1_000_000_000_000).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "insufficient_points"),
        "{v}"
    );
    assert_eq!(card_balance(app, &id).await, 49);
    // An operator cannot silently move a linked card to another shopper.
    let (st, v) = app
        .post(
            &format!("/api/v1/programs/{p}/card-links"),
            &s.op,
            json!({"card_number": number, "shopper_id": y}),
        )
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "card_linked_elsewhere"),
        "{v}"
    );
    let (_, v) = app.get(&format!("/api/v1/cards/{id}"), &app.admin).await;
    assert_eq!(v["shopper_id"].as_str(), Some(x.as_str()));
    // Another store's transaction is not found; a return of a return is refused by name.
    let e = earn(app, &s.device_a, &s.a, p, &number, 1_000).await;
    let body = json!({"transaction_id": e["transaction_id"], "amount": 500});
    let (st, _) = till(app, &s.device_b, &s.b, "point-returns", body.clone()).await;
    assert_eq!(st, StatusCode::NOT_FOUND);
    let (st, r) = till(app, &s.device_a, &s.a, "point-returns", body).await;
    assert_eq!(st, StatusCode::CREATED, "{r}");
    let (st, v) = till(
        app,
        &s.device_a,
        &s.a,
        "point-returns",
        json!({"transaction_id": r["transaction_id"], "amount": 1}),
    )
    .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::CONFLICT, "not_refundable"),
        "{v}"
    );
    // A replayed key with another body is refused and moves nothing.
    let key = uuid::Uuid::now_v7().to_string();
    let path = format!("/api/v1/merchants/{}/point-spends", s.a);
    let body = |n: i64| json!({"program_id": p, "card_number": number, "amount": n});
    let (st, _) = app
        .request("POST", &path, Some(&s.device_a), Some(&key), Some(&body(2)))
        .await;
    assert_eq!(st, StatusCode::CREATED);
    let (st, v) = app
        .request("POST", &path, Some(&s.device_a), Some(&key), Some(&body(3)))
        .await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "idempotency_key_reused"),
        "{v}"
    );
    assert_eq!(card_balance(app, &id).await, 52);
    // A blocked card can be replaced; the balance moves and the old number is refused.
    let (st, _) = app
        .post(&format!("/api/v1/cards/{id}/block"), &s.op, json!({}))
        .await;
    assert_eq!(st, StatusCode::OK);
    let (st, v) = app
        .post_money(
            &format!("/api/v1/cards/{id}/replacements"),
            &s.op,
            json!({"reason": "紛失"}),
        )
        .await;
    assert_eq!(
        (st, v["new_card"]["balance"].as_i64()),
        (StatusCode::CREATED, Some(52)),
        "{v}"
    );
    let (st, v) = spend(app, &s.device_a, &s.a, p, &number, 1).await;
    assert_eq!(
        (st, code(&v)),
        (StatusCode::UNPROCESSABLE_ENTITY, "card_replaced"),
        "{v}"
    );
    app.assert_ledger_ok(p).await;
}

async fn an_operator_reversal_counts_against_the_store_in_the_report(app: &TestApp) {
    let s = setup(app, json!({})).await;
    let p = &s.program;
    let (_, number) = card(app, &s.op, p, None).await;
    let e = earn(app, &s.device_a, &s.a, p, &number, 10_000).await;
    let (_, sp) = spend(app, &s.device_b, &s.b, p, &number, 30).await;
    // The spend first: the earn can only be reversed while the card still holds it.
    for tx in [&sp["transaction_id"], &e["transaction_id"]] {
        let tx = tx.as_str().expect("id");
        let (st, v) = app
            .post_money(
                &format!("/api/v1/transactions/{tx}/reversals"),
                &s.op,
                json!({"reason": "誤操作"}),
            )
            .await;
        assert_eq!(st, StatusCode::CREATED, "{v}");
    }
    earn(app, &s.device_a, &s.a, p, &number, 2_000).await;
    let (st, r) = app
        .get(&format!("/api/v1/programs/{p}/reports/points"), &app.admin)
        .await;
    assert_eq!(st, StatusCode::OK, "{r}");
    let store = |m: &str| {
        r["stores"]
            .as_array()
            .expect("stores")
            .iter()
            .find(|x| x["merchant_id"] == m)
            .cloned()
            .unwrap_or_default()
    };
    assert_eq!(store(&s.a)["issued"].as_i64(), Some(20), "{r}");
    assert_eq!(store(&s.b)["redeemed"].as_i64(), Some(0), "{r}");
    assert_eq!(
        (r["issued"].as_i64(), r["liability_end"].as_i64()),
        (Some(20), Some(20)),
        "{r}"
    );
    // The stores' statements list the reversals and agree with the report.
    let (st, v) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{}/point-statement", s.a),
            &s.owner_a,
        )
        .await;
    let kinds: Vec<&str> = v["lines"]
        .as_array()
        .expect("lines")
        .iter()
        .filter_map(|l| l["kind"].as_str())
        .collect();
    assert_eq!(
        (st, kinds, v["issued_net"].as_i64()),
        (
            StatusCode::OK,
            vec!["earn", "reversal_of_earn", "earn"],
            Some(20)
        ),
        "{v}"
    );
    let (_, v) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{}/point-statement", s.b),
            &s.owner_b,
        )
        .await;
    assert_eq!(v["redeemed_net"].as_i64(), Some(0), "{v}");
    app.assert_ledger_ok(p).await;
}
