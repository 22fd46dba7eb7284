-- Checkpoints of the full ledger check (issue 15), so a quick check can verify only what came
-- after. A full check that passed records, in one read snapshot, the highest posting id it
-- covered (postings.id grows with insertion order under the single writer; created_at does
-- not: transactions can be backdated) and every account balance it verified. The incremental
-- check then checks that each transaction after the mark balances and that each account's
-- balance = its checkpoint balance + its postings after the mark. Derived data: deleting
-- these rows loses nothing but the next quick check's starting point.

CREATE TABLE ledger_checkpoints (
    id                 uuid PRIMARY KEY,
    program_id         uuid NOT NULL REFERENCES programs(id),
    -- Every posting with id <= this one was covered by the check.
    through_posting_id bigint NOT NULL,
    transactions       bigint NOT NULL,
    postings           bigint NOT NULL,
    checked_at         timestamptz NOT NULL,
    -- NULL while the balances are still being written (in several short writer jobs).
    completed_at       timestamptz
);
CREATE INDEX ledger_checkpoints_program ON ledger_checkpoints(program_id, through_posting_id);

-- The balance each account had at the checkpoint; an account missing here had 0.
CREATE TABLE ledger_checkpoint_balances (
    checkpoint_id uuid NOT NULL REFERENCES ledger_checkpoints(id),
    account_id    uuid NOT NULL,
    balance       bigint NOT NULL,
    PRIMARY KEY (checkpoint_id, account_id)
);
