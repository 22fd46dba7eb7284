-- Report aggregates (issue 15), the SQLite twin of ../postgres/0011_report_aggregates.sql:
-- written by the writer in the same transaction as the postings they sum
-- (src/writer/aggregates.rs holds the one definition of each, maintains, rebuilds and checks
-- them). Derived data: `machipay rebuild-aggregates` recomputes them from postings and
-- `machipay check-aggregates` (or GET .../aggregates-check) proves they agree. Days are
-- yyyymmdd and months yyyymm integers of the JST date of the transaction's created_at.

-- Postings on a store's Merchant accounts, payouts aside: the store report's active stores.
CREATE TABLE agg_store_days (
    program_id  BLOB NOT NULL,
    merchant_id BLOB NOT NULL,
    day         INTEGER NOT NULL,
    postings    INTEGER NOT NULL,
    PRIMARY KEY (program_id, merchant_id, day)
) STRICT;

-- The usage report: transactions paying a store and their value, points credited to shoppers
-- (reversals aside) and points spent at stores.
CREATE TABLE agg_usage_days (
    program_id      BLOB NOT NULL,
    day             INTEGER NOT NULL,
    transactions    INTEGER NOT NULL,
    value           INTEGER NOT NULL,
    points_issued   INTEGER NOT NULL,
    points_redeemed INTEGER NOT NULL,
    PRIMARY KEY (program_id, day)
) STRICT;

-- Bit d-1 set: the shopper paid a store on day d of the month (distinct active shoppers).
CREATE TABLE agg_shopper_months (
    program_id BLOB NOT NULL,
    month      INTEGER NOT NULL,
    owner_id   BLOB NOT NULL,
    days       INTEGER NOT NULL,
    PRIMARY KEY (program_id, month, owner_id)
) STRICT;

-- Shopper-wallet postings per day, transaction kind, kind of the original (a reversal's is
-- what it reverses), reversal or not, asset and sign: 未使用残高 at any date is a prefix sum.
CREATE TABLE agg_wallet_flows (
    program_id    BLOB NOT NULL,
    day           INTEGER NOT NULL,
    kind          TEXT NOT NULL,
    original_kind TEXT NOT NULL,
    reversal      INTEGER NOT NULL,
    asset         TEXT NOT NULL,
    credit        INTEGER NOT NULL,
    amount        INTEGER NOT NULL,
    PRIMARY KEY (program_id, day, kind, original_kind, reversal, asset, credit)
) STRICT;

-- Card-wallet postings of point movements and their reversals per store and movement kind.
CREATE TABLE agg_point_store_months (
    program_id  BLOB NOT NULL,
    month       INTEGER NOT NULL,
    merchant_id BLOB NOT NULL,
    kind        TEXT NOT NULL,
    amount      INTEGER NOT NULL,
    PRIMARY KEY (program_id, month, merchant_id, kind)
) STRICT;

-- A database that already holds postings gets its aggregates now (the same definitions as
-- src/writer/aggregates.rs `computed`).
INSERT INTO agg_store_days (program_id, merchant_id, day, postings)
SELECT a.program_id, a.owner_id,
    CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER), count(*)
FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transactions t ON t.id = p.transaction_id
WHERE a.kind = 'merchant' AND t.kind <> 'settlement_payout' GROUP BY 1, 2, 3;

INSERT INTO agg_usage_days (program_id, day, transactions, value, points_issued, points_redeemed)
SELECT program_id, day, transactions, value, points_issued, points_redeemed FROM (
    SELECT a.program_id AS program_id,
        CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER) AS day,
        count(DISTINCT CASE WHEN a.kind = 'merchant' AND p.amount > 0 THEN t.id END) AS transactions,
        CAST(coalesce(sum(CASE WHEN a.kind = 'merchant' AND p.amount > 0 THEN p.amount ELSE 0 END), 0) AS BIGINT) AS value,
        CAST(coalesce(sum(CASE WHEN a.kind = 'shopper_wallet' AND a.asset = 'points' AND p.amount > 0
            AND t.reverses_id IS NULL THEN p.amount ELSE 0 END), 0) AS BIGINT) AS points_issued,
        CAST(coalesce(sum(CASE WHEN a.kind = 'shopper_wallet' AND a.asset = 'points' AND p.amount < 0
            AND EXISTS (SELECT 1 FROM postings mp JOIN accounts ma ON ma.id = mp.account_id
                WHERE mp.transaction_id = t.id AND ma.kind = 'merchant' AND mp.amount > 0)
            THEN -p.amount ELSE 0 END), 0) AS BIGINT) AS points_redeemed
    FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transactions t ON t.id = p.transaction_id
    WHERE a.kind IN ('merchant', 'shopper_wallet') AND t.kind <> 'settlement_payout' GROUP BY 1, 2) u
WHERE transactions > 0 OR points_issued > 0 OR points_redeemed > 0;

INSERT INTO agg_shopper_months (program_id, month, owner_id, days)
SELECT a.program_id,
    CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER) / 100,
    a.owner_id,
    CAST(sum(DISTINCT CAST(1 AS BIGINT) << (CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER) % 100 - 1)) AS BIGINT)
FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transactions t ON t.id = p.transaction_id
WHERE a.kind = 'shopper_wallet' AND p.amount < 0 AND t.kind <> 'settlement_payout'
    AND EXISTS (SELECT 1 FROM postings mp JOIN accounts ma ON ma.id = mp.account_id
        WHERE mp.transaction_id = t.id AND ma.kind = 'merchant' AND mp.amount > 0)
GROUP BY 1, 2, 3;

INSERT INTO agg_wallet_flows (program_id, day, kind, original_kind, reversal, asset, credit, amount)
SELECT a.program_id,
    CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER),
    t.kind, coalesce(o.kind, t.kind), CASE WHEN t.reverses_id IS NULL THEN 0 ELSE 1 END, p.asset,
    CASE WHEN p.amount > 0 THEN 1 ELSE 0 END, CAST(sum(p.amount) AS BIGINT)
FROM postings p JOIN accounts a ON a.id = p.account_id JOIN transactions t ON t.id = p.transaction_id
LEFT JOIN transactions o ON o.id = t.reverses_id
WHERE a.kind = 'shopper_wallet' GROUP BY 1, 2, 3, 4, 5, 6, 7;

INSERT INTO agg_point_store_months (program_id, month, merchant_id, kind, amount)
SELECT program_id, month, merchant_id, kind, CAST(sum(amount) AS BIGINT) FROM (
    SELECT m.program_id AS program_id,
        CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER) / 100 AS month,
        m.merchant_id AS merchant_id, m.kind AS kind, p.amount AS amount
    FROM point_movements m JOIN transactions t ON t.id = m.transaction_id
    JOIN postings p ON p.transaction_id = t.id JOIN accounts a ON a.id = p.account_id
    WHERE a.program_id = m.program_id AND a.kind = 'shopper_wallet' AND a.owner_id = m.card_id
    UNION ALL
    SELECT m.program_id,
        CAST(strftime('%Y%m%d', t.created_at, '+9 hours') AS INTEGER) / 100,
        m.merchant_id, m.kind, p.amount
    FROM point_movements m JOIN transactions t ON t.reverses_id = m.transaction_id
    JOIN postings p ON p.transaction_id = t.id JOIN accounts a ON a.id = p.account_id
    WHERE a.program_id = m.program_id AND a.kind = 'shopper_wallet'
) x GROUP BY 1, 2, 3, 4;
