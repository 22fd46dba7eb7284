-- Point cards (るのかーど class): cards, per-store earn rates, campaign multipliers, and the
-- card movements (earn, spend, and the returns that reference them).

-- A card's balance is a shopper_wallet account (asset points) whose owner_id is the card id.
-- number: 16 digits with a Luhn check digit (checked in code), unique within the program.
-- status 'replaced' always names the card that took over its balance.
CREATE TABLE point_cards (
    id               uuid PRIMARY KEY,
    program_id       uuid NOT NULL REFERENCES programs(id),
    number           text NOT NULL CHECK (length(number) = 16),
    shopper_id       uuid REFERENCES shoppers(id),
    status           text NOT NULL CHECK (status IN ('active', 'blocked', 'replaced')),
    replaced_by      uuid REFERENCES point_cards(id),
    -- Set when the card came from the plastic system: the balance it carried in (what makes
    -- a re-import of the same file a no-op) and its last use there (the expiry clock).
    imported_balance bigint CHECK (imported_balance >= 0),
    last_used_at     timestamptz,
    created_at       timestamptz NOT NULL,
    UNIQUE (program_id, number),
    CHECK ((status = 'replaced') = (replaced_by IS NOT NULL))
);
CREATE INDEX point_cards_shopper ON point_cards(shopper_id);

-- A store's own earn rate (points per yen, a decimal text such as '0.02'), overriding the
-- program's earn_rate.
CREATE TABLE point_rates (
    program_id  uuid NOT NULL REFERENCES programs(id),
    merchant_id uuid NOT NULL REFERENCES merchants(id),
    earn_rate   text NOT NULL,
    updated_at  timestamptz NOT NULL,
    PRIMARY KEY (program_id, merchant_id)
);

-- Time-boxed multipliers of earned points ('2' doubles); merchant_id NULL means every store.
-- When several apply, the largest wins (they do not compound).
CREATE TABLE point_campaigns (
    id          uuid PRIMARY KEY,
    program_id  uuid NOT NULL REFERENCES programs(id),
    merchant_id uuid REFERENCES merchants(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    multiplier  text NOT NULL,
    starts_at   timestamptz NOT NULL,
    ends_at     timestamptz NOT NULL,
    created_by  uuid NOT NULL,
    created_at  timestamptz NOT NULL,
    CHECK (ends_at > starts_at)
);
CREATE INDEX point_campaigns_program ON point_campaigns(program_id, starts_at);

-- One row per card movement at a store. 'earn' and 'spend' are originals; 'earn_return'
-- (purchase_yen: the yen returned) and 'spend_refund' reference their original, and their
-- sums never exceed it (checked in the writer, which is the only writer).
-- shortfall_points: points a return could not take back because the card had spent them.
CREATE TABLE point_movements (
    transaction_id   uuid PRIMARY KEY REFERENCES transactions(id),
    program_id       uuid NOT NULL REFERENCES programs(id),
    card_id          uuid NOT NULL REFERENCES point_cards(id),
    merchant_id      uuid NOT NULL REFERENCES merchants(id),
    kind             text NOT NULL CHECK (kind IN ('earn', 'spend', 'earn_return', 'spend_refund')),
    purchase_yen     bigint CHECK (purchase_yen > 0),
    points           bigint NOT NULL CHECK (points >= 0),
    shortfall_points bigint NOT NULL DEFAULT 0 CHECK (shortfall_points >= 0),
    original_id      uuid REFERENCES point_movements(transaction_id),
    created_at       timestamptz NOT NULL,
    CHECK ((kind IN ('earn_return', 'spend_refund')) = (original_id IS NOT NULL))
);
CREATE INDEX point_movements_original ON point_movements(original_id);
CREATE INDEX point_movements_merchant ON point_movements(merchant_id, created_at);
CREATE TRIGGER point_movements_immutable BEFORE UPDATE OR DELETE ON point_movements
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
