//! What the apps show on their first screen: a store's or a shopper's latest ledger entries,
//! a store's takings for the current JST day, and a shopper's nearest expiring value.
//! Reads only; who may see what is the balances' rule (the owner, its devices, city staff).

pub(crate) mod api;
pub(crate) mod http;
pub(crate) mod store;

use chrono::{DateTime, Utc};

pub(crate) use api::{Activity, ActivityEntry, Expiring, Takings};

use crate::app::App;
use crate::error::AppError;
use crate::features::payments::reads::{AccountBalance, merchant_balances, shopper_balances};
use crate::http::refusals::RequestRefusal;
use machipay_domain::auth::Principal;
use machipay_domain::calendar::{jst_date, jst_start_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::ledger::AccountKind;

/// Entries returned when the caller does not ask for a number.
pub(crate) const ACTIVITY_LIMIT_DEFAULT: i64 = 50;
/// Most entries one request returns.
pub(crate) const ACTIVITY_LIMIT_MAX: i64 = 200;
/// Transaction kinds that count towards a store's takings (payments less refunds).
const TAKINGS_KINDS: [&str; 2] = ["payment", "refund"];

fn check_limit(limit: Option<i64>) -> Result<i64, AppError> {
    let limit = limit.unwrap_or(ACTIVITY_LIMIT_DEFAULT);
    if !(1..=ACTIVITY_LIMIT_MAX).contains(&limit) {
        return Err(RequestRefusal::InvalidLimit(ACTIVITY_LIMIT_MAX).into());
    }
    Ok(limit)
}

/// The latest entries across accounts, newest first, at most `limit`.
async fn entries_of(
    app: &App,
    accounts: &[AccountBalance],
    limit: i64,
) -> Result<Vec<ActivityEntry>, AppError> {
    let mut rows = Vec::new();
    for a in accounts {
        rows.extend(store::recent_postings(&app.db, a.account_id, limit).await?);
    }
    rows.sort_by_key(|e| std::cmp::Reverse(e.posting_id));
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    Ok(rows.into_iter().map(ActivityEntry::from).collect())
}

/// A store's activity (its owner and devices, or city staff).
pub(crate) async fn merchant_activity(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    limit: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Activity, AppError> {
    let limit = check_limit(limit)?;
    let accounts = merchant_balances(app, who, merchant).await?;
    let date = jst_date(now);
    let since =
        jst_start_of_day_utc(date).ok_or_else(|| AppError::Internal("no JST midnight".into()))?;
    let mut today = Vec::new();
    for a in accounts.iter().filter(|a| a.kind == AccountKind::Merchant) {
        let (amount, transactions) =
            store::net_since(&app.db, a.account_id, since, &TAKINGS_KINDS).await?;
        today.push(Takings {
            program_id: a.program_id,
            asset: a.asset,
            amount,
            transactions,
        });
    }
    Ok(Activity {
        date,
        today,
        expiring: Vec::new(),
        entries: entries_of(app, &accounts, limit).await?,
    })
}

/// A shopper's activity (the shopper, or city staff).
pub(crate) async fn shopper_activity(
    app: &App,
    who: Principal,
    shopper: ShopperId,
    limit: Option<i64>,
    now: DateTime<Utc>,
) -> Result<Activity, AppError> {
    let limit = check_limit(limit)?;
    let accounts = shopper_balances(app, who, shopper).await?;
    let mut expiring = Vec::new();
    for a in &accounts {
        if let Some((date, amount)) = store::nearest_expiry(&app.db, a.account_id).await? {
            expiring.push(Expiring {
                program_id: a.program_id,
                asset: a.asset,
                date,
                amount,
            });
        }
    }
    Ok(Activity {
        date: jst_date(now),
        today: Vec::new(),
        expiring,
        entries: entries_of(app, &accounts, limit).await?,
    })
}
