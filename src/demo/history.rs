//! The demo town's past over 令和5–8: counter charges and payments in the currency, earns and
//! spends on the point card, each replayed as the library's own writer job with the job's
//! clock (`Work::now`) set back to the day it happened, in date order.

use chrono::{DateTime, Datelike, Days, NaiveDate, Utc};
use futures::future::join_all;

use crate::app::App;
use crate::demo::{CONCURRENCY, Dice, Merchant, amount, town};
use crate::error::AppError;
use crate::features::payments::{CounterChargeRequest, PaymentRequest};
use crate::features::points::{self, EarnRequest, SpendRequest};
use crate::writer::Done;
use machipay_domain::auth::Principal;
use machipay_domain::card::CardNumber;
use machipay_domain::ids::{CityId, MerchantId, ProgramId, ShopperId};

/// The first 年度 of the demo's history (令和5).
const FIRST_YEAR: i32 = 2023;

/// One thing that happened in town.
#[derive(Debug, Clone)]
pub(super) enum Move {
    Charge {
        shopper: ShopperId,
        yen: i64,
    },
    Pay {
        shopper: ShopperId,
        merchant: MerchantId,
        yen: i64,
    },
    Earn {
        merchant: MerchantId,
        card: CardNumber,
        yen: i64,
    },
    Spend {
        merchant: MerchantId,
        card: CardNumber,
        points: i64,
    },
}

/// A move and when it happened.
#[derive(Debug, Clone)]
pub(super) struct Dated {
    pub at: DateTime<Utc>,
    pub mv: Move,
}

/// Who acts, and in which programs.
#[derive(Debug, Clone, Copy)]
pub(super) struct Ctx {
    pub city: CityId,
    pub admin: Principal,
    pub currency: ProgramId,
    pub points: ProgramId,
}

/// A moment during opening hours (10:00–18:59 JST) of `day`.
fn during(day: NaiveDate, dice: &mut Dice) -> DateTime<Utc> {
    let minutes = dice.next(9 * 60) as i64;
    let start = machipay_domain::calendar::jst_start_of_day_utc(day).unwrap_or_default();
    start + chrono::Duration::minutes(10 * 60 + minutes)
}

/// An open store on `day`, if a few throws find one.
fn open_merchant(merchants: &[Merchant], day: NaiveDate, dice: &mut Dice) -> Option<MerchantId> {
    (0..12)
        .map(|_| dice.next(merchants.len()))
        .find(|&i| town::open_on(i, day))
        .map(|i| merchants[i].id)
}

/// A 年度's days for the history: 1 April to 31 March, or to yesterday for the current one.
fn window(year: i32, yesterday: NaiveDate) -> Option<(NaiveDate, u64)> {
    let start = NaiveDate::from_ymd_opt(year, 4, 1)?;
    let end = NaiveDate::from_ymd_opt(year + 1, 3, 31)?.min(yesterday);
    let days = (end - start).num_days();
    (days > 30).then_some((start, days as u64))
}

/// Everything every shopper did, in date order.
pub(super) fn plan(
    merchants: &[Merchant],
    shoppers: &[(ShopperId, String)],
    cards: &[Option<CardNumber>],
    dice: &mut Dice,
    yesterday: NaiveDate,
) -> Vec<Dated> {
    let mut out = Vec::new();
    for (i, (shopper, _)) in shoppers.iter().enumerate() {
        // Most shoppers are there from the start; a sixth arrive in 令和6, a sixth in 令和7.
        let first = FIRST_YEAR + (i % 6).saturating_sub(3) as i32;
        let mut points = 0;
        for year in first..=yesterday.year() {
            let Some((start, days)) = window(year, yesterday) else {
                continue;
            };
            wallet_year(&mut out, merchants, *shopper, (start, days), dice);
            if let Some(card) = &cards[i] {
                card_year(&mut out, merchants, card, (start, days), &mut points, dice);
            }
        }
    }
    out.sort_by_key(|d| d.at);
    out
}

/// One charge early in the 年度, then payments from it while it lasts.
fn wallet_year(
    out: &mut Vec<Dated>,
    merchants: &[Merchant],
    shopper: ShopperId,
    (start, days): (NaiveDate, u64),
    dice: &mut Dice,
) {
    let charged_on = start + Days::new(dice.next(20) as u64);
    let yen = 1_000 * (5 + dice.next(11) as i64);
    out.push(Dated {
        at: during(charged_on, dice),
        mv: Move::Charge { shopper, yen },
    });
    let mut left = yen;
    for _ in 0..(2 + dice.next(7)) {
        let pay = 100 * (3 + dice.next(28) as i64);
        let day = charged_on + Days::new(1 + dice.next(days as usize - 21) as u64);
        if pay > left {
            break;
        }
        let Some(merchant) = open_merchant(merchants, day, dice) else {
            continue;
        };
        left -= pay;
        out.push(Dated {
            at: during(day, dice),
            mv: Move::Pay {
                shopper,
                merchant,
                yen: pay,
            },
        });
    }
}

/// Earns in the first two thirds of the 年度, then maybe one spend of half the points.
fn card_year(
    out: &mut Vec<Dated>,
    merchants: &[Merchant],
    card: &CardNumber,
    (start, days): (NaiveDate, u64),
    points: &mut i64,
    dice: &mut Dice,
) {
    let earning = (days * 2 / 3) as usize;
    for _ in 0..(2 + dice.next(5)) {
        let day = start + Days::new(dice.next(earning) as u64);
        let yen = 100 * (5 + dice.next(46) as i64);
        if let Some(merchant) = open_merchant(merchants, day, dice) {
            // At least the program's 1 pt per ¥100: overrides and campaigns only add.
            *points += yen / 100;
            let card = card.clone();
            let at = during(day, dice);
            out.push(Dated {
                at,
                mv: Move::Earn {
                    merchant,
                    card,
                    yen,
                },
            });
        }
    }
    let day = start + Days::new((earning + dice.next(days as usize - earning)) as u64);
    if *points >= 20
        && dice.next(3) != 0
        && let Some(merchant) = open_merchant(merchants, day, dice)
    {
        let spent = *points / 2;
        *points -= spent;
        out.push(Dated {
            at: during(day, dice),
            mv: Move::Spend {
                merchant,
                card: card.clone(),
                points: spent,
            },
        });
    }
}

/// Replays the plan through the writer, `CONCURRENCY` jobs at a time, in date order.
pub(super) async fn replay(app: &App, ctx: Ctx, plan: Vec<Dated>) -> Result<(), AppError> {
    for chunk in plan.chunks(CONCURRENCY) {
        let done = join_all(chunk.iter().cloned().map(|d| apply(app, ctx, d))).await;
        done.into_iter().collect::<Result<(), _>>()?;
    }
    Ok(())
}

/// Applies one dated move at its own time; what it answers is not needed, only that it went.
async fn apply(app: &App, ctx: Ctx, d: Dated) -> Result<(), AppError> {
    app.writer
        .answer(None, move |w| {
            Box::pin(async move {
                w.now = d.at;
                let owner = |merchant| Principal::MerchantOwner {
                    merchant,
                    city: ctx.city,
                };
                match d.mv {
                    Move::Charge { shopper, yen } => {
                        let req = CounterChargeRequest {
                            shopper_id: shopper,
                            amount: amount(yen)?,
                        };
                        crate::features::payments::counter_charge_in(
                            w,
                            ctx.admin,
                            ctx.currency,
                            req,
                        )
                        .await?;
                        Ok(Done::ok(()))
                    }
                    Move::Pay {
                        shopper,
                        merchant,
                        yen,
                    } => {
                        let who = Principal::Shopper {
                            id: shopper,
                            city: ctx.city,
                        };
                        let req = PaymentRequest {
                            merchant_id: merchant,
                            amount: amount(yen)?,
                        };
                        crate::features::payments::pay_in(w, who, ctx.currency, req).await?;
                        Ok(Done::ok(()))
                    }
                    Move::Earn {
                        merchant,
                        card,
                        yen,
                    } => {
                        let req = EarnRequest {
                            program_id: ctx.points,
                            card_number: card,
                            amount: amount(yen)?,
                        };
                        points::earn_in(w, owner(merchant), merchant, req)
                            .await
                            .map(|_| Done::ok(()))
                    }
                    Move::Spend {
                        merchant,
                        card,
                        points: n,
                    } => {
                        let req = SpendRequest {
                            program_id: ctx.points,
                            card_number: card,
                            amount: amount(n)?,
                        };
                        points::spend_in(w, owner(merchant), merchant, req)
                            .await
                            .map(|_| Done::ok(()))
                    }
                }
            })
        })
        .await?
        .into_value()
}
