-- A shopper's wallets are read on every payment by (program, owner). accounts_owned leads
-- with (program_id, kind, asset), so without this index that read walked every wallet of
-- the program (measured: most of the SQLite writer's time in the load benchmark).
CREATE INDEX accounts_owner ON accounts(owner_id, program_id) WHERE owner_id IS NOT NULL;
