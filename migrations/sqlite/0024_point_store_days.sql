-- The point report per store as of any instant (issue 15, "reports at city scale"), the SQLite
-- twin of ../postgres/0024_point_store_days.sql: card-wallet postings of point movements and
-- their reversals per JST day, store and movement kind, the per-day twin of
-- agg_point_store_months (0011). The report reads the months table for whole months, this one
-- for the whole days of the cut month, and postings only for the cut day. Maintained, rebuilt
-- and checked with the other aggregates (src/writer/aggregates.rs, the same definition as the
-- months table with the day for the month). Day is the yyyymmdd integer of the JST date of
-- the transaction's created_at (a reversal's own, not its movement's). The primary key serves
-- the report's read: one program, a range of days.
CREATE TABLE agg_point_store_days (
    program_id  BLOB NOT NULL,
    day         INTEGER NOT NULL,
    merchant_id BLOB NOT NULL,
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    PRIMARY KEY (program_id, day, merchant_id, kind)
) STRICT;

-- A database that already holds point movements gets the table now (the definition of
-- src/writer/aggregates.rs `computed`).
INSERT INTO agg_point_store_days (program_id, day, merchant_id, kind, amount)
SELECT program_id, day, merchant_id, kind, CAST(sum(amount) AS BIGINT) FROM (
    SELECT m.program_id AS program_id,
        CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER) AS day,
        m.merchant_id AS merchant_id, m.kind AS kind, p.amount AS amount
    FROM point_movements m JOIN transactions t ON t.id = m.transaction_id
    JOIN postings p ON p.transaction_id = t.id JOIN accounts a ON a.id = p.account_id
    WHERE a.program_id = m.program_id AND a.kind = 'shopper_wallet' AND a.owner_id = m.card_id
    UNION ALL
    SELECT m.program_id,
        CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER),
        m.merchant_id, m.kind, p.amount
    FROM point_movements m JOIN transactions t ON t.reverses_id = m.transaction_id
    JOIN postings p ON p.transaction_id = t.id JOIN accounts a ON a.id = p.account_id
    WHERE a.program_id = m.program_id AND a.kind = 'shopper_wallet'
) x GROUP BY 1, 2, 3, 4;
