//! QR rows: the server's signing key, store codes, payment requests and shopper codes. None of
//! these tables is among the rows the writer remembers (`Known`), hence `write_vetted!`.

use chrono::{DateTime, Utc};
use uuid::Uuid;

use futures::future::BoxFuture;

use crate::db::{Db, read};
use crate::error::AppError;
use crate::writer::guard::FactSet;
use crate::writer::{Fact, WARM_ROWS_MAX, WriteTx, read_tx, write, write_vetted};
use machipay_domain::ids::*;

/// Name of the HMAC key that signs QR payloads.
pub use crate::db::QR_SIGNING_KEY as QR_KEY;

pub async fn secret(db: &Db, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    read!(db, |c| sqlx::query_scalar(
        "SELECT value FROM server_secrets WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(c)
    .await)
}

pub async fn secret_tx(tx: &mut WriteTx, name: &str) -> Result<Option<Vec<u8>>, sqlx::Error> {
    if let Some(value) = tx.known.secrets.get(name) {
        return Ok(Some(value.clone()));
    }
    let value: Option<Vec<u8>> = read_tx!(tx, |c| sqlx::query_scalar(
        "SELECT value FROM server_secrets WHERE name = $1"
    )
    .bind(name)
    .fetch_optional(c)
    .await)?;
    if let Some(v) = &value {
        tx.known.secrets.insert(name.to_owned(), v.clone());
    }
    Ok(value)
}

/// A store's static code as stored; the API shows it as `api::StoreCode`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoreCode {
    #[sqlx(try_from = "Uuid")]
    pub id: StoreCodeId,
    /// The opaque id inside the payload.
    pub code_id: String,
    #[sqlx(try_from = "Uuid")]
    pub merchant_id: MerchantId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    /// The JPQR text the QR image encodes.
    pub payload: String,
    pub created_at: DateTime<Utc>,
    pub revoked_at: Option<DateTime<Utc>>,
}

const STORE_CODE_COLUMNS: &str =
    "SELECT id, code_id, merchant_id, program_id, payload, created_at, revoked_at FROM store_codes";

/// The writer remembers static codes by code id (revoking one goes through `write!`).
impl Fact for StoreCode {
    type Key = String;
    const NAME: &'static str = "store code";
    const FORGOTTEN_BY: FactSet = FactSet::STORE_CODES;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        code_id: &'a String,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move { Ok(store_code_by_code_id_tx(tx, code_id).await?) })
    }
}

/// Every static code, for the writer to know when it starts (`features::WARM_AT_START`), if
/// there are at most `WARM_ROWS_MAX`.
pub(crate) fn warm_store_codes(tx: &mut WriteTx) -> BoxFuture<'_, Result<usize, sqlx::Error>> {
    Box::pin(async move {
        let sql = format!("{STORE_CODE_COLUMNS} LIMIT $1");
        let codes: Vec<StoreCode> = read_tx!(tx, |c| sqlx::query_as(&sql)
            .bind(WARM_ROWS_MAX + 1)
            .fetch_all(c)
            .await)?;
        Ok(tx.known.stage_warm(codes, |c| c.code_id.clone()))
    })
}

pub async fn insert_store_code(tx: &mut WriteTx, c: &StoreCode) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |conn| {
        sqlx::query(
        "INSERT INTO store_codes (id, code_id, merchant_id, program_id, payload, created_at) VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(c.id.0)
    .bind(&c.code_id)
    .bind(c.merchant_id.0)
    .bind(c.program_id.0)
    .bind(&c.payload)
    .bind(c.created_at)
    .execute(conn)
    .await
    .map(|_| ())
    })
}

pub async fn store_code_by_code_id_tx(
    tx: &mut WriteTx,
    code_id: &str,
) -> Result<Option<StoreCode>, sqlx::Error> {
    if let Some(found) = tx.known.get::<StoreCode, _>(code_id) {
        return Ok(Some(found));
    }
    let sql = format!("{STORE_CODE_COLUMNS} WHERE code_id = $1");
    let found: Option<StoreCode> = read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(code_id)
        .fetch_optional(c)
        .await)?;
    if let Some(code) = &found {
        tx.known.stage(code_id.to_owned(), code.clone());
    }
    Ok(found)
}

pub async fn store_code_by_code_id(
    db: &Db,
    code_id: &str,
) -> Result<Option<StoreCode>, sqlx::Error> {
    let sql = format!("{STORE_CODE_COLUMNS} WHERE code_id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(code_id)
        .fetch_optional(c)
        .await)
}

pub async fn get_store_code(db: &Db, id: StoreCodeId) -> Result<Option<StoreCode>, sqlx::Error> {
    let sql = format!("{STORE_CODE_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

pub async fn list_store_codes(
    db: &Db,
    merchant: MerchantId,
) -> Result<Vec<StoreCode>, sqlx::Error> {
    let sql = format!("{STORE_CODE_COLUMNS} WHERE merchant_id = $1 ORDER BY id");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(merchant.0)
        .fetch_all(c)
        .await)
}

/// The store's registered reading (店舗名カナ) from its profile, if it has one, for the ASCII
/// name in its codes. Profiles are not ledger rows, so nothing pending needs writing first.
pub async fn name_kana_tx(
    tx: &mut WriteTx,
    merchant: MerchantId,
) -> Result<Option<String>, sqlx::Error> {
    read_tx!(tx, |c| sqlx::query_scalar(
        "SELECT name_kana FROM merchant_profiles WHERE merchant_id = $1"
    )
    .bind(merchant.0)
    .fetch_optional(c)
    .await)
}

/// Revokes a store's code; false if it is not that store's or already revoked.
pub async fn revoke_store_code(
    tx: &mut WriteTx,
    id: StoreCodeId,
    merchant: MerchantId,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    // `write!`: the writer remembers store codes.
    let n = write!(tx, |c| {
        sqlx::query(
        "UPDATE store_codes SET revoked_at = $3 WHERE id = $1 AND merchant_id = $2 AND revoked_at IS NULL"
    )
    .bind(id.0)
    .bind(merchant.0)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

/// A cashier's payment request as stored; the API shows it as `api::PaymentRequest`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct PaymentRequestRow {
    #[sqlx(try_from = "Uuid")]
    pub id: PaymentRequestId,
    pub code_id: String,
    #[sqlx(try_from = "Uuid")]
    pub merchant_id: MerchantId,
    /// The till that asked (none when the owner did).
    pub device_id: Option<Uuid>,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub amount: i64,
    pub order_reference: Option<String>,
    pub payload: String,
    pub expires_at: DateTime<Utc>,
    pub paid_transaction_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

const REQUEST_COLUMNS: &str = "SELECT id, code_id, merchant_id, device_id, program_id, amount, order_reference, payload, \
     expires_at, paid_transaction_id, created_at FROM payment_requests";

pub async fn insert_payment_request(
    tx: &mut WriteTx,
    r: &PaymentRequestRow,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO payment_requests (id, code_id, merchant_id, device_id, program_id, amount, order_reference, payload, expires_at, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)"
    )
    .bind(r.id.0)
    .bind(&r.code_id)
    .bind(r.merchant_id.0)
    .bind(r.device_id)
    .bind(r.program_id.0)
    .bind(r.amount)
    .bind(&r.order_reference)
    .bind(&r.payload)
    .bind(r.expires_at)
    .bind(r.created_at)
    .execute(c)
    .await
    .map(|_| ())
    })
}

pub async fn payment_request_by_code_id_tx(
    tx: &mut WriteTx,
    code_id: &str,
) -> Result<Option<PaymentRequestRow>, sqlx::Error> {
    let sql = format!("{REQUEST_COLUMNS} WHERE code_id = $1");
    read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(code_id)
        .fetch_optional(c)
        .await)
}

pub async fn payment_request_by_code_id(
    db: &Db,
    code_id: &str,
) -> Result<Option<PaymentRequestRow>, sqlx::Error> {
    let sql = format!("{REQUEST_COLUMNS} WHERE code_id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(code_id)
        .fetch_optional(c)
        .await)
}

pub async fn get_payment_request(
    db: &Db,
    id: PaymentRequestId,
) -> Result<Option<PaymentRequestRow>, sqlx::Error> {
    let sql = format!("{REQUEST_COLUMNS} WHERE id = $1");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// Marks a request paid by `txn`; false if it was paid already.
pub async fn mark_request_paid(
    tx: &mut WriteTx,
    id: PaymentRequestId,
    txn: TransactionId,
) -> Result<bool, sqlx::Error> {
    let n = write_vetted!(tx, |c| {
        sqlx::query(
        "UPDATE payment_requests SET paid_transaction_id = $2 WHERE id = $1 AND paid_transaction_id IS NULL"
    )
    .bind(id.0)
    .bind(txn.0)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}

pub async fn insert_shopper_code(
    tx: &mut WriteTx,
    hash: &[u8],
    shopper: ShopperId,
    program: ProgramId,
    expires_at: DateTime<Utc>,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| {
        sqlx::query(
        "INSERT INTO shopper_codes (code_hash, shopper_id, program_id, expires_at, created_at) VALUES ($1, $2, $3, $4, $5)"
    )
    .bind(hash)
    .bind(shopper.0)
    .bind(program.0)
    .bind(expires_at)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ())
    })
}

/// A shopper-presented code as stored (found by the hash of its text).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ShopperCodeRow {
    #[sqlx(try_from = "Uuid")]
    pub shopper_id: ShopperId,
    #[sqlx(try_from = "Uuid")]
    pub program_id: ProgramId,
    pub expires_at: DateTime<Utc>,
    /// The payment it was used for, once used.
    pub used_transaction_id: Option<Uuid>,
}

pub async fn shopper_code_tx(
    tx: &mut WriteTx,
    hash: &[u8],
) -> Result<Option<ShopperCodeRow>, sqlx::Error> {
    read_tx!(tx, |c| {
        sqlx::query_as(
        "SELECT shopper_id, program_id, expires_at, used_transaction_id FROM shopper_codes WHERE code_hash = $1"
    )
    .bind(hash)
    .fetch_optional(c)
    .await
    })
}

pub async fn mark_shopper_code_used(
    tx: &mut WriteTx,
    hash: &[u8],
    txn: TransactionId,
) -> Result<bool, sqlx::Error> {
    let n = write_vetted!(tx, |c| {
        sqlx::query(
        "UPDATE shopper_codes SET used_transaction_id = $2 WHERE code_hash = $1 AND used_transaction_id IS NULL"
    )
    .bind(hash)
    .bind(txn.0)
    .execute(c)
    .await
    .map(|r| r.rows_affected())
    })?;
    Ok(n == 1)
}
