-- Accounts and browser sign-in (issue 18): a login (email or phone) and an argon2id password
-- per principal, browser sessions, one-time setup codes, and revocable till devices. The
-- SQLite twin lives in ../sqlite/0015_sign_in.sql.

-- A browser session is a token like any other (so it resolves to the same principal and every
-- authorization rule applies), with an end: NULL for the bearer tokens of integrations, which
-- work until revoked; set for sessions, which the bearer lookup never accepts (a session's
-- secret works only as a cookie, where the CSRF rule holds).
ALTER TABLE api_tokens ADD COLUMN expires_at timestamptz;
-- A till the owner revoked: its tokens are revoked with it and it is never enrolled again.
ALTER TABLE devices ADD COLUMN revoked_at timestamptz;

-- One login per principal (devices have none: they enroll with a code). `login` is the
-- normalised email (lower case) or phone number (digits only), unique across cities so
-- signing in needs no city. Only the argon2id PHC string of the password is kept.
CREATE TABLE logins (
    id                  uuid PRIMARY KEY,
    city_id             uuid NOT NULL REFERENCES cities(id),
    login               text NOT NULL UNIQUE CHECK (length(login) BETWEEN 3 AND 254),
    principal_kind      text NOT NULL CHECK (principal_kind IN ('staff', 'merchant_owner', 'shopper')),
    principal_id        uuid NOT NULL,
    password_hash       text NOT NULL CHECK (password_hash LIKE '$argon2id$%'),
    -- Consecutive wrong passwords; reset by a right one. At the limit the login is locked
    -- until locked_until (sign_in::LOCKOUT_MINUTES).
    failed_signins      integer NOT NULL DEFAULT 0 CHECK (failed_signins >= 0),
    locked_until        timestamptz,
    password_changed_at timestamptz NOT NULL,
    created_at          timestamptz NOT NULL,
    UNIQUE (principal_kind, principal_id)
);

-- What a browser session adds to its token: the login it signed in with and the browser's
-- own description, so a person can tell their sessions apart.
CREATE TABLE sessions (
    token_id   uuid PRIMARY KEY REFERENCES api_tokens(id),
    login_id   uuid NOT NULL REFERENCES logins(id),
    user_agent text NOT NULL CHECK (length(user_agent) <= 200),
    created_at timestamptz NOT NULL
);
CREATE INDEX sessions_login ON sessions(login_id);

-- One-time codes staff hand over after checking who someone is: the first sign-in of a
-- staff member or store owner, or a shopper's recovery at a counter. Only the hash is kept;
-- used_at makes a code single-use; issued_by names the staff member who checked.
CREATE TABLE setup_codes (
    code_hash      bytea PRIMARY KEY,
    city_id        uuid NOT NULL REFERENCES cities(id),
    principal_kind text NOT NULL CHECK (principal_kind IN ('staff', 'merchant_owner', 'shopper')),
    principal_id   uuid NOT NULL,
    issued_by      uuid NOT NULL,
    expires_at     timestamptz NOT NULL,
    used_at        timestamptz,
    created_at     timestamptz NOT NULL,
    CHECK (used_at IS NULL OR used_at <= expires_at)
);
CREATE INDEX setup_codes_principal ON setup_codes(principal_id);
