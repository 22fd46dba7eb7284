//! What the API of currency programs shows: requests and responses of settings, premium-set
//! campaigns and sales, bank charges, cash-out exceptions and the premium reconciliation.

use chrono::{DateTime, NaiveDate, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::AppError;
use crate::error::internal;
use crate::features::campaigns::premium::store::{PremiumCampaignRow, PremiumTotals};
use crate::features::directory::SettingsVersion;
use machipay_domain::ids::*;
use machipay_domain::money::{Amount, Points, Yen};
use machipay_domain::program::ProgramSettings;

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsChangeRequest {
    /// The complete new settings (fields left out take their defaults).
    pub settings: ProgramSettings,
    /// First JST date the settings apply; today if omitted. Never in the past: what applied
    /// on a past day is history and stays as it was.
    pub effective_from: Option<NaiveDate>,
}

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct SettingsVersionView {
    pub effective_from: NaiveDate,
    pub settings: ProgramSettings,
    #[schema(value_type = String, format = Uuid)]
    pub changed_by: Uuid,
    pub created_at: DateTime<Utc>,
}

impl TryFrom<SettingsVersion> for SettingsVersionView {
    type Error = AppError;
    fn try_from(v: SettingsVersion) -> Result<Self, AppError> {
        Ok(Self {
            effective_from: v.effective_from,
            settings: serde_json::from_str(&v.settings).map_err(internal)?,
            changed_by: v.changed_by,
            created_at: v.created_at,
        })
    }
}

#[derive(Debug, Clone, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCampaignRequest {
    pub name: String,
    /// Paid part of one unit, e.g. 10000.
    pub price_yen: Amount,
    /// City-funded part of one unit, e.g. 3000.
    pub premium_yen: Amount,
    pub units_per_person_max: i32,
    /// Most premium granted over the campaign.
    pub budget_yen: Amount,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub sale_starts_at: DateTime<Utc>,
    #[serde(deserialize_with = "machipay_domain::calendar::deserialize_micros")]
    pub sale_ends_at: DateTime<Utc>,
    /// Last JST date the premium can be spent; the program's policy applies if omitted.
    pub premium_expires_on: Option<NaiveDate>,
    /// A waiting room in front of a first-come sale: buyers take a ticket and buy only once
    /// admitted. Without it anyone buys at once.
    pub waiting_room: Option<WaitingRoomTerms>,
}

/// How a campaign's waiting room admits its queue.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct WaitingRoomTerms {
    /// Tickets admitted per second (1 to 10,000), in the order they were taken. Pick it below
    /// what the writer sustains beside the town's payments (README "Sale day").
    pub admits_per_s: i32,
    /// How long an admitted ticket may buy, in seconds (30 to 3,600).
    pub admitted_for_s: i32,
}

/// A premium-set campaign.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct PremiumCampaign {
    pub id: PremiumCampaignId,
    pub program_id: ProgramId,
    pub name: String,
    /// What the shopper pays for one unit.
    pub price_yen: Yen,
    /// What the city adds to one unit.
    pub premium_yen: Yen,
    pub units_per_person_max: i32,
    /// Most premium the campaign grants in all.
    pub budget_yen: Yen,
    pub sale_starts_at: DateTime<Utc>,
    pub sale_ends_at: DateTime<Utc>,
    pub premium_expires_on: Option<NaiveDate>,
    #[schema(value_type = String, format = Uuid)]
    pub created_by: Uuid,
    pub created_at: DateTime<Utc>,
    /// Sets sold so far (live sales).
    pub units_sold: i64,
    /// Whole sets the budget still covers: 0 is sold out.
    pub sets_left: i64,
    /// `first_come`, or `lottery` (see the campaign's lottery).
    pub sale_mode: String,
    /// A lottery campaign's unclaimed sets are open to everyone from this instant.
    pub first_come_from: Option<DateTime<Utc>>,
    /// The waiting room buyers go through, if the campaign has one.
    pub waiting_room: Option<WaitingRoomTerms>,
    /// Tickets its waiting room has given out.
    pub queue_tickets: i64,
}

impl From<PremiumCampaignRow> for PremiumCampaign {
    fn from(c: PremiumCampaignRow) -> Self {
        let waiting_room = c.waiting_room();
        Self {
            id: c.id,
            program_id: c.program_id,
            name: c.name,
            price_yen: Yen::new(c.price_yen),
            premium_yen: Yen::new(c.premium_yen),
            units_per_person_max: c.units_per_person_max,
            budget_yen: Yen::new(c.budget_yen),
            sale_starts_at: c.sale_starts_at,
            sale_ends_at: c.sale_ends_at,
            premium_expires_on: c.premium_expires_on,
            created_by: c.created_by,
            created_at: c.created_at,
            units_sold: c.units_sold,
            sets_left: (c.budget_yen - c.premium_granted_yen) / c.premium_yen,
            sale_mode: c.sale_mode,
            first_come_from: c.first_come_from,
            waiting_room,
            queue_tickets: c.queue_tickets,
        }
    }
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PurchaseRequest {
    pub shopper_id: ShopperId,
    pub units: i32,
    /// The shopper's admitted ticket, for a campaign with a waiting room.
    pub ticket_id: Option<QueueTicketId>,
}

/// A shopper's place in a campaign's waiting room, as of the answer.
#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
pub struct QueueTicket {
    pub id: QueueTicketId,
    pub campaign_id: PremiumCampaignId,
    pub shopper_id: ShopperId,
    /// The ticket's number in the queue (1 is the first taken).
    pub position: i64,
    /// `waiting`, `admitted` (may buy until `buy_until`) or `expired` (the window is over).
    pub state: String,
    /// Tickets ahead of this one not yet admitted.
    pub ahead: i64,
    /// When the ticket is (or was) admitted: the queue admits at a fixed rate, so this is
    /// the wait, not a guess (unless the sets run out first).
    pub admit_at: DateTime<Utc>,
    pub estimated_wait_ms: i64,
    /// Until when an admitted ticket may buy.
    pub buy_until: DateTime<Utc>,
    /// When to ask again (a polling client's pause), in milliseconds.
    pub poll_after_ms: i64,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BankChargeRequest {
    pub shopper_id: ShopperId,
    pub amount: Amount,
    /// The bank's own reference for the transfer (振込受付番号). It is the idempotency key:
    /// one reference charges once, whoever delivers it and however often.
    pub bank_reference: String,
}

#[derive(Debug, Clone, Deserialize, Serialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CashOutRequest {
    pub shopper_id: ShopperId,
    /// Paid coin handed back in cash; premium is never cashed out.
    pub amount: Amount,
    /// The approved ground (moving away, a tiny remainder ...), kept with the transaction.
    pub reason: String,
}

/// Premium reconciliation figures of a program, from postings: what the city is asked to fund.
#[derive(Debug, Clone, Default, Serialize, Deserialize, ToSchema)]
pub struct PremiumFigures {
    /// Paid yen taken for premium sets (live sales).
    pub sold_yen: Yen,
    /// Premium granted to wallets (live sales).
    pub granted_yen: Yen,
    /// Premium spent at stores (net of refunds).
    pub spent_yen: Yen,
    /// Premium that expired and went back to the subsidy account.
    pub expired_yen: Yen,
    /// Premium still held in wallets.
    pub outstanding_yen: Yen,
    /// Rebate points granted to wallets from the city's budget, net of what refunds took
    /// back (points refunds could not take back, having been spent, stay in).
    pub rebate_points_granted: Points,
    /// Rebate points that expired and went back to the city's subsidy account (not breakage).
    pub rebate_points_expired: Points,
    /// Points still held in wallets.
    pub rebate_points_outstanding: Points,
}

impl From<PremiumTotals> for PremiumFigures {
    fn from(t: PremiumTotals) -> Self {
        Self {
            sold_yen: Yen::new(t.sold_yen),
            granted_yen: Yen::new(t.granted_yen),
            spent_yen: Yen::new(t.spent_yen),
            expired_yen: Yen::new(t.expired_yen),
            outstanding_yen: Yen::new(t.outstanding_yen),
            rebate_points_granted: Points::new(t.rebate_points_granted),
            rebate_points_expired: Points::new(t.rebate_points_expired),
            rebate_points_outstanding: Points::new(t.rebate_points_outstanding),
        }
    }
}
