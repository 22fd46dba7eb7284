//! Per-key rate limits (token buckets) kept in the process: what a principal or a peer may
//! do so often (minting and redeeming till enrollment codes). Each instance keeps its own
//! buckets, so behind a load balancer of N instances a key gets up to N times the budget.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Keys remembered at most per limit; past it, full buckets are forgotten (a forgotten key
/// starts full, which is what a full bucket is anyway), and if none is full, all are.
const KEYS_MAX: usize = 100_000;

/// A token bucket per key: `burst` at once, then one more every `refill`.
#[derive(Clone)]
pub struct RateLimit {
    name: &'static str,
    burst: u32,
    refill: Duration,
    buckets: Arc<Mutex<HashMap<String, Bucket>>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl RateLimit {
    pub fn new(name: &'static str, burst: u32, refill: Duration) -> Self {
        Self {
            name,
            burst,
            refill,
            buckets: Arc::default(),
        }
    }

    /// The limit's name (the label of `machipay_rate_limited_total`).
    pub fn name(&self) -> &'static str {
        self.name
    }

    /// Takes one token of `key`'s bucket, or says how long until one is there.
    pub fn take(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let burst = f64::from(self.burst);
        let per_token = self.refill.as_secs_f64();
        let mut buckets = self.buckets.lock().unwrap_or_else(|e| e.into_inner());
        if buckets.len() >= KEYS_MAX && !buckets.contains_key(key) {
            buckets.retain(|_, b| refilled(*b, now, burst, per_token) < burst);
            if buckets.len() >= KEYS_MAX {
                buckets.clear();
            }
        }
        let bucket = buckets.entry(key.to_owned()).or_insert(Bucket {
            tokens: burst,
            at: now,
        });
        let tokens = refilled(*bucket, now, burst, per_token);
        if tokens >= 1.0 {
            *bucket = Bucket {
                tokens: tokens - 1.0,
                at: now,
            };
            Ok(())
        } else {
            *bucket = Bucket { tokens, at: now };
            crate::metrics::get()
                .rate_limited
                .with_label_values(&[self.name])
                .inc();
            Err(Duration::from_secs_f64((1.0 - tokens) * per_token))
        }
    }
}

fn refilled(b: Bucket, now: Instant, burst: f64, per_token: f64) -> f64 {
    let gained = now.duration_since(b.at).as_secs_f64() / per_token;
    (b.tokens + gained).min(burst)
}

/// Enrollment codes a store owner may mint at once (a new store's tills, a few retries).
pub const ENROLLMENT_CODES_BURST: u32 = 30;
/// Then one more every this many seconds.
pub const ENROLLMENT_CODES_REFILL_SECS: u64 = 60;
/// Enrollment codes redeemed at once from one peer address.
pub const ENROLLMENTS_BURST: u32 = 60;
/// Then one more every this many seconds.
pub const ENROLLMENTS_REFILL_SECS: u64 = 1;

/// The limits the server keeps.
#[derive(Clone)]
pub struct RateLimits {
    /// Enrollment codes a store owner mints: `ENROLLMENT_CODES_BURST` at once, then one a
    /// minute.
    pub enrollment_codes: RateLimit,
    /// Enrollment codes redeemed (`POST /devices/enroll`, no token yet) per peer address:
    /// `ENROLLMENTS_BURST` at once, then one a second. Behind a load balancer the peer is
    /// the balancer. (A code is 96 random bits: this bounds the load of guessing, not its
    /// odds, which are nil.)
    pub enrollments: RateLimit,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            enrollment_codes: RateLimit::new(
                "enrollment_codes",
                ENROLLMENT_CODES_BURST,
                Duration::from_secs(ENROLLMENT_CODES_REFILL_SECS),
            ),
            enrollments: RateLimit::new(
                "enrollments",
                ENROLLMENTS_BURST,
                Duration::from_secs(ENROLLMENTS_REFILL_SECS),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_bucket_allows_its_burst_then_refuses_with_the_wait() {
        let limit = RateLimit::new("t", 3, Duration::from_secs(60));
        for _ in 0..3 {
            assert!(limit.take("a").is_ok());
        }
        let wait = limit.take("a").expect_err("the fourth is refused");
        assert!(wait > Duration::from_secs(58) && wait <= Duration::from_secs(60));
        // Another key has its own bucket.
        assert!(limit.take("b").is_ok());
    }
}
