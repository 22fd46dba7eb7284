//! Merchant registry use-cases: applications and their approval, store profiles and bank
//! accounts, participation history per program, bulk import of a city's store list, and the
//! city's store-count targets. Every write goes through the writer.

pub mod api;
mod audit;
pub(crate) mod http;
pub mod import;
pub(crate) mod participation;
pub(crate) mod store;

use chrono::NaiveDate;

use crate::app::App;
use crate::db::Db;
use crate::error::AppError;
use crate::error::internal;
use crate::features::directory::{
    self as dir, Issued, MerchantRow as Merchant, PrincipalKind, check_name,
};
pub(crate) use crate::features::merchants::store::ParticipationEventRow;
pub(crate) use crate::features::merchants::store::warm_participation;
use crate::features::merchants::store::{ApplicationRow, TargetRow};
use crate::writer::{Answer, Done, Work, WriteTx};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{FiscalYear, jst_date};
use machipay_domain::ids::*;
use machipay_domain::registry::{
    BankAccountInput, BankAccountView, ParticipationKind, Profile, REASON_LEN_MAX, RegistryError,
    TARGET_STORES_MAX, check_event,
};

pub use api::*;

crate::refusals! {
    /// What the merchant registry refuses.
    pub enum MerchantRefusal {
        /// A profile field out of its limits (or a 規模 the import does not know).
        InvalidProfile(String) => BadRequest, "invalid_profile", "{0}";
        /// A bank account a bank would refuse.
        InvalidBankAccount(String) => BadRequest, "invalid_bank_account", "{0}";
        MissingReason => BadRequest, "missing_reason", "a rejection needs a reason";
        /// The application was approved or rejected already (its status).
        ApplicationDecided(String) => Conflict, "application_decided", "this application was already {0}";
        /// The city's store number is another store's.
        ExternalRefTaken(String) => Conflict, "external_ref_taken", "store number {0} belongs to another store";
        /// The event does not follow the store's history (domain `check_event`).
        InvalidParticipationEvent(String) => Unprocessable, "invalid_participation_event", "{0}";
        /// The store is suspended or has left the program (the kind).
        NotParticipating(&'static str) => Unprocessable, "merchant_not_participating", "this store is {0} in this program";
        /// A target too many 年度 ahead (the most).
        TargetYearOutOfRange(i32) => BadRequest, "target_year_out_of_range", "targets are set at most {0} 年度 ahead";
        /// A store count out of range (the most).
        InvalidTarget(i64) => BadRequest, "invalid_target", "stores must be 0 to {0}";
        /// An import's join date after today (the date, today in Japan).
        InvalidJoinedOn(NaiveDate, NaiveDate) => BadRequest, "invalid_joined_on", "joined_on {0} is in the future (today is {1} in Japan)";
        MissingExternalRef => BadRequest, "missing_external_ref", "external_ref is required";
    }
}

/// Applications listed at most.
pub const APPLICATIONS_LIST_MAX: i64 = 200;

pub(crate) fn invalid(e: RegistryError) -> AppError {
    match e {
        RegistryError::Text { .. } => MerchantRefusal::InvalidProfile(e.to_string()),
        RegistryError::Bank(_) | RegistryError::AccountType(_) => {
            MerchantRefusal::InvalidBankAccount(e.to_string())
        }
    }
    .into()
}

fn check_reason(reason: Option<&str>) -> Result<(), AppError> {
    match reason {
        Some(r) if r.trim().is_empty() || r.chars().count() > REASON_LEN_MAX => {
            Err(crate::error::Common::InvalidReason.into())
        }
        _ => Ok(()),
    }
}

/// Parses a bank account at the edge into its stored (Zengin) form.
pub fn bank_view(input: &BankAccountInput) -> Result<BankAccountView, AppError> {
    input
        .parse()
        .map(|a| BankAccountView::from(&a))
        .map_err(invalid)
}

/// A store of the caller's city, read in the write transaction; otherwise 404.
pub(crate) async fn merchant_in_city(
    w: &mut Work,
    who: &Principal,
    id: MerchantId,
) -> Result<Merchant, AppError> {
    dir::merchant_tx(&mut w.tx, id)
        .await?
        .filter(|m| m.city_id == who.city())
        .ok_or_else(|| AppError::not_found("merchant"))
}

/// A program of the caller's city, read outside the writer; otherwise 404.
pub(crate) async fn program_of_city(
    app: &App,
    who: &Principal,
    id: ProgramId,
) -> Result<dir::ProgramRow, AppError> {
    dir::program(&app.db, id)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("program"))
}

/// The first day `merchant` joined `program`, read in the write transaction (settlement's
/// hold for new stores).
pub(crate) async fn first_joined_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Option<NaiveDate>, AppError> {
    Ok(store::first_joined_tx(tx, program, merchant).await?)
}

/// The store's bank account in force, read in the write transaction (settlement's transfers).
pub(crate) async fn current_bank_account_tx(
    tx: &mut WriteTx,
    merchant: MerchantId,
) -> Result<Option<BankAccountView>, AppError> {
    Ok(store::current_bank_account_tx(tx, merchant).await?)
}

/// The program's participation events effective on or before `until`.
pub(crate) async fn participation_events_until(
    db: &Db,
    program: ProgramId,
    until: NaiveDate,
) -> Result<Vec<ParticipationEventRow>, AppError> {
    Ok(store::events_until(db, program, until).await?)
}

/// The program's registration targets, every version.
pub(crate) async fn program_targets(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<TargetRow>, AppError> {
    Ok(store::targets(db, program).await?)
}

/// The store profiles of a city.
pub(crate) async fn city_profiles(
    db: &Db,
    city: CityId,
) -> Result<Vec<(MerchantId, Profile)>, AppError> {
    Ok(store::city_profiles(db, city).await?)
}

/// Staff of the city, or the store's own owner and devices, may read a store's records.
async fn readable_merchant(app: &App, who: &Principal, id: MerchantId) -> Result<(), AppError> {
    let visible = dir::merchant(&app.db, id)
        .await?
        .is_some_and(|m| m.city_id == who.city());
    if visible && (who.can(Capability::ViewCity) || who.acts_for_merchant(id)) {
        Ok(())
    } else {
        Err(AppError::not_found("merchant"))
    }
}

/// An operator enters a store's application (from its form); nothing can pay it until approved.
pub async fn submit_application(
    app: &App,
    who: Principal,
    req: ApplicationRequest,
) -> Result<Answer<ApplicationView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    check_name("name", &req.name)?;
    req.profile.validate().map_err(invalid)?;
    let bank = req.bank_account.as_ref().map(bank_view).transpose()?;
    if let Some(p) = req.program_id {
        program_of_city(app, &who, p).await?;
    }
    let row = ApplicationRow {
        id: ApplicationId::new(),
        city_id: who.city(),
        name: req.name,
        profile: serde_json::to_string(&req.profile).map_err(internal)?,
        bank_account: bank
            .map(|b| serde_json::to_string(&b))
            .transpose()
            .map_err(internal)?,
        program_id: req.program_id.map(|p| p.0),
        status: "pending".into(),
        reason: None,
        merchant_id: None,
        created_at: machipay_domain::calendar::now(),
        decided_at: None,
    };
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let row = ApplicationRow {
                    created_at: w.now,
                    ..row
                };
                store::insert_application(&mut w.tx, &row, who.scope_id()).await?;
                Ok(Done::created(ApplicationView::try_from(row)?))
            })
        })
        .await
}

pub async fn list_applications(
    app: &App,
    who: Principal,
) -> Result<Vec<ApplicationView>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    store::list_applications(&app.db, who.city(), APPLICATIONS_LIST_MAX)
        .await?
        .into_iter()
        .map(ApplicationView::try_from)
        .collect()
}

/// An operator approves (creating the store, its profile, bank account and program join)
/// or rejects a pending application. A decided application answers 409.
pub async fn decide_application(
    app: &App,
    who: Principal,
    id: ApplicationId,
    req: DecisionRequest,
) -> Result<Answer<DecisionResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    check_reason(req.reason.as_deref())?;
    if req.decision == Decision::Reject && req.reason.is_none() {
        return Err(MerchantRefusal::MissingReason.into());
    }
    app.writer
        .answer(None, move |w| Box::pin(decide_in(w, who, id, req)))
        .await
}

async fn decide_in(
    w: &mut Work,
    who: Principal,
    id: ApplicationId,
    req: DecisionRequest,
) -> Result<Done<DecisionResponse>, AppError> {
    let row = store::get_application_tx(&mut w.tx, id)
        .await?
        .filter(|a| a.city_id == who.city())
        .ok_or_else(|| AppError::not_found("application"))?;
    if row.status != "pending" {
        return Err(MerchantRefusal::ApplicationDecided(row.status).into());
    }
    let view = ApplicationView::try_from(row)?;
    let (status, merchant) = match req.decision {
        Decision::Reject => ("rejected", None),
        Decision::Approve => {
            let store = StoreRecord {
                name: view.name.clone(),
                profile: view.profile.clone(),
                bank: view.bank_account.clone(),
            };
            let issued = create_store(w, &who, &store).await?;
            if let Some(program) = view.program_id {
                let joined_on = req.joined_on.unwrap_or_else(|| jst_date(w.now));
                join(w, &who, program, issued.item.id, joined_on).await?;
            }
            ("approved", Some(issued))
        }
    };
    let merchant_id = merchant.as_ref().map(|m| m.item.id);
    let change = crate::features::audit::Change {
        action: if status == "approved" {
            "application_approved"
        } else {
            "application_rejected"
        },
        subject_kind: "application",
        subject_id: id.0,
        detail: serde_json::json!({
            "name": view.name, "reason": req.reason, "merchant_id": merchant_id,
        }),
    };
    crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
    store::decide_application(
        &mut w.tx,
        id,
        status,
        req.reason.as_deref(),
        merchant_id,
        who.scope_id(),
        w.now,
    )
    .await?;
    let application = ApplicationView {
        status: status.into(),
        reason: req.reason,
        merchant_id,
        decided_at: Some(w.now),
        ..view
    };
    Ok(Done::ok(DecisionResponse {
        application,
        merchant,
    }))
}

/// What a new store is made of.
#[derive(Clone)]
struct StoreRecord {
    name: String,
    profile: Profile,
    bank: Option<BankAccountView>,
}

/// Creates an approved store with its profile, bank account and owner token.
async fn create_store(
    w: &mut Work,
    who: &Principal,
    s: &StoreRecord,
) -> Result<Issued<crate::features::directory::Merchant>, AppError> {
    if let Some(r) = &s.profile.external_ref
        && store::merchant_by_ref_tx(&mut w.tx, who.city(), r)
            .await?
            .is_some()
    {
        return Err(MerchantRefusal::ExternalRefTaken(r.clone()).into());
    }
    let merchant = Merchant {
        id: MerchantId::new(),
        city_id: who.city(),
        name: s.name.clone(),
        created_at: w.now,
    };
    dir::add_merchant_tx(&mut w.tx, &merchant).await?;
    store::upsert_profile(&mut w.tx, merchant.id, merchant.city_id, &s.profile, w.now).await?;
    if let Some(bank) = &s.bank {
        store::insert_bank_account(&mut w.tx, merchant.id, bank, who.scope_id(), w.now).await?;
    }
    let token = crate::features::directory::issue_token(
        w,
        merchant.city_id,
        PrincipalKind::MerchantOwner,
        merchant.id.0,
    )
    .await?;
    Ok(token.with(merchant.into()))
}

/// Records a join unless the store already participates (an approved store is new, so it
/// joins; imports use `import::join_if_new`, which never rejoins a store that left).
async fn join(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
    merchant: MerchantId,
    on: NaiveDate,
) -> Result<bool, AppError> {
    let latest = store::latest_event_tx(&mut w.tx, program, merchant).await?;
    if latest
        .as_ref()
        .is_some_and(|e| e.kind != ParticipationKind::Left)
    {
        return Ok(false);
    }
    record(
        w,
        who,
        program,
        merchant,
        ParticipationKind::Joined,
        on,
        None,
    )
    .await?;
    Ok(true)
}

/// Checks and inserts one participation event.
async fn record(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
    merchant: MerchantId,
    kind: ParticipationKind,
    effective_on: NaiveDate,
    reason: Option<String>,
) -> Result<ParticipationEventRow, AppError> {
    let latest = store::latest_event_tx(&mut w.tx, program, merchant).await?;
    check_event(
        kind,
        effective_on,
        latest.map(|e| (e.kind, e.effective_on)),
        jst_date(w.now),
    )
    .map_err(|e| MerchantRefusal::InvalidParticipationEvent(e.to_string()))?;
    let event = ParticipationEventRow {
        id: ParticipationEventId::new(),
        program_id: program,
        merchant_id: merchant,
        kind,
        effective_on,
        reason,
        created_at: w.now,
    };
    store::insert_event(&mut w.tx, &event, who.scope_id()).await?;
    let name = dir::merchant_tx(&mut w.tx, merchant)
        .await?
        .map(|m| m.name)
        .unwrap_or_default();
    crate::features::audit::record(&mut w.tx, who, w.now, audit::participation(&name, &event))
        .await?;
    Ok(event)
}

/// Replaces a store's profile (operators).
pub async fn put_profile(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    profile: Profile,
) -> Result<Answer<Profile>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    profile.validate().map_err(invalid)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let m = merchant_in_city(w, &who, merchant).await?;
                if let Some(r) = &profile.external_ref
                    && let Some(other) = store::merchant_by_ref_tx(&mut w.tx, m.city_id, r).await?
                    && other != merchant
                {
                    return Err(MerchantRefusal::ExternalRefTaken(r.clone()).into());
                }
                let before = store::get_profile_tx(&mut w.tx, merchant).await?;
                store::upsert_profile(&mut w.tx, merchant, m.city_id, &profile, w.now).await?;
                let change = audit::profile_change(&m.name, merchant, before.as_ref(), &profile)?;
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::ok(profile))
            })
        })
        .await
}

pub async fn get_profile(
    app: &App,
    who: Principal,
    merchant: MerchantId,
) -> Result<Profile, AppError> {
    readable_merchant(app, &who, merchant).await?;
    store::get_profile(&app.db, merchant)
        .await?
        .ok_or_else(|| AppError::not_found("profile"))
}

/// Sets a store's bank account (operators): a new version; statements keep the old one.
pub async fn put_bank_account(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    input: BankAccountInput,
) -> Result<Answer<BankAccountView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let view = bank_view(&input)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let m = merchant_in_city(w, &who, merchant).await?;
                let before = store::current_bank_account_tx(&mut w.tx, merchant).await?;
                store::insert_bank_account(&mut w.tx, merchant, &view, who.scope_id(), w.now)
                    .await?;
                let change = audit::bank_change(&m.name, merchant, before.as_ref(), &view);
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::ok(view))
            })
        })
        .await
}

/// The account in force: staff and the store's owner (not its cashier devices).
pub async fn get_bank_account(
    app: &App,
    who: Principal,
    merchant: MerchantId,
) -> Result<BankAccountView, AppError> {
    readable_merchant(app, &who, merchant).await?;
    if matches!(who, Principal::Device { .. }) {
        return Err(AppError::forbidden());
    }
    store::current_bank_account(&app.db, merchant)
        .await?
        .ok_or_else(|| AppError::not_found("bank account"))
}

/// Records a store joining, being suspended, resuming or leaving a program (operators).
pub async fn record_event(
    app: &App,
    who: Principal,
    program: ProgramId,
    merchant: MerchantId,
    req: EventRequest,
) -> Result<Answer<ParticipationEvent>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    check_reason(req.reason.as_deref())?;
    program_of_city(app, &who, program).await?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                merchant_in_city(w, &who, merchant).await?;
                let on = req.effective_on.unwrap_or_else(|| jst_date(w.now));
                let event = record(w, &who, program, merchant, req.kind, on, req.reason).await?;
                Ok(Done::created(ParticipationEvent::from(event)))
            })
        })
        .await
}

/// A store's participation history in a program (staff, and the store itself).
pub async fn history(
    app: &App,
    who: Principal,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Vec<ParticipationEvent>, AppError> {
    program_of_city(app, &who, program).await?;
    readable_merchant(app, &who, merchant).await?;
    let rows = store::history(&app.db, program, merchant).await?;
    Ok(rows.into_iter().map(ParticipationEvent::from).collect())
}

/// How many 年度 ahead of the current one a target may be set.
pub const TARGET_YEARS_AHEAD_MAX: i32 = 10;

/// Sets the store-count target of a 年度 (city admins). `fiscal_year` is "2025", "令和7年度",
/// "R7" and the like; anything else is `invalid_fiscal_year`. Every change is kept.
pub async fn set_target(
    app: &App,
    who: Principal,
    program: ProgramId,
    fiscal_year: &str,
    req: TargetRequest,
) -> Result<Answer<TargetView>, AppError> {
    if !who.can(Capability::AdministerCity) {
        return Err(AppError::forbidden());
    }
    let year: FiscalYear = fiscal_year.parse().map_err(|e| {
        crate::http::refusals::RequestRefusal::InvalidFiscalYear(format!("{fiscal_year:?}: {e}"))
    })?;
    let this_year = FiscalYear::of(machipay_domain::calendar::jst_date(chrono::Utc::now()))
        .map(FiscalYear::start_year)
        .unwrap_or(i32::MAX);
    if year.start_year() > this_year.saturating_add(TARGET_YEARS_AHEAD_MAX) {
        return Err(MerchantRefusal::TargetYearOutOfRange(TARGET_YEARS_AHEAD_MAX).into());
    }
    if !(0..=TARGET_STORES_MAX).contains(&req.stores) {
        return Err(MerchantRefusal::InvalidTarget(TARGET_STORES_MAX).into());
    }
    program_of_city(app, &who, program).await?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let row = TargetRow {
                    fiscal_year: year.start_year(),
                    stores: req.stores,
                    set_by: who.scope_id(),
                    created_at: w.now,
                };
                store::insert_target(&mut w.tx, program, &row).await?;
                Ok(Done::ok(TargetView::try_from(&row)?))
            })
        })
        .await
}

pub async fn targets(app: &App, who: Principal, program: ProgramId) -> Result<Targets, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    program_of_city(app, &who, program).await?;
    let rows = store::targets(&app.db, program).await?;
    let history = rows
        .iter()
        .map(TargetView::try_from)
        .collect::<Result<Vec<_>, _>>()?;
    let mut current: Vec<TargetView> = Vec::new();
    for t in &history {
        match current.last_mut() {
            Some(last) if last.fiscal_year == t.fiscal_year => *last = t.clone(),
            _ => current.push(t.clone()),
        }
    }
    Ok(Targets { current, history })
}
