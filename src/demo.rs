//! The demo town (`machipay serve --demo`): a believable city seeded through the library's
//! own use-cases, so every row is one the API could have written. It prints where to open
//! each page and the sign-in codes to use.
//!
//! Seeded today: the currency program, 110 stores across six 商店会 in four 業種, 300
//! shoppers with charges and payments. The point card (cards, earn/spend) and the registry's
//! 商店会 membership and 年度 targets (100/105/110/115 for 令和5–8) slot in as further steps
//! of `seed` once their APIs exist; a store's `Store::association` is kept for that.

use futures::future::join_all;
use serde_json::{Value, json};

use crate::app::App;
use crate::directory::{self, NewMerchantRequest, NewProgramRequest, NewShopperRequest};
use crate::domain::auth::{Principal, Role, StaffKind};
use crate::domain::ids::*;
use crate::domain::money::Amount;
use crate::error::AppError;
use crate::ledger::money::{self, CounterChargeRequest, PaymentRequest};
use crate::ledger::writer::{Idempotency, Reply};

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
const STORE_PREFIXES: [&str; 20] = [
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
const STORES: usize = 110;
const SHOPPERS: usize = 300;
/// Jobs submitted to the writer at once (they commit together in its batches).
const CONCURRENCY: usize = 64;

/// A store of the demo town.
pub struct Store {
    pub id: MerchantId,
    pub name: String,
    /// The 商店会 (recorded in the registry once that API exists).
    pub association: &'static str,
    pub trade: &'static str,
    pub owner_token: String,
}

/// What `seed` made and prints.
pub struct DemoTown {
    pub city: CityId,
    pub admin_token: String,
    pub program: ProgramId,
    pub stores: Vec<Store>,
    pub shopper_tokens: Vec<String>,
    pub enrollment_code: String,
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

fn field<T: serde::de::DeserializeOwned>(reply: &Reply, name: &str) -> Result<T, AppError> {
    serde_json::from_value(reply.body[name].clone())
        .map_err(|_| AppError::Internal(format!("demo: reply without {name}: {}", reply.body)))
}

fn idem(scope: uuid::Uuid, what: &str) -> Idempotency {
    Idempotency {
        scope,
        key: format!("demo-{what}-{}", uuid::Uuid::now_v7()),
        request_hash: what.as_bytes().to_vec(),
    }
}

fn amount(yen: i64) -> Result<Amount, AppError> {
    Amount::new(yen).map_err(|e| AppError::Internal(format!("demo amount: {e}")))
}

/// Seeds the town into an empty database.
pub async fn seed(app: &App) -> Result<DemoTown, AppError> {
    let boot = directory::bootstrap_city(app, "みなみ町".into(), "デモ管理者".into()).await?;
    let admin = Principal::Staff {
        id: boot.admin.id,
        city: boot.city.id,
        kind: StaffKind::City,
        role: Role::Admin,
    };
    let program = currency_program(app, admin).await?;
    let mut dice = Dice(20_260_401);
    let stores = seed_stores(app, admin).await?;
    let shoppers = seed_shoppers(app, admin).await?;
    seed_history(app, admin, program, &stores, &shoppers, &mut dice).await?;
    let first = &stores[0];
    let owner = Principal::MerchantOwner {
        merchant: first.id,
        city: boot.city.id,
    };
    let code = directory::create_enrollment_code(
        app,
        owner,
        first.id,
        directory::NewEnrollmentCodeRequest {
            device_name: "レジ1".into(),
        },
    )
    .await?;
    let store_code = crate::ledger::qr::issue_store_code(
        app,
        owner,
        first.id,
        crate::ledger::qr::NewStoreCodeRequest {
            program_id: program,
        },
    )
    .await?;
    debug_assert_eq!(store_code.status, 201);
    Ok(DemoTown {
        city: boot.city.id,
        admin_token: boot.token,
        program,
        enrollment_code: field(&code, "code")?,
        stores,
        shopper_tokens: shoppers.into_iter().take(3).map(|(_, t)| t).collect(),
    })
}

async fn currency_program(app: &App, admin: Principal) -> Result<ProgramId, AppError> {
    let req: NewProgramRequest = serde_json::from_value(json!({
        "kind": "currency",
        "name": "みなみ町コイン",
        "settings": {"p2p_transfers": true},
    }))
    .map_err(|e| AppError::Internal(format!("demo program: {e}")))?;
    field(&directory::create_program(app, admin, req).await?, "id")
}

async fn seed_stores(app: &App, admin: Principal) -> Result<Vec<Store>, AppError> {
    let mut plans = Vec::with_capacity(STORES);
    // Prefix, then trade, then kind vary slowest: distinct names for the first 400 stores.
    let p = STORE_PREFIXES.len();
    for i in 0..STORES {
        let (trade, kinds) = TRADES[(i / p) % TRADES.len()];
        let kind = kinds[(i / (p * TRADES.len())) % kinds.len()];
        let prefix = STORE_PREFIXES[i % p];
        let association = ASSOCIATIONS[i % ASSOCIATIONS.len()];
        plans.push((format!("{prefix}{kind}"), trade, association));
    }
    let mut stores = Vec::new();
    for chunk in plans.chunks(CONCURRENCY) {
        let made = join_all(chunk.iter().map(|(name, trade, association)| async move {
            let reply =
                directory::create_merchant(app, admin, NewMerchantRequest { name: name.clone() })
                    .await?;
            let id: MerchantId = field(&reply, "id")?;
            crate::ledger::rebates::set_category(
                app,
                admin,
                id,
                crate::ledger::rebates::CategoryRequest {
                    category: Some((*trade).to_owned()),
                },
            )
            .await?;
            Ok::<_, AppError>(Store {
                id,
                name: name.clone(),
                association,
                trade,
                owner_token: field(&reply, "token")?,
            })
        }))
        .await;
        stores.extend(made.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    Ok(stores)
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
            let reply = directory::create_shopper(app, admin, req).await?;
            Ok::<_, AppError>((field(&reply, "id")?, field(&reply, "token")?))
        }))
        .await;
        out.extend(made.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    Ok(out)
}

/// Every shopper charges once or twice at the counter and pays at a few stores.
async fn seed_history(
    app: &App,
    admin: Principal,
    program: ProgramId,
    stores: &[Store],
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
        for _ in 0..(2 + dice.next(6)) {
            let yen = 100 * (3 + dice.next(28) as i64);
            if yen > left {
                break;
            }
            left -= yen;
            payments.push((*shopper, stores[dice.next(stores.len())].id, yen));
        }
    }
    for chunk in charges.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().map(|(shopper, yen)| async move {
            let req = CounterChargeRequest {
                shopper_id: *shopper,
                amount: amount(*yen)?,
            };
            money::counter_charge(app, admin, program, req, idem(admin.scope_id(), "charge")).await
        }))
        .await;
        check_all(done)?;
    }
    for chunk in payments.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().map(|(shopper, merchant, yen)| async move {
            let who = Principal::Shopper { id: *shopper, city };
            let req = PaymentRequest {
                merchant_id: *merchant,
                amount: amount(*yen)?,
            };
            money::pay(app, who, program, req, idem(who.scope_id(), "payment")).await
        }))
        .await;
        check_all(done)?;
    }
    Ok(())
}

fn check_all(replies: Vec<Result<Reply, AppError>>) -> Result<(), AppError> {
    for r in replies {
        let r = r?;
        if !(200..300).contains(&r.status) {
            return Err(AppError::Internal(format!("demo: refused: {}", r.body)));
        }
    }
    Ok(())
}

/// What to print after seeding: where each page is and how to sign in.
pub fn instructions(town: &DemoTown, base: &str) -> String {
    let first = &town.stores[0];
    let shoppers: Vec<Value> = town.shopper_tokens.iter().map(|t| json!(t)).collect();
    format!(
        "\n=== machipay demo: みなみ町 ({} stores, {} shoppers) ===\n\
         Start page:        {base}/app/\n\
         Store app:         {base}/app/merchant.html\n\
         \x20 one-time code:   {}   (enrolls this browser as a till of {} / {} / {}; 15 minutes)\n\
         \x20 owner token:     {}\n\
         Shopper wallet:    {base}/app/wallet.html\n\
         \x20 shopper tokens:  {}\n\
         City dashboard:    {base}/app/city.html\n\
         \x20 staff token:     {}\n\
         API:               {base}/api/openapi.json\n",
        town.stores.len(),
        SHOPPERS,
        town.enrollment_code,
        first.name,
        first.association,
        first.trade,
        first.owner_token,
        shoppers
            .iter()
            .map(|v| v.as_str().unwrap_or_default())
            .collect::<Vec<_>>()
            .join("  "),
        town.admin_token,
    )
}
