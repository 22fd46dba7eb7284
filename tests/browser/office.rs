//! The back office in a browser: an operator signs in with the setup code a city admin issued,
//! is told next to the button (in Japanese, announced) that a rejection needs a reason,
//! approves a store's application, runs yesterday's settlement cycle, reviews its statements,
//! and is shown that a second person confirms; a second operator signs in on another browser,
//! confirms the payouts, downloads the 全銀 file (120-byte Shift_JIS records, the bank's
//! layout, parsed back) and reads the audit log of who did what. A city viewer sees none of the
//! buttons. At the counter the operator finds a shopper by a card number typed with spaces,
//! blocks them with a reason (refused without one, next to the button), sees the state and
//! the balance kept, and unblocks them; the store registry is searched by the server (kana,
//! store number). Phone size (390 px, no horizontal overflow) and a desktop window in English.
//! Screenshots of each step land in target/browser-artifacts/.

use std::path::Path;

use fantoccini::{Client, ClientBuilder, Locator};
use machipay_domain::zengin::{RECORD_LEN, RECORD_LEN_WITH_CRLF, parse_sogo_furikomi};
use serde_json::{Value, json};

use super::{Driver, TestApp, click, scenario, type_into, visible, wait_text, wait_true};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_operator_approves_runs_and_a_second_confirms_a_settlement() {
    scenario(|app, driver| Box::pin(back_office(app, driver))).await;
}

const PASSWORD: &str = "office password 2026";

/// Saves a screenshot to target/browser-artifacts/<name>.png.
async fn shot(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

/// Scrolls the element to the middle of the screen, then saves a screenshot.
async fn shot_at(c: &Client, css: &str, name: &str) {
    c.execute(
        &format!("document.querySelector('{css}').scrollIntoView({{block: 'center'}})"),
        vec![],
    )
    .await
    .expect("scrolls");
    shot(c, name).await;
}

/// The page is no wider than the phone's screen (nothing scrolls sideways).
async fn fits_the_phone(c: &Client, step: &str) {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .expect("widths");
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "{step}: the page is wider than the screen: {widths}"
    );
}

/// A desktop-sized browser (no phone emulation).
async fn desktop(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": driver.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--lang=ja", "--window-size=1280,1000"],
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// A staff member of `kind`/`role` with a setup code from the city admin: (id, code).
async fn staff_with_setup_code(app: &TestApp, kind: &str, role: &str) -> (String, String) {
    let (id, _) = app.staff(kind, role).await;
    let (s, code) = app
        .post(
            &format!("/api/v1/principals/staff/{id}/setup-codes"),
            &app.admin,
            json!({}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{code}");
    (id, code["code"].as_str().expect("code").to_owned())
}

/// Redeems a setup code on the sign-in page and lands on the back office.
async fn sign_in_with_code(app: &TestApp, b: &Client, code: &str, login: &str, step: &str) {
    b.goto(&format!("{}/app/signin.html?next=office.html", app.base))
        .await
        .expect("sign-in page opens");
    type_into(b, "#setup-code", code).await;
    type_into(b, "#setup-login", login).await;
    type_into(b, "#setup-password", PASSWORD).await;
    shot(b, step).await;
    click(b, "#setup-submit").await;
    wait_true(b, "return location.pathname.endsWith('/office.html')").await;
    visible(b, "#office-who").await;
}

/// A program closing daily with a payout sender; a store that joined long ago with a bank
/// account and ¥4,000 of takings yesterday (JST); a pending application. Returns the program.
async fn town(app: &TestApp, op: &str) -> String {
    let program = app
        .program(
            "currency",
            json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000,
                "closing_days": [], "cashout_fee_rate": "0.01", "payout_hold_days": 0,
                "payout_sender": {"code": "0123456789", "name_kana": "カ)マチペイ", "bank_code": "0005",
                    "bank_name_kana": "ミツビシユーエフジェイ", "branch_code": "001", "branch_name_kana": "ホンテン",
                    "account_type": "current", "account_number": "1234567"}}),
        )
        .await;
    let (store, _) = app.merchant(op).await;
    let (s, v) = app
        .put(
            &format!("/api/v1/merchants/{store}/bank-account"),
            op,
            json!({"bank_code": "0009", "bank_name_kana": "ミツイスミトモ", "branch_code": "123",
                "branch_name_kana": "シブヤ", "account_type": "ordinary", "account_number": "7654321",
                "holder_kana": "カ)スーパーマチ"}),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{program}/merchants/{store}/participation-events"),
            op,
            json!({"kind": "joined", "effective_on": "2025-11-01"}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    let yesterday =
        (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive() - chrono::Duration::days(1);
    let (shopper, token) = app.shopper(op).await;
    let at = |hour: u32| format!("{yesterday}T{hour:02}:00:00+09:00");
    app.backdated_charge(&program, &shopper, 10_000, &at(9))
        .await;
    app.backdated_payment(&program, &token, &store, 4_000, &at(12))
        .await;
    let (s, v) = app
        .post(
            "/api/v1/merchant-applications",
            op,
            json!({"name": "やまびこ食堂", "program_id": program,
                "profile": {"external_ref": "B-201", "name_kana": "ヤマビコショクドウ", "industry": "飲食",
                    "association": "駅前商店会", "district": "中央", "size_class": "small",
                    "address": "東京都あきる野市2-2", "contact": "042-111-2222"}}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    program
}

/// Captures the blobs the page downloads (api.js `download()` makes one per file).
const CAPTURE_BLOBS: &str = "window.__blobs = []; const make = URL.createObjectURL; \
    URL.createObjectURL = (b) => { window.__blobs.push(b); return make(b); };";

async fn last_blob(c: &Client) -> Vec<u8> {
    wait_true(c, "return window.__blobs.length > 0").await;
    let bytes = c
        .execute(
            "return window.__blobs[window.__blobs.length - 1].arrayBuffer() \
             .then(b => Array.from(new Uint8Array(b)))",
            vec![],
        )
        .await
        .expect("blob bytes");
    bytes
        .as_array()
        .expect("bytes")
        .iter()
        .map(|b| u8::try_from(b.as_u64().expect("byte")).expect("a byte"))
        .collect()
}

async fn back_office(app: &TestApp, driver: &Driver) {
    let (_, setup_a) = staff_with_setup_code(app, "operator", "operator").await;
    let (_, setup_b) = staff_with_setup_code(app, "operator", "admin").await;
    let op = app.operator().await;
    let program = town(app, &op).await;

    // The first operator signs in on a phone with the setup code.
    let a = driver.session().await;
    sign_in_with_code(
        app,
        &a,
        &setup_a,
        "tanaka@city.example.jp",
        "office-01-setup-code",
    )
    .await;
    wait_text(&a, "#office-who", "事務局の職員").await;
    let pending = wait_text(&a, "#application-list", "やまびこ食堂").await;
    assert!(pending.contains("飲食"), "{pending}");
    fits_the_phone(&a, "applications").await;
    shot(&a, "office-02-applications").await;

    // Rejecting without a reason is refused next to the button, in Japanese, announced.
    click(&a, "#application-list .reject").await;
    let said = wait_text(&a, "#application-list .notice.err", "理由を入力").await;
    assert!(!said.contains("reason"), "{said}");
    let live = a
        .execute(
            "const m = document.querySelector('#application-list .notice.err'); \
             return [m.getAttribute('aria-live'), m.getAttribute('role'), \
                     m.previousElementSibling.classList.contains('reject')]",
            vec![],
        )
        .await
        .expect("attributes");
    assert_eq!(live, json!(["assertive", "alert", true]));
    shot_at(
        &a,
        "#application-list .notice.err",
        "office-03-reject-needs-reason",
    )
    .await;

    // Approving registers the store.
    click(&a, "#application-list .approve").await;
    wait_text(&a, "#applications-msg", "承認しました").await;
    let (_, stores) = app.get("/api/v1/merchants?limit=200", &op).await;
    assert!(
        stores
            .as_array()
            .expect("stores")
            .iter()
            .any(|m| m["name"] == "やまびこ食堂"),
        "{stores}"
    );
    shot_at(&a, "#applications-msg", "office-04-approved").await;

    // The other parts, each at phone width: the store just approved in the registry, the
    // program's settings history, campaigns, cards, a shopper found by name with the balance.
    click(&a, "#office-nav [data-section=stores]").await;
    wait_text(&a, "#store-list", "やまびこ食堂").await;
    a.execute(
        "[...document.querySelectorAll('#store-list button')].find(b => b.textContent === 'やまびこ食堂').click()",
        vec![],
    )
    .await
    .expect("opens the store");
    wait_text(&a, "#store-profile", "B-201").await;
    wait_text(&a, "#store-events", "参加").await;
    fits_the_phone(&a, "stores").await;
    shot_at(&a, "#store-detail", "office-04b-store-registry").await;
    // The server searches the registry: kana typed in hiragana, then a store number.
    for (q, step) in [
        ("やまびこ", "office-04b2-store-search-kana"),
        ("b-201", "office-04b3-store-search-number"),
    ] {
        a.execute(
            "document.getElementById('store-detail').hidden = true",
            vec![],
        )
        .await
        .expect("closes the store");
        a.find(Locator::Css("#store-q"))
            .await
            .expect("box")
            .clear()
            .await
            .expect("cleared");
        type_into(&a, "#store-q", q).await;
        click(&a, "#store-search button").await;
        wait_text(&a, "#store-profile", "B-201").await;
        let listed = a
            .execute("return [...document.querySelectorAll('#store-list button')].map(b => b.textContent)", vec![])
            .await
            .expect("list");
        assert_eq!(listed, json!(["やまびこ食堂"]), "{q}");
        fits_the_phone(&a, step).await;
        shot_at(&a, "#store-search", step).await;
    }
    click(&a, "#office-nav [data-section=programs]").await;
    wait_text(&a, "#settings-rows", "締め日 毎日").await;
    fits_the_phone(&a, "programs").await;
    shot(&a, "office-04c-settings-history").await;
    click(&a, "#office-nav [data-section=campaigns]").await;
    wait_text(&a, "#lottery-box", "抽選販売のキャンペーンはありません").await;
    fits_the_phone(&a, "campaigns").await;
    shot_at(&a, "#premium-form", "office-04d-campaigns").await;
    click(&a, "#office-nav [data-section=cards]").await;
    visible(&a, "#card-import").await;
    fits_the_phone(&a, "cards").await;
    shot(&a, "office-04e-cards").await;
    click(&a, "#office-nav [data-section=shoppers]").await;
    type_into(&a, "#shopper-q", "山田").await;
    click(&a, "#shopper-search button").await;
    click(&a, "#shopper-list button").await;
    wait_text(&a, "#shopper-balances", "¥6,000").await;
    wait_text(&a, "#shopper-history", "支払い").await;
    fits_the_phone(&a, "shoppers").await;
    shot_at(&a, "#shopper-detail", "office-04f-shopper-support").await;
    shopper_block_steps(app, &a, &op).await;

    // Yesterday's cycle: the form offers yesterday; the run is made and waits for a second person.
    click(&a, "#office-nav [data-section=settlement]").await;
    visible(&a, "#run-form").await;
    click(&a, "#run-submit").await;
    wait_text(&a, "#run-msg", "実行しました").await;
    let run = wait_text(&a, "#run-list", "確定待ち").await;
    assert!(run.contains("¥3,960"), "¥4,000 less the 1 % fee: {run}");
    wait_text(&a, "#run-list", "別の職員が行います").await;
    let offered = a
        .execute(
            "return document.querySelectorAll('#run-list .confirm-run').length",
            vec![],
        )
        .await
        .expect("count");
    assert_eq!(
        offered,
        json!(0),
        "the runner is not offered the confirmation"
    );
    fits_the_phone(&a, "settlement").await;
    shot_at(
        &a,
        "#run-list .notice.info",
        "office-05-run-waits-for-second-person",
    )
    .await;
    click(&a, "#run-list .review").await;
    wait_text(&a, "#statement-rows", "¥3,960").await;
    wait_text(&a, "#statement-rows", "支払い").await;
    shot_at(&a, "#statements-box", "office-06-statements").await;

    // The server holds the rule too: the runner's own confirmation is refused.
    let (runs_status, runs) = app
        .get(&format!("/api/v1/programs/{program}/settlement-runs"), &op)
        .await;
    assert_eq!(runs_status.as_u16(), 200);
    let run_id = runs[0]["id"].as_str().expect("run").to_owned();
    let refused: Value = a
        .execute(
            &format!(
                "const c = document.cookie.split('; ').find(x => x.startsWith('machipay_csrf=')).slice(14); \
                 return fetch('/api/v1/programs/{program}/settlement-runs/{run_id}/confirm', \
                 {{method: 'POST', headers: {{'Content-Type': 'application/json', 'X-CSRF-Token': c, \
                 'Idempotency-Key': 'k-runner'}}, body: '{{}}'}}).then(r => r.json())"
            ),
            vec![],
        )
        .await
        .expect("confirm");
    assert_eq!(
        refused["error"]["code"], "second_person_required",
        "{refused}"
    );

    // A second operator confirms on another browser, then downloads the transfer file.
    let b = driver.session().await;
    sign_in_with_code(
        app,
        &b,
        &setup_b,
        "suzuki@city.example.jp",
        "office-07-second-signs-in",
    )
    .await;
    click(&b, "#office-nav [data-section=settlement]").await;
    wait_text(&b, "#run-list", "確定待ち").await;
    shot_at(
        &b,
        "#run-list .confirm-run",
        "office-08-second-sees-confirm",
    )
    .await;
    click(&b, "#run-list .confirm-run").await;
    b.accept_alert()
        .await
        .expect("the confirmation is accepted");
    wait_text(&b, "#runs-msg", "確定しました").await;
    wait_text(&b, "#run-list", "支払い確定済み").await;
    fits_the_phone(&b, "confirmed").await;
    shot_at(&b, "#run-list", "office-09-confirmed").await;
    let (_, runs) = app
        .get(&format!("/api/v1/programs/{program}/settlement-runs"), &op)
        .await;
    assert_eq!(runs[0]["status"], "paid", "{runs}");
    assert_ne!(runs[0]["confirmed_by"], runs[0]["created_by"]);

    b.execute(CAPTURE_BLOBS, vec![]).await.expect("capture");
    click(&b, "#run-list .zengin").await;
    let file = last_blob(&b).await;
    assert_eq!(
        file.len(),
        4 * RECORD_LEN_WITH_CRLF,
        "header, one transfer, trailer, end"
    );
    for record in file.chunks(RECORD_LEN_WITH_CRLF) {
        assert_eq!(&record[RECORD_LEN..], b"\r\n");
    }
    let kinds: Vec<u8> = file.chunks(RECORD_LEN_WITH_CRLF).map(|r| r[0]).collect();
    assert_eq!(kinds, b"1289");
    // 依頼人名 ｶ)ﾏﾁﾍﾟｲ as JIS X 0201 (Shift_JIS half-width kana) bytes.
    assert_eq!(&file[14..21], &[0xB6, b')', 0xCF, 0xC1, 0xCD, 0xDF, 0xB2]);
    let parsed = parse_sogo_furikomi(&file).expect("the bank's layout");
    assert_eq!(
        (parsed.transfers.len(), parsed.total_yen),
        (1, 3_960),
        "{parsed:?}"
    );
    shot_at(&b, "#run-list .zengin", "office-10-zengin-downloaded").await;

    // The audit log names who ran and who confirmed.
    click(&b, "#office-nav [data-section=audit]").await;
    let log = wait_text(&b, "#audit-rows", "精算を確定").await;
    assert!(
        log.contains("精算を実行") && log.contains("加盟申請「やまびこ食堂」を承認"),
        "{log}"
    );
    assert!(
        log.contains("operator-admin") && log.contains("operator-operator"),
        "{log}"
    );
    assert!(
        log.contains("利用者の利用を停止（理由: カード紛失の届出）")
            && log.contains("利用者の利用停止を解除（理由: 本人確認のうえ解除）"),
        "{log}"
    );
    fits_the_phone(&b, "audit").await;
    shot_at(&b, "#audit-rows", "office-11-audit-log").await;
    a.close().await.expect("closes");
    b.close().await.expect("closes");

    // A city viewer on a desktop, in English: reads, but is offered no change.
    let (_, setup_v) = staff_with_setup_code(app, "city", "viewer").await;
    let d = desktop(driver).await;
    sign_in_with_code(
        app,
        &d,
        &setup_v,
        "viewer@city.example.jp",
        "office-12-viewer-signs-in",
    )
    .await;
    click(&d, "#lang-switch").await;
    wait_text(&d, "#office-who", "city staff").await;
    d.goto(&format!("{}/app/office.html#settlement", app.base))
        .await
        .expect("office opens");
    wait_text(&d, "#run-list", "Payouts confirmed").await;
    let hidden = d
        .execute(
            "return [document.getElementById('run-form').hidden, \
                     document.querySelector('[data-section=audit]').hidden, \
                     document.querySelectorAll('#run-list .confirm-run, #run-list .zengin').length]",
            vec![],
        )
        .await
        .expect("state");
    assert_eq!(hidden, json!([true, true, 0]), "a viewer only reads");
    shot(&d, "office-13-viewer-desktop-en").await;
    let _ = d
        .find(Locator::Css("#run-list .review"))
        .await
        .expect("review offered");
    d.close().await.expect("closes");
}

/// At the counter: a shopper found by a card number typed with spaces, blocked with a reason
/// (none: refused next to the button), shown blocked with the balance kept, then unblocked.
async fn shopper_block_steps(app: &TestApp, a: &Client, op: &str) {
    let (_, found) = app.get("/api/v1/shoppers?q=%E5%B1%B1%E7%94%B0", op).await;
    let shopper = found[0]["id"].as_str().expect("shopper").to_owned();
    let points = app.program("points", json!({})).await;
    let (s, card) = app
        .post(
            &format!("/api/v1/programs/{points}/cards"),
            op,
            json!({"shopper_id": shopper}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{card}");
    let number = card["number"].as_str().expect("number").to_owned();
    let spaced = format!(
        "{} {} {} {}",
        &number[..4],
        &number[4..8],
        &number[8..12],
        &number[12..]
    );

    a.execute(
        "document.getElementById('shopper-detail').hidden = true",
        vec![],
    )
    .await
    .expect("closes the shopper");
    a.find(Locator::Css("#shopper-q"))
        .await
        .expect("box")
        .clear()
        .await
        .expect("cleared");
    type_into(a, "#shopper-q", &spaced).await;
    click(a, "#shopper-search button").await;
    wait_text(a, "#shopper-cards", &spaced).await;
    wait_text(a, "#shopper-name", "山田").await;
    wait_text(a, "#shopper-state", "利用中").await;
    fits_the_phone(a, "shopper by card").await;
    shot_at(a, "#shopper-detail", "office-04g-shopper-by-card-number").await;

    // Blocking needs a reason: told next to the button, in Japanese.
    click(a, "#shopper-block").await;
    let said = wait_text(a, "#shopper-block-msg", "理由を入力").await;
    assert!(!said.contains("reason"), "{said}");
    shot_at(a, "#shopper-block-msg", "office-04h-block-needs-reason").await;

    type_into(a, "#shopper-block-reason", "カード紛失の届出").await;
    click(a, "#shopper-block").await;
    a.accept_alert().await.expect("the block is confirmed");
    wait_text(a, "#shopper-block-msg", "利用を停止しました").await;
    let state = wait_text(a, "#shopper-state", "利用停止中").await;
    assert!(state.contains("カード紛失の届出"), "{state}");
    wait_text(a, "#shopper-balances", "¥6,000").await;
    let offered = a
        .execute(
            "return [document.getElementById('shopper-block').hidden, \
                     document.getElementById('shopper-unblock').hidden]",
            vec![],
        )
        .await
        .expect("buttons");
    assert_eq!(
        offered,
        json!([true, false]),
        "blocked: only unblock is offered"
    );
    wait_text(a, "#shopper-list", "利用停止中").await;
    let (_, v) = app.get(&format!("/api/v1/shoppers/{shopper}"), op).await;
    assert_eq!(v["status"], "blocked", "{v}");
    fits_the_phone(a, "shopper blocked").await;
    shot_at(a, "#shopper-state", "office-04i-shopper-blocked").await;
    shot_at(
        a,
        "#shopper-block-msg",
        "office-04j-shopper-blocked-buttons",
    )
    .await;

    type_into(a, "#shopper-block-reason", "本人確認のうえ解除").await;
    click(a, "#shopper-unblock").await;
    wait_text(a, "#shopper-block-msg", "解除しました").await;
    wait_text(a, "#shopper-state", "利用中").await;
    let (_, v) = app.get(&format!("/api/v1/shoppers/{shopper}"), op).await;
    assert_eq!(v["status"], "active", "{v}");
    fits_the_phone(a, "shopper unblocked").await;
    shot_at(a, "#shopper-state", "office-04k-shopper-unblocked").await;
}
