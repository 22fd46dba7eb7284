//! Lottery sales (抽選販売) of premium-set campaigns: the application window, one application
//! per shopper, a committed seed, the draw (`machipay_domain::lottery`), the winners' purchase
//! period (entitlements the premium sale checks) and the unclaimed sets re-offered; resident
//! checks by city staff; the draw report and its verification (`machipay lottery-verify`).

pub mod api;
pub(crate) mod http;
pub(crate) mod store;

pub use api::*;

use std::collections::{HashMap, HashSet};

use chrono::{DateTime, Utc};

use crate::app::App;
use crate::error::AppError;
use crate::features::campaigns::premium::{
    self, PremiumCampaign, PremiumCampaignRow, PremiumRefusal, SALE_MODE_LOTTERY,
};
use crate::features::program_in_city;
use crate::writer::{Answer, Done, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::ids::*;
use machipay_domain::lottery::{self as draw_rule, Application};
use store::{ApplicationRow, DrawRow, LotteryRow, ResidentCheckRow, WinnerRow};

crate::refusals! {
    /// What lottery sales refuse.
    pub enum LotteryRefusal {
        /// The windows are out of order (says which).
        InvalidLotteryPeriod(String) => BadRequest, "invalid_lottery_period", "{0}";
        InvalidSeedHash => BadRequest, "invalid_seed_hash", "seed_hash must be the SHA-256 of the seed as 64 lowercase hex digits";
        InvalidSeed(String) => BadRequest, "invalid_seed", "{0}";
        /// The revealed seed's SHA-256 is not the hash published.
        SeedMismatch => Unprocessable, "seed_mismatch", "the seed's SHA-256 is not the lottery's published seed_hash";
        NotALottery => Unprocessable, "not_a_lottery", "the campaign is not sold by lottery";
        NotAcceptingApplications => Unprocessable, "lottery_not_accepting", "the lottery is not taking applications now";
        AlreadyApplied => Conflict, "already_applied", "the shopper has applied to this lottery already";
        ResidentNotVerified => Unprocessable, "resident_not_verified", "this lottery is for shoppers checked as residents by city staff";
        /// No draw can run now (says why).
        DrawNotDue(String) => Unprocessable, "draw_not_due", "{0}";
        InvalidMethod => BadRequest, "invalid_method", "method must be 1 to 100 characters";
        VerifiedOnInFuture => BadRequest, "verified_on_in_future", "verified_on must not be after today (JST)";
    }
}

/// Opens a lottery sale: its campaign (sale mode `lottery`) and the lottery with its
/// published seed hash, in one transaction (operator staff or city admins). Idempotent.
pub async fn create(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewLotteryRequest,
    idem: crate::writer::Idempotency,
) -> Result<Answer<LotteryView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    premium::check_campaign(&req.campaign)?;
    check_periods(&req)?;
    if !draw_rule::check_seed_hash(&req.seed_hash) {
        return Err(LotteryRefusal::InvalidSeedHash.into());
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                if req.applications_close_at <= w.now {
                    return Err(LotteryRefusal::InvalidLotteryPeriod(
                        "applications_close_at must be in the future: the seed's hash is published before the window closes".into(),
                    )
                    .into());
                }
                let mut campaign =
                    premium::create_in(w, who, program, req.campaign, SALE_MODE_LOTTERY).await?;
                if req.unclaimed == Unclaimed::FirstCome {
                    premium::open_first_come_in(w, campaign.id, req.winners_buy_until).await?;
                    campaign.first_come_from = Some(req.winners_buy_until);
                }
                let row = LotteryRow {
                    campaign_id: campaign.id,
                    applications_open_at: req.applications_open_at,
                    applications_close_at: req.applications_close_at,
                    winners_buy_until: req.winners_buy_until,
                    residents_only: req.residents_only,
                    unclaimed: req.unclaimed.as_str().to_owned(),
                    seed_hash: req.seed_hash,
                    created_by: who.scope_id(),
                    created_at: w.now,
                };
                store::insert_lottery(&mut w.tx, &row).await?;
                Ok(Done::created(view(campaign, row, 0, &[])))
            })
        })
        .await
}

/// applications open < close ≤ winners buy from (the campaign's sale start) < winners buy
/// until ≤ the sale's end.
fn check_periods(req: &NewLotteryRequest) -> Result<(), AppError> {
    let bad = |m: &str| Err(LotteryRefusal::InvalidLotteryPeriod(m.to_owned()).into());
    if req.applications_close_at <= req.applications_open_at {
        return bad("applications_close_at must be after applications_open_at");
    }
    if req.campaign.sale_starts_at < req.applications_close_at {
        return bad(
            "the campaign's sale_starts_at (winners buy from) must not be before applications_close_at",
        );
    }
    if req.winners_buy_until <= req.campaign.sale_starts_at
        || req.winners_buy_until > req.campaign.sale_ends_at
    {
        return bad("winners_buy_until must be after sale_starts_at and not after sale_ends_at");
    }
    Ok(())
}

fn view(
    campaign: PremiumCampaignRow,
    l: LotteryRow,
    applications: i64,
    draws: &[(DrawRow, i64, i64, i64)],
) -> LotteryView {
    LotteryView {
        campaign: PremiumCampaign::from(campaign),
        applications_open_at: l.applications_open_at,
        applications_close_at: l.applications_close_at,
        winners_buy_until: l.winners_buy_until,
        residents_only: l.residents_only,
        unclaimed: Unclaimed::parse(&l.unclaimed).unwrap_or(Unclaimed::FirstCome),
        seed_hash: l.seed_hash,
        seed: draws.first().map(|d| d.0.seed.clone()),
        applications,
        draws: draws.iter().map(draw_view).collect(),
    }
}

fn draw_view((d, pool, winners, units): &(DrawRow, i64, i64, i64)) -> DrawView {
    DrawView {
        round: d.round,
        budget_units: d.budget_units,
        pool: *pool,
        winners: *winners,
        units_won: *units,
        drawn_at: d.drawn_at,
    }
}

/// The lottery of a campaign of the program (404 for another city's, 422 for a campaign not
/// sold by lottery).
async fn lottery_of(
    app: &App,
    who: &Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
) -> Result<(PremiumCampaignRow, LotteryRow), AppError> {
    crate::features::directory::get_program(app, *who, program).await?;
    let c = premium::campaign(app, program, campaign).await?;
    let l = store::lottery(&app.db, campaign)
        .await?
        .ok_or(LotteryRefusal::NotALottery)?;
    Ok((c, l))
}

/// [`lottery_of`] in a write job.
async fn lottery_in(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
) -> Result<(PremiumCampaignRow, LotteryRow), AppError> {
    program_in_city(&mut w.tx, who, program).await?;
    let c = premium::campaign_in(w, program, campaign).await?;
    let l = store::lottery_tx(&mut w.tx, campaign)
        .await?
        .ok_or(LotteryRefusal::NotALottery)?;
    Ok((c, l))
}

/// The draws with (pool, winners, units won) each, from the winners and applications.
fn draw_figures(
    draws: Vec<DrawRow>,
    applications: &[ApplicationRow],
    winners: &[WinnerRow],
) -> Vec<(DrawRow, i64, i64, i64)> {
    let mut earlier_winners = 0;
    draws
        .into_iter()
        .map(|d| {
            let won: Vec<&WinnerRow> = winners.iter().filter(|w| w.round == d.round).collect();
            let pool = applications.len() as i64 - earlier_winners;
            earlier_winners += won.len() as i64;
            let units = won.iter().map(|w| i64::from(w.units)).sum();
            (d, pool, won.len() as i64, units)
        })
        .collect()
}

/// A lottery and where it stands (anyone in the city: the seed hash is public).
pub async fn get(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
) -> Result<LotteryView, AppError> {
    let (c, l) = lottery_of(app, &who, program, campaign).await?;
    let applications = store::applications(&app.db, campaign).await?;
    let winners = store::winners(&app.db, campaign).await?;
    let draws = store::draws(&app.db, campaign).await?;
    let figures = draw_figures(draws, &applications, &winners);
    Ok(view(c, l, applications.len() as i64, &figures))
}

/// One application per shopper, within the window, for 1 to the per-person limit of sets
/// (only residents checked by staff, if the lottery says so). Shoppers apply for themselves.
pub async fn apply(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
    req: ApplyRequest,
) -> Result<Answer<LotteryApplication>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    // The sale's lane: a crowd applying as the window opens shares each batch with the
    // town's payments only up to `writer::SALE_JOBS_PER_BATCH_MAX`.
    app.writer
        .sale()
        .answer(None, move |w| {
            Box::pin(apply_in(w, who, program, campaign, shopper, req.units))
        })
        .await
}

/// [`apply`] inside a write job (tests run it at a chosen instant).
pub async fn apply_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
    units: i32,
) -> Result<Done<LotteryApplication>, AppError> {
    let (c, l) = lottery_in(w, &who, program, campaign).await?;
    crate::features::payments::shopper_in_city(w, &who, shopper).await?;
    if w.now < l.applications_open_at || w.now >= l.applications_close_at {
        return Err(LotteryRefusal::NotAcceptingApplications.into());
    }
    if !(1..=c.units_per_person_max).contains(&units) {
        return Err(PremiumRefusal::InvalidUnits("units").into());
    }
    if l.residents_only && !store::is_resident_tx(&mut w.tx, shopper).await? {
        return Err(LotteryRefusal::ResidentNotVerified.into());
    }
    let row = ApplicationRow {
        campaign_id: campaign,
        shopper_id: shopper,
        units,
        created_at: w.now,
    };
    if !store::insert_application(&mut w.tx, &row).await? {
        return Err(LotteryRefusal::AlreadyApplied.into());
    }
    Ok(Done::created(LotteryApplication {
        campaign_id: campaign,
        shopper_id: shopper,
        units,
        applied_at: w.now,
        result: "pending".into(),
        won_round: None,
        buy_from: None,
        buy_until: None,
        units_bought: 0,
    }))
}

/// A shopper's application and its result: the shopper, or staff.
pub async fn application(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<LotteryApplication, AppError> {
    let own = matches!(who, Principal::Shopper { id, .. } if id == shopper);
    if !own && !who.can(Capability::ViewCity) {
        return Err(AppError::not_found("application"));
    }
    let (c, l) = lottery_of(app, &who, program, campaign).await?;
    let a = store::application(&app.db, campaign, shopper)
        .await?
        .ok_or_else(|| AppError::not_found("application"))?;
    let winner = store::winner(&app.db, campaign, shopper).await?;
    let draws = store::draws(&app.db, campaign).await?;
    let bought = premium::units_bought(app, campaign).await?;
    let (result, buy_from, buy_until) = match &winner {
        Some(win) => {
            let from = draws
                .iter()
                .find(|d| d.round == win.round)
                .map(|d| buy_from(&c, d));
            ("won", from, Some(buy_until(&c, &l, win.round)))
        }
        None if draws.is_empty() => ("pending", None, None),
        None => ("lost", None, None),
    };
    Ok(LotteryApplication {
        campaign_id: campaign,
        shopper_id: shopper,
        units: a.units,
        applied_at: a.created_at,
        result: result.into(),
        won_round: winner.as_ref().map(|w| w.round),
        buy_from,
        buy_until,
        units_bought: bought.get(&shopper).copied().unwrap_or(0),
    })
}

/// Winners of round 1 buy from the sale's start; of round 2, from their draw.
fn buy_from(c: &PremiumCampaignRow, d: &DrawRow) -> DateTime<Utc> {
    if d.round == 1 {
        c.sale_starts_at
    } else {
        d.drawn_at.max(c.sale_starts_at)
    }
}

fn buy_until(c: &PremiumCampaignRow, l: &LotteryRow, round: i32) -> DateTime<Utc> {
    if round == 1 {
        l.winners_buy_until
    } else {
        c.sale_ends_at
    }
}

/// Runs the next draw with the revealed seed (operator staff or city admins): round 1 once
/// the window has closed; round 2 (a `second_draw` lottery) once the winners' period is over,
/// among the applications that lost, for the sets still left. Winners get the right to buy
/// their sets in their period.
pub async fn draw(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
    req: DrawRequest,
) -> Result<Answer<DrawView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    draw_rule::check_seed(&req.seed).map_err(LotteryRefusal::InvalidSeed)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(draw_in(w, who, program, campaign, req.seed))
        })
        .await
}

/// [`draw`] inside a write job (tests run it at a chosen instant).
pub async fn draw_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
    seed: String,
) -> Result<Done<DrawView>, AppError> {
    let (c, l) = lottery_in(w, &who, program, campaign).await?;
    if draw_rule::seed_hash(&seed) != l.seed_hash {
        return Err(LotteryRefusal::SeedMismatch.into());
    }
    let done = store::draws_tx(&mut w.tx, campaign).await?;
    let round = next_round(w.now, &c, &l, &done)?;
    let applications = store::applications_tx(&mut w.tx, campaign).await?;
    let earlier: HashSet<ShopperId> = store::winners_tx(&mut w.tx, campaign)
        .await?
        .into_iter()
        .map(|won| won.shopper_id)
        .collect();
    let pool: Vec<Application> = applications
        .iter()
        .filter(|a| !earlier.contains(&a.shopper_id))
        .map(|a| Application {
            shopper_id: a.shopper_id.0,
            units: u32::try_from(a.units).unwrap_or(0),
        })
        .collect();
    let budget_units = (c.budget_yen - c.premium_granted_yen) / c.premium_yen;
    let winners = draw_rule::draw(
        &seed,
        round as u32,
        &pool,
        u64::try_from(budget_units).unwrap_or(0),
    );
    let row = DrawRow {
        campaign_id: campaign,
        round,
        seed,
        budget_units,
        drawn_by: who.scope_id(),
        drawn_at: w.now,
    };
    store::insert_draw(&mut w.tx, &row).await?;
    let (from, until) = (buy_from(&c, &row), buy_until(&c, &l, round));
    let mut units_won = 0;
    for win in &winners {
        let units = i32::try_from(win.units).unwrap_or(i32::MAX);
        let shopper = ShopperId::from(win.shopper_id);
        let winner = WinnerRow {
            campaign_id: campaign,
            shopper_id: shopper,
            round,
            units,
        };
        store::insert_winner(&mut w.tx, &winner).await?;
        premium::entitle_in(w, campaign, shopper, units, from, until).await?;
        units_won += i64::from(win.units);
    }
    let change = crate::features::audit::Change {
        action: "lottery_drawn",
        subject_kind: "premium_campaign",
        subject_id: campaign.0,
        detail: serde_json::json!({
            "program_id": program, "round": round, "winners": winners.len(),
            "units_won": units_won,
        }),
    };
    crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
    Ok(Done::created(DrawView {
        round,
        budget_units,
        pool: pool.len() as i64,
        winners: winners.len() as i64,
        units_won,
        drawn_at: w.now,
    }))
}

/// Which draw is due now, or why none is.
fn next_round(
    now: DateTime<Utc>,
    c: &PremiumCampaignRow,
    l: &LotteryRow,
    done: &[DrawRow],
) -> Result<i32, AppError> {
    let not_due = |m: &str| Err(LotteryRefusal::DrawNotDue(m.to_owned()).into());
    match done.len() {
        0 if now < l.applications_close_at => not_due("the application window has not closed yet"),
        0 => Ok(1),
        1 if l.unclaimed != Unclaimed::SecondDraw.as_str() => {
            not_due("the lottery was drawn; its unclaimed sets go first-come")
        }
        1 if now < l.winners_buy_until => not_due("the winners' purchase period is not over yet"),
        1 if now >= c.sale_ends_at => not_due("the sale is over"),
        1 => Ok(2),
        _ => not_due("both draws have run"),
    }
}

/// The draw report (staff): every application in the canonical order with its result and
/// the sets bought, the draws and the totals.
pub async fn report(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
) -> Result<DrawReport, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    let (c, l) = lottery_of(app, &who, program, campaign).await?;
    let applications = store::applications(&app.db, campaign).await?;
    let winners = store::winners(&app.db, campaign).await?;
    let draws = store::draws(&app.db, campaign).await?;
    let bought = premium::units_bought(app, campaign).await?;
    let won: HashMap<ShopperId, &WinnerRow> = winners.iter().map(|w| (w.shopper_id, w)).collect();
    let mut totals = ReportTotals::default();
    let lines: Vec<ReportLine> = applications
        .iter()
        .map(|a| {
            let win = won.get(&a.shopper_id);
            let units_bought = bought.get(&a.shopper_id).copied().unwrap_or(0);
            totals.applications += 1;
            totals.units_applied += i64::from(a.units);
            if let Some(w) = win {
                totals.winners += 1;
                totals.units_won += i64::from(w.units);
                totals.units_bought += units_bought;
            }
            ReportLine {
                shopper_id: a.shopper_id,
                units: a.units,
                applied_at: a.created_at,
                won_round: win.map(|w| w.round),
                units_bought,
            }
        })
        .collect();
    totals.units_unclaimed = totals.units_won - totals.units_bought;
    let figures = draw_figures(draws, &applications, &winners);
    Ok(DrawReport {
        campaign_id: campaign,
        name: c.name,
        seed_hash: l.seed_hash,
        seed: figures.first().map(|d| d.0.seed.clone()),
        draws: figures.iter().map(draw_view).collect(),
        applications: lines,
        totals,
    })
}

/// What re-running the draws of a published report found, round by round.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRound {
    pub round: i32,
    /// The winners the seed gives, in the order drawn.
    pub winners: Vec<Application>,
    /// Whether they are exactly the report's winners of the round.
    pub matches: bool,
}

/// Re-runs every draw of a published report from the seed: checks the seed against the
/// published hash, then draws each round from its pool (round 1: every application; round
/// 2: those that did not win round 1) and its budget. What `machipay lottery-verify` does.
pub fn verify(report: &DrawReport, seed: &str) -> Result<Vec<VerifiedRound>, String> {
    if draw_rule::seed_hash(seed) != report.seed_hash {
        return Err(format!(
            "the seed's SHA-256 {} is not the published seed_hash {}",
            draw_rule::seed_hash(seed),
            report.seed_hash
        ));
    }
    let mut out = Vec::new();
    let mut won_before: HashSet<ShopperId> = HashSet::new();
    for d in &report.draws {
        let pool: Vec<Application> = report
            .applications
            .iter()
            .filter(|a| !won_before.contains(&a.shopper_id))
            .map(|a| Application {
                shopper_id: a.shopper_id.0,
                units: u32::try_from(a.units).unwrap_or(0),
            })
            .collect();
        let budget = u64::try_from(d.budget_units).map_err(|e| e.to_string())?;
        let winners = draw_rule::draw(seed, d.round as u32, &pool, budget);
        let mut drawn: Vec<ShopperId> = winners.iter().map(|w| w.shopper_id.into()).collect();
        let mut published: Vec<ShopperId> = report
            .applications
            .iter()
            .filter(|a| a.won_round == Some(d.round))
            .map(|a| a.shopper_id)
            .collect();
        drawn.sort_by_key(|s| s.0);
        published.sort_by_key(|s| s.0);
        won_before.extend(drawn.iter().copied());
        out.push(VerifiedRound {
            round: d.round,
            matches: drawn == published,
            winners,
        });
    }
    Ok(out)
}

/// Records city staff's check that a shopper lives in the city (operators or city admins).
pub async fn check_resident(
    app: &App,
    who: Principal,
    shopper: ShopperId,
    req: ResidentCheckRequest,
) -> Result<Answer<ResidentCheck>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let len = req.method.trim().chars().count();
    if len == 0 || len > 100 {
        return Err(LotteryRefusal::InvalidMethod.into());
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                crate::features::payments::shopper_in_city(w, &who, shopper).await?;
                if req.verified_on > machipay_domain::calendar::jst_date(w.now) {
                    return Err(LotteryRefusal::VerifiedOnInFuture.into());
                }
                let row = ResidentCheckRow {
                    shopper_id: shopper,
                    verified_on: req.verified_on,
                    method: req.method.trim().to_owned(),
                    verified_by: who.scope_id(),
                    created_at: w.now,
                };
                store::upsert_resident_check(&mut w.tx, &row).await?;
                Ok(Done::created(ResidentCheck {
                    shopper_id: row.shopper_id,
                    verified_on: row.verified_on,
                    method: row.method,
                    verified_by: row.verified_by,
                    created_at: row.created_at,
                }))
            })
        })
        .await
}
