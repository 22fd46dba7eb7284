//! The migrations and one repair of their history.
//!
//! `0007_owner_index.sql` was edited after it was first committed (b344e82 made the index
//! `(owner_id, program_id)`, 17e6ad2 added `kind`), so a database that applied the first text
//! holds its checksum in `_sqlx_migrations` and sqlx refuses to start on it
//! (`VersionMismatch(7)`). Migration files are never edited again (a test pins every
//! checksum). Before the migrator runs, `repair` finds a migration applied with a text listed
//! in `SUPERSEDED`, undoes it, applies the current text and records the current checksum, in
//! one transaction: the database ends exactly as if it had applied the current file.

use sqlx::migrate::Migrator;

use crate::db::StartError;

pub static POSTGRES: Migrator = sqlx::migrate!("migrations/postgres");
pub static SQLITE: Migrator = sqlx::migrate!("migrations/sqlite");

/// A migration text that was applied somewhere and later replaced in the repository.
pub struct Superseded {
    pub version: i64,
    /// SHA-384 of the old text, as sqlx recorded it (hex).
    pub checksum: &'static str,
    /// Undoes what the old text did, so the current text can run.
    pub undo: &'static str,
}

/// PostgreSQL: the first text of 0007 (`git show b344e82:migrations/postgres/0007_owner_index.sql`).
pub const SUPERSEDED_POSTGRES: &[Superseded] = &[Superseded {
    version: 7,
    checksum: "585138061dd217d01ec30aced586698b32921317f99736e872299ee4ac29bd2a85ca8a5b1a6b84d3ee3dcda70e8c9f2a",
    undo: "DROP INDEX IF EXISTS accounts_owner",
}];

/// SQLite: the first text of 0007 (`git show b344e82:migrations/sqlite/0007_owner_index.sql`).
pub const SUPERSEDED_SQLITE: &[Superseded] = &[Superseded {
    version: 7,
    checksum: "76bbd9ff4481d523723af9b4a5bb2a228f67ab2ec10aaa95fd68686307b43e8a34ad15af05318fad8c9113650948aa61",
    undo: "DROP INDEX IF EXISTS accounts_owner",
}];

macro_rules! repair_with {
    ($pool:expr, $migrator:expr, $superseded:expr, $has_table:expr) => {{
        let pool = $pool;
        let has_table: bool = sqlx::query_scalar($has_table).fetch_one(pool).await?;
        let mut repaired = 0;
        if has_table {
            for old in $superseded {
                let Some(current) = $migrator.iter().find(|m| m.version == old.version) else {
                    continue;
                };
                let applied: Option<Vec<u8>> =
                    sqlx::query_scalar("SELECT checksum FROM _sqlx_migrations WHERE version = $1")
                        .bind(old.version)
                        .fetch_optional(pool)
                        .await?;
                if applied.map(hex::encode).as_deref() != Some(old.checksum) {
                    continue;
                }
                let mut tx = pool.begin().await?;
                sqlx::raw_sql(old.undo).execute(&mut *tx).await?;
                sqlx::raw_sql(&current.sql).execute(&mut *tx).await?;
                sqlx::query("UPDATE _sqlx_migrations SET checksum = $1 WHERE version = $2")
                    .bind(&*current.checksum)
                    .bind(old.version)
                    .execute(&mut *tx)
                    .await?;
                tx.commit().await?;
                tracing::warn!(
                    version = old.version,
                    "migration applied with a superseded text: replaced by the current one"
                );
                repaired += 1;
            }
        }
        Ok::<usize, StartError>(repaired)
    }};
}

/// PostgreSQL: repairs superseded migrations (see the module); returns how many.
pub async fn repair_postgres(pool: &sqlx::PgPool) -> Result<usize, StartError> {
    repair_with!(
        pool,
        POSTGRES,
        SUPERSEDED_POSTGRES,
        "SELECT to_regclass('_sqlx_migrations') IS NOT NULL"
    )
}

/// SQLite: repairs superseded migrations (see the module); returns how many.
pub async fn repair_sqlite(pool: &sqlx::SqlitePool) -> Result<usize, StartError> {
    repair_with!(
        pool,
        SQLITE,
        SUPERSEDED_SQLITE,
        "SELECT count(*) > 0 FROM sqlite_master WHERE type = 'table' AND name = '_sqlx_migrations'"
    )
}
