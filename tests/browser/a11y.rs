//! Accessibility and fit of every page of the web app, in Japanese and English, on a phone
//! (chromedriver's mobile emulation, 390 × 844: a plain 390 px window is clamped to 500 px in
//! headless Chrome) and on a 1280 px desktop: axe-core (vendored in `tests/browser/vendor/`)
//! finds no serious or critical violation; the page is no wider than the screen; buttons,
//! inputs and the page links are at least 44 × 44 px; with the text at 200 % nothing is wider
//! than the screen. Each page is opened as the person who uses it, signed in, with data.
//!
//! A new page is one line in `PAGES`; a page of merchant-app/ missing from it fails the test
//! (pages named `office*.html` are opened as an operator without a line). Findings on pages
//! being rebuilt on other branches are listed in `KNOWN` (each one must still happen, so the
//! list only shrinks).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use fantoccini::{Client, ClientBuilder};
use reqwest::StatusCode;
use serde_json::json;

use super::{Driver, TestApp, scenario, shot, wait_true};

/// Who a page is opened as.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum As {
    /// Signed out.
    Nobody,
    /// A shopper's session.
    Shopper,
    /// A store owner's session.
    Owner,
    /// A till enrolled with a device token (kept in localStorage).
    Till,
    /// A city admin's session.
    Staff,
    /// An operator's session (the back office).
    Operator,
}

/// Every page, as whom it is opened, and what shows once it has loaded (None: the page's
/// visible content stops changing).
const PAGES: &[(&str, As, Option<&str>)] = &[
    ("index.html", As::Nobody, Some(".cards")),
    ("signin.html", As::Nobody, Some("#signin-form")),
    ("wallet.html", As::Shopper, None),
    ("merchant.html", As::Till, None),
    ("owner.html", As::Owner, Some("#device-rows tr")),
    ("city.html", As::Staff, Some("#targets-chart[src^='blob:']")),
];

/// Findings on pages rebuilt on other branches (merchant.html and wallet.html, the office
/// pages), as `(screen, page, check)`: walked and reported, not restyled here.
const KNOWN: &[(&str, &str, &str)] = &[];

/// A phone's and a desktop's width, as the test names them.
#[derive(Debug, Clone, Copy)]
enum Screen {
    Phone,
    Desktop,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_is_accessible_and_fits_a_phone() {
    scenario(|app, driver| Box::pin(walk(app, driver, Screen::Phone))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_page_is_accessible_and_fits_a_desktop() {
    scenario(|app, driver| Box::pin(walk(app, driver, Screen::Desktop))).await;
}

/// The pages of merchant-app/ with whom each is opened as; a page not in `PAGES` fails.
fn pages() -> Vec<(String, As, Option<&'static str>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("merchant-app");
    let mut found: Vec<String> = std::fs::read_dir(&dir)
        .expect("merchant-app/")
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".html"))
        .collect();
    found.sort();
    found
        .into_iter()
        .map(|name| {
            let listed = PAGES.iter().find(|(p, _, _)| *p == name);
            match listed {
                Some((_, who, ready)) => (name, *who, *ready),
                None if name.starts_with("office") => (name, As::Operator, None),
                None => panic!("{name} is not in tests/browser/a11y.rs PAGES: add one line"),
            }
        })
        .collect()
}

pub(crate) const PASSWORD: &str = "correct horse battery";

/// Logins (with `PASSWORD`) for every kind of person, a till's token, and a town with data:
/// a currency program with targets, stores that joined and left, a shopper who paid.
pub(crate) struct People {
    pub shopper: String,
    pub owner: String,
    pub staff: String,
    pub operator: String,
    pub till_token: String,
    /// The currency program (its id).
    pub program: String,
}

/// Gives the principal a login through a setup code (issued with `issuer`'s token).
pub(crate) async fn login_for(app: &TestApp, issuer: &str, kind: &str, id: &str, login: &str) {
    let (s, code) = app
        .post(
            &format!("/api/v1/principals/{kind}/{id}/setup-codes"),
            issuer,
            json!({}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{code}");
    let (s, v) = app
        .request(
            "POST",
            "/api/v1/setup",
            None,
            None,
            Some(&json!({"code": code["code"], "login": login, "password": PASSWORD})),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
}

pub(crate) async fn people(app: &TestApp) -> People {
    let op = app.operator().await;
    let program = app.currency().await;
    let (merchant, owner) = app.merchant(&op).await;
    let (other, _) = app.merchant(&op).await;
    let (shopper, shopper_token) = app.shopper(&op).await;
    app.charge(&op, &program, &shopper, 10_000).await;
    for (store, kind, on) in [
        (&merchant, "joined", "2024-05-01"),
        (&other, "joined", "2024-06-01"),
        (&other, "left", "2025-01-15"),
    ] {
        let (s, v) = app
            .post(
                &format!("/api/v1/programs/{program}/merchants/{store}/participation-events"),
                &op,
                json!({"kind": kind, "effective_on": on, "reason": "テスト"}),
            )
            .await;
        assert_eq!(s, StatusCode::CREATED, "{v}");
    }
    for (fy, n) in [("2024", 2), ("2025", 3)] {
        let (s, v) = app
            .put(
                &format!("/api/v1/programs/{program}/targets/{fy}"),
                &app.admin,
                json!({"stores": n}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    let (s, v) = app
        .post(
            &format!("/api/v1/merchants/{merchant}/codes"),
            &owner,
            json!({"program_id": program}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (_, codes) = app
        .get(&format!("/api/v1/merchants/{merchant}/codes"), &owner)
        .await;
    let payload = codes[0]["payload"].as_str().expect("payload").to_owned();
    let (s, paid) = app
        .post_money(
            "/api/v1/qr/payments",
            &shopper_token,
            json!({"payload": payload, "amount": 1200}),
        )
        .await;
    assert!(s.is_success(), "{paid}");
    let (s, v) = app
        .put(
            &format!("/api/v1/merchants/{merchant}/profile"),
            &op,
            json!({"external_ref": "A-1", "name_kana": "スーパー", "industry": "小売",
                "association": "駅前商店会", "district": "中央", "size_class": "large",
                "address": "テスト市1-1", "contact": "042-000-0000"}),
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let till_token = app.enroll_device(&merchant, &owner).await["token"]
        .as_str()
        .expect("token")
        .to_owned();

    let (_, admin) = app.get("/api/v1/me", &app.admin).await;
    let (operator_id, _) = app.staff("operator", "operator").await;
    let admin_id = admin["id"].as_str().expect("id").to_owned();
    login_for(app, &op, "shopper", &shopper, "shopper@example.jp").await;
    login_for(app, &op, "merchant_owner", &merchant, "owner@example.jp").await;
    login_for(app, &app.admin, "staff", &admin_id, "city@example.jp").await;
    login_for(
        app,
        &app.admin,
        "staff",
        &operator_id,
        "operator@example.jp",
    )
    .await;
    People {
        shopper: "shopper@example.jp".into(),
        owner: "owner@example.jp".into(),
        staff: "city@example.jp".into(),
        operator: "operator@example.jp".into(),
        till_token,
        program,
    }
}

/// Signs the browser in as `login` (the session cookie), from a page of the app.
pub(crate) async fn sign_in(c: &Client, app: &TestApp, login: &str) {
    c.goto(&format!("{}/app/index.html", app.base))
        .await
        .expect("opens");
    let status = c
        .execute(
            "return fetch('/api/v1/sessions', {method: 'POST', headers: {'Content-Type': \
             'application/json'}, body: JSON.stringify({login: arguments[0], password: \
             arguments[1]})}).then(r => r.status)",
            vec![json!(login), json!(PASSWORD)],
        )
        .await
        .expect("signs in");
    assert_eq!(status, json!(201), "{login} signs in");
}

/// Opens the browser as `who`: signed in, a till's token kept, or nobody.
async fn become_(c: &Client, app: &TestApp, people: &People, who: As) {
    c.goto(&format!("{}/app/index.html", app.base))
        .await
        .expect("opens");
    c.delete_all_cookies().await.expect("cookies cleared");
    c.execute(
        "const l = localStorage.getItem('machipay.lang'); localStorage.clear(); \
         if (l) localStorage.setItem('machipay.lang', l);",
        vec![],
    )
    .await
    .expect("storage cleared");
    match who {
        As::Nobody => {}
        As::Till => {
            c.execute(
                "localStorage.setItem('machipay.device', arguments[0])",
                vec![json!(people.till_token)],
            )
            .await
            .expect("till token kept");
        }
        As::Shopper => sign_in(c, app, &people.shopper).await,
        As::Owner => sign_in(c, app, &people.owner).await,
        As::Staff => sign_in(c, app, &people.staff).await,
        As::Operator => sign_in(c, app, &people.operator).await,
    }
}

/// A desktop browser: 1280 px wide, no mobile emulation.
pub(crate) async fn desktop(driver: &Driver) -> Client {
    let mut caps = serde_json::Map::new();
    caps.insert(
        "goog:chromeOptions".into(),
        json!({
            "binary": driver.chromium,
            "args": ["--headless=new", "--no-sandbox", "--disable-dev-shm-usage",
                     "--disable-gpu", "--lang=ja", "--window-size=1280,900"],
        }),
    );
    ClientBuilder::native()
        .capabilities(caps)
        .connect(&driver.url)
        .await
        .expect("a browser session")
}

/// Waits until the page has loaded and shown what it shows once ready: `ready` when given,
/// else until its visible text has stayed the same for three looks 200 ms apart.
async fn settled(c: &Client, ready: Option<&str>) {
    wait_true(c, "return document.readyState === 'complete'").await;
    if let Some(css) = ready {
        let css = css.replace('\'', "\\'");
        wait_true(
            c,
            &format!(
                "const e = document.querySelector('{css}'); \
                 return !!e && e.getClientRects().length > 0 && !e.closest('[hidden]')"
            ),
        )
        .await;
        return;
    }
    let mut last = String::new();
    let mut same = 0;
    let deadline = tokio::time::Instant::now() + super::WAIT;
    while same < 3 && tokio::time::Instant::now() < deadline {
        let now = c
            .execute("return document.body.innerText", vec![])
            .await
            .expect("text")
            .as_str()
            .unwrap_or_default()
            .to_owned();
        same = if now == last { same + 1 } else { 0 };
        last = now;
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// What is wrong on the page as it is: `(check, detail)`.
const FIT: &str = r#"
const vw = window.innerWidth;
const shown = (el) => {
  const r = el.getBoundingClientRect();
  const s = getComputedStyle(el);
  return r.width > 0 && r.height > 0 && s.visibility !== 'hidden' && !el.closest('[hidden]');
};
const name = (el) => el.tagName.toLowerCase() + (el.id ? '#' + el.id : '') +
  (el.className && typeof el.className === 'string' ? '.' + el.className.trim().split(/\s+/).join('.') : '') +
  (el.textContent.trim() ? ' "' + el.textContent.trim().slice(0, 24) + '"' : '');
const out = [];
const width = document.scrollingElement.scrollWidth;
if (width > vw) out.push(['overflow', `page ${width} px wide on a ${vw} px screen`]);
// Elements past the right edge, outside boxes that scroll on purpose (tables, the chart).
const outside = [...document.querySelectorAll('body *')]
  .filter((el) => shown(el) && !el.closest('.table-scroll, .chart-box, script, style'))
  .filter((el) => el.getBoundingClientRect().right > vw + 1)
  .map(name);
if (outside.length) out.push(['outside', outside.slice(0, 6).join(', ')]);
for (const el of document.querySelectorAll(
    'button, input:not([type=hidden]), select, textarea, nav a, a.button, header a')) {
  if (!shown(el)) continue;
  const r = el.getBoundingClientRect();
  if (r.height < 43.5 || r.width < 43.5)
    out.push(['target-size', `${name(el)} ${Math.round(r.width)}×${Math.round(r.height)} px`]);
}
return out;
"#;

/// Runs axe-core (injected) and returns its serious and critical violations as `(check,
/// detail)`.
async fn axe(c: &Client) -> Vec<(String, String)> {
    let source = include_str!("vendor/axe.min.js");
    let loaded = c
        .execute(
            &format!("{source}\n;return typeof window.axe === 'object';"),
            vec![],
        )
        .await
        .expect("axe injected");
    assert_eq!(loaded, json!(true), "axe-core loads");
    let found = c
        .execute_async(
            "const done = arguments[arguments.length - 1];
             axe.run(document, {resultTypes: ['violations']})
               .then((r) => done(r.violations
                 .filter((v) => v.impact === 'serious' || v.impact === 'critical')
                 .map((v) => [v.id, v.impact, v.help,
                   v.nodes.slice(0, 4).map((n) => n.target.join(' ')).join(' | ')])))
               .catch((e) => done([['axe-error', 'critical', String(e), '']]));",
            vec![],
        )
        .await
        .expect("axe runs");
    found
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            (
                format!("axe:{}", v[0].as_str().unwrap_or_default()),
                format!(
                    "{} ({}): {}",
                    v[2].as_str().unwrap_or_default(),
                    v[1].as_str().unwrap_or_default(),
                    v[3].as_str().unwrap_or_default()
                ),
            )
        })
        .collect()
}

async fn fit(c: &Client) -> Vec<(String, String)> {
    let found = c.execute(FIT, vec![]).await.expect("fit checked");
    found
        .as_array()
        .expect("a list")
        .iter()
        .map(|v| {
            (
                v[0].as_str().unwrap_or_default().to_owned(),
                v[1].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// The same checks with the text at 200 % (the root size doubled, as a browser's text zoom
/// does to rem-sized text): nothing wider than the screen, nothing pushed out of it.
async fn zoomed(c: &Client) -> Vec<(String, String)> {
    c.execute(
        "document.documentElement.style.fontSize = \
         (2 * parseFloat(getComputedStyle(document.documentElement).fontSize)) + 'px'",
        vec![],
    )
    .await
    .expect("text zoomed");
    let found = fit(c)
        .await
        .into_iter()
        .filter(|(check, _)| check != "target-size")
        .map(|(check, detail)| (format!("zoom-{check}"), detail))
        .collect();
    c.execute("document.documentElement.style.fontSize = ''", vec![])
        .await
        .expect("zoom reset");
    found
}

async fn walk(app: &TestApp, driver: &Driver, screen: Screen) {
    let people = people(app).await;
    let c = match screen {
        Screen::Phone => driver.session().await,
        Screen::Desktop => desktop(driver).await,
    };
    let tag = match screen {
        Screen::Phone => "phone",
        Screen::Desktop => "desktop",
    };
    // (page, check) → every detail seen, with the language.
    let mut found: BTreeMap<(String, String), BTreeSet<String>> = BTreeMap::new();
    for (page, who, ready) in pages() {
        for lang in ["ja", "en"] {
            c.goto(&format!("{}/app/index.html", app.base))
                .await
                .expect("opens");
            c.execute(
                "localStorage.setItem('machipay.lang', arguments[0])",
                vec![json!(lang)],
            )
            .await
            .expect("language set");
            become_(&c, app, &people, who).await;
            c.goto(&format!("{}/app/{page}", app.base))
                .await
                .expect("page opens");
            settled(&c, ready).await;
            let html_lang = c
                .execute("return document.documentElement.lang", vec![])
                .await
                .expect("lang");
            assert_eq!(html_lang, json!(lang), "{page} says its language");
            shot(
                &c,
                &format!("a11y-{tag}-{lang}-{}", page.trim_end_matches(".html")),
            )
            .await;
            let mut all = axe(&c).await;
            all.extend(fit(&c).await);
            all.extend(zoomed(&c).await);
            for (check, detail) in all {
                found
                    .entry((page.clone(), check))
                    .or_default()
                    .insert(format!("[{lang}] {detail}"));
            }
        }
    }
    canary(&c, app).await;
    c.close().await.expect("closes");
    report(tag, &found);
}

/// The checks themselves catch a bad page: a tiny low-contrast button and a box wider than
/// the screen, put on the start page, are each reported.
async fn canary(c: &Client, app: &TestApp) {
    c.goto(&format!("{}/app/index.html", app.base))
        .await
        .expect("opens");
    settled(c, Some(".cards")).await;
    c.execute(
        "const b = document.createElement('button');
         b.textContent = 'Low contrast';
         b.style.cssText = 'min-height: 0; min-width: 0; width: 20px; height: 20px; padding: 0; \
           color: #aaa; background: #bbb; border: 0';
         const wide = document.createElement('div');
         wide.style.cssText = 'width: 3000px; height: 10px';
         const img = document.createElement('img');
         img.src = 'missing.png';
         img.style.cssText = 'width: 30px; height: 30px';
         document.querySelector('main').append(b, img, wide);",
        vec![],
    )
    .await
    .expect("canary placed");
    let mut checks: BTreeSet<String> = axe(c).await.into_iter().map(|(k, _)| k).collect();
    checks.extend(fit(c).await.into_iter().map(|(k, _)| k));
    for want in [
        "axe:image-alt",
        "axe:color-contrast",
        "overflow",
        "target-size",
    ] {
        assert!(
            checks.contains(want),
            "the canary's {want} was not caught: {checks:?}"
        );
    }
}

/// Fails on a finding not in `KNOWN`, and on a `KNOWN` entry no longer found; prints them all.
fn report(tag: &str, found: &BTreeMap<(String, String), BTreeSet<String>>) {
    let mut text = String::new();
    for ((page, check), details) in found {
        text.push_str(&format!("{tag} {page} {check}:\n"));
        for d in details {
            text.push_str(&format!("    {d}\n"));
        }
    }
    if !text.is_empty() {
        eprintln!("accessibility findings ({tag}):\n{text}");
    }
    let known: BTreeSet<(String, String)> = KNOWN
        .iter()
        .filter(|(screen, _, _)| *screen == tag)
        .map(|(_, p, c)| ((*p).to_owned(), (*c).to_owned()))
        .collect();
    let new: Vec<_> = found.keys().filter(|k| !known.contains(*k)).collect();
    let stale: Vec<_> = known.iter().filter(|k| !found.contains_key(*k)).collect();
    assert!(
        new.is_empty() && stale.is_empty(),
        "{tag}: accessibility findings not in KNOWN {new:#?}\n\
         KNOWN entries no longer found (remove them) {stale:#?}\n{text}"
    );
}
