-- Rebate campaigns, store refunds, and store categories. Comments: ../postgres/0004_rebates_refunds.sql.

ALTER TABLE merchants ADD COLUMN category TEXT CHECK (length(category) BETWEEN 1 AND 40);

CREATE TABLE rebate_campaigns (
    id                 BLOB PRIMARY KEY,
    program_id         BLOB NOT NULL REFERENCES programs(id),
    name               TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tiers              TEXT NOT NULL,
    monthly_cap_points INTEGER NOT NULL CHECK (monthly_cap_points > 0),
    budget_points      INTEGER NOT NULL CHECK (budget_points > 0),
    starts_at          TEXT NOT NULL,
    ends_at            TEXT NOT NULL,
    grant_mode         TEXT NOT NULL CHECK (grant_mode IN ('immediate', 'batch')),
    grant_on           TEXT,
    points_expire_on   TEXT,
    created_by         BLOB NOT NULL,
    created_at         TEXT NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK ((grant_mode = 'batch') = (grant_on IS NOT NULL))
) STRICT;
CREATE INDEX rebate_campaigns_program ON rebate_campaigns(program_id);

CREATE TABLE rebate_accruals (
    campaign_id            BLOB NOT NULL REFERENCES rebate_campaigns(id),
    payment_transaction_id BLOB NOT NULL REFERENCES transactions(id),
    shopper_id             BLOB NOT NULL REFERENCES shoppers(id),
    month                  TEXT NOT NULL CHECK (length(month) = 7),
    base_yen               INTEGER NOT NULL CHECK (base_yen > 0),
    points                 INTEGER NOT NULL CHECK (points > 0),
    clawed_back_points     INTEGER NOT NULL DEFAULT 0 CHECK (clawed_back_points >= 0 AND clawed_back_points <= points),
    granted_transaction_id BLOB REFERENCES transactions(id),
    created_at             TEXT NOT NULL,
    PRIMARY KEY (campaign_id, payment_transaction_id)
) STRICT;
CREATE INDEX rebate_accruals_shopper_month ON rebate_accruals(campaign_id, shopper_id, month);
CREATE INDEX rebate_accruals_payment ON rebate_accruals(payment_transaction_id);

CREATE TABLE refunds (
    transaction_id         BLOB PRIMARY KEY REFERENCES transactions(id),
    payment_transaction_id BLOB NOT NULL REFERENCES transactions(id),
    merchant_id            BLOB NOT NULL REFERENCES merchants(id),
    amount                 INTEGER NOT NULL CHECK (amount > 0),
    shortfall_points       INTEGER NOT NULL DEFAULT 0 CHECK (shortfall_points >= 0),
    reason                 TEXT NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    created_at             TEXT NOT NULL
) STRICT;
CREATE INDEX refunds_payment ON refunds(payment_transaction_id);
CREATE TRIGGER refunds_immutable_u BEFORE UPDATE ON refunds BEGIN SELECT RAISE(ABORT, 'rows of refunds are immutable'); END;
CREATE TRIGGER refunds_immutable_d BEFORE DELETE ON refunds BEGIN SELECT RAISE(ABORT, 'rows of refunds are immutable'); END;
