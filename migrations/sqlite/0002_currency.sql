-- Digital regional currency: versioned program settings, premium-set campaigns and their sales.
-- The PostgreSQL twin is ../postgres/0002_currency.sql; comments on constraints live there.

CREATE TABLE program_settings_versions (
    id             BLOB PRIMARY KEY,
    program_id     BLOB NOT NULL REFERENCES programs(id),
    effective_from TEXT NOT NULL,
    settings       TEXT NOT NULL,
    changed_by     BLOB NOT NULL,
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX program_settings_versions_lookup ON program_settings_versions(program_id, effective_from, created_at);
CREATE TRIGGER program_settings_versions_immutable_u BEFORE UPDATE ON program_settings_versions BEGIN SELECT RAISE(ABORT, 'rows of program_settings_versions are immutable'); END;
CREATE TRIGGER program_settings_versions_immutable_d BEFORE DELETE ON program_settings_versions BEGIN SELECT RAISE(ABORT, 'rows of program_settings_versions are immutable'); END;

CREATE TABLE premium_campaigns (
    id                   BLOB PRIMARY KEY,
    program_id           BLOB NOT NULL REFERENCES programs(id),
    name                 TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    price_yen            INTEGER NOT NULL CHECK (price_yen > 0),
    premium_yen          INTEGER NOT NULL CHECK (premium_yen > 0),
    units_per_person_max INTEGER NOT NULL CHECK (units_per_person_max > 0),
    budget_yen           INTEGER NOT NULL CHECK (budget_yen > 0),
    sale_starts_at       TEXT NOT NULL,
    sale_ends_at         TEXT NOT NULL,
    premium_expires_on   TEXT,
    created_by           BLOB NOT NULL,
    created_at           TEXT NOT NULL,
    CHECK (sale_ends_at > sale_starts_at)
) STRICT;
CREATE INDEX premium_campaigns_program ON premium_campaigns(program_id);

CREATE TABLE premium_purchases (
    transaction_id BLOB PRIMARY KEY REFERENCES transactions(id),
    campaign_id    BLOB NOT NULL REFERENCES premium_campaigns(id),
    shopper_id     BLOB NOT NULL REFERENCES shoppers(id),
    units          INTEGER NOT NULL CHECK (units > 0),
    price_yen      INTEGER NOT NULL CHECK (price_yen > 0),
    premium_yen    INTEGER NOT NULL CHECK (premium_yen > 0),
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX premium_purchases_campaign_shopper ON premium_purchases(campaign_id, shopper_id);
CREATE TRIGGER premium_purchases_immutable_u BEFORE UPDATE ON premium_purchases BEGIN SELECT RAISE(ABORT, 'rows of premium_purchases are immutable'); END;
CREATE TRIGGER premium_purchases_immutable_d BEFORE DELETE ON premium_purchases BEGIN SELECT RAISE(ABORT, 'rows of premium_purchases are immutable'); END;
