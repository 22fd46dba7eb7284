//! What the other capabilities ask the directory: programs, merchants, shoppers and cities by
//! id, and the dated versions of a program's settings. The `_tx` forms read inside the
//! writer's transaction (the writer remembers programs, merchants and shoppers, see `Known`).
//! Rows stay the directory's (`ProgramRow`, `MerchantRow`, ...); the SQL stays in `store`.

use chrono::NaiveDate;

use super::store;
use crate::db::Db;
use crate::error::AppError;
use crate::writer::WriteTx;
use machipay_domain::ids::*;

pub use store::{
    City as CityRow, Merchant as MerchantRow, PrincipalKind, ProgramRow, SettingsVersion,
    Shopper as ShopperRow,
};

/// A program by id, read outside the writer.
pub async fn program(db: &Db, id: ProgramId) -> Result<Option<ProgramRow>, AppError> {
    Ok(store::get_program(db, id).await?)
}

/// A program by id, read in the write transaction.
pub async fn program_tx(tx: &mut WriteTx, id: ProgramId) -> Result<Option<ProgramRow>, AppError> {
    Ok(store::get_program_tx(tx, id).await?)
}

/// A program and the settings text in effect on `date` (JST), in one read inside the write
/// transaction; the writer remembers the pair per (program, date).
pub async fn program_with_settings_tx(
    tx: &mut WriteTx,
    id: ProgramId,
    date: NaiveDate,
) -> Result<Option<(ProgramRow, Option<String>)>, AppError> {
    Ok(store::program_with_settings_tx(tx, id, date).await?)
}

/// The programs of a city, in id order.
pub async fn programs_of_city(db: &Db, city: CityId) -> Result<Vec<ProgramRow>, AppError> {
    Ok(store::list_programs(db, city).await?)
}

/// The names of the city's merchants, by id, in one read.
pub async fn merchant_names(
    db: &Db,
    city: CityId,
) -> Result<std::collections::HashMap<MerchantId, String>, AppError> {
    Ok(store::city_merchant_names(db, city)
        .await?
        .into_iter()
        .map(|(id, name)| (MerchantId(id), name))
        .collect())
}

/// A merchant by id, read outside the writer.
pub async fn merchant(db: &Db, id: MerchantId) -> Result<Option<MerchantRow>, AppError> {
    Ok(store::get_merchant(db, id).await?)
}

/// A merchant by id, read in the write transaction (the writer remembers it).
pub async fn merchant_tx(
    tx: &mut WriteTx,
    id: MerchantId,
) -> Result<Option<MerchantRow>, AppError> {
    Ok(store::get_merchant_tx(tx, id).await?)
}

/// Registers a merchant row (the merchant registry's approval makes stores this way).
pub(crate) async fn add_merchant_tx(tx: &mut WriteTx, m: &MerchantRow) -> Result<(), AppError> {
    Ok(store::insert_merchant(tx, m).await?)
}

/// A shopper by id, read outside the writer.
pub async fn shopper(db: &Db, id: ShopperId) -> Result<Option<ShopperRow>, AppError> {
    Ok(store::get_shopper(db, id).await?)
}

/// A shopper by id, read in the write transaction (the writer remembers it).
pub async fn shopper_tx(tx: &mut WriteTx, id: ShopperId) -> Result<Option<ShopperRow>, AppError> {
    Ok(store::get_shopper_tx(tx, id).await?)
}

/// Sets (`Some`: at, reason, by) or clears (`None`) a shopper's block in the write
/// transaction (the shopper block capability); whether the row changed.
pub(crate) async fn set_shopper_block_tx(
    tx: &mut WriteTx,
    id: ShopperId,
    block: Option<(chrono::DateTime<chrono::Utc>, &str, uuid::Uuid)>,
) -> Result<bool, AppError> {
    Ok(store::set_shopper_block(tx, id, block).await?)
}

/// A city by id, read outside the writer.
pub async fn city(db: &Db, id: CityId) -> Result<Option<CityRow>, AppError> {
    Ok(store::get_city(db, id).await?)
}

/// A city by id, read in the write transaction.
pub async fn city_tx(tx: &mut WriteTx, id: CityId) -> Result<Option<CityRow>, AppError> {
    Ok(store::get_city_tx(tx, id).await?)
}

/// Records a version of a program's settings (premium's settings change).
pub(crate) async fn add_settings_version_tx(
    tx: &mut WriteTx,
    v: &SettingsVersion,
) -> Result<(), AppError> {
    Ok(store::insert_settings_version(tx, v).await?)
}

/// Every version of a program's settings, oldest first.
pub async fn settings_versions(
    db: &Db,
    program: ProgramId,
) -> Result<Vec<SettingsVersion>, AppError> {
    Ok(store::settings_history(db, program).await?)
}

/// How many cities the database holds (`serve --demo` seeds an empty database only). The
/// storage error is passed on as it is, so the CLI prints the database's own words.
pub async fn city_count(db: &Db) -> Result<i64, sqlx::Error> {
    store::city_count(db).await
}
