//! `App`, the state every use-case and HTTP handler shares: the database (for reads), the
//! writer (for every write), the token cache, the count of failed sign-ins per client
//! address, the shutdown flag (`Draining`), the permits of large uploads and the passkeys'
//! relying party. Cheap to clone.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::db::Db;
use crate::writer::Writer;
use machipay_domain::auth::Principal;
use machipay_domain::ids::TokenId;

#[derive(Clone)]
pub struct App {
    /// Reads go straight to the database (SQLite readers run beside the writer under WAL).
    pub db: Db,
    /// Every write, money or not, is a job on the single writer.
    pub writer: Writer,
    /// Bearer tokens already resolved, so a request does not read the token table.
    pub tokens: TokenCache,
    /// Failed sign-ins (and setup codes) per client address, for the per-address limit.
    pub failures: FailureCounter,
    /// Set when the server starts shutting down: event streams end, `/readyz` fails.
    pub draining: Draining,
    /// Large uploads (imports) being read at once: at most `UPLOADS_MAX`.
    pub uploads: Arc<tokio::sync::Semaphore>,
    /// Per-principal and per-peer rate limits (enrollment codes).
    pub rate_limits: crate::rate_limit::RateLimits,
    /// Who the passkey ceremonies speak as (set before serving: `--public-url`, or the
    /// listen address's port on `localhost`).
    pub relying_party: crate::relying_party::RelyingParty,
}

/// Large request bodies (the card and store imports, up to megabytes each) read at once at
/// most; another waits 2 s (`http::extract::read_upload`) for a turn and is then refused 503
/// `overloaded`. Bounds the memory uploads can take (4 × 8 MiB), and only callers who may
/// import get one.
pub const UPLOADS_MAX: usize = 4;

impl App {
    pub fn new(db: Db, writer: Writer) -> App {
        let tokens = TokenCache::default();
        if let Db::Pg(pool, _) = &db
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(follow_generation(
                pool.clone(),
                Arc::downgrade(&tokens.inner),
            ));
        }
        App {
            db,
            writer,
            tokens,
            failures: FailureCounter::default(),
            draining: Draining::default(),
            uploads: Arc::new(tokio::sync::Semaphore::new(UPLOADS_MAX)),
            rate_limits: crate::rate_limit::RateLimits::default(),
            relying_party: crate::relying_party::RelyingParty::default(),
        }
    }
}

/// How often a server re-reads the shared generation to forget tokens another instance
/// revoked (PostgreSQL): a revocation is refused everywhere within this, plus a read.
pub const GENERATION_POLL: std::time::Duration = std::time::Duration::from_millis(250);

/// PostgreSQL, for as long as the cache lives: re-reads the shared generation
/// (`machipay_generation`, bumped by every batch that revokes a token or forgets the
/// writer's facts, on any instance) every `GENERATION_POLL`, and forgets every cached token
/// when it moved.
async fn follow_generation(pool: sqlx::PgPool, cache: std::sync::Weak<Mutex<Tokens>>) {
    let mut seen: Option<i64> = None;
    let mut tick = tokio::time::interval(GENERATION_POLL);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = cache.upgrade() else {
            return;
        };
        if pool.is_closed() {
            return;
        }
        let read: Result<i64, sqlx::Error> =
            sqlx::query_scalar("SELECT value FROM machipay_generation WHERE id = 1")
                .fetch_one(&pool)
                .await;
        match read {
            Ok(now) if seen != Some(now) => {
                if seen.is_some() {
                    TokenCache { inner }.forget_all();
                }
                seen = Some(now);
            }
            Ok(_) => {}
            // Unknown: forget, to be safe; the next read tells.
            Err(_) => {
                TokenCache { inner }.forget_all();
                seen = None;
            }
        }
    }
}

/// The server is shutting down: set once, never cleared. Open event streams end (telling
/// their clients to reconnect, to another instance), `/readyz` answers 503 so a load
/// balancer stops sending, and the serve loop lets in-flight requests finish.
#[derive(Clone)]
pub struct Draining {
    flag: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for Draining {
    fn default() -> Self {
        Self {
            flag: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }
}

impl Draining {
    /// Starts draining (idempotent).
    pub fn start(&self) {
        self.flag.send_replace(true);
    }

    pub fn is_draining(&self) -> bool {
        *self.flag.borrow()
    }

    /// Resolves once draining has started.
    pub async fn started(&self) {
        let mut rx = self.flag.subscribe();
        // The sender lives as long as `self`, so this only ends when draining starts.
        let _ = rx.wait_for(|draining| *draining).await;
    }
}

/// Tokens remembered at most; past this the cache starts afresh (bounds memory: ~150 bytes
/// an entry).
const TOKENS_CACHED_MAX: usize = 200_000;

/// Resolved tokens by the SHA-256 of their secret.
///
/// Why it is safe: what a token stands for never changes (staff roles and a device's merchant
/// are fixed; a new role is a new token), and the only change to a token is its revocation,
/// which goes through `directory::revoke_token` and calls `forget_all` once it has committed.
/// A lookup that read the database before that commit could put back a stale entry after
/// the forgetting, so every entry is put under the generation its lookup started in, and a
/// revocation bumps the generation: a lookup that started before it stores nothing. Only
/// tokens that resolved are remembered (a token minted by another process is found on its
/// first use). Other instances (PostgreSQL): a revocation bumps the shared generation in its
/// transaction, and every server re-reads it every `GENERATION_POLL` and forgets all its
/// tokens when it moved (`follow_generation`).
#[derive(Clone, Default)]
pub struct TokenCache {
    inner: Arc<Mutex<Tokens>>,
}

#[derive(Default)]
struct Tokens {
    generation: u64,
    by_hash: HashMap<Vec<u8>, (TokenId, Principal)>,
}

impl TokenCache {
    /// The remembered principal of a token hash, and the generation to store a fresh
    /// lookup under.
    pub fn get(&self, hash: &[u8]) -> (Option<(TokenId, Principal)>, u64) {
        let t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (t.by_hash.get(hash).copied(), t.generation)
    }

    /// Remembers a lookup made in `generation`, unless a revocation happened since.
    pub fn put(&self, hash: Vec<u8>, found: (TokenId, Principal), generation: u64) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if t.generation != generation {
            return;
        }
        if t.by_hash.len() >= TOKENS_CACHED_MAX {
            t.by_hash.clear();
        }
        t.by_hash.insert(hash, found);
    }

    /// Forgets every token: called after a revocation commits.
    pub fn forget_all(&self) {
        let mut t = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        t.generation += 1;
        t.by_hash.clear();
    }
}

/// Client addresses tracked at most; past this the counter starts afresh (bounds memory: an
/// attacker with that many addresses is not slowed by a per-address limit anyway).
const ADDRESSES_TRACKED_MAX: usize = 100_000;

/// Recent failures per client address, in memory (one server process per database, as the
/// writer requires; a restart forgets them, while the per-login lockout is in the database).
#[derive(Clone, Default)]
pub struct FailureCounter {
    inner: Arc<Mutex<HashMap<IpAddr, VecDeque<Instant>>>>,
}

impl FailureCounter {
    /// How long `ip` must wait, if it failed `max` times within the last `window`.
    pub fn blocked_for(&self, ip: IpAddr, max: usize, window: Duration) -> Option<Duration> {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let now = Instant::now();
        let times = map.get_mut(&ip)?;
        while times
            .front()
            .is_some_and(|t| now.duration_since(*t) >= window)
        {
            times.pop_front();
        }
        if times.len() < max {
            return None;
        }
        let oldest = *times.front()?;
        Some(window.saturating_sub(now.duration_since(oldest)))
    }

    /// Counts one failure of `ip` (keeping at most `max` of them: older ones no longer matter).
    pub fn record(&self, ip: IpAddr, max: usize) {
        let mut map = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if map.len() >= ADDRESSES_TRACKED_MAX && !map.contains_key(&ip) {
            map.clear();
        }
        let times = map.entry(ip).or_default();
        times.push_back(Instant::now());
        while times.len() > max {
            times.pop_front();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use machipay_domain::ids::{CityId, ShopperId};

    #[test]
    fn a_lookup_that_started_before_a_revocation_is_not_remembered() {
        let cache = TokenCache::default();
        let who = Principal::Shopper {
            id: ShopperId::new(),
            city: CityId::new(),
        };
        let found = (TokenId::new(), who);
        let (hit, generation) = cache.get(b"h");
        assert!(hit.is_none());
        // A revocation commits while the lookup reads the database.
        cache.forget_all();
        cache.put(b"h".to_vec(), found, generation);
        assert!(cache.get(b"h").0.is_none());
        // A lookup started after it is remembered, until the next revocation.
        let (_, generation) = cache.get(b"h");
        cache.put(b"h".to_vec(), found, generation);
        assert_eq!(cache.get(b"h").0, Some(found));
        cache.forget_all();
        assert!(cache.get(b"h").0.is_none());
    }
}
