//! Browser sign-in: a shopper registers with a password on the sign-in page, lands in the
//! wallet signed in by the session cookie (which the page's script cannot read), signs out, is
//! refused a wrong password with a Japanese message under the form, signs in with the right
//! one and sees the money the counter charged; the sign-in page lists the device's session.
//! A store owner sets a password with the setup code staff issued, issues a till's one-time
//! code from the owner's page, sees the enrolled till, and stops it.

use serde_json::{Value, json};

use super::{Driver, TestApp, click, scenario, shot, type_into, visible, wait_text, wait_true};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shopper_registers_with_a_password_and_signs_in() {
    scenario(|app, driver| Box::pin(register_and_sign_in(app, driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_owner_enrolls_and_stops_a_till_from_the_app() {
    scenario(|app, driver| Box::pin(owner_tills(app, driver))).await;
}

const LOGIN: &str = "hanako@example.jp";
const PASSWORD: &str = "correct horse battery";

async fn register_and_sign_in(app: &TestApp, driver: &Driver) {
    let op = app.operator().await;
    let program = app.currency().await;
    let b = driver.session().await;

    // Registration: name, login, the password twice.
    b.goto(&format!("{}/app/signin.html", app.base))
        .await
        .expect("sign-in page opens");
    visible(&b, "#signin-form").await;
    shot(&b, "signin-01-page").await;
    click(&b, "#show-register").await;
    type_into(&b, "#register-name", "花子").await;
    type_into(&b, "#register-login", LOGIN).await;
    type_into(&b, "#register-password", PASSWORD).await;
    type_into(&b, "#register-password2", "not the same").await;
    click(&b, "#register-submit").await;
    // A mistake is told under the form, in Japanese.
    let said = wait_text(&b, "#register-form #register-msg", "一致しません").await;
    assert!(!said.contains("match"), "{said}");
    shot(&b, "signin-02-register-mismatch").await;
    b.execute(
        "document.getElementById('register-password2').value = ''",
        vec![],
    )
    .await
    .expect("clears");
    type_into(&b, "#register-password2", PASSWORD).await;
    shot(&b, "signin-03-register-filled").await;
    click(&b, "#register-submit").await;

    // The wallet opens signed in; the session cookie is HttpOnly, the CSRF cookie is not.
    wait_true(&b, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&b, "#balances h2", "残高").await;
    shot(&b, "signin-04-wallet-after-register").await;
    let cookies = b
        .execute("return document.cookie", vec![])
        .await
        .expect("cookies");
    let cookies = cookies.as_str().expect("text");
    assert!(
        cookies.contains("machipay_csrf=") && !cookies.contains("machipay_session"),
        "{cookies}"
    );
    let me = b
        .execute("return fetch('/api/v1/me').then(r => r.json())", vec![])
        .await
        .expect("me");
    assert_eq!(me["kind"], "shopper", "{me}");
    let shopper = me["id"].as_str().expect("id").to_owned();

    // Signing out ends the session and goes back to the sign-in page.
    click(&b, "#sign-out").await;
    wait_true(&b, "return location.pathname.endsWith('/signin.html')").await;
    visible(&b, "#signin-form").await;
    let (s, _) = app
        .get(&format!("/api/v1/shoppers/{shopper}"), &app.admin)
        .await;
    assert_eq!(s.as_u16(), 200);

    // A wrong password: the message appears under the password, in Japanese, announced.
    type_into(&b, "#signin-login", LOGIN).await;
    type_into(&b, "#signin-password", "wrong password").await;
    click(&b, "#signin-submit").await;
    let said = wait_text(&b, "#signin-form #signin-msg", "パスワードが違います").await;
    assert!(!said.contains("wrong"), "{said}");
    let live = b
        .execute(
            "const m = document.getElementById('signin-msg'); \
             return [m.getAttribute('aria-live'), m.getAttribute('role')]",
            vec![],
        )
        .await
        .expect("attributes");
    assert_eq!(live, json!(["assertive", "alert"]));
    shot(&b, "signin-05-wrong-password").await;

    // The counter charges ¥3,000; the right password opens the wallet showing it.
    let charged = app.charge(&op, &program, &shopper, 3_000).await;
    assert!(charged["transaction_id"].is_string());
    b.execute(
        "document.getElementById('signin-password').value = ''",
        vec![],
    )
    .await
    .expect("clears");
    type_into(&b, "#signin-password", PASSWORD).await;
    click(&b, "#signin-submit").await;
    wait_true(&b, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&b, "#balance-list", "¥3,000").await;
    shot(&b, "signin-06-wallet-signed-in").await;

    // The sign-in page, signed in, lists this device's session; in English too.
    b.goto(&format!("{}/app/signin.html", app.base))
        .await
        .expect("sign-in page opens");
    wait_text(&b, "#signed-in-as", "ウォレット").await;
    wait_text(&b, "#session-list", "この端末").await;
    shot(&b, "signin-07-sessions").await;
    click(&b, "#lang-switch").await;
    wait_text(&b, "#session-list", "This device").await;
    shot(&b, "signin-08-sessions-en").await;
    let sessions: Value = b
        .execute(
            "return fetch('/api/v1/sessions').then(r => r.json())",
            vec![],
        )
        .await
        .expect("sessions");
    assert_eq!(sessions.as_array().map(Vec::len), Some(1), "{sessions}");
    b.close().await.expect("closes");
}

async fn owner_tills(app: &TestApp, driver: &Driver) {
    let op = app.operator().await;
    let (merchant, _) = app.merchant(&op).await;
    let (s, code) = app
        .post(
            &format!("/api/v1/principals/merchant_owner/{merchant}/setup-codes"),
            &op,
            json!({}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{code}");
    let b = driver.session().await;

    // The owner types the setup code from the counter, a login and a password.
    b.goto(&format!("{}/app/signin.html", app.base))
        .await
        .expect("sign-in page opens");
    type_into(&b, "#setup-code", code["code"].as_str().expect("code")).await;
    type_into(&b, "#setup-login", "owner@shop.example.jp").await;
    type_into(&b, "#setup-password", PASSWORD).await;
    shot(&b, "owner-01-setup-code").await;
    click(&b, "#setup-submit").await;
    wait_true(&b, "return location.pathname.endsWith('/owner.html')").await;
    wait_text(&b, "#owner-store", "スーパー").await;

    // A one-time code for a new till, shown large with its time limit.
    type_into(&b, "#device-name", "レジ1").await;
    click(&b, "#device-issue").await;
    let enrollment = wait_text(&b, "#device-code", "enr_").await;
    wait_text(&b, "#device-code-help", "1回だけ").await;
    shot(&b, "owner-02-enrollment-code").await;
    let (s, till) = app
        .request(
            "POST",
            "/api/v1/devices/enroll",
            None,
            None,
            Some(&json!({"code": enrollment})),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{till}");
    let till_token = till["token"].as_str().expect("token").to_owned();

    // The till is listed as in use; the owner stops it and it stops working at once.
    b.refresh().await.expect("reload");
    wait_text(&b, "#device-rows", "使用中").await;
    shot(&b, "owner-03-till-in-use").await;
    click(&b, "#device-rows button").await;
    b.accept_alert()
        .await
        .expect("the confirmation is accepted");
    wait_text(&b, "#devices-msg", "停止しました").await;
    wait_text(&b, "#device-rows", "停止済み").await;
    shot(&b, "owner-04-till-stopped").await;
    assert_eq!(app.get("/api/v1/me", &till_token).await.0.as_u16(), 401);
    b.close().await.expect("closes");
}
