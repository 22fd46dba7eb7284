//! The demo town's point card (るのかーど class): the program, a linked card for most
//! shoppers, a few stores with their own earn rate and one past double-points campaign.

use chrono::{DateTime, Utc};
use futures::future::join_all;
use rust_decimal::Decimal;
use serde_json::json;

use crate::app::App;
use crate::demo::{CONCURRENCY, Merchant, idem, internal};
use crate::error::AppError;
use crate::features::directory::{self, NewProgramRequest};
use crate::features::points::cards::{self, NewCardRequest, NewPointCampaignRequest, RateRequest};
use machipay_domain::auth::Principal;
use machipay_domain::card::CardNumber;
use machipay_domain::ids::{ProgramId, ShopperId};

/// Stores with their own earn rate (2 or 3 points per ¥100) instead of the program's 1.
const RATE_OVERRIDES: [(usize, i64); 4] = [(2, 2), (9, 2), (17, 3), (30, 2)];

/// The point card program: billed funding, 1 pt per ¥100, 1 pt = ¥1, an idle card expires
/// at the end of the 12th month after its last earn or spend.
pub(super) async fn program(app: &App, admin: Principal) -> Result<ProgramId, AppError> {
    let req: NewProgramRequest = serde_json::from_value(json!({
        "kind": "points",
        "name": "みなみかーど",
        "settings": {
            "earn_rate": "0.01",
            "point_value_yen": "1",
            "points_funding": "billed",
            "expiry": {"rule": "months_after_last_change", "months": 12},
        },
    }))
    .map_err(internal)?;
    let program = directory::create_program(app, admin, req)
        .await?
        .into_value()?;
    Ok(program.id)
}

/// A linked card for every shopper but each tenth; `None` for those without one.
pub(super) async fn issue(
    app: &App,
    admin: Principal,
    program: ProgramId,
    shoppers: &[(ShopperId, String)],
) -> Result<Vec<Option<CardNumber>>, AppError> {
    let mut out = Vec::with_capacity(shoppers.len());
    let all: Vec<(usize, ShopperId)> = shoppers.iter().map(|s| s.0).enumerate().collect();
    for chunk in all.chunks(CONCURRENCY) {
        let made = join_all(chunk.iter().map(|(i, shopper)| async move {
            if i % 10 == 7 {
                return Ok(None);
            }
            let req = NewCardRequest {
                shopper_id: Some(*shopper),
            };
            let card = cards::issue(app, admin, program, req).await?.into_value()?;
            Ok::<_, AppError>(Some(CardNumber::parse(&card.number).map_err(internal)?))
        }))
        .await;
        out.extend(made.into_iter().collect::<Result<Vec<_>, _>>()?);
    }
    Ok(out)
}

/// A few stores' own rates and the 令和6 summer double-points campaign.
pub(super) async fn promotions(
    app: &App,
    admin: Principal,
    program: ProgramId,
    merchants: &[Merchant],
) -> Result<(), AppError> {
    for (i, per_100) in RATE_OVERRIDES {
        let req = RateRequest {
            earn_rate: Some(Decimal::new(per_100, 2)),
        };
        cards::set_rate(app, admin, program, merchants[i].id, req).await?;
    }
    let at = |s: &str| s.parse::<DateTime<Utc>>().map_err(internal);
    let req = NewPointCampaignRequest {
        name: "令和6年 夏のポイント2倍".into(),
        multiplier: Decimal::TWO,
        starts_at: at("2024-06-30T15:00:00Z")?,
        ends_at: at("2024-08-31T15:00:00Z")?,
        merchant_id: None,
    };
    let key = idem(admin.scope_id(), "point-campaign");
    cards::create_campaign(app, admin, program, req, key).await?;
    Ok(())
}
