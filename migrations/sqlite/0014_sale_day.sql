-- Sale day: a sold counter on every premium-set campaign, and lottery sales (抽選販売).
-- Comments: ../postgres/0014_sale_day.sql. SQLite cannot add a table constraint, so the
-- budget check rides on the new column (SQLite column checks may name other columns).

ALTER TABLE premium_campaigns ADD COLUMN units_sold INTEGER NOT NULL DEFAULT 0
    CHECK (units_sold >= 0);
ALTER TABLE premium_campaigns ADD COLUMN premium_granted_yen INTEGER NOT NULL DEFAULT 0
    CHECK (premium_granted_yen >= 0 AND premium_granted_yen <= budget_yen);
UPDATE premium_campaigns SET
    units_sold = (SELECT coalesce(sum(p.units), 0) FROM premium_purchases p
                  WHERE p.campaign_id = premium_campaigns.id
                  AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id)),
    premium_granted_yen = (SELECT coalesce(sum(p.premium_yen), 0) FROM premium_purchases p
                  WHERE p.campaign_id = premium_campaigns.id
                  AND NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id));

CREATE TRIGGER transactions_premium_sale_reversed AFTER INSERT ON transactions
    WHEN NEW.reverses_id IS NOT NULL
BEGIN
    UPDATE premium_campaigns SET
        units_sold = units_sold - (SELECT p.units FROM premium_purchases p WHERE p.transaction_id = NEW.reverses_id),
        premium_granted_yen = premium_granted_yen - (SELECT p.premium_yen FROM premium_purchases p WHERE p.transaction_id = NEW.reverses_id)
    WHERE id = (SELECT p.campaign_id FROM premium_purchases p WHERE p.transaction_id = NEW.reverses_id);
END;

ALTER TABLE premium_campaigns ADD COLUMN sale_mode TEXT NOT NULL DEFAULT 'first_come'
    CHECK (sale_mode IN ('first_come', 'lottery'));
ALTER TABLE premium_campaigns ADD COLUMN first_come_from TEXT;

CREATE TABLE premium_entitlements (
    campaign_id BLOB NOT NULL REFERENCES premium_campaigns(id),
    shopper_id  BLOB NOT NULL REFERENCES shoppers(id),
    units       INTEGER NOT NULL CHECK (units > 0),
    buy_from    TEXT NOT NULL,
    buy_until   TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    PRIMARY KEY (campaign_id, shopper_id),
    CHECK (buy_until > buy_from)
) STRICT;
CREATE TRIGGER premium_entitlements_immutable_u BEFORE UPDATE ON premium_entitlements BEGIN SELECT RAISE(ABORT, 'rows of premium_entitlements are immutable'); END;
CREATE TRIGGER premium_entitlements_immutable_d BEFORE DELETE ON premium_entitlements BEGIN SELECT RAISE(ABORT, 'rows of premium_entitlements are immutable'); END;

CREATE TABLE resident_verifications (
    shopper_id  BLOB PRIMARY KEY REFERENCES shoppers(id),
    verified_on TEXT NOT NULL,
    method      TEXT NOT NULL CHECK (length(method) BETWEEN 1 AND 100),
    verified_by BLOB NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE lotteries (
    campaign_id           BLOB PRIMARY KEY REFERENCES premium_campaigns(id),
    applications_open_at  TEXT NOT NULL,
    applications_close_at TEXT NOT NULL,
    winners_buy_until     TEXT NOT NULL,
    residents_only        INTEGER NOT NULL CHECK (residents_only IN (0, 1)),
    unclaimed             TEXT NOT NULL CHECK (unclaimed IN ('second_draw', 'first_come')),
    seed_hash             TEXT NOT NULL CHECK (length(seed_hash) = 64),
    created_by            BLOB NOT NULL,
    created_at            TEXT NOT NULL,
    CHECK (applications_close_at > applications_open_at)
) STRICT;
CREATE TRIGGER lotteries_immutable_u BEFORE UPDATE ON lotteries BEGIN SELECT RAISE(ABORT, 'rows of lotteries are immutable'); END;
CREATE TRIGGER lotteries_immutable_d BEFORE DELETE ON lotteries BEGIN SELECT RAISE(ABORT, 'rows of lotteries are immutable'); END;

CREATE TABLE lottery_applications (
    campaign_id BLOB NOT NULL REFERENCES lotteries(campaign_id),
    shopper_id  BLOB NOT NULL REFERENCES shoppers(id),
    units       INTEGER NOT NULL CHECK (units > 0),
    created_at  TEXT NOT NULL,
    PRIMARY KEY (campaign_id, shopper_id)
) STRICT;
CREATE TRIGGER lottery_applications_immutable_u BEFORE UPDATE ON lottery_applications BEGIN SELECT RAISE(ABORT, 'rows of lottery_applications are immutable'); END;
CREATE TRIGGER lottery_applications_immutable_d BEFORE DELETE ON lottery_applications BEGIN SELECT RAISE(ABORT, 'rows of lottery_applications are immutable'); END;

CREATE TABLE lottery_draws (
    campaign_id  BLOB NOT NULL REFERENCES lotteries(campaign_id),
    round        INTEGER NOT NULL CHECK (round IN (1, 2)),
    seed         TEXT NOT NULL,
    budget_units INTEGER NOT NULL CHECK (budget_units >= 0),
    drawn_by     BLOB NOT NULL,
    drawn_at     TEXT NOT NULL,
    PRIMARY KEY (campaign_id, round)
) STRICT;
CREATE TRIGGER lottery_draws_immutable_u BEFORE UPDATE ON lottery_draws BEGIN SELECT RAISE(ABORT, 'rows of lottery_draws are immutable'); END;
CREATE TRIGGER lottery_draws_immutable_d BEFORE DELETE ON lottery_draws BEGIN SELECT RAISE(ABORT, 'rows of lottery_draws are immutable'); END;

CREATE TABLE lottery_winners (
    campaign_id BLOB NOT NULL,
    shopper_id  BLOB NOT NULL,
    round       INTEGER NOT NULL,
    units       INTEGER NOT NULL CHECK (units > 0),
    PRIMARY KEY (campaign_id, shopper_id),
    FOREIGN KEY (campaign_id, shopper_id) REFERENCES lottery_applications(campaign_id, shopper_id),
    FOREIGN KEY (campaign_id, round) REFERENCES lottery_draws(campaign_id, round)
) STRICT;
CREATE TRIGGER lottery_winners_immutable_u BEFORE UPDATE ON lottery_winners BEGIN SELECT RAISE(ABORT, 'rows of lottery_winners are immutable'); END;
CREATE TRIGGER lottery_winners_immutable_d BEFORE DELETE ON lottery_winners BEGIN SELECT RAISE(ABORT, 'rows of lottery_winners are immutable'); END;
