//! Transaction kinds that more than one capability recognises (a reversal refuses some, the
//! reports count others), named once here instead of in the capability that posts them.

/// A store refund of a payment (payments).
pub const REFUND_KIND: &str = "refund";
/// A batch rebate grant (rebates).
pub const REBATE_GRANT_KIND: &str = "rebate_grant";
/// Points earned at a store (points).
pub const EARN_KIND: &str = "point_earn";
/// Points spent at a store (points).
pub const SPEND_KIND: &str = "point_spend";
/// Earned points taken back when the purchase is returned (points).
pub const EARN_RETURN_KIND: &str = "point_earn_return";
/// Spent points given back when the purchase is returned (points).
pub const SPEND_REFUND_KIND: &str = "point_spend_refund";
/// A store buying the points it awards (points).
pub const STOCK_KIND: &str = "point_stock_purchase";
/// A paper card's balance imported onto its point card (points).
pub const IMPORT_KIND: &str = "card_import";
/// A card's balance moved to the card that replaced it (points).
pub const REPLACEMENT_KIND: &str = "card_replacement";
/// An expiry of lots past their date (expiry).
pub const EXPIRY_KIND: &str = "expiry";
/// A settlement payout to a store; never itself settled (settlement).
pub const PAYOUT_KIND: &str = "settlement_payout";
