//! What the audit log keeps of the registry's changes: a store's profile (the fields that
//! changed, before and after), its bank account (masked: bank, branch and the last three
//! digits, never the whole number) and each participation event.

use serde_json::{Map, Value, json};

use crate::error::{AppError, internal};
use crate::features::audit::Change;
use crate::features::merchants::store::ParticipationEventRow;
use machipay_domain::ids::MerchantId;
use machipay_domain::registry::{BankAccountView, Profile};

/// A profile replaced: which fields changed, with their values before and after (a store
/// without a profile had nothing before).
pub(super) fn profile_change(
    name: &str,
    merchant: MerchantId,
    before: Option<&Profile>,
    after: &Profile,
) -> Result<Change<'static>, AppError> {
    let old = match before {
        Some(p) => serde_json::to_value(p).map_err(internal)?,
        None => Value::Object(Map::new()),
    };
    let new = serde_json::to_value(after).map_err(internal)?;
    let (mut was, mut now, mut fields) = (Map::new(), Map::new(), Vec::new());
    if let Value::Object(new) = &new {
        for (field, value) in new {
            let prior = old.get(field).cloned().unwrap_or(Value::Null);
            if &prior != value {
                fields.push(field.clone());
                was.insert(field.clone(), prior);
                now.insert(field.clone(), value.clone());
            }
        }
    }
    Ok(Change {
        action: "store_profile_changed",
        subject_kind: "merchant",
        subject_id: merchant.0,
        detail: json!({"name": name, "fields": fields, "before": was, "after": now}),
    })
}

/// An account as the log shows it: `ﾐﾔｺｷﾞﾝｺｳ ﾎﾝﾃﾝ ordinary ••••567`.
fn masked(b: &BankAccountView) -> Value {
    let digits = b.account_number.chars().count();
    let tail: String = b
        .account_number
        .chars()
        .skip(digits.saturating_sub(3))
        .collect();
    let dots = "•".repeat(digits.saturating_sub(3));
    json!({
        "bank_code": b.bank_code,
        "branch_code": b.branch_code,
        "account_type": b.account_type,
        "masked": format!("{} {} {dots}{tail}", b.bank_name_kana, b.branch_name_kana),
    })
}

/// A new bank account version: the one before and the new one, both masked.
pub(super) fn bank_change(
    name: &str,
    merchant: MerchantId,
    before: Option<&BankAccountView>,
    after: &BankAccountView,
) -> Change<'static> {
    Change {
        action: "bank_account_changed",
        subject_kind: "merchant",
        subject_id: merchant.0,
        detail: json!({
            "name": name,
            "before": before.map(masked),
            "after": masked(after),
        }),
    }
}

/// A participation event recorded (by hand, by an approval or by an import).
pub(super) fn participation(name: &str, e: &ParticipationEventRow) -> Change<'static> {
    let action = match e.kind.as_str() {
        "joined" => "participation_joined",
        "suspended" => "participation_suspended",
        "resumed" => "participation_resumed",
        _ => "participation_left",
    };
    Change {
        action,
        subject_kind: "merchant",
        subject_id: e.merchant_id.0,
        detail: json!({
            "name": name,
            "program_id": e.program_id,
            "event_id": e.id,
            "effective_on": e.effective_on,
            "reason": e.reason,
        }),
    }
}
