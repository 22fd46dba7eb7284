//! Storage: one `Db` holds either backend (PostgreSQL or SQLite): its pools, connecting,
//! migrating, the durability check, the single-writer lock and the server's secrets. Queries
//! are written once in the shared dialect and run through the `read!` macro here (and, inside
//! the write transaction, the writer's `write!` / `read_tx!`: `crate::writer::WriteTx`), which
//! expand the same code for each backend's connection type.

pub mod schema;
pub(crate) mod single_writer;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Connections PostgreSQL may hand the service; the writer uses one, reads share the rest.
pub const PG_POOL_SIZE_MAX: u32 = 16;
/// SQLite readers (WAL lets them run beside the single writer).
pub const SQLITE_READERS_MAX: u32 = 8;
/// Prepared statements kept per connection: the writer alone runs a few hundred distinct
/// ones (the pending-row inserts come in several sizes), and a miss costs a prepare.
pub const STATEMENT_CACHE_CAPACITY: usize = 1_024;
/// SQLite: how often the background checkpoint runs.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(500);
/// SQLite: the log size (pages of 4 KiB) at which the writing connection checkpoints by
/// itself: only a safety net should the background checkpoint fall behind.
pub const WAL_AUTOCHECKPOINT_PAGES: u32 = 16_384;
/// SQLite: the writing connection's page cache (KiB). A batch of 256 jobs dirties pages all
/// over the ledger's indexes; with SQLite's default 2 MiB they spilled to the log mid-batch
/// (`pagerStress`, seen in `perf` filling the scale town, issue 15). Its statement journals
/// (a job's savepoint) stay in memory too (`temp_store`).
pub const WRITER_CACHE_KIB: u32 = 65_536;
/// How long a connection waits on a lock before giving up.
pub const BUSY_TIMEOUT_MS: u64 = 5_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Backend {
    Sqlite,
    Postgres,
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("unsupported DATABASE_URL (expected postgres://... or sqlite:...)")]
    UnsupportedUrl,
    #[error(
        "PostgreSQL does not make commits durable ({setting} = {value}); machipay refuses to \
         keep money on it. Set {setting} = on and restart the database."
    )]
    NotDurable {
        setting: &'static str,
        value: String,
    },
    #[error(
        "another machipay process is already writing to this database (it holds the writer \
         lock: {database}); stop it first, one server per database"
    )]
    WriterRunning { database: String },
    #[error("writer lock: {0}")]
    Lock(String),
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// One pool's connections: open, and idle among them.
#[derive(Debug, Clone, Copy)]
pub struct PoolUse {
    pub pool: &'static str,
    pub size: usize,
    pub idle: usize,
}

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    /// PostgreSQL: a pool for reads and one connection for the writer (its prepared
    /// statements stay warm on one connection instead of sixteen).
    Pg(PgPool, PgPool),
    /// SQLite keeps one write connection (writes are single-writer by design: see
    /// `crate::writer::rows::writer`) and a pool of readers.
    Lite {
        read: SqlitePool,
        write: SqlitePool,
        /// One connection that copies the write-ahead log into the database file in the
        /// background (`Db::checkpoint`), so commits never wait for it.
        checkpoint: SqlitePool,
        /// The single-writer lock file (`single_writer`), held while any handle lives;
        /// None for an in-memory database.
        lock: Option<std::sync::Arc<std::fs::File>>,
    },
}

/// Runs `$body` with `$c` bound to a read pool (`&PgPool` or `&SqlitePool`).
macro_rules! read {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::db::Db::Pg(pool, _) => {
                let $c = pool;
                $body
            }
            $crate::db::Db::Lite { read, .. } => {
                let $c = read;
                $body
            }
        }
    };
}

pub(crate) use read;

impl Db {
    /// Connects and migrates. `sqlite:` URLs create the file if it is missing.
    pub async fn connect(url: &str) -> Result<Db, StartError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            // JIT off: on a ledger of millions of postings the planner's estimate for the
            // balance check run per posting at commit (`machipay_check_balanced`, a deferred
            // trigger) crossed `jit_above_cost`, and every run compiled its plan with LLVM:
            // one commit of the scale fill took over a minute in JIT compilation. Nothing
            // this service asks is a long analytic query that JIT would pay back.
            let opts = PgConnectOptions::from_str(url)?
                .statement_cache_capacity(STATEMENT_CACHE_CAPACITY)
                .options([("jit", "off")]);
            let pool = PgPoolOptions::new()
                .max_connections(PG_POOL_SIZE_MAX - 1)
                .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .connect_with(opts.clone())
                .await?;
            check_durable(&pool).await?;
            // The writer's own connection, kept: no lifetime, no idle timeout. PostgreSQL
            // takes no single-writer lock: other instances may write beside this one
            // (`single_writer`, README "Many instances").
            let write = PgPoolOptions::new()
                .max_connections(1)
                .max_lifetime(None)
                .idle_timeout(None)
                .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .connect_with(opts)
                .await?;
            // A database that applied an edited migration's first text (`schema`) is
            // brought to the current text first, or sqlx would refuse it.
            schema::repair_postgres(&pool).await?;
            schema::POSTGRES.run(&pool).await?;
            let db = Db::Pg(pool, write);
            ensure_secrets(&db).await?;
            Ok(db)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .statement_cache_capacity(STATEMENT_CACHE_CAPACITY);
            // The lock first: a second process must not even migrate.
            let lock = single_writer::lock_sqlite(opts.get_filename())?;
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                // A connection that comes back still inside a transaction is replaced: SQLite
                // rolls a transaction back by itself on some failures (SQLITE_FULL, IOERR),
                // sqlx's own ROLLBACK then fails and it would refuse every later BEGIN.
                .after_release(|conn, _| {
                    Box::pin(async move { Ok(!sqlx::Connection::is_in_transaction(conn)) })
                })
                .connect_with(
                    opts.clone()
                        .pragma("wal_autocheckpoint", WAL_AUTOCHECKPOINT_PAGES.to_string())
                        .pragma("cache_size", format!("-{WRITER_CACHE_KIB}"))
                        .pragma("temp_store", "memory"),
                )
                .await?;
            schema::repair_sqlite(&write).await?;
            schema::SQLITE.run(&write).await?;
            let checkpoint = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            let read = SqlitePoolOptions::new()
                .max_connections(SQLITE_READERS_MAX)
                .connect_with(opts.read_only(true))
                .await?;
            let db = Db::Lite {
                read,
                write,
                checkpoint,
                lock,
            };
            ensure_secrets(&db).await?;
            Ok(db)
        } else {
            Err(StartError::UnsupportedUrl)
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Pg(..) => Backend::Postgres,
            Db::Lite { .. } => Backend::Sqlite,
        }
    }

    /// SQLite: copies committed pages from the write-ahead log into the database file
    /// (a PASSIVE checkpoint: it never blocks the writer or readers). Run every
    /// `CHECKPOINT_INTERVAL` beside the writer (`crate::writer::rows::writer`). With the automatic
    /// checkpoint left to the writing connection, every ~1,000 pages one commit also paid
    /// for copying them and syncing the database file (measured: 1,500 -> 2,300 payments/s
    /// when it moved here). Durability is unchanged: every commit still syncs the log
    /// (synchronous=FULL). PostgreSQL: nothing to do.
    pub async fn checkpoint(&self) -> Result<(), sqlx::Error> {
        match self {
            Db::Pg(..) => Ok(()),
            Db::Lite { checkpoint, .. } => sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
                .execute(checkpoint)
                .await
                .map(|_| ()),
        }
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        read!(self, |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|_| ()))
    }

    /// Connections of each pool, and how many are idle (for `/metrics`).
    pub fn pool_use(&self) -> Vec<PoolUse> {
        let pg = |pool: &'static str, p: &PgPool| PoolUse {
            pool,
            size: p.size() as usize,
            idle: p.num_idle(),
        };
        let lite = |pool: &'static str, p: &SqlitePool| PoolUse {
            pool,
            size: p.size() as usize,
            idle: p.num_idle(),
        };
        match self {
            Db::Pg(read, write) => vec![pg("read", read), pg("write", write)],
            Db::Lite { read, write, .. } => vec![lite("read", read), lite("write", write)],
        }
    }

    /// Every migration this build embeds is applied (`/readyz`): false while an older
    /// instance runs against a database a newer one has not migrated yet, or the reverse is
    /// refused at start by sqlx. An error: the database does not answer.
    pub async fn migrations_applied(&self) -> Result<bool, sqlx::Error> {
        let (migrator, sql) = match self {
            Db::Pg(..) => (
                &schema::POSTGRES,
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
            ),
            Db::Lite { .. } => (
                &schema::SQLITE,
                "SELECT COUNT(*) FROM _sqlx_migrations WHERE success",
            ),
        };
        let applied: i64 = read!(self, |c| sqlx::query_scalar(sql).fetch_one(c).await)?;
        let known = migrator.iter().count();
        Ok(usize::try_from(applied).is_ok_and(|n| n >= known))
    }

    pub async fn close(&self) {
        match self {
            Db::Pg(read, write) => {
                read.close().await;
                write.close().await;
            }
            Db::Lite {
                read,
                write,
                checkpoint,
                lock,
            } => {
                read.close().await;
                checkpoint.close().await;
                write.close().await;
                // Released now rather than when the last handle goes: a closed database
                // writes nothing more.
                if let Some(lock) = lock {
                    let _ = lock.unlock();
                }
            }
        }
    }
}

/// Money must survive a crash: refuse a PostgreSQL that acknowledges commits it has not
/// flushed.
async fn check_durable(pool: &PgPool) -> Result<(), StartError> {
    for setting in ["fsync", "synchronous_commit"] {
        let value: String = sqlx::query_scalar(&format!("SHOW {setting}"))
            .fetch_one(pool)
            .await?;
        if value == "off" {
            return Err(StartError::NotDurable { setting, value });
        }
    }
    Ok(())
}

/// Name of the HMAC key that signs QR payloads (`features::qr::store::QR_KEY`).
pub const QR_SIGNING_KEY: &str = "qr_signing_key";

/// The server's own secrets (table `server_secrets`), by name. Each is made once, when a
/// database is first opened, before the writer starts, and never changes (so the writer
/// remembers it for good).
pub const SERVER_SECRETS: &[&str] = &[QR_SIGNING_KEY];

/// Makes every secret of `SERVER_SECRETS` the database does not hold yet (32 random bytes).
async fn ensure_secrets(db: &Db) -> Result<(), sqlx::Error> {
    for name in SERVER_SECRETS {
        ensure_secret(db, name).await?;
    }
    Ok(())
}

async fn ensure_secret(db: &Db, name: &str) -> Result<(), sqlx::Error> {
    use rand::RngCore;
    let mut value = vec![0u8; 32];
    rand::rng().fill_bytes(&mut value);
    let sql = "INSERT INTO server_secrets (name, value, created_at) VALUES ($1, $2, $3) ON CONFLICT (name) DO NOTHING";
    match db {
        Db::Pg(pool, _) => sqlx::query(sql)
            .bind(name)
            .bind(&value)
            .bind(machipay_domain::calendar::now())
            .execute(pool)
            .await
            .map(|_| ()),
        Db::Lite { write, .. } => sqlx::query(sql)
            .bind(name)
            .bind(&value)
            .bind(machipay_domain::calendar::now())
            .execute(write)
            .await
            .map(|_| ()),
    }
}
