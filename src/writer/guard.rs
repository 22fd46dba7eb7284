//! The connection every statement inside the write transaction runs through (`write!`,
//! `read_tx!`, `read_flushed!`): it reads each statement's SQL before sending it, so
//! - a read (`read_tx!`, `read_flushed!`) cannot write: anything but a plain `SELECT` is
//!   refused (a panic in debug builds, an error in release);
//! - a write forgets exactly the facts of `writer::Known` its target table and columns can
//!   change (`touched`), mechanically, instead of trusting a hand-written label. A statement
//!   whose shape is not recognised forgets everything.

use std::fmt;

use futures::future::BoxFuture;
use futures::stream::BoxStream;
use futures::{FutureExt, StreamExt};
use sqlx::{Database, Describe, Either, Execute, Executor};

use crate::writer::Known;

/// Groups of facts `Known` remembers, one per table (or pair of tables) they are read from.
/// A set of them is a bit mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct FactSet(u8);

impl FactSet {
    pub(crate) const NONE: FactSet = FactSet(0);
    /// Programs with the settings in effect per date (`programs`, `program_settings_versions`).
    pub(crate) const PROGRAMS: FactSet = FactSet(1);
    pub(crate) const MERCHANTS: FactSet = FactSet(1 << 1);
    pub(crate) const SHOPPERS: FactSet = FactSet(1 << 2);
    /// Accounts that may go negative, for their identity (not their balance).
    pub(crate) const ACCOUNTS: FactSet = FactSet(1 << 3);
    /// A store's latest participation event, including "none" (`participation_events`).
    pub(crate) const PARTICIPATION: FactSet = FactSet(1 << 4);
    pub(crate) const STORE_CODES: FactSet = FactSet(1 << 5);
    /// Every rebate campaign of a program (`rebate_campaigns`).
    pub(crate) const REBATE_CAMPAIGNS: FactSet = FactSet(1 << 6);
    pub(crate) const ALL: FactSet = FactSet(0x7f);

    pub(crate) fn contains(self, other: FactSet) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }
    pub(crate) fn is_empty(self) -> bool {
        self.0 == 0
    }
}

impl std::ops::BitOr for FactSet {
    type Output = FactSet;
    fn bitor(self, rhs: FactSet) -> FactSet {
        FactSet(self.0 | rhs.0)
    }
}

/// What a table's rows may change of `Known`.
struct TableFacts {
    table: &'static str,
    facts: FactSet,
    /// Columns the facts hold; an UPDATE that sets none of them changes no fact. None: any
    /// column (the fact is derived from the whole table).
    columns: Option<&'static [&'static str]>,
    /// An INSERT changes a fact. False where `Known` remembers only rows that exist, keyed by
    /// their unique key: a new row cannot change what was remembered of the others. True
    /// where a fact is derived from several rows or remembers an absence.
    insert_changes: bool,
}

/// Every table a fact of `Known` is read from. Keep in step with the lookups that stage
/// facts (the debug check after each batch, `writer::known_check::verify_after_batch`, catches a
/// missed one in tests).
const TABLES: &[TableFacts] = &[
    TableFacts {
        table: "programs",
        facts: FactSet::PROGRAMS,
        columns: Some(&["id", "city_id", "kind", "name", "settings", "created_at"]),
        insert_changes: false,
    },
    TableFacts {
        table: "program_settings_versions",
        facts: FactSet::PROGRAMS,
        columns: None,
        insert_changes: true,
    },
    TableFacts {
        table: "merchants",
        facts: FactSet::MERCHANTS,
        columns: Some(&["id", "city_id", "name", "created_at"]),
        insert_changes: false,
    },
    TableFacts {
        table: "shoppers",
        facts: FactSet::SHOPPERS,
        columns: Some(&[
            "id",
            "city_id",
            "display_name",
            "created_at",
            "blocked_at",
            "blocked_reason",
            "blocked_by",
        ]),
        insert_changes: false,
    },
    TableFacts {
        table: "accounts",
        facts: FactSet::ACCOUNTS,
        // The balance of an account that may go negative is not remembered.
        columns: Some(&[
            "id",
            "program_id",
            "kind",
            "asset",
            "owner_id",
            "allow_negative",
        ]),
        insert_changes: false,
    },
    TableFacts {
        table: "participation_events",
        facts: FactSet::PARTICIPATION,
        columns: None,
        insert_changes: true,
    },
    TableFacts {
        table: "store_codes",
        facts: FactSet::STORE_CODES,
        columns: None,
        insert_changes: false,
    },
    TableFacts {
        table: "rebate_campaigns",
        facts: FactSet::REBATE_CAMPAIGNS,
        columns: None,
        insert_changes: true,
    },
];

/// The facts a statement may change, from its SQL: its verb, its target table and, for an
/// UPDATE, the columns it sets. Anything not recognised (several statements, CTEs, DDL...)
/// may change everything.
pub(crate) fn touched(sql: &str) -> FactSet {
    let lower = sql.trim().trim_end_matches(';').to_ascii_lowercase();
    if lower.contains(';') {
        return FactSet::ALL;
    }
    let words: Vec<&str> = lower
        .split(|c: char| c.is_whitespace() || c == '(' || c == ')' || c == ',')
        .filter(|w| !w.is_empty())
        .take(3)
        .collect();
    let (verb, table) = match words.as_slice() {
        ["select", ..] | ["savepoint", ..] | ["release", ..] => return FactSet::NONE,
        ["insert", "into", table, ..] => {
            // An upsert may change an existing row.
            if has_word_pair(&lower, "do", "update") {
                ("update", *table)
            } else {
                ("insert", *table)
            }
        }
        ["update", table, ..] => ("update", *table),
        ["delete", "from", table, ..] => ("delete", *table),
        _ => return FactSet::ALL,
    };
    let table = table.trim_matches('"');
    let table = table.strip_prefix("public.").unwrap_or(table);
    let Some(t) = TABLES.iter().find(|t| t.table == table) else {
        return FactSet::NONE;
    };
    match verb {
        "insert" if !t.insert_changes => FactSet::NONE,
        "update" => match (t.columns, set_columns(&lower)) {
            (Some(kept), Some(set)) if !set.iter().any(|c| kept.contains(&c.as_str())) => {
                FactSet::NONE
            }
            _ => t.facts,
        },
        _ => t.facts,
    }
}

/// A read may run this statement: one plain SELECT.
pub(crate) fn is_read(sql: &str) -> bool {
    let lower = sql.trim().trim_end_matches(';').to_ascii_lowercase();
    !lower.contains(';') && lower.starts_with("select") && !has_word(&lower, "into")
}

fn has_word(text: &str, word: &str) -> bool {
    text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .any(|w| w == word)
}

fn has_word_pair(text: &str, first: &str, second: &str) -> bool {
    let words: Vec<&str> = text
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
        .collect();
    words.windows(2).any(|w| w[0] == first && w[1] == second)
}

/// The columns an UPDATE sets (`UPDATE t SET a = ..., b = ... WHERE/FROM/RETURNING ...`), or
/// None if the clause cannot be read.
fn set_columns(lower: &str) -> Option<Vec<String>> {
    let start = lower.find(" set ")? + " set ".len();
    let rest = &lower[start..];
    let end = [" where ", " from ", " returning "]
        .iter()
        .filter_map(|k| rest.find(k))
        .min()
        .unwrap_or(rest.len());
    let clause = &rest[..end];
    let mut columns = Vec::new();
    let mut depth = 0i32;
    let mut part = String::new();
    for ch in clause.chars().chain([',']) {
        match ch {
            '(' => depth += 1,
            ')' => depth -= 1,
            ',' if depth == 0 => {
                let column = part.split('=').next()?.trim().trim_matches('"').to_owned();
                if column.is_empty() || column.contains(' ') || column.contains('(') {
                    return None;
                }
                columns.push(column);
                part.clear();
                continue;
            }
            _ => {}
        }
        part.push(ch);
    }
    Some(columns)
}

/// A connection of the write transaction with the rule of the macro that lent it.
pub struct Guard<'g, C> {
    conn: &'g mut C,
    known: &'g mut Known,
    read_only: bool,
}

impl<'g, C> Guard<'g, C> {
    pub fn new(conn: &'g mut C, known: &'g mut Known, read_only: bool) -> Self {
        Guard {
            conn,
            known,
            read_only,
        }
    }

    /// Lets a statement through: a read must be a SELECT; a write first forgets what it may
    /// change.
    fn admit(&mut self, sql: &str) -> Result<(), sqlx::Error> {
        if self.read_only {
            if is_read(sql) {
                return Ok(());
            }
            let message = format!("a read path ran a statement that is not a SELECT: {sql}");
            if cfg!(debug_assertions) {
                panic!("{message}");
            }
            return Err(sqlx::Error::Protocol(message));
        }
        let facts = touched(sql);
        if !facts.is_empty() {
            self.known.forget_facts(facts);
        }
        Ok(())
    }
}

impl<C> fmt::Debug for Guard<'_, C> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Guard")
            .field("read_only", &self.read_only)
            .finish()
    }
}

macro_rules! guard_executor {
    ($db:ty, $conn:ty) => {
        impl<'c, 'g: 'c> Executor<'c> for &'c mut Guard<'g, $conn> {
            type Database = $db;

            fn fetch_many<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxStream<
                'e,
                Result<Either<<$db as Database>::QueryResult, <$db as Database>::Row>, sqlx::Error>,
            >
            where
                'c: 'e,
                E: 'q + Execute<'q, $db>,
            {
                match self.admit(query.sql()) {
                    Ok(()) => (&mut *self.conn).fetch_many(query),
                    Err(e) => futures::stream::once(async move { Err(e) }).boxed(),
                }
            }

            fn fetch_optional<'e, 'q: 'e, E>(
                self,
                query: E,
            ) -> BoxFuture<'e, Result<Option<<$db as Database>::Row>, sqlx::Error>>
            where
                'c: 'e,
                E: 'q + Execute<'q, $db>,
            {
                match self.admit(query.sql()) {
                    Ok(()) => (&mut *self.conn).fetch_optional(query),
                    Err(e) => futures::future::ready(Err(e)).boxed(),
                }
            }

            fn prepare_with<'e, 'q: 'e>(
                self,
                sql: &'q str,
                parameters: &'e [<$db as Database>::TypeInfo],
            ) -> BoxFuture<'e, Result<<$db as Database>::Statement<'q>, sqlx::Error>>
            where
                'c: 'e,
            {
                (&mut *self.conn).prepare_with(sql, parameters)
            }

            fn describe<'e, 'q: 'e>(
                self,
                sql: &'q str,
            ) -> BoxFuture<'e, Result<Describe<$db>, sqlx::Error>>
            where
                'c: 'e,
            {
                (&mut *self.conn).describe(sql)
            }
        }
    };
}

guard_executor!(sqlx::Postgres, sqlx::PgConnection);
guard_executor!(sqlx::Sqlite, sqlx::SqliteConnection);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statements_forget_only_what_they_can_change() {
        let cases = [
            ("SELECT * FROM merchants WHERE id = $1", FactSet::NONE),
            (
                "INSERT INTO shoppers (id, city_id, display_name, created_at) VALUES ($1, $2, $3, $4)",
                FactSet::NONE,
            ),
            (
                "INSERT INTO premium_purchases (transaction_id) VALUES ($1)",
                FactSet::NONE,
            ),
            (
                "INSERT INTO merchants (id, name) VALUES ($1, $2) ON CONFLICT (id) DO UPDATE SET name = excluded.name",
                FactSet::MERCHANTS,
            ),
            (
                "UPDATE merchants SET category = $2 WHERE id = $1",
                FactSet::NONE,
            ),
            (
                "UPDATE merchants SET name = $2, category = $3 WHERE id = $1",
                FactSet::MERCHANTS,
            ),
            (
                "UPDATE accounts SET balance = balance + $2 WHERE id = $1",
                FactSet::NONE,
            ),
            (
                "UPDATE store_codes SET revoked_at = $3 WHERE id = $1",
                FactSet::STORE_CODES,
            ),
            (
                "INSERT INTO program_settings_versions (id) VALUES ($1)",
                FactSet::PROGRAMS,
            ),
            (
                "INSERT INTO participation_events (id) VALUES ($1)",
                FactSet::PARTICIPATION,
            ),
            (
                "insert into rebate_campaigns (id) values ($1)",
                FactSet::REBATE_CAMPAIGNS,
            ),
            ("DELETE FROM shoppers WHERE id = $1", FactSet::SHOPPERS),
            (
                "WITH x AS (SELECT 1) UPDATE merchants SET name = 'a'",
                FactSet::ALL,
            ),
            ("UPDATE merchants SET name = 'a'; SELECT 1", FactSet::ALL),
            ("PRAGMA foreign_keys = OFF", FactSet::ALL),
        ];
        for (sql, expected) in cases {
            assert_eq!(touched(sql), expected, "{sql}");
        }
    }

    #[test]
    fn a_read_is_one_plain_select() {
        assert!(is_read("  SELECT id FROM merchants WHERE id = $1"));
        assert!(!is_read("UPDATE merchants SET name = 'x'"));
        assert!(!is_read("SELECT 1; DELETE FROM merchants"));
        assert!(!is_read("SELECT * INTO copy FROM merchants"));
        assert!(!is_read(
            "WITH gone AS (DELETE FROM shoppers RETURNING id) SELECT * FROM gone"
        ));
    }
}
