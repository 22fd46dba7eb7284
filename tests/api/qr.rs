//! QR payments: store codes, forged and altered codes, the payee from the server, revocation,
//! dynamic requests, shopper-presented codes, images, and the store's live events.

use machipay_domain::jpqr::{
    self, CodeId, Initiation, JpqrPayload, LocalLanguage, LocalName, Mcc, MerchantCity,
    MerchantName,
};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    a_store_code_pays_and_the_payee_comes_from_the_server,
    forged_altered_and_revoked_codes_are_refused,
    a_dynamic_request_is_paid_once_and_expires,
    a_shopper_code_works_once_for_its_store,
    store_code_images_are_real,
    store_codes_scan_in_zxing_and_rqrr_with_ascii_names_and_cities,
    revoked_codes_have_no_image_and_points_programs_have_no_codes,
    the_store_hears_of_its_own_payments_only,
    a_store_code_opens_the_stores_accounts_at_zero,
);

struct Shop {
    program: String,
    merchant: String,
    owner: String,
    shopper: String,
    shopper_token: String,
    op: String,
}

async fn shop(app: &TestApp) -> Shop {
    let op = app.operator().await;
    let program = app.currency().await;
    let (merchant, owner) = app.merchant(&op).await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.charge(&op, &program, &shopper, 10_000).await;
    Shop {
        program,
        merchant,
        owner,
        shopper,
        shopper_token,
        op,
    }
}

async fn issue(app: &TestApp, s: &Shop) -> Value {
    let (status, code) = app
        .post(
            &format!("/api/v1/merchants/{}/codes", s.merchant),
            &s.owner,
            json!({"program_id": s.program}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{code}");
    code
}

async fn device(app: &TestApp, merchant: &str, owner: &str) -> String {
    let (_, code) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/enrollment-codes"),
            owner,
            json!({"device_name": "レジ"}),
        )
        .await;
    let (status, d) = app
        .request(
            "POST",
            "/api/v1/devices/enroll",
            None,
            None,
            Some(&json!({"code": code["code"]})),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{d}");
    d["token"].as_str().expect("token").to_owned()
}

async fn a_store_code_pays_and_the_payee_comes_from_the_server(app: &TestApp) {
    let s = shop(app).await;
    let code = issue(app, &s).await;
    let payload = code["payload"].as_str().expect("payload");
    assert!(
        payload.starts_with("000201010211"),
        "static JPQR: {payload}"
    );
    assert!(payload.contains("5303392") && payload.contains("5802JP"));
    let (status, r) = app
        .post(
            "/api/v1/qr/resolve",
            &s.shopper_token,
            json!({"payload": payload}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(
        (r["kind"].as_str(), r["merchant_id"].as_str()),
        (Some("static"), Some(s.merchant.as_str()))
    );
    assert_eq!(r["merchant_name"], "スーパー");
    // A code that says another name in its text (signed with the real key, so it passes
    // every check) still shows the store's registered name.
    let key =
        machipay::features::qr::store::secret(&app.app.db, machipay::features::qr::store::QR_KEY)
            .await
            .expect("q")
            .expect("key");
    let code_id = code["code_id"].as_str().expect("code id");
    let lying = JpqrPayload {
        initiation: Initiation::Static,
        code_id: CodeId::new(code_id).expect("id"),
        merchant_category_code: Mcc::new("5411").expect("mcc"),
        merchant_name: MerchantName::new("FAKE SHOP").expect("name"),
        merchant_city: MerchantCity::new("NOWHERE").expect("city"),
        postal_code: None,
        local: Some(LocalLanguage {
            merchant_name: LocalName::new("偽の店").expect("name"),
            merchant_city: None,
        }),
    };
    let lying = jpqr::encode(&lying, &key);
    let (status, r) = app
        .post(
            "/api/v1/qr/resolve",
            &s.shopper_token,
            json!({"payload": lying}),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{r}");
    assert_eq!(r["merchant_name"], "スーパー");
    // Pay by the code: the amount is the shopper's to type.
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_amount"))
    );
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload, "amount": 1_234}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(
        app.merchant_balance(&s.program, &s.merchant, "coin").await,
        1_234
    );
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload, "amount": 9_000}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("insufficient_funds"))
    );
    app.assert_ledger_ok(&s.program).await;
}

async fn forged_altered_and_revoked_codes_are_refused(app: &TestApp) {
    let s = shop(app).await;
    let code = issue(app, &s).await;
    let payload = code["payload"].as_str().expect("payload").to_owned();
    let resolve = |p: String| {
        app.post(
            "/api/v1/qr/resolve",
            &s.shopper_token,
            json!({"payload": p}),
        )
    };
    // One character changed: the CRC no longer matches.
    let mut altered: Vec<char> = payload.chars().collect();
    altered[20] = if altered[20] == '9' { '8' } else { '9' };
    let (status, v) = resolve(altered.into_iter().collect()).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_code"))
    );
    // Signed with another key (a fraudster's own sticker): forged.
    let forged = JpqrPayload {
        initiation: Initiation::Static,
        code_id: CodeId::new(code["code_id"].as_str().expect("id")).expect("id"),
        merchant_category_code: Mcc::new("5411").expect("mcc"),
        merchant_name: MerchantName::new("FRAUD").expect("name"),
        merchant_city: MerchantCity::new("TOKYO").expect("city"),
        postal_code: None,
        local: None,
    };
    let (status, v) = resolve(jpqr::encode(&forged, &[7u8; 32])).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("forged_code"))
    );
    let (status, v) = resolve("hello".into()).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_code"))
    );
    // Revoked: refused; the reissued code works. Another store's owner cannot revoke it.
    let (_, other_owner) = app.merchant(&s.op).await;
    let revoke = format!(
        "/api/v1/merchants/{}/codes/{}",
        s.merchant,
        code["id"].as_str().expect("id")
    );
    let (status, _) = app
        .request("DELETE", &revoke, Some(&other_owner), None, None)
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = app
        .request("DELETE", &revoke, Some(&s.owner), None, None)
        .await;
    assert_eq!(status, StatusCode::OK);
    let (status, v) = resolve(payload.clone()).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code_revoked"))
    );
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload, "amount": 10}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code_revoked"))
    );
    let fresh = issue(app, &s).await;
    let (status, _) = resolve(fresh["payload"].as_str().expect("payload").into()).await;
    assert_eq!(status, StatusCode::OK);
    // Nothing moved.
    assert_eq!(app.wallet(&s.program, &s.shopper, "coin").await, 10_000);
}

async fn a_dynamic_request_is_paid_once_and_expires(app: &TestApp) {
    let s = shop(app).await;
    let till = device(app, &s.merchant, &s.owner).await;
    let requests = format!("/api/v1/merchants/{}/payment-requests", s.merchant);
    let (status, r) = app
        .post(
            &requests,
            &till,
            json!({"program_id": s.program, "amount": 2_500, "order_reference": "R-0001"}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{r}");
    let payload = r["payload"].as_str().expect("payload").to_owned();
    assert!(
        payload.starts_with("000201010212") && payload.contains("54042500"),
        "{payload}"
    );
    let (_, resolved) = app
        .post(
            "/api/v1/qr/resolve",
            &s.shopper_token,
            json!({"payload": payload}),
        )
        .await;
    assert_eq!(
        (resolved["kind"].as_str(), resolved["amount"].as_i64()),
        (Some("dynamic"), Some(2_500))
    );
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload, "amount": 2_000}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("amount_mismatch"))
    );
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": payload}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("code_already_used"))
    );
    let (_, state) = app
        .get(
            &format!("{requests}/{}", r["id"].as_str().expect("id")),
            &till,
        )
        .await;
    assert!(state["paid_transaction_id"].is_string(), "{state}");
    // An expired request: made to look five minutes old in the database.
    let (_, r2) = app
        .post(
            &requests,
            &till,
            json!({"program_id": s.program, "amount": 100}),
        )
        .await;
    let past = chrono::Utc::now() - chrono::Duration::minutes(6);
    let id = uuid::Uuid::parse_str(r2["id"].as_str().expect("id")).expect("uuid");
    match &app.app.db {
        machipay::db::Db::Pg(p, _) => {
            sqlx::query("UPDATE payment_requests SET expires_at = $1 WHERE id = $2")
                .bind(past)
                .bind(id)
                .execute(p)
                .await
                .map(|_| ())
        }
        machipay::db::Db::Lite { write, .. } => {
            sqlx::query("UPDATE payment_requests SET expires_at = $1 WHERE id = $2")
                .bind(past)
                .bind(id)
                .execute(write)
                .await
                .map(|_| ())
        }
    }
    .expect("aged");
    let (status, v) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": r2["payload"]}),
        )
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code_expired"))
    );
    assert_eq!(app.wallet(&s.program, &s.shopper, "coin").await, 7_500);
    app.assert_ledger_ok(&s.program).await;
}

async fn a_shopper_code_works_once_for_its_store(app: &TestApp) {
    let s = shop(app).await;
    let till = device(app, &s.merchant, &s.owner).await;
    let (other_merchant, other_owner) = app.merchant(&s.op).await;
    let other_till = device(app, &other_merchant, &other_owner).await;
    let (status, c) = app
        .post(
            &format!("/api/v1/programs/{}/shopper-codes", s.program),
            &s.shopper_token,
            json!({}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    let body = json!({"code": c["code"], "amount": 800});
    // A till of another store cannot act for this one.
    let (status, _) = app
        .post_money(
            &format!("/api/v1/merchants/{}/shopper-code-payments", s.merchant),
            &other_till,
            body.clone(),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let path = format!("/api/v1/merchants/{}/shopper-code-payments", s.merchant);
    let (status, v) = app.post_money(&path, &till, body.clone()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert!(
        v.get("balances").is_none(),
        "the till does not see the shopper's balances"
    );
    let (status, v) = app.post_money(&path, &till, body).await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("code_already_used"))
    );
    let (status, v) = app
        .post_money(&path, &till, json!({"code": "mpc_nonsense", "amount": 1}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("invalid_code"))
    );
    // A code older than a minute: aged in the database.
    let (_, late) = app
        .post(
            &format!("/api/v1/programs/{}/shopper-codes", s.program),
            &s.shopper_token,
            json!({}),
        )
        .await;
    let hash = machipay_domain::auth::hash_secret(late["code"].as_str().expect("code"));
    let past = chrono::Utc::now() - chrono::Duration::minutes(2);
    let sql = "UPDATE shopper_codes SET expires_at = $1 WHERE code_hash = $2";
    match &app.app.db {
        machipay::db::Db::Pg(p, _) => sqlx::query(sql)
            .bind(past)
            .bind(&hash)
            .execute(p)
            .await
            .map(|_| ()),
        machipay::db::Db::Lite { write, .. } => sqlx::query(sql)
            .bind(past)
            .bind(&hash)
            .execute(write)
            .await
            .map(|_| ()),
    }
    .expect("aged");
    let (status, v) = app
        .post_money(&path, &till, json!({"code": late["code"], "amount": 1}))
        .await;
    assert_eq!(
        (status, v["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("code_expired"))
    );
    assert_eq!(app.wallet(&s.program, &s.shopper, "coin").await, 9_200);
    assert_eq!(
        app.merchant_balance(&s.program, &s.merchant, "coin").await,
        800
    );
}

async fn store_code_images_are_real(app: &TestApp) {
    let s = shop(app).await;
    let code = issue(app, &s).await;
    let base = format!(
        "/api/v1/merchants/{}/codes/{}/image",
        s.merchant,
        code["id"].as_str().expect("id")
    );
    let get = |q: &'static str| {
        let url = format!("{}{base}{q}", app.base);
        let owner = s.owner.clone();
        async move {
            app.client
                .get(url)
                .bearer_auth(owner)
                .send()
                .await
                .expect("sent")
        }
    };
    let png = get("").await;
    assert_eq!(png.headers()["content-type"], "image/png");
    let bytes = png.bytes().await.expect("bytes");
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n");
    let svg = get("?format=svg").await.text().await.expect("svg");
    assert!(svg.contains("<svg") && svg.contains("</svg>"));
    let poster = get("?format=poster").await.text().await.expect("poster");
    assert!(
        poster.contains("スーパー") && poster.contains("210"),
        "A4 poster with the store name"
    );
    let bad = get("?format=gif").await;
    assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
}

/// Reads a PNG the way ZXing-based scanners (most Android phones) do (rxing is a port of
/// ZXing, character-set guessing included) and the way rqrr does; both texts are returned.
fn scan_both(png: &[u8]) -> (String, String) {
    let picture = image::load_from_memory_with_format(png, image::ImageFormat::Png)
        .expect("a PNG")
        .to_luma8();
    let (w, h) = picture.dimensions();
    let zxing = rxing::helpers::detect_in_luma(
        picture.as_raw().clone(),
        w,
        h,
        Some(rxing::BarcodeFormat::QR_CODE),
    )
    .expect("rxing reads the code")
    .getText()
    .to_owned();
    let mut prepared =
        rqrr::PreparedImage::prepare_from_greyscale(w as usize, h as usize, |x, y| {
            picture.get_pixel(x as u32, y as u32).0[0]
        });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one code in the picture");
    let rqrr = grids[0].decode().expect("rqrr reads the code").1;
    (zxing, rqrr)
}

/// Stores with Japanese names (imported with their readings) issue codes that both reader
/// families read exactly, whose CRC and signature verify, that resolve to the store and pay;
/// fields 59 and 60 carry the store's romanized reading and the program's ASCII city name.
async fn store_codes_scan_in_zxing_and_rqrr_with_ascii_names_and_cities(app: &TestApp) {
    let op = app.operator().await;
    let p = app
        .program(
            "currency",
            json!({"charge_step_yen": 1, "charge_min_yen": 1, "merchant_city_ascii": "MINAMI"}),
        )
        .await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.charge(&op, &p, &shopper, 10_000).await;
    let stores = [
        ("Q-1", "みどり青果店", "ミドリセイカテン", "MIDORISEIKATEN"),
        ("Q-2", "さくら書店", "サクラ ショテン", "SAKURA SHOTEN"),
        (
            "Q-3",
            "株式会社みなみ町中央商店街ホールディングス",
            "カブシキガイシャ ミナミチョウ チュウオウ ショウテンガイ",
            "KABUSHIKIGAISHA",
        ),
        (
            "Q-4",
            "ラーメン一番ー本店",
            "ラーメン イチバン ホンテン",
            "RAMEN ICHIBAN HONTEN",
        ),
    ];
    let mut file = "店舗番号,店舗名,店舗名カナ,業種,地区,規模,住所,連絡先\n".to_owned();
    for (r, name, kana, _) in &stores {
        file.push_str(&format!("{r},{name},{kana},小売,東,小,住所,042-0\n"));
    }
    let resp = app
        .client
        .post(format!(
            "{}/api/v1/merchants/imports?program_id={p}",
            app.base
        ))
        .bearer_auth(&op)
        .header("Content-Type", "text/csv")
        .body(file)
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let imported: Value = resp.json().await.expect("json");
    let key =
        machipay::features::qr::store::secret(&app.app.db, machipay::features::qr::store::QR_KEY)
            .await
            .expect("read")
            .expect("key");
    for (i, (_, name, _, ascii)) in stores.iter().enumerate() {
        let merchant = imported["stores"][i]["merchant_id"].as_str().expect("id");
        let owner = imported["stores"][i]["token"].as_str().expect("token");
        let (status, code) = app
            .post(
                &format!("/api/v1/merchants/{merchant}/codes"),
                owner,
                json!({"program_id": p}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{code}");
        let payload = code["payload"].as_str().expect("payload");
        assert!(
            payload.contains(&format!("59{:02}{ascii}6006MINAMI", ascii.len())),
            "{name}: {payload}"
        );
        let parsed = jpqr::decode(payload).expect("decodes");
        assert_eq!(
            parsed
                .payload()
                .local
                .as_ref()
                .map(|l| l.merchant_name.as_str()),
            Some(*name)
        );
        let image = format!(
            "/api/v1/merchants/{merchant}/codes/{}/image",
            code["id"].as_str().expect("id")
        );
        let (status, content_type, png) = app.get_bytes(&image, owner).await;
        assert_eq!(
            (status, content_type.as_str()),
            (StatusCode::OK, "image/png")
        );
        let (zxing, rqrr) = scan_both(&png);
        assert_eq!(zxing, payload, "rxing (ZXing) reads {name} exactly");
        assert_eq!(rqrr, payload, "rqrr reads {name} exactly");
        let scanned = jpqr::decode(&zxing).expect("the CRC checks out");
        jpqr::verify(&scanned, &key).expect("the signature checks out");
        // What the phone read resolves to the store, and pays it.
        let (status, r) = app
            .post(
                "/api/v1/qr/resolve",
                &shopper_token,
                json!({"payload": zxing}),
            )
            .await;
        assert_eq!(
            (status, r["merchant_name"].as_str()),
            (StatusCode::OK, Some(*name)),
            "{r}"
        );
        let (status, v) = app
            .post_money(
                "/api/v1/qr/payments",
                &shopper_token,
                json!({"payload": zxing, "amount": 100}),
            )
            .await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
    }
    assert_eq!(app.wallet(&p, &shopper, "coin").await, 10_000 - 400);
    // A store without a profile falls back to its name when it reads as kana ("スーパー").
    let (merchant, owner) = app.merchant(&op).await;
    let (_, code) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/codes"),
            &owner,
            json!({"program_id": p}),
        )
        .await;
    assert!(
        code["payload"]
            .as_str()
            .expect("payload")
            .contains("5904SUPA6006MINAMI"),
        "{code}"
    );
    // The ASCII city name is checked like every setting.
    let (status, e) = app
        .post(
            "/api/v1/programs",
            &app.admin,
            json!({"kind": "currency", "name": "x", "settings": {"merchant_city_ascii": "みなみ"}}),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{e}");
    app.assert_ledger_ok(&p).await;
}

/// A revoked code's PNG, SVG and poster are gone (410 `code_revoked`); a points program
/// takes no store codes or payment requests (`wrong_program_kind`).
async fn revoked_codes_have_no_image_and_points_programs_have_no_codes(app: &TestApp) {
    let s = shop(app).await;
    let code = issue(app, &s).await;
    let id = code["id"].as_str().expect("id");
    let image = format!("/api/v1/merchants/{}/codes/{id}/image", s.merchant);
    let (status, _, _) = app.get_bytes(&image, &s.owner).await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = app
        .request(
            "DELETE",
            &format!("/api/v1/merchants/{}/codes/{id}", s.merchant),
            Some(&s.owner),
            None,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    for format in ["", "?format=png", "?format=svg", "?format=poster"] {
        for token in [&s.owner, &s.op] {
            let (status, e) = app.get(&format!("{image}{format}"), token).await;
            assert_eq!(
                (status, e["error"]["code"].as_str()),
                (StatusCode::GONE, Some("code_revoked")),
                "{format}: {e}"
            );
        }
    }
    let points = app.program("points", json!({})).await;
    let (status, e) = app
        .post(
            &format!("/api/v1/merchants/{}/codes", s.merchant),
            &s.owner,
            json!({"program_id": points}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_program_kind")),
        "{e}"
    );
    let (status, e) = app
        .post(
            &format!("/api/v1/merchants/{}/payment-requests", s.merchant),
            &s.owner,
            json!({"program_id": points, "amount": 100}),
        )
        .await;
    assert_eq!(
        (status, e["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("wrong_program_kind")),
        "{e}"
    );
    let (_, codes) = app
        .get(&format!("/api/v1/merchants/{}/codes", s.merchant), &s.owner)
        .await;
    assert_eq!(
        codes.as_array().map(Vec::len),
        Some(1),
        "no code for the points program"
    );
}

async fn the_store_hears_of_its_own_payments_only(app: &TestApp) {
    let s = shop(app).await;
    let till = device(app, &s.merchant, &s.owner).await;
    let (other_merchant, other_owner) = app.merchant(&s.op).await;
    let other_till = device(app, &other_merchant, &other_owner).await;
    let open = |merchant: String, token: String| {
        let url = format!("{}/api/v1/merchants/{merchant}/events", app.base);
        async move {
            app.client
                .get(url)
                .bearer_auth(token)
                .send()
                .await
                .expect("sent")
        }
    };
    let mine = open(s.merchant.clone(), till.clone()).await;
    let theirs = open(other_merchant.clone(), other_till.clone()).await;
    assert_eq!(mine.status(), StatusCode::OK);
    // A till may not listen to another store.
    assert_eq!(
        open(s.merchant.clone(), other_till.clone()).await.status(),
        StatusCode::NOT_FOUND
    );
    let payments = format!("/api/v1/programs/{}/payments", s.program);
    let pay = |merchant: &str, amount: i64| {
        app.post_money(
            &payments,
            &s.shopper_token,
            json!({"merchant_id": merchant, "amount": amount}),
        )
    };
    let (_, paid_here) = pay(&s.merchant, 300).await;
    let (_, paid_there) = pay(&other_merchant, 200).await;
    let first_event = |resp: reqwest::Response| async move {
        use futures::StreamExt;
        let mut stream = resp.bytes_stream();
        let mut text = String::new();
        while !text.contains("\n\n") || !text.contains("data:") {
            let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), stream.next())
                .await
                .expect("an event arrives")
                .expect("stream open")
                .expect("chunk");
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
        let data = text
            .lines()
            .find_map(|l| l.strip_prefix("data:"))
            .expect("data line");
        serde_json::from_str::<Value>(data.trim()).expect("json")
    };
    let mine = first_event(mine).await;
    assert_eq!(mine["transaction_id"], paid_here["transaction_id"]);
    assert_eq!(mine["amount"], 300);
    let theirs = first_event(theirs).await;
    assert_eq!(
        theirs["transaction_id"], paid_there["transaction_id"],
        "the other store's first event is its own payment"
    );
}

/// Issuing a store's code for a program opens the store's accounts there, one per asset a
/// payment can be made in, at zero, so that its first payment opens none in the middle of a
/// batch (a write that would first write out every payment pending before it). Issuing a
/// second code opens nothing more; the first payment lands in them.
async fn a_store_code_opens_the_stores_accounts_at_zero(app: &TestApp) {
    let s = shop(app).await;
    let path = format!("/api/v1/merchants/{}/balances", s.merchant);
    let (status, before) = app.get(&path, &s.owner).await;
    assert_eq!(status, StatusCode::OK, "{before}");
    assert_eq!(before.as_array().map(Vec::len), Some(0), "{before}");
    let code = issue(app, &s).await;
    issue(app, &s).await;
    let (_, opened) = app.get(&path, &s.owner).await;
    let mut assets: Vec<(&str, i64)> = opened
        .as_array()
        .expect("list")
        .iter()
        .map(|a| {
            assert_eq!(a["program_id"].as_str(), Some(s.program.as_str()), "{a}");
            assert_eq!(a["kind"].as_str(), Some("merchant"), "{a}");
            (
                a["asset"].as_str().expect("asset"),
                a["balance"].as_i64().expect("balance"),
            )
        })
        .collect();
    assets.sort_unstable();
    assert_eq!(assets, vec![("coin", 0), ("points", 0), ("premium", 0)]);
    let (status, paid) = app
        .post_money(
            "/api/v1/qr/payments",
            &s.shopper_token,
            json!({"payload": code["payload"], "amount": 700}),
        )
        .await;
    assert_eq!(status, StatusCode::CREATED, "{paid}");
    let (_, after) = app.get(&path, &s.owner).await;
    let total: i64 = after
        .as_array()
        .expect("list")
        .iter()
        .map(|a| a["balance"].as_i64().expect("balance"))
        .sum();
    assert_eq!(
        (after.as_array().map(Vec::len), total),
        (Some(3), 700),
        "{after}"
    );
    app.assert_ledger_ok(&s.program).await;
}
