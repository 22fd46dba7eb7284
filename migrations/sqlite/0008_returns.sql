-- Returns never give back more than their original moved (README: "Reversals, refunds and
-- returns"). Reversing a rebate grant is refused once its payment has been refunded (the
-- refund took part of the rebate back), and ledger-check follows each batch grant back to
-- its payment: both look accruals up by the grant they were paid by. The twin in the other
-- migrations directory is the same index.
CREATE INDEX rebate_accruals_granted ON rebate_accruals(granted_transaction_id)
    WHERE granted_transaction_id IS NOT NULL;
