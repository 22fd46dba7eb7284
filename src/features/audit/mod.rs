//! The audit log: who changed what. Each operator or staff change (an application decided, a
//! settings version, a campaign or lottery opened, a lottery drawn, a card issued, blocked or
//! replaced, a store's profile or bank account (masked) changed, a participation event, a
//! shopper blocked or unblocked, a settlement run made or confirmed, a setup code issued;
//! before and after where a value was replaced) appends one row with
//! [`record`] in the writer transaction that makes the change, so the change and its row
//! commit together; a replayed request runs no job and adds no row. Operators read it newest
//! first, a page at a time ([`list`]).

pub(crate) mod http;
pub(crate) mod store;

use chrono::{DateTime, Utc};
use serde::Serialize;
use utoipa::ToSchema;
use uuid::Uuid;

use crate::app::App;
use crate::error::AppError;
use crate::http::refusals::RequestRefusal;
use crate::writer::WriteTx;
use machipay_domain::auth::{Capability, Principal};

/// Entries on a page by default, and at most.
pub const PAGE_SIZE_DEFAULT: i64 = 50;
pub const PAGE_SIZE_MAX: i64 = 200;
/// The longest `detail` kept (characters of its JSON text; the table's CHECK says 4,000).
const DETAIL_CHARS_MAX: usize = 4000;

/// One change to record: what was done (`action`, e.g. `application_approved`) to what
/// (`subject_kind` and its id), with particulars people need to read the log (never a secret).
pub struct Change<'a> {
    pub action: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: Uuid,
    pub detail: serde_json::Value,
}

/// Appends `change` by `who` at `at` to the audit log, in the caller's write transaction.
pub async fn record(
    tx: &mut WriteTx,
    who: &Principal,
    at: DateTime<Utc>,
    change: Change<'_>,
) -> Result<(), AppError> {
    let mut detail = change.detail.to_string();
    if detail.chars().count() > DETAIL_CHARS_MAX {
        // Particulars are a courtesy; the row (who, what, when) is what must be kept.
        detail = serde_json::json!({"truncated": true}).to_string();
    }
    let row = store::NewEntry {
        id: Uuid::now_v7(),
        city_id: who.city().0,
        at,
        actor_kind: actor_kind(who),
        actor_id: who.scope_id(),
        action: change.action,
        subject_kind: change.subject_kind,
        subject_id: change.subject_id,
        detail: &detail,
    };
    store::insert(tx, &row).await?;
    Ok(())
}

fn actor_kind(who: &Principal) -> &'static str {
    match who {
        Principal::Staff { .. } => "staff",
        Principal::MerchantOwner { .. } => "merchant_owner",
        Principal::Device { .. } => "device",
        Principal::Shopper { .. } => "shopper",
    }
}

/// One entry of the log as the API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditEntry {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    /// `staff`, `merchant_owner`, `device` or `shopper`.
    pub actor_kind: String,
    pub actor_id: Uuid,
    /// The staff member's name when the actor is staff.
    pub actor_name: Option<String>,
    /// What was done, e.g. `application_approved`, `settlement_confirmed`.
    pub action: String,
    /// What it was done to, e.g. `application`, `settlement_run`, `card`, `program`.
    pub subject_kind: String,
    pub subject_id: Uuid,
    /// The change's particulars (JSON).
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A page of the log, newest first; `next_before` fetches the next (older) page.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// Pass as `before` for the next page; absent on the last page.
    pub next_before: Option<Uuid>,
}

/// The city's audit log, newest first, `limit` entries older than `before` (operators).
pub async fn list(
    app: &App,
    who: Principal,
    before: Option<Uuid>,
    limit: Option<i64>,
) -> Result<AuditPage, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let limit = limit.unwrap_or(PAGE_SIZE_DEFAULT);
    if !(1..=PAGE_SIZE_MAX).contains(&limit) {
        return Err(RequestRefusal::InvalidLimit(PAGE_SIZE_MAX).into());
    }
    // One more than asked tells whether an older page exists.
    let mut rows = store::page(&app.db, who.city().0, before, limit + 1).await?;
    let more = rows.len() > usize::try_from(limit).unwrap_or(0);
    rows.truncate(usize::try_from(limit).unwrap_or(0));
    let next_before = if more {
        rows.last().map(|r| r.id)
    } else {
        None
    };
    let entries = rows
        .into_iter()
        .map(|r| AuditEntry {
            id: r.id,
            at: r.at,
            actor_kind: r.actor_kind,
            actor_id: r.actor_id,
            actor_name: r.actor_name,
            action: r.action,
            subject_kind: r.subject_kind,
            subject_id: r.subject_id,
            detail: serde_json::from_str(&r.detail).unwrap_or(serde_json::Value::Null),
        })
        .collect();
    Ok(AuditPage {
        entries,
        next_before,
    })
}
