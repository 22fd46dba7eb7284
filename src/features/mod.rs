//! The business capabilities, one folder each: its use-cases (`mod.rs`), its SQL (`store.rs`)
//! and its routes (`http.rs`). What they share lives here: the program lookup every write
//! starts with, and what program settings refuse whatever route changes them.

pub(crate) mod activity;
pub mod audit;
pub mod campaigns;
pub mod city_report;
pub mod directory;
pub mod expiry;
pub mod merchants;
pub mod payments;
pub mod points;
pub mod qr;
pub mod reports;
pub mod settlement;
pub mod shopper_block;
pub mod sign_in;

use crate::error::AppError;
use crate::features::directory::{ProgramRow, program_with_settings_tx};
use crate::writer::guard::FactSet;
use crate::writer::{Fact, Warmer, WriteTx};
use futures::future::BoxFuture;
use machipay_domain::auth::Principal;
use machipay_domain::ids::ProgramId;
use machipay_domain::program::{ProgramKind, ProgramSettings, SettingsError};

crate::refusals! {
    /// What program settings refuse because of the program's kind (the settings routes check
    /// the rest with `invalid_settings`).
    pub enum SettingsRefusal {
        /// A currency program's points are spent 1:1 with yen, so their value is fixed at ¥1
        /// (README, "Units").
        PointValueFixed => Unprocessable, "point_value_fixed", "a currency program's points are spent 1:1 with yen: point_value_yen must be 1";
    }
}

/// Whether valid `settings` fit a program of `kind` (see [`SettingsRefusal`]).
pub(crate) fn settings_fit(kind: ProgramKind, settings: &ProgramSettings) -> Result<(), AppError> {
    settings.fits_kind(kind).map_err(|e| match e {
        SettingsError::PointValueFixed => SettingsRefusal::PointValueFixed.into(),
        other => AppError::Internal(format!("settings: {other}")),
    })
}

/// The program, if it exists and belongs to the caller's city; another city's program is
/// "not found". One read at most: the writer remembers programs and their settings per JST
/// date (`Known` says why that is safe).
pub(crate) async fn program_in_city(
    tx: &mut WriteTx,
    who: &Principal,
    id: ProgramId,
) -> Result<(ProgramRow, ProgramSettings), AppError> {
    // The settings in effect today (JST).
    let today = machipay_domain::calendar::jst_date(chrono::Utc::now());
    program_in_city_on(tx, who, id, today).await
}

/// [`program_in_city`] with the settings in force on `date` (JST), e.g. a past cycle's
/// closing date; the row's own text is the version the program was created with. The
/// settings are parsed once per (program, date) while the writer remembers the row.
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
    if let Some(parsed) = tx.known.get::<ProgramSettings, _>(&(id, date)) {
        return Ok((program, parsed));
    }
    let settings = parse_settings(&program, current.as_deref())?;
    tx.known.stage((id, date), settings.clone());
    Ok((program, settings))
}

/// The settings in effect: the dated version's text, else the program row's own.
fn parse_settings(
    program: &ProgramRow,
    current: Option<&str>,
) -> Result<ProgramSettings, AppError> {
    serde_json::from_str(current.unwrap_or(&program.settings))
        .map_err(|e| AppError::Internal(format!("stored settings: {e}")))
}

/// The writer remembers the settings in effect per (program, JST date), parsed once
/// ([`program_in_city_on`]); forgotten with the programs.
impl Fact for ProgramSettings {
    type Key = (ProgramId, chrono::NaiveDate);
    const NAME: &'static str = "settings of";
    const FORGOTTEN_BY: FactSet = FactSet::PROGRAMS;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        &(id, date): &'a Self::Key,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move {
            match program_with_settings_tx(tx, id, date).await? {
                Some((program, current)) => parse_settings(&program, current.as_deref()).map(Some),
                None => Ok(None),
            }
        })
    }
}

/// What the writer loads when it starts (`Writer::start`; besides the accounts that may go
/// negative, its own): every store, shopper and static code and each coded store's latest
/// participation, so the first payment at each store, and by each shopper, after a restart
/// reads nothing extra.
pub const WARM_AT_START: &[Warmer] = &[
    directory::warm_merchants,
    directory::warm_shoppers,
    qr::warm_store_codes,
    merchants::warm_participation,
];

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
