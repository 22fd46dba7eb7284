//! Shopper support's block (migration 0023): operators and city admins block a shopper at
//! once, with a reason, and unblock them. The state lives on the shopper (directory's row);
//! what a block stops is enforced where credentials resolve and where money moves
//! (`directory::refuse_blocked_tx`, README "Invariants"). Its own capability because the
//! change and its audit row commit in one writer job, and the audit log's routes already
//! depend on the directory (a cycle the tidy check forbids).

pub(crate) mod http;

use crate::app::App;
use crate::error::{AppError, Common};
use crate::features::directory::{self as dir, Shopper, ShopperBlockRequest};
use crate::writer::{Answer, Done};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::ids::ShopperId;

/// Staff (operators, city admins) block a shopper at once: their tokens and sessions stop
/// working, sign-in is refused, nothing of theirs moves; balances stay. Blocking a blocked
/// shopper changes nothing and answers them as they are. Recorded in the audit log.
pub async fn block_shopper(
    app: &App,
    who: Principal,
    id: ShopperId,
    req: ShopperBlockRequest,
) -> Result<Answer<Shopper>, AppError> {
    set_block(app, who, id, true, req.reason).await
}

/// Staff lift a shopper's block: their tokens, sessions and sign-in work again. Unblocking
/// an active shopper changes nothing. Recorded in the audit log.
pub async fn unblock_shopper(
    app: &App,
    who: Principal,
    id: ShopperId,
    req: ShopperBlockRequest,
) -> Result<Answer<Shopper>, AppError> {
    set_block(app, who, id, false, req.reason).await
}

async fn set_block(
    app: &App,
    who: Principal,
    id: ShopperId,
    block: bool,
    reason: String,
) -> Result<Answer<Shopper>, AppError> {
    if !who.can(Capability::OperateProgram) {
        return Err(Common::Forbidden.into());
    }
    let reason = reason.trim().to_owned();
    if reason.is_empty() || reason.chars().count() > 200 {
        return Err(Common::InvalidReason.into());
    }
    let answer = app
        .writer
        .answer(None, move |w| {
            Box::pin(async move {
                let row = dir::shopper_tx(&mut w.tx, id)
                    .await?
                    .filter(|s| s.city_id == who.city())
                    .ok_or(Common::NotFound("shopper"))?;
                if row.blocked_at.is_some() == block {
                    return Ok(Done::ok(Shopper::from(row)));
                }
                let mark = block.then_some((w.now, reason.as_str(), who.scope_id()));
                dir::set_shopper_block_tx(&mut w.tx, id, mark).await?;
                let change = crate::features::audit::Change {
                    action: if block {
                        "shopper_blocked"
                    } else {
                        "shopper_unblocked"
                    },
                    subject_kind: "shopper",
                    subject_id: id.0,
                    detail: serde_json::json!({
                        "reason": reason,
                        "before": if block { "active" } else { "blocked" },
                        "after": if block { "blocked" } else { "active" },
                        "blocked_since": row.blocked_at,
                    }),
                };
                crate::features::audit::record(&mut w.tx, &who, w.now, change).await?;
                let after = dir::shopper_tx(&mut w.tx, id)
                    .await?
                    .ok_or_else(|| AppError::Internal("shopper vanished".into()))?;
                Ok(Done::ok(Shopper::from(after)))
            })
        })
        .await;
    // Committed (or not): no remembered token of the shopper may outlive this point.
    app.tokens.forget_all();
    answer
}
