//! Point card rows: cards, store earn rates, campaign multipliers, card movements at stores,
//! and the report queries over them. None of these tables is among the rows the writer
//! remembers (`Known`), so their statements run through `write_vetted!`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::{WriteTx, read_tx, write_vetted};
use machipay_domain::ids::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CardRow {
    #[sqlx(try_from = "Uuid")]
    pub id: CardId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub number: String,
    pub shopper_id: Option<Uuid>,
    /// "active", "blocked" or "replaced".
    pub status: String,
    pub replaced_by: Option<Uuid>,
    pub imported_balance: Option<i64>,
    pub last_used_at: Option<DateTime<Utc>>,
    pub created_at: DateTime<Utc>,
}

const CARD_COLUMNS: &str = "SELECT id, program_id, number, shopper_id, status, replaced_by, imported_balance, \
     last_used_at, created_at FROM point_cards";

pub async fn insert_card(tx: &mut WriteTx, c: &CardRow) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |conn| {
        sqlx::query(
        "INSERT INTO point_cards (id, program_id, number, shopper_id, status, replaced_by, imported_balance, \
         last_used_at, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(c.id.0)
    .bind(c.program_id.0)
    .bind(&c.number)
    .bind(c.shopper_id)
    .bind(&c.status)
    .bind(c.replaced_by)
    .bind(c.imported_balance)
    .bind(c.last_used_at)
    .bind(c.created_at)
    .execute(conn)
    .await
    .map(|_| ())
    })
}

pub async fn card_by_number_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    number: &str,
) -> Result<Option<CardRow>, sqlx::Error> {
    let sql = format!("{CARD_COLUMNS} WHERE program_id = $1 AND number = $2");
    read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(number)
        .fetch_optional(c)
        .await)
}

pub async fn card_tx(tx: &mut WriteTx, id: CardId) -> Result<Option<CardRow>, sqlx::Error> {
    let sql = format!("{CARD_COLUMNS} WHERE id = $1");
    read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

pub async fn card(db: &Db, id: CardId) -> Result<Option<CardRow>, sqlx::Error> {
    let sql = format!("{CARD_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// Cards of a program in id order after `after`, at most `limit`.
pub async fn cards_of_program(
    db: &Db,
    program: ProgramId,
    after: Option<CardId>,
    limit: i64,
) -> Result<Vec<CardRow>, sqlx::Error> {
    let sql = format!("{CARD_COLUMNS} WHERE program_id = $1 AND id > $2 ORDER BY id LIMIT $3");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(after.map_or(Uuid::nil(), |a| a.0))
        .bind(limit)
        .fetch_all(c)
        .await)
}

pub async fn cards_of_shopper(db: &Db, shopper: ShopperId) -> Result<Vec<CardRow>, sqlx::Error> {
    let sql = format!("{CARD_COLUMNS} WHERE shopper_id = $1 ORDER BY id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(shopper.0)
        .fetch_all(c)
        .await)
}

pub async fn set_card_shopper(
    tx: &mut WriteTx,
    card: CardId,
    shopper: Option<ShopperId>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "UPDATE point_cards SET shopper_id = $2 WHERE id = $1"
    )
    .bind(card.0)
    .bind(shopper.map(|s| s.0))
    .execute(c)
    .await
    .map(|_| ()))
}

pub async fn set_card_status(
    tx: &mut WriteTx,
    card: CardId,
    status: &str,
    replaced_by: Option<CardId>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "UPDATE point_cards SET status = $2, replaced_by = $3 WHERE id = $1"
    )
    .bind(card.0)
    .bind(status)
    .bind(replaced_by.map(|r| r.0))
    .execute(c)
    .await
    .map(|_| ()))
}

pub async fn set_rate(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
    rate: Option<&str>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "DELETE FROM point_rates WHERE program_id = $1 AND merchant_id = $2"
    )
    .bind(program.0)
    .bind(merchant.0)
    .execute(c)
    .await
    .map(|_| ()))?;
    let Some(rate) = rate else { return Ok(()) };
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO point_rates (program_id, merchant_id, earn_rate, updated_at) VALUES ($1, $2, $3, $4)"
    )
    .bind(program.0)
    .bind(merchant.0)
    .bind(rate)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })
}

pub async fn rate_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Option<String>, sqlx::Error> {
    read_tx!(tx, |c| sqlx::query_scalar(
        "SELECT earn_rate FROM point_rates WHERE program_id = $1 AND merchant_id = $2"
    )
    .bind(program.0)
    .bind(merchant.0)
    .fetch_optional(c)
    .await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PointCampaignRow {
    #[sqlx(try_from = "Uuid")]
    pub id: PointCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    /// The one store it applies to; every store when null.
    pub merchant_id: Option<Uuid>,
    pub name: String,
    /// Decimal text, e.g. "2" (double points).
    pub multiplier: String,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

const CAMPAIGN_COLUMNS: &str = "SELECT id, program_id, merchant_id, name, multiplier, starts_at, ends_at, created_by, \
     created_at FROM point_campaigns";

pub async fn insert_campaign(tx: &mut WriteTx, k: &PointCampaignRow) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO point_campaigns (id, program_id, merchant_id, name, multiplier, starts_at, ends_at, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(k.id.0)
    .bind(k.program_id.0)
    .bind(k.merchant_id)
    .bind(&k.name)
    .bind(&k.multiplier)
    .bind(k.starts_at)
    .bind(k.ends_at)
    .bind(k.created_by)
    .bind(k.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

pub async fn list_campaigns(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<PointCampaignRow>, sqlx::Error> {
    let sql = format!("{CAMPAIGN_COLUMNS} WHERE program_id = $1 ORDER BY id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .fetch_all(c)
        .await)
}

/// Multipliers of the campaigns running at `now` for this store (its own and all-store ones).
pub async fn active_multipliers_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<Vec<String>, sqlx::Error> {
    read_tx!(tx, |c| {
        sqlx::query_scalar(
        "SELECT multiplier FROM point_campaigns WHERE program_id = $1 AND starts_at <= $3 AND ends_at > $3 \
         AND (merchant_id IS NULL OR merchant_id = $2)"
    )
    .bind(program.0)
    .bind(merchant.0)
    .bind(now)
    .fetch_all(c)
    .await
    })
}

/// One card movement at a store (see the migration for the kinds).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Movement {
    #[sqlx(try_from = "Uuid")]
    pub transaction_id: TransactionId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    #[sqlx(try_from = "Uuid")]
    pub card_id: CardId,
    #[sqlx(try_from = "Uuid")]
    pub merchant_id: MerchantId,
    pub kind: String,
    pub purchase_yen: Option<i64>,
    pub points: i64,
    pub shortfall_points: i64,
    pub original_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const MOVEMENT_COLUMNS: &str = "SELECT transaction_id, program_id, card_id, merchant_id, kind, purchase_yen, points, \
     shortfall_points, original_id, created_at FROM point_movements";

pub async fn insert_movement(tx: &mut WriteTx, m: &Movement) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO point_movements (transaction_id, program_id, card_id, merchant_id, kind, purchase_yen, points, \
         shortfall_points, original_id, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(m.transaction_id.0)
    .bind(m.program_id.0)
    .bind(m.card_id.0)
    .bind(m.merchant_id.0)
    .bind(&m.kind)
    .bind(m.purchase_yen)
    .bind(m.points)
    .bind(m.shortfall_points)
    .bind(m.original_id)
    .bind(m.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })?;
    crate::writer::rows::count_point_movement(tx, m.transaction_id);
    Ok(())
}

/// Rows a bulk insert of movements or earn rates writes per statement (10 parameters a row).
const BULK_ROWS: usize = 500;

/// `insert_movement` for many movements, one statement per `BULK_ROWS` (the scale fixture's
/// bulk history, `examples/scale`): their transactions must have been posted before.
pub async fn insert_movements(tx: &mut WriteTx, ms: &[Movement]) -> Result<(), sqlx::Error> {
    for chunk in ms.chunks(BULK_ROWS) {
        let values = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=10).map(|k| format!("${}", 10 * i + k)).collect();
                format!("({})", p.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO point_movements (transaction_id, program_id, card_id, merchant_id, kind, \
             purchase_yen, points, shortfall_points, original_id, created_at) VALUES {values}"
        );
        write_vetted!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for m in chunk {
                q = q
                    .bind(m.transaction_id.0)
                    .bind(m.program_id.0)
                    .bind(m.card_id.0)
                    .bind(m.merchant_id.0)
                    .bind(&m.kind)
                    .bind(m.purchase_yen)
                    .bind(m.points)
                    .bind(m.shortfall_points)
                    .bind(m.original_id)
                    .bind(m.created_at);
            }
            q.execute(c).await.map(|_| ())
        })?;
        for m in chunk {
            crate::writer::rows::count_point_movement(tx, m.transaction_id);
        }
    }
    Ok(())
}

/// `insert_earn_rate` for many earns, one statement per `BULK_ROWS`.
pub async fn insert_earn_rates(
    tx: &mut WriteTx,
    rates: &[(TransactionId, String)],
) -> Result<(), sqlx::Error> {
    for chunk in rates.chunks(BULK_ROWS) {
        let values = (0..chunk.len())
            .map(|i| format!("(${}, ${})", 2 * i + 1, 2 * i + 2))
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!("INSERT INTO point_earn_rates (transaction_id, rate) VALUES {values}");
        write_vetted!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for (earn, rate) in chunk {
                q = q.bind(earn.0).bind(rate.as_str());
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

pub async fn movement_tx(
    tx: &mut WriteTx,
    id: TransactionId,
) -> Result<Option<Movement>, sqlx::Error> {
    let sql = format!("{MOVEMENT_COLUMNS} WHERE transaction_id = $1");
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// What earlier returns of `original` added up to: (yen returned, points taken or restored,
/// shortfall points).
pub async fn returned_tx(
    tx: &mut WriteTx,
    original: TransactionId,
) -> Result<(i64, i64, i64), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT CAST(coalesce(sum(purchase_yen), 0) AS BIGINT), CAST(coalesce(sum(points), 0) AS BIGINT), \
         CAST(coalesce(sum(shortfall_points), 0) AS BIGINT) FROM point_movements WHERE original_id = $1"
    )
    .bind(original.0)
    .fetch_one(c)
    .await
    })
}

/// Movements of a store in a program between two instants, oldest first, at most `limit`.
pub async fn movements_of_merchant(
    db: &Db,
    program: ProgramId,
    merchant: MerchantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Movement>, sqlx::Error> {
    let sql = format!(
        "{MOVEMENT_COLUMNS} WHERE program_id = $1 AND merchant_id = $2 AND created_at >= $3 AND created_at < $4 \
         ORDER BY created_at, transaction_id LIMIT $5"
    );
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(merchant.0)
        .bind(from)
        .bind(to)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// Per (store, movement kind), the sum of what the movements, and any operator reversal of
/// them (a transaction whose `reverses_id` is the movement), posted on card wallets between
/// two instants, recomputed from postings. A reversal lands in the year it was made.
pub async fn card_postings_by_store(
    db: &Db,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(Uuid, String, i64)>, sqlx::Error> {
    // PostgreSQL: driven by the program's transactions in the window, found first
    // (`transactions_program`) and kept apart (MATERIALIZED): each then finds its movement, or
    // its original's, and its postings by their keys. Left to join freely, PostgreSQL hashed
    // every point movement of the program and walked `transactions_reverses_id_key` whole,
    // seconds at 1.56 M movements, however short the window (the point report's tail is a
    // day). SQLite keeps the plain join, which it drives from the window itself: with the
    // CTE its bundled planner took 8.5-14.6 s at 10 M (README "Scale").
    let sql = if matches!(db, Db::Pg(..)) {
        "WITH w AS MATERIALIZED (SELECT id, reverses_id FROM transactions \
             WHERE program_id = $1 AND created_at >= $2 AND created_at < $3) \
             SELECT merchant_id, kind, CAST(coalesce(sum(amount), 0) AS BIGINT) FROM ( \
             SELECT m.merchant_id, m.kind, p.amount FROM w \
             JOIN point_movements m ON m.transaction_id = w.id JOIN postings p ON p.transaction_id = w.id \
             JOIN accounts a ON a.id = p.account_id \
             WHERE m.program_id = $1 AND a.program_id = $1 \
             AND a.kind = 'shopper_wallet' AND a.owner_id = m.card_id \
             UNION ALL \
             SELECT m.merchant_id, m.kind, p.amount FROM w \
             JOIN point_movements m ON m.transaction_id = w.reverses_id JOIN postings p ON p.transaction_id = w.id \
             JOIN accounts a ON a.id = p.account_id \
             WHERE m.program_id = $1 AND a.program_id = $1 AND a.kind = 'shopper_wallet' \
             ) x GROUP BY merchant_id, kind ORDER BY merchant_id, kind"
            .to_owned()
    } else {
        "SELECT merchant_id, kind, CAST(coalesce(sum(amount), 0) AS BIGINT) FROM ( \
         SELECT m.merchant_id, m.kind, p.amount FROM transactions t \
         JOIN point_movements m ON m.transaction_id = t.id JOIN postings p ON p.transaction_id = t.id \
         JOIN accounts a ON a.id = p.account_id \
         WHERE t.program_id = $1 AND m.program_id = $1 AND a.program_id = $1 \
         AND a.kind = 'shopper_wallet' AND a.owner_id = m.card_id \
         AND t.created_at >= $2 AND t.created_at < $3 \
         UNION ALL \
         SELECT m.merchant_id, m.kind, p.amount FROM transactions t \
         JOIN point_movements m ON m.transaction_id = t.reverses_id JOIN postings p ON p.transaction_id = t.id \
         JOIN accounts a ON a.id = p.account_id \
         WHERE t.program_id = $1 AND m.program_id = $1 AND a.program_id = $1 \
         AND a.kind = 'shopper_wallet' AND t.created_at >= $2 AND t.created_at < $3 \
         ) x GROUP BY merchant_id, kind ORDER BY merchant_id, kind"
            .to_owned()
    };
    read!(db, |c| {
        sqlx::query_as(&sql)
            .bind(program.0)
            .bind(from)
            .bind(to)
            .fetch_all(c)
            .await
    })
}

/// `card_postings_by_store` for the JST months `from..to` (yyyymm, `to` excluded), from
/// `agg_point_store_months`.
pub async fn card_postings_by_store_months(
    db: &Db,
    program: ProgramId,
    from: i32,
    to: i32,
) -> Result<Vec<(Uuid, String, i64)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT merchant_id, kind, CAST(sum(amount) AS BIGINT) FROM agg_point_store_months \
         WHERE program_id = $1 AND month >= $2 AND month < $3 \
         GROUP BY merchant_id, kind ORDER BY merchant_id, kind"
    )
    .bind(program.0)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)
}

/// `card_postings_by_store` for the JST days `from..to` (yyyymmdd, `to` excluded), from
/// `agg_point_store_days`.
pub async fn card_postings_by_store_days(
    db: &Db,
    program: ProgramId,
    from: i32,
    to: i32,
) -> Result<Vec<(Uuid, String, i64)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT merchant_id, kind, CAST(sum(amount) AS BIGINT) FROM agg_point_store_days \
         WHERE program_id = $1 AND day >= $2 AND day < $3 \
         GROUP BY merchant_id, kind ORDER BY merchant_id, kind"
    )
    .bind(program.0)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)
}

/// `card_postings_by_kind` for the JST days `from..to` (yyyymmdd, `to` excluded), from
/// `agg_wallet_flows`.
pub async fn card_postings_by_kind_days(
    db: &Db,
    program: ProgramId,
    from: i32,
    to: i32,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT kind, CAST(sum(amount) AS BIGINT) FROM agg_wallet_flows \
         WHERE program_id = $1 AND day >= $2 AND day < $3 GROUP BY kind ORDER BY kind"
    )
    .bind(program.0)
    .bind(from)
    .bind(to)
    .fetch_all(c)
    .await)
}

/// Per transaction kind, the sum of postings on the program's card wallets between two
/// instants (expiry, imports and replacements have no store).
pub async fn card_postings_by_kind(
    db: &Db,
    program: ProgramId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
            "SELECT t.kind, CAST(coalesce(sum(p.amount), 0) AS BIGINT) FROM transactions t \
         JOIN postings p ON p.transaction_id = t.id JOIN accounts a ON a.id = p.account_id \
         WHERE t.program_id = $1 AND a.program_id = $1 AND a.kind = 'shopper_wallet' \
         AND t.created_at >= $2 AND t.created_at < $3 GROUP BY t.kind ORDER BY t.kind",
        )
        .bind(program.0)
        .bind(from)
        .bind(to)
        .fetch_all(c)
        .await
    })
}

/// The last time an account moved other than by an import or a card replacement (which are
/// not uses of the card).
pub async fn last_activity_tx(
    tx: &mut WriteTx,
    account: AccountId,
) -> Result<Option<DateTime<Utc>>, sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query_scalar(
        "SELECT max(t.created_at) FROM postings p JOIN transactions t ON t.id = p.transaction_id \
         WHERE p.account_id = $1 AND t.kind NOT IN ('card_import', 'card_replacement')"
    )
    .bind(account.0)
    .fetch_one(c)
    .await)
}

/// Of these card numbers, those already in the program, with the balance each carried in from
/// the plastic system (none for a card issued here). One statement for a batch of numbers.
pub async fn imported_balances(
    db: &Db,
    program: ProgramId,
    numbers: &[String],
) -> Result<Vec<(String, Option<i64>)>, sqlx::Error> {
    if numbers.is_empty() {
        return Ok(Vec::new());
    }
    let marks: Vec<String> = (0..numbers.len()).map(|i| format!("${}", i + 2)).collect();
    let sql = format!(
        "SELECT number, imported_balance FROM point_cards WHERE program_id = $1 AND number IN ({})",
        marks.join(", ")
    );
    read!(db, |c| {
        let mut q = sqlx::query_as(&sql).bind(program.0);
        for n in numbers {
            q = q.bind(n);
        }
        q.fetch_all(c).await
    })
}

/// Operator reversals of a store's movements made between two instants, as movements of kind
/// `reversal_of_<kind>` (the original's points and card, the reversal's id and time), oldest
/// first, at most `limit`.
pub async fn reversals_of_merchant(
    db: &Db,
    program: ProgramId,
    merchant: MerchantId,
    from: DateTime<Utc>,
    to: DateTime<Utc>,
    limit: i64,
) -> Result<Vec<Movement>, sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
        "SELECT t.id AS transaction_id, m.program_id, m.card_id, m.merchant_id, 'reversal_of_' || m.kind AS kind, \
         CAST(NULL AS BIGINT) AS purchase_yen, m.points, CAST(0 AS BIGINT) AS shortfall_points, m.transaction_id AS original_id, \
         t.created_at FROM point_movements m JOIN transactions t ON t.reverses_id = m.transaction_id \
         WHERE m.program_id = $1 AND m.merchant_id = $2 AND t.created_at >= $3 AND t.created_at < $4 \
         ORDER BY t.created_at, t.id LIMIT $5"
    )
    .bind(program.0)
    .bind(merchant.0)
    .bind(from)
    .bind(to)
    .bind(limit)
    .fetch_all(c)
    .await
    })
}

/// Records the effective earn rate of an earn (for the claw-back rule of its returns).
pub async fn insert_earn_rate(
    tx: &mut WriteTx,
    earn: TransactionId,
    rate: &str,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO point_earn_rates (transaction_id, rate) VALUES ($1, $2)"
    )
    .bind(earn.0)
    .bind(rate)
    .execute(c)
    .await
    .map(|_| ()))
}

/// The effective earn rate of an earn; None for earns from before rates were kept.
pub async fn earn_rate_tx(
    tx: &mut WriteTx,
    earn: TransactionId,
) -> Result<Option<String>, sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query_scalar(
        "SELECT rate FROM point_earn_rates WHERE transaction_id = $1"
    )
    .bind(earn.0)
    .fetch_optional(c)
    .await)
}
