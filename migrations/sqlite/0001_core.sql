-- The ledger core: cities, principals, accounts, immutable transactions and postings,
-- expiring lots, and idempotency records. The PostgreSQL twin lives in ../postgres/0001_core.sql;
-- both must describe the same shapes and constraints.

CREATE TABLE cities (
    id          BLOB PRIMARY KEY,
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE programs (
    id          BLOB PRIMARY KEY,
    city_id     BLOB NOT NULL REFERENCES cities(id),
    kind        TEXT NOT NULL CHECK (kind IN ('currency', 'points')),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- Program rules as JSON; parsed and validated by domain::program::ProgramSettings.
    settings    TEXT NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX programs_city ON programs(city_id);

-- City staff (kind 'city') and program-operator staff (kind 'operator', the 商工会 people).
CREATE TABLE staff (
    id          BLOB PRIMARY KEY,
    city_id     BLOB NOT NULL REFERENCES cities(id),
    kind        TEXT NOT NULL CHECK (kind IN ('city', 'operator')),
    role        TEXT NOT NULL CHECK (role IN ('viewer', 'operator', 'admin')),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE merchants (
    id          BLOB PRIMARY KEY,
    city_id     BLOB NOT NULL REFERENCES cities(id),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX merchants_city ON merchants(city_id);

CREATE TABLE devices (
    id          BLOB PRIMARY KEY,
    merchant_id BLOB NOT NULL REFERENCES merchants(id),
    name        TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at  TEXT NOT NULL
) STRICT;

-- One-time codes an owner hands to a cashier terminal. Only the hash is kept;
-- used_at makes a code single-use.
CREATE TABLE enrollment_codes (
    code_hash   BLOB PRIMARY KEY,
    merchant_id BLOB NOT NULL REFERENCES merchants(id),
    device_name TEXT NOT NULL,
    expires_at  TEXT NOT NULL,
    used_at     TEXT,
    created_at  TEXT NOT NULL
) STRICT;

CREATE TABLE shoppers (
    id           BLOB PRIMARY KEY,
    city_id      BLOB NOT NULL REFERENCES cities(id),
    display_name TEXT NOT NULL CHECK (length(display_name) BETWEEN 1 AND 100),
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX shoppers_city ON shoppers(city_id);

-- Bearer tokens are stored only as SHA-256 hashes. principal_id points at staff, merchants
-- (owner tokens), devices or shoppers according to principal_kind.
CREATE TABLE api_tokens (
    id             BLOB PRIMARY KEY,
    token_hash     BLOB NOT NULL UNIQUE,
    city_id        BLOB NOT NULL REFERENCES cities(id),
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('staff', 'merchant_owner', 'device', 'shopper')),
    principal_id   BLOB NOT NULL,
    created_at     TEXT NOT NULL,
    revoked_at     TEXT
) STRICT;
CREATE INDEX api_tokens_principal ON api_tokens(principal_id);

CREATE TABLE accounts (
    id             BLOB PRIMARY KEY,
    program_id     BLOB NOT NULL REFERENCES programs(id),
    kind           TEXT NOT NULL CHECK (kind IN ('shopper_wallet', 'merchant', 'merchant_point_stock',
                       'issuer_float', 'city_subsidy', 'fee_income', 'breakage', 'points_issuance')),
    asset          TEXT NOT NULL CHECK (asset IN ('coin', 'premium', 'points')),
    owner_id       BLOB,
    allow_negative INTEGER NOT NULL CHECK (allow_negative IN (0, 1)),
    -- Cached sum of this account's postings, maintained in the same transaction.
    balance        INTEGER NOT NULL DEFAULT 0,
    -- The money invariant: accounts that may not go negative never do.
    CHECK (allow_negative = 1 OR balance >= 0),
    -- A shopper's balance is never negative, whatever the row says about allow_negative.
    CHECK (kind <> 'shopper_wallet' OR allow_negative = 0),
    -- Owned kinds have an owner; system accounts have none.
    CHECK ((kind IN ('shopper_wallet', 'merchant', 'merchant_point_stock')) = (owner_id IS NOT NULL)),
    -- Lets postings reference (account, asset) so a posting's asset always matches its account.
    UNIQUE (id, asset)
) STRICT;
CREATE UNIQUE INDEX accounts_owned ON accounts(program_id, kind, asset, owner_id) WHERE owner_id IS NOT NULL;
CREATE UNIQUE INDEX accounts_system ON accounts(program_id, kind, asset) WHERE owner_id IS NULL;

CREATE TABLE transactions (
    id           BLOB PRIMARY KEY,
    program_id   BLOB NOT NULL REFERENCES programs(id),
    kind         TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 40),
    -- A transaction is reversed at most once: the UNIQUE makes a second reversal impossible.
    reverses_id  BLOB UNIQUE REFERENCES transactions(id),
    initiated_by BLOB NOT NULL,
    memo         TEXT,
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX transactions_program ON transactions(program_id, created_at);

CREATE TABLE postings (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id BLOB NOT NULL REFERENCES transactions(id),
    account_id     BLOB NOT NULL,
    asset          TEXT NOT NULL,
    amount         INTEGER NOT NULL CHECK (amount <> 0),
    FOREIGN KEY (account_id, asset) REFERENCES accounts(id, asset)
) STRICT;
CREATE INDEX postings_account ON postings(account_id, id);
CREATE INDEX postings_transaction ON postings(transaction_id);

-- Credits that carry their own expiry. Every credit to a shopper wallet opens a lot;
-- spending consumes lots earliest-expiry-first. remaining is a cache of the lot's movements.
CREATE TABLE lots (
    id             BLOB PRIMARY KEY,
    account_id     BLOB NOT NULL REFERENCES accounts(id),
    transaction_id BLOB NOT NULL REFERENCES transactions(id),
    amount         INTEGER NOT NULL CHECK (amount > 0),
    remaining      INTEGER NOT NULL CHECK (remaining >= 0 AND remaining <= amount),
    -- Last business date (JST) on which the lot may be spent; NULL never expires.
    expires_on     TEXT,
    created_at     TEXT NOT NULL
) STRICT;
CREATE INDEX lots_open ON lots(account_id, expires_on) WHERE remaining > 0;

CREATE TABLE lot_movements (
    id             INTEGER PRIMARY KEY AUTOINCREMENT,
    transaction_id BLOB NOT NULL REFERENCES transactions(id),
    lot_id         BLOB NOT NULL REFERENCES lots(id),
    amount         INTEGER NOT NULL CHECK (amount <> 0)
) STRICT;
CREATE INDEX lot_movements_transaction ON lot_movements(transaction_id);
CREATE INDEX lot_movements_lot ON lot_movements(lot_id);

-- The key and the stored response commit in the same transaction as the postings they
-- describe, so a replay can never see one without the other.
CREATE TABLE idempotency_keys (
    principal_id  BLOB NOT NULL,
    key           TEXT NOT NULL CHECK (length(key) BETWEEN 1 AND 255),
    request_hash  BLOB NOT NULL,
    status_code   INTEGER NOT NULL,
    response_body TEXT NOT NULL,
    created_at    TEXT NOT NULL,
    PRIMARY KEY (principal_id, key)
) STRICT;

-- Ledger rows are facts: corrections are reversing transactions, never edits.
-- (SQLite has no deferred constraint triggers, so the per-asset balance of a transaction is
-- enforced by domain::ledger::Entry, which cannot be built unbalanced, and by the tests.)
CREATE TRIGGER transactions_immutable_u BEFORE UPDATE ON transactions BEGIN SELECT RAISE(ABORT, 'rows of transactions are immutable'); END;
CREATE TRIGGER transactions_immutable_d BEFORE DELETE ON transactions BEGIN SELECT RAISE(ABORT, 'rows of transactions are immutable'); END;
CREATE TRIGGER postings_immutable_u BEFORE UPDATE ON postings BEGIN SELECT RAISE(ABORT, 'rows of postings are immutable'); END;
CREATE TRIGGER postings_immutable_d BEFORE DELETE ON postings BEGIN SELECT RAISE(ABORT, 'rows of postings are immutable'); END;
CREATE TRIGGER lot_movements_immutable_u BEFORE UPDATE ON lot_movements BEGIN SELECT RAISE(ABORT, 'rows of lot_movements are immutable'); END;
CREATE TRIGGER lot_movements_immutable_d BEFORE DELETE ON lot_movements BEGIN SELECT RAISE(ABORT, 'rows of lot_movements are immutable'); END;
