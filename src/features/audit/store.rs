//! The audit log's SQL: append a row in the write transaction; read a page newest first.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::{WriteTx, write_vetted};

/// A row to append.
pub(crate) struct NewEntry<'a> {
    pub id: Uuid,
    pub city_id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_kind: &'a str,
    pub actor_id: Uuid,
    pub action: &'a str,
    pub subject_kind: &'a str,
    pub subject_id: Uuid,
    pub detail: &'a str,
}

pub(crate) async fn insert(tx: &mut WriteTx, e: &NewEntry<'_>) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO audit_log (id, city_id, at, actor_kind, actor_id, action, subject_kind, \
         subject_id, detail) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(e.id)
    .bind(e.city_id)
    .bind(e.at)
    .bind(e.actor_kind)
    .bind(e.actor_id)
    .bind(e.action)
    .bind(e.subject_kind)
    .bind(e.subject_id)
    .bind(e.detail)
    .execute(c)
    .await
    .map(|_| ()))
}

/// A row as read, with the staff member's name when the actor is staff.
#[derive(Debug, sqlx::FromRow)]
pub(crate) struct EntryRow {
    pub id: Uuid,
    pub at: DateTime<Utc>,
    pub actor_kind: String,
    pub actor_id: Uuid,
    pub actor_name: Option<String>,
    pub action: String,
    pub subject_kind: String,
    pub subject_id: Uuid,
    pub detail: String,
}

const COLUMNS: &str = "SELECT a.id, a.at, a.actor_kind, a.actor_id, s.name AS actor_name, \
     a.action, a.subject_kind, a.subject_id, a.detail FROM audit_log a \
     LEFT JOIN staff s ON a.actor_kind = 'staff' AND s.id = a.actor_id WHERE a.city_id = $1";

/// The city's entries newest first: `limit` of them, older than `before` when given.
pub(crate) async fn page(
    db: &Db,
    city: Uuid,
    before: Option<Uuid>,
    limit: i64,
) -> Result<Vec<EntryRow>, sqlx::Error> {
    match before {
        None => {
            let sql = format!("{COLUMNS} ORDER BY a.id DESC LIMIT $2");
            read!(db, |c| sqlx::query_as(&sql)
                .bind(city)
                .bind(limit)
                .fetch_all(c)
                .await)
        }
        Some(before) => {
            let sql = format!("{COLUMNS} AND a.id < $2 ORDER BY a.id DESC LIMIT $3");
            read!(db, |c| sqlx::query_as(&sql)
                .bind(city)
                .bind(before)
                .bind(limit)
                .fetch_all(c)
                .await)
        }
    }
}
