-- Rebate campaigns (points back on payments), store refunds, and store categories.

-- The category a store belongs to for rebate tiers (e.g. 'member', 'non_member',
-- 'convenience', 'large'); NULL means no tier applies.
ALTER TABLE merchants ADD COLUMN category text CHECK (length(category) BETWEEN 1 AND 40);

-- tiers is JSON: [{"category": "member", "rate": "0.2"}, ...]; rates are decimals 0..1.
CREATE TABLE rebate_campaigns (
    id                 uuid PRIMARY KEY,
    program_id         uuid NOT NULL REFERENCES programs(id),
    name               text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    tiers              text NOT NULL,
    monthly_cap_points bigint NOT NULL CHECK (monthly_cap_points > 0),
    budget_points      bigint NOT NULL CHECK (budget_points > 0),
    starts_at          timestamptz NOT NULL,
    ends_at            timestamptz NOT NULL,
    -- 'immediate': points posted with the payment; 'batch': accrued, granted on grant_on.
    grant_mode         text NOT NULL CHECK (grant_mode IN ('immediate', 'batch')),
    grant_on           date,
    -- Last JST date granted points may be spent; NULL never.
    points_expire_on   date,
    created_by         uuid NOT NULL,
    created_at         timestamptz NOT NULL,
    CHECK (ends_at > starts_at),
    CHECK ((grant_mode = 'batch') = (grant_on IS NOT NULL))
);
CREATE INDEX rebate_campaigns_program ON rebate_campaigns(program_id);

-- One row per payment a campaign rebates. clawed_back_points grows as the payment is
-- refunded; granted_transaction_id is set when a batch grant posts it (immediate rebates
-- are posted by the payment's own transaction).
CREATE TABLE rebate_accruals (
    campaign_id            uuid NOT NULL REFERENCES rebate_campaigns(id),
    payment_transaction_id uuid NOT NULL REFERENCES transactions(id),
    shopper_id             uuid NOT NULL REFERENCES shoppers(id),
    month                  text NOT NULL CHECK (length(month) = 7),
    base_yen               bigint NOT NULL CHECK (base_yen > 0),
    points                 bigint NOT NULL CHECK (points > 0),
    clawed_back_points     bigint NOT NULL DEFAULT 0 CHECK (clawed_back_points >= 0 AND clawed_back_points <= points),
    granted_transaction_id uuid REFERENCES transactions(id),
    created_at             timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, payment_transaction_id)
);
CREATE INDEX rebate_accruals_shopper_month ON rebate_accruals(campaign_id, shopper_id, month);
CREATE INDEX rebate_accruals_payment ON rebate_accruals(payment_transaction_id);

-- Store refunds of a payment; their sum never exceeds what was paid (checked in the writer).
CREATE TABLE refunds (
    transaction_id         uuid PRIMARY KEY REFERENCES transactions(id),
    payment_transaction_id uuid NOT NULL REFERENCES transactions(id),
    merchant_id            uuid NOT NULL REFERENCES merchants(id),
    amount                 bigint NOT NULL CHECK (amount > 0),
    -- Rebate points that could not be taken back because the shopper had spent them.
    shortfall_points       bigint NOT NULL DEFAULT 0 CHECK (shortfall_points >= 0),
    reason                 text NOT NULL CHECK (length(reason) BETWEEN 1 AND 200),
    created_at             timestamptz NOT NULL
);
CREATE INDEX refunds_payment ON refunds(payment_transaction_id);
CREATE TRIGGER refunds_immutable BEFORE UPDATE OR DELETE ON refunds
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
