-- A shopper's wallets are read on every payment by (program, owner). accounts_owned leads
-- with (program_id, kind, asset), so without this index that read walked every wallet of
-- the program (measured: most of the SQLite writer's time in the load benchmark). kind is
-- in it so PostgreSQL's generic plan prefers it to accounts_owned, whose owner_id comes
-- after asset (seen: 100,000 wallets, every read walking them).
CREATE INDEX accounts_owner ON accounts(owner_id, program_id, kind) WHERE owner_id IS NOT NULL;
