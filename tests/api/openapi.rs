//! The OpenAPI document as a contract: the document is whole (every `$ref` resolves, path
//! parameters match their templates, the server's limits are stated), and every operation it
//! lists, driven from the document alone against a small town, answers a status it declares
//! with a body that matches the declared schema, and never a 5xx.

use std::collections::{BTreeMap, BTreeSet};

use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(every_operation_answers_as_the_document_says);

const METHODS: [&str; 5] = ["get", "put", "post", "delete", "patch"];

fn document() -> Value {
    serde_json::to_value(machipay::server::openapi()).expect("the document serialises")
}

/// The value a local `$ref` ("#/components/schemas/X") points at, if any.
fn resolve<'a>(doc: &'a Value, reference: &str) -> Option<&'a Value> {
    doc.pointer(reference.strip_prefix('#')?)
}

/// Every `$ref` anywhere in `v`.
fn refs(v: &Value, out: &mut BTreeSet<String>) {
    match v {
        Value::Object(map) => {
            for (k, child) in map {
                if let ("$ref", Value::String(r)) = (k.as_str(), child) {
                    out.insert(r.clone());
                }
                refs(child, out);
            }
        }
        Value::Array(items) => items.iter().for_each(|i| refs(i, out)),
        _ => {}
    }
}

/// `schema` with `$ref`s followed, for reading its keywords.
fn followed<'a>(doc: &'a Value, schema: &'a Value) -> &'a Value {
    match schema["$ref"].as_str() {
        Some(r) => followed(doc, resolve(doc, r).expect("a resolvable $ref")),
        None => schema,
    }
}

/// Whether a parameter's schema states its allowed values (directly or behind an
/// `Option`'s `oneOf`).
fn states_values(doc: &Value, schema: &Value) -> bool {
    let s = followed(doc, schema);
    s["enum"].is_array()
        || ["oneOf", "anyOf"].iter().any(|k| {
            s[*k]
                .as_array()
                .is_some_and(|alts| alts.iter().any(|a| states_values(doc, a)))
        })
}

#[test]
fn the_document_is_whole() {
    let doc = document();
    assert!(doc["openapi"].as_str().expect("version").starts_with("3.1"));
    let mut all = BTreeSet::new();
    refs(&doc, &mut all);
    let dangling: Vec<_> = all.iter().filter(|r| resolve(&doc, r).is_none()).collect();
    assert!(
        dangling.is_empty(),
        "$refs that resolve to nothing: {dangling:?}"
    );

    let mut problems = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        let template: BTreeSet<&str> = path
            .split('{')
            .skip(1)
            .filter_map(|s| s.split_once('}').map(|(name, _)| name))
            .collect();
        for method in METHODS {
            let Some(op) = item.get(method) else { continue };
            let params = op["parameters"].as_array().cloned().unwrap_or_default();
            let mut seen = BTreeSet::new();
            let mut in_path = BTreeSet::new();
            for p in &params {
                let (name, place) = (
                    p["name"].as_str().unwrap_or(""),
                    p["in"].as_str().unwrap_or(""),
                );
                if !seen.insert((name.to_owned(), place.to_owned())) {
                    problems.push(format!("{method} {path}: {place} parameter {name} twice"));
                }
                if place == "path" {
                    in_path.insert(name);
                    if p["required"] != true {
                        problems.push(format!(
                            "{method} {path}: path parameter {name} not required"
                        ));
                    }
                }
                let schema = &p["schema"];
                match (place, name) {
                    ("header", "Idempotency-Key") => {
                        let s = followed(&doc, schema);
                        if s["minLength"] != 1 || s["maxLength"] != 255 || !s["pattern"].is_string()
                        {
                            problems.push(format!(
                                "{method} {path}: Idempotency-Key limits not stated: {s}"
                            ));
                        }
                    }
                    ("query", "limit") => {
                        let s = followed(&doc, schema);
                        if s["minimum"] != 1 || s["maximum"] != 200 {
                            problems.push(format!("{method} {path}: limit bounds not stated: {s}"));
                        }
                    }
                    ("query", "format") if !states_values(&doc, schema) => {
                        problems.push(format!(
                            "{method} {path}: format values not stated: {schema}"
                        ));
                    }
                    _ => {}
                }
            }
            if in_path != template {
                problems.push(format!(
                    "{method} {path}: path parameters {in_path:?} but the template names {template:?}"
                ));
            }
            if op["responses"].as_object().is_none_or(|r| r.is_empty()) {
                problems.push(format!("{method} {path}: no responses"));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// Ids of a small town made through the API, and the callers to try each operation as.
struct Town {
    /// Values by parameter or field name.
    values: BTreeMap<&'static str, String>,
    currency: String,
    points: String,
    /// (who, token), tried in this order.
    callers: Vec<(&'static str, String)>,
}

impl Town {
    async fn new(app: &TestApp) -> Town {
        let op = app.operator().await;
        let currency = app.currency().await;
        let points = app.program("points", json!({})).await;
        let (merchant, owner) = app.merchant(&op).await;
        let (s, v) = app
            .post(
                &format!("/api/v1/merchants/{merchant}/enrollment-codes"),
                &owner,
                json!({"device_name": "レジ"}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{v}");
        let (_, device) = app
            .request(
                "POST",
                "/api/v1/devices/enroll",
                None,
                None,
                Some(&json!({"code": v["code"]})),
            )
            .await;
        let (shopper, shopper_token) = app.shopper(&op).await;
        let (other_shopper, _) = app.shopper(&op).await;
        app.charge(&op, &currency, &shopper, 10_000).await;
        let (s, paid) = app
            .post_money(
                &format!("/api/v1/programs/{currency}/payments"),
                &shopper_token,
                json!({"merchant_id": merchant, "amount": 100}),
            )
            .await;
        assert_eq!(s.as_u16(), 201, "{paid}");
        // `post_money` sends an Idempotency-Key: campaigns need one, other routes ignore it.
        let created = |path: String, token: String, body: Value| async move {
            let (s, v) = app.post_money(&path, &token, body).await;
            assert_eq!(s.as_u16(), 201, "{path}: {v}");
            v
        };
        let code = created(
            format!("/api/v1/merchants/{merchant}/codes"),
            owner.clone(),
            json!({"program_id": currency}),
        )
        .await;
        let request = created(
            format!("/api/v1/merchants/{merchant}/payment-requests"),
            owner.clone(),
            json!({"program_id": currency, "amount": 1}),
        )
        .await;
        let card = created(
            format!("/api/v1/programs/{points}/cards"),
            op.clone(),
            json!({}),
        )
        .await;
        let application = created(
            "/api/v1/merchant-applications".into(),
            op.clone(),
            json!({"name": "新規店", "profile": {"name_kana": "シンキ", "industry": "小売",
                "district": "東", "size_class": "small", "address": "1-1", "contact": "0"}}),
        )
        .await;
        let campaign = created(
            format!("/api/v1/programs/{currency}/premium-campaigns"),
            app.admin.clone(),
            json!({"name": "プレミアム", "price_yen": 1_000, "premium_yen": 200, "units_per_person_max": 5,
                "budget_yen": 100_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
        let (_, throwaway) = app.shopper(&op).await;
        let (_, me) = app.get("/api/v1/me", &throwaway).await;
        let today = machipay_domain::calendar::jst_date(chrono::Utc::now()).to_string();
        let id = |v: &Value, k: &str| {
            v[k].as_str()
                .unwrap_or_else(|| panic!("{k} in {v}"))
                .to_owned()
        };
        let values = BTreeMap::from([
            ("merchant_id", merchant.clone()),
            ("shopper_id", shopper.clone()),
            ("to_shopper_id", other_shopper),
            ("transaction_id", id(&paid, "transaction_id")),
            ("code_id", id(&code, "id")),
            ("payload", id(&code, "payload")),
            ("request_id", id(&request, "id")),
            ("card_id", id(&card, "id")),
            ("card_number", id(&card, "number")),
            ("application_id", id(&application, "id")),
            ("campaign_id", id(&campaign, "id")),
            ("token_id", id(&me, "token_id")),
            ("principal_kind", "shopper".to_owned()),
            ("principal_id", shopper),
            ("fiscal_year", "2025".to_owned()),
            ("run_id", uuid::Uuid::now_v7().to_string()),
            ("date", today.clone()),
            ("closing_date", today),
            ("currency_program_id", currency.clone()),
            // No such till or session: revoking the town's till would end the device caller.
            ("device_id", uuid::Uuid::now_v7().to_string()),
            ("session_id", uuid::Uuid::now_v7().to_string()),
            ("passkey_id", uuid::Uuid::now_v7().to_string()),
            // No such waiting-room ticket (the town's campaign has no waiting room).
            ("ticket_id", uuid::Uuid::now_v7().to_string()),
        ]);
        let callers = vec![
            ("city admin", app.admin.clone()),
            ("operator", op),
            ("owner", owner),
            (
                "device",
                device["token"].as_str().expect("device token").to_owned(),
            ),
            ("shopper", shopper_token),
        ];
        Town {
            values,
            currency,
            points,
            callers,
        }
    }

    /// The value for a parameter or field called `name` on `path`.
    fn value(&self, path: &str, name: &str) -> Option<String> {
        if name == "program_id" {
            let points = ["card", "point"].iter().any(|w| path.contains(w));
            return Some(if points { &self.points } else { &self.currency }.clone());
        }
        self.values.get(name).cloned()
    }

    /// An example of `schema` for a field called `name` on `path`: the town's ids where the
    /// name is one of them, else the first allowed value or the smallest valid number.
    fn example(&self, doc: &Value, path: &str, name: &str, schema: &Value) -> Value {
        let s = followed(doc, schema);
        if let Some(v) = self.value(path, name) {
            return Value::String(v);
        }
        if let Some(first) = s["enum"].as_array().and_then(|e| e.first()) {
            return first.clone();
        }
        for key in ["oneOf", "anyOf"] {
            if let Some(alt) = s[key]
                .as_array()
                .and_then(|alts| alts.iter().find(|a| followed(doc, a)["type"] != "null"))
            {
                return self.example(doc, path, name, alt);
            }
        }
        let ty = match &s["type"] {
            Value::Array(types) => types
                .iter()
                .find(|t| *t != "null")
                .cloned()
                .unwrap_or(Value::Null),
            t => t.clone(),
        };
        match ty.as_str() {
            Some("object") => {
                let mut out = serde_json::Map::new();
                for field in s["required"].as_array().into_iter().flatten() {
                    let field = field.as_str().expect("field name");
                    out.insert(
                        field.into(),
                        self.example(doc, path, field, &s["properties"][field]),
                    );
                }
                Value::Object(out)
            }
            Some("array") => json!([self.example(doc, path, name, &s["items"])]),
            Some("integer") | Some("number") => {
                s["minimum"].as_i64().map_or(json!(1), |m| json!(m.max(1)))
            }
            Some("boolean") => json!(false),
            Some("string") => match s["format"].as_str() {
                Some("date") => json!("2025-04-01"),
                Some("date-time") => json!("2025-04-01T00:00:00Z"),
                Some("uuid") => json!(uuid::Uuid::now_v7()),
                _ => json!("テスト"),
            },
            _ => json!({}),
        }
    }
}

/// A validator of `schema` that resolves the document's components.
fn validator(doc: &Value, schema: &Value) -> jsonschema::Validator {
    let mut root = schema.clone();
    if let Value::Object(map) = &mut root {
        map.insert("components".into(), doc["components"].clone());
    }
    jsonschema::draft202012::new(&root).unwrap_or_else(|e| panic!("schema {schema} compiles: {e}"))
}

/// The declared response for `status`: exact, else its class ("4XX"), else `default`.
fn declared(op: &Value, status: u16) -> Option<&Value> {
    let r = &op["responses"];
    r.get(status.to_string())
        .or_else(|| r.get(format!("{}XX", status / 100)))
        .or_else(|| r.get("default"))
}

async fn every_operation_answers_as_the_document_says(app: &TestApp) {
    let doc = document();
    // The validator is not vacuous: a body of the wrong shape fails the envelope's schema.
    let envelope = validator(&doc, &json!({"$ref": "#/components/schemas/ErrorEnvelope"}));
    assert!(envelope.is_valid(&json!({"error": {"code": "x", "message": "y"}})));
    assert!(!envelope.is_valid(&json!({"error": {"code": 1}})));
    let town = Town::new(app).await;
    let mut failures = Vec::new();
    let mut calls = 0;
    let mut succeeded = BTreeSet::new();
    let mut operations = Vec::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in METHODS {
            if let Some(op) = item.get(method) {
                operations.push((method, path.clone(), op.clone()));
            }
        }
    }
    // Deletions (a token, a code) go last, so they do not take away what others use.
    operations.sort_by_key(|(m, _, _)| *m == "delete");
    for (method, template, op) in &operations {
        let mut path = template.clone();
        let mut query = Vec::new();
        let mut key = false;
        for p in op["parameters"].as_array().into_iter().flatten() {
            let name = p["name"].as_str().expect("name");
            match p["in"].as_str() {
                Some("path") => {
                    let value = town
                        .value(template, name)
                        .unwrap_or_else(|| panic!("no value for {name}"));
                    path = path.replace(&format!("{{{name}}}"), &value);
                }
                Some("query") if p["required"] == true || name == "format" => {
                    let v = town.example(&doc, template, name, &p["schema"]);
                    query.push((
                        name.to_owned(),
                        v.as_str().map_or(v.to_string(), str::to_owned),
                    ));
                }
                Some("header") if name == "Idempotency-Key" => key = true,
                _ => {}
            }
        }
        let body = op["requestBody"]["content"]
            .as_object()
            .and_then(|content| {
                if let Some(json) = content.get("application/json") {
                    Some((
                        "application/json",
                        town.example(&doc, template, "", &json["schema"])
                            .to_string(),
                    ))
                } else {
                    content.keys().next().map(|ct| (ct.as_str(), String::new()))
                }
            });
        let body = body.map(|(ct, text)| (ct.to_owned(), text));
        for (who, token) in &town.callers {
            calls += 1;
            let method =
                reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
            // The town's values are ASCII ids, dates and enum names: nothing to escape.
            let query_text: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
            let url = match query_text.is_empty() {
                true => format!("{}{path}", app.base),
                false => format!("{}{path}?{}", app.base, query_text.join("&")),
            };
            let mut req = app.client.request(method.clone(), url).bearer_auth(token);
            if key {
                req = req.header("Idempotency-Key", uuid::Uuid::now_v7().to_string());
            }
            if let Some((ct, text)) = &body {
                req = req.header("Content-Type", ct).body(text.clone());
            }
            let resp = req.send().await.expect("sent");
            let status = resp.status().as_u16();
            let ct = resp
                .headers()
                .get("content-type")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default()
                .to_owned();
            let at = format!("{who}: {method} {path} {query:?} -> {status}");
            if status >= 500 {
                failures.push(format!("{at}: a server error"));
            }
            let Some(response) = declared(op, status) else {
                failures.push(format!("{at}: status not declared"));
                continue;
            };
            if (200..300).contains(&status) {
                succeeded.insert((method.to_string(), template.clone()));
            }
            if ct.starts_with("text/event-stream") {
                continue; // never ends; its events are typed in the document's description
            }
            let text = resp.text().await.expect("body");
            let media = ct.split(';').next().unwrap_or_default().trim();
            let Some(content) = response["content"].as_object() else {
                if !text.is_empty() {
                    failures.push(format!("{at}: a body where none is declared"));
                }
                continue;
            };
            let Some(declared_media) = content.get(media) else {
                failures.push(format!(
                    "{at}: content type {ct} not declared ({:?})",
                    content.keys()
                ));
                continue;
            };
            if media != "application/json" {
                continue;
            }
            let value: Value = match serde_json::from_str(&text) {
                Ok(v) => v,
                Err(e) => {
                    failures.push(format!("{at}: not JSON ({e}): {text}"));
                    continue;
                }
            };
            let v = validator(&doc, &declared_media["schema"]);
            let errors: Vec<String> = v
                .iter_errors(&value)
                .take(3)
                .map(|e| format!("{} at {}", e, e.instance_path()))
                .collect();
            if !errors.is_empty() {
                failures.push(format!(
                    "{at}: body does not match its schema: {errors:?}\n    {value}"
                ));
            }
        }
    }
    eprintln!(
        "contract: {calls} calls over {} operations, {} answered 2xx to some caller",
        operations.len(),
        succeeded.len()
    );
    assert!(
        failures.is_empty(),
        "{} of {calls} calls broke the contract:\n{}",
        failures.len(),
        failures.join("\n")
    );
    // The town is real enough that most operations succeed for someone.
    assert!(
        succeeded.len() * 2 >= operations.len(),
        "only {} of {} operations succeeded for any caller",
        succeeded.len(),
        operations.len()
    );
}
