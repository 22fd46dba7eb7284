//! Money use-cases: counter charges, payments, shopper-to-shopper transfers, reversals and
//! store refunds (`refunds`).
//! Each checks who may act, reads what it needs inside the batch transaction, builds one
//! balanced `Entry`, and posts it.

pub mod api;
pub mod check;
pub(crate) mod http;
pub mod reads;
pub mod refunds;
pub mod refusals;
pub mod returns;
pub mod store;

use chrono::Utc;

pub use api::{
    BalanceView, CounterChargeRequest, MovementResponse, PaymentRequest, RefundRequest,
    RefundResponse, ReversalRequest, ReversalResponse, TransferRequest,
};
pub use refunds::{refund, refund_in};
pub use refusals::PaymentRefusal;

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::directory::{ProgramRow, merchant_tx, refuse_blocked_tx, shopper_tx};
use crate::features::program_in_city;
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, Account};
use crate::writer::{Answer, Done, Idempotency, StoreEvent, Work, WriteTx};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::jst_date;
use machipay_domain::ids::*;
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};
use machipay_domain::money::{Amount, PointValue, Points, Yen};
use machipay_domain::program::{ProgramKind, ProgramSettings, SpendOrder};

/// Longest memo or reason kept with a transaction.
pub const MEMO_LEN_MAX: usize = 200;

pub async fn counter_charge(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: CounterChargeRequest,
    idem: Idempotency,
) -> Result<Answer<MovementResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    // The charged shopper's wallets are read ahead (the answer shows their balances).
    let shopper = req.shopper_id.0;
    app.writer
        .answer_for(Some(shopper), Some(idem), move |w| {
            Box::pin(counter_charge_in(w, who, program, req))
        })
        .await
}

/// The counter-charge job itself (see `pay_in`: tests compose it with a backdated clock).
pub async fn counter_charge_in(
    w: &mut Work,
    who: Principal,
    program_id: ProgramId,
    req: CounterChargeRequest,
) -> Result<Done<MovementResponse>, AppError> {
    let (program, settings) = program_in_city(&mut w.tx, &who, program_id).await?;
    if program.kind != ProgramKind::Currency {
        Err(Common::WrongProgramKind(
            "charges are for currency programs",
        ))?;
    }
    shopper_in_city(w, &who, req.shopper_id).await?;
    let amount = req.amount.get();
    settings
        .check_charge(amount)
        .map_err(PaymentRefusal::InvalidChargeAmount)?;
    charge_wallet_done(
        w,
        who.scope_id(),
        program_id,
        &settings,
        req.shopper_id,
        amount,
        "charge",
    )
    .await
}

/// Moves `amount` of paid coin from the issuer float into a shopper's wallet, within the
/// holding cap, opening a lot that expires as the program's policy says.
pub(crate) async fn charge_wallet_done(
    w: &mut Work,
    initiated_by: uuid::Uuid,
    program_id: ProgramId,
    settings: &ProgramSettings,
    shopper: ShopperId,
    amount: i64,
    kind: &'static str,
) -> Result<Done<MovementResponse>, AppError> {
    let req = CounterChargeRequest {
        shopper_id: shopper,
        amount: Amount::new(amount).map_err(internal)?,
    };
    refuse_blocked_tx(&mut w.tx, shopper).await?;
    let expiry = credit_expiry(settings, w.now)?;
    let held = yen_held(w, program_id, req.shopper_id).await?;
    let fits = held
        .checked_add(Yen::new(amount))
        .is_ok_and(|total| total <= Yen::new(settings.holding_cap_yen));
    if !fits {
        Err(PaymentRefusal::HoldingCapExceeded(settings.holding_cap_yen))?;
    }
    let wallet = wallet(w, program_id, req.shopper_id, Asset::Coin).await?;
    let float = ledger_store::ensure_account(
        &mut w.tx,
        program_id,
        AccountKind::IssuerFloat,
        Asset::Coin,
        None,
    )
    .await?;
    let entry = Entry::transfer(float.id, wallet.id, Asset::Coin, amount).map_err(internal)?;
    let posting = Posting {
        program: program_id,
        kind,
        initiated_by,
        memo: None,
        reverses: None,
        lots: Lots::Normal(expiry),
    };
    let id = post(w, &posting, &entry, &[&wallet, &float]).await?;
    movement_done(w, id, kind, program_id, req.shopper_id, Yen::new(amount)).await
}

/// Expiry of lots issued now under the program's policy. A fixed expiry date already past
/// means the program no longer issues.
pub(crate) fn credit_expiry(
    settings: &ProgramSettings,
    now: chrono::DateTime<Utc>,
) -> Result<CreditExpiry, AppError> {
    let today = jst_date(now);
    let expires_on = settings.expiry.lot_expires_on(today);
    if expires_on.is_some_and(|d| d < today) {
        Err(PaymentRefusal::ProgramExpired)?;
    }
    Ok(CreditExpiry {
        coin: expires_on,
        premium: expires_on,
        points: None,
    })
}

pub async fn pay(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: PaymentRequest,
    idem: Idempotency,
) -> Result<Answer<MovementResponse>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    app.writer
        .answer_for(Some(shopper.0), Some(idem), move |w| {
            Box::pin(pay_in(w, who, program, req))
        })
        .await
}

/// The payment job itself. Public so callers composing writer jobs can run it; the tests
/// set `Work::now` back to build fixtures of past years.
pub async fn pay_in(
    w: &mut Work,
    who: Principal,
    program_id: ProgramId,
    req: PaymentRequest,
) -> Result<Done<MovementResponse>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    let (program, settings) = program_in_city(&mut w.tx, &who, program_id).await?;
    merchant_tx(&mut w.tx, req.merchant_id)
        .await?
        .filter(|m| m.city_id == who.city())
        .ok_or_else(|| AppError::not_found("merchant"))?;
    let spend = Spend {
        program: &program,
        settings: &settings,
        shopper,
        merchant: req.merchant_id,
        amount: Yen::new(req.amount.get()),
    };
    let id = pay_merchant(w, &spend, None).await?;
    movement_done(w, id, "payment", program_id, shopper, spend.amount).await
}

/// A payment to post: who pays whom how much, under which program.
pub(crate) struct Spend<'a> {
    pub program: &'a ProgramRow,
    pub settings: &'a ProgramSettings,
    pub shopper: ShopperId,
    pub merchant: MerchantId,
    /// The price, in yen.
    pub amount: Yen,
}

/// Posts a payment from a shopper's wallet to a store, drawing on the assets in spend order,
/// and tells the store's devices once it commits. The caller has checked the parties.
///
/// The price is in yen; coin and premium pay it yen for yen, points at the program's point
/// value: ¥1 a point in a currency program (`ProgramSettings::point_value`), so ¥n of the
/// price takes n points, through the one named conversion (`PointValue::points_covering`,
/// whose way back is `Points::value_at`).
pub(crate) async fn pay_merchant(
    w: &mut Work,
    spend: &Spend<'_>,
    payment_request: Option<uuid::Uuid>,
) -> Result<TransactionId, AppError> {
    let program_id = spend.program.id;
    // Every way of paying (in the app, by a store's code, by the shopper's code at a till, a
    // card checkout) comes here: a blocked shopper pays nothing.
    refuse_blocked_tx(&mut w.tx, spend.shopper).await?;
    crate::features::merchants::participation::ensure_participating(
        &mut w.tx,
        program_id,
        spend.merchant,
    )
    .await?;
    let mut left = spend.amount;
    let mut legs = Vec::new();
    let mut accounts = Vec::new();
    // What was paid in yen (coin and premium): the base of rebates; points earn none.
    let mut yen_part = Yen::ZERO;
    let point_value = spent_point_value(spend.program.kind, spend.settings);
    // The wallets the shopper holds (one read); an asset never held has nothing to spend,
    // and paying does not open an empty wallet for it.
    let held = ledger_store::shopper_wallets(&mut w.tx, program_id, spend.shopper.0).await?;
    for &asset in spend_order(spend.program.kind, spend.settings.spend_order) {
        let Some(wallet) = held.iter().find(|a| a.asset == asset).cloned() else {
            continue;
        };
        // What this asset takes, in its own unit (the ledger's), and the yen of the price
        // it covers.
        let (take, covered) = if asset == Asset::Points {
            let points = point_value
                .points_covering(left)
                .map_err(internal)?
                .min(Points::new(wallet.balance));
            let worth = points.value_at(point_value).map_err(internal)?;
            (points.get(), worth.min(left))
        } else {
            let yen = left.min(Yen::new(wallet.balance));
            (yen.get(), yen)
        };
        if take > 0 {
            let merchant = ledger_store::ensure_account(
                &mut w.tx,
                program_id,
                AccountKind::Merchant,
                asset,
                Some(spend.merchant.0),
            )
            .await?;
            legs.push(Leg {
                account: wallet.id,
                asset,
                amount: -take,
            });
            legs.push(Leg {
                account: merchant.id,
                asset,
                amount: take,
            });
            accounts.push(merchant);
            left = left.checked_sub(covered).map_err(internal)?;
            if asset != Asset::Points {
                yen_part = yen_part.checked_add(covered).map_err(internal)?;
            }
        }
        accounts.push(wallet);
    }
    if left > Yen::ZERO {
        return Err(AppError::insufficient_funds());
    }
    let purchase = crate::features::campaigns::rebates::Purchase {
        program: program_id,
        shopper: spend.shopper,
        merchant: spend.merchant,
        yen_part,
    };
    let rebate = crate::features::campaigns::rebates::plan(w, &purchase).await?;
    legs.extend(rebate.legs.iter().copied());
    accounts.extend(rebate.accounts.iter().cloned());
    let entry = Entry::new(legs).map_err(internal)?;
    let posting = Posting {
        program: program_id,
        kind: "payment",
        initiated_by: spend.shopper.0,
        memo: None,
        reverses: None,
        lots: Lots::Normal(CreditExpiry {
            points: rebate.expires_on,
            ..CreditExpiry::NEVER
        }),
    };
    let refs: Vec<&Account> = accounts.iter().collect();
    let id = post(w, &posting, &entry, &refs).await?;
    crate::features::campaigns::rebates::record(w, id, spend.shopper, &rebate).await?;
    w.notify(StoreEvent {
        kind: "payment".into(),
        merchant_id: spend.merchant,
        program_id,
        transaction_id: id,
        amount: spend.amount.get(),
        payment_request_id: payment_request,
        created_at: w.now,
    });
    Ok(id)
}

/// Opens a store's accounts in a currency program, one per asset a payment there can be made
/// in, unless open already: called when the store's code for the program is issued, so that
/// its first payment finds them. Opening an account is a write, and a write in the middle of a
/// batch first writes out every payment left pending before it and takes a savepoint (seen
/// after a restart: batches of 37 ms instead of 5 while a town's stores took their first
/// payments).
pub(crate) async fn open_store_accounts(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<(), AppError> {
    for &asset in spend_order(ProgramKind::Currency, SpendOrder::CoinFirst) {
        ledger_store::ensure_account(tx, program, AccountKind::Merchant, asset, Some(merchant.0))
            .await?;
    }
    Ok(())
}

/// What a point spent in a payment (and given back by its refund) is worth: a currency
/// program's points are worth ¥1 (`ProgramSettings::point_value`). A point card never pays
/// here (its wallets belong to cards; `points::checkout` splits its bills), so its points
/// count 1:1 with the amount, as they always have.
pub(crate) fn spent_point_value(kind: ProgramKind, settings: &ProgramSettings) -> PointValue {
    match kind {
        ProgramKind::Currency => settings.point_value(ProgramKind::Currency),
        ProgramKind::Points => PointValue::ONE_YEN,
    }
}

/// Which assets a payment draws on, in order. Within yen the city-funded premium goes first:
/// it is the part that usually expires first and the part the city wants spent in town.
fn spend_order(kind: ProgramKind, order: SpendOrder) -> &'static [Asset] {
    match (kind, order) {
        (ProgramKind::Currency, SpendOrder::PointsFirst) => {
            &[Asset::Points, Asset::Premium, Asset::Coin]
        }
        (ProgramKind::Currency, SpendOrder::CoinFirst) => {
            &[Asset::Premium, Asset::Coin, Asset::Points]
        }
        (ProgramKind::Points, _) => &[Asset::Points],
    }
}

pub async fn transfer(
    app: &App,
    who: Principal,
    program: ProgramId,
    req: TransferRequest,
    idem: Idempotency,
) -> Result<Answer<MovementResponse>, AppError> {
    let Principal::Shopper { id: sender, .. } = who else {
        return Err(AppError::forbidden());
    };
    app.writer
        .answer_for(Some(sender.0), Some(idem), move |w| {
            Box::pin(transfer_in(w, who, program, req))
        })
        .await
}

pub async fn transfer_in(
    w: &mut Work,
    who: Principal,
    program_id: ProgramId,
    req: TransferRequest,
) -> Result<Done<MovementResponse>, AppError> {
    let Principal::Shopper { id: from, .. } = who else {
        return Err(AppError::forbidden());
    };
    let (program, settings) = program_in_city(&mut w.tx, &who, program_id).await?;
    if program.kind != ProgramKind::Currency || !settings.p2p_transfers {
        Err(PaymentRefusal::TransfersDisabled)?;
    }
    if req.to_shopper_id == from {
        Err(PaymentRefusal::SameWallet)?;
    }
    shopper_in_city(w, &who, req.to_shopper_id).await?;
    refuse_blocked_tx(&mut w.tx, from).await?;
    refuse_blocked_tx(&mut w.tx, req.to_shopper_id).await?;
    let amount = req.amount.get();
    // Only paid coin moves between people; the city's premium stays with whom it was granted.
    let source = wallet(w, program_id, from, Asset::Coin).await?;
    let target = wallet(w, program_id, req.to_shopper_id, Asset::Coin).await?;
    if source.balance < amount {
        return Err(AppError::insufficient_funds());
    }
    let held = yen_held(w, program_id, req.to_shopper_id).await?;
    let after = held.checked_add(Yen::new(amount)).map_err(internal)?;
    if after > Yen::new(settings.holding_cap_yen) {
        Err(PaymentRefusal::RecipientHoldingCapExceeded)?;
    }
    let entry = Entry::transfer(source.id, target.id, Asset::Coin, amount).map_err(internal)?;
    let posting = Posting {
        program: program_id,
        kind: "transfer",
        initiated_by: who.scope_id(),
        memo: None,
        reverses: None,
        lots: Lots::Normal(credit_expiry(&settings, w.now)?),
    };
    let id = post(w, &posting, &entry, &[&source, &target]).await?;
    movement_done(w, id, "transfer", program_id, from, Yen::new(amount)).await
}

pub async fn reverse(
    app: &App,
    who: Principal,
    original: TransactionId,
    req: ReversalRequest,
    idem: Idempotency,
) -> Result<Answer<ReversalResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    let reason_len = req.reason.chars().count();
    if reason_len == 0 || reason_len > MEMO_LEN_MAX {
        Err(Common::InvalidReason)?;
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(reverse_in(w, who, original, req))
        })
        .await
}

pub async fn reverse_in(
    w: &mut Work,
    who: Principal,
    original: TransactionId,
    req: ReversalRequest,
) -> Result<Done<ReversalResponse>, AppError> {
    let (txn, postings) = ledger_store::get_transaction_tx(&mut w.tx, original)
        .await?
        .ok_or_else(|| AppError::not_found("transaction"))?;
    program_in_city(&mut w.tx, &who, txn.program_id)
        .await
        .map_err(crate::features::refusal_as(AppError::not_found(
            "transaction",
        )))?;
    if txn.reverses_id.is_some() {
        Err(PaymentRefusal::IsAReversal)?;
    }
    if txn.reversed_by.is_some() {
        Err(PaymentRefusal::AlreadyReversed)?;
    }
    // Only an original from which nothing has come back is reversed (`returns`).
    crate::features::payments::returns::check_reversible(w, &txn, &postings).await?;
    let mut accounts = Vec::with_capacity(postings.len());
    let mut legs = Vec::with_capacity(postings.len());
    for p in &postings {
        let account = ledger_store::get_account_tx(&mut w.tx, p.account_id)
            .await?
            .ok_or_else(|| AppError::Internal("posting without account".into()))?;
        legs.push(Leg {
            account: p.account_id,
            asset: p.asset,
            amount: p.amount,
        });
        accounts.push(account);
    }
    let entry = Entry::new(legs).map_err(internal)?.reversed();
    let posting = Posting {
        program: txn.program_id,
        kind: "reversal",
        initiated_by: who.scope_id(),
        memo: Some(&req.reason),
        reverses: Some(original),
        lots: Lots::Reverse(original),
    };
    let refs: Vec<&Account> = accounts.iter().collect();
    let id = post(w, &posting, &entry, &refs).await?;
    Ok(Done::created(ReversalResponse {
        transaction_id: id,
        reverses_id: original,
        created_at: w.now,
    }))
}

pub(crate) async fn shopper_in_city(
    w: &mut Work,
    who: &Principal,
    shopper: ShopperId,
) -> Result<(), AppError> {
    shopper_tx(&mut w.tx, shopper)
        .await?
        .filter(|s| s.city_id == who.city())
        .map(|_| ())
        .ok_or_else(|| AppError::not_found("shopper"))
}

pub(crate) async fn wallet(
    w: &mut Work,
    program: ProgramId,
    shopper: ShopperId,
    asset: Asset,
) -> Result<Account, AppError> {
    Ok(ledger_store::shopper_wallet(&mut w.tx, program, shopper, asset).await?)
}

/// Coin plus premium a shopper holds: what the holding cap limits.
pub(crate) async fn yen_held(
    w: &mut Work,
    program: ProgramId,
    shopper: ShopperId,
) -> Result<Yen, AppError> {
    let coin = wallet(w, program, shopper, Asset::Coin).await?.balance;
    let premium = wallet(w, program, shopper, Asset::Premium).await?.balance;
    Yen::new(coin)
        .checked_add(Yen::new(premium))
        .map_err(internal)
}

/// What a movement answers (201): the transaction and the shopper's balances after it.
pub(crate) async fn movement_done(
    w: &mut Work,
    id: TransactionId,
    kind: &str,
    program: ProgramId,
    shopper: ShopperId,
    amount: Yen,
) -> Result<Done<MovementResponse>, AppError> {
    // The job's own view of the wallets when it has one (no read), else one read for all.
    let held = ledger_store::shopper_wallets(&mut w.tx, program, shopper.0).await?;
    let mut balances = Vec::new();
    for asset in [Asset::Coin, Asset::Premium, Asset::Points] {
        if let Some(a) = held.iter().find(|a| a.asset == asset) {
            balances.push(BalanceView {
                asset,
                balance: a.balance,
            });
        }
    }
    let body = MovementResponse {
        transaction_id: id,
        kind: kind.into(),
        program_id: program,
        amount,
        created_at: w.now,
        balances,
    };
    Ok(Done::created(body))
}
