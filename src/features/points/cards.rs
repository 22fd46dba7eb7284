//! Point cards as objects: issuing, importing the plastic cards with their balances,
//! linking a card to a shopper, blocking, replacing (the balance moves to the new card), the
//! card's QR image, and the operator's earn-rate overrides and campaign multipliers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::App;
use crate::error::AppError;
use crate::features::directory::store::get_merchant_tx;
use crate::features::payments::internal;
use crate::features::points::store::{self as store, CardRow, PointCampaignRow};
use crate::features::points::{card_wallet, points_program, usable_card};
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, accounts_of_owner};
use crate::writer::{Idempotency, Reply, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::card::{
    CardNumber, IMPORT_ROWS_PER_JOB, ImportProblem, ImportRow, parse_import_rows,
};
use machipay_domain::expiry::ExpiryScope;
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Entry};
use machipay_domain::program::ProgramSettings;

pub const IMPORT_KIND: &str = "card_import";
pub const REPLACEMENT_KIND: &str = "card_replacement";
/// Largest campaign multiplier (10× points).
pub const MULTIPLIER_MAX: i64 = 10;

/// A card as shown to staff and to its shopper.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct CardView {
    pub id: CardId,
    pub program_id: ProgramId,
    /// 16 digits, the last the Luhn check digit: what the till scans or types.
    pub number: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub shopper_id: Option<Uuid>,
    /// "active", "blocked" or "replaced".
    pub status: String,
    #[schema(value_type = Option<String>, format = Uuid)]
    pub replaced_by: Option<Uuid>,
    pub balance: i64,
    pub created_at: DateTime<Utc>,
}

fn view(card: CardRow, balance: i64) -> CardView {
    CardView {
        id: card.id,
        program_id: card.program_id,
        number: card.number,
        shopper_id: card.shopper_id,
        status: card.status,
        replaced_by: card.replaced_by,
        balance,
        created_at: card.created_at,
    }
}

async fn view_tx(w: &mut Work, card: CardRow) -> Result<CardView, AppError> {
    let balance = card_wallet(w, card.program_id, card.id).await?.balance;
    Ok(view(card, balance))
}

/// Who may import cards (checked before the file is even read).
pub fn may_import(who: &Principal) -> Result<(), AppError> {
    operator(who)
}

fn operator(who: &Principal) -> Result<(), AppError> {
    if who.can(Capability::OperateProgram) {
        Ok(())
    } else {
        Err(AppError::forbidden())
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCardRequest {
    /// Link the new card to this shopper at once.
    pub shopper_id: Option<ShopperId>,
}

/// Issues a new card with a fresh number (operators).
pub async fn issue(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewCardRequest,
) -> Result<Reply, AppError> {
    operator(&who)?;
    app.writer
        .run(None, move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                if let Some(s) = req.shopper_id {
                    crate::features::payments::shopper_in_city(w, &who, s).await?;
                }
                let card = new_card(w, program, req.shopper_id.map(|s| s.0), None).await?;
                Reply::new(201, &view(card, 0))
            })
        })
        .await
}

/// Inserts a card with a fresh number not yet used in the program.
async fn new_card(
    w: &mut Work,
    program: ProgramId,
    shopper: Option<Uuid>,
    last_used_at: Option<DateTime<Utc>>,
) -> Result<CardRow, AppError> {
    for _ in 0..10 {
        let number = CardNumber::generate();
        if store::card_by_number_tx(&mut w.tx, program, number.as_str())
            .await?
            .is_some()
        {
            continue;
        }
        let card = CardRow {
            id: CardId::new(),
            program_id: program,
            number: number.as_str().into(),
            shopper_id: shopper,
            status: "active".into(),
            replaced_by: None,
            imported_balance: None,
            last_used_at,
            created_at: w.now,
        };
        store::insert_card(&mut w.tx, &card).await?;
        return Ok(card);
    }
    Err(internal("could not find a free card number"))
}

/// A card, for staff of the city and the shopper it is linked to; anyone else "not found".
pub async fn get(app: &App, who: Principal, id: CardId) -> Result<CardView, AppError> {
    let card = visible_card(app, &who, id).await?;
    let balance = accounts_of_owner(&app.db, card.program_id, card.id.0)
        .await?
        .iter()
        .filter(|a| a.kind == AccountKind::ShopperWallet)
        .map(|a| a.balance)
        .sum();
    Ok(view(card, balance))
}

async fn visible_card(app: &App, who: &Principal, id: CardId) -> Result<CardRow, AppError> {
    let card = store::card(&app.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("card"))?;
    crate::features::directory::store::get_program(&app.db, card.program_id)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("card"))?;
    // Only staff and the card's own shopper learn that it exists.
    let linked = matches!(*who, Principal::Shopper { id, .. } if Some(id.0) == card.shopper_id);
    if linked || who.can(Capability::ViewCity) {
        Ok(card)
    } else {
        Err(AppError::not_found("card"))
    }
}

/// The card as a QR code of its number, for the cashier to scan from the app.
pub async fn image(
    app: &App,
    who: Principal,
    id: CardId,
    svg: bool,
) -> Result<(String, Vec<u8>), AppError> {
    let card = visible_card(app, &who, id).await?;
    if card.status != "active" {
        return Err(AppError::unprocessable(
            if card.status == "blocked" {
                "card_blocked"
            } else {
                "card_replaced"
            },
            "only an active card is shown for scanning",
        ));
    }
    let qr = |e: crate::http::render::qr::QrImageError| internal(e);
    if svg {
        let text = crate::http::render::qr::svg(&card.number).map_err(qr)?;
        Ok(("image/svg+xml".into(), text.into_bytes()))
    } else {
        Ok((
            "image/png".into(),
            crate::http::render::qr::png(&card.number).map_err(qr)?,
        ))
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportReport {
    /// Cards created by this file.
    pub imported: u64,
    /// Cards of this file already imported earlier with the same balance (left alone).
    pub already_imported: u64,
    /// Points carried in by the cards created.
    pub points: i64,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportRejection {
    pub error: crate::error::ErrorBody,
    /// Every bad row, by line of the file (the header is line 1). Absent when the refusal is
    /// not about rows (e.g. `wrong_program_kind`), so the 422 is this or the plain envelope.
    #[serde(default)]
    pub problems: Vec<ImportProblem>,
}

fn rejection(problems: Vec<ImportProblem>) -> Result<Reply, AppError> {
    let body = ImportRejection {
        error: crate::error::ErrorBody {
            code: "import_rejected".into(),
            message: format!("{} bad rows; nothing was imported", problems.len()),
        },
        problems,
    };
    Reply::new(422, &body)
}

/// One import at a time in this process: two files racing over the same numbers could
/// otherwise both pass the check and one of them stop half-written.
static IMPORT_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Imports plastic cards with their balances and last-use dates from CSV
/// (`card_number,balance,last_used_on`), operators only. All or nothing: the whole file is
/// checked (rows, then every number against the cards already held) before anything is
/// written, and a file with any bad row imports nothing and reports every bad row. The good
/// file is then written in writer jobs of `IMPORT_ROWS_PER_JOB` rows, so a city's tens of
/// thousands of cards never hold the writer for long. Idempotent: a card already imported with
/// the same balance is left alone, so sending the same file again changes nothing, and a file
/// whose writing stopped half-way (a crash) is completed by sending it again.
pub async fn import(
    app: &App,
    who: Principal,
    program: ProgramId,
    csv: String,
) -> Result<Reply, AppError> {
    operator(&who)?;
    let (rows, bad_rows) = parse_import_rows(&csv, jst_date(Utc::now()));
    drop(csv);
    // The program is checked before the file: a file of cards all imported already writes
    // nothing and would never reach the writer's check.
    let found = crate::features::directory::get_program(app, who, program).await?;
    if found.kind != machipay_domain::program::ProgramKind::Points {
        return Err(AppError::unprocessable(
            "wrong_program_kind",
            "this is not a point card program",
        ));
    }
    // The writing runs on its own task: a client that hangs up (or the request timeout) does
    // not stop it half-way through a job.
    let app = app.clone();
    tokio::spawn(async move {
        let _one_at_a_time = IMPORT_LOCK.lock().await;
        // The good rows are checked against the cards held even when others are bad, so
        // the answer lists every bad row of the file at once.
        let (fresh, already) = match (check_import(&app, program, rows).await?, bad_rows) {
            (Ok(checked), bad) if bad.is_empty() => checked,
            (Ok(_), bad) => return rejection(bad),
            (Err(mut problems), bad) => {
                problems.extend(bad);
                problems.sort_by_key(|p| p.line);
                return rejection(problems);
            }
        };
        write_import(&app, who, program, fresh, already).await
    })
    .await
    .map_err(|e| internal(format!("import task: {e}")))?
}

/// Splits the rows into new cards and cards already imported with the same balance; any row
/// naming an existing card with another balance (or a card issued here) is a problem.
async fn check_import(
    app: &App,
    program: ProgramId,
    rows: Vec<ImportRow>,
) -> Result<Result<(Vec<ImportRow>, u64), Vec<ImportProblem>>, AppError> {
    let mut fresh = Vec::new();
    let mut problems = Vec::new();
    let mut already = 0;
    for chunk in rows.chunks(IMPORT_ROWS_PER_JOB) {
        let numbers: Vec<String> = chunk.iter().map(|r| r.number.as_str().into()).collect();
        let held: HashMap<String, Option<i64>> =
            store::imported_balances(&app.db, program, &numbers)
                .await?
                .into_iter()
                .collect();
        for row in chunk {
            match held.get(row.number.as_str()) {
                None => fresh.push(row.clone()),
                Some(b) if *b == Some(row.balance) => already += 1,
                Some(_) => problems.push(ImportProblem {
                    line: row.line,
                    reason:
                        "card_number: a card with this number already exists with another balance"
                            .into(),
                }),
            }
        }
    }
    Ok(if problems.is_empty() {
        Ok((fresh, already))
    } else {
        Err(problems)
    })
}

/// Writes the new cards, one writer job per `IMPORT_ROWS_PER_JOB` rows.
async fn write_import(
    app: &App,
    who: Principal,
    program: ProgramId,
    fresh: Vec<ImportRow>,
    already: u64,
) -> Result<Reply, AppError> {
    let mut report = ImportReport {
        imported: 0,
        already_imported: already,
        points: 0,
    };
    let mut rows = fresh;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(IMPORT_ROWS_PER_JOB));
        let reply = app
            .writer
            .run(None, move |w| Box::pin(import_in(w, who, program, rows)))
            .await?;
        let part: ImportReport = serde_json::from_value(reply.body).map_err(internal)?;
        report.imported += part.imported;
        report.already_imported += part.already_imported;
        report.points += part.points;
        rows = rest;
    }
    Reply::new(201, &report)
}

/// One job of an import: the rows are checked again inside the job (the file was checked
/// before, outside the writer) and the new ones written.
async fn import_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    rows: Vec<ImportRow>,
) -> Result<Reply, AppError> {
    let (_, settings) = points_program(w, &who, program).await?;
    let mut report = ImportReport {
        imported: 0,
        already_imported: 0,
        points: 0,
    };
    let issuance = ledger_store::ensure_account(
        &mut w.tx,
        program,
        AccountKind::PointsIssuance,
        Asset::Points,
        None,
    )
    .await?;
    for row in rows {
        match store::card_by_number_tx(&mut w.tx, program, row.number.as_str()).await? {
            None => {}
            Some(c) if c.imported_balance == Some(row.balance) => {
                report.already_imported += 1;
                continue;
            }
            // Only another writer of cards between the check and this job gets here.
            Some(_) => {
                return Err(AppError::conflict(
                    "import_conflict",
                    format!(
                        "line {}: a card with this number was created meanwhile; send the file again",
                        row.line
                    ),
                ));
            }
        }
        import_card(w, &who, &settings, program, &issuance, &row).await?;
        report.imported += 1;
        report.points += row.balance;
    }
    Reply::new(201, &report)
}

async fn import_card(
    w: &mut Work,
    who: &Principal,
    settings: &ProgramSettings,
    program: ProgramId,
    issuance: &ledger_store::Account,
    row: &ImportRow,
) -> Result<(), AppError> {
    let last_used = row.last_used_on.unwrap_or_else(|| jst_date(w.now));
    let card = CardRow {
        id: CardId::new(),
        program_id: program,
        number: row.number.as_str().into(),
        shopper_id: None,
        status: "active".into(),
        replaced_by: None,
        imported_balance: Some(row.balance),
        last_used_at: Some(jst_end_of_day_utc(last_used).min(w.now)),
        created_at: w.now,
    };
    store::insert_card(&mut w.tx, &card).await?;
    if row.balance == 0 {
        return Ok(());
    }
    let wallet = card_wallet(w, program, card.id).await?;
    // Per-grant expiry counts from the last use in the plastic system.
    let expires_on = match settings.expiry.scope() {
        ExpiryScope::Lot => settings.expiry.lot_expires_on(last_used),
        _ => None,
    };
    let entry =
        Entry::transfer(issuance.id, wallet.id, Asset::Points, row.balance).map_err(internal)?;
    let posting = Posting {
        program,
        kind: IMPORT_KIND,
        initiated_by: who.scope_id(),
        memo: Some("plastic card import"),
        reverses: None,
        lots: Lots::Normal(CreditExpiry {
            points: expires_on,
            ..CreditExpiry::NEVER
        }),
    };
    post(w, &posting, &entry, &[issuance, &wallet]).await?;
    Ok(())
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkRequest {
    #[schema(value_type = String, example = "4111111111111111")]
    pub card_number: CardNumber,
    /// Operators name the shopper; a shopper links the card to themself (omit it).
    pub shopper_id: Option<ShopperId>,
}

/// Links a card to a shopper account: a shopper links an unlinked card to themself,
/// operators link any card to any shopper of the city.
pub async fn link(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: LinkRequest,
) -> Result<Reply, AppError> {
    let shopper = match who {
        Principal::Shopper { id, .. } if req.shopper_id.is_none_or(|s| s == id) => id,
        Principal::Shopper { .. } => return Err(AppError::forbidden()),
        _ if who.can(Capability::OperateProgram) => req
            .shopper_id
            .ok_or_else(|| AppError::bad_request("missing_field", "shopper_id is required"))?,
        _ => return Err(AppError::forbidden()),
    };
    app.writer
        .run(None, move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                crate::features::payments::shopper_in_city(w, &who, shopper).await?;
                let card = usable_card(w, program, &req.card_number).await?;
                // Nobody, operators included, silently takes a linked card (and its points)
                // away from its shopper: the link is refused and the card left as it was.
                if card.shopper_id.is_some_and(|s| s != shopper.0) {
                    return Err(AppError::conflict(
                        "card_linked_elsewhere",
                        "this card is linked to another account",
                    ));
                }
                store::set_card_shopper(&mut w.tx, card.id, Some(shopper)).await?;
                let card = CardRow {
                    shopper_id: Some(shopper.0),
                    ..card
                };
                Reply::new(201, &view_tx(w, card).await?)
            })
        })
        .await
}

/// Blocks a card (lost or stolen): the till refuses it from now on (operators).
pub async fn block(app: &App, who: Principal, id: CardId) -> Result<Reply, AppError> {
    operator(&who)?;
    app.writer
        .run(None, move |w| {
            Box::pin(async move {
                let card = card_in_city(w, &who, id).await?;
                if card.status == "replaced" {
                    return Err(AppError::unprocessable(
                        "card_replaced",
                        "this card was replaced",
                    ));
                }
                store::set_card_status(&mut w.tx, id, "blocked", None).await?;
                let card = CardRow {
                    status: "blocked".into(),
                    ..card
                };
                Reply::new(200, &view_tx(w, card).await?)
            })
        })
        .await
}

async fn card_in_city(w: &mut Work, who: &Principal, id: CardId) -> Result<CardRow, AppError> {
    let card = store::card_tx(&mut w.tx, id)
        .await?
        .ok_or_else(|| AppError::not_found("card"))?;
    points_program(w, who, card.program_id)
        .await
        .map_err(crate::features::refusal_as(AppError::not_found("card")))?;
    Ok(card)
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ReplacementRequest {
    /// Why (1–200 characters), e.g. "紛失".
    pub reason: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ReplacementResponse {
    pub old_card: CardView,
    pub new_card: CardView,
    /// The transfer of the balance; none when the old card held nothing.
    pub transaction_id: Option<TransactionId>,
}

/// Replaces a card (active or blocked) with a new number; its balance (lot by lot, each
/// with its own expiry), shopper and expiry clock move to the new card, and the old one is
/// refused from then on (operators). A replacement is not reversed: replace the card again.
pub async fn replace(
    app: &App,
    who: Principal,
    id: CardId,
    req: ReplacementRequest,
    idem: Idempotency,
) -> Result<Reply, AppError> {
    operator(&who)?;
    let len = req.reason.trim().chars().count();
    if len == 0 || req.reason.chars().count() > 200 {
        return Err(AppError::bad_request(
            "invalid_reason",
            "reason must be 1 to 200 characters",
        ));
    }
    app.writer
        .run(Some(idem), move |w| Box::pin(replace_in(w, who, id, req)))
        .await
}

pub async fn replace_in(
    w: &mut Work,
    who: Principal,
    id: CardId,
    req: ReplacementRequest,
) -> Result<Reply, AppError> {
    let old = card_in_city(w, &who, id).await?;
    if old.status == "replaced" {
        return Err(AppError::unprocessable(
            "card_replaced",
            "this card was already replaced",
        ));
    }
    let program = old.program_id;
    let from = card_wallet(w, program, old.id).await?;
    let last_used = store::last_activity_tx(&mut w.tx, from.id)
        .await?
        .into_iter()
        .chain(old.last_used_at)
        .max();
    let new = new_card(w, program, old.shopper_id, last_used.or(Some(w.now))).await?;
    store::set_card_status(&mut w.tx, old.id, "replaced", Some(new.id)).await?;
    let to = card_wallet(w, program, new.id).await?;
    let mut transaction_id = None;
    if from.balance > 0 {
        // The lots move as they are: each grant keeps its own expiry on the new card, so a
        // replaced card expires exactly as the card it replaces would have.
        let entry =
            Entry::transfer(from.id, to.id, Asset::Points, from.balance).map_err(internal)?;
        let posting = Posting {
            program,
            kind: REPLACEMENT_KIND,
            initiated_by: who.scope_id(),
            memo: Some(&req.reason),
            reverses: None,
            lots: Lots::Carry,
        };
        transaction_id = Some(post(w, &posting, &entry, &[&from, &to]).await?);
    }
    let old = CardRow {
        status: "replaced".into(),
        replaced_by: Some(new.id.0),
        ..old
    };
    let body = ReplacementResponse {
        old_card: view(old, 0),
        new_card: view(new, from.balance),
        transaction_id,
    };
    Reply::new(201, &body)
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RateRequest {
    /// Points per yen at this store ("0.02": 2 pt per ¥100), 0 to 1; null returns the store
    /// to the program's rate.
    #[schema(value_type = Option<String>, example = "0.02")]
    pub earn_rate: Option<Decimal>,
}

/// Sets or clears a store's own earn rate (operators).
pub async fn set_rate(
    app: &App,
    who: Principal,
    program: ProgramId,
    merchant: MerchantId,
    req: RateRequest,
) -> Result<Reply, AppError> {
    operator(&who)?;
    if req
        .earn_rate
        .is_some_and(|r| r < Decimal::ZERO || r > Decimal::ONE)
    {
        return Err(AppError::bad_request(
            "invalid_rate",
            "earn_rate must be between 0 and 1",
        ));
    }
    app.writer
        .run(None, move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                get_merchant_tx(&mut w.tx, merchant)
                    .await?
                    .filter(|m| m.city_id == who.city())
                    .ok_or_else(|| AppError::not_found("merchant"))?;
                let text = req.earn_rate.map(|r| r.normalize().to_string());
                store::set_rate(&mut w.tx, program, merchant, text.as_deref(), w.now).await?;
                Reply::new(200, &serde_json::json!({"program_id": program, "merchant_id": merchant, "earn_rate": text}))
            })
        })
        .await
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewPointCampaignRequest {
    pub name: String,
    /// Above 1 and at most 10, e.g. "2" for double points.
    #[schema(value_type = String, example = "2")]
    pub multiplier: Decimal,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub starts_at: DateTime<Utc>,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub ends_at: DateTime<Utc>,
    /// Only this store; every store when omitted.
    pub merchant_id: Option<MerchantId>,
}

/// Opens a time-boxed multiplier campaign (operators). Idempotent: the same key and body
/// answer the first reply and open nothing more.
pub async fn create_campaign(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewPointCampaignRequest,
    idem: Idempotency,
) -> Result<Reply, AppError> {
    operator(&who)?;
    let bad = |m: &str| Err(AppError::bad_request("invalid_campaign", m));
    if req.name.trim().is_empty() || req.name.chars().count() > 100 {
        return bad("name must be 1 to 100 characters");
    }
    if req.multiplier <= Decimal::ONE || req.multiplier > Decimal::from(MULTIPLIER_MAX) {
        return bad("multiplier must be above 1 and at most 10");
    }
    if req.ends_at <= req.starts_at {
        return bad("ends_at must be after starts_at");
    }
    app.writer
        .run(Some(idem), move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                if let Some(m) = req.merchant_id {
                    get_merchant_tx(&mut w.tx, m)
                        .await?
                        .filter(|m| m.city_id == who.city())
                        .ok_or_else(|| AppError::not_found("merchant"))?;
                }
                let row = PointCampaignRow {
                    id: Uuid::now_v7(),
                    program_id: program,
                    merchant_id: req.merchant_id.map(|m| m.0),
                    name: req.name,
                    multiplier: req.multiplier.normalize().to_string(),
                    starts_at: req.starts_at,
                    ends_at: req.ends_at,
                    created_by: who.scope_id(),
                    created_at: w.now,
                };
                store::insert_campaign(&mut w.tx, &row).await?;
                Reply::new(201, &row)
            })
        })
        .await
}

pub async fn list_campaigns(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Vec<PointCampaignRow>, AppError> {
    // The program is checked before the file: a file of cards all imported already writes
    // nothing and would never reach the writer's check.
    let found = crate::features::directory::get_program(app, who, program).await?;
    if found.kind != machipay_domain::program::ProgramKind::Points {
        return Err(AppError::unprocessable(
            "wrong_program_kind",
            "this is not a point card program",
        ));
    }
    Ok(store::list_campaigns(&app.db, program).await?)
}

/// The cards linked to a shopper (the shopper, or staff).
pub async fn cards_of_shopper(
    app: &App,
    who: Principal,
    shopper: ShopperId,
) -> Result<Vec<CardView>, AppError> {
    crate::features::directory::get_shopper(app, who, shopper).await?;
    let mut out = Vec::new();
    for card in store::cards_of_shopper(&app.db, shopper).await? {
        out.push(get(app, who, card.id).await?);
    }
    Ok(out)
}
