//! Browser tests: headless Chromium (driven through chromedriver over WebDriver) against the
//! real server on a real database, at a phone's size. A store takes a payment by dynamic
//! code, a shopper pays it in a second browser, the store's screen turns to "paid"; the city
//! dashboard shows the unused-balance report. Points typed in at one store's till are spent at
//! another's, and the shopper's wallet shows the card. The city's chart of stores against the
//! target shows hand-counted figures for a chosen 年度. The scenarios run one at a time (one
//! chromedriver each). Screenshots land in target/browser-artifacts/.
//!
//! Without chromium and chromedriver the suite prints a loud banner and passes; under
//! CI=true that is a failure.

#![cfg_attr(test, allow(clippy::unwrap_used))]

#[path = "../api/helpers.rs"]
#[allow(dead_code)]
mod helpers;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use fantoccini::{Client, ClientBuilder, Locator};
use helpers::TestApp;
use reqwest::StatusCode;
use serde_json::{Value, json};
use tokio::process::{Child, Command};

mod a11y;
mod city;
// Passkeys with chromedriver's virtual authenticator, on `localhost`.
mod passkey;
mod signin;
mod till_wallet;
// The back office (office.html): approve, settle with a second person's confirmation, 全銀 file.
mod office;

/// A phone's screen (CSS pixels).
const PHONE: (u32, u32) = (390, 844);
/// Longest wait for anything to appear on a page.
const WAIT: Duration = Duration::from_secs(15);
/// Longest wait for chromedriver to answer after it starts.
const DRIVER_START: Duration = Duration::from_secs(20);
/// The whole scenario's limit.
const SCENARIO_LIMIT: Duration = Duration::from_secs(180);

/// One browser scenario at a time: two cores do not run several Chromiums well.
static ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_payment_end_to_end_in_two_browsers() {
    scenario(|app, driver| Box::pin(pay_end_to_end(app, driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn points_earned_at_one_store_are_spent_at_another() {
    scenario(|app, driver| Box::pin(points_across_stores(app, driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_city_chart_shows_registered_stores_against_the_target() {
    scenario(|app, driver| Box::pin(city_targets(app, driver))).await;
}

type Scenario = for<'a> fn(
    &'a TestApp,
    &'a Driver,
) -> std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send + 'a>>;

/// Runs a scenario on a fresh database (PostgreSQL when it is there) with its own driver.
async fn scenario(run: Scenario) {
    let Some(browser) = Browser::find() else {
        return;
    };
    let _turn = ONE_AT_A_TIME.lock().await;
    let app = match TestApp::postgres().await {
        Some(app) => app,
        None => TestApp::sqlite().await,
    };
    let driver = browser.start_driver().await;
    tokio::time::timeout(SCENARIO_LIMIT, run(&app, &driver))
        .await
        .expect("the scenario finishes in time");
    app.cleanup().await;
}

/// The chromium and chromedriver found on this machine.
struct Browser {
    chromium: PathBuf,
    chromedriver: PathBuf,
}

impl Browser {
    /// Finds both programs on PATH (or CHROMIUM / CHROMEDRIVER); None with a banner when
    /// missing, a panic under CI=true.
    fn find() -> Option<Browser> {
        let chromium = env_or_path(
            "CHROMIUM",
            &["chromium", "chromium-browser", "google-chrome"],
        );
        let chromedriver = env_or_path("CHROMEDRIVER", &["chromedriver"]);
        match (chromium, chromedriver) {
            (Some(chromium), Some(chromedriver)) => Some(Browser {
                chromium,
                chromedriver,
            }),
            _ => {
                let ci = std::env::var("CI").is_ok_and(|v| v == "true");
                assert!(
                    !ci,
                    "chromium and chromedriver are required under CI=true \
                     (apt-get install chromium chromium-driver)"
                );
                // Straight to stderr, past the test harness's capture, so it is seen.
                let _ = writeln!(
                    std::io::stderr(),
                    "\n!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n\
                     !! chromium or chromedriver not found.\n\
                     !! The BROWSER TESTS DID NOT RUN. apt-get install chromium chromium-driver\n\
                     !!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!\n"
                );
                None
            }
        }
    }

    async fn start_driver(&self) -> Driver {
        let port = free_port();
        let child = Command::new(&self.chromedriver)
            .arg(format!("--port={port}"))
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .expect("chromedriver starts");
        let url = format!("http://127.0.0.1:{port}");
        let status = format!("{url}/status");
        let ready = async {
            loop {
                let up = reqwest::get(&status)
                    .await
                    .is_ok_and(|r| r.status().is_success());
                if up {
                    return;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        };
        tokio::time::timeout(DRIVER_START, ready)
            .await
            .expect("chromedriver answers");
        Driver {
            url,
            chromium: self.chromium.clone(),
            _child: child,
        }
    }
}

fn env_or_path(var: &str, names: &[&str]) -> Option<PathBuf> {
    if let Ok(p) = std::env::var(var) {
        return Some(PathBuf::from(p)).filter(|p| p.is_file());
    }
    let path = std::env::var_os("PATH")?;
    names.iter().find_map(|name| {
        std::env::split_paths(&path)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// A running chromedriver; stopped when dropped.
struct Driver {
    url: String,
    chromium: PathBuf,
    _child: Child,
}

impl Driver {
    /// A fresh headless browser session at phone size (its own profile and storage).
    async fn session(&self) -> Client {
        let mut caps = serde_json::Map::new();
        caps.insert(
            "goog:chromeOptions".into(),
            json!({
                "binary": self.chromium,
                "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                         "--disable-gpu", "--lang=ja"],
                "mobileEmulation": {
                    "deviceMetrics": {"width": PHONE.0, "height": PHONE.1, "pixelRatio": 2.0},
                },
            }),
        );
        ClientBuilder::native()
            .capabilities(caps)
            .connect(&self.url)
            .await
            .expect("a browser session")
    }
}

/// Writes a screenshot of the whole page to target/browser-artifacts/<name>.png.
async fn shot(c: &Client, name: &str) {
    save(name, &c.screenshot().await.expect("screenshot"));
}

fn save(name: &str, png: &[u8]) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/browser-artifacts");
    std::fs::create_dir_all(&dir).expect("artifact dir");
    std::fs::write(dir.join(format!("{name}.png")), png).expect("screenshot written");
}

/// The element once it is on the page and not hidden.
async fn visible(c: &Client, css: &str) -> fantoccini::elements::Element {
    c.wait()
        .at_most(WAIT)
        .for_element(Locator::Css(&format!("{css}:not([hidden])")))
        .await
        .unwrap_or_else(|e| panic!("{css} never showed: {e}"))
}

async fn type_into(c: &Client, css: &str, text: &str) {
    visible(c, css)
        .await
        .send_keys(text)
        .await
        .unwrap_or_else(|e| panic!("typing into {css}: {e}"));
}

async fn click(c: &Client, css: &str) {
    visible(c, css)
        .await
        .click()
        .await
        .unwrap_or_else(|e| panic!("clicking {css}: {e}"));
}

/// The element's text. A page that re-renders between finding the element and reading it
/// leaves a stale reference: the element is found again (until `WAIT`).
async fn text_of(c: &Client, css: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        match visible(c, css).await.text().await {
            Ok(text) => return text,
            Err(e) if e.is_stale_element_reference() && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => panic!("text of {css}: {e}"),
        }
    }
}

/// Waits until the script returns true.
async fn wait_true(c: &Client, script: &str) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while c.execute(script, vec![]).await.expect("script") != Value::Bool(true) {
        assert!(
            tokio::time::Instant::now() < deadline,
            "never true: {script}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Waits until the element's text contains `want`.
async fn wait_text(c: &Client, css: &str, want: &str) -> String {
    let deadline = tokio::time::Instant::now() + WAIT;
    loop {
        let text = text_of(c, css).await;
        if text.contains(want) {
            return text;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{css} shows {text:?}, never {want:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

struct Town {
    program: String,
    merchant: String,
    owner: String,
    shopper_token: String,
}

/// A currency program, a store with a store code, a shopper holding ¥10,000.
async fn town(app: &TestApp) -> Town {
    let op = app.operator().await;
    let program = app.currency().await;
    let (merchant, owner) = app.merchant(&op).await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.charge(&op, &program, &shopper, 10_000).await;
    let (s, v) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/codes"),
            &owner,
            json!({"program_id": program}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    Town {
        program,
        merchant,
        owner,
        shopper_token,
    }
}

async fn enrollment_code(app: &TestApp, t: &Town) -> String {
    store_enrollment_code(app, &t.merchant, &t.owner).await
}

async fn store_enrollment_code(app: &TestApp, merchant: &str, owner: &str) -> String {
    let (s, v): (StatusCode, Value) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/enrollment-codes"),
            owner,
            json!({"device_name": "レジ1"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["code"].as_str().expect("code").to_owned()
}

/// Reads the QR code in a PNG screenshot of one element.
fn scan_qr(png: &[u8]) -> String {
    let img = image::load_from_memory(png).expect("png").to_luma8();
    let (w, h) = (img.width() as usize, img.height() as usize);
    let mut prepared = rqrr::PreparedImage::prepare_from_greyscale(w, h, |x, y| {
        img.get_pixel(x as u32, y as u32).0[0]
    });
    let grids = prepared.detect_grids();
    assert_eq!(grids.len(), 1, "one QR code on the till's screen");
    grids[0].decode().expect("the QR code on screen decodes").1
}

async fn pay_end_to_end(app: &TestApp, driver: &Driver) {
    let t = town(app).await;
    let code = enrollment_code(app, &t).await;
    let till = driver.session().await;
    let wallet = driver.session().await;

    // The till enrolls with the owner's one-time code and asks for ¥1,500.
    till.goto(&format!("{}/app/merchant.html", app.base))
        .await
        .expect("till opens");
    type_into(&till, "#enroll-code", &code).await;
    shot(&till, "01-merchant-enroll").await;
    click(&till, "#enroll-submit").await;
    wait_text(&till, "#store-name", "スーパー").await;
    type_into(&till, "#amount", "1500").await;
    click(&till, "#amount-submit").await;
    wait_text(&till, "#request-amount", "¥1,500").await;
    let qr = visible(&till, "#request-qr").await;
    wait_true(
        &till,
        "return document.getElementById('request-qr').naturalWidth > 0",
    )
    .await;
    till.execute(
        "document.getElementById('request-qr').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scrolls");
    let qr_png = qr.screenshot().await.expect("qr screenshot");
    shot(&till, "02-merchant-payment-request").await;
    save("02-merchant-qr", &qr_png);
    let payload = scan_qr(&qr_png);

    // The shopper signs in, pastes the code, sees the payee and amount from the server, pays.
    wallet
        .goto(&format!("{}/app/wallet.html", app.base))
        .await
        .expect("wallet opens");
    token_sign_in(&wallet, &t.shopper_token).await;
    wait_text(&wallet, "#balance-list", "¥10,000").await;
    shot(&wallet, "03-wallet-balances").await;
    open_manual_pay(&wallet).await;
    type_into(&wallet, "#pay-code", &payload).await;
    click(&wallet, "#pay-check").await;
    wait_text(&wallet, "#payee", "スーパー").await;
    wait_text(&wallet, "#pay-fixed-amount", "¥1,500").await;
    shot(&wallet, "04-wallet-confirm").await;
    click(&wallet, "#pay-confirm").await;
    wait_text(&wallet, "#pay-done", "¥1,500").await;
    shot(&wallet, "05-wallet-paid").await;
    click(&wallet, "#pay-done-close").await;
    wait_text(&wallet, "#balance-list", "¥8,500").await;

    // The till's screen has turned to 支払い完了 with the amount, and today's takings show it.
    wait_text(&till, "#paid", "支払い完了").await;
    wait_text(&till, "#paid-amount", "¥1,500").await;
    wait_text(&till, "#today-total", "¥1,500").await;
    shot(&till, "06-merchant-paid").await;
    click(&till, "#paid .fs-lang").await;
    wait_text(&till, "#paid", "Paid").await;
    shot(&till, "07-merchant-paid-en").await;
    let shopper = shopper_id(app, &t).await;
    assert_eq!(app.wallet(&t.program, &shopper, "coin").await, 8_500);

    // The shopper shows their own one-time code; the till types it in and takes ¥700.
    click(&wallet, "#my-code-show").await;
    let shopper_code = wait_text(&wallet, "#my-code-text", "mpc_").await;
    shot(&wallet, "08-wallet-my-code").await;
    click(&till, "#next-sale").await;
    type_into(&till, "#shopper-code-input", &shopper_code).await;
    type_into(&till, "#shopper-code-amount", "700").await;
    click(&till, "#shopper-code-form button[type=submit]").await;
    wait_text(&till, "#paid-amount", "¥700").await;
    wait_text(&till, "#today-total", "¥2,200").await;

    // The till refunds the latest payment in full (its form holds what is left): takings
    // drop back to ¥1,500.
    click(&till, "#next-sale").await;
    click(&till, "#history-rows button.refund").await;
    click(&till, "#refund-submit").await;
    wait_text(&till, "#refund-done", "Refunded ¥700").await;
    wait_text(&till, "#today-total", "¥1,500").await;
    shot(&till, "09-merchant-refunded-en").await;

    // The store poster (the store code issued by the owner) shows, ready to print.
    click(&till, "#poster-show").await;
    visible(&till, "#poster-print").await;
    wait_true(
        &till,
        "const i = document.getElementById('poster-img'); return i.complete && i.naturalWidth > 0",
    )
    .await;
    shot(&till, "10-merchant-poster").await;

    // In English, the shopper pays ¥300 by the store's printed (static) code, typing the amount.
    click(&wallet, "#lang-switch").await;
    wait_text(&wallet, "#balances h2", "Balances").await;
    wallet.refresh().await.expect("reload");
    wait_text(&wallet, "#balance-list", "¥8,500").await;
    open_manual_pay(&wallet).await;
    type_into(&wallet, "#pay-code", &store_code_payload(app, &t).await).await;
    click(&wallet, "#pay-check").await;
    wait_text(&wallet, "#payee", "スーパー").await;
    type_into(&wallet, "#pay-amount", "300").await;
    click(&wallet, "#pay-confirm").await;
    wait_text(&wallet, "#pay-done", "Paid ¥300").await;
    click(&wallet, "#pay-done-close").await;
    wait_text(&wallet, "#balance-list", "¥8,200").await;
    assert_eq!(app.wallet(&t.program, &shopper, "coin").await, 8_200);
    app.assert_ledger_ok(&t.program).await;
    shot(&wallet, "11-wallet-en").await;

    // The city dashboard shows the unused-balance report to staff.
    let city = wallet;
    city.goto(&format!("{}/app/city.html", app.base))
        .await
        .expect("city opens");
    type_into(&city, "#token", &app.admin).await;
    click(&city, "#signin-form button[type=submit]").await;
    wait_text(&city, "#unused-rows", "¥10,000,000").await;
    shot(&city, "12-city-unused-balance").await;

    till.close().await.expect("till closes");
    city.close().await.expect("city closes");
}

/// Signs the wallet in with a pasted token (the integrations' and tests' way in).
async fn token_sign_in(c: &Client, token: &str) {
    click(c, "#token-details summary").await;
    type_into(c, "#token", token).await;
    click(c, "#signin-submit").await;
}

/// Presses 支払う; with no camera in the test browser, the typed-code fallback opens.
async fn open_manual_pay(c: &Client) {
    click(c, "#pay-start").await;
    wait_true(c, "return document.getElementById('pay-manual').open").await;
}

async fn store_code_payload(app: &TestApp, t: &Town) -> String {
    let (_, codes) = app
        .get(&format!("/api/v1/merchants/{}/codes", t.merchant), &t.owner)
        .await;
    codes[0]["payload"].as_str().expect("payload").to_owned()
}

async fn shopper_id(app: &TestApp, t: &Town) -> String {
    let (_, me) = app.get("/api/v1/me", &t.shopper_token).await;
    me["id"].as_str().expect("id").to_owned()
}

/// A till for the store: a fresh browser, enrolled with the owner's one-time code.
async fn enrolled_till(app: &TestApp, driver: &Driver, merchant: &str, owner: &str) -> Client {
    let code = store_enrollment_code(app, merchant, owner).await;
    let till = driver.session().await;
    till.goto(&format!("{}/app/merchant.html", app.base))
        .await
        .expect("till opens");
    type_into(&till, "#enroll-code", &code).await;
    click(&till, "#enroll-submit").await;
    wait_text(&till, "#store-name", "スーパー").await;
    till
}

/// Types the card number and an amount into the till's points section and presses `button`.
async fn till_points(till: &Client, number: &str, field: &str, amount: &str, button: &str) {
    let card = visible(till, "#card-number").await;
    card.clear().await.expect("clears");
    card.send_keys(number).await.expect("types");
    type_into(till, field, amount).await;
    wait_true(
        till,
        &format!("return document.querySelector('{field}').value === '{amount}'"),
    )
    .await;
    click(till, button).await;
}

async fn points_across_stores(app: &TestApp, driver: &Driver) {
    let op = app.operator().await;
    let program = app.program("points", json!({"earn_rate": "0.01"})).await;
    let (a, owner_a) = app.merchant(&op).await;
    let (b, owner_b) = app.merchant(&op).await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    let (s, card) = app
        .post(
            &format!("/api/v1/programs/{program}/cards"),
            &op,
            json!({"shopper_id": shopper}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{card}");
    let number = card["number"].as_str().expect("number").to_owned();
    let card_id = card["id"].as_str().expect("id").to_owned();

    // Store A's till: the card number typed with spaces, ¥5,000 before tax → 50 pt.
    let till_a = enrolled_till(app, driver, &a, &owner_a).await;
    let spaced = number
        .as_bytes()
        .chunks(4)
        .map(|c| std::str::from_utf8(c).unwrap())
        .collect::<Vec<_>>()
        .join(" ");
    till_points(&till_a, &spaced, "#earn-amount", "5000", "#earn-submit").await;
    wait_text(&till_a, "#points-result-title", "ポイントを付けました").await;
    wait_text(&till_a, "#points-result-points", "+50 pt").await;
    wait_text(&till_a, "#points-result-balance", "50 pt").await;
    // The till's history shows the award as awarded, in words (never `point_earn`, "-50 pt").
    let line = wait_text(
        &till_a,
        "#history-rows tr[data-kind=point_earn]",
        "ポイント付与",
    )
    .await;
    assert!(line.contains("+50 pt 付与"), "{line}");
    shot(&till_a, "20-store-a-points-awarded").await;
    assert_eq!(card_balance(app, &op, &card_id).await, 50);

    // Store B was paid ¥1,200 in coin on 2026-01-10 and settled that day (held: no bank account).
    settled_payment(app, &op, &b).await;

    // Store B's till: 80 pt is more than the card holds, refused in plain words; 30 pt is paid.
    let till_b = enrolled_till(app, driver, &b, &owner_b).await;
    till_points(&till_b, &number, "#spend-amount", "80", "#spend-submit").await;
    wait_text(&till_b, "#points-error", "ポイントが足りません").await;
    shot(&till_b, "21-store-b-insufficient").await;
    assert_eq!(
        card_balance(app, &op, &card_id).await,
        50,
        "a refusal moves nothing"
    );
    visible(&till_b, "#spend-amount")
        .await
        .clear()
        .await
        .expect("clears");
    till_points(&till_b, &number, "#spend-amount", "30", "#spend-submit").await;
    wait_text(&till_b, "#points-result-title", "ポイントで支払いました").await;
    wait_text(&till_b, "#points-result-points", "−30 pt (¥30)").await;
    wait_text(&till_b, "#points-result-balance", "20 pt").await;
    let error_hidden = till_b
        .execute(
            "return document.getElementById('points-error').hidden",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(error_hidden, Value::Bool(true), "the old error is gone");
    shot(&till_b, "22-store-b-points-paid").await;
    assert_eq!(card_balance(app, &op, &card_id).await, 20);
    assert_eq!(app.merchant_balance(&program, &b, "points").await, 30);

    // An unknown card (a valid check digit, never issued) is named as such.
    till_points(
        &till_b,
        "4111111111111111",
        "#earn-amount",
        "1000",
        "#earn-submit",
    )
    .await;
    wait_text(&till_b, "#points-error", "このカードは登録されていません").await;
    shot(&till_b, "23-store-b-unknown-card").await;
    // The settlement section lists the statement; opened, it shows the payments, in English too.
    wait_text(&till_b, "#statement-rows", "保留 (振込口座が未登録)").await;
    click(&till_b, "#statement-rows button").await;
    wait_text(
        &till_b,
        "#statement-fields tr[data-field=payments_yen]",
        "¥1,200",
    )
    .await;
    visible(&till_b, "#statements-csv").await;
    click(&till_b, "#lang-switch").await;
    wait_text(&till_b, "#statement-rows", "Held (no bank account)").await;
    wait_text(
        &till_b,
        "#statement-fields tr[data-field=payments_yen]",
        "Payments",
    )
    .await;
    till_b
        .execute(
            "document.getElementById('statement-detail').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolls");
    shot(&till_b, "23-store-b-statement-en").await;

    // The shopper's wallet: the card with its balance and QR code (which reads as the number),
    // and the points in the balances list.
    let wallet = till_a;
    click(&wallet, "#sign-out").await;
    wallet
        .goto(&format!("{}/app/wallet.html", app.base))
        .await
        .expect("wallet opens");
    token_sign_in(&wallet, &shopper_token).await;
    wait_text(&wallet, "#card-list", "20 pt").await;
    wait_text(&wallet, "#balance-list", "20 pt").await;
    wait_true(
        &wallet,
        "const i = document.querySelector('#card-list img'); return i.complete && i.naturalWidth > 0",
    )
    .await;
    let qr = visible(&wallet, "#card-list img").await;
    wallet
        .execute(
            "document.getElementById('point-cards').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolls");
    shot(&wallet, "24-wallet-card").await;
    wallet
        .execute(
            "document.querySelector('#card-list img').scrollIntoView()",
            vec![],
        )
        .await
        .expect("scrolls");
    let png = qr.screenshot().await.expect("qr screenshot");
    save("24-wallet-card-qr", &png);
    assert_eq!(scan_qr(&png), number);

    till_b.close().await.expect("till closes");
    wallet.close().await.expect("wallet closes");
}

/// 年度 2024 (令和6) by hand: A joined 2023-05-01 (an earlier 年度); B 2024-05-01; C joined
/// 2024-06-01 and left 2025-01-15; D joined 2024-07-01 and was suspended 2024-12-01 (still
/// counted). Registered at 2025-03-31: A B D = 3; joined 3 (B C D), left 1 (C); target 7,
/// 達成率 3 ÷ 7 = 42.857… → 42.9.
async fn city_targets(app: &TestApp, driver: &Driver) {
    let op = app.operator().await;
    let program = app.currency().await;
    let mut stores = Vec::new();
    for _ in 0..4 {
        stores.push(app.merchant(&op).await.0);
    }
    let p = program.as_str();
    join_event(app, &op, p, &stores[0], "joined", "2023-05-01").await;
    join_event(app, &op, p, &stores[1], "joined", "2024-05-01").await;
    join_event(app, &op, p, &stores[2], "joined", "2024-06-01").await;
    join_event(app, &op, p, &stores[3], "joined", "2024-07-01").await;
    join_event(app, &op, p, &stores[3], "suspended", "2024-12-01").await;
    join_event(app, &op, p, &stores[2], "left", "2025-01-15").await;
    for (fy, n) in [("2023", 2), ("2024", 7)] {
        let (s, v) = app
            .put(
                &format!("/api/v1/programs/{program}/targets/{fy}"),
                &app.admin,
                json!({"stores": n}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }

    let city = driver.session().await;
    city.goto(&format!("{}/app/city.html", app.base))
        .await
        .expect("city opens");
    type_into(&city, "#token", &app.admin).await;
    click(&city, "#signin-form button[type=submit]").await;
    visible(&city, "#targets-report").await;
    visible(&city, "#fiscal-year")
        .await
        .select_by_value("2024")
        .await
        .expect("picks 2024");
    wait_text(&city, "#targets-label", "令和6年度 (2024)").await;
    assert_eq!(figure(&city, "registered_at_end").await, "3店");
    assert_eq!(figure(&city, "target").await, "7店");
    assert_eq!(figure(&city, "achievement_rate").await, "42.9%");
    assert_eq!(figure(&city, "joined").await, "3店");
    assert_eq!(figure(&city, "left").await, "1店");
    wait_true(
        &city,
        "const i = document.getElementById('targets-chart'); \
         return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0",
    )
    .await;
    let alt = visible(&city, "#targets-chart")
        .await
        .attr("alt")
        .await
        .expect("alt")
        .unwrap_or_default();
    assert!(alt.contains("令和6年度 (2024): 3店（目標 7）"), "{alt}");
    let tables = city
        .execute(
            "return document.querySelectorAll('#breakdowns table').length",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(tables, json!(4), "商店会, 業種, 地区, 規模");
    wait_text(&city, "#usage-rows", "合計").await;
    city.execute(
        "document.getElementById('targets-chart').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scrolls");
    shot(&city, "30-city-targets-2024").await;

    // The same figures as the API and its SVG chart report for that 年度.
    let (s, v) = app
        .get(
            &format!("/api/v1/programs/{program}/reports/stores?fiscal_year=2024"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        (
            v["registered_at_end"].as_i64(),
            v["target"].as_i64(),
            v["achievement_rate"].as_str()
        ),
        (Some(3), Some(7), Some("42.9"))
    );

    // In English the labels change, the figures stay.
    click(&city, "#lang-switch").await;
    wait_text(&city, "#targets-rows", "Participating stores").await;
    assert_eq!(figure(&city, "registered_at_end").await, "3");
    assert_eq!(figure(&city, "achievement_rate").await, "42.9%");
    shot(&city, "31-city-targets-2024-en").await;
    city.close().await.expect("city closes");
}

async fn card_balance(app: &TestApp, op: &str, card: &str) -> i64 {
    let (s, v) = app.get(&format!("/api/v1/cards/{card}"), op).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    v["balance"].as_i64().expect("balance")
}

/// Records a participation event of a store in a program.
async fn join_event(app: &TestApp, op: &str, program: &str, store: &str, kind: &str, on: &str) {
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{program}/merchants/{store}/participation-events"),
            op,
            json!({"kind": kind, "effective_on": on}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{kind} {on}: {v}");
}

/// The city dashboard's headline figure for `field`.
async fn figure(city: &Client, field: &str) -> String {
    text_of(city, &format!("#targets-rows tr[data-field={field}] td")).await
}

/// A coin payment of ¥1,200 to `store` on 2026-01-10 (noon JST), in a program settling
/// daily, and the run closing that day.
async fn settled_payment(app: &TestApp, op: &str, store: &str) {
    let program = app
        .program(
            "currency",
            json!({"closing_days": [], "charge_step_yen": 1, "charge_min_yen": 1}),
        )
        .await;
    let (shopper, token) = app.shopper(op).await;
    app.backdated_charge(&program, &shopper, 5_000, "2026-01-05T03:00:00Z")
        .await;
    app.backdated_payment(&program, &token, store, 1_200, "2026-01-10T03:00:00Z")
        .await;
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{program}/settlement-runs"),
            op,
            json!({"closing_date": "2026-01-10"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
}
