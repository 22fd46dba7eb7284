-- Rebate campaigns hold their cap and budget against refunds whose points were already
-- spent, and claw-backs round by one rule (issue 13).

-- Rebate points a refund was due to take back but could not, because the shopper had spent
-- them (clawback_shortfall = take_remaining). Unlike clawed_back_points they stay counted
-- against the monthly cap and the budget: the city paid them out and never got them back.
ALTER TABLE rebate_accruals ADD COLUMN shortfall_points bigint NOT NULL DEFAULT 0
    CHECK (shortfall_points >= 0);
-- What a payment's refunds settled (taken back or recorded as short) never exceeds what it earned.
ALTER TABLE rebate_accruals ADD CONSTRAINT rebate_accruals_settled_within_points
    CHECK (clawed_back_points + shortfall_points <= points);
-- The tier rate the accrual earned at (decimal text, e.g. '0.2'), so a claw-back leaves the
-- shopper floor(rate × net paid). NULL for accruals from before this migration: those fall
-- back to the proportional share (see domain::money::points_kept).
ALTER TABLE rebate_accruals ADD COLUMN rate text;

-- The effective earn rate (store rate × campaign multiplier, decimal text) of each point card
-- earn, for the same claw-back rule on returns. Earns from before this migration have no row
-- and fall back to the proportional share. Written once with the earn, never changed.
CREATE TABLE point_earn_rates (
    transaction_id uuid PRIMARY KEY REFERENCES point_movements(transaction_id),
    rate           text NOT NULL CHECK (length(rate) BETWEEN 1 AND 40)
);
CREATE TRIGGER point_earn_rates_immutable BEFORE UPDATE OR DELETE ON point_earn_rates
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
