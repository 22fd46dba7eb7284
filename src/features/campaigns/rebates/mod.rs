//! Rebate campaigns, and the claw-back of a refunded payment's rebate.
//!
//! A rebate returns a percentage of the yen part of a payment (coin and premium; never the
//! part paid with points) as points, by the store's category tier, within a per-person
//! monthly cap and a campaign budget that ends the campaign early when spent. Fractions round
//! down. Immediate campaigns post the points in the payment's own transaction; batch campaigns
//! accrue them and `grant_due` posts them on the grant date. A store refund
//! (`payments::refunds`) gives yen back to the shopper and has `clawback` take back the rebate
//! down to the tier rate on what is still paid (`machipay_domain::money::points_kept`). Points a refund
//! cannot take back because they were spent are refused (`clawback_shortfall = refuse`) or
//! recorded as a shortfall that keeps counting against the cap and the budget.
//!
//! Campaigns do not stack: two campaigns of a program whose periods overlap may not name the
//! same store category (`campaign_overlaps`), so a payment earns from one campaign at most.

pub mod api;
pub(crate) mod http;
pub mod store;

pub use api::*;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use std::collections::HashMap;
use uuid::Uuid;

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::campaigns::rebates::store::{Accrual, RebateCampaignRow};
use crate::features::program_in_city;
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, Account};
use crate::writer::{Answer, Done, Idempotency, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};
use machipay_domain::money::{Points, Rate, Yen, points_kept};
use machipay_domain::program::{ClawbackShortfall, ProgramKind};

/// Accruals granted per writer job at most.
pub const GRANTS_PER_JOB_MAX: i64 = 200;

crate::refusals! {
    /// What rebate campaigns and store categories refuse. (A campaign's expiry too early is
    /// `Common::ExpiryTooEarly`, shared by both campaigns.)
    pub enum RebateRefusal {
        /// (campaign, its name, the category both name): campaigns do not stack.
        CampaignOverlaps(RebateCampaignId, String, String) => Conflict, "campaign_overlaps", "campaign {0} ({1}) already rebates category {2} in part of this period; campaigns do not stack";
        InvalidCategory => BadRequest, "invalid_category", "category is 1 to 40 characters";
    }
}

fn validate_campaign(req: &NewRebateCampaignRequest) -> Result<(), AppError> {
    let bad = |m: &'static str| Err(Common::InvalidCampaign(m).into());
    let name_len = req.name.trim().chars().count();
    if name_len == 0 || req.name.chars().count() > 100 {
        return bad("name must be 1 to 100 characters");
    }
    if req.tiers.is_empty() || req.tiers.len() > 20 {
        return bad("a campaign has 1 to 20 tiers");
    }
    for (i, t) in req.tiers.iter().enumerate() {
        if t.category.trim().is_empty() || t.category.chars().count() > 40 {
            return bad("a tier category is 1 to 40 characters");
        }
        if t.rate < Decimal::ZERO || t.rate > Decimal::ONE {
            return bad("a tier rate is 0 to 1");
        }
        if req.tiers[..i].iter().any(|u| u.category == t.category) {
            return bad("a category has one tier in a campaign");
        }
    }
    if req.ends_at <= req.starts_at {
        return bad("ends_at must be after starts_at");
    }
    if (req.grant_mode == GrantMode::Batch) != req.grant_on.is_some() {
        return bad("grant_on is required for batch campaigns and only for them");
    }
    Ok(())
}

/// Points must be spendable from the day they are granted: an expiry in the past, before the
/// batch grant date, or (immediate campaigns) before the last payment that can earn them is
/// refused.
fn check_expiry(req: &NewRebateCampaignRequest, now: DateTime<Utc>) -> Result<(), AppError> {
    let Some(expires) = req.points_expire_on else {
        return Ok(());
    };
    let too_early = |m: String| Err(Common::ExpiryTooEarly(m).into());
    if expires < jst_date(now) {
        return too_early(format!("points_expire_on {expires} is in the past"));
    }
    match req.grant_on {
        Some(grant_on) if expires < grant_on => too_early(format!(
            "points_expire_on {expires} is before grant_on {grant_on}"
        )),
        None if jst_end_of_day_utc(expires) < req.ends_at => too_early(format!(
            "points_expire_on {expires} is before the campaign ends: points granted after it would expire at once"
        )),
        _ => Ok(()),
    }
}

fn tiers_of(c: &RebateCampaignRow) -> Result<Vec<Tier>, AppError> {
    serde_json::from_str(&c.tiers).map_err(internal)
}

/// Campaigns do not stack: refuses a campaign whose period overlaps another of the program
/// that names one of the same store categories (a 0 % tier included: it is a stated term).
fn check_overlap(
    req: &NewRebateCampaignRequest,
    existing: &[RebateCampaignRow],
) -> Result<(), AppError> {
    for c in existing {
        if c.starts_at >= req.ends_at || req.starts_at >= c.ends_at {
            continue;
        }
        let theirs = tiers_of(c)?;
        if let Some(t) = req
            .tiers
            .iter()
            .find(|t| theirs.iter().any(|u| u.category == t.category))
        {
            let (name, category) = (c.name.clone(), t.category.clone());
            return Err(RebateRefusal::CampaignOverlaps(c.id, name, category).into());
        }
    }
    Ok(())
}

/// Opens a rebate campaign (operator staff or city admins). Idempotent: the same key and
/// body answer the first reply and open nothing more.
pub async fn create_campaign(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewRebateCampaignRequest,
    idem: Idempotency,
) -> Result<Answer<RebateCampaignView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    validate_campaign(&req)?;
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                let (p, _) = program_in_city(&mut w.tx, &who, program).await?;
                if p.kind != ProgramKind::Currency {
                    let kind = "rebate campaigns are for currency programs";
                    return Err(Common::WrongProgramKind(kind).into());
                }
                check_expiry(&req, w.now)?;
                check_overlap(&req, &store::campaigns_tx(&mut w.tx, program).await?)?;
                let row = RebateCampaignRow {
                    id: RebateCampaignId::new(),
                    program_id: program,
                    name: req.name,
                    tiers: serde_json::to_string(&req.tiers).map_err(internal)?,
                    monthly_cap_points: req.monthly_cap_points.get(),
                    budget_points: req.budget_points.get(),
                    starts_at: req.starts_at,
                    ends_at: req.ends_at,
                    grant_mode: match req.grant_mode {
                        GrantMode::Immediate => "immediate".into(),
                        GrantMode::Batch => "batch".into(),
                    },
                    grant_on: req.grant_on,
                    points_expire_on: req.points_expire_on,
                    created_by: who.scope_id(),
                    created_at: w.now,
                };
                store::insert_campaign(&mut w.tx, &row).await?;
                let change = crate::features::audit::Change {
                    action: "rebate_campaign_opened",
                    subject_kind: "rebate_campaign",
                    subject_id: row.id.0,
                    detail: serde_json::json!({
                        "program_id": program, "name": row.name,
                        "budget_points": row.budget_points,
                    }),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::created(RebateCampaignView::new(row, 0, w.now)))
            })
        })
        .await
}

pub async fn list_campaigns(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Vec<RebateCampaignView>, AppError> {
    crate::features::directory::get_program(app, who, program).await?;
    let used: HashMap<RebateCampaignId, i64> = store::campaign_usage(&app.db, program)
        .await?
        .into_iter()
        .collect();
    let now = Utc::now();
    Ok(store::list_campaigns(&app.db, program)
        .await?
        .into_iter()
        .map(|c| {
            let n = used.get(&c.id).copied().unwrap_or(0);
            RebateCampaignView::new(c, n, now)
        })
        .collect())
}

/// Sets a store's category for rebate tiers (operator staff or city admins).
pub async fn set_category(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: CategoryRequest,
) -> Result<Answer<CategoryResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    if req
        .category
        .as_ref()
        .is_some_and(|c| c.trim().is_empty() || c.chars().count() > 40)
    {
        return Err(RebateRefusal::InvalidCategory.into());
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                crate::features::directory::merchant_tx(&mut w.tx, merchant)
                    .await?
                    .filter(|m| m.city_id == who.city())
                    .ok_or_else(|| AppError::not_found("merchant"))?;
                store::set_category(&mut w.tx, merchant, req.category.as_deref()).await?;
                Ok(Done::ok(CategoryResponse {
                    category: req.category,
                    merchant_id: merchant,
                }))
            })
        })
        .await
}

/// The rebate part of a payment, planned before it is posted.
#[derive(Default)]
pub(crate) struct RebatePlan {
    pub legs: Vec<Leg>,
    pub accounts: Vec<Account>,
    /// Expiry of the points lot the payment opens (earliest among the campaigns applied).
    pub expires_on: Option<NaiveDate>,
    /// (campaign, points, granted with the payment, tier rate).
    accruals: Vec<(RebateCampaignId, Points, bool, Decimal)>,
    base_yen: Yen,
    month: String,
}

/// A payment as rebates see it: who pays which store, under which program.
pub(crate) struct Purchase {
    pub program: ProgramId,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    /// What was paid in coin and premium (points earn no rebate).
    pub yen_part: Yen,
}

/// Works out the rebates a payment earns on its yen part.
pub(crate) async fn plan(w: &mut Work, spend: &Purchase) -> Result<RebatePlan, AppError> {
    let yen_part = spend.yen_part;
    let mut plan = RebatePlan {
        base_yen: yen_part,
        month: jst_date(w.now).format("%Y-%m").to_string(),
        ..Default::default()
    };
    if yen_part <= Yen::ZERO {
        return Ok(plan);
    }
    let campaigns = store::active_campaigns_tx(&mut w.tx, spend.program, w.now).await?;
    if campaigns.is_empty() {
        return Ok(plan);
    }
    let Some(category) = store::category_tx(&mut w.tx, spend.merchant).await? else {
        return Ok(plan);
    };
    // Campaigns do not stack (creation refuses overlaps); should older overlapping ones exist,
    // the best rate that still has room applies, alone.
    let mut offers = Vec::new();
    for c in campaigns {
        if let Some(tier) = tiers_of(&c)?.into_iter().find(|t| t.category == category) {
            offers.push((tier.rate, c));
        }
    }
    offers.sort_by_key(|o| std::cmp::Reverse(o.0));
    let mut immediate_total = Points::ZERO;
    for (rate, c) in offers {
        // The tier rate earns points on the yen part (points per yen, rounded down).
        let earned = Rate::new(rate).points_on(yen_part).map_err(internal)?;
        if earned <= Points::ZERO {
            continue;
        }
        let month_used =
            store::points_used_tx(&mut w.tx, c.id, Some((spend.shopper, &plan.month))).await?;
        let used = store::points_used_tx(&mut w.tx, c.id, None).await?;
        let month_room = Points::new(c.monthly_cap_points)
            .checked_sub(Points::new(month_used))
            .map_err(internal)?;
        let budget_room = Points::new(c.budget_points)
            .checked_sub(Points::new(used))
            .map_err(internal)?;
        let points = earned.min(month_room).min(budget_room);
        if points <= Points::ZERO {
            continue;
        }
        let immediate = c.grant_mode == "immediate";
        if immediate {
            immediate_total = immediate_total.checked_add(points).map_err(internal)?;
            plan.expires_on = c.points_expire_on;
        }
        plan.accruals.push((c.id, points, immediate, rate));
        break;
    }
    if immediate_total > Points::ZERO {
        let immediate_total = immediate_total.get();
        let program = spend.program;
        let subsidy = ledger_store::ensure_account(
            &mut w.tx,
            program,
            AccountKind::CitySubsidy,
            Asset::Points,
            None,
        )
        .await?;
        let points_wallet =
            ledger_store::shopper_wallet(&mut w.tx, program, spend.shopper, Asset::Points).await?;
        plan.legs.push(Leg {
            account: subsidy.id,
            asset: Asset::Points,
            amount: -immediate_total,
        });
        plan.legs.push(Leg {
            account: points_wallet.id,
            asset: Asset::Points,
            amount: immediate_total,
        });
        plan.accounts.push(subsidy);
        plan.accounts.push(points_wallet);
    }
    Ok(plan)
}

/// Records the accruals of a posted payment.
pub(crate) async fn record(
    w: &mut Work,
    payment: TransactionId,
    shopper: ShopperId,
    plan: &RebatePlan,
) -> Result<(), AppError> {
    for &(campaign, points, immediate, rate) in &plan.accruals {
        let accrual = Accrual {
            campaign_id: campaign,
            payment_transaction_id: payment,
            shopper_id: shopper,
            month: plan.month.clone(),
            base_yen: plan.base_yen.get(),
            points: points.get(),
            clawed_back_points: 0,
            shortfall_points: 0,
            granted_transaction_id: immediate.then_some(payment.0),
            rate: Some(rate.normalize().to_string()),
        };
        store::insert_accrual(&mut w.tx, &accrual, w.now).await?;
    }
    Ok(())
}

/// Grants batch rebates due on or before `as_of`. Running it again grants nothing twice.
pub async fn grant_due(app: &App, as_of: NaiveDate) -> Result<GrantRun, AppError> {
    let mut run = GrantRun {
        as_of: Some(as_of),
        ..Default::default()
    };
    loop {
        let batch = app
            .writer
            .bulk()
            .answer(None, move |w| Box::pin(grant_batch(w, as_of)))
            .await?
            .into_value()?;
        let (n, p) = (batch.accruals, batch.points);
        run.accruals += n;
        run.points = run.points.checked_add(p).map_err(internal)?;
        if n < GRANTS_PER_JOB_MAX {
            return Ok(run);
        }
    }
}

pub async fn grant_batch(w: &mut Work, as_of: NaiveDate) -> Result<Done<GrantBatch>, AppError> {
    let due = store::due_accruals_tx(&mut w.tx, as_of, GRANTS_PER_JOB_MAX).await?;
    let (mut count, mut total) = (0i64, Points::ZERO);
    for (a, program, expires_on) in due {
        let points = a.points - a.clawed_back_points;
        let subsidy = ledger_store::ensure_account(
            &mut w.tx,
            program,
            AccountKind::CitySubsidy,
            Asset::Points,
            None,
        )
        .await?;
        let target =
            ledger_store::shopper_wallet(&mut w.tx, program, a.shopper_id, Asset::Points).await?;
        let entry =
            Entry::transfer(subsidy.id, target.id, Asset::Points, points).map_err(internal)?;
        let posting = Posting {
            program,
            kind: "rebate_grant",
            initiated_by: Uuid::nil(),
            memo: None,
            reverses: None,
            lots: Lots::Normal(CreditExpiry {
                points: expires_on,
                ..CreditExpiry::NEVER
            }),
        };
        let id = post(w, &posting, &entry, &[&subsidy, &target]).await?;
        store::mark_granted(&mut w.tx, a.campaign_id, a.payment_transaction_id, id).await?;
        count += 1;
        total = total.checked_add(Points::new(points)).map_err(internal)?;
    }
    Ok(Done::ok(GrantBatch {
        accruals: count,
        points: total,
    }))
}

/// What a refund gives back, as the claw-back needs it.
pub(crate) struct Refunded {
    pub payment: TransactionId,
    pub program: ProgramId,
    pub shopper: ShopperId,
    /// Coin and premium given back by all refunds of the payment, this one included (what
    /// rebates were earned on).
    pub yen_after: Yen,
    /// Points this refund gives back (the part of the payment paid with points).
    pub points_back: Points,
    pub rule: ClawbackShortfall,
}

/// The shopper's points leg of a refund and the city's, and what they settled.
pub(crate) struct Clawback {
    pub legs: Vec<Leg>,
    pub accounts: Vec<Account>,
    pub clawed: i64,
    pub shortfall: i64,
}

/// Takes back rebate points so that, after this refund, each campaign has left the shopper
/// `points_kept` (the tier rate on what is still paid, never more than was granted). Points
/// not yet granted are simply cancelled. Granted points come first out of the points this
/// refund gives back, then out of the wallet; what the shopper already spent is refused
/// (`refuse`) or recorded as a shortfall (`take_remaining`) that keeps counting against the
/// cap and the budget. The shopper's points leg is posted net: refunded points minus claw-back.
pub(crate) async fn clawback(w: &mut Work, r: Refunded) -> Result<Clawback, AppError> {
    let refunded_after = r.yen_after;
    let mut due = Vec::new();
    let mut from_wallet = 0i64;
    let mut cancelled = 0i64;
    for a in store::accruals_of_payment_tx(&mut w.tx, r.payment).await? {
        let rate = a
            .rate
            .as_deref()
            .map(str::parse::<Decimal>)
            .transpose()
            .map_err(internal)?;
        let keep =
            points_kept(a.points, rate, a.base_yen, refunded_after.get()).map_err(internal)?;
        let take = (a.points - keep - a.clawed_back_points - a.shortfall_points).max(0);
        if take == 0 {
            continue;
        }
        if a.granted_transaction_id.is_some() {
            from_wallet += take;
            due.push((a.campaign_id, take));
        } else {
            store::add_clawback(&mut w.tx, a.campaign_id, r.payment, take, 0).await?;
            cancelled += take;
        }
    }
    let points_back = r.points_back.get();
    let points_wallet = if from_wallet > 0 || points_back > 0 {
        Some(ledger_store::shopper_wallet(&mut w.tx, r.program, r.shopper, Asset::Points).await?)
    } else {
        None
    };
    let available = points_wallet.as_ref().map_or(0, |p| p.balance) + points_back;
    let possible = from_wallet.min(available);
    let shortfall = from_wallet - possible;
    if shortfall > 0 && r.rule == ClawbackShortfall::Refuse {
        return Err(Common::RebatePointsAlreadySpent(from_wallet, available).into());
    }
    // The shortfall is spread over the accruals in order (one, under the no-stacking rule).
    let mut short_left = shortfall;
    for (campaign, take) in due {
        let short = short_left.min(take);
        short_left -= short;
        store::add_clawback(&mut w.tx, campaign, r.payment, take - short, short).await?;
    }
    let mut out = Clawback {
        legs: Vec::new(),
        accounts: Vec::new(),
        clawed: cancelled + possible,
        shortfall,
    };
    let Some(points_wallet) = points_wallet else {
        return Ok(out);
    };
    let net = points_back - possible;
    if net != 0 {
        out.legs.push(Leg {
            account: points_wallet.id,
            asset: Asset::Points,
            amount: net,
        });
        out.accounts.push(points_wallet);
    }
    if possible > 0 {
        let subsidy = ledger_store::ensure_account(
            &mut w.tx,
            r.program,
            AccountKind::CitySubsidy,
            Asset::Points,
            None,
        )
        .await?;
        out.legs.push(Leg {
            account: subsidy.id,
            asset: Asset::Points,
            amount: possible,
        });
        out.accounts.push(subsidy);
    }
    Ok(out)
}
