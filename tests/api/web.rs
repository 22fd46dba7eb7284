//! The web app's server side: the embedded files under /app/ (types, caching, nothing from
//! elsewhere), and the reads and images the pages rely on: a store's and a shopper's
//! activity, a payment request's QR image, the shopper code's QR.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    the_app_is_served_from_the_binary,
    activity_shows_takings_history_and_expiry,
    activity_names_the_other_side_and_the_refunded_part,
    payment_request_images_encode_the_request,
    the_demo_town_is_seeded,
);

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .expect("client");
    client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("sent")
}

async fn the_app_is_served_from_the_binary(app: &TestApp) {
    let root = fetch(app, "/").await;
    assert!(root.status().is_redirection());
    assert_eq!(root.headers()["location"], "/app/");
    for (path, kind) in [
        ("/app/", "text/html; charset=utf-8"),
        ("/app/merchant.html", "text/html; charset=utf-8"),
        ("/app/wallet.html", "text/html; charset=utf-8"),
        ("/app/city.html", "text/html; charset=utf-8"),
        ("/app/js/api.js", "text/javascript; charset=utf-8"),
        ("/app/css/app.css", "text/css; charset=utf-8"),
    ] {
        let r = fetch(app, path).await;
        assert_eq!(r.status(), StatusCode::OK, "{path}");
        assert_eq!(r.headers()["content-type"], kind, "{path}");
        assert_eq!(r.headers()["cache-control"], "no-cache");
        let csp = r.headers()["content-security-policy"]
            .to_str()
            .expect("csp");
        assert!(csp.starts_with("default-src 'self'"), "{csp}");
        let body = r.text().await.expect("body");
        assert!(!body.contains("://"), "{path} refers to another site");
    }
    let first = fetch(app, "/app/js/i18n.js").await;
    let etag = first.headers()["etag"].clone();
    let again = reqwest::Client::new()
        .get(format!("{}/app/js/i18n.js", app.base))
        .header("If-None-Match", etag)
        .send()
        .await
        .expect("sent");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    assert_eq!(
        fetch(app, "/app/nothing.js").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(
        fetch(app, "/app/../Cargo.toml").await.status(),
        StatusCode::NOT_FOUND
    );
    let jsqr = fetch(app, "/app/vendor/jsQR.LICENSE").await;
    assert_eq!(
        jsqr.status(),
        StatusCode::OK,
        "the vendored decoder's licence ships"
    );
}

async fn activity_shows_takings_history_and_expiry(app: &TestApp) {
    let op = app.operator().await;
    let program = app
        .program(
            "currency",
            json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000,
                   "expiry": {"rule": "months_from_issue_to_month_end", "months": 6}}),
        )
        .await;
    let (merchant, owner) = app.merchant(&op).await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.charge(&op, &program, &shopper, 5_000).await;
    let (s, req) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/payment-requests"),
            &owner,
            json!({"program_id": program, "amount": 1_200}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{req}");
    let (s, paid) = app
        .post_money(
            "/api/v1/qr/payments",
            &shopper_token,
            json!({"payload": req["payload"]}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{paid}");
    let (s, refund) = app
        .post_money(
            &format!("/api/v1/merchants/{merchant}/refunds"),
            &owner,
            json!({"transaction_id": paid["transaction_id"], "amount": 200, "reason": "返品"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{refund}");

    let (s, store) = app
        .get(&format!("/api/v1/merchants/{merchant}/activity"), &owner)
        .await;
    assert_eq!(s, StatusCode::OK, "{store}");
    let takings: i64 = store["today"]
        .as_array()
        .expect("today")
        .iter()
        .map(|t| t["amount"].as_i64().expect("amount"))
        .sum();
    assert_eq!(takings, 1_000, "payments less refunds: {store}");
    let kinds: Vec<&str> = entries(&store)
        .iter()
        .map(|e| e["kind"].as_str().expect("kind"))
        .collect();
    assert_eq!(kinds, ["refund", "payment"], "newest first: {store}");
    assert_eq!(entries(&store)[1]["transaction_id"], paid["transaction_id"]);

    let (s, mine) = app
        .get(
            &format!("/api/v1/shoppers/{shopper}/activity?limit=2"),
            &shopper_token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    let amounts: Vec<i64> = entries(&mine)
        .iter()
        .map(|e| e["amount"].as_i64().expect("n"))
        .collect();
    assert_eq!(amounts, [200, -1_200], "refund in, payment out: {mine}");
    let expiring = &mine["expiring"][0];
    assert_eq!(expiring["asset"], "coin");
    assert_eq!(expiring["amount"], 4_000, "{mine}");
    assert!(expiring["date"].as_str().is_some_and(|d| d.len() == 10));

    let (s, e) = app
        .get(
            &format!("/api/v1/shoppers/{shopper}/activity?limit=0"),
            &shopper_token,
        )
        .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(e["error"]["code"], "invalid_limit");
}

/// The history lines say who was on the other side (the store by name for a shopper, a
/// shopper for the store) and how much of a payment has come back, so the till offers a
/// refund only for what is left and marks 一部返金 / 返金済み.
async fn activity_names_the_other_side_and_the_refunded_part(app: &TestApp) {
    let op = app.operator().await;
    let program = app
        .program(
            "currency",
            json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000}),
        )
        .await;
    let (merchant, owner) = app.merchant(&op).await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.charge(&op, &program, &shopper, 5_000).await;
    let mut paid = Vec::new();
    for amount in [1_000, 300] {
        let (s, req) = app
            .post(
                &format!("/api/v1/merchants/{merchant}/payment-requests"),
                &owner,
                json!({"program_id": program, "amount": amount}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{req}");
        let (s, p) = app
            .post_money(
                "/api/v1/qr/payments",
                &shopper_token,
                json!({"payload": req["payload"]}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{p}");
        paid.push(p["transaction_id"].clone());
    }
    for amount in [250, 150] {
        let (s, r) = app
            .post_money(
                &format!("/api/v1/merchants/{merchant}/refunds"),
                &owner,
                json!({"transaction_id": paid[0], "amount": amount, "reason": "一部返品"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{r}");
    }

    let (s, store) = app
        .get(&format!("/api/v1/merchants/{merchant}/activity"), &owner)
        .await;
    assert_eq!(s, StatusCode::OK, "{store}");
    let line = |tx: &Value, kind: &str| {
        entries(&store)
            .iter()
            .find(|e| e["transaction_id"] == *tx && e["kind"] == kind)
            .cloned()
            .unwrap_or_else(|| panic!("no {kind} line for {tx}: {store}"))
    };
    let first = line(&paid[0], "payment");
    assert_eq!(
        (&first["refunded_yen"], &first["counterparty_kind"]),
        (&json!(400), &json!("shopper_wallet")),
        "two partial refunds summed, paid by a shopper: {first}"
    );
    assert_eq!(line(&paid[1], "payment")["refunded_yen"], 0);
    let refunds: Vec<&Value> = entries(&store)
        .iter()
        .filter(|e| e["kind"] == "refund")
        .collect();
    assert_eq!(refunds.len(), 2, "{store}");
    assert!(
        refunds
            .iter()
            .all(|r| r["refunded_yen"].is_null() && r["counterparty_kind"] == "shopper_wallet"),
        "a refund is no payment and goes to the shopper: {store}"
    );

    let (s, mine) = app
        .get(
            &format!("/api/v1/shoppers/{shopper}/activity"),
            &shopper_token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    let named: Vec<(&str, &str)> = entries(&mine)
        .iter()
        .filter(|e| e["kind"] != "charge")
        .map(|e| {
            (
                e["kind"].as_str().expect("kind"),
                e["store_name"].as_str().expect("a store's name"),
            )
        })
        .collect();
    assert_eq!(
        named,
        [
            ("refund", "スーパー"),
            ("refund", "スーパー"),
            ("payment", "スーパー"),
            ("payment", "スーパー")
        ],
        "{mine}"
    );
    let charge = entries(&mine)
        .iter()
        .find(|e| e["kind"] == "charge")
        .expect("the charge");
    assert!(charge["store_name"].is_null(), "{charge}");
    assert_eq!(charge["counterparty_kind"], "issuer_float", "{charge}");
}

fn entries(v: &Value) -> &Vec<Value> {
    v["entries"].as_array().expect("entries")
}

async fn payment_request_images_encode_the_request(app: &TestApp) {
    let op = app.operator().await;
    let program = app.currency().await;
    let (merchant, owner) = app.merchant(&op).await;
    let (_, shopper_token) = app.shopper(&op).await;
    let (_, req) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/payment-requests"),
            &owner,
            json!({"program_id": program, "amount": 300}),
        )
        .await;
    let base = format!(
        "{}/api/v1/merchants/{merchant}/payment-requests/{}/image",
        app.base,
        req["id"].as_str().expect("id")
    );
    let png = app
        .client
        .get(&base)
        .bearer_auth(&owner)
        .send()
        .await
        .expect("png");
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.expect("bytes");
    let img = image::load_from_memory(&bytes).expect("png").to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    let (_, text) = grids[0].decode().expect("decodes");
    assert_eq!(text, req["payload"].as_str().expect("payload"));
    let svg = app
        .client
        .get(format!("{base}?format=svg"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("svg");
    assert_eq!(svg.headers()["content-type"], "image/svg+xml");
    let poster = app
        .client
        .get(format!("{base}?format=poster"))
        .bearer_auth(&owner)
        .send()
        .await
        .expect("poster");
    assert_eq!(poster.status(), StatusCode::BAD_REQUEST);

    let (s, code) = app
        .post(
            &format!("/api/v1/programs/{program}/shopper-codes"),
            &shopper_token,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{code}");
    let svg = code["qr_svg"].as_str().expect("qr_svg");
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
}

async fn the_demo_town_is_seeded(app: &TestApp) {
    let town = machipay::demo::seed(&app.app)
        .await
        .expect("the demo seeds");
    assert_eq!(town.merchants.len(), machipay::demo::MERCHANTS);
    let (s, me) = app.get("/api/v1/me", &town.admin_token).await;
    assert_eq!(s, StatusCode::OK, "{me}");
    let (s, stores) = app
        .get("/api/v1/merchants?limit=200", &town.admin_token)
        .await;
    assert_eq!(s, StatusCode::OK, "{stores}");
    assert_eq!(
        stores.as_array().expect("list").len(),
        machipay::demo::MERCHANTS,
        "only the demo city's stores"
    );
    let program = town.program.0.to_string();
    let points = town.points_program.0.to_string();
    for p in [&program, &points] {
        let (s, check) = app
            .get(
                &format!("/api/v1/programs/{p}/ledger-check"),
                &town.admin_token,
            )
            .await;
        assert_eq!(s, StatusCode::OK);
        assert_eq!(check["ok"], true, "{check}");
        the_demo_store_report_meets_its_story(app, &town.admin_token, p).await;
    }
    the_demo_point_card_has_a_past(app, &town).await;
    let shopper = &town.shopper_tokens[0];
    let (_, me) = app.get("/api/v1/me", shopper).await;
    let (s, mine) = app
        .get(
            &format!(
                "/api/v1/shoppers/{}/activity",
                me["id"].as_str().expect("id")
            ),
            shopper,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{mine}");
    assert!(entries(&mine).len() >= 2, "a charge and payments: {mine}");
    let (s, enrolled) = app
        .request(
            "POST",
            "/api/v1/devices/enroll",
            None,
            None,
            Some(&json!({"code": town.enrollment_code})),
        )
        .await;
    assert_eq!(
        s,
        StatusCode::CREATED,
        "the printed one-time code enrolls a till: {enrolled}"
    );
    // The printed setup code of the first shopper sets a login and signs them in.
    let (s, signed) = app
        .request(
            "POST",
            "/api/v1/setup",
            None,
            None,
            Some(&json!({"code": town.setup_codes[0], "login": "demo@example.jp", "password": "demo password"})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{signed}");
    assert_eq!(
        signed["principal_id"], me["id"],
        "the first shopper: {signed}"
    );
    let text = machipay::demo::instructions(&town, "http://127.0.0.1:8080");
    eprintln!("{text}");
    assert!(text.contains("/app/merchant.html") && text.contains(&town.admin_token));
    assert!(text.contains("/app/signin.html") && text.contains(&town.setup_codes[1]));
}

/// Registered stores per 年度 end against the targets, as the demo's history was written.
async fn the_demo_store_report_meets_its_story(app: &TestApp, token: &str, program: &str) {
    let (s, r7) = app
        .get(
            &format!("/api/v1/programs/{program}/reports/stores?fiscal_year=R7"),
            token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{r7}");
    assert_eq!(r7["registered_at_end"], 111, "{r7}");
    assert_eq!(r7["target"], 110, "{r7}");
    assert_eq!(r7["left"], 1, "one store closed in 令和7");
    let trend: Vec<(i64, i64)> = r7["trend"]
        .as_array()
        .expect("trend")
        .iter()
        .map(|y| {
            (
                y["registered_at_end"].as_i64().expect("count"),
                y["target"].as_i64().expect("target"),
            )
        })
        .collect();
    assert_eq!(trend, [(96, 100), (104, 105), (111, 110)], "{r7}");
    let (s, r8) = app
        .get(&format!("/api/v1/programs/{program}/reports/stores"), token)
        .await;
    assert_eq!(s, StatusCode::OK, "{r8}");
    assert_eq!(
        r8["registered_at_end"], 112,
        "the suspended store still counts: {r8}"
    );
    assert_eq!(r8["target"], 115, "{r8}");
    let associations = r8["breakdowns"]["association"].as_array().expect("groups");
    assert_eq!(associations.len(), 6, "six 商店会: {r8}");
}

/// The first shopper's card holds points, and past 年度 have point and usage figures.
async fn the_demo_point_card_has_a_past(app: &TestApp, town: &machipay::demo::DemoTown) {
    let shopper = &town.shopper_tokens[0];
    let (_, me) = app.get("/api/v1/me", shopper).await;
    let id = me["id"].as_str().expect("id");
    let (s, cards) = app
        .get(&format!("/api/v1/shoppers/{id}/cards"), shopper)
        .await;
    assert_eq!(s, StatusCode::OK, "{cards}");
    let card = &cards.as_array().expect("cards")[0];
    assert_eq!(card["number"], town.card_number.as_str());
    assert!(card["balance"].as_i64().expect("balance") > 0, "{card}");
    let points = town.points_program.0;
    for year in ["R5", "R6", "R7", "R8"] {
        let (s, report) = app
            .get(
                &format!("/api/v1/programs/{points}/reports/points?fiscal_year={year}"),
                &town.admin_token,
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{report}");
        assert!(
            report["issued"].as_i64().expect("issued") > 1_000,
            "{year}: {report}"
        );
        assert!(
            report["redeemed"].as_i64().expect("redeemed") > 0,
            "{year}: {report}"
        );
    }
    let (s, usage) = app
        .get(
            &format!(
                "/api/v1/programs/{}/reports/usage?fiscal_year=R6",
                town.program.0
            ),
            &town.admin_token,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{usage}");
    assert!(
        usage.to_string().contains("\"2024-"),
        "monthly rows of 令和6: {usage}"
    );
}
