//! Store refunds: a store gives back a payment it received, in full or in part, in yen,
//! within the program's window, never more than is still open. The rebate the payment earned
//! is taken back in proportion (`campaigns::rebates::clawback`).

use chrono::Duration;

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::campaigns::rebates;
use crate::features::payments::store::{self, NewRefund};
use crate::features::payments::{
    PaymentRefusal, RefundRequest, RefundResponse, returns, spent_point_value, wallet,
};
use crate::features::program_in_city;
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, Account};
use crate::writer::{Answer, Done, Idempotency, StoreEvent, Work};
use machipay_domain::auth::Principal;
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};
use machipay_domain::money::{Points, Yen};

/// A store refunds a payment it received, in full or in part (its devices and owner).
pub async fn refund(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: RefundRequest,
    idem: Idempotency,
) -> Result<Answer<RefundResponse>, AppError> {
    if !matches!(
        who,
        Principal::MerchantOwner { .. } | Principal::Device { .. }
    ) {
        return Err(AppError::forbidden());
    }
    if !who.acts_for_merchant(merchant) {
        return Err(AppError::not_found("merchant"));
    }
    let len = req.reason.trim().chars().count();
    if len == 0 || req.reason.chars().count() > 200 {
        return Err(Common::InvalidReason.into());
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(refund_in(w, who, merchant, req))
        })
        .await
}

/// The refund job itself (the simulator and the scale fixture compose it).
pub async fn refund_in(
    w: &mut Work,
    who: Principal,
    merchant: MerchantId,
    req: RefundRequest,
) -> Result<Done<RefundResponse>, AppError> {
    let payment = req.transaction_id;
    let (txn, postings) = ledger_store::get_transaction_tx(&mut w.tx, payment)
        .await?
        .ok_or_else(|| AppError::not_found("payment"))?;
    returns::check_refund_target(&txn, &postings, merchant)?;
    // The payment must have been made to this store; anyone else's answers "not found".
    let store_legs: Vec<_> = postings
        .iter()
        .filter(|p| {
            p.account_kind == AccountKind::Merchant
                && p.owner_id == Some(merchant.0)
                && p.amount > 0
        })
        .collect();
    if store_legs.is_empty() {
        return Err(AppError::not_found("payment"));
    }
    let (program, settings) = program_in_city(&mut w.tx, &who, txn.program_id).await?;
    if txn.reversed_by.is_some() {
        return Err(PaymentRefusal::RefundOfReversed.into());
    }
    if w.now > txn.created_at + Duration::days(settings.refund_window_days) {
        return Err(PaymentRefusal::RefundWindowClosed(settings.refund_window_days).into());
    }
    let shopper = postings
        .iter()
        .find(|p| p.account_kind == AccountKind::ShopperWallet && p.amount < 0)
        .and_then(|p| p.owner_id)
        .map(ShopperId)
        .ok_or_else(|| internal("payment without a paying wallet"))?;
    let refunded = store::refunded_by_asset_tx(&mut w.tx, payment).await?;
    let already = |asset: Asset| {
        refunded
            .iter()
            .filter(|(a, _)| a == asset.as_str())
            .map(|(_, n)| *n)
            .sum::<i64>()
    };
    let paid = |asset: Asset| {
        store_legs
            .iter()
            .filter(|p| p.asset == asset)
            .map(|p| p.amount)
            .sum::<i64>()
    };
    // What of each asset can still come back, in the ledger's unit of that asset.
    let open = |asset: Asset| paid(asset) - already(asset);
    // A refund is in yen, as the price was: the coin and premium still open yen for yen, the
    // points still open at what the payment spent them at, ¥1 a point in a currency program
    // (`payments::pay_merchant`).
    let point_value = spent_point_value(program.kind, &settings);
    let yen_open = Yen::new(open(Asset::Coin))
        .checked_add(Yen::new(open(Asset::Premium)))
        .map_err(internal)?;
    let points_open = Points::new(open(Asset::Points));
    let amount = Yen::new(req.amount.get());
    let refundable = yen_open
        .checked_add(points_open.value_at(point_value).map_err(internal)?)
        .map_err(internal)?;
    if amount > refundable {
        return Err(PaymentRefusal::RefundExceedsPayment(refundable.get()).into());
    }
    let amount = amount.get();
    // Give back what was spent last first: paid coin, then premium, then points.
    let mut left = Yen::new(amount);
    let mut legs = Vec::new();
    let mut accounts = Vec::new();
    let (mut yen_refunded, mut points_back) = (Yen::ZERO, Points::ZERO);
    for asset in [Asset::Coin, Asset::Premium, Asset::Points] {
        // What this asset gives back, in its own unit, and the yen of the refund it covers.
        let (take, covered) = if asset == Asset::Points {
            let points = point_value
                .points_covering(left)
                .map_err(internal)?
                .min(points_open);
            let worth = points.value_at(point_value).map_err(internal)?;
            (points.get(), worth.min(left))
        } else {
            let yen = left.min(Yen::new(open(asset)));
            (yen.get(), yen)
        };
        if take <= 0 {
            continue;
        }
        let store_account = ledger_store::ensure_account(
            &mut w.tx,
            program.id,
            AccountKind::Merchant,
            asset,
            Some(merchant.0),
        )
        .await?;
        legs.push(Leg {
            account: store_account.id,
            asset,
            amount: -take,
        });
        accounts.push(store_account);
        left = left.checked_sub(covered).map_err(internal)?;
        if asset == Asset::Points {
            // The shopper's points leg is posted net of the claw-back, below.
            points_back = Points::new(take);
            continue;
        }
        let target = wallet(w, program.id, shopper, asset).await?;
        legs.push(Leg {
            account: target.id,
            asset,
            amount: take,
        });
        accounts.push(target);
        yen_refunded = yen_refunded.checked_add(covered).map_err(internal)?;
    }
    // Yen (coin and premium) of the payment given back, this refund included: what the
    // rebate's claw-back is worked out on.
    let yen_after = Yen::new(already(Asset::Coin))
        .checked_add(Yen::new(already(Asset::Premium)))
        .and_then(|y| y.checked_add(yen_refunded))
        .map_err(internal)?;
    let claw = rebates::clawback(
        w,
        rebates::Refunded {
            payment,
            program: program.id,
            shopper,
            yen_after,
            points_back,
            rule: settings.clawback_shortfall,
        },
    )
    .await?;
    let (clawed, shortfall) = (claw.clawed, claw.shortfall);
    legs.extend(claw.legs);
    accounts.extend(claw.accounts);
    let expiry = refund_expiry(w, payment).await?;
    let entry = Entry::new(legs).map_err(internal)?;
    let posting = Posting {
        program: program.id,
        kind: "refund",
        initiated_by: who.scope_id(),
        memo: Some(&req.reason),
        reverses: None,
        lots: Lots::Normal(expiry),
    };
    let refs: Vec<&Account> = accounts.iter().collect();
    let id = post(w, &posting, &entry, &refs).await?;
    store::insert_refund(
        &mut w.tx,
        &NewRefund {
            transaction_id: id,
            payment,
            merchant,
            amount,
            shortfall_points: shortfall,
            reason: &req.reason,
            created_at: w.now,
        },
    )
    .await?;
    w.notify(StoreEvent {
        kind: "refund".into(),
        merchant_id: merchant,
        program_id: program.id,
        transaction_id: id,
        amount,
        payment_request_id: None,
        created_at: w.now,
    });
    Ok(Done::created(RefundResponse {
        transaction_id: id,
        payment_transaction_id: payment,
        amount: Yen::new(amount),
        points_clawed_back: Points::new(clawed),
        shortfall_points: Points::new(shortfall),
        created_at: w.now,
    }))
}

/// Refunded yen keep the expiry of the lots they were paid from.
async fn refund_expiry(w: &mut Work, payment: TransactionId) -> Result<CreditExpiry, AppError> {
    let mut e = CreditExpiry::NEVER;
    for (asset, date) in store::consumed_lot_expiry_tx(&mut w.tx, payment).await? {
        match Asset::parse(&asset) {
            Some(Asset::Coin) => e.coin = date,
            Some(Asset::Premium) => e.premium = date,
            Some(Asset::Points) => e.points = date,
            None => {}
        }
    }
    Ok(e)
}
