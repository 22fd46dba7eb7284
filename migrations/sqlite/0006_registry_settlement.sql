-- The merchant registry (profiles, bank accounts, applications, participation history, the
-- city's yearly targets) and settlement (runs, immutable statements, settled transactions).
-- The PostgreSQL twin lives in ../postgres/0006_registry_settlement.sql.

-- A store's profile, one row per store (legacy stores created by name alone have none).
-- external_ref is the city's own store number: the natural key of CSV imports.
CREATE TABLE merchant_profiles (
    merchant_id  BLOB PRIMARY KEY REFERENCES merchants(id),
    city_id      BLOB NOT NULL REFERENCES cities(id),
    external_ref TEXT CHECK (length(external_ref) BETWEEN 1 AND 40),
    name_kana    TEXT NOT NULL CHECK (length(name_kana) BETWEEN 1 AND 100),
    industry     TEXT NOT NULL CHECK (length(industry) BETWEEN 1 AND 40),
    -- 商店会; NULL: the store belongs to none.
    association  TEXT CHECK (length(association) BETWEEN 1 AND 60),
    district     TEXT NOT NULL CHECK (length(district) BETWEEN 1 AND 40),
    size_class   TEXT NOT NULL CHECK (size_class IN ('small', 'medium', 'large')),
    address      TEXT NOT NULL CHECK (length(address) BETWEEN 1 AND 200),
    contact      TEXT NOT NULL CHECK (length(contact) BETWEEN 1 AND 100),
    updated_at   TEXT NOT NULL
) STRICT;
CREATE UNIQUE INDEX merchant_profiles_ref ON merchant_profiles(city_id, external_ref);

-- Bank accounts are versions: a change inserts a row, the latest is in force, and a
-- statement copies the account it pays to. Text is already in Zengin bank form.
CREATE TABLE merchant_bank_accounts (
    id               BLOB PRIMARY KEY,
    merchant_id      BLOB NOT NULL REFERENCES merchants(id),
    bank_code        TEXT NOT NULL CHECK (length(bank_code) = 4),
    bank_name_kana   TEXT NOT NULL CHECK (length(bank_name_kana) BETWEEN 1 AND 15),
    branch_code      TEXT NOT NULL CHECK (length(branch_code) = 3),
    branch_name_kana TEXT NOT NULL CHECK (length(branch_name_kana) BETWEEN 1 AND 15),
    account_type     TEXT NOT NULL CHECK (account_type IN ('ordinary', 'current', 'savings')),
    account_number   TEXT NOT NULL CHECK (length(account_number) = 7),
    holder_kana      TEXT NOT NULL CHECK (length(holder_kana) BETWEEN 1 AND 30),
    created_by       BLOB NOT NULL,
    created_at       TEXT NOT NULL
) STRICT;
CREATE INDEX merchant_bank_accounts_merchant ON merchant_bank_accounts(merchant_id, created_at);

-- A store's application. Approval creates the store (merchant_id); until then no store
-- exists, so nobody can pay an applicant.
CREATE TABLE merchant_applications (
    id           BLOB PRIMARY KEY,
    city_id      BLOB NOT NULL REFERENCES cities(id),
    name         TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The profile and bank account as submitted (JSON, validated before it is stored).
    profile      TEXT NOT NULL,
    bank_account TEXT,
    program_id   BLOB REFERENCES programs(id),
    status       TEXT NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason       TEXT CHECK (length(reason) BETWEEN 1 AND 200),
    merchant_id  BLOB REFERENCES merchants(id),
    submitted_by BLOB NOT NULL,
    decided_by   BLOB,
    created_at   TEXT NOT NULL,
    decided_at   TEXT,
    CHECK ((status = 'approved') = (merchant_id IS NOT NULL)),
    CHECK ((status = 'pending') = (decided_at IS NULL))
) STRICT;
CREATE INDEX merchant_applications_city ON merchant_applications(city_id, created_at);

-- Participation is a history, never a flag: counts for any past TEXT are recomputed from it.
-- The latest event (by effective TEXT, then insertion) is the store's state in the program.
CREATE TABLE participation_events (
    id           BLOB PRIMARY KEY,
    program_id   BLOB NOT NULL REFERENCES programs(id),
    merchant_id  BLOB NOT NULL REFERENCES merchants(id),
    kind         TEXT NOT NULL CHECK (kind IN ('joined', 'suspended', 'resumed', 'left')),
    effective_on TEXT NOT NULL,
    reason       TEXT CHECK (length(reason) BETWEEN 1 AND 200),
    recorded_by  BLOB NOT NULL,
    created_at   TEXT NOT NULL
) STRICT;
CREATE INDEX participation_events_merchant ON participation_events(program_id, merchant_id, effective_on);
CREATE TRIGGER participation_events_immutable_u BEFORE UPDATE ON participation_events BEGIN SELECT RAISE(ABORT, 'rows of participation_events are immutable'); END;
CREATE TRIGGER participation_events_immutable_d BEFORE DELETE ON participation_events BEGIN SELECT RAISE(ABORT, 'rows of participation_events are immutable'); END;

-- Store-count targets per 年度 (start year); every change is a new row, the latest in force.
CREATE TABLE program_targets (
    id          BLOB PRIMARY KEY,
    program_id  BLOB NOT NULL REFERENCES programs(id),
    fiscal_year INTEGER NOT NULL CHECK (fiscal_year BETWEEN 2019 AND 2999),
    stores      INTEGER NOT NULL CHECK (stores BETWEEN 0 AND 1000000),
    set_by      BLOB NOT NULL,
    created_at  TEXT NOT NULL
) STRICT;
CREATE INDEX program_targets_year ON program_targets(program_id, fiscal_year, created_at);
CREATE TRIGGER program_targets_immutable_u BEFORE UPDATE ON program_targets BEGIN SELECT RAISE(ABORT, 'rows of program_targets are immutable'); END;
CREATE TRIGGER program_targets_immutable_d BEFORE DELETE ON program_targets BEGIN SELECT RAISE(ABORT, 'rows of program_targets are immutable'); END;

-- One run per program and closing date: running a cycle twice finds this row.
-- sender is the operator's Zengin header (JSON) as it stood when the run was made, so the
-- file of a run never changes.
CREATE TABLE settlement_runs (
    id            BLOB PRIMARY KEY,
    program_id    BLOB NOT NULL REFERENCES programs(id),
    closing_date  TEXT NOT NULL,
    transfer_date TEXT NOT NULL,
    sender        TEXT,
    status        TEXT NOT NULL CHECK (status IN ('calculated', 'paid')),
    created_by    BLOB NOT NULL,
    created_at    TEXT NOT NULL,
    confirmed_by  BLOB,
    confirmed_at  TEXT,
    UNIQUE (program_id, closing_date),
    CHECK (transfer_date > closing_date),
    CHECK ((status = 'paid') = (confirmed_at IS NOT NULL))
) STRICT;

-- A store's statement in a run. Immutable. 'held' statements (new store, no bank account,
-- nothing payable) settle nothing: their transactions wait for a later run.
CREATE TABLE settlement_statements (
    id                BLOB PRIMARY KEY,
    run_id            BLOB NOT NULL REFERENCES settlement_runs(id),
    merchant_id       BLOB NOT NULL REFERENCES merchants(id),
    status            TEXT NOT NULL CHECK (status IN ('payable', 'held')),
    hold_reason       TEXT,
    transactions      INTEGER NOT NULL CHECK (transactions >= 0),
    payments_yen      INTEGER NOT NULL CHECK (payments_yen >= 0),
    refunds_yen       INTEGER NOT NULL CHECK (refunds_yen >= 0),
    coin_net          INTEGER NOT NULL,
    premium_net       INTEGER NOT NULL,
    points_received   INTEGER NOT NULL CHECK (points_received >= 0),
    points_charged    INTEGER NOT NULL CHECK (points_charged >= 0),
    point_value_yen   TEXT NOT NULL,
    points_reimbursed_yen INTEGER NOT NULL CHECK (points_reimbursed_yen >= 0),
    points_charged_yen    INTEGER NOT NULL CHECK (points_charged_yen >= 0),
    fee_yen           INTEGER NOT NULL CHECK (fee_yen >= 0),
    net_payable_yen   INTEGER NOT NULL,
    -- The account paid to, copied at the run (JSON); NULL when held for want of one.
    bank_account      TEXT,
    created_at        TEXT NOT NULL,
    UNIQUE (run_id, merchant_id),
    CHECK (status = 'held' OR (net_payable_yen > 0 AND bank_account IS NOT NULL AND hold_reason IS NULL))
) STRICT;
CREATE INDEX settlement_statements_merchant ON settlement_statements(merchant_id);
CREATE TRIGGER settlement_statements_immutable_u BEFORE UPDATE ON settlement_statements BEGIN SELECT RAISE(ABORT, 'rows of settlement_statements are immutable'); END;
CREATE TRIGGER settlement_statements_immutable_d BEFORE DELETE ON settlement_statements BEGIN SELECT RAISE(ABORT, 'rows of settlement_statements are immutable'); END;

-- A transaction is settled in exactly one run: the primary key makes a second impossible.
CREATE TABLE settled_transactions (
    transaction_id BLOB PRIMARY KEY REFERENCES transactions(id),
    run_id         BLOB NOT NULL REFERENCES settlement_runs(id),
    merchant_id    BLOB NOT NULL REFERENCES merchants(id)
) STRICT;
CREATE INDEX settled_transactions_run ON settled_transactions(run_id, merchant_id);
CREATE TRIGGER settled_transactions_immutable_u BEFORE UPDATE ON settled_transactions BEGIN SELECT RAISE(ABORT, 'rows of settled_transactions are immutable'); END;
CREATE TRIGGER settled_transactions_immutable_d BEFORE DELETE ON settled_transactions BEGIN SELECT RAISE(ABORT, 'rows of settled_transactions are immutable'); END;
