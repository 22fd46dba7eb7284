//! Lottery rows: lotteries, applications, draws and winners, and city staff's resident checks.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use crate::db::{Db, read};
use crate::writer::{WriteTx, read_flushed, write};
use machipay_domain::ids::*;

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct LotteryRow {
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: PremiumCampaignId,
    pub applications_open_at: DateTime<Utc>,
    pub applications_close_at: DateTime<Utc>,
    pub winners_buy_until: DateTime<Utc>,
    pub residents_only: bool,
    pub unclaimed: String,
    pub seed_hash: String,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

const LOTTERY_COLUMNS: &str = "SELECT campaign_id, applications_open_at, applications_close_at, \
     winners_buy_until, residents_only, unclaimed, seed_hash, created_by, created_at FROM lotteries";

pub(crate) async fn insert_lottery(tx: &mut WriteTx, l: &LotteryRow) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO lotteries (campaign_id, applications_open_at, applications_close_at, \
         winners_buy_until, residents_only, unclaimed, seed_hash, created_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)"
    )
    .bind(l.campaign_id.0)
    .bind(l.applications_open_at)
    .bind(l.applications_close_at)
    .bind(l.winners_buy_until)
    .bind(l.residents_only)
    .bind(&l.unclaimed)
    .bind(&l.seed_hash)
    .bind(l.created_by)
    .bind(l.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

pub(crate) async fn lottery_tx(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
) -> Result<Option<LotteryRow>, sqlx::Error> {
    let sql = format!("{LOTTERY_COLUMNS} WHERE campaign_id = $1");
    read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_optional(c)
        .await)
}

pub(crate) async fn lottery(
    db: &Db,
    campaign: PremiumCampaignId,
) -> Result<Option<LotteryRow>, sqlx::Error> {
    let sql = format!("{LOTTERY_COLUMNS} WHERE campaign_id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_optional(c)
        .await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ApplicationRow {
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: PremiumCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    pub units: i32,
    pub created_at: DateTime<Utc>,
}

const APPLICATION_COLUMNS: &str =
    "SELECT campaign_id, shopper_id, units, created_at FROM lottery_applications";

/// Inserts an application; false if the shopper had applied already (the primary key).
pub(crate) async fn insert_application(
    tx: &mut WriteTx,
    a: &ApplicationRow,
) -> Result<bool, sqlx::Error> {
    let n = write!(tx, |c| sqlx::query(
        "INSERT INTO lottery_applications (campaign_id, shopper_id, units, created_at) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (campaign_id, shopper_id) DO NOTHING"
    )
    .bind(a.campaign_id.0)
    .bind(a.shopper_id.0)
    .bind(a.units)
    .bind(a.created_at)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub(crate) async fn application(
    db: &Db,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    let sql = format!("{APPLICATION_COLUMNS} WHERE campaign_id = $1 AND shopper_id = $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .bind(shopper.0)
        .fetch_optional(c)
        .await)
}

/// Every application of a lottery, in the canonical order (shopper id).
pub(crate) async fn applications(
    db: &Db,
    campaign: PremiumCampaignId,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    let sql = format!("{APPLICATION_COLUMNS} WHERE campaign_id = $1 ORDER BY shopper_id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_all(c)
        .await)
}

/// [`applications`] in the draw's write job.
pub(crate) async fn applications_tx(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    let sql = format!("{APPLICATION_COLUMNS} WHERE campaign_id = $1 ORDER BY shopper_id");
    read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_all(c)
        .await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct DrawRow {
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: PremiumCampaignId,
    pub round: i32,
    pub seed: String,
    pub budget_units: i64,
    pub drawn_by: Uuid,
    pub drawn_at: DateTime<Utc>,
}

const DRAW_COLUMNS: &str =
    "SELECT campaign_id, round, seed, budget_units, drawn_by, drawn_at FROM lottery_draws";

pub(crate) async fn insert_draw(tx: &mut WriteTx, d: &DrawRow) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO lottery_draws (campaign_id, round, seed, budget_units, drawn_by, drawn_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(d.campaign_id.0)
    .bind(d.round)
    .bind(&d.seed)
    .bind(d.budget_units)
    .bind(d.drawn_by)
    .bind(d.drawn_at)
    .execute(c)
    .await
    .map(|_| ()))
}

pub(crate) async fn draws_tx(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
) -> Result<Vec<DrawRow>, sqlx::Error> {
    let sql = format!("{DRAW_COLUMNS} WHERE campaign_id = $1 ORDER BY round");
    read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_all(c)
        .await)
}

pub(crate) async fn draws(
    db: &Db,
    campaign: PremiumCampaignId,
) -> Result<Vec<DrawRow>, sqlx::Error> {
    let sql = format!("{DRAW_COLUMNS} WHERE campaign_id = $1 ORDER BY round");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_all(c)
        .await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct WinnerRow {
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: PremiumCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    pub round: i32,
    pub units: i32,
}

pub(crate) async fn insert_winner(tx: &mut WriteTx, w: &WinnerRow) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO lottery_winners (campaign_id, shopper_id, round, units) VALUES ($1, $2, $3, $4)"
    )
    .bind(w.campaign_id.0)
    .bind(w.shopper_id.0)
    .bind(w.round)
    .bind(w.units)
    .execute(c)
    .await
    .map(|_| ())
    })
}

const WINNER_COLUMNS: &str = "SELECT campaign_id, shopper_id, round, units FROM lottery_winners";

pub(crate) async fn winners(
    db: &Db,
    campaign: PremiumCampaignId,
) -> Result<Vec<WinnerRow>, sqlx::Error> {
    let sql = format!("{WINNER_COLUMNS} WHERE campaign_id = $1 ORDER BY shopper_id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_all(c)
        .await)
}

pub(crate) async fn winners_tx(
    tx: &mut WriteTx,
    campaign: PremiumCampaignId,
) -> Result<Vec<WinnerRow>, sqlx::Error> {
    let sql = format!("{WINNER_COLUMNS} WHERE campaign_id = $1 ORDER BY shopper_id");
    read_flushed!(tx, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .fetch_all(c)
        .await)
}

pub(crate) async fn winner(
    db: &Db,
    campaign: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<Option<WinnerRow>, sqlx::Error> {
    let sql = format!("{WINNER_COLUMNS} WHERE campaign_id = $1 AND shopper_id = $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(campaign.0)
        .bind(shopper.0)
        .fetch_optional(c)
        .await)
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub(crate) struct ResidentCheckRow {
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    pub verified_on: NaiveDate,
    pub method: String,
    pub verified_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Records a resident check; a new check of the same shopper replaces the old.
pub(crate) async fn upsert_resident_check(
    tx: &mut WriteTx,
    r: &ResidentCheckRow,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| {
        sqlx::query(
        "INSERT INTO resident_verifications (shopper_id, verified_on, method, verified_by, created_at) \
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (shopper_id) DO UPDATE SET \
         verified_on = excluded.verified_on, method = excluded.method, \
         verified_by = excluded.verified_by, created_at = excluded.created_at"
    )
    .bind(r.shopper_id.0)
    .bind(r.verified_on)
    .bind(&r.method)
    .bind(r.verified_by)
    .bind(r.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

pub(crate) async fn is_resident_tx(
    tx: &mut WriteTx,
    shopper: ShopperId,
) -> Result<bool, sqlx::Error> {
    let n: i64 = read_flushed!(tx, |c| sqlx::query_scalar(
        "SELECT count(*) FROM resident_verifications WHERE shopper_id = $1"
    )
    .bind(shopper.0)
    .fetch_one(c)
    .await)?;
    Ok(n > 0)
}
