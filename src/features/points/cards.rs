//! Point cards as objects: issuing, importing the plastic cards with their balances,
//! linking a card to a shopper, blocking, replacing (the balance moves to the new card), the
//! card's QR image, and the operator's earn-rate overrides and campaign multipliers.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use uuid::Uuid;

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::directory::merchant_tx;
use crate::features::points::store::{self as store, CardRow, PointCampaignRow};
use crate::features::points::{CardRefusal, NOT_POINTS, card_wallet, points_program, usable_card};
use crate::http::refusals::RequestRefusal;
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, accounts_of_owner};
use crate::writer::{Answer, Done, Idempotency, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{jst_date, jst_end_of_day_utc};
use machipay_domain::card::{
    CardNumber, IMPORT_ROWS_PER_JOB, ImportProblem, ImportRow, parse_import_rows,
};

pub use crate::features::points::api::{
    CardView, ImportRejection, ImportReport, LinkRequest, NewCardRequest, NewPointCampaignRequest,
    PointCampaign, PointRate, RateRequest, ReplacementRequest, ReplacementResponse,
};
use machipay_domain::expiry::ExpiryScope;
use machipay_domain::ids::*;
use machipay_domain::ledger::kinds::{IMPORT_KIND, REPLACEMENT_KIND};
use machipay_domain::ledger::{AccountKind, Asset, Entry};
use machipay_domain::program::ProgramSettings;

/// Largest campaign multiplier (10× points).
pub const MULTIPLIER_MAX: i64 = 10;

fn view(card: CardRow, balance: i64) -> CardView {
    CardView::new(card, balance)
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

/// Issues a new card with a fresh number (operators).
pub async fn issue(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewCardRequest,
) -> Result<Answer<CardView>, AppError> {
    operator(&who)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                if let Some(s) = req.shopper_id {
                    crate::features::payments::shopper_in_city(w, &who, s).await?;
                }
                let card = new_card(w, program, req.shopper_id.map(|s| s.0), None).await?;
                let change = crate::features::audit::Change {
                    action: "card_issued",
                    subject_kind: "card",
                    subject_id: card.id.0,
                    detail: serde_json::json!({
                        "program_id": program,
                        "number": masked_number(&card.number),
                        "shopper_id": card.shopper_id,
                    }),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::created(view(card, 0)))
            })
        })
        .await
}

/// A card number as the audit log keeps it: its last four digits (`•••• •••• •••• 1234`).
fn masked_number(number: &str) -> String {
    let tail: String = number
        .chars()
        .rev()
        .take(4)
        .collect::<Vec<_>>()
        .into_iter()
        .rev()
        .collect();
    format!("•••• •••• •••• {tail}")
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
    crate::features::directory::program(&app.db, card.program_id)
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
        return Err(if card.status == "blocked" {
            CardRefusal::BlockedNotShown.into()
        } else {
            Common::CardReplaced(super::refusals::CARD_REPLACED_NOT_SHOWN).into()
        });
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

/// A file with bad rows: the refusal with every bad row.
fn rejection(
    problems: Vec<ImportProblem>,
) -> Result<Result<ImportReport, ImportRejection>, AppError> {
    use crate::error::Refusal;
    let refusal = crate::error::Common::CardImportRejected(problems.len());
    Ok(Err(ImportRejection {
        error: crate::error::ErrorBody {
            code: refusal.code().into(),
            message: refusal.to_string(),
        },
        problems,
    }))
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
/// whose writing stopped half-way (a crash) is completed by sending it again. A file with
/// bad rows answers `Ok(Err(rejection))` (`CardRefusal::ImportRejected` with every row).
pub async fn import(
    app: &App,
    who: Principal,
    program: ProgramId,
    csv: String,
) -> Result<Result<ImportReport, ImportRejection>, AppError> {
    operator(&who)?;
    let (rows, bad_rows) = parse_import_rows(&csv, jst_date(Utc::now()));
    drop(csv);
    // The program is checked before the file: a file of cards all imported already writes
    // nothing and would never reach the writer's check.
    let found = crate::features::directory::get_program(app, who, program).await?;
    if found.kind != machipay_domain::program::ProgramKind::Points {
        return Err(NOT_POINTS.into());
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
        write_import(&app, who, program, fresh, already)
            .await
            .map(Ok)
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
) -> Result<ImportReport, AppError> {
    let mut report = ImportReport {
        imported: 0,
        already_imported: already,
        points: 0,
    };
    let mut rows = fresh;
    while !rows.is_empty() {
        let rest = rows.split_off(rows.len().min(IMPORT_ROWS_PER_JOB));
        let part = app
            .writer
            .bulk()
            .answer(None, move |w| Box::pin(import_in(w, who, program, rows)))
            .await?
            .into_value()?;
        report.imported += part.imported;
        report.already_imported += part.already_imported;
        report.points += part.points;
        rows = rest;
    }
    Ok(report)
}

/// One job of an import: the rows are checked again inside the job (the file was checked
/// before, outside the writer) and the new ones written.
async fn import_in(
    w: &mut Work,
    who: Principal,
    program: ProgramId,
    rows: Vec<ImportRow>,
) -> Result<Done<ImportReport>, AppError> {
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
                return Err(CardRefusal::ImportConflict(row.line).into());
            }
        }
        import_card(w, &who, &settings, program, &issuance, &row).await?;
        report.imported += 1;
        report.points += row.balance;
    }
    Ok(Done::created(report))
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

/// Links a card to a shopper account: a shopper links an unlinked card to themself,
/// operators link any card to any shopper of the city.
pub async fn link(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: LinkRequest,
) -> Result<Answer<CardView>, AppError> {
    let shopper = match who {
        Principal::Shopper { id, .. } if req.shopper_id.is_none_or(|s| s == id) => id,
        Principal::Shopper { .. } => return Err(AppError::forbidden()),
        _ if who.can(Capability::OperateProgram) => req
            .shopper_id
            .ok_or_else(|| RequestRefusal::MissingField("shopper_id is required".into()))?,
        _ => return Err(AppError::forbidden()),
    };
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                crate::features::payments::shopper_in_city(w, &who, shopper).await?;
                let card = usable_card(w, program, &req.card_number).await?;
                // Nobody, operators included, silently takes a linked card (and its points)
                // away from its shopper: the link is refused and the card left as it was.
                if card.shopper_id.is_some_and(|s| s != shopper.0) {
                    return Err(CardRefusal::LinkedElsewhere.into());
                }
                store::set_card_shopper(&mut w.tx, card.id, Some(shopper)).await?;
                let card = CardRow {
                    shopper_id: Some(shopper.0),
                    ..card
                };
                Ok(Done::created(view_tx(w, card).await?))
            })
        })
        .await
}

/// Blocks a card (lost or stolen): the till refuses it from now on (operators).
pub async fn block(app: &App, who: Principal, id: CardId) -> Result<Answer<CardView>, AppError> {
    operator(&who)?;
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                let card = card_in_city(w, &who, id).await?;
                if card.status == "replaced" {
                    return Err(
                        Common::CardReplaced(super::refusals::CARD_REPLACED_NOT_BLOCKED).into(),
                    );
                }
                store::set_card_status(&mut w.tx, id, "blocked", None).await?;
                let change = crate::features::audit::Change {
                    action: "card_blocked",
                    subject_kind: "card",
                    subject_id: id.0,
                    detail: serde_json::json!({
                        "program_id": card.program_id,
                        "number": masked_number(&card.number),
                        "before": card.status,
                        "after": "blocked",
                    }),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                let card = CardRow {
                    status: "blocked".into(),
                    ..card
                };
                Ok(Done::ok(view_tx(w, card).await?))
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

/// Replaces a card (active or blocked) with a new number; its balance (lot by lot, each
/// with its own expiry), shopper and expiry clock move to the new card, and the old one is
/// refused from then on (operators). A replacement is not reversed: replace the card again.
pub async fn replace(
    app: &App,
    who: Principal,
    id: CardId,
    req: ReplacementRequest,
    idem: Idempotency,
) -> Result<Answer<ReplacementResponse>, AppError> {
    operator(&who)?;
    let len = req.reason.trim().chars().count();
    if len == 0 || req.reason.chars().count() > 200 {
        return Err(Common::InvalidReason.into());
    }
    app.writer
        .answer(Some(idem), move |w| Box::pin(replace_in(w, who, id, req)))
        .await
}

pub async fn replace_in(
    w: &mut Work,
    who: Principal,
    id: CardId,
    req: ReplacementRequest,
) -> Result<Done<ReplacementResponse>, AppError> {
    let old = card_in_city(w, &who, id).await?;
    if old.status == "replaced" {
        return Err(Common::CardReplaced(super::refusals::CARD_ALREADY_REPLACED).into());
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
    let change = crate::features::audit::Change {
        action: "card_replaced",
        subject_kind: "card",
        subject_id: old.id.0,
        detail: serde_json::json!({
            "new_card_id": new.id,
            "reason": req.reason,
            "number": masked_number(&old.number),
            "new_number": masked_number(&new.number),
            "before": old.status,
            "after": "replaced",
        }),
    };
    crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
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
    Ok(Done::created(body))
}

/// Sets or clears a store's own earn rate (operators).
pub async fn set_rate(
    app: &App,
    who: Principal,
    program: ProgramId,
    merchant: MerchantId,
    req: RateRequest,
) -> Result<Answer<PointRate>, AppError> {
    operator(&who)?;
    if req
        .earn_rate
        .is_some_and(|r| r < Decimal::ZERO || r > Decimal::ONE)
    {
        return Err(CardRefusal::InvalidRate.into());
    }
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                merchant_tx(&mut w.tx, merchant)
                    .await?
                    .filter(|m| m.city_id == who.city())
                    .ok_or_else(|| AppError::not_found("merchant"))?;
                let text = req.earn_rate.map(|r| r.normalize().to_string());
                store::set_rate(&mut w.tx, program, merchant, text.as_deref(), w.now).await?;
                Ok(Done::ok(PointRate {
                    program_id: program,
                    merchant_id: merchant,
                    earn_rate: text,
                }))
            })
        })
        .await
}

/// Opens a time-boxed multiplier campaign (operators). Idempotent: the same key and body
/// answer the first reply and open nothing more.
pub async fn create_campaign(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: NewPointCampaignRequest,
    idem: Idempotency,
) -> Result<Answer<PointCampaign>, AppError> {
    operator(&who)?;
    let bad = |m: &'static str| Err(Common::InvalidCampaign(m).into());
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
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                points_program(w, &who, program).await?;
                if let Some(m) = req.merchant_id {
                    merchant_tx(&mut w.tx, m)
                        .await?
                        .filter(|m| m.city_id == who.city())
                        .ok_or_else(|| AppError::not_found("merchant"))?;
                }
                let row = PointCampaignRow {
                    id: PointCampaignId::new(),
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
                let change = crate::features::audit::Change {
                    action: "point_campaign_opened",
                    subject_kind: "point_campaign",
                    subject_id: row.id.0,
                    detail: serde_json::json!({
                        "program_id": program, "name": row.name, "multiplier": row.multiplier,
                    }),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                Ok(Done::created(PointCampaign::from(row)))
            })
        })
        .await
}

pub async fn list_campaigns(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<Vec<PointCampaign>, AppError> {
    let found = crate::features::directory::get_program(app, who, program).await?;
    if found.kind != machipay_domain::program::ProgramKind::Points {
        return Err(NOT_POINTS.into());
    }
    Ok(store::list_campaigns(&app.db, program)
        .await?
        .into_iter()
        .map(PointCampaign::from)
        .collect())
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
