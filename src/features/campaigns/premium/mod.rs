//! Currency-program use-cases: versioned settings, premium-set campaigns and their sale at
//! the counter, and charges arriving from the bank keyed by the bank's own reference.

pub mod api;
pub(crate) mod http;
pub(crate) mod store;
pub mod waiting_room;

pub use api::*;
pub use store::PremiumCampaignRow;

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::campaigns::premium::store::Purchase;
use crate::features::directory::{self as programs, SettingsVersion};
use crate::features::payments::{
    MovementResponse, charge_wallet_done, credit_expiry, movement_done, shopper_in_city, wallet,
    yen_held,
};
use crate::features::program_in_city;
use crate::writer::posting::{Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, Account};
use crate::writer::{Answer, Done, Idempotency, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};
use machipay_domain::money::{AMOUNT_MAX, Yen};
use machipay_domain::program::ProgramKind;

/// Most units of one campaign one person may be allowed.
pub const UNITS_PER_PERSON_MAX: i32 = 100;

/// `sale_mode` of a campaign anyone may buy while it is on sale.
pub const SALE_MODE_FIRST_COME: &str = "first_come";
/// `sale_mode` of a campaign sold by lottery (the lottery capability draws its winners).
pub const SALE_MODE_LOTTERY: &str = "lottery";

crate::refusals! {
    /// What settings changes, premium-set campaigns and their sale, bank charges and
    /// cash-outs refuse.
    pub enum PremiumRefusal {
        /// What applied on a past day is history.
        EffectiveDateInPast => Unprocessable, "effective_date_in_past", "a settings change cannot apply to a past date";
        /// Units (per person, or bought) outside 1 to 100; names the field.
        InvalidUnits(&'static str) => BadRequest, "invalid_units", "{0} must be 1 to 100";
        InvalidSalePeriod => BadRequest, "invalid_sale_period", "sale_ends_at must be after sale_starts_at";
        InvalidBudget => BadRequest, "invalid_budget", "the budget must cover at least one unit's premium";
        CampaignNotOnSale => Unprocessable, "campaign_not_on_sale", "the campaign is not on sale now";
        /// (units allowed per person, units already bought).
        SetLimitReached(i32, i64) => Unprocessable, "set_limit_reached", "at most {0} units per person; {1} already bought";
        /// Fewer sets are left than asked for (the sets left).
        CampaignBudgetExhausted(i64) => Unprocessable, "campaign_budget_exhausted", "the campaign's premium budget has only {0} sets left";
        /// Not one set is left: late buyers are told at once, before anything else is read.
        CampaignSoldOut => Unprocessable, "campaign_sold_out", "the campaign is sold out";
        /// A lottery campaign sells only to its winners now.
        LotteryWinnersOnly => Unprocessable, "lottery_winners_only", "only the lottery's winners may buy sets now";
        /// A winner's purchase period is over (the instant it ended).
        PurchasePeriodOver(String) => Unprocessable, "purchase_period_over", "the winners' purchase period ended at {0}";
        /// A waiting room's terms out of range, or on a lottery sale (why).
        InvalidWaitingRoom(&'static str) => BadRequest, "invalid_waiting_room", "{0}";
        /// A queue asked of a campaign anyone buys from at once.
        NoWaitingRoom => Unprocessable, "no_waiting_room", "the campaign has no waiting room: buy at once";
        /// The campaign sells through its waiting room: a purchase names an admitted ticket.
        TicketRequired => Unprocessable, "ticket_required", "the campaign sells through its waiting room: buy with an admitted ticket_id";
        /// (tickets ahead, milliseconds to wait).
        NotAdmittedYet(i64, i64) => Unprocessable, "not_admitted_yet", "the ticket is not admitted yet: {0} ahead, about {1} ms to wait";
        /// The admitted ticket's time to buy is over (the instant it ended).
        AdmissionExpired(String) => Unprocessable, "admission_expired", "the ticket's time to buy ended at {0}";
        InvalidBankReference => BadRequest, "invalid_bank_reference", "bank_reference must be 1 to 64 visible ASCII characters";
        CashOutNotAllowed => Forbidden, "cash_out_not_allowed", "cash-out of a balance needs an operator admin's approved exception";
    }
}

/// Records a settings change (operator staff or city admins), effective from a date.
pub async fn change_settings(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: SettingsChangeRequest,
) -> Result<Answer<SettingsVersionView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    req.settings.validate().map_err(|e| {
        crate::features::directory::DirectoryRefusal::InvalidSettings(e.to_string())
    })?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let (row, _) = program_in_city(&mut w.tx, &who, program).await?;
                crate::features::settings_fit(row.kind, &req.settings)?;
                let today = jst_date(w.now);
                let effective_from = req.effective_from.unwrap_or(today);
                if effective_from < today {
                    return Err(PremiumRefusal::EffectiveDateInPast.into());
                }
                let version = SettingsVersion {
                    id: Uuid::now_v7(),
                    program_id: program,
                    effective_from,
                    settings: serde_json::to_string(&req.settings).map_err(internal)?,
                    changed_by: who.scope_id(),
                    created_at: w.now,
                };
                programs::add_settings_version_tx(&mut w.tx, &version).await?;
                let change = crate::features::audit::Change {
                    action: "settings_changed",
                    subject_kind: "program",
                    subject_id: program.0,
                    detail: serde_json::json!({
                        "version_id": version.id, "effective_from": effective_from,
                    }),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::created(SettingsVersionView::try_from(version)?))
            })
        })
        .await
}

/// Every settings version of a program, oldest first: the audit trail (staff).
pub async fn settings_history(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Vec<SettingsVersionView>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    crate::features::directory::get_program(app, who, program).await?;
    programs::settings_versions(&app.db, program)
        .await?
        .into_iter()
        .map(SettingsVersionView::try_from)
        .collect()
}

/// A campaign must not sell premium that is taken back before it can be spent: an expiry in
/// the past, or whose last day ends before the sale does, is refused.
fn check_premium_expiry(req: &NewCampaignRequest, now: DateTime<Utc>) -> Result<(), AppError> {
    let Some(expires) = req.premium_expires_on else {
        return Ok(());
    };
    let too_early = |m: String| Err(Common::ExpiryTooEarly(m).into());
    if expires < jst_date(now) {
        return too_early(format!("premium_expires_on {expires} is in the past"));
    }
    if jst_end_of_day_utc(expires) < req.sale_ends_at {
        return too_early(format!(
            "premium_expires_on {expires} is before the sale ends: sets sold later would lose their premium at once"
        ));
    }
    Ok(())
}

/// Opens a premium-set campaign (operator staff or city admins). Idempotent: the same key
/// and body answer the first reply and open nothing more.
pub async fn create_campaign(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewCampaignRequest,
    idem: Idempotency,
) -> Result<Answer<PremiumCampaign>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    check_campaign(&req)?;
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                let campaign = create_in(w, who, program, req, SALE_MODE_FIRST_COME).await?;
                Ok(Done::created(PremiumCampaign::from(campaign)))
            })
        })
        .await
}

/// What a new campaign is checked for before it reaches the writer.
pub fn check_campaign(req: &NewCampaignRequest) -> Result<(), AppError> {
    crate::features::directory::check_name("name", &req.name)?;
    if !(1..=UNITS_PER_PERSON_MAX).contains(&req.units_per_person_max) {
        return Err(PremiumRefusal::InvalidUnits("units_per_person_max").into());
    }
    if req.sale_ends_at <= req.sale_starts_at {
        return Err(PremiumRefusal::InvalidSalePeriod.into());
    }
    if req.premium_yen.get() > req.budget_yen.get() {
        return Err(PremiumRefusal::InvalidBudget.into());
    }
    Ok(())
}

/// Writes a new campaign sold as `sale_mode` (checked with [`check_campaign`] first), in the
/// caller's write job: a lottery opens its campaign and itself in one transaction.
pub async fn create_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    req: NewCampaignRequest,
    sale_mode: &str,
) -> Result<PremiumCampaignRow, AppError> {
    let (p, _) = program_in_city(&mut w.tx, &who, program).await?;
    if p.kind != ProgramKind::Currency {
        return Err(Common::WrongProgramKind("premium sets are for currency programs").into());
    }
    check_premium_expiry(&req, w.now)?;
    if let Some(room) = &req.waiting_room {
        waiting_room::check_terms(room, sale_mode)?;
    }
    let campaign = PremiumCampaignRow {
        id: PremiumCampaignId::new(),
        program_id: program,
        name: req.name,
        price_yen: req.price_yen.get(),
        premium_yen: req.premium_yen.get(),
        units_per_person_max: req.units_per_person_max,
        budget_yen: req.budget_yen.get(),
        sale_starts_at: req.sale_starts_at,
        sale_ends_at: req.sale_ends_at,
        premium_expires_on: req.premium_expires_on,
        created_by: who.scope_id(),
        created_at: w.now,
        units_sold: 0,
        premium_granted_yen: 0,
        sale_mode: sale_mode.to_owned(),
        first_come_from: None,
        waiting_room_admits_per_s: req.waiting_room.map(|r| r.admits_per_s),
        waiting_room_admitted_for_s: req.waiting_room.map(|r| r.admitted_for_s),
        queue_tickets: 0,
    };
    store::insert_campaign(&mut w.tx, &campaign).await?;
    let change = crate::features::audit::Change {
        action: "premium_campaign_opened",
        subject_kind: "premium_campaign",
        subject_id: campaign.id.0,
        detail: serde_json::json!({
            "program_id": program, "name": campaign.name, "sale_mode": campaign.sale_mode,
            "budget_yen": campaign.budget_yen,
        }),
    };
    crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
    Ok(campaign)
}

/// A campaign of the program, read in a write job (404 if it is another program's).
pub async fn campaign_in(
    w: &mut Work,
    program: ProgramId,
    campaign: PremiumCampaignId,
) -> Result<PremiumCampaignRow, AppError> {
    store::get_campaign_tx(&mut w.tx, campaign)
        .await?
        .filter(|c| c.program_id == program)
        .ok_or_else(|| AppError::not_found("campaign"))
}

/// A campaign of the program, read on the read pool (404 if it is another program's).
pub async fn campaign(
    app: &App,
    program: ProgramId,
    campaign: PremiumCampaignId,
) -> Result<PremiumCampaignRow, AppError> {
    store::get_campaign(&app.db, campaign)
        .await?
        .filter(|c| c.program_id == program)
        .ok_or_else(|| AppError::not_found("campaign"))
}

/// Gives a shopper the right to buy up to `units` sets of a lottery campaign between
/// `buy_from` and `buy_until` (a lottery's winner), in the draw's write job.
pub async fn entitle_in(
    w: &mut Work,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
    units: i32,
    buy_from: DateTime<Utc>,
    buy_until: DateTime<Utc>,
) -> Result<(), AppError> {
    let row = store::EntitlementRow {
        campaign_id: campaign,
        shopper_id: shopper,
        units,
        buy_from,
        buy_until,
        created_at: w.now,
    };
    store::insert_entitlement(&mut w.tx, &row).await?;
    Ok(())
}

/// Opens a lottery campaign's unclaimed sets to everyone from `from` on.
pub async fn open_first_come_in(
    w: &mut Work,
    campaign: PremiumCampaignId,
    from: DateTime<Utc>,
) -> Result<(), AppError> {
    store::open_first_come(&mut w.tx, campaign, from).await?;
    Ok(())
}

/// Units each shopper bought of a campaign (live sales).
pub async fn units_bought(
    app: &App,
    campaign: PremiumCampaignId,
) -> Result<std::collections::HashMap<ShopperId, i64>, AppError> {
    let rows = store::units_bought(&app.db, campaign).await?;
    Ok(rows
        .into_iter()
        .map(|(s, u)| (ShopperId::from(s), u))
        .collect())
}

/// The program's campaigns (any principal of the city: shoppers see what is on sale).
pub async fn list_campaigns(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Vec<PremiumCampaign>, AppError> {
    crate::features::directory::get_program(app, who, program).await?;
    let rows = store::list_campaigns(&app.db, program).await?;
    Ok(rows.into_iter().map(PremiumCampaign::from).collect())
}

/// Sells premium sets at the counter (operator staff take the cash): the paid part comes from
/// the issuer float as coin, the premium from the city subsidy as premium, each in its own lot.
pub async fn buy_premium_sets(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign: PremiumCampaignId,
    req: PurchaseRequest,
    idem: Idempotency,
) -> Result<Answer<MovementResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    if !(1..=UNITS_PER_PERSON_MAX).contains(&req.units) {
        return Err(PremiumRefusal::InvalidUnits("units").into());
    }
    // Buyers not yet admitted are refused here, on the read pool: the rush in front of the
    // waiting room never reaches the writer the town's payments share.
    waiting_room::precheck(app, program, campaign, req.shopper_id, req.ticket_id).await?;
    // The sale's lane: a sale day's purchases take a bounded share of each batch, so the
    // town's payments are not held back behind them.
    app.writer
        .sale()
        .answer(Some(idem), move |w| {
            Box::pin(buy_in(w, who, program, campaign, req))
        })
        .await
}

pub async fn buy_in(
    w: &mut Work,
    who: Principal,
    program_id: ProgramId,
    campaign_id: PremiumCampaignId,
    req: PurchaseRequest,
) -> Result<Done<MovementResponse>, AppError> {
    let (_, settings) = program_in_city(&mut w.tx, &who, program_id).await?;
    let campaign = campaign_in(w, program_id, campaign_id).await?;
    shopper_in_city(w, &who, req.shopper_id).await?;
    crate::features::directory::refuse_blocked_tx(&mut w.tx, req.shopper_id).await?;
    if w.now < campaign.sale_starts_at || w.now >= campaign.sale_ends_at {
        return Err(PremiumRefusal::CampaignNotOnSale.into());
    }
    // The budget first, from the campaign's own counter (O(1)): on a sale day most late
    // requests end here.
    let left_yen = campaign.budget_yen - campaign.premium_granted_yen;
    if left_yen < campaign.premium_yen {
        return Err(PremiumRefusal::CampaignSoldOut.into());
    }
    waiting_room::check_in(w, &campaign, req.shopper_id, req.ticket_id).await?;
    let units = i64::from(req.units);
    let allowed = allowance(w, &campaign, req.shopper_id).await?;
    let held_units = store::units_held(&mut w.tx, campaign_id, req.shopper_id).await?;
    if held_units + units > i64::from(allowed) {
        return Err(PremiumRefusal::SetLimitReached(allowed, held_units).into());
    }
    let price = campaign
        .price_yen
        .checked_mul(units)
        .filter(|v| *v <= AMOUNT_MAX)
        .ok_or_else(|| internal("price overflow"))?;
    let premium = campaign
        .premium_yen
        .checked_mul(units)
        .filter(|v| *v <= AMOUNT_MAX)
        .ok_or_else(|| internal("premium overflow"))?;
    if premium > left_yen {
        let sets_left = left_yen / campaign.premium_yen;
        return Err(PremiumRefusal::CampaignBudgetExhausted(sets_left).into());
    }
    let held = yen_held(w, program_id, req.shopper_id).await?;
    let after = Yen::sum([held, Yen::new(price), Yen::new(premium)]).map_err(internal)?;
    if after > Yen::new(settings.holding_cap_yen) {
        return Err(
            crate::features::payments::PaymentRefusal::HoldingCapExceeded(settings.holding_cap_yen)
                .into(),
        );
    }
    let mut expiry = credit_expiry(&settings, w.now)?;
    if let Some(d) = campaign.premium_expires_on {
        expiry.premium = Some(d);
    }
    let coin = wallet(w, program_id, req.shopper_id, Asset::Coin).await?;
    let prem = wallet(w, program_id, req.shopper_id, Asset::Premium).await?;
    let float = ledger_store::ensure_account(
        &mut w.tx,
        program_id,
        AccountKind::IssuerFloat,
        Asset::Coin,
        None,
    )
    .await?;
    let subsidy = ledger_store::ensure_account(
        &mut w.tx,
        program_id,
        AccountKind::CitySubsidy,
        Asset::Premium,
        None,
    )
    .await?;
    let entry = Entry::new(vec![
        Leg {
            account: float.id,
            asset: Asset::Coin,
            amount: -price,
        },
        Leg {
            account: coin.id,
            asset: Asset::Coin,
            amount: price,
        },
        Leg {
            account: subsidy.id,
            asset: Asset::Premium,
            amount: -premium,
        },
        Leg {
            account: prem.id,
            asset: Asset::Premium,
            amount: premium,
        },
    ])
    .map_err(internal)?;
    let posting = Posting {
        program: program_id,
        kind: "premium_sale",
        initiated_by: who.scope_id(),
        memo: Some(&campaign.name),
        reverses: None,
        lots: Lots::Normal(expiry),
    };
    let accounts: [&Account; 4] = [&float, &coin, &subsidy, &prem];
    let id = post(w, &posting, &entry, &accounts).await?;
    let purchase = Purchase {
        transaction_id: id,
        campaign_id,
        shopper_id: req.shopper_id,
        units: req.units,
        price_yen: price,
        premium_yen: premium,
        created_at: w.now,
    };
    store::insert_purchase(&mut w.tx, &purchase).await?;
    if !store::count_sale(&mut w.tx, campaign_id, units, premium).await? {
        // The check above read the same row in this transaction: a miss is a bug.
        return Err(internal("premium budget counter disagrees with its check"));
    }
    let total = Yen::new(price + premium);
    movement_done(w, id, "premium_sale", program_id, req.shopper_id, total).await
}

/// How many sets a shopper may hold of a campaign now: the per-person limit of a first-come
/// sale; in a lottery sale, a winner's sets within their purchase period, and the
/// per-person limit once the unclaimed sets are open to all.
async fn allowance(
    w: &mut Work,
    campaign: &PremiumCampaignRow,
    shopper: ShopperId,
) -> Result<i32, AppError> {
    if campaign.sale_mode != SALE_MODE_LOTTERY {
        return Ok(campaign.units_per_person_max);
    }
    let entitled = store::entitlement(&mut w.tx, campaign.id, shopper).await?;
    if let Some(e) = &entitled
        && e.buy_from <= w.now
        && w.now < e.buy_until
    {
        return Ok(e.units.min(campaign.units_per_person_max));
    }
    if campaign.first_come_from.is_some_and(|t| t <= w.now) {
        return Ok(campaign.units_per_person_max);
    }
    match entitled {
        Some(e) if w.now >= e.buy_until => Err(PremiumRefusal::PurchasePeriodOver(
            e.buy_until
                .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
        )
        .into()),
        _ => Err(PremiumRefusal::LotteryWinnersOnly.into()),
    }
}

/// A charge paid by bank transfer, delivered by the bank integration (operator staff token).
pub async fn bank_charge(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: BankChargeRequest,
    body_hash: Vec<u8>,
) -> Result<Answer<MovementResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let reference = req.bank_reference.trim();
    if reference.is_empty()
        || reference.len() > 64
        || !reference.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(PremiumRefusal::InvalidBankReference.into());
    }
    // Scoped to the program, not the caller: a reference is the bank's, unique per account.
    let idem = Idempotency {
        scope: program.0,
        key: format!("bank:{reference}"),
        request_hash: body_hash,
    };
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                let (p, settings) = program_in_city(&mut w.tx, &who, program).await?;
                if p.kind != ProgramKind::Currency {
                    return Err(
                        Common::WrongProgramKind("charges are for currency programs").into(),
                    );
                }
                shopper_in_city(w, &who, req.shopper_id).await?;
                settings.check_charge(req.amount.get()).map_err(|m| {
                    crate::features::payments::PaymentRefusal::InvalidChargeAmount(m.to_string())
                })?;
                charge_wallet_done(
                    w,
                    who.scope_id(),
                    program,
                    &settings,
                    req.shopper_id,
                    req.amount.get(),
                    "bank_charge",
                )
                .await
            })
        })
        .await
}

/// Premium reconciliation for the city: sold, granted, spent, expired, outstanding (staff).
pub async fn premium_reconciliation(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<PremiumFigures, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    crate::features::directory::get_program(app, who, program).await?;
    Ok(store::premium_figures(&app.db, program).await?.into())
}

/// 払戻し: handing a shopper's paid balance back in cash is banned in principle; the exceptions
/// are approved by an operator admin (or city admin), and each is logged as a `cash_out`
/// transaction carrying the reason and the approver.
pub async fn cash_out_exception(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: CashOutRequest,
    idem: Idempotency,
) -> Result<Answer<MovementResponse>, AppError> {
    let approver = matches!(
        who,
        Principal::Staff {
            role: machipay_domain::auth::Role::Admin,
            ..
        }
    ) && who.can(Capability::OperateProgram);
    if !approver {
        return Err(PremiumRefusal::CashOutNotAllowed.into());
    }
    let len = req.reason.trim().chars().count();
    if len == 0 || req.reason.chars().count() > 200 {
        return Err(Common::InvalidReason.into());
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                let (p, _) = program_in_city(&mut w.tx, &who, program).await?;
                if p.kind != ProgramKind::Currency {
                    return Err(
                        Common::WrongProgramKind("cash-out is for currency programs").into(),
                    );
                }
                shopper_in_city(w, &who, req.shopper_id).await?;
                let coin = wallet(w, program, req.shopper_id, Asset::Coin).await?;
                let float = ledger_store::ensure_account(
                    &mut w.tx,
                    program,
                    AccountKind::IssuerFloat,
                    Asset::Coin,
                    None,
                )
                .await?;
                let entry = Entry::transfer(coin.id, float.id, Asset::Coin, req.amount.get())
                    .map_err(internal)?;
                let memo = format!("払戻し (approved exception): {}", req.reason.trim());
                let posting = Posting {
                    program,
                    kind: "cash_out",
                    initiated_by: who.scope_id(),
                    memo: Some(&memo),
                    reverses: None,
                    lots: Lots::Normal(crate::writer::posting::CreditExpiry::NEVER),
                };
                let id = post(w, &posting, &entry, &[&coin, &float]).await?;
                let amount = Yen::new(req.amount.get());
                movement_done(w, id, "cash_out", program, req.shopper_id, amount).await
            })
        })
        .await
}
