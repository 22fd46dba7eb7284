-- The ledger core: cities, principals, accounts, immutable transactions and postings,
-- expiring lots, and idempotency records. The SQLite twin lives in ../sqlite/0001_core.sql;
-- both must describe the same shapes and constraints.

CREATE TABLE cities (
    id          uuid PRIMARY KEY,
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);

CREATE TABLE programs (
    id          uuid PRIMARY KEY,
    city_id     uuid NOT NULL REFERENCES cities(id),
    kind        text NOT NULL CHECK (kind IN ('currency', 'points')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Program rules as JSON; parsed and validated by domain::program::ProgramSettings.
    settings    text NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX programs_city ON programs(city_id);

-- City staff (kind 'city') and program-operator staff (kind 'operator', the 商工会 people).
CREATE TABLE staff (
    id          uuid PRIMARY KEY,
    city_id     uuid NOT NULL REFERENCES cities(id),
    kind        text NOT NULL CHECK (kind IN ('city', 'operator')),
    role        text NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);

CREATE TABLE merchants (
    id          uuid PRIMARY KEY,
    city_id     uuid NOT NULL REFERENCES cities(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);
CREATE INDEX merchants_city ON merchants(city_id);

CREATE TABLE devices (
    id          uuid PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants(id),
    name        text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  timestamptz NOT NULL
);

-- One-time codes an owner hands to a cashier terminal. Only the hash is kept;
-- used_at makes a code single-use.
CREATE TABLE enrollment_codes (
    code_hash   bytea PRIMARY KEY,
    merchant_id uuid NOT NULL REFERENCES merchants(id),
    device_name text NOT NULL,
    expires_at  timestamptz NOT NULL,
    used_at     timestamptz,
    created_at  timestamptz NOT NULL
);

CREATE TABLE shoppers (
    id           uuid PRIMARY KEY,
    city_id      uuid NOT NULL REFERENCES cities(id),
    display_name text NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    created_at   timestamptz NOT NULL
);
CREATE INDEX shoppers_city ON shoppers(city_id);

-- Bearer tokens are stored only as SHA-256 hashes. principal_id points at staff, merchants
-- (owner tokens), devices or shoppers according to principal_kind.
CREATE TABLE api_tokens (
    id             uuid PRIMARY KEY,
    token_hash     bytea NOT NULL UNIQUE,
    city_id        uuid NOT NULL REFERENCES cities(id),
    principal_kind text NOT NULL CHECK (principal_kind IN ('staff', 'merchant_owner', 'device', 'shopper')),
    principal_id   uuid NOT NULL,
    created_at     timestamptz NOT NULL,
    revoked_at     timestamptz
);
CREATE INDEX api_tokens_principal ON api_tokens(principal_id);

CREATE TABLE accounts (
    id             uuid PRIMARY KEY,
    program_id     uuid NOT NULL REFERENCES programs(id),
    kind           text NOT NULL CHECK (kind IN ('shopper_wallet', 'merchant', 'merchant_point_stock',
                       'issuer_float', 'city_subsidy', 'fee_income', 'breakage', 'points_issuance')),
    asset          text NOT NULL CHECK (asset IN ('coin', 'premium', 'points')),
    owner_id       uuid,
    allow_negative boolean NOT NULL,
    -- Cached sum of this account's postings, maintained in the same transaction.
    balance        bigint NOT NULL DEFAULT 0,
    -- The money invariant: accounts that may not go negative never do.
    CHECK (allow_negative OR balance >= 0),
    -- A shopper's balance is never negative, whatever the row says about allow_negative.
    CHECK (kind <> 'shopper_wallet' OR NOT allow_negative),
    -- Owned kinds have an owner; system accounts have none.
    CHECK ((kind IN ('shopper_wallet', 'merchant', 'merchant_point_stock')) = (owner_id IS NOT NULL)),
    -- Lets postings reference (account, asset) so a posting's asset always matches its account.
    UNIQUE (id, asset)
);
CREATE UNIQUE INDEX accounts_owned ON accounts(program_id, kind, asset, owner_id) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_system ON accounts(program_id, kind, asset) WHERE owner_id IS NULL;

CREATE TABLE transactions (
    id           uuid PRIMARY KEY,
    program_id   uuid NOT NULL REFERENCES programs(id),
    kind         text NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    -- A transaction is reversed at most once: the UNIQUE makes a second reversal impossible.
    reverses_id  uuid UNIQUE REFERENCES transactions(id),
    initiated_by uuid NOT NULL,
    memo         text,
    created_at   timestamptz NOT NULL
);
CREATE INDEX transactions_program ON transactions(program_id, created_at);

CREATE TABLE postings (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES transactions(id),
    account_id     uuid NOT NULL,
    asset          text NOT NULL,
    amount         bigint NOT NULL CHECK (amount <> 0),
    FOREIGN KEY (account_id, asset) REFERENCES accounts(id, asset)
);
CREATE INDEX postings_account ON postings(account_id, id);
CREATE INDEX postings_transaction ON postings(transaction_id);

-- Credits that carry their own expiry. Every credit to a shopper wallet opens a lot;
-- spending consumes lots earliest-expiry-first. remaining is a cache of the lot's movements.
CREATE TABLE lots (
    id             uuid PRIMARY KEY,
    account_id     uuid NOT NULL REFERENCES accounts(id),
    transaction_id uuid NOT NULL REFERENCES transactions(id),
    amount         bigint NOT NULL CHECK (amount > 0),
    remaining      bigint NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    -- Last business date (JST) on which the lot may be spent; NULL never expires.
    expires_on     date,
    created_at     timestamptz NOT NULL
);
CREATE INDEX lots_open ON lots(account_id, expires_on) WHERE remaining > 0;

CREATE TABLE lot_movements (
    id             bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    transaction_id uuid NOT NULL REFERENCES transactions(id),
    lot_id         uuid NOT NULL REFERENCES lots(id),
    amount         bigint NOT NULL CHECK (amount <> 0)
);
CREATE INDEX lot_movements_transaction ON lot_movements(transaction_id);
CREATE INDEX lot_movements_lot ON lot_movements(lot_id);

-- The key and the stored response commit in the same transaction as the postings they
-- describe, so a replay can never see one without the other.
CREATE TABLE idempotency_keys (
    principal_id  uuid NOT NULL,
    key           text NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  bytea NOT NULL,
    status_code   integer NOT NULL,
    response_body text NOT NULL,
    created_at    timestamptz NOT NULL,
    PRIMARY KEY (principal_id, key)
);

-- Ledger rows are facts: corrections are reversing transactions, never edits.
CREATE FUNCTION machipay_forbid_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'rows of % are immutable', TG_TABLE_NAME;
END $$;
CREATE TRIGGER transactions_immutable BEFORE UPDATE OR DELETE ON transactions
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
CREATE TRIGGER postings_immutable BEFORE UPDATE OR DELETE ON postings
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
CREATE TRIGGER lot_movements_immutable BEFORE UPDATE OR DELETE ON lot_movements
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- Double entry, checked by the database at commit: every transaction's postings sum to zero
-- per asset. Deferred, because the postings of one transaction arrive one row at a time.
CREATE FUNCTION machipay_check_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM postings WHERE transaction_id = NEW.transaction_id
               GROUP BY asset HAVING sum(amount) <> 0) THEN
        RAISE EXCEPTION 'transaction % does not balance', NEW.transaction_id;
    END IF;
    RETURN NULL;
END $$;
CREATE CONSTRAINT TRIGGER postings_balanced AFTER INSERT ON postings
    DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION machipay_check_balanced();
