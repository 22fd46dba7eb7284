//! Access control as one table: every route × every kind of caller, with the exact answer
//! each gets (2xx, 401, 403 or 404), and objects of another city answering 404.
//!
//! The table is data (`rows`): a route, what to put in its one path placeholder, the body,
//! who is allowed (2xx) and who must not even learn the object exists (404). Everyone else
//! who is authenticated gets 403; anonymous callers and revoked tokens get 401. The OpenAPI
//! document is checked against the table, so a new route fails this test until a row for it
//! is added here.

use std::collections::{BTreeSet, HashMap};

use machipay::features::directory::store::principal_for_token;
use machipay_domain::auth::hash_secret;
use serde_json::{Value, json};

use crate::both_backends;
use crate::helpers::TestApp;

both_backends!(every_route_answers_every_principal_as_the_policy_says);

/// Who calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
enum P {
    /// City staff, role admin (the bootstrap admin).
    CityAdmin,
    /// City staff, role viewer.
    CityViewer,
    /// City staff, role operator (not an admin, not operator staff: may only view).
    CityOperator,
    /// Operator staff, role admin.
    OpAdmin,
    /// Operator staff, role operator.
    OpOperator,
    /// Operator staff, role viewer.
    OpViewer,
    /// Owner of store A.
    OwnerA,
    /// A cashier terminal enrolled for store A.
    DeviceA,
    /// Owner of store B.
    OwnerB,
    ShopperX,
    ShopperY,
    /// No Authorization header.
    Anonymous,
    /// A city admin whose token has been revoked.
    Revoked,
}

use P::*;

const EVERYONE: &[P] = &[
    CityAdmin,
    CityViewer,
    CityOperator,
    OpAdmin,
    OpOperator,
    OpViewer,
    OwnerA,
    DeviceA,
    OwnerB,
    ShopperX,
    ShopperY,
    Anonymous,
    Revoked,
];
const AUTHENTICATED: &[P] = &[
    CityAdmin,
    CityViewer,
    CityOperator,
    OpAdmin,
    OpOperator,
    OpViewer,
    OwnerA,
    DeviceA,
    OwnerB,
    ShopperX,
    ShopperY,
];
const STAFF: &[P] = &[
    CityAdmin,
    CityViewer,
    CityOperator,
    OpAdmin,
    OpOperator,
    OpViewer,
];
/// `Capability::OperateProgram`: operator staff with role operator or admin, and city admins.
const OPERATORS: &[P] = &[CityAdmin, OpAdmin, OpOperator];
const SHOPPERS: &[P] = &[ShopperX, ShopperY];

/// The principals in any of `groups`.
fn any(groups: &[&[P]]) -> Vec<P> {
    groups
        .iter()
        .flat_map(|g| g.iter().copied())
        .collect::<BTreeSet<_>>()
        .into_iter()
        .collect()
}

/// The principals of `from` that are not in `minus`.
fn except(from: &[P], minus: &[P]) -> Vec<P> {
    from.iter()
        .copied()
        .filter(|p| !minus.contains(p))
        .collect()
}

/// What goes into the path's one `{...}` placeholder.
#[derive(Debug, Clone)]
enum Arg {
    /// The template has no placeholder.
    None,
    Id(String),
    /// One id per placeholder, in order.
    Ids(Vec<String>),
    /// A transaction nobody has reversed yet, made just before each call.
    FreshTransaction,
    /// A token of a fresh shopper of the home city, made just before each call.
    FreshToken,
    /// The caller's own token. Revokes it: rows with this run after all others.
    OwnToken,
    /// Store A and a store code of it issued just before each call.
    FreshStoreCode,
    /// A pending store application, entered just before each call.
    FreshApplication,
    /// The given program and a store registered just before each call.
    FreshMerchantOf(String),
    /// A card of the home point card program, issued just before each call.
    FreshCard,
    /// A shopper of the home city, registered just before each call (the block rows: no
    /// caller of the matrix is blocked).
    FreshShopper,
}

#[derive(Debug, Clone)]
enum Body {
    None,
    Json(Value),
    /// A JSON body sent with a fresh Idempotency-Key.
    Money(Value),
    /// A rebate campaign sent as `Money`, its first tier's category made fresh for each call
    /// (campaigns overlapping on a category are refused).
    FreshCategory(Value),
    /// `{"code": ...}` with a one-time enrollment code minted just before each call.
    EnrollmentCode,
    /// `{"code": ..., "amount": 1}` with a one-time code of shopper X minted just before
    /// each call, sent with a fresh Idempotency-Key.
    ShopperCode,
    /// A CSV file (Content-Type: text/csv).
    Csv(String),
    /// A shopper's self-registration with a login of its own for each call.
    Registration,
    /// `{"code": ..., "login": ..., "password": ...}` with a setup code of shopper W minted
    /// just before each call.
    SetupCode,
}

struct Row {
    method: &'static str,
    /// The path exactly as the OpenAPI document names it.
    template: &'static str,
    arg: Arg,
    body: Body,
    /// These get 2xx.
    allowed: Vec<P>,
    /// These get 404: the object is not theirs to know about.
    hidden: Vec<P>,
    /// The success status when it is not the method's usual one (201 for POST, else 200).
    ok: Option<u16>,
}

fn row(
    method: &'static str,
    template: &'static str,
    arg: Arg,
    body: Body,
    allowed: Vec<P>,
    hidden: Vec<P>,
) -> Row {
    Row {
        method,
        template,
        arg,
        body,
        allowed,
        hidden,
        ok: None,
    }
}

impl Row {
    fn ok(mut self, status: u16) -> Row {
        self.ok = Some(status);
        self
    }

    fn expected(&self, p: P) -> u16 {
        if self.allowed.contains(&p) && self.ok.is_some() {
            self.ok.unwrap_or(200)
        } else if self.allowed.contains(&p) {
            if self.method == "POST" { 201 } else { 200 }
        } else if self.hidden.contains(&p) {
            404
        } else if matches!(p, Anonymous | Revoked) {
            401
        } else {
            403
        }
    }
}

/// Ids of the objects the table refers to: the home city's and another city's.
struct World {
    program: String,
    merchant_a: String,
    shopper_x: String,
    /// Receives the transfers of the matrix (not a caller).
    shopper_z: String,
    /// A payment of shopper X at store A.
    payment_x_at_a: String,
    foreign_program: String,
    foreign_merchant: String,
    foreign_shopper: String,
    foreign_transaction: String,
    foreign_token: String,
    /// A premium-set campaign of the home program, on sale now.
    campaign: String,
    /// A first-come campaign with a waiting room, and shopper Z's ticket in it.
    room_campaign: String,
    ticket_z: String,
    /// A lottery of the home program taking applications, shopper X's among them, and one
    /// nobody has applied to yet.
    lottery: String,
    lottery_open: String,
    /// A store code of store A (id and the scanned text) and a payment request of store A.
    store_code: String,
    store_code_payload: String,
    payment_request: String,
    /// A settlement run of the home program (a past cycle holding a payment at store A).
    run: String,
    /// The point card program, a card of shopper X holding points, a card the matrix
    /// blocks, a points payment at store A, and a clean import file.
    points_program: String,
    card_x: String,
    card_x_number: String,
    card_to_block: String,
    point_spend_at_a: String,
    import_csv: String,
    /// A shopper's login (password "correct horse battery").
    login: String,
}

/// A lottery sale taking applications until 2098 (winners buy in 2098).
fn lottery_body() -> Value {
    json!({"campaign": {"name": "抽選", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
            "budget_yen": 30_000, "sale_starts_at": "2098-01-02T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"},
        "applications_open_at": "2020-01-01T00:00:00Z", "applications_close_at": "2098-01-01T00:00:00Z",
        "winners_buy_until": "2098-06-01T00:00:00Z", "unclaimed": "first_come",
        "seed_hash": machipay_domain::lottery::seed_hash("the-seed-of-the-matrix")})
}

async fn new_lottery(app: &TestApp, program: &str) -> String {
    let (status, l) = app
        .post_money(
            &format!("/api/v1/programs/{program}/lotteries"),
            &app.admin,
            lottery_body(),
        )
        .await;
    assert_eq!(status, 201, "{l}");
    l["campaign"]["id"].as_str().expect("id").to_owned()
}

/// The matrix. One line per route and object; kept unformatted so it reads as a table.
#[rustfmt::skip]
fn rows(w: &World) -> Vec<Row> {
    let id = |s: &String| Arg::Id(s.clone());
    vec![
        // System.
        row("GET", "/healthz", Arg::None, Body::None, any(&[EVERYONE]), vec![]),
        row("GET", "/readyz", Arg::None, Body::None, any(&[EVERYONE]), vec![]),
        row("GET", "/api/openapi.json", Arg::None, Body::None, any(&[EVERYONE]), vec![]),
        row("GET", "/api/v1/error-codes", Arg::None, Body::None, any(&[EVERYONE]), vec![]),
        row("GET", "/api/v1/me", Arg::None, Body::None, any(&[AUTHENTICATED]), vec![]),
        // Staff and programs: city admins create; every principal of the city reads programs.
        row("POST", "/api/v1/staff", Arg::None, Body::Json(json!({"name": "新人", "kind": "operator", "role": "viewer"})), vec![CityAdmin], vec![]),
        row("POST", "/api/v1/programs", Arg::None, Body::Json(json!({"kind": "points", "name": "ポイント"})), vec![CityAdmin], vec![]),
        row("GET", "/api/v1/programs", Arg::None, Body::None, any(&[AUTHENTICATED]), vec![]),
        row("GET", "/api/v1/programs/{program_id}", id(&w.program), Body::None, any(&[AUTHENTICATED]), vec![]),
        row("GET", "/api/v1/programs/{program_id}", id(&w.foreign_program), Body::None, vec![], any(&[AUTHENTICATED])),
        // Merchants: operators create, staff list, staff and the store itself read.
        row("POST", "/api/v1/merchants", Arg::None, Body::Json(json!({"name": "八百屋"})), any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/merchants", Arg::None, Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/merchants/{merchant_id}", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        // Enrollment codes: the store's owner only; another store's owner does not see it.
        row("POST", "/api/v1/merchants/{merchant_id}/enrollment-codes", id(&w.merchant_a), Body::Json(json!({"device_name": "レジ2"})), vec![OwnerA], vec![OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/enrollment-codes", id(&w.foreign_merchant), Body::Json(json!({"device_name": "レジ2"})), vec![], vec![OwnerA, OwnerB]),
        // The code is the credential: whatever token comes along is ignored.
        row("POST", "/api/v1/devices/enroll", Arg::None, Body::EnrollmentCode, any(&[EVERYONE]), vec![]),
        // Tills: the owner and staff list them; only the owner revokes (no such till here: 404).
        row("GET", "/api/v1/merchants/{merchant_id}/devices", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA]]), vec![OwnerB]),
        row("GET", "/api/v1/merchants/{merchant_id}/devices", id(&w.foreign_merchant), Body::None, vec![], any(&[STAFF, &[OwnerA, OwnerB]])),
        row("DELETE", "/api/v1/merchants/{merchant_id}/devices/{device_id}", Arg::Ids(vec![w.merchant_a.clone(), uuid::Uuid::now_v7().to_string()]), Body::None, vec![], vec![OwnerA, OwnerB]),
        // Sign-in: registration, sign-in and setup codes are their own credentials (whatever
        // token comes along is ignored); sessions are listed and ended by their holder;
        // operators issue setup codes for shoppers of the city.
        row("GET", "/api/v1/cities", Arg::None, Body::None, any(&[EVERYONE]), vec![]),
        row("POST", "/api/v1/registrations", Arg::None, Body::Registration, any(&[EVERYONE]), vec![]),
        row("POST", "/api/v1/sessions", Arg::None, Body::Json(json!({"login": w.login, "password": "correct horse battery"})), any(&[EVERYONE]), vec![]),
        row("GET", "/api/v1/sessions", Arg::None, Body::None, any(&[AUTHENTICATED]), vec![]),
        row("DELETE", "/api/v1/sessions/{session_id}", Arg::Id(uuid::Uuid::now_v7().to_string()), Body::None, vec![], any(&[AUTHENTICATED])),
        row("POST", "/api/v1/sign-out", Arg::None, Body::None, any(&[AUTHENTICATED]), vec![]).ok(200),
        row("POST", "/api/v1/principals/{principal_kind}/{principal_id}/setup-codes", Arg::Ids(vec!["shopper".into(), w.shopper_x.clone()]), Body::None, any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/principals/{principal_kind}/{principal_id}/setup-codes", Arg::Ids(vec!["shopper".into(), w.foreign_shopper.clone()]), Body::None, vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/setup", Arg::None, Body::SetupCode, any(&[EVERYONE]), vec![]),
        // Passkeys: anyone may begin a passkey sign-in (an unknown challenge is refused by name,
        // whoever asks); passkeys are added to a login, which no token here has (422), listed
        // by their holder, and another's (or none) is not found.
        row("POST", "/api/v1/passkey-challenges", Arg::None, Body::Json(json!({})), any(&[EVERYONE]), vec![]),
        row("POST", "/api/v1/passkey-sessions", Arg::None, Body::Json(json!({"challenge_id": uuid::Uuid::now_v7(), "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"authenticatorData": "AAAA", "clientDataJSON": "AAAA", "signature": "AAAA", "userHandle": null}}})), any(&[EVERYONE]), vec![]).ok(400),
        row("POST", "/api/v1/passkey-sign-ups", Arg::None, Body::Json(json!({"city_id": uuid::Uuid::now_v7(), "login": "x", "display_name": "太郎"})), any(&[EVERYONE]), vec![]).ok(400),
        // A name too long: refused before the ceremony, so no failure counts toward the address.
        row("POST", "/api/v1/passkey-sign-ups/finish", Arg::None, Body::Json(json!({"challenge_id": uuid::Uuid::now_v7(), "name": "x".repeat(101), "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}}})), any(&[EVERYONE]), vec![]).ok(400),
        row("POST", "/api/v1/passkey-registrations", Arg::None, Body::None, any(&[AUTHENTICATED]), vec![]).ok(422),
        row("POST", "/api/v1/passkeys", Arg::None, Body::Json(json!({"challenge_id": uuid::Uuid::now_v7(), "name": "スマホ", "credential": {"id": "AAAA", "rawId": "AAAA", "type": "public-key", "response": {"attestationObject": "AAAA", "clientDataJSON": "AAAA"}}})), any(&[AUTHENTICATED]), vec![]).ok(422),
        row("GET", "/api/v1/passkeys", Arg::None, Body::None, any(&[AUTHENTICATED]), vec![]),
        row("DELETE", "/api/v1/passkeys/{passkey_id}", Arg::Id(uuid::Uuid::now_v7().to_string()), Body::None, vec![], any(&[AUTHENTICATED])),
        // Shoppers: operators create, staff and the shopper read.
        row("POST", "/api/v1/shoppers", Arg::None, Body::Json(json!({"display_name": "佐藤"})), any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/shoppers", Arg::None, Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/shoppers/{shopper_id}", id(&w.shopper_x), Body::None, any(&[STAFF, &[ShopperX]]), vec![OwnerA, DeviceA, OwnerB, ShopperY]),
        row("GET", "/api/v1/shoppers/{shopper_id}", id(&w.foreign_shopper), Body::None, vec![], any(&[AUTHENTICATED])),
        // Blocking a shopper: operators and city admins; another city's shopper is not found.
        row("POST", "/api/v1/shoppers/{shopper_id}/block", Arg::FreshShopper, Body::Json(json!({"reason": "紛失"})), any(&[OPERATORS]), vec![]).ok(200),
        row("POST", "/api/v1/shoppers/{shopper_id}/block", id(&w.foreign_shopper), Body::Json(json!({"reason": "紛失"})), vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/shoppers/{shopper_id}/unblock", Arg::FreshShopper, Body::Json(json!({"reason": "確認済み"})), any(&[OPERATORS]), vec![]).ok(200),
        row("POST", "/api/v1/shoppers/{shopper_id}/unblock", id(&w.foreign_shopper), Body::Json(json!({"reason": "確認済み"})), vec![], any(&[OPERATORS])),
        // Tokens: a city admin revokes any token of the city, operators a shopper's; others'
        // tokens are not found. Staff list a principal's tokens; operators issue new ones.
        row("DELETE", "/api/v1/tokens/{token_id}", Arg::FreshToken, Body::None, any(&[OPERATORS]), except(AUTHENTICATED, OPERATORS)),
        row("GET", "/api/v1/principals/{principal_kind}/{principal_id}/tokens", Arg::Ids(vec!["shopper".into(), w.shopper_x.clone()]), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/principals/{principal_kind}/{principal_id}/tokens", Arg::Ids(vec!["shopper".into(), w.foreign_shopper.clone()]), Body::None, vec![], any(&[STAFF])),
        row("POST", "/api/v1/principals/{principal_kind}/{principal_id}/tokens", Arg::Ids(vec!["shopper".into(), w.shopper_x.clone()]), Body::None, any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/principals/{principal_kind}/{principal_id}/tokens", Arg::Ids(vec!["shopper".into(), w.foreign_shopper.clone()]), Body::None, vec![], any(&[OPERATORS])),
        row("DELETE", "/api/v1/tokens/{token_id}", id(&w.foreign_token), Body::None, vec![], any(&[AUTHENTICATED])),
        // Every principal may revoke its own token (run last: it ends that principal).
        row("DELETE", "/api/v1/tokens/{token_id}", Arg::OwnToken, Body::None, any(&[AUTHENTICATED]), vec![]),
        // Counter charges: operators; another city's program or shopper is not found.
        row("POST", "/api/v1/programs/{program_id}/charges", id(&w.program), Body::Money(json!({"shopper_id": w.shopper_x, "amount": 1})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/charges", id(&w.foreign_program), Body::Money(json!({"shopper_id": w.shopper_x, "amount": 1})), vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/programs/{program_id}/charges", id(&w.program), Body::Money(json!({"shopper_id": w.foreign_shopper, "amount": 1})), vec![], any(&[OPERATORS])),
        // Payments: shoppers only.
        row("POST", "/api/v1/programs/{program_id}/payments", id(&w.program), Body::Money(json!({"merchant_id": w.merchant_a, "amount": 1})), any(&[SHOPPERS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/payments", id(&w.foreign_program), Body::Money(json!({"merchant_id": w.merchant_a, "amount": 1})), vec![], any(&[SHOPPERS])),
        row("POST", "/api/v1/programs/{program_id}/payments", id(&w.program), Body::Money(json!({"merchant_id": w.foreign_merchant, "amount": 1})), vec![], any(&[SHOPPERS])),
        // Transfers: shoppers only.
        row("POST", "/api/v1/programs/{program_id}/transfers", id(&w.program), Body::Money(json!({"to_shopper_id": w.shopper_z, "amount": 1})), any(&[SHOPPERS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/transfers", id(&w.foreign_program), Body::Money(json!({"to_shopper_id": w.shopper_z, "amount": 1})), vec![], any(&[SHOPPERS])),
        row("POST", "/api/v1/programs/{program_id}/transfers", id(&w.program), Body::Money(json!({"to_shopper_id": w.foreign_shopper, "amount": 1})), vec![], any(&[SHOPPERS])),
        // Reversals: operators; another city's transaction is not found.
        row("POST", "/api/v1/transactions/{transaction_id}/reversals", Arg::FreshTransaction, Body::Money(json!({"reason": "打ち間違い"})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/transactions/{transaction_id}/reversals", id(&w.foreign_transaction), Body::Money(json!({"reason": "打ち間違い"})), vec![], any(&[OPERATORS])),
        // Ledger reads.
        row("GET", "/api/v1/transactions/{transaction_id}", id(&w.payment_x_at_a), Body::None, any(&[STAFF, &[ShopperX, OwnerA, DeviceA]]), vec![ShopperY, OwnerB]),
        row("GET", "/api/v1/transactions/{transaction_id}", id(&w.foreign_transaction), Body::None, vec![], any(&[AUTHENTICATED])),
        row("GET", "/api/v1/shoppers/{shopper_id}/balances", id(&w.shopper_x), Body::None, any(&[STAFF, &[ShopperX]]), vec![ShopperY, OwnerA, DeviceA, OwnerB]),
        row("GET", "/api/v1/shoppers/{shopper_id}/balances", id(&w.foreign_shopper), Body::None, vec![], any(&[AUTHENTICATED])),
        row("GET", "/api/v1/merchants/{merchant_id}/balances", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}/balances", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        row("GET", "/api/v1/shoppers/{shopper_id}/activity", id(&w.shopper_x), Body::None, any(&[STAFF, &[ShopperX]]), vec![ShopperY, OwnerA, DeviceA, OwnerB]),
        row("GET", "/api/v1/shoppers/{shopper_id}/activity", id(&w.foreign_shopper), Body::None, vec![], any(&[AUTHENTICATED])),
        row("GET", "/api/v1/merchants/{merchant_id}/activity", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}/activity", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        row("GET", "/api/v1/programs/{program_id}/ledger-check", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/ledger-check", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        row("GET", "/api/v1/programs/{program_id}/aggregates-check", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/aggregates-check", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        row("GET", "/api/v1/programs/{program_id}/ledger-check/incremental", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/ledger-check/incremental", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        // Currency settings: operators change, staff read the history.
        row("POST", "/api/v1/programs/{program_id}/settings", id(&w.program), Body::Json(json!({"settings": {"p2p_transfers": true, "charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000}})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/settings", id(&w.foreign_program), Body::Json(json!({"settings": {}})), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/settings", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/settings", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        // Premium campaigns: operators open them and sell sets; anyone in the city sees them.
        row("POST", "/api/v1/programs/{program_id}/premium-campaigns", id(&w.program), Body::Money(json!({"name": "第2弾", "price_yen": 1_000, "premium_yen": 200, "units_per_person_max": 5, "budget_yen": 100_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"})), any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/premium-campaigns", id(&w.program), Body::None, any(&[AUTHENTICATED]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/premium-campaigns", id(&w.foreign_program), Body::None, vec![], any(&[AUTHENTICATED])),
        row("POST", "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/purchases", Arg::Ids(vec![w.program.clone(), w.campaign.clone()]), Body::Money(json!({"shopper_id": w.shopper_x, "units": 1})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/purchases", Arg::Ids(vec![w.program.clone(), w.campaign.clone()]), Body::Money(json!({"shopper_id": w.foreign_shopper, "units": 1})), vec![], any(&[OPERATORS])),
        // The waiting room: a shopper takes their own place; the ticket is its shopper's and the
        // city staff's to read, hidden from everyone else.
        row("POST", "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/queue", Arg::Ids(vec![w.program.clone(), w.room_campaign.clone()]), Body::None, any(&[SHOPPERS]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/premium-campaigns/{campaign_id}/queue/{ticket_id}", Arg::Ids(vec![w.program.clone(), w.room_campaign.clone(), w.ticket_z.clone()]), Body::None, any(&[STAFF]), vec![OwnerA, DeviceA, OwnerB, ShopperX, ShopperY]),
        // Bank charges: the bank integration (an operator token); the reference is the key.
        row("POST", "/api/v1/programs/{program_id}/bank-charges", id(&w.program), Body::Json(json!({"shopper_id": w.shopper_x, "amount": 1, "bank_reference": "BANK-0001"})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/bank-charges", id(&w.foreign_program), Body::Json(json!({"shopper_id": w.shopper_x, "amount": 1, "bank_reference": "BANK-0002"})), vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/programs/{program_id}/lotteries", id(&w.program), Body::Money(lottery_body()), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/lotteries", id(&w.foreign_program), Body::Money(lottery_body()), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/lotteries/{campaign_id}", Arg::Ids(vec![w.program.clone(), w.lottery.clone()]), Body::None, any(&[AUTHENTICATED]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/lotteries/{campaign_id}", Arg::Ids(vec![w.foreign_program.clone(), w.lottery.clone()]), Body::None, vec![], any(&[AUTHENTICATED])),
        row("POST", "/api/v1/programs/{program_id}/lotteries/{campaign_id}/applications", Arg::Ids(vec![w.program.clone(), w.lottery_open.clone()]), Body::Json(json!({"units": 1})), any(&[SHOPPERS]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/lotteries/{campaign_id}/applications/{shopper_id}", Arg::Ids(vec![w.program.clone(), w.lottery.clone(), w.shopper_x.clone()]), Body::None, any(&[STAFF, &[ShopperX]]), vec![OwnerA, DeviceA, OwnerB, ShopperY]),
        // The draw itself is lottery.rs's (it needs the window closed): here, another city's.
        row("POST", "/api/v1/programs/{program_id}/lotteries/{campaign_id}/draws", Arg::Ids(vec![w.foreign_program.clone(), w.lottery.clone()]), Body::Json(json!({"seed": "the-seed-of-the-matrix"})), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/lotteries/{campaign_id}/report", Arg::Ids(vec![w.program.clone(), w.lottery.clone()]), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/lotteries/{campaign_id}/report", Arg::Ids(vec![w.foreign_program.clone(), w.lottery.clone()]), Body::None, vec![], any(&[STAFF])),
        row("POST", "/api/v1/shoppers/{shopper_id}/resident-check", id(&w.shopper_x), Body::Json(json!({"verified_on": "2026-01-05", "method": "住民票"})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/shoppers/{shopper_id}/resident-check", id(&w.foreign_shopper), Body::Json(json!({"verified_on": "2026-01-05", "method": "住民票"})), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/premium-reconciliation", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/premium-reconciliation", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        // Reports: staff read them; another city's program is not found.
        row("GET", "/api/v1/programs/{program_id}/reports/unused-balance", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/reports/unused-balance", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        // QR: the store's owner (and operators) issue and revoke codes; the store and staff see them.
        row("POST", "/api/v1/merchants/{merchant_id}/codes", id(&w.merchant_a), Body::Json(json!({"program_id": w.program})), any(&[OPERATORS, &[OwnerA]]), vec![OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/codes", id(&w.foreign_merchant), Body::Json(json!({"program_id": w.program})), vec![], any(&[OPERATORS, &[OwnerA, OwnerB]])),
        row("GET", "/api/v1/merchants/{merchant_id}/codes", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}/codes", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        row("DELETE", "/api/v1/merchants/{merchant_id}/codes/{code_id}", Arg::FreshStoreCode, Body::None, any(&[OPERATORS, &[OwnerA]]), vec![OwnerB]),
        row("GET", "/api/v1/merchants/{merchant_id}/codes/{code_id}/image", Arg::Ids(vec![w.merchant_a.clone(), w.store_code.clone()]), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        // Dynamic requests and shopper codes: the store's own till and owner only.
        row("POST", "/api/v1/merchants/{merchant_id}/payment-requests", id(&w.merchant_a), Body::Json(json!({"program_id": w.program, "amount": 100})), vec![OwnerA, DeviceA], vec![OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/payment-requests", id(&w.foreign_merchant), Body::Json(json!({"program_id": w.program, "amount": 100})), vec![], vec![OwnerA, DeviceA, OwnerB]),
        row("GET", "/api/v1/merchants/{merchant_id}/payment-requests/{request_id}", Arg::Ids(vec![w.merchant_a.clone(), w.payment_request.clone()]), Body::None, vec![OwnerA, DeviceA], except(AUTHENTICATED, &[OwnerA, DeviceA])),
        row("GET", "/api/v1/merchants/{merchant_id}/payment-requests/{request_id}/image", Arg::Ids(vec![w.merchant_a.clone(), w.payment_request.clone()]), Body::None, vec![OwnerA, DeviceA], except(AUTHENTICATED, &[OwnerA, DeviceA])),
        row("POST", "/api/v1/merchants/{merchant_id}/shopper-code-payments", id(&w.merchant_a), Body::ShopperCode, vec![OwnerA, DeviceA], vec![OwnerB]),
        row("GET", "/api/v1/merchants/{merchant_id}/events", id(&w.merchant_a), Body::None, vec![OwnerA, DeviceA], vec![OwnerB]),
        row("POST", "/api/v1/programs/{program_id}/shopper-codes", id(&w.program), Body::None, any(&[SHOPPERS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/shopper-codes", id(&w.foreign_program), Body::None, vec![], any(&[SHOPPERS])),
        // Rebates, refunds and cash-out exceptions.
        row("POST", "/api/v1/programs/{program_id}/rebate-campaigns", id(&w.program), Body::FreshCategory(json!({"name": "還元", "tiers": [{"category": "member", "rate": "0.1"}], "monthly_cap_points": 100, "budget_points": 1000, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "grant_mode": "immediate"})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/rebate-campaigns", id(&w.foreign_program), Body::Money(json!({"name": "還元", "tiers": [{"category": "member", "rate": "0.1"}], "monthly_cap_points": 100, "budget_points": 1000, "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2099-01-01T00:00:00Z", "grant_mode": "immediate"})), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/rebate-campaigns", id(&w.program), Body::None, any(&[AUTHENTICATED]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/rebate-campaigns", id(&w.foreign_program), Body::None, vec![], any(&[AUTHENTICATED])),
        row("PUT", "/api/v1/merchants/{merchant_id}/category", id(&w.merchant_a), Body::Json(json!({"category": "member"})), any(&[OPERATORS]), vec![]),
        row("PUT", "/api/v1/merchants/{merchant_id}/category", id(&w.foreign_merchant), Body::Json(json!({"category": "member"})), vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/merchants/{merchant_id}/refunds", id(&w.merchant_a), Body::Money(json!({"transaction_id": w.payment_x_at_a, "amount": 1, "reason": "返品"})), vec![OwnerA, DeviceA], vec![OwnerB]),
        row("POST", "/api/v1/programs/{program_id}/cash-out-exceptions", id(&w.program), Body::Money(json!({"shopper_id": w.shopper_x, "amount": 1, "reason": "転居"})), vec![CityAdmin, OpAdmin], vec![]),
        row("POST", "/api/v1/programs/{program_id}/cash-out-exceptions", id(&w.foreign_program), Body::Money(json!({"shopper_id": w.shopper_x, "amount": 1, "reason": "転居"})), vec![], vec![CityAdmin, OpAdmin]),
        // Merchant registry: operators enter and decide applications, keep profiles, bank
        // accounts and participation; city admins set targets; staff read.
        row("POST", "/api/v1/merchant-applications", Arg::None, Body::Json(json!({"name": "新規店", "profile": store_profile("N-1")})), any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/merchant-applications", Arg::None, Body::None, any(&[STAFF]), vec![]),
        row("POST", "/api/v1/merchant-applications/{application_id}/decision", Arg::FreshApplication, Body::Json(json!({"decision": "approve"})), any(&[OPERATORS]), vec![]).ok(200),
        row("PUT", "/api/v1/merchants/{merchant_id}/profile", id(&w.merchant_a), Body::Json(store_profile("A-1")), any(&[OPERATORS]), vec![]),
        row("PUT", "/api/v1/merchants/{merchant_id}/profile", id(&w.foreign_merchant), Body::Json(store_profile("F-1")), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/merchants/{merchant_id}/profile", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}/profile", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        row("PUT", "/api/v1/merchants/{merchant_id}/bank-account", id(&w.merchant_a), Body::Json(bank_account()), any(&[OPERATORS]), vec![]),
        row("PUT", "/api/v1/merchants/{merchant_id}/bank-account", id(&w.foreign_merchant), Body::Json(bank_account()), vec![], any(&[OPERATORS])),
        // Cashier devices act for the store but do not see its bank account.
        row("GET", "/api/v1/merchants/{merchant_id}/bank-account", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}/bank-account", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        row("POST", "/api/v1/programs/{program_id}/merchants/{merchant_id}/participation-events", Arg::FreshMerchantOf(w.program.clone()), Body::Json(json!({"kind": "joined"})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/merchants/{merchant_id}/participation-events", Arg::Ids(vec![w.program.clone(), w.foreign_merchant.clone()]), Body::Json(json!({"kind": "joined"})), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/merchants/{merchant_id}/participation-events", Arg::Ids(vec![w.program.clone(), w.merchant_a.clone()]), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("POST", "/api/v1/merchants/imports", Arg::None, Body::Csv(import_csv()), any(&[OPERATORS]), vec![]).ok(200),
        row("PUT", "/api/v1/programs/{program_id}/targets/{fiscal_year}", Arg::Ids(vec![w.program.clone(), "2025".into()]), Body::Json(json!({"stores": 110})), vec![CityAdmin], vec![]),
        row("PUT", "/api/v1/programs/{program_id}/targets/{fiscal_year}", Arg::Ids(vec![w.foreign_program.clone(), "2025".into()]), Body::Json(json!({"stores": 110})), vec![], vec![CityAdmin]),
        row("GET", "/api/v1/programs/{program_id}/targets", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/targets", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        // The city's reports: staff.
        row("GET", "/api/v1/programs/{program_id}/reports/stores", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/reports/stores", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        row("GET", "/api/v1/programs/{program_id}/reports/usage", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/reports/usage", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        // Settlement: operators run, download and confirm; staff read; a store reads its own.
        row("POST", "/api/v1/programs/{program_id}/settlement-runs", id(&w.program), Body::Json(json!({"closing_date": "2020-01-10"})), any(&[OPERATORS]), vec![]).ok(200),
        row("POST", "/api/v1/programs/{program_id}/settlement-runs", id(&w.foreign_program), Body::Json(json!({"closing_date": "2020-01-10"})), vec![], any(&[OPERATORS])),
        row("GET", "/api/v1/programs/{program_id}/settlement-runs", id(&w.program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/settlement-runs", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        row("GET", "/api/v1/programs/{program_id}/settlement-runs/{run_id}/statements", Arg::Ids(vec![w.program.clone(), w.run.clone()]), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/settlement-runs/{run_id}/statements", Arg::Ids(vec![w.foreign_program.clone(), w.run.clone()]), Body::None, vec![], any(&[STAFF])),
        row("GET", "/api/v1/audit-log", Arg::None, Body::None, any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/settlement-runs/{run_id}/zengin", Arg::Ids(vec![w.program.clone(), w.run.clone()]), Body::None, any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/settlement-runs/{run_id}/confirm", Arg::Ids(vec![w.program.clone(), w.run.clone()]), Body::Money(json!({})), any(&[OPERATORS]), vec![]).ok(200),
        row("GET", "/api/v1/merchants/{merchant_id}/statements", id(&w.merchant_a), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
        row("GET", "/api/v1/merchants/{merchant_id}/statements", id(&w.foreign_merchant), Body::None, vec![], any(&[AUTHENTICATED])),
        // Resolving and paying by a scanned code: shoppers.
        row("POST", "/api/v1/qr/resolve", Arg::None, Body::Json(json!({"payload": w.store_code_payload})), any(&[SHOPPERS]), vec![]).ok(200),
        row("POST", "/api/v1/qr/payments", Arg::None, Body::Money(json!({"payload": w.store_code_payload, "amount": 1})), any(&[SHOPPERS]), vec![]),
        // Point cards: operators issue, import, block, replace, set rates and campaigns; staff
        // and the linked shopper see a card; the store's own till earns, spends and returns.
        row("POST", "/api/v1/programs/{program_id}/cards", id(&w.points_program), Body::Json(json!({})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/cards", id(&w.foreign_program), Body::Json(json!({})), vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/programs/{program_id}/card-imports", id(&w.points_program), Body::Csv(w.import_csv.clone()), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/programs/{program_id}/card-links", id(&w.points_program), Body::Json(json!({"card_number": w.card_x_number, "shopper_id": w.shopper_x})), any(&[OPERATORS, &[ShopperX]]), vec![]),
        row("GET", "/api/v1/cards/{card_id}", id(&w.card_x), Body::None, any(&[STAFF, &[ShopperX]]), vec![OwnerA, DeviceA, OwnerB, ShopperY]),
        row("GET", "/api/v1/cards/{card_id}/image", id(&w.card_x), Body::None, any(&[STAFF, &[ShopperX]]), vec![OwnerA, DeviceA, OwnerB, ShopperY]),
        row("POST", "/api/v1/cards/{card_id}/block", id(&w.card_to_block), Body::None, any(&[OPERATORS]), vec![]).ok(200),
        row("POST", "/api/v1/cards/{card_id}/replacements", Arg::FreshCard, Body::Money(json!({"reason": "紛失"})), any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/shoppers/{shopper_id}/cards", id(&w.shopper_x), Body::None, any(&[STAFF, &[ShopperX]]), vec![ShopperY, OwnerA, DeviceA, OwnerB]),
        row("PUT", "/api/v1/programs/{program_id}/merchants/{merchant_id}/point-rate", Arg::Ids(vec![w.points_program.clone(), w.merchant_a.clone()]), Body::Json(json!({"earn_rate": "0.01"})), any(&[OPERATORS]), vec![]),
        row("PUT", "/api/v1/programs/{program_id}/merchants/{merchant_id}/point-rate", Arg::Ids(vec![w.points_program.clone(), w.foreign_merchant.clone()]), Body::Json(json!({"earn_rate": "0.01"})), vec![], any(&[OPERATORS])),
        row("POST", "/api/v1/programs/{program_id}/point-campaigns", id(&w.points_program), Body::Money(json!({"name": "倍", "multiplier": "2", "starts_at": "2020-01-01T00:00:00Z", "ends_at": "2020-01-02T00:00:00Z"})), any(&[OPERATORS]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/point-campaigns", id(&w.points_program), Body::None, any(&[AUTHENTICATED]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/point-campaigns", id(&w.foreign_program), Body::None, vec![], any(&[AUTHENTICATED])),
        row("POST", "/api/v1/merchants/{merchant_id}/point-stock", id(&w.merchant_a), Body::Money(json!({"program_id": w.points_program, "amount": 1})), any(&[OPERATORS]), vec![]),
        row("POST", "/api/v1/merchants/{merchant_id}/point-earns", id(&w.merchant_a), Body::Money(json!({"program_id": w.points_program, "card_number": w.card_x_number, "amount": 100})), vec![OwnerA, DeviceA], vec![OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/point-earns", id(&w.foreign_merchant), Body::Money(json!({"program_id": w.points_program, "card_number": w.card_x_number, "amount": 100})), vec![], vec![OwnerA, DeviceA, OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/point-spends", id(&w.merchant_a), Body::Money(json!({"program_id": w.points_program, "card_number": w.card_x_number, "amount": 1})), vec![OwnerA, DeviceA], vec![OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/point-returns", id(&w.merchant_a), Body::Money(json!({"transaction_id": w.point_spend_at_a, "amount": 1})), vec![OwnerA, DeviceA], vec![OwnerB]),
        row("POST", "/api/v1/merchants/{merchant_id}/point-checkouts", id(&w.merchant_a), Body::Money(json!({"program_id": w.points_program, "card_number": w.card_x_number, "currency_program_id": w.program, "amount": 1})), vec![OwnerA, DeviceA], vec![OwnerB]),
        row("GET", "/api/v1/programs/{program_id}/reports/points", id(&w.points_program), Body::None, any(&[STAFF]), vec![]),
        row("GET", "/api/v1/programs/{program_id}/reports/points", id(&w.foreign_program), Body::None, vec![], any(&[STAFF])),
        row("GET", "/api/v1/programs/{program_id}/merchants/{merchant_id}/point-statement", Arg::Ids(vec![w.points_program.clone(), w.merchant_a.clone()]), Body::None, any(&[STAFF, &[OwnerA, DeviceA]]), vec![OwnerB, ShopperX, ShopperY]),
    ]
}

fn store_profile(external_ref: &str) -> Value {
    json!({"external_ref": external_ref, "name_kana": "テスト", "industry": "小売", "district": "東",
        "size_class": "small", "address": "あきる野市1-1", "contact": "042-000-0000"})
}

fn bank_account() -> Value {
    json!({"bank_code": "0009", "bank_name_kana": "ミツイスミトモ", "branch_code": "123",
        "branch_name_kana": "シブヤ", "account_type": "ordinary", "account_number": "1234567",
        "holder_kana": "カ)マチペイ"})
}

fn import_csv() -> String {
    "external_ref,name,name_kana,industry,association,district,size_class,address,contact,bank_code,bank_name_kana,branch_code,branch_name_kana,account_type,account_number,holder_kana\n\
     I-1,花屋,ハナヤ,小売,,東,small,住所,042-1,,,,,,,\n"
        .to_owned()
}

/// Store A's profile and bank account, the program's payout sender, and a settlement run of a
/// past cycle holding a (backdated) payment at store A; returns the run's id.
async fn settlement_world(app: &TestApp, op: &str, program: &str, merchant_a: &str) -> String {
    let (s, v) = app
        .put(
            &format!("/api/v1/merchants/{merchant_a}/profile"),
            op,
            store_profile("A-1"),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let (s, v) = app
        .put(
            &format!("/api/v1/merchants/{merchant_a}/bank-account"),
            op,
            bank_account(),
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let sender = json!({"code": "0123456789", "name_kana": "カ)マチペイ", "bank_code": "0005",
        "bank_name_kana": "ミツビシ", "branch_code": "001", "branch_name_kana": "ホンテン",
        "account_type": "current", "account_number": "1234567"});
    let settings = json!({"p2p_transfers": true, "charge_step_yen": 1, "charge_min_yen": 1, "charge_max_yen": 100_000, "payout_sender": sender});
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{program}/settings"),
            op,
            json!({"settings": settings}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    let (shopper, token) = app.shopper(op).await;
    app.backdated_charge(program, &shopper, 100, "2020-01-05T03:00:00Z")
        .await;
    app.backdated_payment(program, &token, merchant_a, 100, "2020-01-06T03:00:00Z")
        .await;
    // Run by an operator outside the table: the two-person rule keeps whoever ran a cycle
    // from confirming it, and every operator in the table may confirm this one.
    let runner = app.operator().await;
    let (s, v) = app
        .post(
            &format!("/api/v1/programs/{program}/settlement-runs"),
            &runner,
            json!({"closing_date": "2020-01-10"}),
        )
        .await;
    assert_eq!(
        (s.as_u16(), v["payable_statements"].as_u64()),
        (200, Some(1)),
        "{v}"
    );
    v["id"].as_str().expect("run id").to_owned()
}

async fn every_route_answers_every_principal_as_the_policy_says(app: &TestApp) {
    // The home city.
    let (_, city_viewer) = app.staff("city", "viewer").await;
    let (_, city_operator) = app.staff("city", "operator").await;
    let (_, op_admin) = app.staff("operator", "admin").await;
    let (_, op_operator) = app.staff("operator", "operator").await;
    let (_, op_viewer) = app.staff("operator", "viewer").await;
    let program = app.currency().await;
    let (merchant_a, owner_a) = app.merchant(&op_operator).await;
    let (_, owner_b) = app.merchant(&op_operator).await;
    let device_a = enroll(app, &merchant_a, &owner_a).await;
    let (shopper_x, x) = app.shopper(&op_operator).await;
    let (shopper_y, y) = app.shopper(&op_operator).await;
    let (shopper_z, z) = app.shopper(&op_operator).await;
    let (shopper_w, _) = app.shopper(&op_operator).await;
    let city = app.get("/api/v1/me", &app.admin).await.1["city_id"]
        .as_str()
        .expect("city id")
        .to_owned();
    let (_, revoked) = app.staff("city", "admin").await;
    let revoked_id = token_id_of(app, &revoked).await;
    let (s, v) = app
        .request(
            "DELETE",
            &format!("/api/v1/tokens/{revoked_id}"),
            Some(&app.admin),
            None,
            None,
        )
        .await;
    assert_eq!(s.as_u16(), 200, "{v}");
    let (s, _) = app.get("/api/v1/me", &revoked).await;
    assert_eq!(s.as_u16(), 401, "a revoked token must stop working");
    app.charge(&op_operator, &program, &shopper_x, 50_000).await;
    app.charge(&op_operator, &program, &shopper_y, 50_000).await;
    let (s, pay) = app
        .post_money(
            &format!("/api/v1/programs/{program}/payments"),
            &x,
            json!({"merchant_id": merchant_a, "amount": 100}),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{pay}");
    let payment_x_at_a = pay["transaction_id"].as_str().expect("id").to_owned();

    // Another city, set up by its own admin.
    let foreign_admin = machipay::features::directory::bootstrap_city(
        &app.app,
        "よその町".into(),
        "よその管理者".into(),
    )
    .await
    .expect("bootstrap")
    .token;
    let created = |path: &'static str, body: Value| {
        let token = foreign_admin.clone();
        async move {
            let (s, v) = app.post(path, &token, body).await;
            assert_eq!(s.as_u16(), 201, "{path}: {v}");
            v
        }
    };
    let foreign_program = created(
        "/api/v1/programs",
        json!({"kind": "currency", "name": "よその通貨", "settings": {"p2p_transfers": true}}),
    )
    .await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let foreign_merchant = created("/api/v1/merchants", json!({"name": "よその店"})).await["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let shopper = created("/api/v1/shoppers", json!({"display_name": "よその人"})).await;
    let foreign_shopper = shopper["id"].as_str().expect("id").to_owned();
    let foreign_token = token_id_of(app, shopper["token"].as_str().expect("token"))
        .await
        .to_string();
    let foreign_transaction = app
        .charge(&foreign_admin, &foreign_program, &foreign_shopper, 1_000)
        .await["transaction_id"]
        .as_str()
        .expect("id")
        .to_owned();

    let (status, c) = app
        .post_money(
            &format!("/api/v1/programs/{program}/premium-campaigns"),
            &app.admin,
            json!({"name": "プレミアム", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 100,
                   "budget_yen": 1_000_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z"}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let campaign = c["id"].as_str().expect("id").to_owned();
    let (status, c) = app
        .post_money(
            &format!("/api/v1/programs/{program}/premium-campaigns"),
            &app.admin,
            json!({"name": "待合室", "price_yen": 1_000, "premium_yen": 300, "units_per_person_max": 2,
                   "budget_yen": 300_000, "sale_starts_at": "2020-01-01T00:00:00Z", "sale_ends_at": "2099-01-01T00:00:00Z",
                   "waiting_room": {"admits_per_s": 100, "admitted_for_s": 600}}),
        )
        .await;
    assert_eq!(status, 201, "{c}");
    let room_campaign = c["id"].as_str().expect("id").to_owned();
    let (status, t) = app
        .post(
            &format!("/api/v1/programs/{program}/premium-campaigns/{room_campaign}/queue"),
            &z,
            json!({}),
        )
        .await;
    assert_eq!(status, 201, "{t}");
    let ticket_z = t["id"].as_str().expect("id").to_owned();
    let lottery = new_lottery(app, &program).await;
    let lottery_open = new_lottery(app, &program).await;
    let (status, v) = app
        .post(
            &format!("/api/v1/programs/{program}/lotteries/{lottery}/applications"),
            &x,
            json!({"units": 1}),
        )
        .await;
    assert_eq!(status, 201, "{v}");
    let (status, code) = app
        .post(
            &format!("/api/v1/merchants/{merchant_a}/codes"),
            &owner_a,
            json!({"program_id": program}),
        )
        .await;
    assert_eq!(status, 201, "{code}");
    let (status, request) = app
        .post(
            &format!("/api/v1/merchants/{merchant_a}/payment-requests"),
            &owner_a,
            json!({"program_id": program, "amount": 1}),
        )
        .await;
    assert_eq!(status, 201, "{request}");
    let run = settlement_world(app, &op_operator, &program, &merchant_a).await;
    let points = point_card_world(app, &op_operator, &owner_a, &merchant_a, &shopper_x).await;
    let world = World {
        run,
        program: program.clone(),
        merchant_a: merchant_a.clone(),
        shopper_x,
        shopper_z,
        payment_x_at_a,
        foreign_program,
        foreign_merchant,
        foreign_shopper,
        foreign_transaction,
        foreign_token,
        campaign,
        room_campaign,
        ticket_z,
        lottery: lottery.clone(),
        lottery_open,
        store_code: code["id"].as_str().expect("id").to_owned(),
        store_code_payload: code["payload"].as_str().expect("payload").to_owned(),
        payment_request: request["id"].as_str().expect("id").to_owned(),
        points_program: points[0].clone(),
        card_x: points[1].clone(),
        card_x_number: points[2].clone(),
        card_to_block: points[3].clone(),
        point_spend_at_a: points[4].clone(),
        import_csv: format!(
            "card_number,balance,last_used_on\n{},10,\n",
            machipay_domain::card::CardNumber::generate().as_str()
        ),
        login: registered_login(app, &city).await,
    };
    let tokens: HashMap<P, Option<String>> = [
        (CityAdmin, Some(app.admin.clone())),
        (CityViewer, Some(city_viewer)),
        (CityOperator, Some(city_operator)),
        (OpAdmin, Some(op_admin)),
        (OpOperator, Some(op_operator.clone())),
        (OpViewer, Some(op_viewer)),
        (OwnerA, Some(owner_a.clone())),
        (DeviceA, Some(device_a)),
        (OwnerB, Some(owner_b)),
        (ShopperX, Some(x)),
        (ShopperY, Some(y)),
        (Anonymous, None),
        (Revoked, Some(revoked)),
    ]
    .into_iter()
    .collect();
    assert_eq!(tokens.len(), EVERYONE.len());
    // Token ids, read before any is revoked by the matrix (the revoked one was read above).
    let mut token_ids: HashMap<P, String> = HashMap::new();
    for &p in EVERYONE {
        let tid = match (p, &tokens[&p]) {
            (Revoked, _) => revoked_id,
            (_, Some(t)) => token_id_of(app, t).await,
            (_, None) => uuid::Uuid::now_v7(),
        };
        token_ids.insert(p, tid.to_string());
    }

    let table = rows(&world);
    let doc_routes = openapi_routes(app).await;
    let table_routes: BTreeSet<(String, String)> = table
        .iter()
        .map(|r| (r.method.to_lowercase(), r.template.to_owned()))
        .collect();
    let missing: Vec<_> = doc_routes.difference(&table_routes).collect();
    assert!(
        missing.is_empty(),
        "routes in the OpenAPI document without a row in the access matrix: {missing:?}"
    );
    let stale: Vec<_> = table_routes
        .iter()
        .filter(|r| r.1 != "/api/openapi.json" && !doc_routes.contains(*r))
        .collect();
    assert!(
        stale.is_empty(),
        "rows for routes the OpenAPI document does not have: {stale:?}"
    );

    let ctx = Ctx {
        tokens,
        token_ids,
        program: program.clone(),
        merchant_a,
        owner_a,
        op_operator,
        shopper_w,
        points_program: world.points_program.clone(),
        city,
    };
    // Rows that revoke the caller's own token go last: they end the caller.
    let (last, first): (Vec<&Row>, Vec<&Row>) =
        table.iter().partition(|r| matches!(r.arg, Arg::OwnToken));
    let mut failures = run_rows(app, &ctx, &first).await;
    // The matrix's money movements left the home ledger consistent.
    app.assert_ledger_ok(&program).await;
    failures.extend(run_rows(app, &ctx, &last).await);
    let calls = table.len() * EVERYONE.len();
    assert!(
        failures.is_empty(),
        "{} of {calls} calls answered against the policy:\n{}",
        failures.len(),
        failures.join("\n")
    );

    // Having revoked their own tokens, the principals are locked out.
    for &p in AUTHENTICATED {
        let (s, _) = app
            .request("GET", "/api/v1/me", ctx.tokens[&p].as_deref(), None, None)
            .await;
        assert_eq!(
            s.as_u16(),
            401,
            "{p:?} still works after revoking its own token"
        );
    }
}

/// The callers' credentials and what the dynamic arguments are made from.
struct Ctx {
    tokens: HashMap<P, Option<String>>,
    token_ids: HashMap<P, String>,
    program: String,
    merchant_a: String,
    owner_a: String,
    op_operator: String,
    /// Charged just before each reversal call, so there is always a fresh transaction.
    shopper_w: String,
    points_program: String,
    city: String,
}

impl Ctx {
    /// A store code of store A, freshly issued by its owner.
    async fn fresh_store_code(&self, app: &TestApp) -> String {
        let (status, code) = app
            .post(
                &format!("/api/v1/merchants/{}/codes", self.merchant_a),
                &self.owner_a,
                json!({"program_id": self.program}),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "{code}");
        code["id"].as_str().expect("id").to_owned()
    }

    /// A one-time code of shopper X.
    async fn fresh_shopper_code(&self, app: &TestApp) -> Value {
        let token = self.tokens[&ShopperX].as_deref().expect("shopper X token");
        let (status, code) = app
            .post(
                &format!("/api/v1/programs/{}/shopper-codes", self.program),
                token,
                json!({}),
            )
            .await;
        assert_eq!(status.as_u16(), 201, "{code}");
        code["code"].clone()
    }
}

/// Calls every row as every principal; returns the answers that contradict the table.
async fn run_rows(app: &TestApp, ctx: &Ctx, rows: &[&Row]) -> Vec<String> {
    let mut failures = Vec::new();
    for r in rows {
        assert!(
            r.allowed.iter().all(|p| !r.hidden.contains(p)),
            "{} {}: allowed and hidden overlap",
            r.method,
            r.template
        );
        for &p in EVERYONE {
            let args: Vec<String> = match &r.arg {
                Arg::Ids(ids) => ids.clone(),
                Arg::FreshStoreCode => {
                    vec![ctx.merchant_a.clone(), ctx.fresh_store_code(app).await]
                }
                Arg::FreshMerchantOf(program) => {
                    vec![program.clone(), app.merchant(&ctx.op_operator).await.0]
                }
                other => other_arg(app, ctx, other, p).await.into_iter().collect(),
            };
            let mut path = r.template.to_owned();
            for a in &args {
                let (Some(open), Some(close)) = (path.find('{'), path.find('}')) else {
                    panic!("{}: more arguments than placeholders", r.template)
                };
                path = format!("{}{a}{}", &path[..open], &path[close + 1..]);
            }
            assert!(
                !path.contains('{'),
                "{}: placeholder without argument",
                r.template
            );
            let (key, body) = match &r.body {
                Body::None => (None, None),
                Body::Json(v) => (None, Some(v.clone())),
                Body::Money(v) => (Some(uuid::Uuid::now_v7().to_string()), Some(v.clone())),
                Body::FreshCategory(v) => {
                    let mut v = v.clone();
                    v["tiers"][0]["category"] = json!(format!("c-{}", uuid::Uuid::now_v7()));
                    (Some(uuid::Uuid::now_v7().to_string()), Some(v))
                }
                Body::EnrollmentCode => {
                    let path = format!("/api/v1/merchants/{}/enrollment-codes", ctx.merchant_a);
                    let (s, v) = app
                        .post(&path, &ctx.owner_a, json!({"device_name": "レジ"}))
                        .await;
                    assert_eq!(s.as_u16(), 201, "{v}");
                    (None, Some(json!({"code": v["code"]})))
                }
                Body::ShopperCode => (
                    Some(uuid::Uuid::now_v7().to_string()),
                    Some(json!({"code": ctx.fresh_shopper_code(app).await, "amount": 1})),
                ),
                Body::Csv(_) => (None, None),
                Body::Registration => (
                    None,
                    Some(
                        json!({"city_id": ctx.city, "login": format!("{}@example.jp", uuid::Uuid::now_v7().simple()),
                                "password": "correct horse battery", "display_name": "新規"}),
                    ),
                ),
                Body::SetupCode => {
                    let path = format!("/api/v1/principals/shopper/{}/setup-codes", ctx.shopper_w);
                    let (s, v) = app.post(&path, &ctx.op_operator, json!({})).await;
                    assert_eq!(s.as_u16(), 201, "{v}");
                    (
                        None,
                        Some(
                            json!({"code": v["code"], "login": "w@example.jp", "password": "correct horse battery"}),
                        ),
                    )
                }
            };
            if let Body::Csv(text) = &r.body {
                let mut req = app
                    .client
                    .post(format!("{}{path}", app.base))
                    .header("Content-Type", "text/csv")
                    .body(text.clone());
                if let Some(t) = ctx.tokens[&p].as_deref() {
                    req = req.bearer_auth(t);
                }
                let status = req.send().await.expect("sent").status().as_u16();
                let want = r.expected(p);
                if status != want {
                    failures.push(format!(
                        "{p:?} POST {}: expected {want}, got {status}",
                        r.template
                    ));
                }
                continue;
            }
            if r.template.ends_with("/events") {
                // An event stream never ends: read the status and headers only.
                let mut req = app.client.get(format!("{}{path}", app.base));
                if let Some(t) = ctx.tokens[&p].as_deref() {
                    req = req.bearer_auth(t);
                }
                let status = req.send().await.expect("sent").status().as_u16();
                let want = r.expected(p);
                if status != want {
                    failures.push(format!(
                        "{p:?} GET {}: expected {want}, got {status}",
                        r.template
                    ));
                }
                continue;
            }
            let (status, answer) = app
                .request(
                    r.method,
                    &path,
                    ctx.tokens[&p].as_deref(),
                    key.as_deref(),
                    body.as_ref(),
                )
                .await;
            let want = r.expected(p);
            if status.as_u16() != want {
                failures.push(format!(
                    "{p:?} {} {} ({path}): expected {want}, got {status} {answer}",
                    r.method, r.template
                ));
            } else if want >= 400 && !answer["error"]["code"].is_string() {
                failures.push(format!(
                    "{p:?} {} {}: a {want} without the error envelope: {answer}",
                    r.method, r.template
                ));
            }
        }
    }
    failures
}

/// (method, path) of every operation in the served OpenAPI document.
async fn openapi_routes(app: &TestApp) -> BTreeSet<(String, String)> {
    let (s, doc) = app
        .request("GET", "/api/openapi.json", None, None, None)
        .await;
    assert_eq!(s.as_u16(), 200);
    let methods = [
        "get", "put", "post", "delete", "options", "head", "patch", "trace",
    ];
    let mut out = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().expect("paths") {
        for method in item.as_object().expect("path item").keys() {
            if methods.contains(&method.as_str()) {
                out.insert((method.clone(), path.clone()));
            }
        }
    }
    assert!(
        out.len() >= 20,
        "the OpenAPI document lists too few operations: {out:?}"
    );
    out
}

/// Enrolls a cashier terminal for `merchant` and returns its token.
/// A shopper registered in `city` with a password; their login.
async fn registered_login(app: &TestApp, city: &str) -> String {
    let login = "hanako@example.jp".to_owned();
    let (s, v) = app
        .request(
            "POST",
            "/api/v1/registrations",
            None,
            None,
            Some(&json!({"city_id": city, "login": login, "password": "correct horse battery", "display_name": "花子"})),
        )
        .await;
    assert_eq!(s.as_u16(), 201, "{v}");
    login
}

async fn enroll(app: &TestApp, merchant: &str, owner: &str) -> String {
    let token = app.enroll_device(merchant, owner).await["token"]
        .as_str()
        .expect("token")
        .to_owned();
    let (_, me) = app.get("/api/v1/me", &token).await;
    assert_eq!(
        (me["kind"].as_str(), me["merchant_id"].as_str()),
        (Some("device"), Some(merchant)),
        "{me}"
    );
    token
}

/// Token ids are not shown to clients; read them from the database.
async fn token_id_of(app: &TestApp, token: &str) -> uuid::Uuid {
    let (id, _) = principal_for_token(&app.app.db, &hash_secret(token))
        .await
        .expect("query")
        .expect("live token");
    id.0
}

/// The path argument of a row that needs one made or looked up for the caller.
async fn other_arg(app: &TestApp, ctx: &Ctx, arg: &Arg, p: P) -> Option<String> {
    match arg {
        Arg::None | Arg::Ids(_) | Arg::FreshStoreCode | Arg::FreshMerchantOf(_) => None,
        Arg::FreshApplication => {
            let (s, v) = app
                .post(
                    "/api/v1/merchant-applications",
                    &ctx.op_operator,
                    json!({"name": "申請店", "profile": store_profile(&uuid::Uuid::now_v7().simple().to_string()[..32])}),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "{v}");
            Some(v["id"].as_str().expect("id").to_owned())
        }
        Arg::FreshCard => {
            let (s, v) = app
                .post(
                    &format!("/api/v1/programs/{}/cards", ctx.points_program),
                    &ctx.op_operator,
                    json!({}),
                )
                .await;
            assert_eq!(s.as_u16(), 201, "{v}");
            Some(v["id"].as_str().expect("id").to_owned())
        }
        Arg::Id(id) => Some(id.clone()),
        Arg::FreshTransaction => {
            let charge = app
                .charge(&ctx.op_operator, &ctx.program, &ctx.shopper_w, 1)
                .await;
            Some(charge["transaction_id"].as_str().expect("id").to_owned())
        }
        Arg::FreshToken => {
            let (_, t) = app.shopper(&ctx.op_operator).await;
            Some(token_id_of(app, &t).await.to_string())
        }
        Arg::FreshShopper => Some(app.shopper(&ctx.op_operator).await.0),
        Arg::OwnToken => Some(ctx.token_ids[&p].clone()),
    }
}

/// The point card part of the world: [program, card of shopper X (holding points), its
/// number, a card to block, a points payment of card X at store A].
async fn point_card_world(
    app: &TestApp,
    op: &str,
    owner_a: &str,
    merchant_a: &str,
    shopper_x: &str,
) -> [String; 5] {
    let program = app.program("points", json!({})).await;
    let issue = |shopper: Option<&str>| {
        let body = json!({"shopper_id": shopper});
        let path = format!("/api/v1/programs/{program}/cards");
        async move {
            let (s, v) = app.post(&path, op, body).await;
            assert_eq!(s.as_u16(), 201, "{v}");
            v
        }
    };
    let card_x = issue(Some(shopper_x)).await;
    let number = card_x["number"].as_str().expect("number").to_owned();
    let blocked = issue(None).await;
    let till = |what: &str, body: Value| {
        let path = format!("/api/v1/merchants/{merchant_a}/{what}");
        async move {
            let (s, v) = app.post_money(&path, owner_a, body).await;
            assert_eq!(s.as_u16(), 201, "{v}");
            v
        }
    };
    till(
        "point-earns",
        json!({"program_id": program, "card_number": number, "amount": 100_000}),
    )
    .await;
    let spend = till(
        "point-spends",
        json!({"program_id": program, "card_number": number, "amount": 100}),
    )
    .await;
    [
        program.clone(),
        card_x["id"].as_str().expect("id").to_owned(),
        number,
        blocked["id"].as_str().expect("id").to_owned(),
        spend["transaction_id"].as_str().expect("id").to_owned(),
    ]
}
