-- A shopper's wallets are read on every payment by (program, owner). accounts_owned leads
-- with (program_id, kind, asset), so without this index that read walked every wallet of
-- the program. The PostgreSQL twin (../postgres/0007_owner_index.sql) is the same index.
CREATE INDEX accounts_owner ON accounts(owner_id, program_id, kind) WHERE owner_id IS NOT NULL;
