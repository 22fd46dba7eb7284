//! The till and the wallet in a real browser (issue 18, items 2 and 3). A shopper signs in
//! with a password on a phone, pays the QR a desktop till shows full screen, and sees the
//! full-screen completion with a running clock; a refusal (not enough money) appears next to
//! the 支払う button in Japanese, announced; the shopper's own code counts down; large text
//! is remembered. A store owner enrolls a till from owner.html; the till (a phone) takes a
//! payment, refunds part of it with a reason (一部返金 on the line, the rest still refundable),
//! offers a new code when one expires, asks before showing an amount no shopper can hold, and
//! shows 精算 with the closing and transfer dates and the account masked. Screenshots of each
//! step go to target/screenshots/. No page is wider than the phone.

use std::path::Path;

use fantoccini::{Client, ClientBuilder};
use serde_json::{Value, json};

use super::{
    Driver, TestApp, click, scan_qr, scenario, settled_payment, store_enrollment_code, type_into,
    visible, wait_text, wait_true,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shopper_signs_in_pays_a_till_qr_and_sees_the_completion() {
    scenario(|app, driver| Box::pin(shopper_pays(app, driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_enrolls_a_till_takes_a_payment_and_refunds_part() {
    scenario(|app, driver| Box::pin(owner_till_refund(app, driver))).await;
}

const LOGIN: &str = "taro@example.jp";
const PASSWORD: &str = "correct horse battery";

/// A phone (390 × 844 CSS px at 3×) or a desktop window.
#[derive(Clone, Copy)]
enum Screen {
    Phone,
    Desktop,
}

/// A fresh headless browser at the screen's size (its own profile and storage).
async fn browser(driver: &Driver, screen: Screen) -> Client {
    let mut options = json!({
        "binary": driver.chromium,
        "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                 "--lang=ja", "--window-size=1280,900"],
    });
    if let Screen::Phone = screen {
        options["mobileEmulation"] =
            json!({"deviceMetrics": {"width": 390, "height": 844, "pixelRatio": 3.0}});
    }
    let mut caps = serde_json::Map::new();
    caps.insert("goog:chromeOptions".into(), options);
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Writes a screenshot of the viewport to target/screenshots/<name>.png.
async fn snap(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

/// Nothing on the page is wider than the screen (no sideways scrolling on a phone).
async fn fits(c: &Client, what: &str) {
    let widths = c
        .execute(
            "return [document.documentElement.scrollWidth, window.innerWidth]",
            vec![],
        )
        .await
        .expect("widths");
    assert!(
        widths[0].as_i64() <= widths[1].as_i64(),
        "{what} overflows sideways: {widths}"
    );
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![])
        .await
        .unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Text at 200 % (the root font doubled, as a reader's setting would) still fits the screen.
async fn fits_at_double_text(c: &Client, what: &str, shot: &str) {
    js(c, "document.documentElement.style.fontSize = '200%'").await;
    js(c, "document.getElementById('history').scrollIntoView()").await;
    fits(c, &format!("{what} at 200 % text")).await;
    snap(c, shot).await;
    js(c, "document.documentElement.style.fontSize = ''").await;
}

/// The message element sits right under the button's form field and right above the button
/// (within 120 px), is announced, and is in Japanese.
async fn refusal_next_to(c: &Client, msg: &str, button: &str, want: &str) {
    let said = wait_text(c, msg, want).await;
    assert!(!said.is_ascii(), "Japanese, not server English: {said}");
    let place = js(
        c,
        &format!(
            "const m = document.querySelector('{msg}').getBoundingClientRect(); \
             const b = document.querySelector('{button}').getBoundingClientRect(); \
             return [Math.abs(b.top - m.bottom), document.querySelector('{msg}').getAttribute('aria-live')]"
        ),
    )
    .await;
    assert!(
        place[0].as_f64().is_some_and(|d| d < 120.0),
        "{msg} is next to {button}: {place}"
    );
    assert_eq!(place[1], "assertive", "{msg} is announced");
}

/// A store and its owner's token, a currency program whose value expires in ten days, a
/// registered shopper holding `yen`.
async fn shop(app: &TestApp, yen: i64) -> (String, String, String, String) {
    let op = app.operator().await;
    let expires = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(9 * 3600).expect("JST"))
        .date_naive()
        + chrono::Days::new(10);
    let program = app
        .program(
            "currency",
            json!({"charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000,
                   "expiry": {"rule": "fixed_date", "date": expires.to_string()}}),
        )
        .await;
    let (merchant, owner) = app.merchant(&op).await;
    let (_, cities) = app.get("/api/v1/cities", &app.admin).await;
    let city = cities[0]["id"].as_str().expect("city").to_owned();
    let (s, reg) = app
        .request(
            "POST",
            "/api/v1/registrations",
            None,
            None,
            Some(
                &json!({"city_id": city, "login": LOGIN, "password": PASSWORD,
                         "display_name": "太郎"}),
            ),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{reg}");
    let shopper = reg["principal_id"].as_str().expect("shopper id").to_owned();
    app.charge(&op, &program, &shopper, yen).await;
    (op, program, merchant, owner)
}

/// Opens the till page and enrolls it with a one-time code.
async fn enroll(app: &TestApp, till: &Client, code: &str) {
    till.goto(&format!("{}/app/merchant.html", app.base))
        .await
        .expect("till opens");
    type_into(till, "#enroll-code", code).await;
    click(till, "#enroll-submit").await;
    wait_text(till, "#store-name", "スーパー").await;
}

/// The till asks for `amount`; returns the payload its on-screen QR code carries.
async fn ask(till: &Client, amount: &str, shot: &str) -> String {
    let field = visible(till, "#amount").await;
    field.clear().await.expect("clears");
    field.send_keys(amount).await.expect("types");
    click(till, "#amount-submit").await;
    wait_true(
        till,
        "const i = document.getElementById('request-qr'); return !document.getElementById('request').hidden && i.complete && i.naturalWidth > 0",
    )
    .await;
    snap(till, shot).await;
    let qr = visible(till, "#request-qr").await;
    scan_qr(&qr.screenshot().await.expect("qr screenshot"))
}

async fn shopper_pays(app: &TestApp, driver: &Driver) {
    let (_, _, merchant, owner) = shop(app, 10_000).await;
    let till = browser(driver, Screen::Desktop).await;
    let wallet = browser(driver, Screen::Phone).await;
    enroll(
        app,
        &till,
        &store_enrollment_code(app, &merchant, &owner).await,
    )
    .await;

    // The shopper signs in with the password and lands on the wallet: total and 支払う first.
    wallet
        .goto(&format!("{}/app/wallet.html", app.base))
        .await
        .expect("wallet opens");
    click(&wallet, "#signin-link").await;
    type_into(&wallet, "#signin-login", LOGIN).await;
    type_into(&wallet, "#signin-password", PASSWORD).await;
    click(&wallet, "#signin-submit").await;
    wait_true(&wallet, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&wallet, "#total-balance", "¥10,000").await;
    wait_text(&wallet, "#expiry-warning", "あと10日").await;
    visible(&wallet, "#pay-start").await;
    let order = js(
        &wallet,
        "return document.getElementById('pay-start').getBoundingClientRect().bottom < window.innerHeight",
    )
    .await;
    assert_eq!(order, Value::Bool(true), "支払う is on the first screen");
    fits(&wallet, "the wallet").await;
    snap(&wallet, "tw-01-wallet-first-screen-phone").await;
    fits_at_double_text(&wallet, "the wallet", "tw-01b-wallet-text-200").await;

    // On a desktop window the till uses the width: taking money on the left, what was
    // taken (history, 精算) on the right.
    visible(&till, "#history").await;
    let columns = js(
        &till,
        "const r = (id) => document.getElementById(id).getBoundingClientRect();          return [r('sale').right <= r('history').left, r('history').top < r('shopper-code').bottom,                  document.documentElement.scrollWidth <= window.innerWidth]",
    )
    .await;
    assert_eq!(
        columns,
        json!([true, true, true]),
        "two columns on a desktop till"
    );
    snap(&till, "tw-01c-till-desktop-columns").await;

    // The till shows ¥1,500 full screen with the store's name and a countdown, the QR beside
    // the amount on a desktop window.
    let payload = ask(&till, "1500", "tw-02-till-qr-desktop").await;
    wait_text(&till, "#request-store", "スーパー").await;
    wait_text(&till, "#request-amount", "¥1,500").await;
    let beside = js(
        &till,
        "const r = (id) => document.getElementById(id).getBoundingClientRect();          return [r('request-qr').right <= r('request-amount').left,                  r('request-qr').bottom <= window.innerHeight]",
    )
    .await;
    assert_eq!(
        beside,
        json!([true, true]),
        "the QR beside the amount, all on screen"
    );
    let left = wait_text(&till, "#request-left", "4:").await;
    assert!(left.starts_with("4:") || left == "5:00", "{left}");

    // The till buzzes on 支払い完了 (the sound needs speakers; the vibration is recorded).
    js(
        &till,
        "window.buzzes = []; navigator.vibrate = (p) => { window.buzzes.push(p); return true; };",
    )
    .await;

    // 支払う opens the scanner; without a camera the code can be typed instead.
    click(&wallet, "#pay-start").await;
    wait_text(&wallet, "#scan-status", "カメラを使えません").await;
    type_into(&wallet, "#pay-code", &payload).await;
    click(&wallet, "#pay-check").await;
    wait_text(&wallet, "#payee", "スーパー").await;
    wait_text(&wallet, "#pay-fixed-amount", "¥1,500").await;
    fits(&wallet, "the confirmation").await;
    snap(&wallet, "tw-03-wallet-confirm-phone").await;
    click(&wallet, "#pay-confirm").await;

    // The completion fills the screen: store, amount, and a clock that keeps moving.
    wait_text(&wallet, "#done-store", "スーパー").await;
    wait_text(&wallet, "#done-amount", "¥1,500").await;
    let clock = wait_text(&wallet, "#done-clock", "現在").await;
    wait_true(
        &wallet,
        &format!("return document.getElementById('done-clock').textContent !== {clock:?}"),
    )
    .await;
    fits(&wallet, "the completion").await;
    snap(&wallet, "tw-04-wallet-paid-fullscreen-phone").await;
    wait_text(&till, "#paid", "支払い完了").await;
    wait_text(&till, "#paid-amount", "¥1,500").await;
    snap(&till, "tw-05-till-paid-desktop").await;
    assert_eq!(js(&till, "return window.buzzes.length").await, json!(1));
    click(&wallet, "#pay-done-close").await;
    wait_text(&wallet, "#total-balance", "¥8,500").await;
    wait_text(&wallet, "#history-rows", "スーパーでお支払い").await;
    let year = js(&wallet, "return String(new Date().getFullYear())").await;
    wait_text(&wallet, "#history-rows", year.as_str().expect("year")).await;
    wait_text(&wallet, "#history-rows", "令和").await;

    // ¥20,000 is more than the wallet holds: refused next to 支払う, in Japanese, announced.
    click(&till, "#next-sale").await;
    let payload = ask(&till, "20000", "tw-06-till-qr-20000").await;
    click(&wallet, "#pay-start").await;
    type_into(&wallet, "#pay-code", &payload).await;
    click(&wallet, "#pay-check").await;
    wait_text(&wallet, "#pay-fixed-amount", "¥20,000").await;
    click(&wallet, "#pay-confirm").await;
    refusal_next_to(&wallet, "#pay-msg", "#pay-confirm", "残高が足りません").await;
    snap(&wallet, "tw-07-wallet-refused-next-to-button").await;
    click(&wallet, "#pay-cancel").await;

    // The shopper's own code: a QR with a countdown.
    click(&wallet, "#my-code-show").await;
    let code = wait_text(&wallet, "#my-code-text", "mpc_").await;
    let left = wait_text(&wallet, "#my-code-left", "0:").await;
    assert!(left.starts_with("0:5") || left == "1:00", "{left}");
    js(
        &wallet,
        "document.getElementById('my-code').scrollIntoView()",
    )
    .await;
    snap(&wallet, "tw-08-wallet-my-code").await;
    // When its minute is up, a new code takes its place by itself.
    js(
        &wallet,
        "const real = Date.now.bind(Date); let once = true; \
         Date.now = () => { if (once) { once = false; return real() + 61000; } return real(); };",
    )
    .await;
    wait_true(
        &wallet,
        &format!(
            "return document.getElementById('my-code-text').textContent.startsWith('mpc_') && \
             document.getElementById('my-code-text').textContent !== {code:?}"
        ),
    )
    .await;
    let left = wait_text(&wallet, "#my-code-left", "0:").await;
    assert!(
        left.starts_with("0:5") || left == "1:00",
        "a fresh minute: {left}"
    );

    // Large text, remembered after a reload; still no sideways scrolling.
    click(&wallet, "#large-text").await;
    wallet.refresh().await.expect("reload");
    wait_text(&wallet, "#total-balance", "¥8,500").await;
    let large = js(
        &wallet,
        "return [document.documentElement.classList.contains('large-text'), \
         document.getElementById('large-text').getAttribute('aria-pressed')]",
    )
    .await;
    assert_eq!(large, json!([true, "true"]));
    fits(&wallet, "the wallet in large text").await;
    snap(&wallet, "tw-09-wallet-large-text").await;

    // In English, the history speaks English and the page still fits.
    click(&wallet, "#lang-switch").await;
    wait_text(&wallet, "#history-rows", "Paid at スーパー").await;
    fits(&wallet, "the English wallet").await;
    js(
        &wallet,
        "document.getElementById('history').scrollIntoView()",
    )
    .await;
    snap(&wallet, "tw-10-wallet-history-en").await;
    till.close().await.expect("till closes");
    wallet.close().await.expect("wallet closes");
}

async fn owner_till_refund(app: &TestApp, driver: &Driver) {
    let (op, program, merchant, _) = shop(app, 10_000).await;
    let (s, bank) = app
        .put(
            &format!("/api/v1/merchants/{merchant}/bank-account"),
            &op,
            json!({"bank_code": "0009", "bank_name_kana": "ミツイスミトモ", "branch_code": "123",
                   "branch_name_kana": "シブヤ", "account_type": "ordinary",
                   "account_number": "1234567", "holder_kana": "スーパー"}),
        )
        .await;
    assert!(s.is_success(), "{bank}");
    let (s, setup) = app
        .post(
            &format!("/api/v1/principals/merchant_owner/{merchant}/setup-codes"),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{setup}");

    // The owner sets up a login on a desktop and issues the till's one-time code.
    let owner = browser(driver, Screen::Desktop).await;
    owner
        .goto(&format!("{}/app/signin.html", app.base))
        .await
        .expect("sign-in opens");
    type_into(&owner, "#setup-code", setup["code"].as_str().expect("code")).await;
    type_into(&owner, "#setup-login", "owner@shop.example.jp").await;
    type_into(&owner, "#setup-password", PASSWORD).await;
    click(&owner, "#setup-submit").await;
    wait_text(&owner, "#owner-store", "スーパー").await;
    type_into(&owner, "#device-name", "レジ1").await;
    click(&owner, "#device-issue").await;
    let code = wait_text(&owner, "#device-code", "enr_").await;
    snap(&owner, "tw-20-owner-enrollment-code-desktop").await;

    // The till (a phone) enrolls with it and takes ¥1,500 from the shopper.
    let till = browser(driver, Screen::Phone).await;
    enroll(app, &till, &code).await;
    wait_text(&till, "#till-who", "レジ端末").await;
    fits(&till, "the till").await;
    snap(&till, "tw-21-till-enrolled-phone").await;
    let payload = ask(&till, "1500", "tw-22-till-qr-phone").await;
    fits(&till, "the till's QR").await;
    let shopper = shopper_session(app).await;
    let (s, paid) = app
        .post_money("/api/v1/qr/payments", &shopper, json!({"payload": payload}))
        .await;
    assert_eq!(s.as_u16(), 201, "{paid}");
    wait_text(&till, "#paid", "支払い完了").await;
    wait_text(&till, "#paid-amount", "¥1,500").await;
    snap(&till, "tw-23-till-paid-phone").await;
    click(&till, "#next-sale").await;

    // Refund ¥400 of it for a returned item: the line says 一部返金 and still offers the rest.
    click(&till, "#history-rows button.refund").await;
    let field = visible(&till, "#refund-amount").await;
    assert_eq!(
        field.prop("value").await.expect("value").as_deref(),
        Some("1500")
    );
    field.clear().await.expect("clears");
    field.send_keys("2000").await.expect("types");
    click(&till, "#refund-submit").await;
    refusal_next_to(&till, "#refund-msg", "#refund-submit", "¥1,500 まで").await;
    let field = visible(&till, "#refund-amount").await;
    field.clear().await.expect("clears");
    field.send_keys("400").await.expect("types");
    type_into(&till, "#refund-note", "1点返品").await;
    snap(&till, "tw-24-till-refund-form-phone").await;
    click(&till, "#refund-submit").await;
    wait_text(&till, "#refund-done", "¥400 を返金しました").await;
    wait_text(
        &till,
        "#history-rows tr[data-kind=payment]",
        "一部返金（¥400）",
    )
    .await;
    visible(&till, "#history-rows tr[data-kind=payment] button.refund").await;
    wait_text(&till, "#history-rows", "返金（お客様へ）").await;
    wait_text(&till, "#today-total", "¥1,100").await;
    js(&till, "document.getElementById('history').scrollIntoView()").await;
    snap(&till, "tw-25-till-partly-refunded-phone").await;
    assert_eq!(
        app.wallet(&program, &shopper_id(app).await, "coin").await,
        8_900
    );

    // The rest (¥1,100) refunded: 返金済み, and no refund button any more.
    click(&till, "#history-rows tr[data-kind=payment] button.refund").await;
    click(&till, "#refund-submit").await;
    wait_text(&till, "#history-rows tr[data-kind=payment]", "返金済み").await;
    let buttons = js(
        &till,
        "return document.querySelectorAll('#history-rows tr[data-kind=payment] button.refund').length",
    )
    .await;
    assert_eq!(buttons, json!(0), "nothing left to refund");

    // An expired code is never left "waiting": it says so and offers a new one.
    ask(&till, "800", "tw-26-till-qr-800").await;
    js(
        &till,
        "const real = Date.now.bind(Date); Date.now = () => real() + 301000;",
    )
    .await;
    visible(&till, "#request-expired").await;
    wait_text(&till, "#request-title", "期限切れ").await;
    let qr_hidden = js(&till, "return document.getElementById('request-qr').hidden").await;
    assert_eq!(qr_hidden, Value::Bool(true), "the dead code is not shown");
    snap(&till, "tw-27-till-code-expired-phone").await;
    js(&till, "Date.now = () => new Date().getTime();").await;
    click(&till, "#request-renew").await;
    wait_text(&till, "#request-left", "4:").await;
    visible(&till, "#request-qr").await;
    click(&till, "#request-cancel").await;

    // An amount no shopper can hold (over the ¥100,000 cap) asks first.
    let field = visible(&till, "#amount").await;
    field.clear().await.expect("clears");
    field.send_keys("200000").await.expect("types");
    click(&till, "#amount-submit").await;
    wait_text(&till, "#cap-text", "上限").await;
    snap(&till, "tw-28-till-cap-question-phone").await;
    click(&till, "#cap-no").await;

    // 精算: a closed cycle's run shows the closing date, the transfer date and ****567.
    settled_payment(app, &op, &merchant).await;
    till.refresh().await.expect("reload");
    wait_text(&till, "#statement-rows", "振込予定").await;
    click(&till, "#statement-rows button").await;
    wait_text(
        &till,
        "#statement-fields tr[data-field=bank_account]",
        "****567",
    )
    .await;
    wait_text(
        &till,
        "#statement-fields tr[data-field=closing_date]",
        "令和",
    )
    .await;
    visible(&till, "#statement-fields tr[data-field=transfer_date]").await;
    visible(&till, "#statement-fields tr[data-field=fee_yen]").await;
    visible(&till, "#statements-csv").await;
    js(
        &till,
        "document.getElementById('statement-detail').scrollIntoView()",
    )
    .await;
    fits(&till, "the statement").await;
    snap(&till, "tw-29-till-settlement-phone").await;
    fits_at_double_text(&till, "the till", "tw-29b-till-text-200").await;

    // The owner's own session works as a till too.
    owner
        .goto(&format!("{}/app/merchant.html", app.base))
        .await
        .expect("till opens");
    wait_text(&owner, "#till-who", "店主").await;
    wait_text(&owner, "#history-rows", "返金済み").await;
    snap(&owner, "tw-30-owner-as-till-desktop").await;
    till.close().await.expect("till closes");
    owner.close().await.expect("owner closes");
}

/// A bearer token for the registered shopper (issued by an operator), so the test can pay
/// from outside the browser.
async fn shopper_session(app: &TestApp) -> String {
    let id = shopper_id(app).await;
    let op = app.operator().await;
    let (s, v) = app
        .post(
            &format!("/api/v1/principals/shopper/{id}/tokens"),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    v["token"].as_str().expect("token").to_owned()
}

/// The registered shopper's id, from signing in through the API.
async fn shopper_id(app: &TestApp) -> String {
    let (s, v) = app
        .request(
            "POST",
            "/api/v1/sessions",
            None,
            None,
            Some(&json!({"login": LOGIN, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    v["principal_id"].as_str().expect("shopper id").to_owned()
}
