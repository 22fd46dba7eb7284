//! Read-side use-cases: balances, one transaction, the integrity check. Reads go straight to
//! the database, never through the writer.

use crate::app::App;
use crate::error::AppError;
use crate::features::directory;
use crate::writer::rows as store;
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::ids::*;

pub use crate::features::payments::api::{
    AccountBalance, AggregatesCheck, LedgerCheck, TransactionView,
};

/// Balances of every account an owner (a shopper or a store) holds, across the city's programs.
async fn balances_of(
    app: &App,
    city: CityId,
    owner: uuid::Uuid,
) -> Result<Vec<AccountBalance>, AppError> {
    let mut out = Vec::new();
    for program in directory::programs_of_city(&app.db, city).await? {
        let accounts = store::accounts_of_owner(&app.db, program.id, owner).await?;
        out.extend(accounts.into_iter().map(AccountBalance::from));
    }
    Ok(out)
}

pub async fn shopper_balances(
    app: &App,
    who: Principal,
    shopper: ShopperId,
) -> Result<Vec<AccountBalance>, AppError> {
    let visible = who.is_shopper(shopper) || who.can(Capability::ViewCity);
    let exists = directory::shopper(&app.db, shopper)
        .await?
        .is_some_and(|s| s.city_id == who.city());
    if !(visible && exists) {
        return Err(AppError::not_found("shopper"));
    }
    balances_of(app, who.city(), shopper.0).await
}

pub async fn merchant_balances(
    app: &App,
    who: Principal,
    merchant: MerchantId,
) -> Result<Vec<AccountBalance>, AppError> {
    let visible = who.acts_for_merchant(merchant) || who.can(Capability::ViewCity);
    let exists = directory::merchant(&app.db, merchant)
        .await?
        .is_some_and(|m| m.city_id == who.city());
    if !(visible && exists) {
        return Err(AppError::not_found("merchant"));
    }
    balances_of(app, who.city(), merchant.0).await
}

/// A transaction is visible to staff of its city and to the shoppers and stores it touches.
pub async fn transaction(
    app: &App,
    who: Principal,
    id: TransactionId,
) -> Result<TransactionView, AppError> {
    let (t, postings) = store::get_transaction(&app.db, id)
        .await?
        .ok_or_else(|| AppError::not_found("transaction"))?;
    let program = crate::features::directory::program(&app.db, t.program_id).await?;
    let in_city = program.is_some_and(|p| p.city_id == who.city());
    let party = postings.iter().any(|p| match (who, p.owner_id) {
        (_, None) => false,
        (Principal::Shopper { id, .. }, Some(o)) => o == id.0,
        (
            Principal::MerchantOwner { merchant, .. } | Principal::Device { merchant, .. },
            Some(o),
        ) => o == merchant.0,
        (Principal::Staff { .. }, Some(_)) => false,
    });
    if !(in_city && (party || who.can(Capability::ViewCity))) {
        return Err(AppError::not_found("transaction"));
    }
    Ok(TransactionView {
        transaction: t.into(),
        postings: postings.into_iter().map(Into::into).collect(),
    })
}

/// Recomputes balances from postings and lots, checks that nothing gave back more than its
/// original moved, and reports any disagreement (the full check, paged in one read snapshot:
/// `check`). Staff only.
pub async fn ledger_check(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<LedgerCheck, AppError> {
    crate::features::payments::check::full_as(app, who, program).await
}

/// Recomputes the program's report aggregates from postings and names the first row that
/// differs (staff). As costly as the reports over postings were: a check, not a report.
pub async fn aggregates_check(
    app: &App,
    who: Principal,
    program: ProgramId,
) -> Result<AggregatesCheck, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    let p = crate::features::directory::program(&app.db, program)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("program"))?;
    let first_difference = crate::writer::aggregates::check(&app.db, Some(p.id)).await?;
    Ok(AggregatesCheck {
        program_id: p.id,
        ok: first_difference.is_none(),
        first_difference,
    })
}
