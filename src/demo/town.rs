//! The demo town's registry: each store's profile and bank account, its participation history
//! in both programs over 令和5–8 (launch, later joins, withdrawals, one suspension) and the
//! city's store-count targets, all through the registry's use-cases.

use chrono::{Days, NaiveDate};
use futures::future::join_all;

use crate::app::App;
use crate::demo::{CONCURRENCY, Merchant};
use crate::error::AppError;
use crate::features::merchants::{EventRequest, TargetRequest};
use machipay_domain::auth::Principal;
use machipay_domain::ids::ProgramId;
use machipay_domain::registry::{BankAccountInput, ParticipationKind, Profile, SizeClass};

/// Store-count targets per 年度 (令和5–8), set on both programs.
pub(super) const TARGETS: [(&str, i64); 4] = [
    ("令和5年度", 100),
    ("令和6年度", 105),
    ("令和7年度", 110),
    ("令和8年度", 115),
];
/// Districts (地区), one per 商店会 in the order of `ASSOCIATIONS`.
const DISTRICTS: [&str; 6] = [
    "駅前地区",
    "本町地区",
    "南地区",
    "中央地区",
    "緑ヶ丘地区",
    "港地区",
];
/// Stores that closed (閉店) and the day they left both programs: one in each of 令和5–7 and
/// two so far in 令和8.
const LEAVERS: [(usize, (i32, u32, u32)); 5] = [
    (37, (2023, 12, 20)),
    (51, (2024, 9, 30)),
    (63, (2025, 11, 30)),
    (77, (2026, 6, 30)),
    (88, (2026, 9, 15)),
];
/// The store suspended (still registered, takes no payments) and since when.
pub(super) const SUSPENDED: (usize, (i32, u32, u32)) = (45, (2026, 10, 1));
/// Stores that joined lately and have not taken a payment yet.
pub(super) const QUIET: [usize; 2] = [115, 116];

fn date((y, m, d): (i32, u32, u32)) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("a valid demo date")
}

/// When store `i` joined: 97 stores in 令和5 (90 at the April launch), 9 in 令和6, 8 in 令和7
/// and 3 so far in 令和8. Registered at each 年度 end: 96, 104, 111, 112 (with `LEAVERS`).
pub(super) fn joined_on(i: usize) -> NaiveDate {
    let (start, step, first) = match i {
        0..90 => ((2023, 4, 1), 1, 0),
        90..97 => ((2023, 6, 1), 35, 90),
        97..106 => ((2024, 5, 1), 30, 97),
        106..114 => ((2025, 5, 1), 35, 106),
        _ => ((2026, 5, 10), 60, 114),
    };
    let offset = if first == 0 {
        i % 20
    } else {
        (i - first) * step
    };
    date(start) + Days::new(offset as u64)
}

/// The day store `i` left, if it did.
pub(super) fn left_on(i: usize) -> Option<NaiveDate> {
    LEAVERS.iter().find(|(s, _)| *s == i).map(|(_, d)| date(*d))
}

/// The day store `i` was suspended, if it was.
pub(super) fn suspended_on(i: usize) -> Option<NaiveDate> {
    (SUSPENDED.0 == i).then(|| date(SUSPENDED.1))
}

/// Whether store `i` takes payments on `day` (joined, not yet left or suspended).
pub(super) fn open_on(i: usize, day: NaiveDate) -> bool {
    joined_on(i) <= day
        && left_on(i).is_none_or(|d| day < d)
        && suspended_on(i).is_none_or(|d| day < d)
        && !QUIET.contains(&i)
}

/// A store's name in katakana: the hiragana prefix shifted, then the kind's reading.
fn kana_name(prefix: &str, kind: &str) -> String {
    let head: String = prefix
        .chars()
        .map(|c| match c {
            'ぁ'..='ゖ' => char::from_u32(c as u32 + 0x60).unwrap_or(c),
            _ => c,
        })
        .collect();
    let tail = match kind {
        "食堂" => "ショクドウ",
        "カフェ" => "カフェ",
        "ラーメン" => "ラーメン",
        "寿司" => "スシ",
        "そば" => "ソバ",
        "パン屋" => "パンヤ",
        "八百屋" => "ヤオヤ",
        "鮮魚店" => "センギョテン",
        "精肉店" => "セイニクテン",
        "書店" => "ショテン",
        "酒店" => "サケテン",
        "菓子店" => "カシテン",
        "理容室" => "リヨウシツ",
        "美容室" => "ビヨウシツ",
        "クリーニング" => "クリーニング",
        "整骨院" => "セイコツイン",
        "薬局" => "ヤッキョク",
        "金物店" => "カナモノテン",
        "花屋" => "ハナヤ",
        _ => "デンキテン",
    };
    format!("{head}{tail}")
}

fn profile(i: usize, merchant: &Merchant) -> Profile {
    let district = DISTRICTS[i % DISTRICTS.len()];
    Profile {
        external_ref: Some(format!("MN-{:04}", i + 1)),
        name_kana: kana_name(merchant.prefix, merchant.kind),
        industry: merchant.trade.to_owned(),
        association: Some(merchant.association.to_owned()),
        district: district.to_owned(),
        size_class: match i % 10 {
            0..6 => SizeClass::Small,
            6..9 => SizeClass::Medium,
            _ => SizeClass::Large,
        },
        address: format!(
            "みなみ町{}{}丁目{}-{}",
            district.trim_end_matches("地区"),
            1 + i % 4,
            1 + i % 23,
            1 + i % 9
        ),
        contact: format!("0999-12-{:04}", 1000 + i),
    }
}

/// Most stores have a bank account for payouts; every ninth has none yet.
fn bank_account(i: usize, merchant: &Merchant) -> Option<BankAccountInput> {
    const BRANCHES: [(&str, &str); 3] =
        [("001", "ホンテン"), ("002", "エキマエ"), ("003", "ミナト")];
    if i % 9 == 4 {
        return None;
    }
    let (branch_code, branch) = BRANCHES[i % BRANCHES.len()];
    Some(BankAccountInput {
        bank_code: "1999".into(),
        bank_name_kana: "ミナミシンヨウキンコ".into(),
        branch_code: branch_code.into(),
        branch_name_kana: branch.into(),
        account_type: "ordinary".into(),
        account_number: format!("{:07}", 1_000_000 + (i * 7_919) % 8_999_999),
        holder_kana: kana_name(merchant.prefix, merchant.kind),
    })
}

/// Profiles and bank accounts of every store.
pub(super) async fn profiles(
    app: &App,
    admin: Principal,
    merchants: &[Merchant],
) -> Result<(), AppError> {
    let all: Vec<(usize, &Merchant)> = merchants.iter().enumerate().collect();
    for chunk in all.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().map(|(i, s)| async move {
            crate::features::merchants::put_profile(app, admin, s.id, profile(*i, s))
                .await?
                .into_value()?;
            if let Some(bank) = bank_account(*i, s) {
                crate::features::merchants::put_bank_account(app, admin, s.id, bank)
                    .await?
                    .into_value()?;
            }
            Ok::<_, AppError>(())
        }))
        .await;
        done.into_iter().collect::<Result<(), AppError>>()?;
    }
    Ok(())
}

/// Every store's join in both programs (history before any payment is replayed).
pub(super) async fn joins(
    app: &App,
    admin: Principal,
    programs: &[ProgramId],
    merchants: &[Merchant],
) -> Result<(), AppError> {
    let today = crate::demo::yesterday();
    let mut events = Vec::new();
    for program in programs {
        for (i, s) in merchants.iter().enumerate() {
            let on = joined_on(i).min(today);
            events.push((*program, s.id, ParticipationKind::Joined, on, None));
        }
    }
    record_all(app, admin, events).await
}

/// Withdrawals and the suspension, recorded once the history before them is in.
pub(super) async fn departures(
    app: &App,
    admin: Principal,
    programs: &[ProgramId],
    merchants: &[Merchant],
) -> Result<(), AppError> {
    let today = crate::demo::yesterday();
    let mut events = Vec::new();
    for program in programs {
        for (i, s) in merchants.iter().enumerate() {
            if let Some(d) = left_on(i) {
                events.push((
                    *program,
                    s.id,
                    ParticipationKind::Left,
                    d.min(today),
                    Some("閉店"),
                ));
            }
            if let Some(d) = suspended_on(i) {
                let why = Some("加盟店規約の確認中のため一時停止");
                events.push((
                    *program,
                    s.id,
                    ParticipationKind::Suspended,
                    d.min(today),
                    why,
                ));
            }
        }
    }
    record_all(app, admin, events).await
}

type Event = (
    ProgramId,
    machipay_domain::ids::MerchantId,
    ParticipationKind,
    NaiveDate,
    Option<&'static str>,
);

async fn record_all(app: &App, admin: Principal, events: Vec<Event>) -> Result<(), AppError> {
    for chunk in events.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().map(|(program, merchant, kind, on, why)| {
            let req = EventRequest {
                kind: *kind,
                effective_on: Some(*on),
                reason: why.map(str::to_owned),
            };
            async move {
                crate::features::merchants::record_event(app, admin, *program, *merchant, req)
                    .await?
                    .into_value()
            }
        }))
        .await;
        for event in done {
            event?;
        }
    }
    Ok(())
}

/// The city admin sets 100/105/110/115 stores for 令和5–8 on each program.
pub(super) async fn targets(
    app: &App,
    admin: Principal,
    programs: &[ProgramId],
) -> Result<(), AppError> {
    for program in programs {
        for (year, stores) in TARGETS {
            crate::features::merchants::set_target(
                app,
                admin,
                *program,
                year,
                TargetRequest { stores },
            )
            .await?
            .into_value()?;
        }
    }
    Ok(())
}
