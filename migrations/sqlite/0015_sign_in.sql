-- Accounts and browser sign-in: a login (email or phone) and an argon2id password per
-- principal, browser sessions, one-time setup codes, and revocable till devices.
-- Comments: ../postgres/0015_sign_in.sql (the same shapes and constraints).

ALTER TABLE api_tokens ADD COLUMN expires_at TEXT;
ALTER TABLE devices ADD COLUMN revoked_at TEXT;

CREATE TABLE logins (
    id                  BLOB PRIMARY KEY,
    city_id             BLOB NOT NULL REFERENCES cities(id),
    login               TEXT NOT NULL UNIQUE CHECK (length(login) BETWEEN 3 AND 254),
    principal_kind      TEXT NOT NULL CHECK (principal_kind IN ('staff', 'merchant_owner', 'shopper')),
    principal_id        BLOB NOT NULL,
    password_hash       TEXT NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    failed_signins      INTEGER NOT NULL DEFAULT 0 CHECK (failed_signins >= 0),
    locked_until        TEXT,
    password_changed_at TEXT NOT NULL,
    created_at          TEXT NOT NULL,
    UNIQUE (principal_kind, principal_id)
) STRICT;

CREATE TABLE sessions (
    token_id   BLOB PRIMARY KEY REFERENCES api_tokens(id),
    login_id   BLOB NOT NULL REFERENCES logins(id),
    user_agent TEXT NOT NULL CHECK (length(user_agent) <= 200),
    created_at TEXT NOT NULL
) STRICT;
CREATE INDEX sessions_login ON sessions(login_id);

CREATE TABLE setup_codes (
    code_hash      BLOB PRIMARY KEY,
    city_id        BLOB NOT NULL REFERENCES cities(id),
    principal_kind TEXT NOT NULL CHECK (principal_kind IN ('staff', 'merchant_owner', 'shopper')),
    principal_id   BLOB NOT NULL,
    issued_by      BLOB NOT NULL,
    expires_at     TEXT NOT NULL,
    used_at        TEXT,
    created_at     TEXT NOT NULL,
    CHECK (used_at IS NULL OR used_at <= expires_at)
) STRICT;
CREATE INDEX setup_codes_principal ON setup_codes(principal_id);
