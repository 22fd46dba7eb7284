//! What money movements refuse: charges, payments, transfers, reversals and the ways back
//! (`returns`). Codes are stable; the web app translates them.

use machipay_domain::ids::TransactionId;

crate::refusals! {
    /// What a charge, payment, transfer, reversal or store refund refuses.
    pub enum PaymentRefusal {
        /// The program's rules refuse the charged amount (minimum, step, maximum).
        InvalidChargeAmount(String) => Unprocessable, "invalid_charge_amount", "{0}";
        /// Coin plus premium would exceed the program's holding cap (the cap in yen).
        HoldingCapExceeded(i64) => Unprocessable, "holding_cap_exceeded", "the wallet may hold at most ¥{0}";
        /// A transfer would take the recipient over the holding cap.
        RecipientHoldingCapExceeded => Unprocessable, "holding_cap_exceeded", "the recipient's wallet would exceed its holding cap";
        /// The program's fixed expiry date has passed: it issues nothing any more.
        ProgramExpired => Unprocessable, "program_expired", "this program's balances expired; it no longer issues";
        TransfersDisabled => Unprocessable, "transfers_disabled", "this program does not allow transfers between shoppers";
        SameWallet => Unprocessable, "same_wallet", "a transfer needs two different shoppers";
        IsAReversal => Conflict, "is_a_reversal", "a reversal cannot itself be reversed; post a new transaction";
        AlreadyReversed => Conflict, "already_reversed", "this transaction has already been reversed";
        /// A point-card return of a movement an operator's reversal already undid.
        ReturnOfReversed => Conflict, "already_reversed", "this transaction has been reversed";
        /// A store refund of a payment that was reversed.
        RefundOfReversed => Conflict, "already_reversed", "this payment was reversed";
        /// The kind is never reversed; the text says what to do instead.
        NotReversible(&'static str) => Conflict, "not_reversible", "{0}";
        /// Part of the original came back another way; the text says how the rest goes back.
        PartiallyReturned(&'static str) => Conflict, "partially_returned", "part of this transaction has already come back, so it cannot be reversed whole; {0}";
        /// The payment's batch rebate was granted (by this transaction) and not reversed.
        RebateGranted(TransactionId) => Conflict, "rebate_granted", "this payment's rebate was granted by {0}; reverse that grant first";
        /// The program's refund window in days.
        RefundWindowClosed(i64) => Unprocessable, "refund_window_closed", "refunds are accepted for {0} days after a payment";
        /// Yen of the payment that can still be refunded.
        RefundExceedsPayment(i64) => Unprocessable, "refund_exceeds_payment", "at most ¥{0} of this payment can still be refunded";
        /// A refund or return names something that is itself a way back.
        NotRefundable => Conflict, "not_refundable", "a refund, return or reversal cannot itself be refunded or returned; name the original";
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::AppError;

    #[test]
    fn refusals_keep_their_codes_statuses_and_texts() {
        let e: AppError = PaymentRefusal::HoldingCapExceeded(100_000).into();
        let (status, body) = e.status_and_body();
        assert_eq!(status, 422);
        assert_eq!(body.error.code, "holding_cap_exceeded");
        assert_eq!(body.error.message, "the wallet may hold at most ¥100000");
        let e: AppError = crate::error::Common::InvalidReason.into();
        assert_eq!(e.status_and_body().0, 400);
        let e: AppError = PaymentRefusal::AlreadyReversed.into();
        assert_eq!(e.status_and_body().0, 409);
        let e: AppError = PaymentRefusal::PartiallyReturned("refund it").into();
        assert_eq!(
            e.status_and_body().1.error.message,
            "part of this transaction has already come back, so it cannot be reversed whole; \
             refund it"
        );
        let text = crate::error::Common::CardReplaced(
            crate::features::payments::returns::CARD_REPLACED_SINCE,
        )
        .to_string();
        assert!(text.contains("new card, so return the purchase"), "{text}");
    }
}
