//! The city dashboard in a browser: a city official signs in with a password, reads 取扱店舗数
//! for a finished 年度 (as at its end, with the stores that joined and left and why) and for
//! the running one ("…現在", never 年度末), in Japanese and English, on a phone and a desktop,
//! and prints the council report to an A4 PDF. And no page shows the server's English after a
//! refusal in Japanese mode (city.html, signin.html). Screenshots and the PDF land in
//! target/screenshots/.

use std::path::{Path, PathBuf};

use fantoccini::Client;
use fantoccini::wd::{PrintConfiguration, PrintMargins, PrintSize};
use serde_json::json;

use super::a11y::{PASSWORD, People, people};
use super::{Driver, TestApp, click, scenario, text_of, type_into, visible, wait_text, wait_true};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_city_official_signs_in_and_prints_the_council_report() {
    scenario(|app, driver| Box::pin(council_report(app, driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refusal_in_japanese_shows_no_english_server_text() {
    scenario(|app, driver| Box::pin(refusals_in_japanese(app, driver))).await;
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/screenshots");
    std::fs::create_dir_all(&dir).expect("screenshot dir");
    dir
}

/// Writes a screenshot to target/screenshots/<name>.png.
async fn snap(c: &Client, name: &str) {
    let png = c.screenshot().await.expect("screenshot");
    std::fs::write(screenshots().join(format!("{name}.png")), png).expect("written");
}

/// Today in Japan.
fn jst_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

fn fiscal_year_of(d: chrono::NaiveDate) -> i32 {
    use chrono::Datelike;
    if d.month() >= 4 {
        d.year()
    } else {
        d.year() - 1
    }
}

/// Signs in on signin.html with the login and lands on city.html with the chart shown.
async fn sign_in_to_city(c: &Client, app: &TestApp, login: &str) {
    c.goto(&format!("{}/app/signin.html?next=city.html", app.base))
        .await
        .expect("sign-in opens");
    type_into(c, "#signin-login", login).await;
    type_into(c, "#signin-password", PASSWORD).await;
    click(c, "#signin-submit").await;
    wait_true(c, "return location.pathname.endsWith('/city.html')").await;
    chart_loaded(c).await;
}

async fn chart_loaded(c: &Client) {
    wait_true(
        c,
        "const i = document.getElementById('targets-chart'); \
         return i.src.startsWith('blob:') && i.complete && i.naturalWidth > 0",
    )
    .await;
}

async fn figure(c: &Client, field: &str) -> String {
    text_of(c, &format!("#targets-rows tr[data-field={field}] td")).await
}

async fn pick_year(c: &Client, year: i32) {
    visible(c, "#fiscal-year")
        .await
        .select_by_value(&year.to_string())
        .await
        .expect("picks the 年度");
}

async fn council_report(app: &TestApp, driver: &Driver) {
    let p: People = people(app).await;
    let c = driver.session().await;
    c.goto(&format!("{}/app/city.html", app.base))
        .await
        .expect("city opens");
    visible(&c, "#signin-link").await;
    snap(&c, "city-01-signed-out").await;
    sign_in_to_city(&c, app, &p.staff).await;
    snap(&c, "city-02-dashboard").await;

    // 令和6年度, finished: counted at its end; the stores that joined and left, with reasons.
    pick_year(&c, 2024).await;
    wait_text(&c, "#targets-label", "令和6年度 (2024)").await;
    let period = wait_text(&c, "#targets-period", "令和6年度末（2025年3月31日）現在").await;
    assert!(period.contains("2024年4月1日〜2025年3月31日"), "{period}");
    assert_eq!(figure(&c, "registered_at_end").await, "1店");
    assert_eq!(figure(&c, "target").await, "2店");
    assert_eq!(figure(&c, "achievement_rate").await, "50.0%");
    assert_eq!(figure(&c, "joined").await, "2店");
    assert_eq!(figure(&c, "left").await, "1店");
    let changes = wait_text(&c, "#changes-rows", "2025年1月15日").await;
    for want in ["2024年5月1日", "加盟", "退会", "テスト", "スーパー"] {
        assert!(changes.contains(want), "{want} in {changes}");
    }
    // 規模 in Japanese; one name for the figure (取扱店舗数) throughout.
    let breakdowns = text_of(&c, "#breakdowns").await;
    assert!(breakdowns.contains("大規模"), "{breakdowns}");
    assert!(!breakdowns.contains("large"), "{breakdowns}");
    let page = text_of(&c, "#targets-report").await;
    for other_name in ["登録店舗", "参加店舗"] {
        assert!(!page.contains(other_name), "{other_name} in {page}");
    }
    chart_loaded(&c).await;
    c.execute(
        "document.getElementById('changes-title').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scrolls");
    snap(&c, "city-03-fy2024-changes").await;

    // The running 年度: "as of" today, never 年度末; the payment of today in its month.
    let today = jst_today();
    let fy = fiscal_year_of(today);
    pick_year(&c, fy).await;
    let today_ja = format!(
        "{}年{}月{}日",
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today),
        chrono::Datelike::day(&today)
    );
    let period = wait_text(&c, "#targets-period", &format!("{today_ja}現在")).await;
    assert!(!period.contains("年度末"), "{period}");
    let month = format!(
        "{}年{}月",
        chrono::Datelike::year(&today),
        chrono::Datelike::month(&today)
    );
    let usage = wait_text(&c, "#usage-rows", &month).await;
    assert!(usage.contains("¥1,200"), "{usage}");
    assert!(
        !usage.contains(&format!("{}-", chrono::Datelike::year(&today))),
        "{usage}"
    );
    chart_loaded(&c).await;
    c.execute(
        "document.getElementById('targets-figures').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scrolls");
    snap(&c, "city-04a-running-year-figures").await;
    c.execute(
        "document.getElementById('targets-chart').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scrolls");
    let alt = visible(&c, "#targets-chart")
        .await
        .attr("alt")
        .await
        .expect("alt")
        .unwrap_or_default();
    assert!(
        alt.contains("取扱店舗数") && alt.contains("令和6年度 (2024): 1店（目標 2）"),
        "{alt}"
    );
    snap(&c, "city-04-running-year").await;

    // In English: the words change, the numbers stay; the chart is fetched in English.
    click(&c, "#lang-switch").await;
    wait_text(&c, "#targets-rows", "Participating stores").await;
    wait_text(&c, "#targets-period", "year in progress").await;
    wait_true(
        &c,
        "return document.getElementById('targets-chart').alt.includes('Participating stores')",
    )
    .await;
    chart_loaded(&c).await;
    snap(&c, "city-05-running-year-en").await;
    click(&c, "#lang-switch").await;
    wait_text(&c, "#targets-rows", "取扱店舗数").await;

    // The council report: one click turns the page into its print view and opens printing.
    pick_year(&c, 2024).await;
    wait_text(&c, "#targets-label", "令和6年度 (2024)").await;
    chart_loaded(&c).await;
    // The browser's print dialog is stood in for (headless Chrome would hold the page in
    // printing); the test prints the page itself below, as the dialog would.
    c.execute(
        "window.print = () => { window.printed = (window.printed || 0) + 1; }",
        vec![],
    )
    .await
    .expect("print stood in for");
    click(&c, "#council-print").await;
    wait_true(&c, "return document.body.classList.contains('council')").await;
    wait_true(&c, "return window.printed === 1").await;
    wait_text(&c, "#council-head", "テスト市").await;
    let head = text_of(&c, "#council-head").await;
    for want in ["報告書", "令和6年度 (2024)", "2025年3月31日", "作成日"] {
        assert!(head.contains(want), "{want} in {head}");
    }
    let controls_shown = c
        .execute(
            "return [...document.querySelectorAll('#targets-form, #unused, nav.pages')]
               .filter((e) => e.getClientRects().length > 0).length",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(
        controls_shown,
        json!(0),
        "the council view hides the controls"
    );
    snap(&c, "city-06-council-view").await;
    print_a4(&c, "city-07-council-report").await;
    click(&c, "#council-back").await;
    wait_true(&c, "return !document.body.classList.contains('council')").await;
    c.close().await.expect("closes");

    // On a desktop the report uses the width: the figures and the chart side by side.
    let d = super::a11y::desktop(driver).await;
    sign_in_to_city(&d, app, &p.staff).await;
    pick_year(&d, 2024).await;
    wait_text(&d, "#targets-label", "令和6年度 (2024)").await;
    chart_loaded(&d).await;
    let side_by_side = d
        .execute(
            "const a = document.getElementById('targets-figures').getBoundingClientRect();
             const b = document.getElementById('targets-chart').getBoundingClientRect();
             return b.left >= a.right - 1 && Math.abs(a.top - b.top) < 200",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(side_by_side, json!(true), "figures and chart side by side");
    snap(&d, "city-08-desktop").await;
    print_a4(&d, "city-09-page-printed").await;
    d.close().await.expect("closes");
}

/// Prints the page to an A4 PDF (the browser's own print, as a person's print button does)
/// and, when poppler's pdftoppm is there, turns its pages into PNGs to look at.
async fn print_a4(c: &Client, name: &str) {
    let config = PrintConfiguration::builder()
        .size(PrintSize::A4)
        .margins(PrintMargins {
            top: 0.0,
            bottom: 0.0,
            left: 0.0,
            right: 0.0,
        })
        .background(true)
        .build()
        .expect("a print configuration");
    let pdf = c.print(config).await.expect("prints");
    assert!(pdf.starts_with(b"%PDF"), "a PDF");
    let path = screenshots().join(format!("{name}.pdf"));
    std::fs::write(&path, &pdf).expect("written");
    let png = screenshots().join(name);
    let converted = std::process::Command::new("pdftoppm")
        .args(["-png", "-r", "70"])
        .arg(&path)
        .arg(&png)
        .status();
    if !converted.is_ok_and(|s| s.success()) {
        eprintln!(
            "pdftoppm not found: {} not turned into PNGs",
            path.display()
        );
    }
}

/// No run of three or more Latin letters: what a Japanese message for people looks like
/// (the server's messages are English sentences).
fn assert_japanese(where_: &str, text: &str) {
    let mut run = 0;
    for ch in text.chars() {
        run = if ch.is_ascii_alphabetic() { run + 1 } else { 0 };
        assert!(run < 3, "{where_} shows Latin text: {text:?}");
    }
    assert!(
        text.chars().any(|c| ('\u{3040}'..='\u{30ff}').contains(&c)),
        "{where_} is not in Japanese: {text:?}"
    );
}

/// The server's own message for a refused request (English, for developers).
async fn server_message(app: &TestApp, path: &str, token: &str) -> String {
    let (_, v) = app.get(path, token).await;
    v["error"]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

async fn refusals_in_japanese(app: &TestApp, driver: &Driver) {
    let p = people(app).await;
    let c = driver.session().await;

    // city.html: a pasted token that is no one's.
    c.goto(&format!("{}/app/city.html", app.base))
        .await
        .expect("city opens");
    type_into(&c, "#token", "mp_not_a_real_token").await;
    click(&c, "#signin-form button[type=submit]").await;
    let said = text_of(&c, "#signin-msg").await;
    assert_japanese("city.html sign-in", &said);
    snap(&c, "refusal-01-city-token").await;

    // city.html signed in: an unused-balance report for a day that has not come.
    super::a11y::sign_in(&c, app, &p.staff).await;
    c.goto(&format!("{}/app/city.html", app.base))
        .await
        .expect("city opens");
    chart_loaded(&c).await;
    let path = format!(
        "/api/v1/programs/{}/reports/unused-balance?date=2099-01-01",
        p.program
    );
    let english = server_message(app, &path, &app.admin).await;
    assert!(!english.is_empty(), "the server refuses a future date");
    c.execute(
        "document.getElementById('report-date').value = '2099-01-01'",
        vec![],
    )
    .await
    .expect("date set");
    click(&c, "#unused-form button[type=submit]").await;
    let said = text_of(&c, "#unused-msg").await;
    assert_japanese("city.html unused-balance", &said);
    let live = c
        .execute(
            "return document.getElementById('unused-msg').getAttribute('aria-live')",
            vec![],
        )
        .await
        .expect("script");
    assert_eq!(live, json!("assertive"), "the refusal is announced");
    let body = c
        .execute("return document.body.innerText", vec![])
        .await
        .expect("text");
    assert!(
        !body.as_str().unwrap_or_default().contains(&english),
        "the server's {english:?} on the page"
    );
    c.execute(
        "document.getElementById('unused-msg').scrollIntoView()",
        vec![],
    )
    .await
    .expect("scrolls");
    snap(&c, "refusal-02-city-future-date").await;

    // signin.html: a wrong password and a setup code that is no one's.
    c.delete_all_cookies().await.expect("signed out");
    c.goto(&format!("{}/app/signin.html", app.base))
        .await
        .expect("sign-in opens");
    type_into(&c, "#signin-login", &p.shopper).await;
    type_into(&c, "#signin-password", "not the password").await;
    click(&c, "#signin-submit").await;
    let said = text_of(&c, "#signin-msg").await;
    assert_japanese("signin.html sign-in", &said);
    type_into(&c, "#setup-code", "ABCD-EFGH-JKMN").await;
    type_into(&c, "#setup-login", "someone@example.jp").await;
    type_into(&c, "#setup-password", PASSWORD).await;
    click(&c, "#setup-submit").await;
    let said = text_of(&c, "#setup-msg").await;
    assert_japanese("signin.html setup", &said);
    let body = c
        .execute("return document.body.innerText", vec![])
        .await
        .expect("text");
    let body = body.as_str().unwrap_or_default();
    for english in ["wrong", "invalid", "not found", "setup code"] {
        assert!(
            !body.to_lowercase().contains(english),
            "{english:?} on the page: {body}"
        );
    }
    snap(&c, "refusal-03-signin").await;
    c.close().await.expect("closes");
}
