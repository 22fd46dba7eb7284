-- The audit log: who changed what. Append-only.
-- Comments: ../postgres/0021_audit_log.sql (the same shapes and constraints).
CREATE TABLE audit_log (
    id           BLOB PRIMARY KEY,
    city_id      BLOB NOT NULL REFERENCES cities(id),
    at           TEXT NOT NULL,
    actor_kind   TEXT NOT NULL CHECK (actor_kind IN ('staff', 'merchant_owner', 'device', 'shopper')),
    actor_id     BLOB NOT NULL,
    action       TEXT NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    subject_kind TEXT NOT NULL CHECK (length(subject_kind) BETWEEN 1 AND 64),
    subject_id   BLOB NOT NULL,
    detail       TEXT NOT NULL CHECK (length(detail) <= 4000)
) STRICT;
CREATE INDEX audit_log_city ON audit_log(city_id, id);
CREATE TRIGGER audit_log_immutable_u BEFORE UPDATE ON audit_log BEGIN SELECT RAISE(ABORT, 'rows of audit_log are immutable'); END;
CREATE TRIGGER audit_log_immutable_d BEFORE DELETE ON audit_log BEGIN SELECT RAISE(ABORT, 'rows of audit_log are immutable'); END;
