-- Checkpoints of the full ledger check (issue 15). Comments: ../postgres/0012_ledger_checkpoints.sql.

CREATE TABLE ledger_checkpoints (
    id                 BLOB PRIMARY KEY,
    program_id         BLOB NOT NULL REFERENCES programs(id),
    through_posting_id INTEGER NOT NULL,
    transactions       INTEGER NOT NULL,
    postings           INTEGER NOT NULL,
    checked_at         TEXT NOT NULL,
    completed_at       TEXT
) STRICT;
CREATE INDEX ledger_checkpoints_program ON ledger_checkpoints(program_id, through_posting_id);

CREATE TABLE ledger_checkpoint_balances (
    checkpoint_id BLOB NOT NULL REFERENCES ledger_checkpoints(id),
    account_id    BLOB NOT NULL,
    balance       INTEGER NOT NULL,
    PRIMARY KEY (checkpoint_id, account_id)
) STRICT, WITHOUT ROWID;
