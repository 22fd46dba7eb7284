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
DROP TRIGGER agg_shopper_months_counted ON agg_shopper_months;
DROP FUNCTION agg_shopper_months_counted();
DROP TABLE agg_shopper_firsts, agg_active_shoppers, agg_shopper_years;
DROP FUNCTION agg_shopper_years_first();

CREATE TABLE agg_shopper_returns (
    program_id uuid NOT NULL,
    month      integer NOT NULL,
    prev_month integer NOT NULL,
    shoppers   bigint NOT NULL,
    PRIMARY KEY (program_id, month, prev_month)
);

-- A shopper's months in order (the trigger's and the cut-month reads' lookups).
CREATE INDEX agg_shopper_months_owner ON agg_shopper_months (program_id, owner_id, month);

INSERT INTO agg_shopper_returns (program_id, month, prev_month, shoppers)
SELECT program_id, month, prev_month, count(*) FROM (
    SELECT program_id, month,
        coalesce(lag(month) OVER (PARTITION BY program_id, owner_id ORDER BY month), 0) AS prev_month
    FROM agg_shopper_months) s
GROUP BY 1, 2, 3;

-- Once per statement: a multi-row upsert can give one shopper two new months, and row
-- triggers would each see the other's row already there. The change is what the statement's
-- shoppers contribute with their new months less what they contributed without them.
CREATE FUNCTION agg_shopper_months_returns() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    WITH owners AS (SELECT DISTINCT program_id, owner_id FROM new_months),
    mine AS (
        SELECT m.program_id, m.owner_id, m.month,
            EXISTS (SELECT 1 FROM new_months n WHERE n.program_id = m.program_id
                AND n.owner_id = m.owner_id AND n.month = m.month) AS fresh
        FROM agg_shopper_months m JOIN owners o ON o.program_id = m.program_id AND o.owner_id = m.owner_id),
    after AS (
        SELECT program_id, month,
            coalesce(lag(month) OVER (PARTITION BY program_id, owner_id ORDER BY month), 0) AS prev_month
        FROM mine),
    before AS (
        SELECT program_id, month,
            coalesce(lag(month) OVER (PARTITION BY program_id, owner_id ORDER BY month), 0) AS prev_month
        FROM mine WHERE NOT fresh),
    delta AS (
        SELECT program_id, month, prev_month, sum(d) AS d FROM (
            SELECT program_id, month, prev_month, 1 AS d FROM after
            UNION ALL SELECT program_id, month, prev_month, -1 FROM before) x
        GROUP BY 1, 2, 3 HAVING sum(d) <> 0)
    INSERT INTO agg_shopper_returns (program_id, month, prev_month, shoppers)
    SELECT program_id, month, prev_month, d FROM delta ORDER BY 1, 2, 3
    ON CONFLICT (program_id, month, prev_month)
    DO UPDATE SET shoppers = agg_shopper_returns.shoppers + excluded.shoppers;
    DELETE FROM agg_shopper_returns r
    WHERE r.shoppers = 0 AND r.program_id IN (SELECT program_id FROM new_months);
    RETURN NULL;
END $$;

CREATE TRIGGER agg_shopper_months_returns AFTER INSERT ON agg_shopper_months
    REFERENCING NEW TABLE AS new_months
    FOR EACH STATEMENT EXECUTE FUNCTION agg_shopper_months_returns();
