//! How long idempotent replies are kept. A request retried with the same Idempotency-Key
//! within the window gets the first answer; after it, the key is purged and behaves as new.
//!
//! Why 30 days by default (Stripe keeps keys 24 hours): Stripe's callers are servers that
//! retry within seconds, but a till here may queue a payment while offline (a power cut, a
//! terminal left in a drawer over a long weekend or 年末年始) and send it days later; a key
//! purged by then would move the money twice. 30 days covers the longest closure and a
//! settlement cycle; the cost is one row per idempotent request of the last 30 days. Set
//! with `serve --idempotency-retention-days`.

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::error::AppError;
use crate::writer::retention_store::purge_replies;
use crate::writer::{Done, Writer};

/// Default retention window in days (see the module).
pub const RETENTION_DAYS_DEFAULT: u32 = 30;
/// Rows one writer job deletes at most, so a purge never holds the writer for long: the
/// payments queued meanwhile go in between two batches.
pub const PURGE_BATCH_ROWS: i64 = 1_000;
/// How often `serve` purges.
pub const PURGE_INTERVAL: Duration = Duration::from_secs(3_600);

/// Purges every stored reply created before `before`, in writer jobs of at most `batch_rows`
/// rows each; returns how many.
pub async fn purge_before(
    writer: &Writer,
    before: DateTime<Utc>,
    batch_rows: i64,
) -> Result<u64, AppError> {
    let batch_rows = batch_rows.max(1);
    let mut total = 0;
    loop {
        let n = writer
            .answer(None, move |w| {
                Box::pin(async move {
                    let n = purge_replies(&mut w.tx, before, batch_rows).await?;
                    Ok(Done::ok(n))
                })
            })
            .await?
            .into_value()?;
        total += n;
        if n < batch_rows.unsigned_abs() {
            return Ok(total);
        }
    }
}

/// Purges replies older than `retention_days`, now and then every `interval`, until `stop`.
pub async fn run_periodically(
    writer: Writer,
    retention_days: u32,
    interval: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    let mut ticker = tokio::time::interval(interval);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            _ = ticker.tick() => {}
        }
        let before = Utc::now() - chrono::Duration::days(i64::from(retention_days));
        tokio::select! {
            _ = stop.wait_for(|stopped| *stopped) => break,
            result = purge_before(&writer, before, PURGE_BATCH_ROWS) => match result {
                Ok(0) => {}
                Ok(n) => tracing::info!(purged = n, %before, "expired idempotency keys purged"),
                Err(e) => tracing::error!(error = %e, "idempotency key purge failed; retrying next interval"),
            },
        }
    }
}
