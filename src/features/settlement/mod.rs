//! Settlement: a run per program and closing date computes each store's immutable statement
//! from the postings on its Merchant accounts not yet settled, marks those transactions
//! settled by the run (exactly once, by a primary key), and yields the 全銀 総合振込 file.
//! Confirming the run as paid posts the payouts through the writer.

pub(crate) mod http;
pub(crate) mod store;

use chrono::{Days, NaiveDate};

pub use crate::features::settlement::http::{RunRequest, RunView, StatementView};

use crate::app::App;
use crate::error::AppError;
use crate::error::internal;
use crate::features::settlement::store::{RunRow, StatementRow};
use crate::features::{program_in_city, program_in_city_on};
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{Account, ensure_account};
use crate::writer::{Answer, Done, Idempotency, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::ledger::kinds::PAYOUT_KIND;
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};
use machipay_domain::money::{PointValue, Points, Rate, Yen};
use machipay_domain::program::PayoutSender;
use machipay_domain::registry::BankAccountView;
use machipay_domain::settlement::{
    self as settlement_rules, StatementFigures, Takings, TransferDateError, statement,
};
use machipay_domain::zengin::build_sogo_furikomi;

/// Business days from the closing date to the transfer date when the run does not say.
pub const TRANSFER_DAYS_DEFAULT: u32 = 5;
/// Runs and statements listed at most.
pub const LIST_MAX: i64 = 200;

crate::refusals! {
    /// What settlement refuses.
    pub enum SettlementRefusal {
        /// The date is not a closing day under the settings in force on it.
        NotAClosingDay(NaiveDate) => Unprocessable, "not_a_closing_day", "{0} is not a closing day of this program";
        /// The cycle's closing date has not ended yet (JST).
        CycleStillOpen(NaiveDate) => Conflict, "cycle_still_open", "the cycle closing {0} has not ended yet (JST)";
        /// A later cycle has been run: (the later closing date, the one asked for).
        CycleAlreadyPassed(NaiveDate, NaiveDate) => Conflict, "cycle_already_passed", "the cycle closing {0} has already been run; {1} is before it";
        /// The transfer date is not after the closing date.
        InvalidTransferDate(String) => BadRequest, "invalid_transfer_date", "{0}";
        /// The transfer date is a weekend, public holiday or bank holiday.
        TransferDateNotBusinessDay(String) => BadRequest, "transfer_date_not_business_day", "{0}";
        /// The transfer date is not after today (JST).
        TransferDateInPast(String) => Unprocessable, "transfer_date_in_past", "{0}";
        /// The dates fall in a year the holiday data does not cover.
        HolidayDataNotCovered(String) => Unprocessable, "holiday_data_not_covered", "{0}";
        /// The run was made without a payout_sender setting: no transfer file.
        PayoutSenderMissing => Unprocessable, "payout_sender_missing", "the program had no payout_sender setting when this run was made";
        /// The run has no payable statement: no transfer file.
        NothingToPay => Unprocessable, "nothing_to_pay", "this run has no payable statement";
        /// The transfer file cannot hold a field (the text says which).
        ZenginRefused(String) => Unprocessable, "zengin_refused", "{0}";
        /// The two-person rule: whoever ran a cycle cannot also confirm its payouts.
        SecondPersonRequired => Conflict, "second_person_required", "a run is confirmed by someone other than the staff member who ran it";
    }
}

/// Runs the cycle closing on `closing_date` (operators), or returns its run if it exists:
/// running a cycle twice changes nothing.
pub async fn run_cycle(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: RunRequest,
) -> Result<Answer<RunView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let answer = app
        .writer
        .bulk()
        .answer(None, move |w| {
            Box::pin(run_with_default_in(
                w,
                who,
                program,
                req.closing_date,
                req.transfer_date,
            ))
        })
        .await;
    let metrics = crate::metrics::get();
    match &answer {
        Ok(Answer::Fresh(done)) => {
            metrics.settlement_runs.with_label_values(&["ok"]).inc();
            if done.created {
                let made = done.value.payable_statements + done.value.held_statements;
                metrics.settlement_statements.inc_by(made as u64);
            }
        }
        Ok(Answer::Replay(_)) => metrics.settlement_runs.with_label_values(&["ok"]).inc(),
        Err(AppError::Rejected { .. }) => metrics
            .settlement_runs
            .with_label_values(&["refused"])
            .inc(),
        Err(_) => metrics.settlement_runs.with_label_values(&["failed"]).inc(),
    }
    answer
}

/// The run itself, on the writer, with a given transfer date (public so tests can run a
/// cycle with the job's clock set).
pub async fn run_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    closing: NaiveDate,
    transfer_date: NaiveDate,
) -> Result<Done<RunView>, AppError> {
    run_with_default_in(w, who, program, closing, Some(transfer_date)).await
}

/// The run on the writer. The cycle's rules (closing days, fee rate, hold days, point value)
/// are the settings in force on the closing date, so a late run computes what an on-time
/// run would have; the payout sender (whose account pays) is today's. The transfer date is
/// decided at the job's clock: see `machipay_domain::settlement::transfer_date`.
pub async fn run_with_default_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    closing: NaiveDate,
    asked_transfer_date: Option<NaiveDate>,
) -> Result<Done<RunView>, AppError> {
    let (row, settings) = program_in_city_on(&mut w.tx, &who, program, closing).await?;
    if !settings.closing().closes_on(closing) {
        return Err(SettlementRefusal::NotAClosingDay(closing).into());
    }
    let before = jst_end_of_day_utc(closing);
    if before > w.now {
        return Err(SettlementRefusal::CycleStillOpen(closing).into());
    }
    if let Some(run) = store::find_run_tx(&mut w.tx, program, closing).await? {
        let statements = store::statements_tx(&mut w.tx, run.id).await?;
        return Ok(Done::ok(RunView::new(run, &statements)?));
    }
    if let Some(later) = store::latest_run_tx(&mut w.tx, program).await?
        && later.closing_date > closing
    {
        return Err(SettlementRefusal::CycleAlreadyPassed(later.closing_date, closing).into());
    }
    let rules = CycleRules {
        fee: settings.cashout_fee(),
        point_value: settings.point_value(row.kind),
        hold_days: u64::try_from(settings.payout_hold_days).unwrap_or(0),
    };
    let today = jst_date(w.now);
    let transfer_date =
        settlement_rules::transfer_date(closing, asked_transfer_date, today, TRANSFER_DAYS_DEFAULT)
            .map_err(transfer_date_error)?;
    let (_, current) = program_in_city_on(&mut w.tx, &who, program, today).await?;
    let sender = current
        .payout_sender
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(internal)?;
    let run = RunRow {
        id: SettlementRunId::new(),
        program_id: program,
        closing_date: closing,
        transfer_date,
        status: "calculated".into(),
        sender,
        created_by: who.scope_id(),
        created_at: w.now,
        confirmed_by: None,
        confirmed_at: None,
    };
    store::insert_run(&mut w.tx, &run, who.scope_id()).await?;
    let change = crate::features::audit::Change {
        action: "settlement_run",
        subject_kind: "settlement_run",
        subject_id: run.id.0,
        detail: serde_json::json!({
            "program_id": program, "closing_date": closing, "transfer_date": transfer_date,
        }),
    };
    crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
    let mut statements = Vec::new();
    for (merchant, takings) in store::unsettled_takings_tx(&mut w.tx, program, before).await? {
        let s = statement_for(w, &run, &rules, merchant, &takings).await?;
        store::insert_statement(&mut w.tx, &s).await?;
        if s.status == "payable" {
            store::settle_transactions(&mut w.tx, run.id, program, merchant, before).await?;
        }
        statements.push(s);
    }
    Ok(Done::ok(RunView::new(run, &statements)?))
}

/// The rules of a cycle, from the settings in force on its closing date.
struct CycleRules {
    fee: Rate,
    /// ¥1 in a currency program (`ProgramSettings::point_value`); the statement records it.
    point_value: PointValue,
    hold_days: u64,
}

/// A store's statement in a run; held (settling nothing) for a new store within the hold
/// period, a store without a bank account, or nothing payable.
async fn statement_for(
    w: &mut Work,
    run: &RunRow,
    rules: &CycleRules,
    merchant: MerchantId,
    t: &Takings,
) -> Result<StatementRow, AppError> {
    let figures = statement(t, rules.fee, rules.point_value).map_err(internal)?;
    let joined =
        crate::features::merchants::first_joined_tx(&mut w.tx, run.program_id, merchant).await?;
    let bank = crate::features::merchants::current_bank_account_tx(&mut w.tx, merchant).await?;
    let hold_days = rules.hold_days;
    let is_new = joined.is_some_and(|j| {
        j.checked_add_days(Days::new(hold_days))
            .is_some_and(|release| release > run.closing_date)
    });
    let hold_reason = if hold_days > 0 && is_new {
        Some("new_store")
    } else if bank.is_none() {
        Some("no_bank_account")
    } else if figures.net_payable_yen <= Yen::ZERO {
        Some("nothing_payable")
    } else {
        None
    };
    row(run, merchant, t, &figures, rules, hold_reason, bank)
}

fn row(
    run: &RunRow,
    merchant: MerchantId,
    t: &Takings,
    f: &StatementFigures,
    rules: &CycleRules,
    hold_reason: Option<&str>,
    bank: Option<BankAccountView>,
) -> Result<StatementRow, AppError> {
    Ok(StatementRow {
        id: StatementId::new(),
        run_id: run.id,
        merchant_id: merchant,
        status: if hold_reason.is_some() {
            "held"
        } else {
            "payable"
        }
        .into(),
        hold_reason: hold_reason.map(str::to_owned),
        transactions: t.transactions,
        payments_yen: f.payments_yen.get(),
        refunds_yen: f.refunds_yen.get(),
        coin_net: t.coin_net.get(),
        premium_net: t.premium_net.get(),
        points_received: f.points_received.get(),
        points_charged: f.points_charged.get(),
        point_value_yen: rules.point_value.get().to_string(),
        points_reimbursed_yen: f.points_reimbursed_yen.get(),
        points_charged_yen: f.points_charged_yen.get(),
        fee_yen: f.fee_yen.get(),
        net_payable_yen: f.net_payable_yen.get(),
        bank_account: bank
            .map(|b| serde_json::to_string(&b))
            .transpose()
            .map_err(internal)?,
        created_at: run.created_at,
    })
}

/// The run, if it belongs to the program and the program to the caller's city.
async fn run_of(
    app: &App,
    who: &Principal,
    program: ProgramId,
    run: SettlementRunId,
) -> Result<RunRow, AppError> {
    crate::features::merchants::program_of_city(app, who, program).await?;
    store::get_run(&app.db, run)
        .await?
        .filter(|r| r.program_id == program)
        .ok_or_else(|| AppError::not_found("settlement run"))
}

pub async fn list_runs(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Vec<RunView>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    crate::features::merchants::program_of_city(app, &who, program).await?;
    let mut out = Vec::new();
    for run in store::list_runs(&app.db, program, LIST_MAX).await? {
        let statements = store::statements(&app.db, run.id).await?;
        out.push(RunView::new(run, &statements)?);
    }
    Ok(out)
}

/// A run's statements (staff).
pub async fn statements(
    app: &App,
    who: Principal,
    program: ProgramId,
    run: SettlementRunId,
) -> Result<Vec<StatementView>, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    let run = run_of(app, &who, program, run).await?;
    store::statements(&app.db, run.id)
        .await?
        .into_iter()
        .map(StatementView::try_from)
        .collect()
}

/// A store's own statements, newest first (staff, the store's owner and devices).
pub async fn merchant_statements(
    app: &App,
    who: Principal,
    merchant: MerchantId,
) -> Result<Vec<StatementView>, AppError> {
    crate::features::directory::get_merchant(app, who, merchant).await?;
    let runs = store::merchant_run_dates(&app.db, merchant, LIST_MAX).await?;
    store::merchant_statements(&app.db, merchant, LIST_MAX)
        .await?
        .into_iter()
        .map(|row| {
            let dates = runs.iter().find(|(run, _, _)| *run == row.run_id.0);
            let mut view = StatementView::try_from(row)?;
            view.closing_date = dates.map(|d| d.1);
            view.transfer_date = dates.map(|d| d.2);
            Ok(view)
        })
        .collect()
}

/// The run's 全銀 総合振込 file: one data record per payable statement (operators).
pub async fn zengin_file(
    app: &App,
    who: Principal,
    program: ProgramId,
    run: SettlementRunId,
) -> Result<(RunRow, Vec<u8>), AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let run = run_of(app, &who, program, run).await?;
    let sender: PayoutSender = match &run.sender {
        Some(text) => serde_json::from_str(text).map_err(internal)?,
        None => return Err(SettlementRefusal::PayoutSenderMissing.into()),
    };
    let sender = sender.parse().map_err(internal)?;
    let mut payees = Vec::new();
    for s in store::statements(&app.db, run.id).await? {
        if s.status != "payable" {
            continue;
        }
        let view = StatementView::try_from(s)?;
        let account = view
            .bank_account
            .ok_or_else(|| AppError::Internal("payable statement without account".into()))?
            .to_account()
            .map_err(internal)?;
        payees.push((account, view.net_payable_yen.get(), None));
    }
    if payees.is_empty() {
        return Err(SettlementRefusal::NothingToPay.into());
    }
    let file = build_sogo_furikomi(&sender, run.transfer_date, &payees)
        .map_err(|e| SettlementRefusal::ZenginRefused(e.to_string()))?;
    Ok((run, file))
}

/// Confirms a run as paid (operators): posts each payable statement's payout, once.
/// Confirming a paid run again answers the run and posts nothing.
pub async fn confirm(
    app: &App,
    who: Principal,
    program: ProgramId,
    run: SettlementRunId,
    idem: Idempotency,
) -> Result<Answer<RunView>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    app.writer
        .bulk()
        .answer(Some(idem), move |w| {
            Box::pin(confirm_in(w, who, program, run))
        })
        .await
}

pub async fn confirm_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    id: SettlementRunId,
) -> Result<Done<RunView>, AppError> {
    program_in_city(&mut w.tx, &who, program).await?;
    let run = store::get_run_tx(&mut w.tx, id)
        .await?
        .filter(|r| r.program_id == program)
        .ok_or_else(|| AppError::not_found("settlement run"))?;
    let statements = store::statements_tx(&mut w.tx, id).await?;
    if run.status == "paid" {
        return Ok(Done::ok(RunView::new(run, &statements)?));
    }
    // The two-person rule: the payouts leave only on a second person's approval.
    if run.created_by == who.scope_id() {
        return Err(SettlementRefusal::SecondPersonRequired.into());
    }
    let memo = format!("settlement run {id}");
    for s in statements.iter().filter(|s| s.status == "payable") {
        pay_out(w, &who, program, s, &memo).await?;
    }
    store::mark_paid(&mut w.tx, id, who.scope_id(), w.now).await?;
    let change = crate::features::audit::Change {
        action: "settlement_confirmed",
        subject_kind: "settlement_run",
        subject_id: id.0,
        detail: serde_json::json!({
            "program_id": program, "closing_date": run.closing_date, "ran_by": run.created_by,
        }),
    };
    crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
    let run = RunRow {
        status: "paid".into(),
        confirmed_by: Some(who.scope_id()),
        confirmed_at: Some(w.now),
        ..run
    };
    Ok(Done::ok(RunView::new(run, &statements)?))
}

/// Posts one store's payout: its settled coin to the issuer float (less the fee, to fee
/// income), premium to the city subsidy, points to points issuance.
async fn pay_out(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
    s: &StatementRow,
    memo: &str,
) -> Result<(), AppError> {
    let owner = Some(s.merchant_id.0);
    let points_net = Points::new(s.points_received)
        .checked_sub(Points::new(s.points_charged))
        .map_err(internal)?
        .get();
    let float_yen = Yen::new(s.coin_net)
        .checked_sub(Yen::new(s.fee_yen))
        .map_err(internal)?
        .get();
    let plan: [(AccountKind, Asset, Option<uuid::Uuid>, i64); 7] = [
        (AccountKind::Merchant, Asset::Coin, owner, -s.coin_net),
        (AccountKind::IssuerFloat, Asset::Coin, None, float_yen),
        (AccountKind::FeeIncome, Asset::Coin, None, s.fee_yen),
        (AccountKind::Merchant, Asset::Premium, owner, -s.premium_net),
        (
            AccountKind::CitySubsidy,
            Asset::Premium,
            None,
            s.premium_net,
        ),
        (AccountKind::Merchant, Asset::Points, owner, -points_net),
        (AccountKind::PointsIssuance, Asset::Points, None, points_net),
    ];
    let mut legs = Vec::new();
    let mut accounts: Vec<Account> = Vec::new();
    for (kind, asset, owner, amount) in plan {
        if amount == 0 {
            continue;
        }
        let account = ensure_account(&mut w.tx, program, kind, asset, owner).await?;
        legs.push(Leg {
            account: account.id,
            asset,
            amount,
        });
        accounts.push(account);
    }
    if legs.is_empty() {
        return Ok(());
    }
    let entry = Entry::new(legs).map_err(internal)?;
    let posting = Posting {
        program,
        kind: PAYOUT_KIND,
        initiated_by: who.scope_id(),
        memo: Some(memo),
        reverses: None,
        lots: Lots::Normal(CreditExpiry::NEVER),
    };
    let refs: Vec<&Account> = accounts.iter().collect();
    post(w, &posting, &entry, &refs).await?;
    Ok(())
}

/// Statements as CSV for Excel: UTF-8 with a BOM, CRLF, Japanese headers.
pub fn statements_csv(rows: &[StatementView]) -> Result<Vec<u8>, AppError> {
    let header = [
        "明細ID",
        "店舗ID",
        "状態",
        "保留理由",
        "取引件数",
        "決済受取額",
        "返金額",
        "換金手数料",
        "受取ポイント",
        "負担ポイント",
        "ポイント精算額",
        "ポイント負担額",
        "振込額",
    ];
    let records = rows.iter().map(|s| {
        vec![
            s.id.to_string(),
            s.merchant_id.to_string(),
            s.status.clone(),
            s.hold_reason.clone().unwrap_or_default(),
            s.transactions.to_string(),
            s.payments_yen.to_string(),
            s.refunds_yen.to_string(),
            s.fee_yen.to_string(),
            s.points_received.to_string(),
            s.points_charged.to_string(),
            s.points_reimbursed_yen.to_string(),
            s.points_charged_yen.to_string(),
            s.net_payable_yen.to_string(),
        ]
    });
    crate::http::render::csv::csv_for_excel(&header, records)
}

/// Each refusal of a transfer date by name.
fn transfer_date_error(e: TransferDateError) -> SettlementRefusal {
    let text = e.to_string();
    match e {
        TransferDateError::NotAfterClosing { .. } => SettlementRefusal::InvalidTransferDate(text),
        TransferDateError::NotBusinessDay(_) => SettlementRefusal::TransferDateNotBusinessDay(text),
        TransferDateError::InPast { .. } => SettlementRefusal::TransferDateInPast(text),
        TransferDateError::NotCovered(_) => SettlementRefusal::HolidayDataNotCovered(text),
    }
}
