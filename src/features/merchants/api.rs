//! What the merchant registry's routes take and answer: applications and decisions,
//! participation events, store-count targets and CSV imports. Rows (`store.rs`) become these
//! through `From`/`TryFrom`; only these appear in the OpenAPI document.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::AppError;
use crate::error::internal;
use crate::features::directory::Issued;
use crate::features::directory::Merchant;
use crate::features::merchants::store::{ApplicationRow, ParticipationEventRow, TargetRow};
use machipay_domain::calendar::FiscalYear;
use machipay_domain::ids::*;
use machipay_domain::registry::{BankAccountInput, BankAccountView, ParticipationKind, Profile};

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplicationRequest {
    pub name: String,
    pub profile: Profile,
    #[serde(default)]
    pub bank_account: Option<BankAccountInput>,
    /// The program the store applies to join; approval records it as joined.
    #[serde(default)]
    pub program_id: Option<ProgramId>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ApplicationView {
    pub id: ApplicationId,
    pub name: String,
    pub profile: Profile,
    pub bank_account: Option<BankAccountView>,
    pub program_id: Option<ProgramId>,
    /// `pending`, `approved` or `rejected`.
    pub status: String,
    pub reason: Option<String>,
    /// The store approval created.
    pub merchant_id: Option<MerchantId>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

impl TryFrom<ApplicationRow> for ApplicationView {
    type Error = AppError;
    fn try_from(r: ApplicationRow) -> Result<Self, AppError> {
        let bank_account = match &r.bank_account {
            Some(text) => Some(serde_json::from_str(text).map_err(internal)?),
            None => None,
        };
        Ok(Self {
            id: r.id,
            name: r.name,
            profile: serde_json::from_str(&r.profile).map_err(internal)?,
            bank_account,
            program_id: r.program_id.map(ProgramId),
            status: r.status,
            reason: r.reason,
            merchant_id: r.merchant_id.map(MerchantId),
            created_at: r.created_at,
            decided_at: r.decided_at,
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DecisionRequest {
    pub decision: Decision,
    /// Required to reject; kept with the application.
    #[serde(default)]
    pub reason: Option<String>,
    /// When the store joins the applied-for program (JST date, default today).
    #[serde(default)]
    pub joined_on: Option<NaiveDate>,
}

/// The decided application; on approval, the new store and its owner token (shown once).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct DecisionResponse {
    pub application: ApplicationView,
    pub merchant: Option<Issued<Merchant>>,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EventRequest {
    pub kind: ParticipationKind,
    /// JST date the event takes effect (default today); never before the store's latest
    /// event, never in the future.
    #[serde(default)]
    pub effective_on: Option<NaiveDate>,
    #[serde(default)]
    pub reason: Option<String>,
}

/// One participation event.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ParticipationEvent {
    pub id: ParticipationEventId,
    pub program_id: ProgramId,
    pub merchant_id: MerchantId,
    pub kind: ParticipationKind,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

impl From<ParticipationEventRow> for ParticipationEvent {
    fn from(e: ParticipationEventRow) -> Self {
        Self {
            id: e.id,
            program_id: e.program_id,
            merchant_id: e.merchant_id,
            kind: e.kind,
            effective_on: e.effective_on,
            reason: e.reason,
            created_at: e.created_at,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TargetRequest {
    /// Participating stores targeted by the end of the 年度.
    pub stores: i64,
}

/// A target in force, labelled both ways.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct TargetView {
    pub fiscal_year: i32,
    /// "令和7年度".
    pub label: String,
    pub stores: i64,
    #[schema(value_type = String, format = Uuid)]
    pub set_by: uuid::Uuid,
    pub set_at: DateTime<Utc>,
}

impl TryFrom<&TargetRow> for TargetView {
    type Error = AppError;
    fn try_from(t: &TargetRow) -> Result<Self, AppError> {
        let fy = FiscalYear::new(t.fiscal_year).map_err(internal)?;
        Ok(Self {
            fiscal_year: t.fiscal_year,
            label: fy.reiwa_label(),
            stores: t.stores,
            set_by: t.set_by,
            set_at: t.created_at,
        })
    }
}

/// The targets in force per 年度 and every change ever made (the audit trail).
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct Targets {
    pub current: Vec<TargetView>,
    pub history: Vec<TargetView>,
}

/// The query of an import (the body is the CSV file itself).
#[derive(Debug, Clone, Default, Deserialize, Serialize, ToSchema, utoipa::IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportRequest {
    /// Stores new to this program (no participation event in it yet) join it. Stores it
    /// already knows keep their participation as it is, left and suspended ones included.
    #[serde(default)]
    pub program_id: Option<ProgramId>,
    /// The join date of stores new to the program (JST, default today; not in the future).
    #[serde(default)]
    pub joined_on: Option<NaiveDate>,
}

/// What was wrong with one line.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct LineError {
    /// 1-based line of the file (the header is line 1).
    pub line: u64,
    pub code: String,
    pub message: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportedStore {
    pub line: u64,
    pub external_ref: String,
    pub merchant_id: MerchantId,
    pub created: bool,
    /// This import recorded the store's join (it was new to the program).
    pub joined: bool,
    /// The store's participation in the program after the import (its latest event's kind);
    /// absent without `program_id`, or for a known store with no history in the program.
    pub participation: Option<ParticipationKind>,
    /// The file's 店舗名 replaced the store's name.
    pub renamed: bool,
    /// The id of the new store's owner token (created stores only), for
    /// `DELETE /api/v1/tokens/{id}`.
    pub token_id: Option<TokenId>,
    /// The new store's owner token, shown once (created stores only).
    pub token: Option<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct ImportResult {
    pub created: usize,
    pub updated: usize,
    pub stores: Vec<ImportedStore>,
}

/// A file refused because of its lines: 422 `import_rejected` with every line's errors.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ImportRejection {
    pub error: crate::error::ErrorBody,
    pub lines: Vec<LineError>,
}
