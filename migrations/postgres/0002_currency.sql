-- Digital regional currency: versioned program settings, premium-set campaigns and their sales.

-- Every settings change is a new row; the settings in effect on a date are the latest row whose
-- effective_from is on or before it. Rows are never changed, so the audit trail is the table.
CREATE TABLE program_settings_versions (
    id             uuid PRIMARY KEY,
    program_id     uuid NOT NULL REFERENCES programs(id),
    -- First business date (JST) the settings apply to.
    effective_from date NOT NULL,
    settings       text NOT NULL,
    changed_by     uuid NOT NULL,
    created_at     timestamptz NOT NULL
);
CREATE INDEX program_settings_versions_lookup ON program_settings_versions(program_id, effective_from, created_at);
CREATE TRIGGER program_settings_versions_immutable BEFORE UPDATE OR DELETE ON program_settings_versions
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- "Pay ¥10,000, receive ¥13,000": price_yen is the paid part of one unit, premium_yen the
-- city-funded part. budget_yen caps the premium granted over the whole campaign.
CREATE TABLE premium_campaigns (
    id                   uuid PRIMARY KEY,
    program_id           uuid NOT NULL REFERENCES programs(id),
    name                 text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price_yen            bigint NOT NULL CHECK (price_yen > 0),
    premium_yen          bigint NOT NULL CHECK (premium_yen > 0),
    units_per_person_max integer NOT NULL CHECK (units_per_person_max > 0),
    budget_yen           bigint NOT NULL CHECK (budget_yen > 0),
    sale_starts_at       timestamptz NOT NULL,
    sale_ends_at         timestamptz NOT NULL,
    -- Last JST date the premium may be spent; NULL follows the program's expiry policy.
    premium_expires_on   date,
    created_by           uuid NOT NULL,
    created_at           timestamptz NOT NULL,
    CHECK (sale_ends_at > sale_starts_at)
);
CREATE INDEX premium_campaigns_program ON premium_campaigns(program_id);

-- One row per sale, written in the same transaction as its postings. A reversed sale frees its
-- units and budget again (queries exclude sales whose transaction was reversed).
CREATE TABLE premium_purchases (
    transaction_id uuid PRIMARY KEY REFERENCES transactions(id),
    campaign_id    uuid NOT NULL REFERENCES premium_campaigns(id),
    shopper_id     uuid NOT NULL REFERENCES shoppers(id),
    units          integer NOT NULL CHECK (units > 0),
    price_yen      bigint NOT NULL CHECK (price_yen > 0),
    premium_yen    bigint NOT NULL CHECK (premium_yen > 0),
    created_at     timestamptz NOT NULL
);
CREATE INDEX premium_purchases_campaign_shopper ON premium_purchases(campaign_id, shopper_id);
CREATE TRIGGER premium_purchases_immutable BEFORE UPDATE OR DELETE ON premium_purchases
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
