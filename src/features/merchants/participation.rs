//! The one participation check every payment path makes: a store whose latest event in the
//! program is `suspended` or `left` takes no payments. A store with no history in the program
//! is allowed (stores registered before the registry existed have none).

use crate::error::AppError;
use crate::features::merchants::MerchantRefusal;
use crate::features::merchants::store::participation_tx;
use crate::writer::WriteTx;
use machipay_domain::ids::{MerchantId, ProgramId};

/// Refuses with `merchant_not_participating` unless the store may take payments in the
/// program. One read at most per store and program: the writer remembers the answer.
pub(crate) async fn ensure_participating(
    tx: &mut WriteTx,
    program: ProgramId,
    merchant: MerchantId,
) -> Result<(), AppError> {
    match participation_tx(tx, program, merchant).await? {
        Some(kind) if !kind.takes_payments() => {
            Err(MerchantRefusal::NotParticipating(kind.as_str()).into())
        }
        _ => Ok(()),
    }
}
