-- Passkeys (WebAuthn) beside the password: credentials and the ceremonies' challenges.
-- Comments: ../postgres/0022_passkeys.sql (the same shapes and constraints).
CREATE TABLE passkeys (
    id            BLOB PRIMARY KEY,
    login_id      BLOB NOT NULL REFERENCES logins(id),
    credential_id BLOB NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    credential    TEXT NOT NULL CHECK (length(credential) <= 8000),
    name          TEXT NOT NULL CHECK (length(name) BETWEEN 1 AND 100),
    created_at    TEXT NOT NULL,
    last_used_at  TEXT
) STRICT;
CREATE INDEX passkeys_login ON passkeys(login_id);

CREATE TABLE passkey_challenges (
    id         BLOB PRIMARY KEY,
    purpose    TEXT NOT NULL CHECK (purpose IN ('register', 'sign_in')),
    login_id   BLOB REFERENCES logins(id),
    state      TEXT NOT NULL CHECK (length(state) <= 64000),
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL CHECK (expires_at > created_at),
    used_at    TEXT,
    CHECK ((purpose = 'register') = (login_id IS NOT NULL))
) STRICT;
CREATE INDEX passkey_challenges_expiry ON passkey_challenges(expires_at);
