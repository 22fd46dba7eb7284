//! The published list of error codes (`GET /api/v1/error-codes`) against the web app's texts
//! for people (`merchant-app/js/error-messages.js`): every code the API can answer with has a
//! Japanese and an English text, so the apps never fall back to the generic message (or the
//! server's English) for a refusal the server knows.

use std::collections::BTreeMap;

use reqwest::StatusCode;

use crate::helpers::TestApp;

/// The entries of `ERROR_MESSAGES` in error-messages.js, by code: `(ja, en)`. The file's
/// header documents the format: one `code: { ja: "...", en: "..." },` per line.
fn app_texts(js: &str) -> BTreeMap<String, (String, String)> {
    let body = js
        .split_once("export const ERROR_MESSAGES = {")
        .expect("error-messages.js declares ERROR_MESSAGES")
        .1;
    let body = body
        .split_once("\n};")
        .expect("ERROR_MESSAGES ends with `};`")
        .0;
    let text_of = |line: &str, key: &str| -> String {
        line.split_once(&format!("{key}: \""))
            .and_then(|(_, rest)| rest.split_once('"'))
            .map(|(text, _)| text.trim().to_owned())
            .unwrap_or_default()
    };
    let mut out = BTreeMap::new();
    for line in body.lines().map(str::trim) {
        if line.is_empty() || line.starts_with("//") {
            continue;
        }
        let (code, entry) = line
            .split_once(": {")
            .unwrap_or_else(|| panic!("not `code: {{ ja: \"...\", en: \"...\" }},`: {line}"));
        out.insert(
            code.trim().to_owned(),
            (text_of(entry, "ja"), text_of(entry, "en")),
        );
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_error_code_has_texts_for_people() {
    let app = TestApp::sqlite().await;
    let (status, list) = app
        .request("GET", "/api/v1/error-codes", None, None, None)
        .await;
    assert_eq!(status, StatusCode::OK, "{list}");
    let mut codes: Vec<String> = list["codes"]
        .as_array()
        .expect("codes")
        .iter()
        .map(|c| c["code"].as_str().expect("a code").to_owned())
        .collect();
    for failure in ["unavailable", "internal"] {
        codes.push(list[failure].as_str().expect(failure).to_owned());
    }
    assert!(codes.iter().any(|c| c == "insufficient_funds"), "{list}");

    // The file as the app loads it (so it is embedded and served too).
    let resp = app
        .client
        .get(format!("{}/app/js/error-messages.js", app.base))
        .send()
        .await
        .expect("sent");
    assert_eq!(resp.status(), StatusCode::OK);
    let texts = app_texts(&resp.text().await.expect("body"));
    assert!(texts.len() > 10, "parsed too few entries: {texts:?}");

    let missing: Vec<String> = codes
        .iter()
        .filter_map(|code| {
            let (ja, en) = texts.get(code).cloned().unwrap_or_default();
            let lacks: Vec<&str> = [("ja", ja), ("en", en)]
                .into_iter()
                .filter(|(_, text)| text.is_empty())
                .map(|(lang, _)| lang)
                .collect();
            (!lacks.is_empty()).then(|| format!("{code} (no {})", lacks.join(", no ")))
        })
        .collect();
    assert!(
        missing.is_empty(),
        "error codes the web app has no text for; add them to merchant-app/js/error-messages.js: \
         {missing:#?}"
    );
    app.cleanup().await;
}

#[test]
fn the_format_is_read_as_documented() {
    let js = "export const ERROR_MESSAGES = {\n  // a group\n  a_b: { ja: \"日本語。\", en: \"Text.\" },\n  c: { ja: \"\", en: \"x\" },\n};\n";
    let texts = app_texts(js);
    assert_eq!(texts["a_b"], ("日本語。".to_owned(), "Text.".to_owned()));
    assert_eq!(texts["c"], (String::new(), "x".to_owned()));
}
