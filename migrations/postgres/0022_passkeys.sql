-- Passkeys (WebAuthn) beside the password: the credentials a login signs in with, and the
-- ceremonies' challenges. The SQLite twin lives in ../sqlite/0022_passkeys.sql.

-- A passkey belongs to a login (so it signs in as that login's principal, and its session
-- hangs off the login like a password's). credential_id is what the authenticator names it
-- by: unique across all logins, since a discoverable sign-in finds the passkey by it alone
-- (WebAuthn ids are at most 1,023 bytes). credential is webauthn-rs's `Passkey` as JSON: the
-- public key, its algorithm and the signature counter; no secret is kept. A removed passkey
-- is deleted (the audit log keeps that it was).
CREATE TABLE passkeys (
    id           uuid PRIMARY KEY,
    login_id     uuid NOT NULL REFERENCES logins(id),
    credential_id bytea NOT NULL UNIQUE CHECK (length(credential_id) BETWEEN 1 AND 1023),
    credential   text NOT NULL CHECK (length(credential) <= 8000),
    -- What the person calls it ("iPhone", "仕事のPC"); shown in their list.
    name         text NOT NULL CHECK (char_length(name) BETWEEN 1 AND 100),
    created_at   timestamptz NOT NULL,
    last_used_at timestamptz
);
CREATE INDEX passkeys_login ON passkeys(login_id);

-- A registration or sign-in ceremony under way: the challenge sent to the browser and what
-- the server must remember to check the answer (webauthn-rs's state, as JSON). Kept here, not
-- in a process, because the answer may reach another instance. A challenge works once
-- (used_at is set by the first answer, right or wrong) and only until expires_at (minutes).
-- A registration's challenge is its login's; a sign-in's is nobody's yet (usernameless).
CREATE TABLE passkey_challenges (
    id         uuid PRIMARY KEY,
    purpose    text NOT NULL CHECK (purpose IN ('register', 'sign_in')),
    login_id   uuid REFERENCES logins(id),
    state      text NOT NULL CHECK (length(state) <= 64000),
    created_at timestamptz NOT NULL,
    expires_at timestamptz NOT NULL CHECK (expires_at > created_at),
    used_at    timestamptz,
    CHECK ((purpose = 'register') = (login_id IS NOT NULL))
);
-- Old challenges are purged by expiry (sign_in::passkeys::purge).
CREATE INDEX passkey_challenges_expiry ON passkey_challenges(expires_at);
