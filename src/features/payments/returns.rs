//! The one rule that keeps every way back bounded by the way out (README: "Reversals,
//! refunds and returns").
//!
//! - An operator's reversal undoes an original entirely, so it is allowed only while nothing
//!   of the original has come back another way: no store refund, no point return, and for a
//!   batch rebate grant no refund of the payment it rebates (which claws the rebate back).
//!   Otherwise `partially_returned`: the rest goes back through the kind's own return path.
//! - What is itself a way back (a refund, a return) or whose undoing has no sound meaning (a
//!   card replacement, an expiry) is never reversed: `not_reversible`.
//! - A payment whose batch rebate was granted is reversed only after that grant
//!   (`rebate_granted`), so no rebate outlives its payment.
//! - A reversal never lands on a replaced card, where no number could spend it:
//!   `card_replaced` (the store's point returns follow the balance to the new card).
//! - The other way round, refunds and returns refuse an original that was reversed
//!   (`already_reversed`, checked on their own paths) and refuse to return a refund, a return
//!   or a reversal: `not_refundable`.
//!
//! `ledger-check` verifies the outcome (`writer::rows::over_returned`).

use crate::error::{AppError, Common};
use crate::features::payments::PaymentRefusal;
use crate::writer::Work;
use crate::writer::rows::{self as store, PostingRecord, TransactionRecord};
use machipay_domain::ids::{CardId, MerchantId};
use machipay_domain::ledger::AccountKind;
use machipay_domain::ledger::kinds::{
    EARN_RETURN_KIND, EXPIRY_KIND, REBATE_GRANT_KIND, REFUND_KIND, REPLACEMENT_KIND,
    SPEND_REFUND_KIND,
};

/// Kinds that are themselves a way back from an original.
const WAYS_BACK: [&str; 3] = [REFUND_KIND, EARN_RETURN_KIND, SPEND_REFUND_KIND];

/// Why a kind is never reversed, and what to do instead.
fn not_reversible(kind: &str) -> Option<&'static str> {
    match kind {
        REFUND_KIND => Some("a refund cannot be reversed; the shopper pays again instead"),
        EARN_RETURN_KIND => {
            Some("a point return cannot be reversed; the store awards the points again instead")
        }
        SPEND_REFUND_KIND => {
            Some("a points refund cannot be reversed; the card pays with points again instead")
        }
        REPLACEMENT_KIND => {
            Some("a card replacement cannot be reversed; replace the card again instead")
        }
        EXPIRY_KIND => Some("an expiry cannot be reversed; expired value is not given back"),
        _ => None,
    }
}

/// Refuses a reversal of `txn` unless undoing all of it is sound (see the module doc). The
/// caller has already refused reversals and originals reversed before.
pub(crate) async fn check_reversible(
    w: &mut Work,
    txn: &TransactionRecord,
    postings: &[PostingRecord],
) -> Result<(), AppError> {
    if let Some(why) = not_reversible(&txn.kind) {
        return Err(PaymentRefusal::NotReversible(why).into());
    }
    let rebate_grant = txn.kind == REBATE_GRANT_KIND;
    if store::returns_of_tx(&mut w.tx, txn.id, rebate_grant).await? > 0 {
        let how = if rebate_grant {
            "refund the rest of the payment it rebates (the refund takes the rebate back)"
        } else {
            "refund or return the rest through the store, as the earlier return was made"
        };
        return Err(PaymentRefusal::PartiallyReturned(how).into());
    }
    if txn.kind == "payment"
        && let Some(grant) = store::live_rebate_grant_tx(&mut w.tx, txn.id).await?
    {
        return Err(PaymentRefusal::RebateGranted(grant).into());
    }
    for p in postings
        .iter()
        .filter(|p| p.account_kind == AccountKind::ShopperWallet)
    {
        let Some(owner) = p.owner_id else { continue };
        if store::replaced_card_tx(&mut w.tx, CardId(owner)).await? {
            return Err(Common::CardReplaced(CARD_REPLACED_SINCE).into());
        }
    }
    Ok(())
}

/// The refusal of a refund or return of something that is itself a way back.
pub(crate) fn not_refundable() -> AppError {
    PaymentRefusal::NotRefundable.into()
}

/// A store refund names a payment: anything else the store took part in that is a way back
/// (a refund, a return, a reversal) is `not_refundable`; the rest is "not found", as for
/// another store's payment.
pub(crate) fn check_refund_target(
    txn: &TransactionRecord,
    postings: &[PostingRecord],
    merchant: MerchantId,
) -> Result<(), AppError> {
    if txn.kind == "payment" {
        return Ok(());
    }
    let at_store = postings
        .iter()
        .any(|p| p.account_kind == AccountKind::Merchant && p.owner_id == Some(merchant.0));
    if at_store && (txn.reverses_id.is_some() || WAYS_BACK.contains(&txn.kind.as_str())) {
        return Err(not_refundable());
    }
    Err(AppError::not_found("payment"))
}

/// The `card_replaced` text of a reversal that would credit a card replaced since the payment.
pub(crate) const CARD_REPLACED_SINCE: &str = "the card was replaced since; its balance is on the new card, so return the \
                 purchase or refund the points at the store (returns follow the new card)";
