//! The city's store report against a fixture whose counts were worked out by hand, as JSON,
//! CSV (BOM, Japanese headers) and SVG; reproducible for past dates; the usage report.
//!
//! The fixture (targets: 令和5 = 3, 令和6 = 4, 令和7 = 3 stores):
//!
//! | store | profile (商店会, 業種, 地区, size) | history                                   | payments               |
//! |-------|------------------------------------|-------------------------------------------|------------------------|
//! | A     | 東町商店会, 飲食, 東, small         | joined 2023-05-01                         | 2023-08-01, 2024-05-01, 2025-06-01 |
//! | B     | 東町商店会, 小売, 東, medium        | joined 2023-06-01, left 2024-10-15 (mid-year) | 2023-09-01, 2024-06-01 |
//! | C     | none, 小売, 西, small               | joined 2024-04-10                         | never                  |
//! | D     | 西町商店会, 飲食, 西, large          | joined 2024-07-01, suspended 2025-01-10   | 2024-08-01             |
//! | E     | 東町商店会, サービス, 東, small      | joined 2025-05-01                         | 2025-07-01             |
//! | F     | no profile, no history (legacy)    | —                                         | 2024-09-01             |
//!
//! By hand, per 年度 (registered at year end = joined and not left, suspended included;
//! active = at least one payment in the year):
//!
//! | 年度 | registered | active | joined | left | target | 達成率 |
//! |------|-----------|--------|--------|------|--------|--------|
//! | 令和5 (2023) | A B = 2 | A B = 2 | A B = 2 | 0 | 3 | 66.7 |
//! | 令和6 (2024) | A C D = 3 | A B D F = 4 | C D = 2 | B = 1 | 4 | 75.0 |
//! | 令和7 (2025) | A C D E = 4 | A E = 2 | E = 1 | 0 | 3 | 133.3 |
//!
//! On 2024-10-14 (the day before B left), 令和6 so far: registered A B C D = 4, active A B D F
//! = 4, joined C D = 2, left 0.

use reqwest::StatusCode;
use serde_json::{Value, json};

use super::registry::profile;
use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(
    store_report_matches_the_hand_counted_fixture,
    usage_report_counts_months_and_years,
    store_report_lists_changes_and_the_year_before
);

struct Fixture {
    program: String,
}

async fn store(app: &TestApp, op: &str, name: &str, prof: Option<Value>) -> String {
    let (m, _) = app.merchant(op).await;
    if let Some(prof) = prof {
        let (s, v) = app
            .put(&format!("/api/v1/merchants/{m}/profile"), op, prof)
            .await;
        assert_eq!(s, StatusCode::OK, "{name}: {v}");
    }
    m
}

async fn event(app: &TestApp, op: &str, p: &str, m: &str, kind: &str, on: &str) {
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/merchants/{m}/participation-events"),
            op,
            json!({"kind": kind, "effective_on": on}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{kind} {on}: {v}");
}

async fn fixture(app: &TestApp) -> Fixture {
    let op = app.operator().await;
    let p = app.currency().await;
    let a = store(
        app,
        &op,
        "A",
        Some(profile("A", Some("東町商店会"), "飲食", "東", "small")),
    )
    .await;
    let b = store(
        app,
        &op,
        "B",
        Some(profile("B", Some("東町商店会"), "小売", "東", "medium")),
    )
    .await;
    let c = store(
        app,
        &op,
        "C",
        Some(profile("C", None, "小売", "西", "small")),
    )
    .await;
    let d = store(
        app,
        &op,
        "D",
        Some(profile("D", Some("西町商店会"), "飲食", "西", "large")),
    )
    .await;
    let e = store(
        app,
        &op,
        "E",
        Some(profile("E", Some("東町商店会"), "サービス", "東", "small")),
    )
    .await;
    let f = store(app, &op, "F", None).await;
    for (fy, n) in [("2023", 3), ("2024", 4), ("2025", 3)] {
        let (s, v) = app
            .put(
                &format!("/api/v1/programs/{p}/targets/{fy}"),
                &app.admin,
                json!({"stores": n}),
            )
            .await;
        assert_eq!(s, StatusCode::OK, "{v}");
    }
    for (m, on) in [
        (&a, "2023-05-01"),
        (&b, "2023-06-01"),
        (&c, "2024-04-10"),
        (&d, "2024-07-01"),
        (&e, "2025-05-01"),
    ] {
        event(app, &op, &p, m, "joined", on).await;
    }
    let (shopper, token) = app.shopper(&op).await;
    app.backdated_charge(&p, &shopper, 10_000, "2023-04-01T03:00:00Z")
        .await;
    // Noon JST on each date.
    for (m, date) in [
        (&a, "2023-08-01"),
        (&a, "2024-05-01"),
        (&a, "2025-06-01"),
        (&b, "2023-09-01"),
        (&b, "2024-06-01"),
        (&d, "2024-08-01"),
        (&e, "2025-07-01"),
        (&f, "2024-09-01"),
    ] {
        app.backdated_payment(&p, &token, m, 100, &format!("{date}T03:00:00Z"))
            .await;
    }
    event(app, &op, &p, &b, "left", "2024-10-15").await;
    event(app, &op, &p, &d, "suspended", "2025-01-10").await;
    Fixture { program: p }
}

fn counts(v: &Value) -> (i64, i64, i64, i64, Option<i64>, Option<&str>) {
    (
        v["registered_at_end"].as_i64().unwrap(),
        v["active"].as_i64().unwrap(),
        v["joined"].as_i64().unwrap(),
        v["left"].as_i64().unwrap(),
        v["target"].as_i64(),
        v["achievement_rate"].as_str(),
    )
}

fn groups(v: &Value) -> Vec<(String, i64, i64)> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|g| {
            (
                g["key"].as_str().unwrap().to_owned(),
                g["registered_at_end"].as_i64().unwrap(),
                g["active"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn report(app: &TestApp, p: &str, query: &str) -> Value {
    let (s, v) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/stores?{query}"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{query}: {v}");
    v
}

async fn store_report_matches_the_hand_counted_fixture(app: &TestApp) {
    let fx = fixture(app).await;
    let p = &fx.program;

    let r6 = report(app, p, "fiscal_year=2024").await;
    assert_eq!(r6["label"], "令和6年度 (2024)");
    assert_eq!(counts(&r6), (3, 4, 2, 1, Some(4), Some("75.0")));
    let g = |key: &str, n: (i64, i64)| (key.to_owned(), n.0, n.1);
    assert_eq!(
        groups(&r6["breakdowns"]["association"]),
        [
            g("なし", (1, 0)),
            g("未登録", (0, 1)),
            g("東町商店会", (1, 2)),
            g("西町商店会", (1, 1))
        ]
    );
    assert_eq!(
        groups(&r6["breakdowns"]["industry"]),
        [g("小売", (1, 1)), g("未登録", (0, 1)), g("飲食", (2, 2))]
    );
    assert_eq!(
        groups(&r6["breakdowns"]["district"]),
        [g("未登録", (0, 1)), g("東", (1, 2)), g("西", (2, 1))]
    );
    assert_eq!(
        groups(&r6["breakdowns"]["size_class"]),
        [
            g("large", (1, 1)),
            g("medium", (0, 1)),
            g("small", (2, 1)),
            g("未登録", (0, 1))
        ]
    );

    let r7 = report(app, p, "fiscal_year=令和7年度").await;
    assert_eq!(counts(&r7), (4, 2, 1, 0, Some(3), Some("133.3")));
    let trend: Vec<_> = r7["trend"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| {
            (
                y["fiscal_year"].as_i64().unwrap(),
                y["label"].as_str().unwrap().to_owned(),
                counts(y),
            )
        })
        .collect();
    assert_eq!(
        trend,
        [
            (
                2023,
                "令和5年度".to_owned(),
                (2, 2, 2, 0, Some(3), Some("66.7"))
            ),
            (
                2024,
                "令和6年度".to_owned(),
                (3, 4, 2, 1, Some(4), Some("75.0"))
            ),
            (
                2025,
                "令和7年度".to_owned(),
                (4, 2, 1, 0, Some(3), Some("133.3"))
            ),
        ]
    );
    assert_eq!(r7["trend"][0]["western_label"], "2023年度");

    // Any past date: the day before B left, and the day it left.
    let before = report(app, p, "date=2024-10-14").await;
    assert_eq!(counts(&before), (4, 4, 2, 0, Some(4), Some("100.0")));
    let on = report(app, p, "from=2024-04-01&to=2024-10-15").await;
    assert_eq!(counts(&on), (3, 4, 2, 1, Some(4), Some("75.0")));
    // Asked again, the same answer (recomputed from history and postings).
    assert_eq!(report(app, p, "fiscal_year=2024").await, r6);

    let (s, e) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/stores?from=2025-04-01&to=2025-03-31"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("period_ends_before_start"))
    );
    let (s, e) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/stores?fiscal_year=H30"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_fiscal_year"))
    );
    // A period that has not started is refused by name; 令和0年度 does not parse.
    for q in [
        "fiscal_year=2099",
        "date=2099-01-01",
        "from=2099-01-01&to=2099-02-01",
        "fiscal_year=令和0年度",
    ] {
        let (s, e) = app
            .get(
                &format!("/api/v1/programs/{p}/reports/stores?{q}"),
                &app.admin,
            )
            .await;
        let want = if q.contains("令和0") {
            "invalid_fiscal_year"
        } else {
            "period_in_future"
        };
        assert_eq!(
            (s, e["error"]["code"].as_str()),
            (StatusCode::BAD_REQUEST, Some(want)),
            "{q}: {e}"
        );
    }
    // A date range is labelled in both calendars; the breakdowns say what they rest on.
    let ranged = report(app, p, "from=2019-04-01&to=2025-09-30").await;
    assert_eq!(
        ranged["label"],
        "平成31年4月1日〜令和7年9月30日 (2019-04-01〜2025-09-30)"
    );
    assert!(ranged["note"].as_str().unwrap().contains("current profile"));

    check_csv(app, p).await;
    check_svg(app, p).await;
}

async fn check_csv(app: &TestApp, p: &str) {
    let (s, ct, body) = app
        .get_bytes(
            &format!("/api/v1/programs/{p}/reports/stores?fiscal_year=2024&format=csv"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("text/csv"), "{ct}");
    assert_eq!(&body[..3], b"\xEF\xBB\xBF", "Excel needs the BOM");
    let text = std::str::from_utf8(&body[3..]).expect("UTF-8");
    assert!(text.contains("\r\n"));
    let mut reader = csv::Reader::from_reader(text.as_bytes());
    let header: Vec<String> = reader
        .headers()
        .unwrap()
        .iter()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        header,
        [
            "区分",
            "項目",
            "取扱店舗数(期末)",
            "利用のあった店舗数",
            "新規加盟",
            "退会",
            "目標",
            "達成率(%)"
        ]
    );
    let rows: Vec<Vec<String>> = reader
        .records()
        .map(|r| r.unwrap().iter().map(str::to_owned).collect())
        .collect();
    assert_eq!(
        rows[0],
        ["期間", "令和6年度 (2024)", "3", "4", "2", "1", "4", "75.0"]
    );
    assert_eq!(
        rows[1],
        [
            "年度推移",
            "令和5年度 (2023)",
            "2",
            "2",
            "2",
            "0",
            "3",
            "66.7"
        ]
    );
    assert!(
        rows.iter()
            .any(|r| r[..4] == ["商店会", "東町商店会", "1", "2"])
    );
    // 規模 in Japanese, as the city's own lists say it.
    assert!(
        rows.iter().any(|r| r[..4] == ["規模", "大規模", "1", "1"]),
        "{rows:?}"
    );
    assert!(!rows.iter().any(|r| r[1] == "large" || r[1] == "small"));
}

async fn check_svg(app: &TestApp, p: &str) {
    let (s, ct, body) = app
        .get_bytes(
            &format!("/api/v1/programs/{p}/reports/stores?fiscal_year=2025&format=svg"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert!(ct.starts_with("image/svg+xml"), "{ct}");
    let text = String::from_utf8(body).expect("UTF-8");
    let doc = roxmltree::Document::parse(&text).expect("well-formed SVG");
    assert_eq!(doc.root_element().tag_name().name(), "svg");
    let with_class = |class: &str| -> Vec<roxmltree::Node> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .collect()
    };
    let values = |class: &str| -> Vec<i64> {
        with_class(class)
            .iter()
            .map(|n| n.attribute("data-value").unwrap().parse().unwrap())
            .collect()
    };
    assert_eq!(values("actual"), [2, 3, 4]);
    assert_eq!(values("target"), [3, 4, 3]);
    let texts = |class: &str| -> Vec<String> {
        with_class(class)
            .iter()
            .map(|n| n.text().unwrap().to_owned())
            .collect()
    };
    // Both calendars under each bar, the number on the bar, the target's number under it.
    assert_eq!(texts("label"), ["令和5年度", "令和6年度", "令和7年度"]);
    assert_eq!(texts("western"), ["(2023)", "(2024)", "(2025)"]);
    assert_eq!(texts("value"), ["2", "3", "4"]);
    assert_eq!(texts("target-value"), ["目標 3", "目標 4", "目標 3"]);
    assert!(with_class("tick").len() >= 3, "an axis with ticks");
    assert_eq!(with_class("target-line").len(), 1);
    // Taller bar, larger number.
    let heights: Vec<i64> = with_class("actual")
        .iter()
        .map(|n| n.attribute("height").unwrap().parse().unwrap())
        .collect();
    assert!(
        heights[0] < heights[1] && heights[1] < heights[2],
        "{heights:?}"
    );

    // In English: the same numbers, English words, the Japanese 年度 kept beside the year.
    let (s, _, body) = app
        .get_bytes(
            &format!("/api/v1/programs/{p}/reports/stores?fiscal_year=2025&format=svg&lang=en"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    let en = String::from_utf8(body).expect("UTF-8");
    let doc = roxmltree::Document::parse(&en).expect("well-formed SVG");
    let en_texts = |class: &str| -> Vec<String> {
        doc.descendants()
            .filter(|n| n.attribute("class") == Some(class))
            .map(|n| n.text().unwrap().to_owned())
            .collect()
    };
    assert_eq!(en_texts("label"), ["FY2023", "FY2024", "FY2025"]);
    assert_eq!(en_texts("western"), ["(Reiwa 5)", "(Reiwa 6)", "(Reiwa 7)"]);
    assert_eq!(en_texts("target-value")[0], "Target 3");
    assert!(!en.contains("目標"), "{en}");
    let (s, e) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/stores?fiscal_year=2025&format=svg&lang=fr"),
            &app.admin,
        )
        .await;
    assert_eq!(
        (s, e["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_format"))
    );
}

fn jst_today() -> chrono::NaiveDate {
    (chrono::Utc::now() + chrono::Duration::hours(9)).date_naive()
}

/// The stores that joined, were suspended or left in a 年度, by name with the reason; the
/// "as of" day of a finished and of a running 年度; the same days a year before.
async fn store_report_lists_changes_and_the_year_before(app: &TestApp) {
    let fx = fixture(app).await;
    let p = &fx.program;
    let op = app.operator().await;
    let (g, _) = app.merchant(&op).await;
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/merchants/{g}/participation-events"),
            &op,
            json!({"kind": "joined", "effective_on": "2025-06-01", "reason": "商店会の紹介"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{p}/merchants/{g}/participation-events"),
            &op,
            json!({"kind": "suspended", "effective_on": "2025-09-01", "reason": "店舗改装のため"}),
        )
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");

    // 令和6: C and D joined, B left, D was suspended; named, in date order.
    let r6 = report(app, p, "fiscal_year=2024").await;
    let changes: Vec<(&str, &str)> = r6["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            assert_eq!(c["name"], "スーパー", "{c}");
            assert!(c["merchant_id"].is_string(), "{c}");
            (
                c["kind"].as_str().unwrap(),
                c["effective_on"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        changes,
        [
            ("joined", "2024-04-10"),
            ("joined", "2024-07-01"),
            ("left", "2024-10-15"),
            ("suspended", "2025-01-10"),
        ]
    );
    assert_eq!(r6["changes_truncated"], false);
    // A finished 年度 counts to its last day; the year before is 令和5 whole.
    assert_eq!(r6["as_of"], "2025-03-31");
    assert_eq!(
        counts(&r6["previous_year"]),
        (2, 2, 2, 0, Some(3), Some("66.7"))
    );

    // 令和7: the reasons recorded come with the changes.
    let r7 = report(app, p, "fiscal_year=2025").await;
    let reasons: Vec<(&str, Option<&str>)> = r7["changes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| (c["kind"].as_str().unwrap(), c["reason"].as_str()))
        .collect();
    assert_eq!(
        reasons,
        [
            ("joined", None),
            ("joined", Some("商店会の紹介")),
            ("suspended", Some("店舗改装のため"))
        ]
    );

    // The running 年度 is "as of" today, not its year end, and is compared with the same
    // days of the year before.
    let today = jst_today();
    let fy = if chrono::Datelike::month(&today) >= 4 {
        chrono::Datelike::year(&today)
    } else {
        chrono::Datelike::year(&today) - 1
    };
    let now = report(app, p, &format!("fiscal_year={fy}")).await;
    assert_eq!(now["as_of"], today.to_string());
    assert_eq!(now["to"], format!("{}-03-31", fy + 1));
    let (s, u) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/usage?fiscal_year={fy}"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["as_of"], today.to_string());

    // Usage of 令和7 against 令和6: 4 payments of ¥100 then, 2 now.
    let (s, u) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/usage?fiscal_year=2025"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    assert_eq!(u["as_of"], "2026-03-31");
    assert_eq!(
        (
            u["total"]["transactions"].as_i64(),
            u["previous_total"]["transactions"].as_i64(),
            u["previous_total"]["value_yen"].as_i64()
        ),
        (Some(2), Some(4), Some(400))
    );
}

async fn usage_report_counts_months_and_years(app: &TestApp) {
    let fx = fixture(app).await;
    let p = &fx.program;
    let (s, u) = app
        .get(
            &format!("/api/v1/programs/{p}/reports/usage?from=2024-04-01&to=2025-09-30"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK, "{u}");
    let months: Vec<(&str, i64, i64)> = u["months"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            (
                m["key"].as_str().unwrap(),
                m["transactions"].as_i64().unwrap(),
                m["value_yen"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        months,
        [
            ("2024-05", 1, 100),
            ("2024-06", 1, 100),
            ("2024-08", 1, 100),
            ("2024-09", 1, 100),
            ("2025-06", 1, 100),
            ("2025-07", 1, 100)
        ]
    );
    let years: Vec<(&str, i64, i64)> = u["fiscal_years"]
        .as_array()
        .unwrap()
        .iter()
        .map(|y| {
            (
                y["key"].as_str().unwrap(),
                y["transactions"].as_i64().unwrap(),
                y["active_shoppers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        years,
        [("令和6年度 (2024)", 4, 1), ("令和7年度 (2025)", 2, 1)]
    );
    assert_eq!(u["total"]["value_yen"], 600);
    let (s, _, body) = app
        .get_bytes(
            &format!("/api/v1/programs/{p}/reports/usage?fiscal_year=2024&format=csv"),
            &app.admin,
        )
        .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(&body[..3], b"\xEF\xBB\xBF");
    let text = std::str::from_utf8(&body[3..]).unwrap();
    assert!(text.starts_with("区分,期間,取引件数"));
    // Months as people write them, not "2024-05".
    assert!(text.contains("月別,2024年5月,1,100"), "{text}");
}
