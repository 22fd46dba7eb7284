//! What the back office reads beyond the other capabilities' routes: shoppers found by a part
//! of their name or by id at the counter (staff only; another city's never).

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(shoppers_are_found_by_name_or_id);

async fn named_shopper(app: &TestApp, op: &str, name: &str) -> String {
    let (s, v) = app
        .post("/api/v1/shoppers", op, json!({"display_name": name}))
        .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    v["id"].as_str().expect("id").to_owned()
}

fn names(v: &Value) -> Vec<&str> {
    v.as_array()
        .expect("array")
        .iter()
        .map(|s| s["display_name"].as_str().expect("name"))
        .collect()
}

async fn shoppers_are_found_by_name_or_id(app: &TestApp) {
    let op = app.operator().await;
    let hanako = named_shopper(app, &op, "山田花子").await;
    named_shopper(app, &op, "山田太郎").await;
    named_shopper(app, &op, "佐藤100%").await;

    let (s, v) = app.get("/api/v1/shoppers?q=%E5%B1%B1%E7%94%B0", &op).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(
        names(&v),
        ["山田太郎", "山田花子"],
        "a part of the name, by name"
    );
    let (_, v) = app.get(&format!("/api/v1/shoppers?q={hanako}"), &op).await;
    assert_eq!(names(&v), ["山田花子"], "by id");
    // % is a character, not a wildcard.
    let (_, v) = app.get("/api/v1/shoppers?q=%25", &op).await;
    assert_eq!(names(&v), ["佐藤100%"]);
    let (_, v) = app.get("/api/v1/shoppers?limit=2", &app.admin).await;
    assert_eq!(v.as_array().map(Vec::len), Some(2), "{v}");

    let (_, viewer) = app.staff("city", "viewer").await;
    assert_eq!(
        app.get("/api/v1/shoppers?q=x", &viewer).await.0,
        StatusCode::OK
    );
    let (_, token) = app.shopper(&op).await;
    assert_eq!(
        app.get("/api/v1/shoppers?q=x", &token).await.0,
        StatusCode::FORBIDDEN
    );
    let long = "あ".repeat(101);
    let (s, v) = app.get(&format!("/api/v1/shoppers?q={long}"), &op).await;
    assert_eq!(
        (s, v["error"]["code"].as_str()),
        (StatusCode::BAD_REQUEST, Some("invalid_query"))
    );
}
