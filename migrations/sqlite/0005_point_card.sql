-- Point cards, store earn rates, campaign multipliers, card movements. Comments: ../postgres/0005_point_card.sql.

CREATE TABLE point_cards (
    id               BLOB PRIMARY KEY,
    program_id       BLOB NOT NULL REFERENCES programs(id),
    number           TEXT NOT NULL CHECK (length(number) = 16),
    shopper_id       BLOB REFERENCES shoppers(id),
    status           TEXT NOT NULL CHECK (status IN ('active', 'blocked', 'replaced')),
    replaced_by      BLOB REFERENCES point_cards(id),
    imported_balance INTEGER CHECK (imported_balance >= 0),
    last_used_at     TEXT,
    created_at       TEXT NOT NULL,
    UNIQUE (program_id, number),
    CHECK ((status = 'replaced') = (replaced_by IS NOT NULL))
) STRICT;
CREATE INDEX point_cards_shopper ON point_cards(shopper_id);

CREATE TABLE point_rates (
    program_id  BLOB NOT NULL REFERENCES programs(id),
    merchant_id BLOB NOT NULL REFERENCES merchants(id),
    earn_rate   TEXT NOT NULL,
    updated_at  TEXT NOT NULL,
    PRIMARY KEY (program_id, merchant_id)
) STRICT;

CREATE TABLE point_campaigns (
    id          BLOB PRIMARY KEY,
    program_id  BLOB NOT NULL REFERENCES programs(id),
    merchant_id BLOB REFERENCES merchants(id),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    multiplier  TEXT NOT NULL,
    starts_at   TEXT NOT NULL,
    ends_at     TEXT NOT NULL,
    created_by  BLOB NOT NULL,
    created_at  TEXT NOT NULL,
    CHECK (ends_at > starts_at)
) STRICT;
CREATE INDEX point_campaigns_program ON point_campaigns(program_id, starts_at);

CREATE TABLE point_movements (
    transaction_id   BLOB PRIMARY KEY REFERENCES transactions(id),
    program_id       BLOB NOT NULL REFERENCES programs(id),
    card_id          BLOB NOT NULL REFERENCES point_cards(id),
    merchant_id      BLOB NOT NULL REFERENCES merchants(id),
    kind             TEXT NOT NULL CHECK (kind IN ('earn', 'spend', 'earn_return', 'spend_refund')),
    purchase_yen     INTEGER CHECK (purchase_yen > 0),
    points           INTEGER NOT NULL CHECK (points >= 0),
    shortfall_points INTEGER NOT NULL DEFAULT 0 CHECK (shortfall_points >= 0),
    original_id      BLOB REFERENCES point_movements(transaction_id),
    created_at       TEXT NOT NULL,
    CHECK ((kind IN ('earn_return', 'spend_refund')) = (original_id IS NOT NULL))
) STRICT;
CREATE INDEX point_movements_original ON point_movements(original_id);
CREATE INDEX point_movements_merchant ON point_movements(merchant_id, created_at);
CREATE TRIGGER point_movements_immutable_u BEFORE UPDATE ON point_movements BEGIN SELECT RAISE(ABORT, 'rows of point_movements are immutable'); END;
CREATE TRIGGER point_movements_immutable_d BEFORE DELETE ON point_movements BEGIN SELECT RAISE(ABORT, 'rows of point_movements are immutable'); END;
