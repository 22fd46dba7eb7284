-- The audit log: who changed what, one row per operator or staff change (application
-- decisions, settings versions, campaigns, card blocks and replacements, settlement runs and
-- confirmations, setup codes). Each row is written in the same writer transaction as the
-- change it records, so a change and its row commit together or not at all. Append-only.
CREATE TABLE audit_log (
    -- UUIDv7: time-ordered, so the newest-first page is an index walk on (city_id, id).
    id           uuid PRIMARY KEY,
    city_id      uuid NOT NULL REFERENCES cities(id),
    at           timestamptz NOT NULL,
    -- Who acted: the principal's kind and its id (a staff member's id for staff).
    actor_kind   text NOT NULL CHECK (actor_kind IN ('staff', 'merchant_owner', 'device', 'shopper')),
    actor_id     uuid NOT NULL,
    -- What was done, e.g. application_approved, settlement_confirmed (a short code).
    action       text NOT NULL CHECK (length(action) BETWEEN 1 AND 64),
    -- What it was done to: a kind (application, program, card, settlement_run...) and its id.
    subject_kind text NOT NULL CHECK (length(subject_kind) BETWEEN 1 AND 64),
    subject_id   uuid NOT NULL,
    -- The change's particulars as JSON text (never a secret: no codes, tokens or passwords).
    detail       text NOT NULL CHECK (length(detail) <= 4000)
);
CREATE INDEX audit_log_city ON audit_log(city_id, id);
CREATE TRIGGER audit_log_immutable BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
