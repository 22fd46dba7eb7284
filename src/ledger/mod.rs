//! Money use-cases and the machinery under them: the single batching writer, the posting
//! path, and the operations (charges, payments, transfers, reversals) built on them.

pub mod activity;
pub mod cards;
pub mod city_report;
pub mod currency;
pub mod expiry;
pub mod money;
pub mod point_reports;
pub mod points;
pub mod posting;
pub mod qr;
pub mod reads;
pub mod rebates;
pub mod registry;
pub mod reports;
pub mod retention;
pub mod returns;
pub mod settlement;
pub mod writer;

use crate::domain::auth::Principal;
use crate::domain::ids::ProgramId;
use crate::domain::program::ProgramSettings;
use crate::error::AppError;
use crate::storage::WriteTx;
use crate::storage::directory::{ProgramRow, program_with_settings_tx};

/// The program, if it exists and belongs to the caller's city; another city's program is
/// "not found". One read at most: the writer remembers programs and their settings per JST
/// date (`storage::Known` says why that is safe).
pub(crate) async fn program_in_city(
    tx: &mut WriteTx,
    who: &Principal,
    id: ProgramId,
) -> Result<(ProgramRow, ProgramSettings), AppError> {
    // The settings in effect today (JST).
    let today = crate::domain::calendar::jst_date(chrono::Utc::now());
    program_in_city_on(tx, who, id, today).await
}

/// [`program_in_city`] with the settings in force on `date` (JST), e.g. a past cycle's
/// closing date; the row's own text is the version the program was created with.
pub(crate) async fn program_in_city_on(
    tx: &mut WriteTx,
    who: &Principal,
    id: ProgramId,
    date: chrono::NaiveDate,
) -> Result<(ProgramRow, ProgramSettings), AppError> {
    let (program, current) = program_with_settings_tx(tx, id, date)
        .await?
        .filter(|(p, _)| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("program"))?;
    let settings = serde_json::from_str(current.as_deref().unwrap_or(&program.settings))
        .map_err(|e| AppError::Internal(format!("stored settings: {e}")))?;
    Ok((program, settings))
}

/// Shows a lookup's refusal as `shown` (another city's program is "transaction not found",
/// so ids cannot be probed), and nothing else: a storage or internal failure stays what it
/// is, so a transient failure fails its batch (503, retried with the same key) instead of
/// being stored as a permanent 404.
pub(crate) fn refusal_as(shown: AppError) -> impl FnOnce(AppError) -> AppError {
    move |e| match e {
        AppError::Rejected { .. } => shown,
        other => other,
    }
}
