-- Distinct active shoppers over any run of whole months, across 年度 (issue 15): per program,
-- month and the shopper's previous active month (0: none before), the shoppers active in the
-- month. A shopper is active in the months s..e exactly once through the one active month m
-- in s..e whose previous active month is before s, so the count is
--   sum(shoppers) WHERE month BETWEEN s AND e AND prev_month < s
-- over at most (months so far)² / 2 rows, however many shoppers. Kept by a trigger on
-- `agg_shopper_months` as it gains rows (a backdated first payment in an earlier month moves
-- the shopper's next month to follow it).

-- They replace the counts of migration 0018 (per month; per 年度 by first month; each
-- shopper's months of a 年度), which answered only runs inside one 年度 without reading a row
-- per shopper: the months of a run are all in this table.
DROP TRIGGER agg_shopper_months_counted;
DROP TABLE agg_shopper_firsts;
DROP TABLE agg_active_shoppers;
DROP TABLE agg_shopper_years;

CREATE TABLE agg_shopper_returns (
    program_id BLOB NOT NULL,
    month      INTEGER NOT NULL,
    prev_month INTEGER NOT NULL,
    shoppers   INTEGER NOT NULL,
    PRIMARY KEY (program_id, month, prev_month)
) STRICT;

-- A shopper's months in order (the trigger's and the cut-month reads' lookups).
CREATE INDEX agg_shopper_months_owner ON agg_shopper_months (program_id, owner_id, month);

INSERT INTO agg_shopper_returns (program_id, month, prev_month, shoppers)
SELECT program_id, month, prev_month, count(*) FROM (
    SELECT program_id, month,
        coalesce(lag(month) OVER (PARTITION BY program_id, owner_id ORDER BY month), 0) AS prev_month
    FROM agg_shopper_months) s
GROUP BY 1, 2, 3;

-- SQLite runs a row trigger as each row is written, so each sees only the rows before it.
CREATE TRIGGER agg_shopper_months_returns AFTER INSERT ON agg_shopper_months
BEGIN
    -- The shopper's next active month, if any, followed the previous one; now it follows this.
    UPDATE agg_shopper_returns SET shoppers = shoppers - 1
    WHERE program_id = NEW.program_id
        AND month = (SELECT min(month) FROM agg_shopper_months WHERE program_id = NEW.program_id
            AND owner_id = NEW.owner_id AND month > NEW.month)
        AND prev_month = coalesce((SELECT max(month) FROM agg_shopper_months
            WHERE program_id = NEW.program_id AND owner_id = NEW.owner_id AND month < NEW.month), 0);
    DELETE FROM agg_shopper_returns WHERE program_id = NEW.program_id AND shoppers = 0;
    INSERT INTO agg_shopper_returns (program_id, month, prev_month, shoppers)
    SELECT NEW.program_id, min(month), NEW.month, 1 FROM agg_shopper_months
    WHERE program_id = NEW.program_id AND owner_id = NEW.owner_id AND month > NEW.month
    HAVING min(month) IS NOT NULL
    ON CONFLICT (program_id, month, prev_month) DO UPDATE SET shoppers = agg_shopper_returns.shoppers + 1;
    -- This month, after the shopper's previous active month.
    INSERT INTO agg_shopper_returns (program_id, month, prev_month, shoppers)
    VALUES (NEW.program_id, NEW.month, coalesce((SELECT max(month) FROM agg_shopper_months
        WHERE program_id = NEW.program_id AND owner_id = NEW.owner_id AND month < NEW.month), 0), 1)
    ON CONFLICT (program_id, month, prev_month) DO UPDATE SET shoppers = agg_shopper_returns.shoppers + 1;
END;
