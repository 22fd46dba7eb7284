//! What the point card refuses: at the till and in its reports (`PointRefusal`), and on
//! cards as objects, their import, rates and campaigns (`CardRefusal`). A program of the
//! wrong kind is `error::Common::WrongProgramKind`; codes other capabilities share (a
//! reason, a campaign's terms, an import's bad rows, spent points) are `error::Common`'s,
//! a query's or an upload's shape `http::refusals::RequestRefusal`'s.

crate::refusals! {
    /// What the till (earn, spend, returns, checkout, stock) and the point reports refuse.
    pub enum PointRefusal {
        /// An earn names a purchase above the largest that earns points (the yen limit).
        PurchaseTooLarge(i64) => Unprocessable, "purchase_too_large", "a purchase earns points up to ¥{0}";
        /// The store's prepaid stock does not cover the points it would issue (what it holds).
        PointStockInsufficient(i64) => Unprocessable, "point_stock_insufficient", "the store's prepaid point stock holds {0} points";
        /// The card does not hold the points to spend (what it holds).
        InsufficientPoints(i64) => Unprocessable, "insufficient_points", "the card holds {0} points";
        /// Returns add up to more than the original (what is left to return).
        ReturnExceedsOriginal(i64) => Unprocessable, "return_exceeds_original", "at most {0} more can be returned against this transaction";
        /// A combined checkout with a card no shopper is linked to.
        CardNotLinked => Unprocessable, "card_not_linked", "a combined checkout needs a card linked to a shopper";
    }
}

crate::refusals! {
    /// What cards as objects refuse: the till's card checks, the QR image, import, link,
    /// block, replacement, store rates and campaigns.
    pub enum CardRefusal {
        /// No card with this number in the program.
        UnknownCard => NotFound, "unknown_card", "no such card in this program";
        /// The card is blocked (lost or stolen).
        Blocked => Unprocessable, "card_blocked", "this card is blocked";
        /// The QR image of a blocked card.
        BlockedNotShown => Unprocessable, "card_blocked", "only an active card is shown for scanning";
        /// Another writer of cards created this number between the check and the write (line).
        ImportConflict(u64) => Conflict, "import_conflict", "line {0}: a card with this number was created meanwhile; send the file again";
        /// The card is linked to another shopper.
        LinkedElsewhere => Conflict, "card_linked_elsewhere", "this card is linked to another account";
        /// A store earn rate outside 0 to 1.
        InvalidRate => BadRequest, "invalid_rate", "earn_rate must be between 0 and 1";
    }
}

// The texts of `card_replaced`, declared once in `error::Common` (a reversal in payments meets it
// too, with its own text).
/// A `card_replaced` text (`Common::CardReplaced`).
pub const CARD_REPLACED: &str = "this card was replaced; use the new card";
/// A `card_replaced` text (`Common::CardReplaced`).
pub const CARD_REPLACED_NOT_SHOWN: &str = "only an active card is shown for scanning";
/// A `card_replaced` text (`Common::CardReplaced`).
pub const CARD_REPLACED_NOT_BLOCKED: &str = "this card was replaced";
/// A `card_replaced` text (`Common::CardReplaced`).
pub const CARD_ALREADY_REPLACED: &str = "this card was already replaced";

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn refusals_keep_their_codes_statuses_and_messages() {
        let (status, body) =
            AppError::from(crate::error::Common::CardPointsAlreadySpent(5, 3)).status_and_body();
        assert_eq!(status, 422);
        assert_eq!(body.error.code, "points_already_spent");
        assert_eq!(
            body.error.message,
            "the return takes back 5 points but the card holds 3"
        );
        let (status, body) = AppError::from(CardRefusal::UnknownCard).status_and_body();
        assert_eq!((status, body.error.code.as_str()), (404, "unknown_card"));
        let (status, _) = AppError::from(CardRefusal::Blocked).status_and_body();
        assert_eq!(status, 422);
    }
}
