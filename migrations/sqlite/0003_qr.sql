-- QR codes: static store codes, dynamic payment requests, shopper-presented codes, and the
-- server's signing key. The PostgreSQL twin (../postgres/0003_qr.sql) carries the comments.

CREATE TABLE server_secrets (
    name       TEXT PRIMARY KEY,
    value      BLOB NOT NULL CHECK (length(value) >= 32),
    created_at TEXT NOT NULL
) STRICT;

CREATE TABLE store_codes (
    id          BLOB PRIMARY KEY,
    code_id     TEXT NOT NULL UNIQUE,
    merchant_id BLOB NOT NULL REFERENCES merchants(id),
    program_id  BLOB NOT NULL REFERENCES programs(id),
    payload     TEXT NOT NULL,
    created_at  TEXT NOT NULL,
    revoked_at  TEXT
) STRICT;
CREATE INDEX store_codes_merchant ON store_codes(merchant_id);

CREATE TABLE payment_requests (
    id                  BLOB PRIMARY KEY,
    code_id             TEXT NOT NULL UNIQUE,
    merchant_id         BLOB NOT NULL REFERENCES merchants(id),
    device_id           BLOB REFERENCES devices(id),
    program_id          BLOB NOT NULL REFERENCES programs(id),
    amount              INTEGER NOT NULL CHECK (amount > 0),
    order_reference     TEXT CHECK (length(order_reference) <= 64),
    payload             TEXT NOT NULL,
    expires_at          TEXT NOT NULL,
    paid_transaction_id BLOB UNIQUE REFERENCES transactions(id),
    created_at          TEXT NOT NULL
) STRICT;
CREATE INDEX payment_requests_merchant ON payment_requests(merchant_id, created_at);

CREATE TABLE shopper_codes (
    code_hash           BLOB PRIMARY KEY,
    shopper_id          BLOB NOT NULL REFERENCES shoppers(id),
    program_id          BLOB NOT NULL REFERENCES programs(id),
    expires_at          TEXT NOT NULL,
    used_transaction_id BLOB UNIQUE REFERENCES transactions(id),
    created_at          TEXT NOT NULL
) STRICT;
