//! Store refunds: the `refunds` rows, what earlier refunds of a payment gave back, and the
//! expiry of the lots a payment consumed (refunded yen keep it).

use chrono::{DateTime, NaiveDate, Utc};

use crate::writer::{WriteTx, write_vetted};
use machipay_domain::ids::*;

pub struct NewRefund<'a> {
    pub transaction_id: TransactionId,
    pub payment: TransactionId,
    pub merchant: MerchantId,
    pub amount: i64,
    pub shortfall_points: i64,
    pub reason: &'a str,
    pub created_at: DateTime<Utc>,
}

pub async fn insert_refund(tx: &mut WriteTx, r: &NewRefund<'_>) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO refunds (transaction_id, payment_transaction_id, merchant_id, amount, shortfall_points, reason, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7)"
    )
    .bind(r.transaction_id.0)
    .bind(r.payment.0)
    .bind(r.merchant.0)
    .bind(r.amount)
    .bind(r.shortfall_points)
    .bind(r.reason)
    .bind(r.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// `insert_refund` for many refunds, one statement per 500 (the scale fixture's bulk
/// history, `examples/scale`): their transactions must have been posted before.
pub async fn insert_refunds(tx: &mut WriteTx, rs: &[NewRefund<'_>]) -> Result<(), sqlx::Error> {
    for chunk in rs.chunks(500) {
        let values = (0..chunk.len())
            .map(|i| {
                let p: Vec<String> = (1..=7).map(|k| format!("${}", 7 * i + k)).collect();
                format!("({})", p.join(", "))
            })
            .collect::<Vec<_>>()
            .join(", ");
        let sql = format!(
            "INSERT INTO refunds (transaction_id, payment_transaction_id, merchant_id, amount, \
             shortfall_points, reason, created_at) VALUES {values}"
        );
        write_vetted!(tx, |c| {
            let mut q = sqlx::query(&sql);
            for r in chunk {
                q = q
                    .bind(r.transaction_id.0)
                    .bind(r.payment.0)
                    .bind(r.merchant.0)
                    .bind(r.amount)
                    .bind(r.shortfall_points)
                    .bind(r.reason)
                    .bind(r.created_at);
            }
            q.execute(c).await.map(|_| ())
        })?;
    }
    Ok(())
}

/// Per asset, what earlier refunds of `payment` gave back, read from the store's side (its
/// debits): the shopper's points leg of a refund is net of the claw-back, the store's is not.
pub async fn refunded_by_asset_tx(
    tx: &mut WriteTx,
    payment: TransactionId,
) -> Result<Vec<(String, i64)>, sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT p.asset, CAST(sum(-p.amount) AS BIGINT) FROM refunds f JOIN postings p ON p.transaction_id = f.transaction_id \
         JOIN accounts a ON a.id = p.account_id WHERE f.payment_transaction_id = $1 AND a.kind = 'merchant' AND p.amount < 0 \
         GROUP BY p.asset"
    )
    .bind(payment.0)
    .fetch_all(c)
    .await
    })
}

/// Per asset, the latest expiry of the lots `payment` consumed (NULL: never), so refunded
/// yen keep the life they had.
pub async fn consumed_lot_expiry_tx(
    tx: &mut WriteTx,
    payment: TransactionId,
) -> Result<Vec<(String, Option<NaiveDate>)>, sqlx::Error> {
    let rows: Vec<(String, Option<NaiveDate>, i64)> = write_vetted!(tx, |c| {
        sqlx::query_as(
        "SELECT a.asset, max(l.expires_on), CAST(sum(CASE WHEN l.expires_on IS NULL THEN 1 ELSE 0 END) AS BIGINT) \
         FROM lot_movements m JOIN lots l ON l.id = m.lot_id JOIN accounts a ON a.id = l.account_id \
         WHERE m.transaction_id = $1 AND m.amount < 0 GROUP BY a.asset"
    )
    .bind(payment.0)
    .fetch_all(c)
    .await
    })?;
    Ok(rows
        .into_iter()
        .map(|(asset, latest, never)| (asset, if never > 0 { None } else { latest }))
        .collect())
}
