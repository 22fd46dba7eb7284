//! The merchant registry: applications and approval, profiles and bank accounts in Zengin
//! form, participation history gating payments, CSV import all-or-nothing and idempotent,
//! and audited targets.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    an_application_is_approved_into_a_store,
    bank_accounts_with_characters_a_bank_rejects_are_refused,
    participation_history_gates_payments,
    csv_import_is_all_or_nothing_and_idempotent,
    csv_import_takes_large_files_and_refuses_bad_uploads_by_name,
    a_resent_store_file_updates_profiles_and_never_rejoins_a_store_that_left,
    two_approvals_at_once_make_one_store,
    targets_are_set_per_fiscal_year_and_audited,
);

pub(crate) fn profile(
    external_ref: &str,
    association: Option<&str>,
    industry: &str,
    district: &str,
    size: &str,
) -> Value {
    json!({"external_ref": external_ref, "name_kana": "テスト", "industry": industry,
        "association": association, "district": district, "size_class": size,
        "address": "東京都あきる野市1-1", "contact": "042-000-0000"})
}

pub(crate) fn bank(holder: &str) -> Value {
    json!({"bank_code": "0009", "bank_name_kana": "ミツイスミトモ", "branch_code": "123",
        "branch_name_kana": "シブヤ", "account_type": "ordinary", "account_number": "1234567",
        "holder_kana": holder})
}

async fn merchant_count(app: &TestApp) -> usize {
    let (s, v) = app.get("/api/v1/merchants?limit=200", &app.admin).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v.as_array().expect("array").len()
}

/// Two operators approve the same application at the same moment: one store, one 409.
async fn two_approvals_at_once_make_one_store(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let before = merchant_count(app).await;
    let (s, a) = app
        .post(
            "/api/v1/merchant-applications",
            &op,
            json!({"name": "同時の店", "profile": profile("C-001", None, "飲食", "東", "small"), "program_id": p}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    let path = format!(
        "/api/v1/merchant-applications/{}/decision",
        a["id"].as_str().unwrap()
    );
    let body = json!({"decision": "approve"});
    let (one, two) = tokio::join!(
        app.post(&path, &op, body.clone()),
        app.post(&path, &app.admin, body)
    );
    let mut statuses = [one.0, two.0];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::OK, StatusCode::CONFLICT],
        "{} / {}",
        one.1,
        two.1
    );
    assert_eq!(merchant_count(app).await, before + 1);
    let store = if one.0 == StatusCode::OK {
        &one.1
    } else {
        &two.1
    };
    let m = store["merchant"]["id"].as_str().unwrap();
    let (_, h) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            &app.admin,
        )
        .await;
    assert_eq!(h.as_array().map(Vec::len), Some(1), "{h}");
}

async fn an_application_is_approved_into_a_store(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let before = merchant_count(app).await;
    let (s, a) = app
        .post(
            "/api/v1/merchant-applications",
            &op,
            json!({"name": "まちのパン屋", "profile": profile("A-001", Some("東町商店会"), "飲食", "東", "small"),
                   "bank_account": bank("カ)マチノパンヤ"), "program_id": p}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{a}");
    assert_eq!(a["status"], "pending");
    assert_eq!(a["bank_account"]["holder_kana"], "ｶ)ﾏﾁﾉﾊﾟﾝﾔ");
    // Nothing exists to pay until approval.
    assert_eq!(merchant_count(app).await, before);
    let path = format!(
        "/api/v1/merchant-applications/{}/decision",
        a["id"].as_str().unwrap()
    );
    let (s, e) = app.post(&path, &op, json!({"decision": "reject"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("missing_reason"))
    );
    let (s, d) = app
        .post(
            &path,
            &op,
            json!({"decision": "approve", "joined_on": "2025-04-01"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{d}");
    assert_eq!(d["application"]["status"], "approved");
    let merchant = d["merchant"]["id"].as_str().expect("store").to_owned();
    let owner = d["merchant"]["token"].as_str().expect("token").to_owned();
    let (s, e) = app.post(&path, &op, json!({"decision": "approve"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("application_decided"))
    );
    assert_eq!(merchant_count(app).await, before + 1);

    let (s, prof) = app
        .get(&format!("/api/v1/merchants/{merchant}/profile"), &owner)
        .await;
    assert_eq!(
        (s, prof["association"].as_str()),
        (StatusCode::OK, Some("東町商店会")),
        "{prof}"
    );
    let (s, acct) = app
        .get(
            &format!("/api/v1/merchants/{merchant}/bank-account"),
            &owner,
        )
        .await;
    assert_eq!(
        (s, acct["account_number"].as_str()),
        (StatusCode::OK, Some("1234567")),
        "{acct}"
    );
    let (s, h) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{merchant}/participation-events"),
            &owner,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{h}");
    assert_eq!(h[0]["kind"], "joined");
    assert_eq!(h[0]["effective_on"], "2025-04-01");
    let (s, list) = app.get("/api/v1/merchant-applications", &app.admin).await;
    assert_eq!(
        (s, list.as_array().map(Vec::len)),
        (StatusCode::OK, Some(1))
    );
}

async fn bank_accounts_with_characters_a_bank_rejects_are_refused(app: &TestApp) {
    let op = app.operator().await;
    let (m, owner) = app.merchant(&op).await;
    let path = format!("/api/v1/merchants/{m}/bank-account");
    for (holder, why) in [
        ("山田商店", "kanji"),
        ("ヤマダ&サン", "ampersand"),
        ("ヤマダ・タロウ", "middle dot"),
    ] {
        let (s, e) = app.put(&path, &op, bank(holder)).await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{why}: {e}");
        assert_eq!(e["error"]["code"], "invalid_bank_account", "{why}");
    }
    let mut short = bank("ヤマダ");
    short["account_number"] = json!("123456");
    let (s, e) = app.put(&path, &op, short).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_bank_account"))
    );
    // Nothing was written.
    let (s, _) = app.get(&path, &owner).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, v) = app.put(&path, &op, bank("ヤマダ　タロウ")).await;
    assert_eq!(
        (s, v["holder_kana"].as_str()),
        (StatusCode::OK, Some("ﾔﾏﾀﾞ ﾀﾛｳ")),
        "{v}"
    );
    // The owner reads it, its cashier devices do not.
    let (s, v) = app.get(&path, &owner).await;
    assert_eq!(
        (s, v["holder_kana"].as_str()),
        (StatusCode::OK, Some("ﾔﾏﾀﾞ ﾀﾛｳ"))
    );
}

async fn event(app: &TestApp, op: &str, p: &str, m: &str, body: Value) -> (StatusCode, Value) {
    app.post(
        &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
        op,
        body,
    )
    .await
}

async fn participation_history_gates_payments(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (m, _) = app.merchant(&op).await;
    let (legacy, _) = app.merchant(&op).await;
    let (shopper, token) = app.shopper(&op).await;
    app.charge(&op, &p, &shopper, 10_000).await;
    let pay = |merchant: String| {
        let token = token.clone();
        let p = p.clone();
        async move {
            app.post_money(
                &format!("/api/v1/programs/{p}/payments"),
                &token,
                json!({"merchant_id": merchant, "amount": 100}),
            )
            .await
        }
    };
    // No history: allowed (stores registered before the registry).
    assert_eq!(pay(legacy.clone()).await.0, StatusCode::CREATED);
    let (s, e) = event(app, &op, &p, &m, json!({"kind": "left"})).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_participation_event")
        )
    );
    let (s, e) = event(
        app,
        &op,
        &p,
        &m,
        json!({"kind": "joined", "effective_on": "2099-01-01"}),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("invalid_participation_event")
        )
    );
    assert_eq!(
        event(
            app,
            &op,
            &p,
            &m,
            json!({"kind": "joined", "effective_on": "2025-04-01"})
        )
        .await
        .0,
        StatusCode::CREATED
    );
    assert_eq!(pay(m.clone()).await.0, StatusCode::CREATED);
    let (s, e) = event(
        app,
        &op,
        &p,
        &m,
        json!({"kind": "suspended", "effective_on": "2025-03-01"}),
    )
    .await;
    assert_eq!(
        s,
        StatusCode::UNPROCESSABLE_ENTITY,
        "before the latest event: {e}"
    );
    let (s, _) = event(
        app,
        &op,
        &p,
        &m,
        json!({"kind": "suspended", "reason": "QR貼り替えの疑い"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED);
    let (s, e) = pay(m.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("merchant_not_participating")
        )
    );
    assert_eq!(
        event(app, &op, &p, &m, json!({"kind": "resumed"})).await.0,
        StatusCode::CREATED
    );
    assert_eq!(pay(m.clone()).await.0, StatusCode::CREATED);
    assert_eq!(
        event(app, &op, &p, &m, json!({"kind": "left", "reason": "閉店"}))
            .await
            .0,
        StatusCode::CREATED
    );
    let (s, e) = pay(m.clone()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNPROCESSABLE_ENTITY,
            Some("merchant_not_participating")
        )
    );
    // Refused payments moved nothing: 3 accepted payments of ¥100.
    assert_eq!(app.wallet(&p, &shopper, "coin").await, 10_000 - 300);
    let (_, h) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            &app.admin,
        )
        .await;
    let kinds: Vec<&str> = h
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert_eq!(kinds, ["joined", "suspended", "resumed", "left"]);
    app.assert_ledger_ok(&p).await;
}

/// Posts a store list as the raw file.
async fn import(app: &TestApp, op: &str, query: &str, file: Vec<u8>) -> (StatusCode, Value) {
    let resp = app
        .client
        .post(format!("{}/api/v1/merchants/imports{query}", app.base))
        .bearer_auth(op)
        .header("Content-Type", "text/csv")
        .body(file)
        .send()
        .await
        .expect("sent");
    let status = resp.status();
    let text = resp.text().await.expect("body");
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

const HEADER_JA: &str = "店舗番号,店舗名,店舗名カナ,業種,商店会,地区,規模,住所,連絡先,銀行コード,銀行名カナ,支店コード,支店名カナ,口座種別,口座番号,口座名義カナ";

const HEADER: &str = "external_ref,name,name_kana,industry,association,district,size_class,address,contact,bank_code,bank_name_kana,branch_code,branch_name_kana,account_type,account_number,holder_kana";

async fn csv_import_is_all_or_nothing_and_idempotent(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let before = merchant_count(app).await;
    let bad = format!(
        "{HEADER}\n\
         S-1,八百屋,ヤオヤ,小売,東町商店会,東,small,住所1,042-1,0009,ミツイスミトモ,123,シブヤ,ordinary,1234567,ヤオヤ\n\
         S-2,魚屋,サカナヤ,小売,,西,huge,住所2,042-2,,,,,,,\n\
         S-3,肉屋,ニクヤ,小売,,西,small,住所3,042-3,0009,ミツイスミトモ,123,シブヤ,ordinary,7654321,肉屋商店\n\
         S-1,重複,ジュウフク,小売,,西,small,住所4,042-4,,,,,,,\n"
    );
    let (s, e) = import(app, &op, &format!("?program_id={p}"), bad.into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "import_rejected");
    let lines: Vec<(u64, &str)> = e["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| (l["line"].as_u64().unwrap(), l["code"].as_str().unwrap()))
        .collect();
    assert_eq!(
        lines,
        [
            (3, "invalid_profile"),
            (4, "invalid_bank_account"),
            (5, "duplicate_external_ref")
        ]
    );
    assert_eq!(
        merchant_count(app).await,
        before,
        "nothing imported from a rejected file"
    );

    // Japanese headers and values, UTF-8 with a BOM, as Excel saves it.
    let good = format!(
        "\u{feff}{HEADER_JA}\r\n\
         S-1,八百屋,ヤオヤ,小売,東町商店会,東,小,住所1,042-1,0009,ミツイスミトモ,123,シブヤ,普通,1234567,ヤオヤ\r\n\
         S-2,魚屋,サカナヤ,小売,,西,中規模,住所2,042-2,,,,,,,\r\n"
    );
    let query = format!("?program_id={p}&joined_on=2024-04-01");
    let (s, r) = import(app, &op, &query, good.clone().into_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["created"].as_u64(), r["updated"].as_u64()),
        (Some(2), Some(0))
    );
    assert!(
        r["stores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["joined"] == true && s["token"].is_string())
    );
    let first = r["stores"][0]["merchant_id"].as_str().unwrap().to_owned();
    // A new store's owner token comes with its id, the one GET /me names for that token
    // (so DELETE /api/v1/tokens/{id} can revoke it).
    for st in r["stores"].as_array().unwrap() {
        let token = st["token"].as_str().expect("token");
        let token_id = st["token_id"].as_str().expect("token_id");
        let (s, me) = app.get("/api/v1/me", token).await;
        assert_eq!(s, StatusCode::OK, "{me}");
        assert_eq!(
            (me["token_id"].as_str(), me["merchant_id"].as_str()),
            (Some(token_id), st["merchant_id"].as_str()),
            "{me}"
        );
    }
    // The same list saved as Shift_JIS (no BOM) is the same file: nothing new.
    let (sjis, _, bad_chars) = encoding_rs::SHIFT_JIS.encode(good.trim_start_matches('\u{feff}'));
    assert!(!bad_chars);
    let (s, r) = import(app, &op, &query, sjis.into_owned()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(
        (r["created"].as_u64(), r["updated"].as_u64()),
        (Some(0), Some(2))
    );
    assert!(
        r["stores"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["joined"] == false && s["token_id"].is_null())
    );
    assert_eq!(r["stores"][0]["merchant_id"], first.as_str());
    assert_eq!(merchant_count(app).await, before + 2);
    let (_, h) = app
        .get(
            &format!("/api/v1/programs/{p}/merchants/{first}/participation-events"),
            &app.admin,
        )
        .await;
    assert_eq!(
        h.as_array().map(Vec::len),
        Some(1),
        "one join however often imported: {h}"
    );
    let (_, acct) = app
        .get(
            &format!("/api/v1/merchants/{first}/bank-account"),
            &app.admin,
        )
        .await;
    assert_eq!(acct["holder_kana"], "ﾔｵﾔ");
}

/// The city re-sends its store file after a store closed: with or without `joined_on` the
/// file is taken, profiles and names are updated from it, the closed store stays left and
/// takes no payment, a store new to the program still joins, and a bad file is refused with
/// the numbers of its bad lines.
async fn a_resent_store_file_updates_profiles_and_never_rejoins_a_store_that_left(app: &TestApp) {
    let op = app.operator().await;
    let p = app.currency().await;
    let (shopper, token) = app.shopper(&op).await;
    app.charge(&op, &p, &shopper, 10_000).await;
    let file = |name: &str, extra: &str| {
        format!(
            "{HEADER_JA}\n\
             R-1,{name},ミドリセイカテン,青果,,東,小,住所1,042-1,,,,,,,\n\
             R-2,さくら書店,サクラショテン,書店,,西,中,住所2,042-2,,,,,,,\n{extra}"
        )
        .into_bytes()
    };
    let with_date = format!("?program_id={p}&joined_on=2024-04-01");
    let (s, r) = import(app, &op, &with_date, file("みどり青果店", "")).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["created"].as_u64(), Some(2), "{r}");
    let closed = r["stores"][0]["merchant_id"].as_str().unwrap().to_owned();
    let open = r["stores"][1]["merchant_id"].as_str().unwrap().to_owned();
    let (s, e) = event(
        app,
        &op,
        &p,
        &closed,
        json!({"kind": "left", "reason": "閉店"}),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{e}");
    let pay = |merchant: String| {
        let (token, p) = (token.clone(), p.clone());
        async move {
            app.post_money(
                &format!("/api/v1/programs/{p}/payments"),
                &token,
                json!({"merchant_id": merchant, "amount": 100}),
            )
            .await
        }
    };
    let kinds = |m: String| {
        let p = p.clone();
        async move {
            let (_, h) = app
                .get(
                    &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
                    &app.admin,
                )
                .await;
            h.as_array()
                .expect("history")
                .iter()
                .map(|e| e["kind"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };

    // The same file again, renaming R-1, once with the original joined_on and once without.
    let renamed = "みどり青果店本店";
    for (query, first) in [
        (with_date.clone(), true),
        (format!("?program_id={p}"), false),
    ] {
        let (s, r) = import(app, &op, &query, file(renamed, "")).await;
        assert_eq!(s, StatusCode::OK, "{query}: {r}");
        assert_eq!(
            (r["created"].as_u64(), r["updated"].as_u64()),
            (Some(0), Some(2)),
            "{r}"
        );
        let stores = r["stores"].as_array().unwrap();
        assert_eq!(stores[0]["joined"], false, "{r}");
        assert_eq!(stores[0]["participation"], "left", "{r}");
        assert_eq!(stores[0]["renamed"], first, "{r}");
        assert_eq!(stores[1]["participation"], "joined", "{r}");
        assert_eq!(kinds(closed.clone()).await, ["joined", "left"], "{query}");
        let (s, e) = pay(closed.clone()).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (
                StatusCode::UNPROCESSABLE_ENTITY,
                Some("merchant_not_participating")
            ),
            "{query}"
        );
    }
    let (s, m) = app
        .get(&format!("/api/v1/merchants/{closed}"), &app.admin)
        .await;
    assert_eq!(
        (s, m["name"].as_str()),
        (StatusCode::OK, Some(renamed)),
        "{m}"
    );
    assert_eq!(pay(open.clone()).await.0, StatusCode::CREATED);
    assert_eq!(kinds(open.clone()).await, ["joined"]);

    // A store new to the program still joins through the file.
    let newcomer = "R-3,ひまわり食堂,ヒマワリショクドウ,飲食,,北,小,住所3,042-3,,,,,,,\n";
    let (s, r) = import(
        app,
        &op,
        &format!("?program_id={p}"),
        file(renamed, newcomer),
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["created"].as_u64(), Some(1), "{r}");
    assert_eq!(
        (
            r["stores"][2]["joined"].as_bool(),
            r["stores"][2]["participation"].as_str()
        ),
        (Some(true), Some("joined")),
        "{r}"
    );
    assert_eq!(r["stores"][0]["participation"], "left", "{r}");

    // Bad lines are refused by number, and nothing of the file is written.
    let bad = "R-4,,ナナシ,小売,,北,小,住所4,042-4,,,,,,,\nR-5,店,ミセ,小売,,北,特大,住所5,042-5,,,,,,,\n";
    let (s, e) = import(app, &op, &with_date, file("別の名前", bad)).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["error"]["code"], "import_rejected");
    let lines: Vec<u64> = e["lines"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l["line"].as_u64().unwrap())
        .collect();
    assert_eq!(lines, [4, 5], "{e}");
    let (_, m) = app
        .get(&format!("/api/v1/merchants/{closed}"), &app.admin)
        .await;
    assert_eq!(m["name"], renamed, "a refused file renames nothing");
    // A join date in the future is the query's fault, refused by name.
    let (s, e) = import(
        app,
        &op,
        &format!("?program_id={p}&joined_on=2999-01-01"),
        file(renamed, ""),
    )
    .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_joined_on")),
        "{e}"
    );
    assert_eq!(kinds(closed.clone()).await, ["joined", "left"]);
    app.assert_ledger_ok(&p).await;
}

/// A store list far over the 64 KiB limit of other routes is taken whole; a JSON body, a
/// file in neither UTF-8 nor Shift_JIS, a missing column and too many lines are refused by
/// name with nothing written.
async fn csv_import_takes_large_files_and_refuses_bad_uploads_by_name(app: &TestApp) {
    let op = app.operator().await;
    let before = merchant_count(app).await;
    let (s, e) = app
        .post("/api/v1/merchants/imports", &op, json!({"csv": HEADER}))
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Some("unsupported_media_type")
        )
    );
    let (s, e) = import(app, &op, "", b"\xff\xfe\x00garbage\x80\x80".to_vec()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_encoding")),
        "{e}"
    );
    let (s, e) = import(
        app,
        &op,
        "",
        "店舗番号,店舗名\nX-1,店\n".as_bytes().to_vec(),
    )
    .await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["lines"][0]["code"], "missing_column");
    let mut huge = format!("{HEADER}\n");
    for i in 0..5_001 {
        huge.push_str(&format!("H-{i},店,ミセ,小売,,北,small,住所,1,,,,,,,\n"));
    }
    let (s, e) = import(app, &op, "", huge.into_bytes()).await;
    assert_eq!(s, StatusCode::UNPROCESSABLE_ENTITY, "{e}");
    assert_eq!(e["lines"][0]["code"], "too_many_lines");
    let (s, e) = import(app, &op, "?program_id=nope", HEADER.as_bytes().to_vec()).await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
    assert_eq!(merchant_count(app).await, before, "nothing written");
    let mut big = format!("{HEADER_JA}\n");
    for i in 0..1_500 {
        big.push_str(&format!(
            "L-{i},長い名前の店{i},ナガイナマエノミセ,小売,駅前商店会,北,大,北町一丁目{i}番地の長い長い住所,042-000-{i:04},,,,,,,\n"
        ));
    }
    assert!(big.len() > 100 * 1024, "{}", big.len());
    let (s, r) = import(app, &op, "", big.into_bytes()).await;
    assert_eq!(s, StatusCode::OK, "{r}");
    assert_eq!(r["created"].as_u64(), Some(1_500));
    assert_eq!(r["stores"].as_array().map(Vec::len), Some(1_500));
}

async fn targets_are_set_per_fiscal_year_and_audited(app: &TestApp) {
    let p = app.currency().await;
    let op = app.operator().await;
    let path = |fy: &str| format!("/api/v1/programs/{p}/targets/{fy}");
    for (fy, stores, code) in [
        ("2099", 10, "target_year_out_of_range"),
        ("R0", 10, "invalid_fiscal_year"),
        ("2025", -5, "invalid_target"),
        ("2025", 1_000_000_000, "invalid_target"),
    ] {
        let (s, e) = app
            .put(&path(fy), &app.admin, json!({"stores": stores}))
            .await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(code)),
            "{fy} {stores}: {e}"
        );
    }
    let (_, t) = app
        .get(&format!("/api/v1/programs/{p}/targets"), &app.admin)
        .await;
    assert!(
        t.to_string().matches("fiscal_year").count() == 0,
        "nothing written: {t}"
    );
    let (s, t) = app
        .put(&path("令和7年度"), &app.admin, json!({"stores": 108}))
        .await;
    assert_eq!(
        (s, t["fiscal_year"].as_i64(), t["label"].as_str()),
        (StatusCode::OK, Some(2025), Some("令和7年度")),
        "{t}"
    );
    assert_eq!(
        app.put(&path("2025"), &app.admin, json!({"stores": 110}))
            .await
            .0,
        StatusCode::OK
    );
    assert_eq!(
        app.put(&path("R8"), &app.admin, json!({"stores": 115}))
            .await
            .0,
        StatusCode::OK
    );
    // Operators do not set the city's targets.
    assert_eq!(
        app.put(&path("2025"), &op, json!({"stores": 1})).await.0,
        StatusCode::FORBIDDEN
    );
    for bad in ["平成30年度", "20x5", "1999"] {
        let (s, e) = app.put(&path(bad), &app.admin, json!({"stores": 1})).await;
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some("invalid_fiscal_year")),
            "{bad}"
        );
    }
    let (s, all) = app
        .get(&format!("/api/v1/programs/{p}/targets"), &app.admin)
        .await;
    assert_eq!(s, StatusCode::OK);
    let current: Vec<(i64, i64)> = all["current"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| {
            (
                t["fiscal_year"].as_i64().unwrap(),
                t["stores"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(current, [(2025, 110), (2026, 115)]);
    assert_eq!(
        all["history"].as_array().map(Vec::len),
        Some(3),
        "every change is kept: {all}"
    );
}
