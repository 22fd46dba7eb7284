//! Rebate campaigns and their accruals, and store categories. Of these, only the
//! campaigns are remembered by the writer (`Known`): a new one forgets each
//! program's list (`db::guard`); the category is not a remembered merchant column.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use futures::future::BoxFuture;

use crate::db::{Db, read};
use crate::error::AppError;
use crate::writer::guard::FactSet;
use crate::writer::{Fact, WriteTx, read_tx, write, write_vetted};
use machipay_domain::ids::*;

pub async fn set_category(
    tx: &mut WriteTx,
    merchant: MerchantId,
    category: Option<&str>,
) -> Result<bool, sqlx::Error> {
    let n = write!(tx, |c| sqlx::query(
        "UPDATE merchants SET category = $2 WHERE id = $1"
    )
    .bind(merchant.0)
    .bind(category)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(n == 1)
}

pub async fn category_tx(
    tx: &mut WriteTx,
    merchant: MerchantId,
) -> Result<Option<String>, sqlx::Error> {
    let row: Option<Option<String>> = read_tx!(tx, |c| sqlx::query_scalar(
        "SELECT category FROM merchants WHERE id = $1"
    )
    .bind(merchant.0)
    .fetch_optional(c)
    .await)?;
    Ok(row.flatten())
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RebateCampaignRow {
    #[sqlx(try_from = "Uuid")]
    pub id: RebateCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub name: String,
    /// JSON text of the tiers.
    pub tiers: String,
    pub monthly_cap_points: i64,
    pub budget_points: i64,
    pub starts_at: DateTime<Utc>,
    pub ends_at: DateTime<Utc>,
    pub grant_mode: String,
    pub grant_on: Option<NaiveDate>,
    pub points_expire_on: Option<NaiveDate>,
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
}

const CAMPAIGN_COLUMNS: &str = "SELECT id, program_id, name, tiers, monthly_cap_points, budget_points, starts_at, ends_at, \
     grant_mode, grant_on, points_expire_on, created_by, created_at FROM rebate_campaigns";

pub async fn insert_campaign(tx: &mut WriteTx, c: &RebateCampaignRow) -> Result<(), sqlx::Error> {
    // `write!`: the writer remembers each program's campaigns.
    write!(tx, |conn| {
        sqlx::query(
        "INSERT INTO rebate_campaigns (id, program_id, name, tiers, monthly_cap_points, budget_points, starts_at, ends_at, \
         grant_mode, grant_on, points_expire_on, created_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)"
    )
    .bind(c.id.0)
    .bind(c.program_id.0)
    .bind(&c.name)
    .bind(&c.tiers)
    .bind(c.monthly_cap_points)
    .bind(c.budget_points)
    .bind(c.starts_at)
    .bind(c.ends_at)
    .bind(&c.grant_mode)
    .bind(c.grant_on)
    .bind(c.points_expire_on)
    .bind(c.created_by)
    .bind(c.created_at)
    .execute(conn)
    .await
    .map(|_| ())
    })
}

pub async fn list_campaigns(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<RebateCampaignRow>, sqlx::Error> {
    let sql = format!("{CAMPAIGN_COLUMNS} WHERE program_id = $1 ORDER BY id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .fetch_all(c)
        .await)
}

/// Every rebate campaign of a program (remembered by the writer across batches).
pub async fn campaigns_tx(
    tx: &mut WriteTx,
    program: ProgramId,
) -> Result<Vec<RebateCampaignRow>, sqlx::Error> {
    if let Some(all) = tx.known.get::<Vec<RebateCampaignRow>, _>(&program) {
        return Ok(all);
    }
    let sql = format!("{CAMPAIGN_COLUMNS} WHERE program_id = $1 ORDER BY id");
    let all: Vec<RebateCampaignRow> = read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .fetch_all(c)
        .await)?;
    tx.known.stage(program, all.clone());
    Ok(all)
}

/// The writer remembers every rebate campaign of a program, whatever its dates (campaign
/// rows are never changed; a new one is inserted through `write!`).
impl Fact for Vec<RebateCampaignRow> {
    type Key = ProgramId;
    const NAME: &'static str = "rebate campaigns of";
    const FORGOTTEN_BY: FactSet = FactSet::REBATE_CAMPAIGNS;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        program: &'a ProgramId,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move { Ok(Some(campaigns_tx(tx, *program).await?)) })
    }
}

pub async fn active_campaigns_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    now: DateTime<Utc>,
) -> Result<Vec<RebateCampaignRow>, sqlx::Error> {
    Ok(campaigns_tx(tx, program)
        .await?
        .into_iter()
        .filter(|c| c.starts_at <= now && c.ends_at > now)
        .collect())
}

/// Per campaign of a program, the points it has given (net of what refunds took back; a
/// shortfall stays given), for the campaign list.
pub async fn campaign_usage(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<(RebateCampaignId, i64)>, sqlx::Error> {
    let rows: Vec<(Uuid, i64)> = read!(db, |c| {
        sqlx::query_as(
        "SELECT a.campaign_id, CAST(sum(a.points - a.clawed_back_points) AS BIGINT) FROM rebate_accruals a \
         JOIN rebate_campaigns k ON k.id = a.campaign_id WHERE k.program_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = a.payment_transaction_id) \
         GROUP BY a.campaign_id"
    )
    .bind(program.0)
    .fetch_all(c)
    .await
    })?;
    Ok(rows.into_iter().map(|(id, n)| (id.into(), n)).collect())
}

/// Live points of a campaign (net of claw-backs and of reversed payments), in all or for one
/// shopper in one month. A shortfall (points a refund could not take back) is not a claw-back:
/// it keeps counting, so a refund of spent points never frees cap or budget.
pub async fn points_used_tx(
    tx: &mut WriteTx,
    campaign: RebateCampaignId,
    shopper_month: Option<(ShopperId, &str)>,
) -> Result<i64, sqlx::Error> {
    let base = "SELECT CAST(coalesce(sum(a.points - a.clawed_back_points), 0) AS BIGINT) FROM rebate_accruals a \
                WHERE a.campaign_id = $1 AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = a.payment_transaction_id)";
    match shopper_month {
        None => write_vetted!(tx, |c| sqlx::query_scalar(base)
            .bind(campaign.0)
            .fetch_one(c)
            .await),
        Some((shopper, month)) => {
            let sql = format!("{base} AND a.shopper_id = $2 AND a.month = $3");
            write_vetted!(tx, |c| sqlx::query_scalar(&sql)
                .bind(campaign.0)
                .bind(shopper.0)
                .bind(month)
                .fetch_one(c)
                .await)
        }
    }
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Accrual {
    #[sqlx(try_from = "Uuid")]
    pub campaign_id: RebateCampaignId,
    #[sqlx(try_from = "Uuid")]
    pub payment_transaction_id: TransactionId,
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    pub month: String,
    pub base_yen: i64,
    pub points: i64,
    /// Taken back from the wallet, or cancelled before the grant.
    pub clawed_back_points: i64,
    /// Due back but already spent: still counted against the cap and the budget.
    pub shortfall_points: i64,
    pub granted_transaction_id: Option<Uuid>,
    /// The tier rate earned at (decimal text); None for accruals from before it was kept.
    pub rate: Option<String>,
}

pub async fn insert_accrual(
    tx: &mut WriteTx,
    a: &Accrual,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO rebate_accruals (campaign_id, payment_transaction_id, shopper_id, month, base_yen, points, \
         clawed_back_points, granted_transaction_id, created_at, rate) VALUES ($1, $2, $3, $4, $5, $6, 0, $7, $8, $9)"
    )
    .bind(a.campaign_id.0)
    .bind(a.payment_transaction_id.0)
    .bind(a.shopper_id.0)
    .bind(&a.month)
    .bind(a.base_yen)
    .bind(a.points)
    .bind(a.granted_transaction_id)
    .bind(now)
    .bind(&a.rate)
    .execute(c)
    .await
    .map(|_| ())
    })
}

const ACCRUAL_COLUMNS: &str = "SELECT campaign_id, payment_transaction_id, shopper_id, month, base_yen, points, clawed_back_points, \
     shortfall_points, granted_transaction_id, rate FROM rebate_accruals";

/// The accruals of a payment a refund may still claw back from. A batch grant an operator
/// has reversed is left out: the reversal already took all of it back, and a claw-back on
/// top would take more than the grant gave.
pub async fn accruals_of_payment_tx(
    tx: &mut WriteTx,
    payment: TransactionId,
) -> Result<Vec<Accrual>, sqlx::Error> {
    let sql = format!(
        "{ACCRUAL_COLUMNS} WHERE payment_transaction_id = $1 AND NOT EXISTS \
         (SELECT 1 FROM transactions r WHERE r.reverses_id = rebate_accruals.granted_transaction_id) \
         ORDER BY campaign_id"
    );
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(payment.0)
        .fetch_all(c)
        .await)
}

/// Records what a refund settled of an accrual: `clawed` taken back, `shortfall` due but spent.
pub async fn add_clawback(
    tx: &mut WriteTx,
    campaign: RebateCampaignId,
    payment: TransactionId,
    clawed: i64,
    shortfall: i64,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "UPDATE rebate_accruals SET clawed_back_points = clawed_back_points + $3, shortfall_points = shortfall_points + $4 \
         WHERE campaign_id = $1 AND payment_transaction_id = $2"
    )
    .bind(campaign.0)
    .bind(payment.0)
    .bind(clawed)
    .bind(shortfall)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// Batch accruals due on or before `as_of` and not yet granted: (accrual, program, expiry).
pub async fn due_accruals_tx(
    tx: &mut WriteTx,
    as_of: NaiveDate,
    limit: i64,
) -> Result<Vec<(Accrual, ProgramId, Option<NaiveDate>)>, sqlx::Error> {
    type Row = (
        Uuid,
        Uuid,
        Uuid,
        String,
        i64,
        i64,
        i64,
        i64,
        Option<Uuid>,
        Option<String>,
        Uuid,
        Option<NaiveDate>,
    );
    let rows: Vec<Row> = write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT a.campaign_id, a.payment_transaction_id, a.shopper_id, a.month, a.base_yen, a.points, a.clawed_back_points, \
         a.shortfall_points, a.granted_transaction_id, a.rate, k.program_id, k.points_expire_on FROM rebate_accruals a JOIN rebate_campaigns k ON k.id = a.campaign_id \
         WHERE k.grant_mode = 'batch' AND k.grant_on <= $1 AND a.granted_transaction_id IS NULL AND a.points > a.clawed_back_points \
         AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = a.payment_transaction_id) \
         ORDER BY a.created_at, a.payment_transaction_id LIMIT $2"
    )
    .bind(as_of)
    .bind(limit)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(
            |(
                campaign_id,
                payment_transaction_id,
                shopper_id,
                month,
                base_yen,
                points,
                clawed_back_points,
                shortfall_points,
                granted_transaction_id,
                rate,
                program,
                expiry,
            )| {
                (
                    Accrual {
                        campaign_id: campaign_id.into(),
                        payment_transaction_id: payment_transaction_id.into(),
                        shopper_id: shopper_id.into(),
                        month,
                        base_yen,
                        points,
                        clawed_back_points,
                        shortfall_points,
                        granted_transaction_id,
                        rate,
                    },
                    program.into(),
                    expiry,
                )
            },
        )
        .collect())
}

pub async fn mark_granted(
    tx: &mut WriteTx,
    campaign: RebateCampaignId,
    payment: TransactionId,
    txn: TransactionId,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "UPDATE rebate_accruals SET granted_transaction_id = $3 WHERE campaign_id = $1 AND payment_transaction_id = $2"
    )
    .bind(campaign.0)
    .bind(payment.0)
    .bind(txn.0)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// Per campaign, shopper and JST month, the points the monthly cap is checked against (net of
/// claw-backs; shortfalls stay counted; reversed payments left out). For audits and tests.
pub async fn live_points_by_shopper_month(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<(Uuid, Uuid, String, i64)>, sqlx::Error> {
    read!(db, |c| {
        sqlx::query_as(
        "SELECT a.campaign_id, a.shopper_id, a.month, CAST(sum(a.points - a.clawed_back_points) AS BIGINT) \
         FROM rebate_accruals a JOIN rebate_campaigns k ON k.id = a.campaign_id WHERE k.program_id = $1 \
         AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = a.payment_transaction_id) \
         GROUP BY a.campaign_id, a.shopper_id, a.month"
    )
    .bind(program.0)
    .fetch_all(c)
    .await
    })
}
