//! Writing one balanced entry: the transaction row, its postings, the balance caches and the
//! lots of shopper wallets. Every money movement in machipay ends here.

use chrono::NaiveDate;
use uuid::Uuid;

use crate::error::AppError;
use crate::writer::Work;
use crate::writer::rows::{self as store, Account, NewTransaction};
use machipay_domain::ids::{LotId, ProgramId, TransactionId};
use machipay_domain::ledger::{AccountKind, Asset, Entry, Leg};

/// How a posting treats the lots of the shopper wallets it touches.
#[derive(Debug, Clone, Copy)]
pub enum Lots {
    /// Credits open a new lot expiring as `CreditExpiry` says for its asset; debits consume
    /// open lots earliest-expiry-first.
    Normal(CreditExpiry),
    /// Undo the lot effects of the given transaction: give back what it consumed, take back
    /// what it opened.
    Reverse(TransactionId),
    /// Move lots as they are: the debits consume open lots earliest-expiry-first, and the
    /// credits open them again, piece by piece, each with the expiry date it had. A card
    /// replacement moves its balance this way, so every grant keeps its own date.
    Carry,
}

/// The last spendable date of lots a posting opens, per asset (None: never).
#[derive(Debug, Clone, Copy, Default)]
pub struct CreditExpiry {
    pub coin: Option<NaiveDate>,
    pub premium: Option<NaiveDate>,
    pub points: Option<NaiveDate>,
}

impl CreditExpiry {
    pub const NEVER: CreditExpiry = CreditExpiry {
        coin: None,
        premium: None,
        points: None,
    };

    fn for_asset(&self, asset: Asset) -> Option<NaiveDate> {
        match asset {
            Asset::Coin => self.coin,
            Asset::Premium => self.premium,
            Asset::Points => self.points,
        }
    }
}

pub struct Posting<'a> {
    pub program: ProgramId,
    pub kind: &'a str,
    pub initiated_by: Uuid,
    pub memo: Option<&'a str>,
    pub reverses: Option<TransactionId>,
    pub lots: Lots,
}

/// Writes `entry`. `accounts` must hold every account the entry names. Fails with
/// `insufficient_funds` if a guarded account would go negative; the writer then rolls the
/// job back to its savepoint, so nothing of it remains.
pub async fn post(
    work: &mut Work,
    p: &Posting<'_>,
    entry: &Entry,
    accounts: &[&Account],
) -> Result<TransactionId, AppError> {
    let id = TransactionId::new();
    let row = NewTransaction {
        id,
        program: p.program,
        kind: p.kind,
        reverses: p.reverses,
        initiated_by: p.initiated_by,
        memo: p.memo,
        created_at: work.now,
    };
    let mut legs = Vec::with_capacity(entry.legs().len());
    for leg in entry.legs() {
        let account = accounts
            .iter()
            .find(|a| a.id == leg.account)
            .ok_or_else(|| {
                AppError::Internal("posting names an account the caller did not load".into())
            })?;
        if account.program_id != p.program || account.asset != leg.asset {
            return Err(AppError::Internal("leg does not match its account".into()));
        }
        legs.push((leg, *account));
    }
    // The transaction and all its postings in one go, then the balances and lots.
    store::insert_entry(&mut work.tx, &row, &legs).await?;
    // Carried lots are known only once the debits have consumed them: debits first.
    if matches!(p.lots, Lots::Carry) {
        legs.sort_by_key(|(leg, _)| leg.amount > 0);
    }
    let mut carried = Vec::new();
    for (leg, account) in legs {
        apply_leg(work, id, p.lots, account, leg, &mut carried).await?;
    }
    Ok(id)
}

/// A piece of a lot a `Lots::Carry` posting took out, to open again on the credited side.
struct Carried {
    asset: Asset,
    amount: i64,
    expires_on: Option<NaiveDate>,
}

async fn apply_leg(
    work: &mut Work,
    id: TransactionId,
    lots: Lots,
    account: &Account,
    leg: &Leg,
    carried: &mut Vec<Carried>,
) -> Result<(), AppError> {
    if account.allow_negative {
        return work.defer(account.id, leg.amount);
    }
    if !store::apply_guarded(&mut work.tx, account.id, leg.amount).await? {
        return Err(AppError::insufficient_funds());
    }
    if account.kind != AccountKind::ShopperWallet {
        return Ok(());
    }
    match (lots, leg.amount > 0) {
        (Lots::Normal(expiry), true) => {
            let expires_on = expiry.for_asset(leg.asset);
            store::insert_lot(
                &mut work.tx,
                account.id,
                id,
                leg.amount,
                expires_on,
                work.now,
            )
            .await?;
            Ok(())
        }
        (Lots::Normal(_), false) => {
            consume(work, id, account, -leg.amount, &[]).await?;
            Ok(())
        }
        (Lots::Carry, false) => {
            for (amount, expires_on) in consume(work, id, account, -leg.amount, &[]).await? {
                // Lots consumed in spending order: pieces of one date are neighbours.
                match carried.last_mut() {
                    Some(last) if last.asset == leg.asset && last.expires_on == expires_on => {
                        last.amount += amount
                    }
                    _ => carried.push(Carried {
                        asset: leg.asset,
                        amount,
                        expires_on,
                    }),
                }
            }
            Ok(())
        }
        (Lots::Carry, true) => reopen(work, id, account, leg, carried).await,
        (Lots::Reverse(original), true) => restore(work, id, account, original, leg.amount).await,
        (Lots::Reverse(original), false) => {
            let preferred: Vec<_> = store::lots_opened_by(&mut work.tx, original)
                .await?
                .into_iter()
                .filter(|l| l.account_id == account.id)
                .map(|l| l.id)
                .collect();
            consume(work, id, account, -leg.amount, &preferred).await?;
            Ok(())
        }
    }
}

/// Opens on `account` lots worth the credit `leg`, out of what the posting's debits carried,
/// each with the expiry it had.
async fn reopen(
    work: &mut Work,
    id: TransactionId,
    account: &Account,
    leg: &Leg,
    carried: &mut [Carried],
) -> Result<(), AppError> {
    let mut left = leg.amount;
    for piece in carried
        .iter_mut()
        .filter(|c| c.asset == leg.asset && c.amount > 0)
    {
        if left == 0 {
            break;
        }
        let take = left.min(piece.amount);
        store::insert_lot(
            &mut work.tx,
            account.id,
            id,
            take,
            piece.expires_on,
            work.now,
        )
        .await?;
        piece.amount -= take;
        left -= take;
    }
    if left != 0 {
        return Err(AppError::Internal(
            "a carried credit is larger than what its debits took out of lots".into(),
        ));
    }
    Ok(())
}

/// Takes `amount` out of the account's open lots: `preferred` lots first, then
/// earliest-expiry-first. Returns what it took, lot by lot, with each lot's expiry.
async fn consume(
    work: &mut Work,
    id: TransactionId,
    account: &Account,
    amount: i64,
    preferred: &[LotId],
) -> Result<Vec<(i64, Option<NaiveDate>)>, AppError> {
    let mut open = store::open_lots(&mut work.tx, account.id).await?;
    open.sort_by_key(|l| !preferred.contains(&l.id)); // stable: keeps spending order within each group
    let mut left = amount;
    let mut taken = Vec::new();
    for lot in open {
        if left == 0 {
            break;
        }
        let take = left.min(lot.remaining);
        store::move_lot(&mut work.tx, id, lot.id, account.id, -take);
        taken.push((take, lot.expires_on));
        left -= take;
    }
    if left != 0 {
        return Err(AppError::Internal(format!(
            "wallet {} holds less in lots than its balance",
            account.id
        )));
    }
    Ok(taken)
}

/// Gives back to each lot what `original` took from it on this account.
async fn restore(
    work: &mut Work,
    id: TransactionId,
    account: &Account,
    original: TransactionId,
    amount: i64,
) -> Result<(), AppError> {
    let movements = store::lot_movements_of(&mut work.tx, original).await?;
    let mut restored = 0i64;
    for (lot, lot_account, delta) in movements {
        if delta < 0 && lot_account == account.id {
            store::move_lot(&mut work.tx, id, lot, account.id, -delta);
            restored += -delta;
        }
    }
    if restored != amount {
        return Err(AppError::Internal(
            "reversal does not match the lots it restores".into(),
        ));
    }
    Ok(())
}
