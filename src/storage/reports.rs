//! Report queries. Figures are recomputed from postings (never from cached balances), so a
//! report for a past date gives the same answer however often and however late it is asked.

use chrono::{DateTime, Utc};

use super::{Db, read};
use crate::domain::ids::*;
use crate::domain::ledger::Asset;

/// Sum per asset of every posting on the program's shopper wallets made by a transaction
/// created before `before`: what shoppers held at that instant.
pub async fn wallet_totals_before(
    db: &Db,
    program: ProgramId,
    before: DateTime<Utc>,
) -> Result<Vec<(Asset, i64)>, sqlx::Error> {
    let rows: Vec<(String, i64)> = read!(db, |c| sqlx::query_as(
        "SELECT p.asset, CAST(coalesce(sum(p.amount), 0) AS BIGINT) FROM postings p \
         JOIN accounts a ON a.id = p.account_id JOIN transactions t ON t.id = p.transaction_id \
         WHERE a.program_id = $1 AND a.kind = 'shopper_wallet' AND t.created_at < $2 \
         GROUP BY p.asset ORDER BY p.asset"
    )
    .bind(program.0)
    .bind(before)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .filter_map(|(a, n)| Asset::parse(&a).map(|a| (a, n)))
        .collect())
}
