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
    for failure in ["unavailable", "overloaded", "outcome_unknown", "internal"] {
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

/// `(enum, code, kind)` of every variant declared with `refusals!` under `src/`, read from the
/// source: the macro's invocations (not its definition or its doc example).
fn declared_in_source() -> Vec<(String, String, String)> {
    fn walk(dir: &std::path::Path, out: &mut Vec<std::path::PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("readable src") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                walk(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    walk(
        &std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    let mut out = Vec::new();
    for file in files {
        let text = std::fs::read_to_string(&file).expect("readable");
        let (mut inside, mut name) = (false, String::new());
        for line in text.lines() {
            let trimmed = line.trim();
            if !inside {
                inside = !trimmed.starts_with("//") && trimmed.ends_with("refusals! {");
                continue;
            }
            if line == "}" {
                inside = false;
            } else if let Some(rest) = trimmed.strip_prefix("pub enum ") {
                name = rest.trim_end_matches(" {").to_owned();
            } else if let (false, Some((_, after))) =
                (trimmed.starts_with("//"), trimmed.split_once("=> "))
            {
                let (kind, rest) = after.split_once(',').expect("`=> Kind, \"code\"`");
                let code = rest.split('"').nth(1).expect("a quoted code");
                out.push((name.clone(), code.to_owned(), kind.trim().to_owned()));
            }
        }
    }
    out
}

/// Each code has one owner: it is declared by one refusal enum only (other capabilities use
/// that enum's variant), and answers with one status, `code_revoked` aside (422 when scanned,
/// 410 for the image of a revoked code). Every enum declared in `src/` is in the published
/// list, with every variant.
#[test]
fn every_code_is_declared_once_and_listed() {
    use machipay::server::error_codes::{catalogue, declarations};
    use std::collections::BTreeSet;

    let declared = declarations();
    let mut owners: BTreeMap<&str, BTreeSet<&str>> = BTreeMap::new();
    let mut statuses: BTreeMap<&str, BTreeSet<u16>> = BTreeMap::new();
    for (owner, c) in &declared {
        owners.entry(c.code).or_default().insert(owner);
        statuses.entry(c.code).or_default().insert(c.status);
    }
    let shared: Vec<_> = owners.iter().filter(|(_, o)| o.len() > 1).collect();
    assert!(
        shared.is_empty(),
        "codes declared by more than one enum (keep the owner's, use its variant elsewhere): \
         {shared:#?}"
    );
    let two_statuses = |code: &str| code == "code_revoked";
    let mixed: Vec<_> = statuses
        .iter()
        .filter(|(code, s)| s.len() > 1 && !two_statuses(code))
        .collect();
    assert!(
        mixed.is_empty(),
        "codes with more than one status: {mixed:#?}"
    );
    assert_eq!(statuses["code_revoked"], BTreeSet::from([410, 422]));
    assert_eq!(statuses["method_not_allowed"], BTreeSet::from([405]));

    // The list as source declares it: no enum left out of `declarations()`, none stale.
    let in_source: BTreeSet<(String, String, String)> = declared_in_source().into_iter().collect();
    let listed: BTreeSet<(String, String, String)> = declared
        .iter()
        .map(|(owner, c)| {
            (
                owner.to_string(),
                c.code.to_owned(),
                format!("{:?}", c.kind),
            )
        })
        .collect();
    assert!(in_source.len() > 100, "parsed too few: {in_source:?}");
    let unlisted: Vec<_> = in_source.difference(&listed).collect();
    let stale: Vec<_> = listed.difference(&in_source).collect();
    assert!(
        unlisted.is_empty() && stale.is_empty(),
        "declared in src/ but not in server::error_codes::declarations(): {unlisted:#?}\n\
         listed but not declared: {stale:#?}"
    );

    // The published list: each code once per status.
    let published: Vec<(&str, u16)> = catalogue().iter().map(|c| (c.code, c.status)).collect();
    let expected: BTreeSet<(&str, u16)> =
        declared.iter().map(|(_, c)| (c.code, c.status)).collect();
    assert_eq!(published, expected.into_iter().collect::<Vec<_>>());
}
