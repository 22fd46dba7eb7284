//! Typed identifiers: UUIDv7 newtypes so no bare Uuid crosses a layer and ids sort by time.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($($name:ident),* $(,)?) => {$(
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize, utoipa::ToSchema)]
        #[serde(transparent)]
        #[schema(value_type = String, format = Uuid)]
        pub struct $name(pub Uuid);

        impl $name {
            /// A new time-ordered id.
            pub fn new() -> Self {
                Self(Uuid::now_v7())
            }
        }

        impl Default for $name {
            fn default() -> Self {
                Self::new()
            }
        }

        impl From<Uuid> for $name {
            fn from(id: Uuid) -> Self {
                Self(id)
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                self.0.fmt(f)
            }
        }
    )*};
}

id_type!(
    CityId,
    ProgramId,
    StaffId,
    MerchantId,
    DeviceId,
    ShopperId,
    TokenId,
    AccountId,
    TransactionId,
    LotId,
);

// The merchant registry and settlement.
id_type!(ApplicationId, SettlementRunId, StatementId);
// Point cards (a card's balance is a wallet account owned by the card id).
id_type!(CardId);
// QR: a store's static codes and a cashier's dynamic payment requests.
id_type!(StoreCodeId, PaymentRequestId);
// Point card campaigns (multipliers).
id_type!(PointCampaignId);
// Campaigns: premium-set sales and rebates.
id_type!(PremiumCampaignId, RebateCampaignId);
// A place in a premium sale's waiting room.
id_type!(QueueTicketId);
// The merchant registry: a store's participation events.
id_type!(ParticipationEventId);
