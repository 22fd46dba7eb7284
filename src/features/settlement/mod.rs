//! Settlement: a run per program and closing date computes each store's immutable statement
//! from the postings on its Merchant accounts not yet settled, marks those transactions
//! settled by the run (exactly once, by a primary key), and yields the 全銀 総合振込 file.
//! Confirming the run as paid posts the payouts through the writer.

pub mod http;
pub mod store;

use chrono::{Days, NaiveDate};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::app::App;
use crate::error::AppError;
use crate::features::merchants::store as registry_store;
use crate::features::settlement::store::{PAYOUT_KIND, RunRow, StatementRow};
use crate::features::{program_in_city, program_in_city_on};
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{Account, ensure_account};
use crate::writer::{Idempotency, Reply, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};
use machipay_domain::program::{PayoutSender, ProgramSettings};
use machipay_domain::registry::BankAccountView;
use machipay_domain::settlement::{
    self as settlement_rules, StatementFigures, Takings, TransferDateError, statement,
};
use machipay_domain::zengin::build_sogo_furikomi;

/// Business days from the closing date to the transfer date when the run does not say.
pub const TRANSFER_DAYS_DEFAULT: u32 = 5;
/// Runs and statements listed at most.
pub const LIST_MAX: i64 = 200;

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// The cycle's closing date (a closing day under the program's settings, already ended in
    /// JST).
    pub closing_date: NaiveDate,
    /// 振込指定日: a business day (no weekend, public holiday or 12/31–1/3) after the closing
    /// date and after today (JST). Default: the fifth business day after the closing date,
    /// or for a late run that finds that day come, the next business day after today.
    #[serde(default)]
    pub transfer_date: Option<NaiveDate>,
}

/// A run and its totals.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub run: RunRow,
    pub payable_statements: usize,
    pub held_statements: usize,
    pub total_payable_yen: i64,
}

impl RunView {
    fn new(run: RunRow, statements: &[StatementRow]) -> Self {
        let payable: Vec<_> = statements
            .iter()
            .filter(|s| s.status == "payable")
            .collect();
        Self {
            payable_statements: payable.len(),
            held_statements: statements.len() - payable.len(),
            total_payable_yen: payable.iter().map(|s| s.net_payable_yen).sum(),
            run,
        }
    }
}

/// A statement with the account it pays to.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct StatementView {
    #[serde(flatten)]
    pub statement: StatementRow,
    pub bank_account: Option<BankAccountView>,
}

impl TryFrom<StatementRow> for StatementView {
    type Error = AppError;
    fn try_from(s: StatementRow) -> Result<Self, AppError> {
        let bank_account = match &s.bank_account {
            Some(text) => Some(serde_json::from_str(text).map_err(internal)?),
            None => None,
        };
        Ok(Self {
            statement: s,
            bank_account,
        })
    }
}

/// Runs the cycle closing on `closing_date` (operators), or returns its run if it exists:
/// running a cycle twice changes nothing.
pub async fn run_cycle(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: RunRequest,
) -> Result<Reply, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    app.writer
        .run(None, move |w| {
            Box::pin(run_with_default_in(
                w,
                who,
                program,
                req.closing_date,
                req.transfer_date,
            ))
        })
        .await
}

/// The run itself, on the writer, with a given transfer date (public so tests can run a
/// cycle with the job's clock set).
pub async fn run_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    closing: NaiveDate,
    transfer_date: NaiveDate,
) -> Result<Reply, AppError> {
    run_with_default_in(w, who, program, closing, Some(transfer_date)).await
}

/// The run on the writer. The cycle's rules (closing days, fee rate, hold days, point value)
/// are the settings in force on the closing date, so a late run computes what an on-time
/// run would have; the payout sender (whose account pays) is today's. The transfer date is
/// decided at the job's clock: see `domain::settlement::transfer_date`.
pub async fn run_with_default_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    closing: NaiveDate,
    asked_transfer_date: Option<NaiveDate>,
) -> Result<Reply, AppError> {
    let (_, settings) = program_in_city_on(&mut w.tx, &who, program, closing).await?;
    if !settings.closing().closes_on(closing) {
        return Err(AppError::unprocessable(
            "not_a_closing_day",
            format!("{closing} is not a closing day of this program"),
        ));
    }
    let before = jst_end_of_day_utc(closing);
    if before > w.now {
        return Err(AppError::conflict(
            "cycle_still_open",
            format!("the cycle closing {closing} has not ended yet (JST)"),
        ));
    }
    if let Some(run) = store::find_run_tx(&mut w.tx, program, closing).await? {
        let statements = store::statements_tx(&mut w.tx, run.id).await?;
        return Reply::new(200, &RunView::new(run, &statements));
    }
    if let Some(later) = store::latest_run_tx(&mut w.tx, program).await?
        && later.closing_date > closing
    {
        return Err(AppError::conflict(
            "cycle_already_passed",
            format!(
                "the cycle closing {} has already been run; {closing} is before it",
                later.closing_date
            ),
        ));
    }
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
        created_at: w.now,
        confirmed_at: None,
    };
    store::insert_run(&mut w.tx, &run, who.scope_id()).await?;
    let mut statements = Vec::new();
    for (merchant, takings) in store::unsettled_takings_tx(&mut w.tx, program, before).await? {
        let s = statement_for(w, &run, &settings, merchant, &takings).await?;
        store::insert_statement(&mut w.tx, &s).await?;
        if s.status == "payable" {
            store::settle_transactions(&mut w.tx, run.id, program, merchant, before).await?;
        }
        statements.push(s);
    }
    Reply::new(200, &RunView::new(run, &statements))
}

/// A store's statement in a run; held (settling nothing) for a new store within the hold
/// period, a store without a bank account, or nothing payable.
async fn statement_for(
    w: &mut Work,
    run: &RunRow,
    settings: &ProgramSettings,
    merchant: MerchantId,
    t: &Takings,
) -> Result<StatementRow, AppError> {
    let figures =
        statement(t, settings.cashout_fee_rate, settings.point_value_yen).map_err(internal)?;
    let joined = registry_store::first_joined_tx(&mut w.tx, run.program_id, merchant).await?;
    let bank = registry_store::current_bank_account_tx(&mut w.tx, merchant).await?;
    let hold_days = u64::try_from(settings.payout_hold_days).unwrap_or(0);
    let is_new = joined.is_some_and(|j| {
        j.checked_add_days(Days::new(hold_days))
            .is_some_and(|release| release > run.closing_date)
    });
    let hold_reason = if hold_days > 0 && is_new {
        Some("new_store")
    } else if bank.is_none() {
        Some("no_bank_account")
    } else if figures.net_payable_yen <= 0 {
        Some("nothing_payable")
    } else {
        None
    };
    row(run, merchant, t, &figures, settings, hold_reason, bank)
}

fn row(
    run: &RunRow,
    merchant: MerchantId,
    t: &Takings,
    f: &StatementFigures,
    settings: &ProgramSettings,
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
        payments_yen: f.payments_yen,
        refunds_yen: f.refunds_yen,
        coin_net: t.coin_net,
        premium_net: t.premium_net,
        points_received: f.points_received,
        points_charged: f.points_charged,
        point_value_yen: settings.point_value_yen.to_string(),
        points_reimbursed_yen: f.points_reimbursed_yen,
        points_charged_yen: f.points_charged_yen,
        fee_yen: f.fee_yen,
        net_payable_yen: f.net_payable_yen,
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
        out.push(RunView::new(run, &statements));
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
    store::merchant_statements(&app.db, merchant, LIST_MAX)
        .await?
        .into_iter()
        .map(StatementView::try_from)
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
        None => {
            return Err(AppError::unprocessable(
                "payout_sender_missing",
                "the program had no payout_sender setting when this run was made",
            ));
        }
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
        payees.push((account, view.statement.net_payable_yen, None));
    }
    if payees.is_empty() {
        return Err(AppError::unprocessable(
            "nothing_to_pay",
            "this run has no payable statement",
        ));
    }
    let file = build_sogo_furikomi(&sender, run.transfer_date, &payees)
        .map_err(|e| AppError::unprocessable("zengin_refused", e.to_string()))?;
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
) -> Result<Reply, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    app.writer
        .run(Some(idem), move |w| {
            Box::pin(confirm_in(w, who, program, run))
        })
        .await
}

pub async fn confirm_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    id: SettlementRunId,
) -> Result<Reply, AppError> {
    program_in_city(&mut w.tx, &who, program).await?;
    let run = store::get_run_tx(&mut w.tx, id)
        .await?
        .filter(|r| r.program_id == program)
        .ok_or_else(|| AppError::not_found("settlement run"))?;
    let statements = store::statements_tx(&mut w.tx, id).await?;
    if run.status == "paid" {
        return Reply::new(200, &RunView::new(run, &statements));
    }
    let memo = format!("settlement run {id}");
    for s in statements.iter().filter(|s| s.status == "payable") {
        pay_out(w, &who, program, s, &memo).await?;
    }
    store::mark_paid(&mut w.tx, id, who.scope_id(), w.now).await?;
    let run = RunRow {
        status: "paid".into(),
        confirmed_at: Some(w.now),
        ..run
    };
    Reply::new(200, &RunView::new(run, &statements))
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
    let points_net = s.points_received - s.points_charged;
    let plan: [(AccountKind, Asset, Option<uuid::Uuid>, i64); 7] = [
        (AccountKind::Merchant, Asset::Coin, owner, -s.coin_net),
        (
            AccountKind::IssuerFloat,
            Asset::Coin,
            None,
            s.coin_net - s.fee_yen,
        ),
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
    let records = rows.iter().map(|v| {
        let s = &v.statement;
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
    crate::http::render::city_report::excel_csv(&header, records)
}

/// Each refusal of a transfer date by name.
fn transfer_date_error(e: TransferDateError) -> AppError {
    let code = match e {
        TransferDateError::NotAfterClosing { .. } => {
            return AppError::bad_request("invalid_transfer_date", e.to_string());
        }
        TransferDateError::NotBusinessDay(_) => {
            return AppError::bad_request("transfer_date_not_business_day", e.to_string());
        }
        TransferDateError::InPast { .. } => "transfer_date_in_past",
        TransferDateError::NotCovered(_) => "holiday_data_not_covered",
    };
    AppError::unprocessable(code, e.to_string())
}

fn internal(e: impl std::fmt::Display) -> AppError {
    AppError::Internal(e.to_string())
}
