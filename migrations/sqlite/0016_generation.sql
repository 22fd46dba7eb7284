-- Many instances on one PostgreSQL (issue 16): one counter every instance reads. A write that
-- forgets remembered facts (a revoked code, a suspended store, a changed setting) or revokes a
-- token bumps it in its own transaction; each writer reads it once per batch and forgets what
-- it remembers when it moved, and each server re-reads it every 250 ms to forget its cached
-- tokens. SQLite runs one process and never reads it.
CREATE TABLE machipay_generation (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    value BIGINT NOT NULL
);
INSERT INTO machipay_generation (id, value) VALUES (1, 0);
