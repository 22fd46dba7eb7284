//! Regulatory reports for city staff. The unused-balance report (未使用残高) of the
//! prepaid-instrument law is read from the report aggregates (`writer::aggregates`, per JST
//! day; `unused_balance_from` with `Source::Postings` recomputes it from postings) for the end
//! of the asked JST date, with
//! the half-year's issued and used figures, so a past date's figures never change, whatever
//! happened since. The rules are in `machipay_domain::prepaid_law`.

pub mod api;
pub(crate) mod http;
pub(crate) mod render;
pub mod store;

pub use api::*;

use chrono::{DateTime, NaiveDate, Utc};

use crate::app::App;
use crate::error::AppError;
pub use crate::writer::aggregates::Source;
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::calendar::{
    is_reference_date, jst_date, jst_end_of_day_utc, latest_closed_reference_date,
};
use machipay_domain::ids::ProgramId;
use machipay_domain::ledger::Asset;
use machipay_domain::prepaid_law::{
    PeriodFlows, UnusedBalanceReport, UnusedBalances, WalletFlow, half_year_start,
};

/// Sum per asset of what the program's shopper wallets held at `before` (the points report's
/// opening and closing liability). From the aggregates: the days before `before`'s JST day,
/// plus that day's postings up to `before` when it falls inside a day.
pub(crate) async fn wallet_totals_before(
    db: &crate::db::Db,
    program: ProgramId,
    before: DateTime<Utc>,
    source: Source,
) -> Result<Vec<(Asset, i64)>, AppError> {
    if source == Source::Postings {
        return Ok(store::wallet_totals_before_from_postings(db, program, before).await?);
    }
    let day = jst_date(before);
    let day_start = jst_end_of_day_utc(day - chrono::Days::new(1));
    let mut totals: std::collections::BTreeMap<Asset, i64> =
        store::wallet_totals_before_day(db, program, day)
            .await?
            .into_iter()
            .collect();
    if day_start < before {
        let tail =
            store::wallet_totals_between_from_postings(db, program, day_start, before).await?;
        for (asset, amount) in tail {
            let slot = totals.entry(asset).or_insert(0);
            *slot = slot
                .checked_add(amount)
                .ok_or_else(|| AppError::Internal("wallet totals overflow".into()))?;
        }
    }
    Ok(totals.into_iter().collect())
}

/// The unused balance of `program` at the end of `date` (JST), staff of the program's city
/// only. Without a date, the latest 基準日 that has ended at `now`. A date after today (JST)
/// is refused: its figures do not exist yet. Today's figures are those so far. From the
/// report aggregates.
pub async fn unused_balance(
    app: &App,
    who: Principal,
    program: ProgramId,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
) -> Result<UnusedBalanceView, AppError> {
    unused_balance_from(app, who, program, date, now, Source::Aggregates).await
}

/// The unused-balance report with its figures from `source`.
pub async fn unused_balance_from(
    app: &App,
    who: Principal,
    program: ProgramId,
    date: Option<NaiveDate>,
    now: DateTime<Utc>,
    source: Source,
) -> Result<UnusedBalanceView, AppError> {
    if !who.can(Capability::ViewCity) {
        return Err(AppError::forbidden());
    }
    let program = crate::features::directory::program(&app.db, program)
        .await?
        .filter(|p| p.city_id == who.city())
        .ok_or_else(|| AppError::not_found("program"))?;
    let date = match date {
        Some(d) => d,
        None => latest_closed_reference_date(now)
            .ok_or_else(|| AppError::Internal("no reference date before now".into()))?,
    };
    let today = jst_date(now);
    if date > today {
        return Err(crate::http::refusals::RequestRefusal::DateNotBegun(date, today).into());
    }
    // The half-year runs from the end of the previous 基準日 to the end of `date`.
    let first = half_year_start(date);
    let rows = match source {
        Source::Aggregates => store::wallet_flows_through(&app.db, program.id, first, date).await?,
        Source::Postings => {
            let from = jst_end_of_day_utc(first - chrono::Days::new(1));
            let to = jst_end_of_day_utc(date);
            store::wallet_flows_before_from_postings(&app.db, program.id, from, to).await?
        }
    };
    let (period, before): (Vec<_>, Vec<_>) = rows.into_iter().partition(|(p, _)| *p);
    let opening = balances(before.iter().map(|(_, f)| f))?;
    let flows: Vec<_> = period.into_iter().map(|(_, f)| f).collect();
    let closing = balances(before.iter().map(|(_, f)| f).chain(&flows))?;
    let flows = PeriodFlows::from_flows(&flows)
        .map_err(|e| AppError::Internal(format!("unused balance flows: {e}")))?;
    let report = UnusedBalanceReport::compute(date, opening, closing, flows)
        .map_err(|e| AppError::Internal(format!("unused balance report: {e}")))?;
    Ok(UnusedBalanceView {
        program_id: program.id,
        is_reference_date: is_reference_date(date),
        report,
    })
}

/// What the wallets held: the sum of the given postings per asset.
fn balances<'a>(flows: impl Iterator<Item = &'a WalletFlow>) -> Result<UnusedBalances, AppError> {
    let mut b = UnusedBalances::default();
    for f in flows {
        let slot = match f.asset {
            Asset::Coin => &mut b.paid_yen,
            Asset::Premium => &mut b.premium_yen,
            Asset::Points => &mut b.free_points,
        };
        *slot = slot
            .checked_add(f.amount)
            .ok_or_else(|| AppError::Internal("unused balance overflow".into()))?;
    }
    Ok(b)
}
