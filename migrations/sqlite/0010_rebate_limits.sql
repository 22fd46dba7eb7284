-- Rebate cap and budget against spent refunds; one claw-back rounding rule.
-- Comments: ../postgres/0010_rebate_limits.sql. SQLite cannot add a table constraint, so the
-- "settled within points" check rides on the new column (SQLite column checks may name
-- other columns).

ALTER TABLE rebate_accruals ADD COLUMN shortfall_points INTEGER NOT NULL DEFAULT 0
    CHECK (shortfall_points >= 0 AND clawed_back_points + shortfall_points <= points);
ALTER TABLE rebate_accruals ADD COLUMN rate TEXT;

CREATE TABLE point_earn_rates (
    transaction_id BLOB PRIMARY KEY REFERENCES point_movements(transaction_id),
    rate           TEXT NOT NULL CHECK (length(rate) BETWEEN 1 AND 40)
) STRICT;
CREATE TRIGGER point_earn_rates_immutable_u BEFORE UPDATE ON point_earn_rates BEGIN SELECT RAISE(ABORT, 'rows of point_earn_rates are immutable'); END;
CREATE TRIGGER point_earn_rates_immutable_d BEFORE DELETE ON point_earn_rates BEGIN SELECT RAISE(ABORT, 'rows of point_earn_rates are immutable'); END;
