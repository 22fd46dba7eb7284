//! Currency-program rows: premium campaigns and their sales (a program's versioned settings
//! are the program's, in the directory's store).

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::{WriteTx, read_flushed, read_tx, write};
use machipay_domain::ids::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PremiumCampaignRow {
    #[sqlx(try_from = "Uuid")]
    pub id: PremiumCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub name: String,
    /// What the shopper pays for one unit.
    pub price_yen: i64,
    /// What the city adds to one unit.
    pub premium_yen: i64,
    pub units_per_person_max: i32,
    /// Most premium the campaign grants in all.
    pub budget_yen: i64,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    pub premium_expires_on: Option<NaiveDate>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// Sets sold by live sales (reversed ones given back).
    pub units_sold: i64,
    /// Premium granted by live sales: never more than `budget_yen`.
    pub premium_granted_yen: i64,
    /// `first_come` or `lottery` (only entitled shoppers buy until `first_come_from`).
    pub sale_mode: String,
    pub first_come_from: Option<DateTime<Utc>>,
    /// The waiting room's rate (tickets admitted a second) and window (seconds an admitted
    /// ticket may buy); both NULL without a waiting room (a CHECK holds them together).
    pub waiting_room_admits_per_s: Option<i32>,
    pub waiting_room_admitted_for_s: Option<i32>,
    /// Tickets the waiting room has given out.
    pub queue_tickets: i64,
}

impl PremiumCampaignRow {
    /// The campaign's waiting room, if it has one.
    pub fn waiting_room(&self) -> Option<super::WaitingRoomTerms> {
        match (
            self.waiting_room_admits_per_s,
            self.waiting_room_admitted_for_s,
        ) {
            (Some(admits_per_s), Some(admitted_for_s)) => Some(super::WaitingRoomTerms {
                admits_per_s,
                admitted_for_s,
            }),
            _ => None,
        }
    }

    /// Not one whole set is left.
    pub fn sold_out(&self) -> bool {
        self.budget_yen - self.premium_granted_yen < self.premium_yen
    }
}

const CAMPAIGN_COLUMNS: &str = "SELECT id, program_id, name, price_yen, premium_yen, units_per_person_max, budget_yen, \
     sale_starts_at, sale_ends_at, premium_expires_on, created_by, created_at, units_sold, premium_granted_yen, \
     sale_mode, first_come_from, waiting_room_admits_per_s, waiting_room_admitted_for_s, queue_tickets \
     FROM premium_campaigns";

pub(crate) async fn insert_campaign(
    tx: &mut WriteTx,
    c: &PremiumCampaignRow,
) -> Result<(), sqlx::Error> {
    write!(tx, |conn| {
        sqlx::query(
        "INSERT INTO premium_campaigns (id, program_id, name, price_yen, premium_yen, units_per_person_max, budget_yen, \
         sale_starts_at, sale_ends_at, premium_expires_on, created_by, created_at, sale_mode, first_come_from, \
         waiting_room_admits_per_s, waiting_room_admitted_for_s) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"
    )
    .bind(c.id.0)
    .bind(c.program_id.0)
    .bind(&c.name)
    .bind(c.price_yen)
    .bind(c.premium_yen)
    .bind(c.units_per_person_max)
    .bind(c.budget_yen)
    .bind(c.sale_starts_at)
    .bind(c.sale_ends_at)
    .bind(c.premium_expires_on)
    .bind(c.created_by)
    .bind(c.created_at)
    .bind(&c.sale_mode)
    .bind(c.first_come_from)
    .bind(c.waiting_room_admits_per_s)
    .bind(c.waiting_room_admitted_for_s)
    .execute(conn)
    .await
    .map(|_| ())
    })
}

pub(crate) async fn get_campaign_tx(
    tx: &mut WriteTx,
    id: PremiumCampaignId,
) -> Result<Option<PremiumCampaignRow>, sqlx::Error> {
    let sql = format!("{CAMPAIGN_COLUMNS} WHERE id = $1");
    read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

pub(crate) async fn list_campaigns(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<PremiumCampaignRow>, sqlx::Error> {
    let sql = format!("{CAMPAIGN_COLUMNS} WHERE program_id = $1 ORDER BY id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .fetch_all(c)
        .await)
}

/// Units a shopper holds of a campaign, counting only sales that were not reversed (a
/// shopper's few sales, by the (campaign, shopper) index).
pub(crate) async fn units_held(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<i64, sqlx::Error> {
    read_flushed!(tx, |c| sqlx::query_scalar(
        "SELECT CAST(coalesce(sum(p.units), 0) AS BIGINT) FROM premium_purchases p \
         WHERE p.campaign_id = $1 AND p.shopper_id = $2 \
         AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id)"
    )
    .bind(campaign.0)
    .bind(shopper.0)
    .fetch_one(c)
    .await)
}

/// Adds a sale to the campaign's counters, in the sale's write transaction. Guarded: a sale
/// that would take the premium over the budget changes nothing (false).
pub(crate) async fn count_sale(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
    units: i64,
    premium_yen: i64,
) -> Result<bool, sqlx::Error> {
    let done = write!(tx, |c| sqlx::query(
        "UPDATE premium_campaigns SET units_sold = units_sold + $2, \
         premium_granted_yen = premium_granted_yen + $3 \
         WHERE id = $1 AND premium_granted_yen + $3 <= budget_yen"
    )
    .bind(campaign.0)
    .bind(units)
    .bind(premium_yen)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

/// Opens a lottery campaign's unclaimed sets to everyone from `from` on (once).
pub(crate) async fn open_first_come(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
    from: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "UPDATE premium_campaigns SET first_come_from = $2 WHERE id = $1 AND first_come_from IS NULL"
    )
    .bind(campaign.0)
    .bind(from)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// The right of a shopper to buy sets of a lottery campaign within a period.
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct EntitlementRow {
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: PremiumCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    pub units: i32,
    pub buy_from: DateTime<Utc>,
    pub buy_until: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn insert_entitlement(
    tx: &mut WriteTx,
    e: &EntitlementRow,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO premium_entitlements (campaign_id, shopper_id, units, buy_from, buy_until, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(e.campaign_id.0)
    .bind(e.shopper_id.0)
    .bind(e.units)
    .bind(e.buy_from)
    .bind(e.buy_until)
    .bind(e.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

pub(crate) async fn entitlement(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<Option<EntitlementRow>, sqlx::Error> {
    read_flushed!(tx, |c| sqlx::query_as(
        "SELECT campaign_id, shopper_id, units, buy_from, buy_until, created_at \
         FROM premium_entitlements WHERE campaign_id = $1 AND shopper_id = $2"
    )
    .bind(campaign.0)
    .bind(shopper.0)
    .fetch_optional(c)
    .await)
}

pub(crate) async fn get_campaign(
    db: &Db,
    id: PremiumCampaignId,
) -> Result<Option<PremiumCampaignRow>, sqlx::Error> {
    let sql = format!("{CAMPAIGN_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// Units each shopper bought of a campaign (live sales), for a lottery's report.
pub(crate) async fn units_bought(
    db: &Db,
    campaign: PremiumCampaignId,
) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    read!(db, |c| sqlx::query_as(
        "SELECT p.shopper_id, CAST(sum(p.units) AS BIGINT) FROM premium_purchases p \
         WHERE p.campaign_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id) \
         GROUP BY p.shopper_id"
    )
    .bind(campaign.0)
    .fetch_all(c)
    .await)
}

pub(crate) struct Purchase {
    pub transaction_id: TransactionId,
    pub campaign_id: PremiumCampaignId,
    pub shopper_id: ShopperId,
    pub units: i32,
    pub price_yen: i64,
    pub premium_yen: i64,
    pub created_at: DateTime<Utc>,
}

pub(crate) async fn insert_purchase(tx: &mut WriteTx, p: &Purchase) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO premium_purchases (transaction_id, campaign_id, shopper_id, units, price_yen, premium_yen, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(p.transaction_id.0)
    .bind(p.campaign_id.0)
    .bind(p.shopper_id.0)
    .bind(p.units)
    .bind(p.price_yen)
    .bind(p.premium_yen)
    .bind(p.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// Premium reconciliation totals of a program, from postings: what the city is asked to fund.
#[derive(Debug, Clone, Default)]
pub struct PremiumTotals {
    /// Paid yen taken for premium sets (live sales).
    pub sold_yen: i64,
    /// Premium granted to wallets (live sales).
    pub granted_yen: i64,
    /// Premium spent at stores (net of refunds).
    pub spent_yen: i64,
    /// Premium that expired and went back to the subsidy account.
    pub expired_yen: i64,
    /// Premium still held in wallets.
    pub outstanding_yen: i64,
    /// Rebate points granted to wallets from the city's budget, net of what refunds took
    /// back (points refunds could not take back, having been spent, stay in).
    pub rebate_points_granted: i64,
    /// Rebate points that expired and went back to the city's subsidy account (not breakage).
    pub rebate_points_expired: i64,
    /// Points still held in wallets.
    pub rebate_points_outstanding: i64,
}

pub(crate) async fn premium_figures(
    db: &Db,
    program: ProgramId,
) -> Result<PremiumTotals, sqlx::Error> {
    let q = |sql: &'static str| async move {
        read!(db, |c| sqlx::query_scalar::<_, i64>(sql)
            .bind(program.0)
            .fetch_one(c)
            .await)
    };
    Ok(PremiumTotals {
        sold_yen: q("SELECT CAST(coalesce(sum(p.price_yen), 0) AS BIGINT) FROM premium_purchases p \
             JOIN premium_campaigns c ON c.id = p.campaign_id WHERE c.program_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id)")
        .await?,
        granted_yen: q("SELECT CAST(coalesce(sum(p.premium_yen), 0) AS BIGINT) FROM premium_purchases p \
             JOIN premium_campaigns c ON c.id = p.campaign_id WHERE c.program_id = $1 \
             AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id)")
        .await?,
        spent_yen: q("SELECT CAST(coalesce(sum(p.amount), 0) AS BIGINT) FROM postings p JOIN accounts a ON a.id = p.account_id \
             JOIN transactions t ON t.id = p.transaction_id \
             WHERE a.program_id = $1 AND a.kind = 'merchant' AND p.asset = 'premium' AND t.kind <> 'payout'")
        .await?,
        expired_yen: q("SELECT CAST(coalesce(sum(-p.amount), 0) AS BIGINT) FROM postings p JOIN accounts a ON a.id = p.account_id \
             JOIN transactions t ON t.id = p.transaction_id \
             WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND p.asset = 'premium' AND t.kind = 'expiry'")
        .await?,
        outstanding_yen: q("SELECT CAST(coalesce(sum(balance), 0) AS BIGINT) FROM accounts \
             WHERE program_id = $1 AND kind = 'shopper_wallet' AND asset = 'premium'")
        .await?,
        rebate_points_granted: q("SELECT CAST(coalesce(sum(a.points - a.clawed_back_points), 0) AS BIGINT) FROM rebate_accruals a \
             JOIN rebate_campaigns k ON k.id = a.campaign_id WHERE k.program_id = $1 AND a.granted_transaction_id IS NOT NULL \
             AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = a.payment_transaction_id)")
        .await?,
        rebate_points_expired: q("SELECT CAST(coalesce(sum(-p.amount), 0) AS BIGINT) FROM postings p JOIN accounts a ON a.id = p.account_id \
             JOIN transactions t ON t.id = p.transaction_id \
             WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND p.asset = 'points' AND t.kind = 'expiry'")
        .await?,
        rebate_points_outstanding: q("SELECT CAST(coalesce(sum(balance), 0) AS BIGINT) FROM accounts \
             WHERE program_id = $1 AND kind = 'shopper_wallet' AND asset = 'points'")
        .await?,
    })
}

/// A place in a campaign's waiting room (immutable once taken).
#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct TicketRow {
    #[sqlx(try_from = "Uuid")]
    pub id: QueueTicketId,
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: PremiumCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    pub position: i64,
    /// When it is admitted, in µs since the Unix epoch.
    pub admit_at_us: i64,
    pub created_at: DateTime<Utc>,
}

const TICKET_COLUMNS: &str = "SELECT id, campaign_id, shopper_id, position, admit_at_us, created_at FROM premium_queue_tickets";

/// A ticket by its id, on the read pool (a waiting shopper's poll).
pub(crate) async fn ticket(db: &Db, id: QueueTicketId) -> Result<Option<TicketRow>, sqlx::Error> {
    let sql = format!("{TICKET_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// A shopper's ticket of a campaign, on the read pool.
pub(crate) async fn ticket_of(
    db: &Db,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<Option<TicketRow>, sqlx::Error> {
    let sql = format!("{TICKET_COLUMNS} WHERE campaign_id = $1 AND shopper_id = $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .bind(shopper.0)
        .fetch_optional(c)
        .await)
}

/// A ticket by its id, in the write transaction (a purchase's check).
pub(crate) async fn ticket_tx(
    tx: &mut WriteTx,
    id: QueueTicketId,
) -> Result<Option<TicketRow>, sqlx::Error> {
    let sql = format!("{TICKET_COLUMNS} WHERE id = $1");
    read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// A shopper's ticket of a campaign, in the write transaction (taking a ticket twice).
pub(crate) async fn ticket_of_tx(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<Option<TicketRow>, sqlx::Error> {
    let sql = format!("{TICKET_COLUMNS} WHERE campaign_id = $1 AND shopper_id = $2");
    read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .bind(shopper.0)
        .fetch_optional(c)
        .await)
}

/// Takes the next place in a campaign's queue: the ticket count goes up by one and the next
/// admission is one `interval_us` after the last, or `earliest_us` if the queue has drained.
/// One UPDATE: on PostgreSQL the row's lock orders two instances taking places at once.
/// `None` when not one set is left (no place is taken).
pub(crate) async fn take_place(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
    interval_us: i64,
    earliest_us: i64,
) -> Result<Option<(i64, i64)>, sqlx::Error> {
    write!(tx, |c| sqlx::query_as(
        "UPDATE premium_campaigns SET queue_tickets = queue_tickets + 1, \
         queue_last_admit_us = CASE WHEN queue_last_admit_us + $2 > $3 \
         THEN queue_last_admit_us + $2 ELSE $3 END \
         WHERE id = $1 AND premium_granted_yen + premium_yen <= budget_yen \
         RETURNING queue_tickets, queue_last_admit_us"
    )
    .bind(campaign.0)
    .bind(interval_us)
    .bind(earliest_us)
    .fetch_optional(c)
    .await)
}

pub(crate) async fn insert_ticket(tx: &mut WriteTx, t: &TicketRow) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
            "INSERT INTO premium_queue_tickets (id, campaign_id, shopper_id, position, admit_at_us, created_at) \
             VALUES ($1, $2, $3, $4, $5, $6)",
        )
        .bind(t.id.0)
        .bind(t.campaign_id.0)
        .bind(t.shopper_id.0)
        .bind(t.position)
        .bind(t.admit_at_us)
        .bind(t.created_at)
        .execute(c)
        .await
        .map(|_| ())
    })
}
