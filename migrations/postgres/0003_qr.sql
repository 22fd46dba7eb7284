-- QR codes: static store codes (MPM), dynamic payment requests, shopper-presented codes, and
-- the server's signing key. Codes are not ledger rows: revocation and use stamp them.

-- Secrets the server generates for itself on first start (e.g. the QR signing key).
CREATE TABLE server_secrets (
    name       text PRIMARY KEY,
    value      bytea NOT NULL CHECK (length(value) >= 32),
    created_at timestamptz NOT NULL
);

-- A store's printed code. code_id is the opaque id inside the JPQR payload; the server
-- resolves it, so the payee shown to a shopper never comes from the sticker.
CREATE TABLE store_codes (
    id          uuid PRIMARY KEY,
    code_id     text NOT NULL UNIQUE,
    merchant_id uuid NOT NULL REFERENCES merchants(id),
    program_id  uuid NOT NULL REFERENCES programs(id),
    payload     text NOT NULL,
    created_at  timestamptz NOT NULL,
    revoked_at  timestamptz
);
CREATE INDEX store_codes_merchant ON store_codes(merchant_id);

-- A cashier's one-off request for an amount. paid_transaction_id makes it single-use.
CREATE TABLE payment_requests (
    id                  uuid PRIMARY KEY,
    code_id             text NOT NULL UNIQUE,
    merchant_id         uuid NOT NULL REFERENCES merchants(id),
    device_id           uuid REFERENCES devices(id),
    program_id          uuid NOT NULL REFERENCES programs(id),
    amount              bigint NOT NULL CHECK (amount > 0),
    order_reference     text CHECK (length(order_reference) <= 64),
    payload             text NOT NULL,
    expires_at          timestamptz NOT NULL,
    paid_transaction_id uuid UNIQUE REFERENCES transactions(id),
    created_at          timestamptz NOT NULL
);
CREATE INDEX payment_requests_merchant ON payment_requests(merchant_id, created_at);

-- A shopper's one-time code, scanned by a store. Only the hash is kept.
CREATE TABLE shopper_codes (
    code_hash           bytea PRIMARY KEY,
    shopper_id          uuid NOT NULL REFERENCES shoppers(id),
    program_id          uuid NOT NULL REFERENCES programs(id),
    expires_at          timestamptz NOT NULL,
    used_transaction_id uuid UNIQUE REFERENCES transactions(id),
    created_at          timestamptz NOT NULL
);
