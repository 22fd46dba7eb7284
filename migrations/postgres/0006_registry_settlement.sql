-- The merchant registry (profiles, bank accounts, applications, participation history, the
-- city's yearly targets) and settlement (runs, immutable statements, settled transactions).
-- The SQLite twin lives in ../sqlite/0006_registry_settlement.sql.

-- A store's profile, one row per store (legacy stores created by name alone have none).
-- external_ref is the city's own store number: the natural key of CSV imports.
CREATE TABLE merchant_profiles (
    merchant_id  uuid PRIMARY KEY REFERENCES merchants(id),
    city_id      uuid NOT NULL REFERENCES cities(id),
    external_ref text CHECK (length(external_ref) BETWEEN 1 AND 40),
    name_kana    text NOT NULL CHECK (length(name_kana) BETWEEN 1 AND 100),
    industry     text NOT NULL CHECK (length(industry) BETWEEN 1 AND 40),
    -- 商店会; NULL: the store belongs to none.
    association  text CHECK (length(association) BETWEEN 1 AND 60),
    district     text NOT NULL CHECK (length(district) BETWEEN 1 AND 40),
    size_class   text NOT NULL CHECK (size_class IN ('small', 'medium', 'large')),
    address      text NOT NULL CHECK (length(address) BETWEEN 1 AND 200),
    contact      text NOT NULL CHECK (length(contact) BETWEEN 1 AND 100),
    updated_at   timestamptz NOT NULL
);
CREATE UNIQUE INDEX merchant_profiles_ref ON merchant_profiles(city_id, external_ref);

-- Bank accounts are versions: a change inserts a row, the latest is in force, and a
-- statement copies the account it pays to. Text is already in Zengin bank form.
CREATE TABLE merchant_bank_accounts (
    id               uuid PRIMARY KEY,
    merchant_id      uuid NOT NULL REFERENCES merchants(id),
    bank_code        text NOT NULL CHECK (length(bank_code) = 4),
    bank_name_kana   text NOT NULL CHECK (length(bank_name_kana) BETWEEN 1 AND 15),
    branch_code      text NOT NULL CHECK (length(branch_code) = 3),
    branch_name_kana text NOT NULL CHECK (length(branch_name_kana) BETWEEN 1 AND 15),
    account_type     text NOT NULL CHECK (account_type IN ('ordinary', 'current', 'savings')),
    account_number   text NOT NULL CHECK (length(account_number) = 7),
    holder_kana      text NOT NULL CHECK (length(holder_kana) BETWEEN 1 AND 30),
    created_by       uuid NOT NULL,
    created_at       timestamptz NOT NULL
);
CREATE INDEX merchant_bank_accounts_merchant ON merchant_bank_accounts(merchant_id, created_at);

-- A store's application. Approval creates the store (merchant_id); until then no store
-- exists, so nobody can pay an applicant.
CREATE TABLE merchant_applications (
    id           uuid PRIMARY KEY,
    city_id      uuid NOT NULL REFERENCES cities(id),
    name         text NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    -- The profile and bank account as submitted (JSON, validated before it is stored).
    profile      text NOT NULL,
    bank_account text,
    program_id   uuid REFERENCES programs(id),
    status       text NOT NULL CHECK (status IN ('pending', 'approved', 'rejected')),
    reason       text CHECK (length(reason) BETWEEN 1 AND 200),
    merchant_id  uuid REFERENCES merchants(id),
    submitted_by uuid NOT NULL,
    decided_by   uuid,
    created_at   timestamptz NOT NULL,
    decided_at   timestamptz,
    CHECK ((status = 'approved') = (merchant_id IS NOT NULL)),
    CHECK ((status = 'pending') = (decided_at IS NULL))
);
CREATE INDEX merchant_applications_city ON merchant_applications(city_id, created_at);

-- Participation is a history, never a flag: counts for any past date are recomputed from it.
-- The latest event (by effective date, then insertion) is the store's state in the program.
CREATE TABLE participation_events (
    id           uuid PRIMARY KEY,
    program_id   uuid NOT NULL REFERENCES programs(id),
    merchant_id  uuid NOT NULL REFERENCES merchants(id),
    kind         text NOT NULL CHECK (kind IN ('joined', 'suspended', 'resumed', 'left')),
    effective_on date NOT NULL,
    reason       text CHECK (length(reason) BETWEEN 1 AND 200),
    recorded_by  uuid NOT NULL,
    created_at   timestamptz NOT NULL
);
CREATE INDEX participation_events_merchant ON participation_events(program_id, merchant_id, effective_on);
CREATE TRIGGER participation_events_immutable BEFORE UPDATE OR DELETE ON participation_events
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- Store-count targets per 年度 (start year); every change is a new row, the latest in force.
CREATE TABLE program_targets (
    id          uuid PRIMARY KEY,
    program_id  uuid NOT NULL REFERENCES programs(id),
    fiscal_year integer NOT NULL CHECK (fiscal_year BETWEEN 2019 AND 2999),
    stores      bigint NOT NULL CHECK (stores BETWEEN 0 AND 1000000),
    set_by      uuid NOT NULL,
    created_at  timestamptz NOT NULL
);
CREATE INDEX program_targets_year ON program_targets(program_id, fiscal_year, created_at);
CREATE TRIGGER program_targets_immutable BEFORE UPDATE OR DELETE ON program_targets
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- One run per program and closing date: running a cycle twice finds this row.
-- sender is the operator's Zengin header (JSON) as it stood when the run was made, so the
-- file of a run never changes.
CREATE TABLE settlement_runs (
    id            uuid PRIMARY KEY,
    program_id    uuid NOT NULL REFERENCES programs(id),
    closing_date  date NOT NULL,
    transfer_date date NOT NULL,
    sender        text,
    status        text NOT NULL CHECK (status IN ('calculated', 'paid')),
    created_by    uuid NOT NULL,
    created_at    timestamptz NOT NULL,
    confirmed_by  uuid,
    confirmed_at  timestamptz,
    UNIQUE (program_id, closing_date),
    CHECK (transfer_date > closing_date),
    CHECK ((status = 'paid') = (confirmed_at IS NOT NULL))
);

-- A store's statement in a run. Immutable. 'held' statements (new store, no bank account,
-- nothing payable) settle nothing: their transactions wait for a later run.
CREATE TABLE settlement_statements (
    id                uuid PRIMARY KEY,
    run_id            uuid NOT NULL REFERENCES settlement_runs(id),
    merchant_id       uuid NOT NULL REFERENCES merchants(id),
    status            text NOT NULL CHECK (status IN ('payable', 'held')),
    hold_reason       text,
    transactions      bigint NOT NULL CHECK (transactions >= 0),
    payments_yen      bigint NOT NULL CHECK (payments_yen >= 0),
    refunds_yen       bigint NOT NULL CHECK (refunds_yen >= 0),
    coin_net          bigint NOT NULL,
    premium_net       bigint NOT NULL,
    points_received   bigint NOT NULL CHECK (points_received >= 0),
    points_charged    bigint NOT NULL CHECK (points_charged >= 0),
    point_value_yen   text NOT NULL,
    points_reimbursed_yen bigint NOT NULL CHECK (points_reimbursed_yen >= 0),
    points_charged_yen    bigint NOT NULL CHECK (points_charged_yen >= 0),
    fee_yen           bigint NOT NULL CHECK (fee_yen >= 0),
    net_payable_yen   bigint NOT NULL,
    -- The account paid to, copied at the run (JSON); NULL when held for want of one.
    bank_account      text,
    created_at        timestamptz NOT NULL,
    UNIQUE (run_id, merchant_id),
    CHECK (status = 'held' OR (net_payable_yen > 0 AND bank_account IS NOT NULL AND hold_reason IS NULL))
);
CREATE INDEX settlement_statements_merchant ON settlement_statements(merchant_id);
CREATE TRIGGER settlement_statements_immutable BEFORE UPDATE OR DELETE ON settlement_statements
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- A transaction is settled in exactly one run: the primary key makes a second impossible.
CREATE TABLE settled_transactions (
    transaction_id uuid PRIMARY KEY REFERENCES transactions(id),
    run_id         uuid NOT NULL REFERENCES settlement_runs(id),
    merchant_id    uuid NOT NULL REFERENCES merchants(id)
);
CREATE INDEX settled_transactions_run ON settled_transactions(run_id, merchant_id);
CREATE TRIGGER settled_transactions_immutable BEFORE UPDATE OR DELETE ON settled_transactions
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
