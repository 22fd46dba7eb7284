//! Passkeys in a real browser, with chromedriver's virtual authenticator (CTAP2, built in,
//! resident keys, user verification that always passes): a shopper registers with a
//! password, adds a passkey on the sign-in page, signs out, signs in with the passkey alone and
//! lands on the wallet; after deleting it, the same authenticator's sign-in is refused next to
//! the button in Japanese. A new shopper registers with a passkey alone (no password), lands on
//! the wallet, signs out and back in with it; a password for that login is refused by name. The page is opened at `localhost` (WebAuthn refuses IP addresses;
//! the server speaks as `http://localhost:<port>`).

use fantoccini::Client;
use fantoccini::wd::WebDriverCompatibleCommand;
use serde_json::{Value, json};
use url::{ParseError, Url};

use super::{Driver, TestApp, click, scenario, shot, type_into, visible, wait_text, wait_true};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shopper_adds_a_passkey_and_signs_in_with_it() {
    scenario(|app, driver| Box::pin(passkey_journey(app, driver))).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shopper_registers_with_a_passkey_alone() {
    scenario(|app, driver| Box::pin(passkey_sign_up_journey(app, driver))).await;
}

/// A WebDriver command of the WebAuthn extension (`/session/{id}/webauthn/...`).
#[derive(Debug)]
struct WebAuthn {
    method: http::Method,
    path: String,
    body: Option<Value>,
}

impl WebDriverCompatibleCommand for WebAuthn {
    fn endpoint(&self, base: &Url, session_id: Option<&str>) -> Result<Url, ParseError> {
        let session = session_id.unwrap_or_default();
        base.join(&format!("session/{session}/webauthn/{}", self.path))
    }

    fn method_and_body(&self, _: &Url) -> (http::Method, Option<String>) {
        (
            self.method.clone(),
            self.body.as_ref().map(Value::to_string),
        )
    }
}

/// Adds a virtual platform authenticator to the browser; its id.
async fn virtual_authenticator(b: &Client) -> String {
    let added = b
        .issue_cmd(WebAuthn {
            method: http::Method::POST,
            path: "authenticator".into(),
            body: Some(json!({
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": true,
                "hasUserVerification": true,
                "isUserVerified": true,
            })),
        })
        .await
        .expect("a virtual authenticator");
    added.as_str().expect("its id").to_owned()
}

/// The credentials the virtual authenticator holds.
async fn held_credentials(b: &Client, authenticator: &str) -> Vec<Value> {
    let held = b
        .issue_cmd(WebAuthn {
            method: http::Method::GET,
            path: format!("authenticator/{authenticator}/credentials"),
            body: None,
        })
        .await
        .expect("credentials");
    held.as_array().expect("a list").clone()
}

/// Signs out from the sign-in page and waits for it to come back signed out.
async fn signed_out(b: &Client) {
    click(b, "#sign-out").await;
    wait_true(
        b,
        "return !document.getElementById('signed-out').hidden \
         && !document.getElementById('passkey-signin').hidden",
    )
    .await;
}

/// Scrolls the passkeys' section into view for the screenshot.
async fn passkeys_in_view(b: &Client) {
    b.execute(
        "document.getElementById('passkeys').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await
    .expect("scrolls");
}

async fn passkey_journey(app: &TestApp, driver: &Driver) {
    let b = driver.session().await;
    let authenticator = virtual_authenticator(&b).await;
    let site = app.base.replace("127.0.0.1", "localhost");

    // Signed out, the sign-in page offers a passkey beside the password.
    b.goto(&format!("{site}/app/signin.html"))
        .await
        .expect("sign-in page opens");
    visible(&b, "#signin-form").await;
    wait_text(&b, "#passkey-signin-button", "パスキーでサインイン").await;
    shot(&b, "passkey-01-signin-page").await;

    // Registration with a password opens the wallet.
    click(&b, "#show-register").await;
    type_into(&b, "#register-name", "花子").await;
    type_into(&b, "#register-login", "passkey@example.jp").await;
    type_into(&b, "#register-password", "correct horse battery").await;
    type_into(&b, "#register-password2", "correct horse battery").await;
    click(&b, "#register-submit").await;
    wait_true(&b, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&b, "#balances h2", "残高").await;
    shot(&b, "passkey-02-wallet-after-register").await;
    let me = b
        .execute("return fetch('/api/v1/me').then(r => r.json())", vec![])
        .await
        .expect("me");
    let shopper = me["id"].as_str().expect("id").to_owned();

    // Where the sessions are, a passkey is registered; the list shows it.
    b.goto(&format!("{site}/app/signin.html"))
        .await
        .expect("sign-in page opens");
    wait_text(&b, "#passkey-list", "まだありません").await;
    passkeys_in_view(&b).await;
    shot(&b, "passkey-03-no-passkeys").await;
    click(&b, "#passkey-add").await;
    wait_text(&b, "#passkeys-msg", "パスキーを登録しました").await;
    wait_text(&b, "#passkey-list", "まだ使っていません").await;
    passkeys_in_view(&b).await;
    shot(&b, "passkey-04-passkey-added").await;
    let held = held_credentials(&b, &authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "{held:?}");

    // Signed out, the passkey alone signs in and opens the wallet.
    signed_out(&b).await;
    shot(&b, "passkey-05-signed-out").await;
    click(&b, "#passkey-signin-button").await;
    wait_true(&b, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&b, "#balances h2", "残高").await;
    shot(&b, "passkey-06-wallet-signed-in-with-passkey").await;
    let me = b
        .execute("return fetch('/api/v1/me').then(r => r.json())", vec![])
        .await
        .expect("me");
    assert_eq!(me["id"].as_str(), Some(shopper.as_str()), "{me}");

    // The list says when it was last used; deleting it is told next to the list.
    b.goto(&format!("{site}/app/signin.html"))
        .await
        .expect("sign-in page opens");
    wait_text(&b, "#passkey-list", "最後に使った日時").await;
    passkeys_in_view(&b).await;
    shot(&b, "passkey-07-passkey-used").await;
    click(&b, "#passkey-list button").await;
    wait_text(&b, "#passkeys-msg", "削除しました").await;
    wait_text(&b, "#passkey-list", "まだありません").await;
    passkeys_in_view(&b).await;
    shot(&b, "passkey-08-passkey-deleted").await;

    // The authenticator still offers it; the server no longer knows it, and says so in
    // Japanese right under the button, announced.
    signed_out(&b).await;
    click(&b, "#passkey-signin-button").await;
    let said = wait_text(&b, "#passkey-signin-msg", "登録されていません").await;
    assert!(!said.contains("registered"), "{said}");
    let live = b
        .execute(
            "const m = document.getElementById('passkey-signin-msg'); \
             return [m.getAttribute('aria-live'), m.getAttribute('role')]",
            vec![],
        )
        .await
        .expect("attributes");
    assert_eq!(live, json!(["assertive", "alert"]));
    shot(&b, "passkey-09-refused-next-to-the-button").await;
    // In English, the button and the message say so too.
    click(&b, "#lang-switch").await;
    wait_text(&b, "#passkey-signin-button", "Sign in with a passkey").await;
    wait_text(&b, "#passkey-signin-msg", "not registered").await;
    shot(&b, "passkey-10-signin-page-en").await;
    assert!(
        b.execute("return location.pathname.endsWith('/signin.html')", vec![])
            .await
            .expect("where")
            == Value::Bool(true)
    );
    b.close().await.expect("closes");
}

async fn passkey_sign_up_journey(app: &TestApp, driver: &Driver) {
    let b = driver.session().await;
    let authenticator = virtual_authenticator(&b).await;
    let site = app.base.replace("127.0.0.1", "localhost");
    b.goto(&format!("{site}/app/signin.html"))
        .await
        .expect("sign-in page opens");
    visible(&b, "#signin-form").await;

    // The registration form offers a passkey instead of the password.
    click(&b, "#show-register").await;
    wait_text(&b, "#register-passkey-button", "パスキーで登録").await;
    type_into(&b, "#register-name", "次郎").await;
    type_into(&b, "#register-login", "090-1234-5678").await;
    b.execute(
        "document.getElementById('register-passkey').scrollIntoView({block: 'center'})",
        vec![],
    )
    .await
    .expect("scrolls");
    shot(&b, "passkey-signup-01-form").await;
    click(&b, "#register-passkey-button").await;
    wait_true(&b, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&b, "#balances h2", "残高").await;
    shot(&b, "passkey-signup-02-wallet").await;
    let me = b
        .execute("return fetch('/api/v1/me').then(r => r.json())", vec![])
        .await
        .expect("me");
    let shopper = me["id"].as_str().expect("id").to_owned();
    let held = held_credentials(&b, &authenticator).await;
    assert_eq!(held.len(), 1, "{held:?}");
    assert_eq!(held[0]["isResidentCredential"], true, "{held:?}");

    // Signed out, the passkey signs the same shopper in again.
    b.goto(&format!("{site}/app/signin.html"))
        .await
        .expect("sign-in page opens");
    signed_out(&b).await;
    shot(&b, "passkey-signup-03-signed-out").await;
    click(&b, "#passkey-signin-button").await;
    wait_true(&b, "return location.pathname.endsWith('/wallet.html')").await;
    wait_text(&b, "#balances h2", "残高").await;
    let again = b
        .execute("return fetch('/api/v1/me').then(r => r.json())", vec![])
        .await
        .expect("me");
    assert_eq!(again["id"].as_str(), Some(shopper.as_str()), "{again}");
    shot(&b, "passkey-signup-04-wallet-signed-in-with-passkey").await;

    // That login has no password: one typed is refused next to the form, by name.
    b.goto(&format!("{site}/app/signin.html"))
        .await
        .expect("sign-in page opens");
    signed_out(&b).await;
    type_into(&b, "#signin-login", "09012345678").await;
    type_into(&b, "#signin-password", "correct horse battery").await;
    click(&b, "#signin-submit").await;
    wait_text(&b, "#signin-msg", "パスワード").await;
    shot(&b, "passkey-signup-05-password-refused").await;
    b.close().await.expect("closes");
}
