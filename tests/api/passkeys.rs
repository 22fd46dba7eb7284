//! Passkeys: a shopper who signed up with a password adds a passkey, lists it, and signs in
//! with it (usernameless) to the same session a password gives; so does a store owner; the
//! audit log records added and removed; on PostgreSQL a ceremony begun on one instance is
//! finished on another. Refusals are named and change nothing: no, someone else's, expired or reused
//! challenges, someone else's credential id, a replayed answer, someone else's passkey to
//! delete, a principal without a login, and the per-address limit. A shopper also registers
//! with a passkey alone (no password): created only when the ceremony ends, refused with the
//! usual wrong-credentials answer at password sign-in, and given a password by a setup code. A small software
//! authenticator (P-256, "none" attestation, CBOR by hand) plays the browser's part.

use openssl::bn::{BigNum, BigNumContext};
use openssl::ec::{EcGroup, EcKey};
use openssl::ecdsa::EcdsaSig;
use openssl::nid::Nid;
use openssl::pkey::Private;
use openssl::sha::sha256;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;
use crate::sign_in::{Jar, city_of, jar_of, post_open, register, with_cookie};

both_backends!(
    a_passkey_is_added_listed_and_signs_in,
    a_store_owner_signs_in_with_a_passkey,
    passkey_refusals_are_named_and_change_nothing,
    failed_passkey_sign_ins_count_against_the_address,
    a_shopper_signs_up_with_a_passkey_alone,
    an_unfinished_passkey_sign_up_creates_nothing,
);

/// PostgreSQL: a ceremony begun on one instance is finished on another (the challenge lives
/// in the database), and spent there for both.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ceremony_begun_on_one_instance_finishes_on_another() {
    let Some(app) = TestApp::postgres().await else {
        return;
    };
    let other = second_instance(&app).await;
    let (_, jar) = register(&app, "two-instances@example.jp").await;
    let mut authenticator = Authenticator::new(&app);
    let (challenge, options) = registration(&app, &jar).await;
    let (s, v) = add(&other, &jar, &challenge, authenticator.register(&options)).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = add(&app, &jar, &challenge, authenticator.register(&options)).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    let (challenge, options) = sign_in_challenge(&other).await;
    let answer = authenticator.assert(&options);
    let (s, v, _) = sign_in_with(&app, &challenge, answer.clone()).await;
    assert_eq!((s, &v["kind"]), (201, &json!("shopper")), "{v}");
    let (s, v, _) = sign_in_with(&other, &challenge, answer).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    app.cleanup().await;
}

/// Another server on `app`'s PostgreSQL database speaking as the same public URL (as every
/// instance behind one load balancer does); requests through it, `app`'s admin and cleanup.
async fn second_instance(app: &TestApp) -> TestApp {
    let db = machipay::db::Db::connect(&app.url).await.expect("connects");
    let (writer, _task) =
        machipay::writer::Writer::start(db.clone(), machipay::features::WARM_AT_START);
    let served = machipay::app::App::new(db, writer);
    let public = url::Url::parse(&app.base.replace("127.0.0.1", "localhost")).expect("url");
    served
        .relying_party
        .configure(&public)
        .expect("a host name");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let base = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(async move {
        let _ = machipay::server::serve(listener, served, std::future::pending()).await;
    });
    app.through(base)
}

fn b64url(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ABC[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// CBOR's head of a byte string (major type 2) or text string (3) of `len` bytes.
fn cbor_head(major: u8, len: usize) -> Vec<u8> {
    let m = major << 5;
    match len {
        0..=23 => vec![m | len as u8],
        24..=255 => vec![m | 24, len as u8],
        _ => vec![m | 25, (len >> 8) as u8, len as u8],
    }
}

fn cbor_bytes(b: &[u8]) -> Vec<u8> {
    [cbor_head(2, b.len()), b.to_vec()].concat()
}

fn cbor_text(t: &str) -> Vec<u8> {
    [cbor_head(3, t.len()), t.as_bytes().to_vec()].concat()
}

/// A platform authenticator holding one discoverable P-256 passkey for `localhost`.
struct Authenticator {
    key: EcKey<Private>,
    credential_id: Vec<u8>,
    /// The account the relying party named at registration (`user.id`, base64url).
    user_handle: String,
    counter: u32,
    origin: String,
}

impl Authenticator {
    fn new(app: &TestApp) -> Self {
        let group = EcGroup::from_curve_name(Nid::X9_62_PRIME256V1).expect("P-256");
        let mut credential_id = vec![0u8; 32];
        openssl::rand::rand_bytes(&mut credential_id).expect("random");
        Self {
            key: EcKey::generate(&group).expect("key"),
            credential_id,
            user_handle: String::new(),
            counter: 0,
            origin: app.base.replace("127.0.0.1", "localhost"),
        }
    }

    fn client_data(&self, kind: &str, options: &Value) -> Vec<u8> {
        let challenge = options["publicKey"]["challenge"]
            .as_str()
            .expect("challenge");
        json!({"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": false})
            .to_string()
            .into_bytes()
    }

    fn cose_key(&self) -> Vec<u8> {
        let group = self.key.group();
        let (mut x, mut y) = (BigNum::new().expect("x"), BigNum::new().expect("y"));
        let mut ctx = BigNumContext::new().expect("ctx");
        self.key
            .public_key()
            .affine_coordinates(group, &mut x, &mut y, &mut ctx)
            .expect("coordinates");
        // {1: 2 (EC2), 3: -7 (ES256), -1: 1 (P-256), -2: x, -3: y}
        let mut key = vec![0xa5, 0x01, 0x02, 0x03, 0x26, 0x20, 0x01, 0x21];
        key.extend(cbor_bytes(&x.to_vec_padded(32).expect("x")));
        key.push(0x22);
        key.extend(cbor_bytes(&y.to_vec_padded(32).expect("y")));
        key
    }

    /// `navigator.credentials.create`: the answer to registration `options`, as JSON.
    fn register(&mut self, options: &Value) -> Value {
        self.user_handle = options["publicKey"]["user"]["id"]
            .as_str()
            .expect("user id")
            .to_owned();
        let mut auth_data = sha256(b"localhost").to_vec();
        auth_data.push(0x45); // user present, user verified, attested credential data
        auth_data.extend(self.counter.to_be_bytes());
        auth_data.extend([0u8; 16]); // AAGUID
        auth_data.extend((self.credential_id.len() as u16).to_be_bytes());
        auth_data.extend(&self.credential_id);
        auth_data.extend(self.cose_key());
        let mut attestation = vec![0xa3];
        attestation.extend(cbor_text("fmt"));
        attestation.extend(cbor_text("none"));
        attestation.extend(cbor_text("attStmt"));
        attestation.push(0xa0);
        attestation.extend(cbor_text("authData"));
        attestation.extend(cbor_bytes(&auth_data));
        json!({
            "id": b64url(&self.credential_id),
            "rawId": b64url(&self.credential_id),
            "type": "public-key",
            "response": {
                "attestationObject": b64url(&attestation),
                "clientDataJSON": b64url(&self.client_data("webauthn.create", options)),
            },
        })
    }

    /// `navigator.credentials.get`: this passkey's answer to sign-in `options`, as JSON.
    fn assert(&mut self, options: &Value) -> Value {
        self.counter += 1;
        let mut auth_data = sha256(b"localhost").to_vec();
        auth_data.push(0x05); // user present, user verified
        auth_data.extend(self.counter.to_be_bytes());
        let client_data = self.client_data("webauthn.get", options);
        let signed = [auth_data.clone(), sha256(&client_data).to_vec()].concat();
        let signature = EcdsaSig::sign(&sha256(&signed), &self.key)
            .expect("sign")
            .to_der()
            .expect("der");
        json!({
            "id": b64url(&self.credential_id),
            "rawId": b64url(&self.credential_id),
            "type": "public-key",
            "response": {
                "authenticatorData": b64url(&auth_data),
                "clientDataJSON": b64url(&client_data),
                "signature": b64url(&signature),
                "userHandle": self.user_handle,
            },
        })
    }
}

fn code(v: &Value) -> Option<&str> {
    v["error"]["code"].as_str()
}

/// Starts a registration for the jar's person: the challenge's id and the options.
async fn registration(app: &TestApp, jar: &Jar) -> (String, Value) {
    let (s, v, _) = with_cookie(
        app,
        "POST",
        "/api/v1/passkey-registrations",
        jar,
        Some(&jar.csrf),
        None,
    )
    .await;
    assert_eq!(s, 201, "{v}");
    let id = v["challenge_id"].as_str().expect("challenge id").to_owned();
    (id, v["options"].clone())
}

async fn add(app: &TestApp, jar: &Jar, challenge: &str, credential: Value) -> (u16, Value) {
    let body =
        json!({"challenge_id": challenge, "name": "わたしのスマホ", "credential": credential});
    let (s, v, _) = with_cookie(
        app,
        "POST",
        "/api/v1/passkeys",
        jar,
        Some(&jar.csrf),
        Some(body),
    )
    .await;
    (s, v)
}

/// Registers a passkey on a new authenticator for the jar's person.
async fn added(app: &TestApp, jar: &Jar) -> (Authenticator, Value) {
    let mut authenticator = Authenticator::new(app);
    let (challenge, options) = registration(app, jar).await;
    let credential = authenticator.register(&options);
    let (s, v) = add(app, jar, &challenge, credential).await;
    assert_eq!(s, 201, "{v}");
    (authenticator, v)
}

async fn sign_in_challenge(app: &TestApp) -> (String, Value) {
    let (s, v, _) = post_open(app, "/api/v1/passkey-challenges", json!({})).await;
    assert_eq!(s, 201, "{v}");
    let id = v["challenge_id"].as_str().expect("challenge id").to_owned();
    (id, v["options"].clone())
}

async fn sign_in_with(app: &TestApp, challenge: &str, credential: Value) -> (u16, Value, Jar) {
    let body = json!({"challenge_id": challenge, "credential": credential});
    let (s, v, h) = post_open(app, "/api/v1/passkey-sessions", body).await;
    let jar = if s == 201 {
        jar_of(&h)
    } else {
        Jar {
            cookie: String::new(),
            csrf: String::new(),
        }
    };
    (s, v, jar)
}

async fn passkeys_of(app: &TestApp, jar: &Jar) -> Vec<Value> {
    let (s, v, _) = with_cookie(app, "GET", "/api/v1/passkeys", jar, None, None).await;
    assert_eq!(s, 200, "{v}");
    v.as_array().expect("array").clone()
}

/// Moves every stored challenge's time back an hour (they expired long ago).
async fn age_challenges(app: &TestApp) {
    let then = chrono::Utc::now() - chrono::Duration::hours(1);
    let end = then + chrono::Duration::minutes(5);
    let sql = "UPDATE passkey_challenges SET created_at = $1, expires_at = $2";
    match &app.app.db {
        machipay::db::Db::Pg(p, _) => sqlx::query(sql)
            .bind(then)
            .bind(end)
            .execute(p)
            .await
            .map(|_| ()),
        machipay::db::Db::Lite { write, .. } => sqlx::query(sql)
            .bind(then)
            .bind(end)
            .execute(write)
            .await
            .map(|_| ()),
    }
    .expect("aged");
}

async fn a_passkey_is_added_listed_and_signs_in(app: &TestApp) {
    let (shown, jar) = register(app, "passkey@example.jp").await;
    let shopper = shown["principal_id"].as_str().expect("id");
    assert!(passkeys_of(app, &jar).await.is_empty());

    // The options ask for a discoverable passkey for this site's host name.
    let mut authenticator = Authenticator::new(app);
    let (challenge, options) = registration(app, &jar).await;
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{options}");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["authenticatorSelection"]["userVerification"], "required");
    let credential = authenticator.register(&options);
    let (s, added) = add(app, &jar, &challenge, credential).await;
    assert_eq!(s, 201, "{added}");
    assert_eq!(added["name"], "わたしのスマホ");
    let list = passkeys_of(app, &jar).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["id"], added["id"]);
    assert_eq!(list[0]["last_used_at"], Value::Null);

    // Signing in names no account; the passkey's login is the one signed in, with cookies.
    let (challenge, options) = sign_in_challenge(app).await;
    assert!(
        options["publicKey"]["allowCredentials"]
            .as_array()
            .is_none_or(|a| a.is_empty()),
        "{options}"
    );
    let (s, v, fresh) = sign_in_with(app, &challenge, authenticator.assert(&options)).await;
    assert_eq!((s, &v["kind"]), (201, &json!("shopper")), "{v}");
    assert_eq!(v["principal_id"].as_str(), Some(shopper));
    assert_eq!(v["csrf_token"].as_str(), Some(fresh.csrf.as_str()));
    let (s, me, _) = with_cookie(app, "GET", "/api/v1/me", &fresh, None, None).await;
    assert_eq!((s, me["id"].as_str()), (200, Some(shopper)), "{me}");
    let (_, sessions, _) = with_cookie(app, "GET", "/api/v1/sessions", &fresh, None, None).await;
    assert_eq!(sessions.as_array().map(Vec::len), Some(2), "{sessions}");
    let list = passkeys_of(app, &fresh).await;
    assert!(list[0]["last_used_at"].is_string(), "{list:?}");
    // Again, with the counter moved on.
    let (challenge, options) = sign_in_challenge(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, authenticator.assert(&options)).await;
    assert_eq!(s, 201, "{v}");

    // The audit log has it, by the shopper.
    let op = app.operator().await;
    let (_, log) = app.get("/api/v1/audit-log", &op).await;
    let entry = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .find(|e| e["action"] == "passkey_added")
        .unwrap_or_else(|| panic!("no passkey_added in {log}"));
    assert_eq!(entry["subject_id"], added["id"]);
    assert_eq!(entry["actor_kind"], "shopper");
    assert_eq!(entry["actor_id"].as_str(), Some(shopper));
}

async fn a_store_owner_signs_in_with_a_passkey(app: &TestApp) {
    let op = app.operator().await;
    let (merchant, _) = app.merchant(&op).await;
    let path = format!("/api/v1/principals/merchant_owner/{merchant}/setup-codes");
    let (s, code) = app.post(&path, &op, json!({})).await;
    assert_eq!(s.as_u16(), 201, "{code}");
    let body = json!({"code": code["code"], "login": "owner@shop.example.jp", "password": crate::sign_in::PASSWORD});
    let (s, v, h) = post_open(app, "/api/v1/setup", body).await;
    assert_eq!(s, 201, "{v}");
    let owner = jar_of(&h);
    let (mut authenticator, _) = added(app, &owner).await;
    let (challenge, options) = sign_in_challenge(app).await;
    let (s, v, jar) = sign_in_with(app, &challenge, authenticator.assert(&options)).await;
    assert_eq!((s, &v["kind"]), (201, &json!("merchant_owner")), "{v}");
    assert_eq!(v["principal_id"].as_str(), Some(merchant.as_str()));
    // The owner's session does what the owner's password session does.
    let devices = format!("/api/v1/merchants/{merchant}/devices");
    let (s, _, _) = with_cookie(app, "GET", &devices, &jar, None, None).await;
    assert_eq!(s, 200);
}

async fn passkey_refusals_are_named_and_change_nothing(app: &TestApp) {
    let (_, alice) = register(app, "alice@example.jp").await;
    let (_, bob) = register(app, "bob@example.jp").await;

    // Registration: no challenge, someone else's, a reused one, an expired one.
    let mut stray = Authenticator::new(app);
    let (challenge, options) = registration(app, &bob).await;
    let bobs_answer = stray.register(&options);
    let (s, v) = add(
        app,
        &alice,
        &uuid::Uuid::now_v7().to_string(),
        bobs_answer.clone(),
    )
    .await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    let (s, v) = add(app, &alice, &challenge, bobs_answer.clone()).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    assert!(passkeys_of(app, &alice).await.is_empty());
    // Bob's challenge was not spent by Alice's try.
    let (s, v) = add(app, &bob, &challenge, bobs_answer.clone()).await;
    assert_eq!(s, 201, "{v}");
    let (s, v) = add(app, &bob, &challenge, bobs_answer).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    assert_eq!(passkeys_of(app, &bob).await.len(), 1);
    let (challenge, options) = registration(app, &alice).await;
    let answer = Authenticator::new(app).register(&options);
    age_challenges(app).await;
    let (s, v) = add(app, &alice, &challenge, answer).await;
    assert_eq!(
        (s, code(&v)),
        (410, Some("passkey_challenge_expired")),
        "{v}"
    );
    assert!(passkeys_of(app, &alice).await.is_empty());
    // An answer to another challenge does not verify (and spends this one).
    let (challenge, _) = registration(app, &alice).await;
    let (_, other_options) = registration(app, &alice).await;
    let answer = Authenticator::new(app).register(&other_options);
    let (s, v) = add(app, &alice, &challenge, answer).await;
    assert_eq!(
        (s, code(&v)),
        (422, Some("passkey_registration_failed")),
        "{v}"
    );
    assert!(passkeys_of(app, &alice).await.is_empty());

    let (mut alices, alices_key) = added(app, &alice).await;
    let bobs = stray;

    // Sign-in: no challenge, a reused one, an expired one, a replayed answer.
    let (challenge, options) = sign_in_challenge(app).await;
    let answer = alices.assert(&options);
    let (s, v, _) = sign_in_with(app, &uuid::Uuid::now_v7().to_string(), answer.clone()).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    let (s, v, _) = sign_in_with(app, &challenge, answer.clone()).await;
    assert_eq!(s, 201, "{v}");
    let (s, v, _) = sign_in_with(app, &challenge, answer.clone()).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    let (challenge, _) = sign_in_challenge(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, answer).await;
    assert_eq!(
        (s, code(&v)),
        (401, Some("passkey_verification_failed")),
        "{v}"
    );
    let (challenge, options) = sign_in_challenge(app).await;
    let answer = alices.assert(&options);
    age_challenges(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, answer).await;
    assert_eq!(
        (s, code(&v)),
        (410, Some("passkey_challenge_expired")),
        "{v}"
    );

    // Someone else's credential id: claimed for Alice's account, or signed with the wrong key.
    let (challenge, options) = sign_in_challenge(app).await;
    let mut answer = alices.assert(&options);
    answer["id"] = json!(b64url(&bobs.credential_id));
    answer["rawId"] = answer["id"].clone();
    let (s, v, _) = sign_in_with(app, &challenge, answer).await;
    assert_eq!((s, code(&v)), (401, Some("passkey_not_recognised")), "{v}");
    let (challenge, options) = sign_in_challenge(app).await;
    let mut answer = alices.assert(&options);
    answer["id"] = json!(b64url(&bobs.credential_id));
    answer["rawId"] = answer["id"].clone();
    answer["response"]["userHandle"] = json!(bobs.user_handle);
    let (s, v, _) = sign_in_with(app, &challenge, answer).await;
    assert_eq!(
        (s, code(&v)),
        (401, Some("passkey_verification_failed")),
        "{v}"
    );

    // Bob cannot delete Alice's passkey: 404, and it still signs Alice in.
    let path = format!(
        "/api/v1/passkeys/{}",
        alices_key["id"].as_str().expect("id")
    );
    let (s, v, _) = with_cookie(app, "DELETE", &path, &bob, Some(&bob.csrf), None).await;
    assert_eq!((s, code(&v)), (404, Some("not_found")), "{v}");
    assert_eq!(passkeys_of(app, &alice).await.len(), 1);
    let (challenge, options) = sign_in_challenge(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, alices.assert(&options)).await;
    assert_eq!(s, 201, "{v}");
    // Alice can; then it signs nobody in, and the log says who removed what.
    let (s, v, _) = with_cookie(app, "DELETE", &path, &alice, Some(&alice.csrf), None).await;
    assert_eq!((s, &v["id"]), (200, &alices_key["id"]), "{v}");
    assert!(passkeys_of(app, &alice).await.is_empty());
    let (challenge, options) = sign_in_challenge(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, alices.assert(&options)).await;
    assert_eq!((s, code(&v)), (401, Some("passkey_not_recognised")), "{v}");
    let op = app.operator().await;
    let (_, log) = app.get("/api/v1/audit-log", &op).await;
    let removed = log["entries"]
        .as_array()
        .expect("entries")
        .iter()
        .filter(|e| e["action"] == "passkey_removed")
        .count();
    assert_eq!(removed, 1, "{log}");

    // A principal without a login (a bearer-token shopper, a till) has no passkeys to add.
    let (_, token) = app.shopper(&app.admin).await;
    let (s, v) = app
        .post("/api/v1/passkey-registrations", &token, json!({}))
        .await;
    assert_eq!(
        (s.as_u16(), code(&v)),
        (422, Some("passkey_login_required")),
        "{v}"
    );
    let (s, v) = app.get("/api/v1/passkeys", &token).await;
    assert_eq!((s.as_u16(), v), (200, json!([])));
}

async fn failed_passkey_sign_ins_count_against_the_address(app: &TestApp) {
    let unknown = uuid::Uuid::now_v7().to_string();
    let mut authenticator = Authenticator::new(app);
    let (_, options) = sign_in_challenge(app).await;
    let answer = authenticator.assert(&options);
    for _ in 0..machipay::features::sign_in::ADDRESS_FAILURES_MAX {
        let (s, v, _) = sign_in_with(app, &unknown, answer.clone()).await;
        assert_eq!(s, 400, "{v}");
    }
    for path in ["/api/v1/passkey-challenges", "/api/v1/passkey-sessions"] {
        let body = if path.ends_with("challenges") {
            json!({})
        } else {
            json!({"challenge_id": unknown, "credential": answer})
        };
        let (s, v, h) = post_open(app, path, body).await;
        assert_eq!(
            (s, code(&v)),
            (429, Some("too_many_sign_ins")),
            "{path}: {v}"
        );
        assert!(h.contains_key(reqwest::header::RETRY_AFTER));
    }
    // So does a password sign-in from there.
    let (s, v, _) = crate::sign_in::sign_in(app, "anyone@example.jp", "whatever password").await;
    assert_eq!((s, code(&v)), (429, Some("too_many_sign_ins")), "{v}");
}

/// How many logins, shoppers and passkeys exist (a refused sign-up must add none).
async fn counts(app: &TestApp) -> (i64, i64, i64) {
    let sql = "SELECT (SELECT COUNT(*) FROM logins), (SELECT COUNT(*) FROM shoppers), \
               (SELECT COUNT(*) FROM passkeys)";
    match &app.app.db {
        machipay::db::Db::Pg(p, _) => sqlx::query_as(sql).fetch_one(p).await,
        machipay::db::Db::Lite { write, .. } => sqlx::query_as(sql).fetch_one(write).await,
    }
    .expect("counts")
}

/// Begins a passkey sign-up for `login`: the status and the answer.
async fn sign_up_challenge(app: &TestApp, login: &str) -> (u16, Value) {
    let city = city_of(app).await;
    let body = json!({"city_id": city, "login": login, "display_name": "パスキー太郎"});
    let (s, v, _) = post_open(app, "/api/v1/passkey-sign-ups", body).await;
    (s, v)
}

async fn finish_sign_up(app: &TestApp, challenge: &str, credential: Value) -> (u16, Value, Jar) {
    let body =
        json!({"challenge_id": challenge, "name": "わたしのスマホ", "credential": credential});
    let (s, v, h) = post_open(app, "/api/v1/passkey-sign-ups/finish", body).await;
    let jar = if s == 201 {
        jar_of(&h)
    } else {
        Jar {
            cookie: String::new(),
            csrf: String::new(),
        }
    };
    (s, v, jar)
}

async fn a_shopper_signs_up_with_a_passkey_alone(app: &TestApp) {
    let before = counts(app).await;
    let mut authenticator = Authenticator::new(app);
    let (s, v) = sign_up_challenge(app, "Passkey-Only@Example.jp").await;
    assert_eq!(s, 201, "{v}");
    let options = v["options"].clone();
    let pk = &options["publicKey"];
    assert_eq!(pk["rp"]["id"], "localhost", "{options}");
    assert_eq!(pk["authenticatorSelection"]["residentKey"], "required");
    assert_eq!(pk["user"]["name"], "passkey-only@example.jp");
    assert_eq!(pk["user"]["displayName"], "パスキー太郎");
    // Nothing exists until the ceremony ends.
    assert_eq!(counts(app).await, before);
    let challenge = v["challenge_id"].as_str().expect("challenge").to_owned();
    let (s, shown, jar) = finish_sign_up(app, &challenge, authenticator.register(&options)).await;
    assert_eq!((s, &shown["kind"]), (201, &json!("shopper")), "{shown}");
    assert_eq!(shown["csrf_token"].as_str(), Some(jar.csrf.as_str()));
    let shopper = shown["principal_id"].as_str().expect("id").to_owned();
    assert_eq!(
        counts(app).await,
        (before.0 + 1, before.1 + 1, before.2 + 1)
    );
    let (s, me, _) = with_cookie(app, "GET", "/api/v1/me", &jar, None, None).await;
    assert_eq!(
        (s, me["id"].as_str()),
        (200, Some(shopper.as_str())),
        "{me}"
    );
    let list = passkeys_of(app, &jar).await;
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0]["name"], "わたしのスマホ");
    // The cookie session acts with its CSRF token (sign out).
    let (s, v, _) = with_cookie(app, "POST", "/api/v1/sign-out", &jar, Some(&jar.csrf), None).await;
    assert_eq!(s, 200, "{v}");

    // The passkey signs them in again.
    let (challenge, options) = sign_in_challenge(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, authenticator.assert(&options)).await;
    assert_eq!(
        (s, v["principal_id"].as_str()),
        (201, Some(shopper.as_str())),
        "{v}"
    );

    // A password does not: the usual answer, for any password, with no lock-out surprise.
    for password in [crate::sign_in::PASSWORD, "", "$argon2id$none"] {
        let (s, v, _) = crate::sign_in::sign_in(app, "passkey-only@example.jp", password).await;
        assert_eq!((s, code(&v)), (401, Some("sign_in_failed")), "{v}");
    }

    // The same login again, by passkey or password: login_taken, nothing created.
    let now = counts(app).await;
    let (s, v) = sign_up_challenge(app, "passkey-only@example.jp").await;
    assert_eq!((s, code(&v)), (409, Some("login_taken")), "{v}");
    let city = city_of(app).await;
    let body = json!({"city_id": city, "login": "passkey-only@example.jp",
        "password": crate::sign_in::PASSWORD, "display_name": "別人"});
    let (s, v, _) = post_open(app, "/api/v1/registrations", body).await;
    assert_eq!((s, code(&v)), (409, Some("login_taken")), "{v}");
    assert_eq!(counts(app).await, now);

    // Recovery at a counter: a setup code sets a password, and the passkey still works.
    let op = app.operator().await;
    let path = format!("/api/v1/principals/shopper/{shopper}/setup-codes");
    let (s, setup) = app.post(&path, &op, json!({})).await;
    assert_eq!(s.as_u16(), 201, "{setup}");
    let body = json!({"code": setup["code"], "password": crate::sign_in::PASSWORD});
    let (s, v, _) = post_open(app, "/api/v1/setup", body).await;
    assert_eq!(
        (s, v["principal_id"].as_str()),
        (201, Some(shopper.as_str())),
        "{v}"
    );
    let (s, v, _) =
        crate::sign_in::sign_in(app, "passkey-only@example.jp", crate::sign_in::PASSWORD).await;
    assert_eq!(
        (s, v["principal_id"].as_str()),
        (201, Some(shopper.as_str())),
        "{v}"
    );
    let (challenge, options) = sign_in_challenge(app).await;
    let (s, v, _) = sign_in_with(app, &challenge, authenticator.assert(&options)).await;
    assert_eq!(s, 201, "{v}");
}

async fn an_unfinished_passkey_sign_up_creates_nothing(app: &TestApp) {
    let before = counts(app).await;
    // Bad input is refused by name at the start.
    let city = city_of(app).await;
    for (body, want) in [
        (
            json!({"city_id": city, "login": "not a login", "display_name": "太郎"}),
            "invalid_login",
        ),
        (
            json!({"city_id": city, "login": "a@example.jp", "display_name": ""}),
            "invalid_name",
        ),
    ] {
        let (s, v, _) = post_open(app, "/api/v1/passkey-sign-ups", body).await;
        assert_eq!((s, code(&v)), (400, Some(want)), "{v}");
    }

    // Abandoned: started and never answered.
    let (s, _) = sign_up_challenge(app, "abandoned@example.jp").await;
    assert_eq!(s, 201);
    assert_eq!(counts(app).await, before);

    // Expired: answered too late.
    let mut authenticator = Authenticator::new(app);
    let (_, v) = sign_up_challenge(app, "late@example.jp").await;
    let challenge = v["challenge_id"].as_str().expect("challenge").to_owned();
    let credential = authenticator.register(&v["options"]);
    age_challenges(app).await;
    let (s, v, _) = finish_sign_up(app, &challenge, credential.clone()).await;
    assert_eq!(
        (s, code(&v)),
        (410, Some("passkey_challenge_expired")),
        "{v}"
    );
    // And spent: a second try is unknown.
    let (s, v, _) = finish_sign_up(app, &challenge, credential).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );

    // An answer that does not verify (made for another challenge).
    let (_, first) = sign_up_challenge(app, "wrong@example.jp").await;
    let (_, second) = sign_up_challenge(app, "wrong@example.jp").await;
    let credential = authenticator.register(&second["options"]);
    let challenge = first["challenge_id"].as_str().expect("challenge");
    let (s, v, _) = finish_sign_up(app, challenge, credential).await;
    assert_eq!(
        (s, code(&v)),
        (422, Some("passkey_registration_failed")),
        "{v}"
    );

    // A sign-in challenge is not a sign-up's, nor the other way round.
    let (challenge, mut options) = sign_in_challenge(app).await;
    options["publicKey"]["user"] = json!({"id": "AAAA", "name": "x", "displayName": "x"});
    let (s, v, _) = finish_sign_up(app, &challenge, authenticator.register(&options)).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    let (_, v) = sign_up_challenge(app, "mixed@example.jp").await;
    let challenge = v["challenge_id"].as_str().expect("challenge").to_owned();
    let (s, v, _) = sign_in_with(app, &challenge, authenticator.assert(&v["options"])).await;
    assert_eq!(
        (s, code(&v)),
        (400, Some("passkey_challenge_unknown")),
        "{v}"
    );
    assert_eq!(counts(app).await, before);

    // The login taken between start and finish: login_taken at the end, nothing half-made.
    let (_, v) = sign_up_challenge(app, "race@example.jp").await;
    let challenge = v["challenge_id"].as_str().expect("challenge").to_owned();
    let credential = Authenticator::new(app).register(&v["options"]);
    register(app, "race@example.jp").await;
    let now = counts(app).await;
    let (s, v, _) = finish_sign_up(app, &challenge, credential).await;
    assert_eq!((s, code(&v)), (409, Some("login_taken")), "{v}");
    assert_eq!(counts(app).await, now);

    // A passkey registered already (to someone else): refused, nothing made.
    let (_, alice) = register(app, "alice-pk@example.jp").await;
    let (mut taken, _) = added(app, &alice).await;
    let (_, v) = sign_up_challenge(app, "copycat@example.jp").await;
    let challenge = v["challenge_id"].as_str().expect("challenge").to_owned();
    let now = counts(app).await;
    let (s, v, _) = finish_sign_up(app, &challenge, taken.register(&v["options"])).await;
    assert_eq!(
        (s, code(&v)),
        (409, Some("passkey_already_registered")),
        "{v}"
    );
    assert_eq!(counts(app).await, now);
}
