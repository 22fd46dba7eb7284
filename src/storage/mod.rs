//! Storage: the only module that knows SQL, PostgreSQL or SQLite. One `Db` holds either
//! backend; queries are written once in the shared dialect and run through the `read!` /
//! `write!` macros, which expand the same code for each backend's connection type.
//! Dialect differences live here and nowhere else.

pub mod currency;
pub mod directory;
pub mod expiry;
pub mod ledger;
pub mod qr;
pub mod rebates;
pub mod reports;

use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};

/// Connections PostgreSQL may hand the service; the writer uses one, reads share the rest.
pub const PG_POOL_SIZE_MAX: u32 = 16;
/// SQLite readers (WAL lets them run beside the single writer).
pub const SQLITE_READERS_MAX: u32 = 8;
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
    #[error("database: {0}")]
    Db(#[from] sqlx::Error),
    #[error("migration: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
}

/// A handle on the database. Cheap to clone.
#[derive(Clone, Debug)]
pub enum Db {
    Pg(PgPool),
    /// SQLite keeps one write connection (writes are single-writer by design: see
    /// `ledger::writer`) and a pool of readers.
    Lite {
        read: SqlitePool,
        write: SqlitePool,
    },
}

/// A write transaction on either backend.
pub enum WriteTx {
    Pg(sqlx::Transaction<'static, sqlx::Postgres>),
    Lite(sqlx::Transaction<'static, sqlx::Sqlite>),
}

/// Runs `$body` with `$c` bound to a read pool (`&PgPool` or `&SqlitePool`).
macro_rules! read {
    ($db:expr, |$c:ident| $body:expr) => {
        match $db {
            $crate::storage::Db::Pg(pool) => {
                let $c = pool;
                $body
            }
            $crate::storage::Db::Lite { read, .. } => {
                let $c = read;
                $body
            }
        }
    };
}

/// Runs `$body` with `$c` bound to the transaction's connection
/// (`&mut PgConnection` or `&mut SqliteConnection`).
macro_rules! write {
    ($tx:expr, |$c:ident| $body:expr) => {
        match $tx {
            $crate::storage::WriteTx::Pg(tx) => {
                let $c = &mut **tx;
                $body
            }
            $crate::storage::WriteTx::Lite(tx) => {
                let $c = &mut **tx;
                $body
            }
        }
    };
}
pub(crate) use {read, write};

impl Db {
    /// Connects and migrates. `sqlite:` URLs create the file if it is missing.
    pub async fn connect(url: &str) -> Result<Db, StartError> {
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let pool = PgPoolOptions::new()
                .max_connections(PG_POOL_SIZE_MAX)
                .acquire_timeout(Duration::from_millis(BUSY_TIMEOUT_MS))
                .connect(url)
                .await?;
            check_durable(&pool).await?;
            sqlx::migrate!("migrations/postgres").run(&pool).await?;
            let db = Db::Pg(pool);
            qr::ensure_secret(&db, qr::QR_KEY).await?;
            Ok(db)
        } else if url.starts_with("sqlite:") {
            let opts = SqliteConnectOptions::from_str(url)?
                .create_if_missing(true)
                .journal_mode(SqliteJournalMode::Wal)
                .synchronous(SqliteSynchronous::Full)
                .foreign_keys(true)
                .busy_timeout(Duration::from_millis(BUSY_TIMEOUT_MS));
            let write = SqlitePoolOptions::new()
                .max_connections(1)
                .connect_with(opts.clone())
                .await?;
            sqlx::migrate!("migrations/sqlite").run(&write).await?;
            let read = SqlitePoolOptions::new()
                .max_connections(SQLITE_READERS_MAX)
                .connect_with(opts.read_only(true))
                .await?;
            let db = Db::Lite { read, write };
            qr::ensure_secret(&db, qr::QR_KEY).await?;
            Ok(db)
        } else {
            Err(StartError::UnsupportedUrl)
        }
    }

    pub fn backend(&self) -> Backend {
        match self {
            Db::Pg(_) => Backend::Postgres,
            Db::Lite { .. } => Backend::Sqlite,
        }
    }

    /// Opens a write transaction. SQLite takes the write lock up front (`BEGIN IMMEDIATE`),
    /// so a transaction never fails half-way for want of it.
    pub async fn begin_write(&self) -> Result<WriteTx, sqlx::Error> {
        Ok(match self {
            Db::Pg(pool) => WriteTx::Pg(pool.begin().await?),
            Db::Lite { write, .. } => WriteTx::Lite(write.begin_with("BEGIN IMMEDIATE").await?),
        })
    }

    pub async fn ping(&self) -> Result<(), sqlx::Error> {
        read!(self, |c| sqlx::query("SELECT 1")
            .execute(c)
            .await
            .map(|_| ()))
    }

    pub async fn close(&self) {
        match self {
            Db::Pg(pool) => pool.close().await,
            Db::Lite { read, write } => {
                read.close().await;
                write.close().await;
            }
        }
    }
}

impl WriteTx {
    pub async fn commit(self) -> Result<(), sqlx::Error> {
        match self {
            WriteTx::Pg(tx) => tx.commit().await,
            WriteTx::Lite(tx) => tx.commit().await,
        }
    }

    /// Savepoints let one job of a batch fail without undoing the others.
    pub async fn savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.exec("SAVEPOINT job").await
    }
    pub async fn release(&mut self) -> Result<(), sqlx::Error> {
        self.exec("RELEASE SAVEPOINT job").await
    }
    pub async fn rollback_to_savepoint(&mut self) -> Result<(), sqlx::Error> {
        self.exec("ROLLBACK TO SAVEPOINT job").await?;
        // PostgreSQL and SQLite both keep the savepoint after ROLLBACK TO; release it so
        // the next job starts from a clean stack.
        self.exec("RELEASE SAVEPOINT job").await
    }

    async fn exec(&mut self, sql: &'static str) -> Result<(), sqlx::Error> {
        write!(self, |c| sqlx::query(sql).execute(c).await.map(|_| ()))
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
