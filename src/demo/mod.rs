//! The demo town (`machipay serve --demo`): a believable city seeded through the library's
//! own use-cases, so every row is one the API could have written. It prints where to open
//! each page and the sign-in codes to use.
//!
//! Seeded: a currency program and a point card, 117 stores across six 商店会 in four 業種
//! with profiles, bank accounts and participation histories over 令和5–8 (registered at each
//! 年度 end: 96, 104, 111, 112 against targets 100/105/110/115), 300 shoppers with linked
//! cards and history replayed with backdated writer jobs, and today's takings.

mod cards;
mod history;
mod town;

use std::time::{Duration, Instant};

use futures::future::join_all;
use serde_json::json;

use crate::app::App;
use crate::error::AppError;
use crate::features::directory::{
    self, NewMerchantRequest, NewProgramRequest, NewShopperRequest, PrincipalKind,
};
use crate::features::payments::{CounterChargeRequest, PaymentRequest};
use crate::writer::Idempotency;
use machipay_domain::auth::{Principal, Role, StaffKind};
use machipay_domain::calendar::jst_date;
use machipay_domain::card::CardNumber;
use machipay_domain::ids::*;
use machipay_domain::money::Amount;

/// The demo's shopping associations (商店会).
const ASSOCIATIONS: [&str; 6] = [
    "駅前商店会",
    "本町商店街",
    "みなみ銀座",
    "中央通り商店会",
    "緑ヶ丘商店会",
    "港町商店街",
];
/// Trades (業種) with the kinds of store in each; the trade is the store's category.
const TRADES: [(&str, &[&str]); 4] = [
    (
        "飲食",
        &["食堂", "カフェ", "ラーメン", "寿司", "そば", "パン屋"],
    ),
    (
        "小売",
        &["八百屋", "鮮魚店", "精肉店", "書店", "酒店", "菓子店"],
    ),
    ("サービス", &["理容室", "美容室", "クリーニング", "整骨院"]),
    ("生活", &["薬局", "金物店", "花屋", "電器店"]),
];
const NAME_PREFIXES: [&str; 20] = [
    "まるや",
    "さくら",
    "やまだ",
    "ひかり",
    "たなか",
    "こだま",
    "みどり",
    "かめや",
    "つるや",
    "ふじ",
    "あおば",
    "いろは",
    "はなや",
    "きくや",
    "まつや",
    "たけや",
    "うめや",
    "なかや",
    "しらかば",
    "ともえ",
];
const SURNAMES: [&str; 20] = [
    "佐藤",
    "鈴木",
    "高橋",
    "田中",
    "伊藤",
    "渡辺",
    "山本",
    "中村",
    "小林",
    "加藤",
    "吉田",
    "山田",
    "佐々木",
    "山口",
    "松本",
    "井上",
    "木村",
    "林",
    "斎藤",
    "清水",
];
/// Merchants: 112 registered today, five that closed over the years.
pub const MERCHANTS: usize = 117;
const SHOPPERS: usize = 300;
/// Jobs submitted to the writer at once (they commit together in its batches).
const CONCURRENCY: usize = 64;

/// A merchant (a store) of the demo town.
pub struct Merchant {
    pub id: MerchantId,
    pub name: String,
    /// The name's parts: a hiragana prefix and the kind of store.
    pub prefix: &'static str,
    pub kind: &'static str,
    /// The 商店会 (also in the store's registry profile).
    pub association: &'static str,
    pub trade: &'static str,
    pub owner_token: String,
}

/// What `seed` made and prints.
pub struct DemoTown {
    pub city: CityId,
    pub admin_token: String,
    pub program: ProgramId,
    /// The point card program.
    pub points_program: ProgramId,
    pub merchants: Vec<Merchant>,
    pub shopper_tokens: Vec<String>,
    /// The card linked to the first shopper.
    pub card_number: CardNumber,
    pub enrollment_code: String,
    /// One-time setup codes (24 hours) to choose a login and password at /app/signin.html:
    /// the first shopper, the first store's owner, the city admin.
    pub setup_codes: [String; 3],
    /// Backdated history moves replayed (charges, payments, earns, spends).
    pub history_moves: usize,
    pub seeded_in: Duration,
}

/// A small deterministic generator, so every demo town is the same town.
struct Dice(u64);

impl Dice {
    fn next(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        ((self.0 >> 33) % n as u64) as usize
    }
}

pub(crate) fn idem(scope: uuid::Uuid, what: &str) -> Idempotency {
    Idempotency {
        scope,
        key: format!("demo-{what}-{}", uuid::Uuid::now_v7()),
        request_hash: what.as_bytes().to_vec(),
    }
}

pub(crate) fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(format!("demo: {e}"))
}

/// The last day the history may fill (JST): events never lie in the future.
pub(crate) fn yesterday() -> chrono::NaiveDate {
    jst_date(chrono::Utc::now()) - chrono::Days::new(1)
}

fn amount(yen: i64) -> Result<Amount, AppError> {
    Amount::new(yen).map_err(|e| AppError::Internal(format!("demo amount: {e}")))
}

/// Seeds the town into an empty database.
pub async fn seed(app: &App) -> Result<DemoTown, AppError> {
    let started = Instant::now();
    let boot = directory::bootstrap_city(app, "みなみ町".into(), "デモ管理者".into()).await?;
    let admin = Principal::Staff {
        id: boot.admin.id,
        city: boot.city.id,
        kind: StaffKind::City,
        role: Role::Admin,
    };
    let program = currency_program(app, admin).await?;
    let points_program = cards::program(app, admin).await?;
    let programs = [program, points_program];
    let mut dice = Dice(20_260_401);
    let merchants = seed_merchants(app, admin).await?;
    town::profiles(app, admin, &merchants).await?;
    town::joins(app, admin, &programs, &merchants).await?;
    town::targets(app, admin, &programs).await?;
    let shoppers = seed_shoppers(app, admin).await?;
    let card_numbers = cards::issue(app, admin, points_program, &shoppers).await?;
    cards::promotions(app, admin, points_program, &merchants).await?;
    let ctx = history::Ctx {
        city: boot.city.id,
        admin,
        currency: program,
        points: points_program,
    };
    let past = history::plan(&merchants, &shoppers, &card_numbers, &mut dice, yesterday());
    let history_moves = past.len();
    history::replay(app, ctx, past).await?;
    town::departures(app, admin, &programs, &merchants).await?;
    seed_history(app, admin, program, &merchants, &shoppers, &mut dice).await?;
    let (enrollment_code, _) = till_codes(app, boot.city.id, &merchants[0], program).await?;
    let setup_codes = [
        setup_code(app, admin, PrincipalKind::Shopper, shoppers[0].0.0).await?,
        setup_code(app, admin, PrincipalKind::MerchantOwner, merchants[0].id.0).await?,
        setup_code(app, admin, PrincipalKind::Staff, boot.admin.id.0).await?,
    ];
    Ok(DemoTown {
        setup_codes,
        city: boot.city.id,
        admin_token: boot.token,
        program,
        points_program,
        enrollment_code,
        merchants,
        card_number: card_numbers[0]
            .clone()
            .ok_or_else(|| internal("the first shopper has no card"))?,
        shopper_tokens: shoppers.into_iter().take(3).map(|(_, t)| t).collect(),
        history_moves,
        seeded_in: started.elapsed(),
    })
}

/// A setup code for a principal of the town, issued by its admin.
async fn setup_code(
    app: &App,
    admin: Principal,
    kind: PrincipalKind,
    id: uuid::Uuid,
) -> Result<String, AppError> {
    let issued = crate::features::sign_in::issue_setup_code(app, admin, kind, id).await?;
    Ok(issued.into_value()?.code)
}

/// A fresh one-time enrollment code for a till of `merchant`, and its static QR code.
async fn till_codes(
    app: &App,
    city: CityId,
    merchant: &Merchant,
    program: ProgramId,
) -> Result<(String, crate::features::qr::StoreCode), AppError> {
    let owner = Principal::MerchantOwner {
        merchant: merchant.id,
        city,
    };
    let code = directory::create_enrollment_code(
        app,
        owner,
        merchant.id,
        directory::NewEnrollmentCodeRequest {
            device_name: "レジ1".into(),
        },
    )
    .await?
    .into_value()?;
    let store_code = crate::features::qr::issue_store_code(
        app,
        owner,
        merchant.id,
        crate::features::qr::NewStoreCodeRequest {
            program_id: program,
        },
    )
    .await?
    .into_value()?;
    Ok((code.code, store_code))
}

async fn currency_program(app: &App, admin: Principal) -> Result<ProgramId, AppError> {
    let req: NewProgramRequest = serde_json::from_value(json!({
        "kind": "currency",
        "name": "みなみ町コイン",
        // The city's ASCII name goes into field 60 of every store code.
        "settings": {"p2p_transfers": true, "merchant_city_ascii": "MINAMI"},
    }))
    .map_err(|e| AppError::Internal(format!("demo program: {e}")))?;
    let program = directory::create_program(app, admin, req)
        .await?
        .into_value()?;
    Ok(program.id)
}

async fn seed_merchants(app: &App, admin: Principal) -> Result<Vec<Merchant>, AppError> {
    let mut plans = Vec::with_capacity(MERCHANTS);
    // Prefix, then trade, then kind vary slowest: distinct names for the first 400 stores.
    let p = NAME_PREFIXES.len();
    for i in 0..MERCHANTS {
        let (trade, kinds) = TRADES[(i / p) % TRADES.len()];
        let kind = kinds[(i / (p * TRADES.len())) % kinds.len()];
        let prefix = NAME_PREFIXES[i % p];
        let association = ASSOCIATIONS[i % ASSOCIATIONS.len()];
        plans.push((format!("{prefix}{kind}"), trade, association, prefix, kind));
    }
    let mut merchants = Vec::new();
    for chunk in plans.chunks(CONCURRENCY) {
        let made = join_all(chunk.iter().map(
            |(name, trade, association, prefix, kind)| async move {
                let issued = directory::create_merchant(
                    app,
                    admin,
                    NewMerchantRequest { name: name.clone() },
                )
                .await?
                .into_value()?;
                let id = issued.item.id;
                crate::features::campaigns::rebates::set_category(
                    app,
                    admin,
                    id,
                    crate::features::campaigns::rebates::CategoryRequest {
                        category: Some((*trade).to_owned()),
                    },
                )
                .await?;
                Ok::<_, AppError>(Merchant {
                    id,
                    name: name.clone(),
                    prefix,
                    kind,
                    association,
                    trade,
                    owner_token: issued.token,
                })
            },
        ))
        .await;
        merchants.extend(made.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    Ok(merchants)
}

async fn seed_shoppers(app: &App, admin: Principal) -> Result<Vec<(ShopperId, String)>, AppError> {
    let mut out = Vec::with_capacity(SHOPPERS);
    let names: Vec<String> = (0..SHOPPERS)
        .map(|i| format!("{}{}", SURNAMES[i % SURNAMES.len()], i / SURNAMES.len() + 1))
        .collect();
    for chunk in names.chunks(CONCURRENCY) {
        let made = join_all(chunk.iter().map(|name| async move {
            let req = NewShopperRequest {
                display_name: name.clone(),
            };
            let issued = directory::create_shopper(app, admin, req)
                .await?
                .into_value()?;
            Ok::<_, AppError>((issued.item.id, issued.token))
        }))
        .await;
        out.extend(made.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    Ok(out)
}

/// Today's takings: every shopper charges at the counter and pays at a few open stores.
async fn seed_history(
    app: &App,
    admin: Principal,
    program: ProgramId,
    merchants: &[Merchant],
    shoppers: &[(ShopperId, String)],
    dice: &mut Dice,
) -> Result<(), AppError> {
    let city = admin.city();
    let mut charges = Vec::new();
    let mut payments = Vec::new();
    for (shopper, _) in shoppers {
        let charged = 1_000 * (5 + dice.next(16) as i64);
        charges.push((*shopper, charged));
        let mut left = charged;
        for _ in 0..(1 + dice.next(3)) {
            let yen = 100 * (3 + dice.next(28) as i64);
            if yen > left {
                break;
            }
            left -= yen;
            let today = jst_date(chrono::Utc::now());
            let open = (0..12)
                .map(|_| dice.next(merchants.len()))
                .find(|&i| town::open_on(i, today));
            if let Some(i) = open {
                payments.push((*shopper, merchants[i].id, yen));
            }
        }
    }
    for chunk in charges.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().map(|(shopper, yen)| async move {
            let req = CounterChargeRequest {
                shopper_id: *shopper,
                amount: amount(*yen)?,
            };
            crate::features::payments::counter_charge(
                app,
                admin,
                program,
                req,
                idem(admin.scope_id(), "charge"),
            )
            .await?
            .into_value()
        }))
        .await;
        done.into_iter().collect::<Result<Vec<_>, _>>()?;
    }
    for chunk in payments.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().map(|(shopper, merchant, yen)| async move {
            let who = Principal::Shopper { id: *shopper, city };
            let req = PaymentRequest {
                merchant_id: *merchant,
                amount: amount(*yen)?,
            };
            crate::features::payments::pay(app, who, program, req, idem(who.scope_id(), "payment"))
                .await?
                .into_value()
        }))
        .await;
        done.into_iter().collect::<Result<Vec<_>, _>>()?;
    }
    Ok(())
}

/// What to print after seeding: where each page is, how to sign in, and what to try.
pub fn instructions(town: &DemoTown, base: &str) -> String {
    let first = &town.merchants[0];
    let shoppers = town.shopper_tokens.join("  ");
    format!(
        "\n=== machipay demo: みなみ町 ({} stores, {} shoppers; {} past moves; seeded in {:.1} s) ===\n\
         Start page:        {base}/app/\n\
         Store app:         {base}/app/merchant.html\n\
         \x20 one-time code:   {}   (enrolls this browser as a till of {} / {} / {}; 15 minutes)\n\
         \x20 owner token:     {}\n\
         \x20 try: enroll with the code, take a payment, show the store's QR poster, see today's sales.\n\
         Shopper wallet:    {base}/app/wallet.html\n\
         \x20 shopper tokens:  {}\n\
         \x20 point card:      {} (linked to the first shopper)\n\
         \x20 try: sign in with the first token, see the balance and history since 令和5, show the\n\
         \x20      shopper code, pay a store's poster.\n\
         Sign in:           {base}/app/signin.html   (or register a new wallet there)\n\
         \x20 setup codes:     shopper {}  ·  store owner {}  ·  city admin {}\n\
         \x20 try: \"窓口で受け取った設定コード\" with one of them, choose a login and a password.\n\
         City dashboard:    {base}/app/city.html\n\
         \x20 staff token:     {}   (city admin)\n\
         \x20 currency program: {}\n\
         \x20 point program:    {}\n\
         \x20 try: the store report per 年度 (令和5–8: 96, 104, 111, 112 registered against\n\
         \x20      100/105/110/115), usage, the point report per 年度, the ledger check.\n\
         Back office:       {base}/app/office.html\n\
         \x20 try: sign in with the city admin's setup code above; approvals, the store registry,\n\
         \x20      campaigns, shopper support, settlement runs (a second person confirms), the audit log.\n\
         API:               {base}/api/openapi.json\n",
        town.merchants.len(),
        SHOPPERS,
        town.history_moves,
        town.seeded_in.as_secs_f64(),
        town.enrollment_code,
        first.name,
        first.association,
        first.trade,
        first.owner_token,
        shoppers,
        town.card_number.as_str(),
        town.setup_codes[0],
        town.setup_codes[1],
        town.setup_codes[2],
        town.admin_token,
        town.program.0,
        town.points_program.0,
    )
}
