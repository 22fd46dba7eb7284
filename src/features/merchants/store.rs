//! The merchant registry's rows: profiles, bank account versions, applications,
//! participation events and store-count targets. Events and targets are only ever inserted.

use chrono::{DateTime, NaiveDate, Utc};
use uuid::Uuid;

use futures::future::BoxFuture;

use crate::db::{Db, read};
use crate::error::AppError;
use crate::writer::guard::FactSet;
use crate::writer::{Fact, WARM_ROWS_MAX, WriteTx, read_tx, write, write_vetted};
use machipay_domain::ids::*;
use machipay_domain::registry::{BankAccountView, ParticipationKind, Profile, SizeClass};

const PROFILE_COLUMNS: &str = "SELECT merchant_id, external_ref, name_kana, industry, association, \
     district, size_class, address, contact FROM merchant_profiles";

type ProfileRow = (
    Uuid,
    Option<String>,
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);

fn profile_of(r: ProfileRow) -> (MerchantId, Profile) {
    (
        MerchantId(r.0),
        Profile {
            external_ref: r.1,
            name_kana: r.2,
            industry: r.3,
            association: r.4,
            district: r.5,
            size_class: SizeClass::parse(&r.6).unwrap_or(SizeClass::Small),
            address: r.7,
            contact: r.8,
        },
    )
}

/// Renames a store (the name shown to shoppers and printed on its posters). Through `write!`:
/// the writer remembers stores, names included, so it forgets what it knew.
pub(crate) async fn rename_merchant(
    tx: &mut WriteTx,
    merchant: MerchantId,
    name: &str,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "UPDATE merchants SET name = $2 WHERE id = $1"
    )
    .bind(merchant.0)
    .bind(name)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Creates or replaces a store's profile. Vetted: profiles are not among the rows the writer
/// remembers.
pub(crate) async fn upsert_profile(
    tx: &mut WriteTx,
    merchant: MerchantId,
    city: CityId,
    p: &Profile,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO merchant_profiles (merchant_id, city_id, external_ref, name_kana, industry, \
         association, district, size_class, address, contact, updated_at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) \
         ON CONFLICT (merchant_id) DO UPDATE SET external_ref = excluded.external_ref, \
         name_kana = excluded.name_kana, industry = excluded.industry, \
         association = excluded.association, district = excluded.district, \
         size_class = excluded.size_class, address = excluded.address, \
         contact = excluded.contact, updated_at = excluded.updated_at"
    )
    .bind(merchant.0)
    .bind(city.0)
    .bind(&p.external_ref)
    .bind(&p.name_kana)
    .bind(&p.industry)
    .bind(&p.association)
    .bind(&p.district)
    .bind(p.size_class.as_str())
    .bind(&p.address)
    .bind(&p.contact)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

pub(crate) async fn get_profile(
    db: &Db,
    merchant: MerchantId,
) -> Result<Option<Profile>, sqlx::Error> {
    let sql = format!("{PROFILE_COLUMNS} WHERE merchant_id = $1");
    let row: Option<ProfileRow> = read!(db, |c| sqlx::query_as(&sql)
        .bind(merchant.0)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(|r| profile_of(r).1))
}

/// A store's profile, read in the write transaction (what a change replaces, for the audit).
pub(crate) async fn get_profile_tx(
    tx: &mut WriteTx,
    merchant: MerchantId,
) -> Result<Option<Profile>, sqlx::Error> {
    let sql = format!("{PROFILE_COLUMNS} WHERE merchant_id = $1");
    let row: Option<ProfileRow> = read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(merchant.0)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(|r| profile_of(r).1))
}

/// Every profile of a city's stores (a city has thousands of stores at most).
pub(crate) async fn city_profiles(
    db: &Db,
    city: CityId,
) -> Result<Vec<(MerchantId, Profile)>, sqlx::Error> {
    let sql = format!("{PROFILE_COLUMNS} WHERE city_id = $1");
    let rows: Vec<ProfileRow> =
        read!(db, |c| sqlx::query_as(&sql).bind(city.0).fetch_all(c).await)?;
    Ok(rows.into_iter().map(profile_of).collect())
}

/// The store holding `external_ref` in the city, read in the write transaction.
pub(crate) async fn merchant_by_ref_tx(
    tx: &mut WriteTx,
    city: CityId,
    external_ref: &str,
) -> Result<Option<MerchantId>, sqlx::Error> {
    let id: Option<Uuid> = write_vetted!(tx, |c| sqlx::query_scalar(
        "SELECT merchant_id FROM merchant_profiles WHERE city_id = $1 AND external_ref = $2"
    )
    .bind(city.0)
    .bind(external_ref)
    .fetch_optional(c)
    .await)?;
    Ok(id.map(MerchantId))
}

/// A new version of a store's bank account. Vetted: not a remembered row.
pub(crate) async fn insert_bank_account(
    tx: &mut WriteTx,
    merchant: MerchantId,
    a: &BankAccountView,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO merchant_bank_accounts (id, merchant_id, bank_code, bank_name_kana, \
         branch_code, branch_name_kana, account_type, account_number, holder_kana, created_by, \
         created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)"
    )
    .bind(Uuid::now_v7())
    .bind(merchant.0)
    .bind(&a.bank_code)
    .bind(&a.bank_name_kana)
    .bind(&a.branch_code)
    .bind(&a.branch_name_kana)
    .bind(&a.account_type)
    .bind(&a.account_number)
    .bind(&a.holder_kana)
    .bind(by)
    .bind(now)
    .execute(c)
    .await
    .map(|_| ()))
}

const BANK_SQL: &str = "SELECT bank_code, bank_name_kana, branch_code, branch_name_kana, \
     account_type, account_number, holder_kana FROM merchant_bank_accounts \
     WHERE merchant_id = $1 ORDER BY created_at DESC, id DESC LIMIT 1";

type BankRow = (String, String, String, String, String, String, String);

fn bank_of(r: BankRow) -> BankAccountView {
    BankAccountView {
        bank_code: r.0,
        bank_name_kana: r.1,
        branch_code: r.2,
        branch_name_kana: r.3,
        account_type: r.4,
        account_number: r.5,
        holder_kana: r.6,
    }
}

pub(crate) async fn current_bank_account(
    db: &Db,
    merchant: MerchantId,
) -> Result<Option<BankAccountView>, sqlx::Error> {
    let row: Option<BankRow> = read!(db, |c| sqlx::query_as(BANK_SQL)
        .bind(merchant.0)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(bank_of))
}

pub(crate) async fn current_bank_account_tx(
    tx: &mut WriteTx,
    merchant: MerchantId,
) -> Result<Option<BankAccountView>, sqlx::Error> {
    let row: Option<BankRow> = write_vetted!(tx, |c| sqlx::query_as(BANK_SQL)
        .bind(merchant.0)
        .fetch_optional(c)
        .await)?;
    Ok(row.map(bank_of))
}

/// An application as stored.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApplicationRow {
    #[sqlx(try_from = "Uuid")]
    pub id: ApplicationId,
    #[sqlx(try_from = "Uuid")]
    pub city_id: CityId,
    pub name: String,
    pub profile: String,
    pub bank_account: Option<String>,
    pub program_id: Option<Uuid>,
    pub status: String,
    pub reason: Option<String>,
    pub merchant_id: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub decided_at: Option<DateTime<Utc>>,
}

const APPLICATION_COLUMNS: &str = "SELECT id, city_id, name, profile, bank_account, program_id, \
     status, reason, merchant_id, created_at, decided_at FROM merchant_applications";

pub(crate) async fn insert_application(
    tx: &mut WriteTx,
    a: &ApplicationRow,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO merchant_applications (id, city_id, name, profile, bank_account, program_id, \
         status, submitted_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, 'pending', $7, $8)"
    )
    .bind(a.id.0)
    .bind(a.city_id.0)
    .bind(&a.name)
    .bind(&a.profile)
    .bind(&a.bank_account)
    .bind(a.program_id)
    .bind(by)
    .bind(a.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

pub(crate) async fn get_application_tx(
    tx: &mut WriteTx,
    id: ApplicationId,
) -> Result<Option<ApplicationRow>, sqlx::Error> {
    let sql = format!("{APPLICATION_COLUMNS} WHERE id = $1");
    write_vetted!(tx, |c| sqlx::query_as(&sql)
        .bind(id.0)
        .fetch_optional(c)
        .await)
}

/// Records the decision on a pending application; false if it was no longer pending.
pub(crate) async fn decide_application(
    tx: &mut WriteTx,
    id: ApplicationId,
    status: &str,
    reason: Option<&str>,
    merchant: Option<MerchantId>,
    by: Uuid,
    now: DateTime<Utc>,
) -> Result<bool, sqlx::Error> {
    let done = write_vetted!(tx, |c| sqlx::query(
        "UPDATE merchant_applications SET status = $2, reason = $3, merchant_id = $4, \
         decided_by = $5, decided_at = $6 WHERE id = $1 AND status = 'pending'"
    )
    .bind(id.0)
    .bind(status)
    .bind(reason)
    .bind(merchant.map(|m| m.0))
    .bind(by)
    .bind(now)
    .execute(c)
    .await
    .map(|r| r.rows_affected()))?;
    Ok(done == 1)
}

pub(crate) async fn list_applications(
    db: &Db,
    city: CityId,
    limit: i64,
) -> Result<Vec<ApplicationRow>, sqlx::Error> {
    let sql = format!("{APPLICATION_COLUMNS} WHERE city_id = $1 ORDER BY created_at DESC LIMIT $2");
    read!(db, |c| sqlx::query_as(&sql)
        .bind(city.0)
        .bind(limit)
        .fetch_all(c)
        .await)
}

/// One participation event as stored.
#[derive(Debug, Clone)]
pub struct ParticipationEventRow {
    pub id: ParticipationEventId,
    pub program_id: ProgramId,
    pub merchant_id: MerchantId,
    pub kind: ParticipationKind,
    pub effective_on: NaiveDate,
    pub reason: Option<String>,
    pub created_at: DateTime<Utc>,
}

type EventRow = (
    Uuid,
    Uuid,
    Uuid,
    String,
    NaiveDate,
    Option<String>,
    DateTime<Utc>,
);

fn event_of(r: EventRow) -> Option<ParticipationEventRow> {
    Some(ParticipationEventRow {
        id: ParticipationEventId(r.0),
        program_id: ProgramId(r.1),
        merchant_id: MerchantId(r.2),
        kind: ParticipationKind::parse(&r.3)?,
        effective_on: r.4,
        reason: r.5,
        created_at: r.6,
    })
}

const EVENT_COLUMNS: &str = "SELECT id, program_id, merchant_id, kind, effective_on, reason, \
     created_at FROM participation_events";

/// Inserts an event. Through `write!`: the writer remembers the latest event per store.
pub(crate) async fn insert_event(
    tx: &mut WriteTx,
    e: &ParticipationEventRow,
    by: Uuid,
) -> Result<(), sqlx::Error> {
    write!(tx, |c| sqlx::query(
        "INSERT INTO participation_events (id, program_id, merchant_id, kind, effective_on, \
         reason, recorded_by, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
    )
    .bind(e.id.0)
    .bind(e.program_id.0)
    .bind(e.merchant_id.0)
    .bind(e.kind.as_str())
    .bind(e.effective_on)
    .bind(&e.reason)
    .bind(by)
    .bind(e.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// The store's latest event in the program, read in the write transaction.
pub(crate) async fn latest_event_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Option<ParticipationEventRow>, sqlx::Error> {
    let sql = format!(
        "{EVENT_COLUMNS} WHERE program_id = $1 AND merchant_id = $2 \
         ORDER BY effective_on DESC, created_at DESC, id DESC LIMIT 1"
    );
    let row: Option<EventRow> = read_tx!(tx, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(merchant.0)
        .fetch_optional(c)
        .await)?;
    Ok(row.and_then(event_of))
}

/// The kind of the store's latest event, remembered by the writer (`Known`): the
/// payment path asks this on every payment.
pub(crate) async fn participation_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Option<ParticipationKind>, sqlx::Error> {
    if let Some(LatestParticipation(kind)) = tx.known.get(&(program, merchant)) {
        return Ok(kind);
    }
    let kind = latest_event_tx(tx, program, merchant)
        .await?
        .map(|e| e.kind);
    tx.known
        .stage((program, merchant), LatestParticipation(kind));
    Ok(kind)
}

/// The kind of a store's latest participation event in a program (None: no history), as the
/// writer remembers it per (program, store). Events are inserted only through `write!`,
/// which forgets it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct LatestParticipation(Option<ParticipationKind>);

impl Fact for LatestParticipation {
    type Key = (ProgramId, MerchantId);
    const NAME: &'static str = "participation";
    const FORGOTTEN_BY: FactSet = FactSet::PARTICIPATION;
    fn reread<'a>(
        tx: &'a mut WriteTx,
        &(program, merchant): &'a Self::Key,
    ) -> BoxFuture<'a, Result<Option<Self>, AppError>> {
        Box::pin(async move {
            let kind = participation_tx(tx, program, merchant).await?;
            Ok(Some(LatestParticipation(kind)))
        })
    }
}

/// The latest participation of every store in each program it has a store code for, for the
/// writer to know when it starts (`features::WARM_AT_START`), if there are at most
/// `WARM_ROWS_MAX` such pairs: every payment asks it, and the first payment at each store
/// after a restart would otherwise read it on the writer's path. The same event as
/// `latest_event_tx` picks (the known-facts check in debug builds re-reads each one with it).
pub(crate) fn warm_participation(tx: &mut WriteTx) -> BoxFuture<'_, Result<usize, sqlx::Error>> {
    Box::pin(async move {
        let rows: Vec<(Uuid, Uuid, Option<String>)> = read_tx!(tx, |c| sqlx::query_as(
            "SELECT c.program_id, c.merchant_id, (SELECT e.kind FROM participation_events e \
             WHERE e.program_id = c.program_id AND e.merchant_id = c.merchant_id \
             ORDER BY e.effective_on DESC, e.created_at DESC, e.id DESC LIMIT 1) AS kind \
             FROM (SELECT DISTINCT program_id, merchant_id FROM store_codes) c LIMIT $1"
        )
        .bind(WARM_ROWS_MAX + 1)
        .fetch_all(c)
        .await)?;
        let facts = rows
            .into_iter()
            .map(|(program, merchant, kind)| {
                let kind = kind.as_deref().and_then(ParticipationKind::parse);
                (
                    (ProgramId(program), MerchantId(merchant)),
                    LatestParticipation(kind),
                )
            })
            .collect();
        Ok(tx.known.stage_warm_keyed(facts))
    })
}

/// A store's history in a program, oldest first.
pub(crate) async fn history(
    db: &Db,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Vec<ParticipationEventRow>, sqlx::Error> {
    let sql = format!(
        "{EVENT_COLUMNS} WHERE program_id = $1 AND merchant_id = $2 \
         ORDER BY effective_on, created_at, id"
    );
    let rows: Vec<EventRow> = read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(merchant.0)
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().filter_map(event_of).collect())
}

/// Every event of a program effective on or before `until`, oldest first.
pub(crate) async fn events_until(
    db: &Db,
    program: ProgramId,
    until: NaiveDate,
) -> Result<Vec<ParticipationEventRow>, sqlx::Error> {
    let sql = format!(
        "{EVENT_COLUMNS} WHERE program_id = $1 AND effective_on <= $2 \
         ORDER BY effective_on, created_at, id"
    );
    let rows: Vec<EventRow> = read!(db, |c| sqlx::query_as(&sql)
        .bind(program.0)
        .bind(until)
        .fetch_all(c)
        .await)?;
    Ok(rows.into_iter().filter_map(event_of).collect())
}

/// The date a store first joined the program, read in the write transaction.
pub(crate) async fn first_joined_tx(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<Option<NaiveDate>, sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query_scalar(
        "SELECT min(effective_on) FROM participation_events \
         WHERE program_id = $1 AND merchant_id = $2 AND kind = 'joined'"
    )
    .bind(program.0)
    .bind(merchant.0)
    .fetch_one(c)
    .await)
}

/// A target as set, with who set it and when.
#[derive(Debug, Clone)]
pub struct TargetRow {
    pub fiscal_year: i32,
    pub stores: i64,
    pub set_by: Uuid,
    pub created_at: DateTime<Utc>,
}

/// Records a target. Vetted: not a remembered row.
pub(crate) async fn insert_target(
    tx: &mut WriteTx,
    program: ProgramId,
    t: &TargetRow,
) -> Result<(), sqlx::Error> {
    write_vetted!(tx, |c| sqlx::query(
        "INSERT INTO program_targets (id, program_id, fiscal_year, stores, set_by, created_at) \
         VALUES ($1, $2, $3, $4, $5, $6)"
    )
    .bind(Uuid::now_v7())
    .bind(program.0)
    .bind(t.fiscal_year)
    .bind(t.stores)
    .bind(t.set_by)
    .bind(t.created_at)
    .execute(c)
    .await
    .map(|_| ()))
}

/// Every target change of a program, oldest first (the last per year is in force).
pub(crate) async fn targets(db: &Db, program: ProgramId) -> Result<Vec<TargetRow>, sqlx::Error> {
    let rows: Vec<(i32, i64, Uuid, DateTime<Utc>)> = read!(db, |c| sqlx::query_as(
        "SELECT fiscal_year, stores, set_by, created_at FROM program_targets \
         WHERE program_id = $1 ORDER BY fiscal_year, created_at, id"
    )
    .bind(program.0)
    .fetch_all(c)
    .await)?;
    Ok(rows
        .into_iter()
        .map(|(fiscal_year, stores, set_by, created_at)| TargetRow {
            fiscal_year,
            stores,
            set_by,
            created_at,
        })
        .collect())
}
