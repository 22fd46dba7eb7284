//! Point card use-cases at the till: earning on a purchase, spending points at any member
//! store, returns (earned points clawed back, spent points restored), a store buying prepaid
//! point stock, and a checkout that combines points with the same person's currency wallet.
//!
//! Ledger shape (shared with settlement): points a store issues come out of its prepaid
//! `MerchantPointStock` or, when billed, its `Merchant` account (points asset, negative =
//! owed by the store); points a shopper spends at a store credit that store's `Merchant`
//! account (the operator reimburses it at settlement). A card's balance is a `ShopperWallet`
//! owned by the card id, so it can never go negative.

pub mod api;
pub mod cards;
pub(crate) mod http;
pub mod refusals;
pub mod reports;
pub mod store;

pub use api::{
    CardMovementResponse, CheckoutRequest, CheckoutResponse, EarnRequest, PointReturnRequest,
    SpendRequest, StockPurchaseRequest, StockPurchaseResponse,
};
pub use refusals::{CardRefusal, PointRefusal};

use crate::features::merchants::participation::ensure_participating;
use rust_decimal::Decimal;

use crate::app::App;
use crate::error::internal;
use crate::error::{AppError, Common};
use crate::features::directory::ProgramRow;
use crate::features::payments::{Spend, credit_expiry, pay_merchant};
use crate::features::points::store::{CardRow, Movement};
use crate::features::program_in_city;
use crate::writer::posting::{CreditExpiry, Lots, Posting, post};
use crate::writer::rows::{self as ledger_store, Account};
use crate::writer::{Answer, Done, Idempotency, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::card::{CardNumber, EARN_PURCHASE_YEN_MAX};
use machipay_domain::ids::*;
use machipay_domain::ledger::kinds::{
    EARN_KIND, EARN_RETURN_KIND, SPEND_KIND, SPEND_REFUND_KIND, STOCK_KIND,
};
use machipay_domain::ledger::{AccountKind, Asset, Entry};
use machipay_domain::money::{Points, Yen, apply_rate_round_down, points_kept};
use machipay_domain::program::{ClawbackShortfall, ProgramKind, ProgramSettings, SpendOrder};

/// What a program of the other kind answers where a point card program is needed.
pub(crate) const NOT_POINTS: Common = Common::WrongProgramKind("this is not a point card program");

/// The program, which must be a point card program of the caller's city.
pub(crate) async fn points_program(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
) -> Result<(ProgramRow, ProgramSettings), AppError> {
    let (row, settings) = program_in_city(&mut w.tx, who, program).await?;
    if row.kind != ProgramKind::Points {
        return Err(NOT_POINTS.into());
    }
    Ok((row, settings))
}

/// A card a till may use: known in the program, neither blocked nor replaced, and not
/// linked to a blocked shopper.
pub(crate) async fn usable_card(
    w: &mut Work,
    program: ProgramId,
    number: &CardNumber,
) -> Result<CardRow, AppError> {
    let card = store::card_by_number_tx(&mut w.tx, program, number.as_str())
        .await?
        .ok_or(CardRefusal::UnknownCard)?;
    // A card linked to a blocked shopper earns and spends nothing (the card itself is fine).
    if let Some(shopper) = card.shopper_id {
        crate::features::directory::refuse_blocked_tx(&mut w.tx, ShopperId(shopper)).await?;
    }
    match card.status.as_str() {
        "active" => Ok(card),
        "blocked" => Err(CardRefusal::Blocked.into()),
        _ => Err(Common::CardReplaced(refusals::CARD_REPLACED).into()),
    }
}

pub(crate) async fn card_wallet(
    w: &mut Work,
    program: ProgramId,
    card: CardId,
) -> Result<Account, AppError> {
    Ok(ledger_store::ensure_account(
        &mut w.tx,
        program,
        AccountKind::ShopperWallet,
        Asset::Points,
        Some(card.0),
    )
    .await?)
}

async fn store_account(
    w: &mut Work,
    program: ProgramId,
    kind: AccountKind,
    merchant: MerchantId,
) -> Result<Account, AppError> {
    Ok(
        ledger_store::ensure_account(&mut w.tx, program, kind, Asset::Points, Some(merchant.0))
            .await?,
    )
}

/// Till routes: the store's own devices and owner; another store's answers "not found".
fn check_till(who: &Principal, merchant: MerchantId) -> Result<(), AppError> {
    if !matches!(
        who,
        Principal::MerchantOwner { .. } | Principal::Device { .. }
    ) {
        return Err(AppError::forbidden());
    }
    if !who.acts_for_merchant(merchant) {
        return Err(AppError::not_found("merchant"));
    }
    Ok(())
}

/// A store awards points for a purchase (its devices and owner).
pub async fn earn(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: EarnRequest,
    idem: Idempotency,
) -> Result<Answer<CardMovementResponse>, AppError> {
    check_till(&who, merchant)?;
    if req.amount.get() > EARN_PURCHASE_YEN_MAX {
        return Err(PointRefusal::PurchaseTooLarge(EARN_PURCHASE_YEN_MAX).into());
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(earn_in(w, who, merchant, req))
        })
        .await
}

/// Points per yen at this store now: its own rate or the program's, times the largest
/// running campaign multiplier (campaigns do not compound).
async fn effective_rate(
    w: &mut Work,
    settings: &ProgramSettings,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Decimal, AppError> {
    let rate = match store::rate_tx(&mut w.tx, program, merchant).await? {
        Some(text) => text.parse::<Decimal>().map_err(internal)?,
        None => settings.earn_rate,
    };
    let mut multiplier = Decimal::ONE;
    for text in store::active_multipliers_tx(&mut w.tx, program, merchant, w.now).await? {
        multiplier = multiplier.max(text.parse::<Decimal>().map_err(internal)?);
    }
    rate.checked_mul(multiplier)
        .ok_or_else(|| internal("earn rate overflow"))
}

pub async fn earn_in(
    w: &mut Work,
    who: Principal,
    merchant: MerchantId,
    req: EarnRequest,
) -> Result<Done<CardMovementResponse>, AppError> {
    let program = req.program_id;
    let (_, settings) = points_program(w, &who, program).await?;
    ensure_participating(&mut w.tx, program, merchant).await?;
    let card = usable_card(w, program, &req.card_number).await?;
    let rate = effective_rate(w, &settings, program, merchant).await?;
    let points = apply_rate_round_down(req.amount.get(), rate).map_err(internal)?;
    let wallet = card_wallet(w, program, card.id).await?;
    let mut reply = CardMovementResponse {
        transaction_id: None,
        kind: EARN_KIND.into(),
        card_id: card.id,
        points,
        effective_rate: Some(rate),
        yen_value: None,
        shortfall_points: 0,
        balance: wallet.balance,
        created_at: w.now,
    };
    if points == 0 {
        return Ok(Done::created(reply));
    }
    let source = funding_account(w, &settings, program, merchant, points).await?;
    let expiry = credit_expiry(&settings, w.now)?;
    let entry = Entry::transfer(source.id, wallet.id, Asset::Points, points).map_err(internal)?;
    let posting = Posting {
        program,
        kind: EARN_KIND,
        initiated_by: who.scope_id(),
        memo: None,
        reverses: None,
        lots: Lots::Normal(CreditExpiry {
            points: expiry.coin,
            ..CreditExpiry::NEVER
        }),
    };
    let id = post(w, &posting, &entry, &[&source, &wallet]).await?;
    let moved = Moved {
        purchase_yen: Some(req.amount.get()),
        ..Moved::new(&card, merchant, EARN_KIND, points)
    };
    record(w, id, moved).await?;
    // Kept for the claw-back rule of later returns (see `return_in`).
    store::insert_earn_rate(&mut w.tx, id, &rate.normalize().to_string()).await?;
    reply.transaction_id = Some(id);
    reply.balance = wallet.balance + points;
    Ok(Done::created(reply))
}

/// Where the points a store issues come from: its prepaid stock (which must hold them) or,
/// when billed, its own account.
async fn funding_account(
    w: &mut Work,
    settings: &ProgramSettings,
    program: ProgramId,
    merchant: MerchantId,
    points: i64,
) -> Result<Account, AppError> {
    use machipay_domain::program::PointsFunding;
    match settings.points_funding {
        PointsFunding::Billed => store_account(w, program, AccountKind::Merchant, merchant).await,
        PointsFunding::PrepaidStock => {
            let stock =
                store_account(w, program, AccountKind::MerchantPointStock, merchant).await?;
            if stock.balance < points {
                return Err(PointRefusal::PointStockInsufficient(stock.balance).into());
            }
            Ok(stock)
        }
    }
}

/// What a card movement at a store records next to its transaction.
struct Moved<'a> {
    card: &'a CardRow,
    merchant: MerchantId,
    kind: &'static str,
    purchase_yen: Option<i64>,
    points: i64,
    shortfall: i64,
    original: Option<TransactionId>,
}

impl<'a> Moved<'a> {
    fn new(card: &'a CardRow, merchant: MerchantId, kind: &'static str, points: i64) -> Self {
        Self {
            card,
            merchant,
            kind,
            purchase_yen: None,
            points,
            shortfall: 0,
            original: None,
        }
    }
}

async fn record(w: &mut Work, id: TransactionId, m: Moved<'_>) -> Result<(), AppError> {
    let row = Movement {
        transaction_id: id,
        program_id: m.card.program_id,
        card_id: m.card.id,
        merchant_id: m.merchant,
        // The table's kinds drop the "point_" of the transaction kinds.
        kind: m.kind.trim_start_matches("point_").into(),
        purchase_yen: m.purchase_yen,
        points: m.points,
        shortfall_points: m.shortfall,
        original_id: m.original.map(|o| o.0),
        created_at: w.now,
    };
    Ok(store::insert_movement(&mut w.tx, &row).await?)
}

/// A shopper pays with points at this store (its devices and owner).
pub async fn spend(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: SpendRequest,
    idem: Idempotency,
) -> Result<Answer<CardMovementResponse>, AppError> {
    check_till(&who, merchant)?;
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(spend_in(w, who, merchant, req))
        })
        .await
}

pub async fn spend_in(
    w: &mut Work,
    who: Principal,
    merchant: MerchantId,
    req: SpendRequest,
) -> Result<Done<CardMovementResponse>, AppError> {
    let (_, settings) = points_program(w, &who, req.program_id).await?;
    let card = usable_card(w, req.program_id, &req.card_number).await?;
    let body = spend_points(w, &who, &settings, &card, merchant, req.amount.get()).await?;
    Ok(Done::created(body))
}

/// Posts a spend of `points` from the card to the store.
async fn spend_points(
    w: &mut Work,
    who: &Principal,
    settings: &ProgramSettings,
    card: &CardRow,
    merchant: MerchantId,
    points: i64,
) -> Result<CardMovementResponse, AppError> {
    let program = card.program_id;
    ensure_participating(&mut w.tx, program, merchant).await?;
    let wallet = card_wallet(w, program, card.id).await?;
    if wallet.balance < points {
        return Err(PointRefusal::InsufficientPoints(wallet.balance).into());
    }
    let target = store_account(w, program, AccountKind::Merchant, merchant).await?;
    let entry = Entry::transfer(wallet.id, target.id, Asset::Points, points).map_err(internal)?;
    let posting = Posting {
        program,
        kind: SPEND_KIND,
        initiated_by: who.scope_id(),
        memo: None,
        reverses: None,
        lots: Lots::Normal(CreditExpiry::NEVER),
    };
    let id = post(w, &posting, &entry, &[&wallet, &target]).await?;
    record(w, id, Moved::new(card, merchant, SPEND_KIND, points)).await?;
    Ok(CardMovementResponse {
        transaction_id: Some(id),
        kind: SPEND_KIND.into(),
        card_id: card.id,
        points,
        effective_rate: None,
        yen_value: Some(points_to_yen(settings, points)?),
        shortfall_points: 0,
        balance: wallet.balance - points,
        created_at: w.now,
    })
}

/// What `points` of a point card are worth in yen, at its `point_value_yen` (rounded down:
/// `Points::value_at`, the one conversion).
fn points_to_yen(settings: &ProgramSettings, points: i64) -> Result<Yen, AppError> {
    let value = settings.point_value(ProgramKind::Points);
    Points::new(points).value_at(value).map_err(internal)
}

/// A purchase is returned (earned points are taken back in proportion) or a points payment is
/// refunded (spent points come back), in full or in part, never above the original in total
/// (the store's devices and owner).
pub async fn return_points(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: PointReturnRequest,
    idem: Idempotency,
) -> Result<Answer<CardMovementResponse>, AppError> {
    check_till(&who, merchant)?;
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(return_in(w, who, merchant, req))
        })
        .await
}

/// Why a point return naming `id` finds no original at `merchant`: a reversal of one of the
/// store's movements is `not_refundable`; anything else is "not found".
async fn point_return_refusal(
    w: &mut Work,
    id: TransactionId,
    merchant: MerchantId,
) -> Result<AppError, AppError> {
    let reversed = ledger_store::get_transaction_tx(&mut w.tx, id)
        .await?
        .and_then(|(t, _)| t.reverses_id);
    if let Some(original) = reversed {
        let at_store = store::movement_tx(&mut w.tx, TransactionId(original))
            .await?
            .is_some_and(|m| m.merchant_id == merchant);
        if at_store {
            return Ok(crate::features::payments::returns::not_refundable());
        }
    }
    Ok(AppError::not_found("transaction"))
}

pub async fn return_in(
    w: &mut Work,
    who: Principal,
    merchant: MerchantId,
    req: PointReturnRequest,
) -> Result<Done<CardMovementResponse>, AppError> {
    let original = match store::movement_tx(&mut w.tx, req.transaction_id)
        .await?
        .filter(|m| m.merchant_id == merchant)
    {
        Some(m) if m.original_id.is_none() => m,
        // A return of a return: refused by name (`payments::returns`).
        Some(_) => return Err(crate::features::payments::returns::not_refundable()),
        None => {
            return Err(point_return_refusal(w, req.transaction_id, merchant).await?);
        }
    };
    // An operator's reversal already undid it entirely; nothing is left to return.
    let reversed = ledger_store::get_transaction_tx(&mut w.tx, original.transaction_id)
        .await?
        .is_some_and(|(t, _)| t.reversed_by.is_some());
    if reversed {
        return Err(crate::features::payments::PaymentRefusal::ReturnOfReversed.into());
    }
    let (_, settings) =
        points_program(w, &who, original.program_id)
            .await
            .map_err(crate::features::refusal_as(AppError::not_found(
                "transaction",
            )))?;
    let card = store::card_tx(&mut w.tx, original.card_id)
        .await?
        .ok_or_else(|| internal("movement without card"))?;
    // A replaced card's balance lives on its successor: returns follow it.
    let card = current_card(w, card).await?;
    let (yen_before, points_before, shortfall_before) =
        store::returned_tx(&mut w.tx, original.transaction_id).await?;
    let amount = req.amount.get();
    let body = if original.kind == "earn" {
        let purchase = original.purchase_yen.unwrap_or(0);
        if yen_before + amount > purchase {
            return Err(over_return(purchase - yen_before));
        }
        // Cumulative, by the rule rebates share (`points_kept`): after this return the card
        // keeps floor(earn rate × what is still paid), never more than was earned; the rest
        // has been taken back (or recorded as shortfall) in all.
        let rate = store::earn_rate_tx(&mut w.tx, original.transaction_id)
            .await?
            .map(|r| r.parse::<Decimal>())
            .transpose()
            .map_err(internal)?;
        let kept =
            points_kept(original.points, rate, purchase, yen_before + amount).map_err(internal)?;
        let due = original.points - kept - points_before - shortfall_before;
        claw_back(w, &who, &settings, &card, &original, amount, due).await?
    } else {
        if points_before + amount > original.points {
            return Err(over_return(original.points - points_before));
        }
        restore(w, &who, &settings, &card, &original, amount).await?
    };
    Ok(Done::created(body))
}

fn over_return(left: i64) -> AppError {
    PointRefusal::ReturnExceedsOriginal(left).into()
}

/// Follows `replaced_by` to the card that now holds the balance.
async fn current_card(w: &mut Work, mut card: CardRow) -> Result<CardRow, AppError> {
    for _ in 0..100 {
        let Some(next) = card.replaced_by else {
            return Ok(card);
        };
        card = store::card_tx(&mut w.tx, CardId(next))
            .await?
            .ok_or_else(|| internal("replacement card missing"))?;
    }
    Err(internal("replacement chain too long"))
}

async fn claw_back(
    w: &mut Work,
    who: &Principal,
    settings: &ProgramSettings,
    card: &CardRow,
    original: &Movement,
    yen: i64,
    due: i64,
) -> Result<CardMovementResponse, AppError> {
    let program = card.program_id;
    let wallet = card_wallet(w, program, card.id).await?;
    let (take, shortfall) = match (due <= wallet.balance, settings.clawback_shortfall) {
        (true, _) => (due, 0),
        (false, ClawbackShortfall::Refuse) => {
            return Err(Common::CardPointsAlreadySpent(due, wallet.balance).into());
        }
        (false, ClawbackShortfall::TakeRemaining) => (wallet.balance, due - wallet.balance),
    };
    let mut id = None;
    if take > 0 {
        // Back where they came from: the store's stock or its billed account.
        let source = earn_source(w, original).await?;
        let entry = Entry::transfer(wallet.id, source.id, Asset::Points, take).map_err(internal)?;
        let posting = Posting {
            program,
            kind: EARN_RETURN_KIND,
            initiated_by: who.scope_id(),
            memo: None,
            reverses: None,
            lots: Lots::Normal(CreditExpiry::NEVER),
        };
        id = Some(post(w, &posting, &entry, &[&wallet, &source]).await?);
    }
    // A return that moves nothing (nothing due, or nothing left to take) still counts toward
    // the original, so it is recorded on a transaction of its own with no postings.
    let tid = match id {
        Some(id) => id,
        None => empty_transaction(w, who, program).await?,
    };
    let moved = Moved {
        purchase_yen: Some(yen),
        shortfall,
        original: Some(original.transaction_id),
        ..Moved::new(card, original.merchant_id, EARN_RETURN_KIND, take)
    };
    record(w, tid, moved).await?;
    Ok(CardMovementResponse {
        transaction_id: Some(tid),
        kind: EARN_RETURN_KIND.into(),
        card_id: card.id,
        points: take,
        effective_rate: None,
        yen_value: None,
        shortfall_points: shortfall,
        balance: wallet.balance - take,
        created_at: w.now,
    })
}

/// A transaction row without postings, so a return that moved nothing is still on record.
async fn empty_transaction(
    w: &mut Work,
    who: &Principal,
    program: ProgramId,
) -> Result<TransactionId, AppError> {
    let id = TransactionId::new();
    let row = ledger_store::NewTransaction {
        id,
        program,
        kind: EARN_RETURN_KIND,
        reverses: None,
        initiated_by: who.scope_id(),
        memo: Some("nothing left to take back"),
        created_at: w.now,
    };
    ledger_store::insert_entry(&mut w.tx, &row, &[]).await?;
    Ok(id)
}

/// The store account an earn drew its points from.
async fn earn_source(w: &mut Work, original: &Movement) -> Result<Account, AppError> {
    let (_, postings) = ledger_store::get_transaction_tx(&mut w.tx, original.transaction_id)
        .await?
        .ok_or_else(|| internal("earn transaction missing"))?;
    let leg = postings
        .iter()
        .find(|p| p.amount < 0)
        .ok_or_else(|| internal("earn without a debit"))?;
    ledger_store::get_account_tx(&mut w.tx, leg.account_id)
        .await?
        .ok_or_else(|| internal("earn account missing"))
}

async fn restore(
    w: &mut Work,
    who: &Principal,
    settings: &ProgramSettings,
    card: &CardRow,
    original: &Movement,
    points: i64,
) -> Result<CardMovementResponse, AppError> {
    let program = card.program_id;
    let wallet = card_wallet(w, program, card.id).await?;
    let source = store_account(w, program, AccountKind::Merchant, original.merchant_id).await?;
    let expiry = credit_expiry(settings, w.now)?;
    let entry = Entry::transfer(source.id, wallet.id, Asset::Points, points).map_err(internal)?;
    let posting = Posting {
        program,
        kind: SPEND_REFUND_KIND,
        initiated_by: who.scope_id(),
        memo: None,
        reverses: None,
        lots: Lots::Normal(CreditExpiry {
            points: expiry.coin,
            ..CreditExpiry::NEVER
        }),
    };
    let id = post(w, &posting, &entry, &[&source, &wallet]).await?;
    let moved = Moved {
        original: Some(original.transaction_id),
        ..Moved::new(card, original.merchant_id, SPEND_REFUND_KIND, points)
    };
    record(w, id, moved).await?;
    Ok(CardMovementResponse {
        transaction_id: Some(id),
        kind: SPEND_REFUND_KIND.into(),
        card_id: card.id,
        points,
        effective_rate: None,
        yen_value: Some(points_to_yen(settings, points)?),
        shortfall_points: 0,
        balance: wallet.balance + points,
        created_at: w.now,
    })
}

/// Records a store's purchase of prepaid point stock (operators); the price is deducted at
/// settlement: Merchant(points) −N, MerchantPointStock +N.
pub async fn buy_stock(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: StockPurchaseRequest,
    idem: Idempotency,
) -> Result<Answer<StockPurchaseResponse>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(AppError::forbidden());
    }
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(async move {
                let program = req.program_id;
                points_program(w, &who, program).await?;
                crate::features::directory::merchant_tx(&mut w.tx, merchant)
                    .await?
                    .filter(|m| m.city_id == who.city())
                    .ok_or_else(|| AppError::not_found("merchant"))?;
                let account = store_account(w, program, AccountKind::Merchant, merchant).await?;
                let stock =
                    store_account(w, program, AccountKind::MerchantPointStock, merchant).await?;
                let points = req.amount.get();
                let entry = Entry::transfer(account.id, stock.id, Asset::Points, points)
                    .map_err(internal)?;
                let posting = Posting {
                    program,
                    kind: STOCK_KIND,
                    initiated_by: who.scope_id(),
                    memo: None,
                    reverses: None,
                    lots: Lots::Normal(CreditExpiry::NEVER),
                };
                let id = post(w, &posting, &entry, &[&account, &stock]).await?;
                Ok(Done::created(StockPurchaseResponse {
                    transaction_id: id,
                    points,
                    stock: stock.balance + points,
                    created_at: w.now,
                }))
            })
        })
        .await
}

/// One bill paid with a linked card's points and the same person's currency wallet, in the
/// currency program's spend order; both parts commit together or neither (one writer job).
pub async fn checkout(
    app: &App,
    who: Principal,
    merchant: MerchantId,
    req: CheckoutRequest,
    idem: Idempotency,
) -> Result<Answer<CheckoutResponse>, AppError> {
    check_till(&who, merchant)?;
    app.writer
        .answer(Some(idem), move |w| {
            Box::pin(checkout_in(w, who, merchant, req))
        })
        .await
}

pub async fn checkout_in(
    w: &mut Work,
    who: Principal,
    merchant: MerchantId,
    req: CheckoutRequest,
) -> Result<Done<CheckoutResponse>, AppError> {
    let (_, point_settings) = points_program(w, &who, req.program_id).await?;
    let (currency, settings) = program_in_city(&mut w.tx, &who, req.currency_program_id).await?;
    if currency.kind != ProgramKind::Currency {
        return Err(
            Common::WrongProgramKind("currency_program_id must name a currency program").into(),
        );
    }
    let card = usable_card(w, req.program_id, &req.card_number).await?;
    let shopper = card
        .shopper_id
        .map(ShopperId)
        .ok_or(PointRefusal::CardNotLinked)?;
    let bill = req.amount.get();
    let held = card_wallet(w, req.program_id, card.id).await?.balance;
    let split = split_bill(
        &point_settings,
        &settings,
        bill,
        held,
        w,
        req.currency_program_id,
        shopper,
    )
    .await?;
    let mut points = None;
    if split.points > Points::ZERO {
        let spent = split.points.get();
        points = Some(spend_points(w, &who, &point_settings, &card, merchant, spent).await?);
    }
    let mut payment = None;
    if split.wallet_yen > Yen::ZERO {
        let spend = Spend {
            program: &currency,
            settings: &settings,
            shopper,
            merchant,
            amount: split.wallet_yen,
        };
        payment = Some(pay_merchant(w, &spend, None).await?);
    }
    Ok(Done::created(CheckoutResponse {
        points,
        payment_transaction_id: payment,
        wallet_yen: split.wallet_yen,
        created_at: w.now,
    }))
}

struct Split {
    points: Points,
    wallet_yen: Yen,
}

/// How a bill divides between points and the wallet. Points first: as many whole points as
/// the bill and the card allow (their yen value rounded down), the wallet the rest. Coin
/// first: the wallet as much as it holds in yen, points the rest (refused if they fall short).
/// Points meet yen only through the card's point value: `PointValue::points_covering` (the
/// points a yen figure takes, rounded up) and `Points::value_at` (what points are worth).
async fn split_bill(
    point_settings: &ProgramSettings,
    settings: &ProgramSettings,
    bill: i64,
    held: i64,
    w: &mut Work,
    currency: ProgramId,
    shopper: ShopperId,
) -> Result<Split, AppError> {
    let value = point_settings.point_value(ProgramKind::Points);
    let (bill, held) = (Yen::new(bill), Points::new(held));
    let (points, wallet_yen) = match settings.spend_order {
        SpendOrder::PointsFirst => {
            let points = held.min(value.points_covering(bill).map_err(internal)?);
            let covered = points.value_at(value).map_err(internal)?.min(bill);
            (points, bill.checked_sub(covered).map_err(internal)?)
        }
        SpendOrder::CoinFirst => {
            let yen_held = crate::features::payments::yen_held(w, currency, shopper).await?;
            let wallet_yen = yen_held.min(bill);
            let rest = bill.checked_sub(wallet_yen).map_err(internal)?;
            let points = value.points_covering(rest).map_err(internal)?;
            if points > held {
                return Err(PointRefusal::InsufficientPoints(held.get()).into());
            }
            (points, wallet_yen)
        }
    };
    Ok(Split { points, wallet_yen })
}
