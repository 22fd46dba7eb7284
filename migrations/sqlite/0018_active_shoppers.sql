-- Distinct active shoppers kept as counts (issue 15): per program and JST month, and per
-- program and 年度 by the month of each shopper's first activity in it, maintained by
-- triggers as `agg_shopper_months` gains rows (a shopper's first payment at a store in a
-- month), so the usage report reads a few rows instead of one per shopper per month.

-- The months (bit 0 April .. bit 11 March) of a 年度 in which a shopper paid a store.
CREATE TABLE agg_shopper_years (
    program_id  BLOB NOT NULL,
    fiscal_year INTEGER NOT NULL,
    owner_id    BLOB NOT NULL,
    months      INTEGER NOT NULL,
    PRIMARY KEY (program_id, fiscal_year, owner_id)
) STRICT;

-- Shoppers active in a JST month (yyyymm).
CREATE TABLE agg_active_shoppers (
    program_id BLOB NOT NULL,
    month      INTEGER NOT NULL,
    shoppers   INTEGER NOT NULL,
    PRIMARY KEY (program_id, month)
) STRICT;

-- Shoppers of a 年度 by the month of their first activity in it (its bit, 1 = April).
CREATE TABLE agg_shopper_firsts (
    program_id  BLOB NOT NULL,
    fiscal_year INTEGER NOT NULL,
    first_month INTEGER NOT NULL,
    shoppers    INTEGER NOT NULL,
    PRIMARY KEY (program_id, fiscal_year, first_month)
) STRICT;

INSERT INTO agg_shopper_years (program_id, fiscal_year, owner_id, months)
SELECT program_id, month / 100 - CASE WHEN month % 100 < 4 THEN 1 ELSE 0 END, owner_id,
    sum(1 << ((month % 100 + 8) % 12))
FROM agg_shopper_months GROUP BY 1, 2, 3;

INSERT INTO agg_active_shoppers (program_id, month, shoppers)
SELECT program_id, month, count(*) FROM agg_shopper_months GROUP BY 1, 2;

INSERT INTO agg_shopper_firsts (program_id, fiscal_year, first_month, shoppers)
SELECT program_id, fiscal_year, months & -months, count(*) FROM agg_shopper_years GROUP BY 1, 2, 3;

CREATE TRIGGER agg_shopper_months_counted AFTER INSERT ON agg_shopper_months
BEGIN
    INSERT INTO agg_active_shoppers (program_id, month, shoppers) VALUES (NEW.program_id, NEW.month, 1)
        ON CONFLICT (program_id, month) DO UPDATE SET shoppers = agg_active_shoppers.shoppers + 1;
    INSERT INTO agg_shopper_years (program_id, fiscal_year, owner_id, months)
        VALUES (NEW.program_id, NEW.month / 100 - CASE WHEN NEW.month % 100 < 4 THEN 1 ELSE 0 END,
            NEW.owner_id, 1 << ((NEW.month % 100 + 8) % 12))
        ON CONFLICT (program_id, fiscal_year, owner_id)
        DO UPDATE SET months = agg_shopper_years.months | excluded.months;
END;

CREATE TRIGGER agg_shopper_years_first AFTER INSERT ON agg_shopper_years
BEGIN
    INSERT INTO agg_shopper_firsts (program_id, fiscal_year, first_month, shoppers)
        VALUES (NEW.program_id, NEW.fiscal_year, NEW.months & -NEW.months, 1)
        ON CONFLICT (program_id, fiscal_year, first_month)
        DO UPDATE SET shoppers = agg_shopper_firsts.shoppers + 1;
END;

-- A backdated payment can make an earlier month a shopper's first of the 年度.
CREATE TRIGGER agg_shopper_years_moved AFTER UPDATE OF months ON agg_shopper_years
WHEN (OLD.months & -OLD.months) <> (NEW.months & -NEW.months)
BEGIN
    UPDATE agg_shopper_firsts SET shoppers = shoppers - 1
        WHERE program_id = OLD.program_id AND fiscal_year = OLD.fiscal_year
        AND first_month = (OLD.months & -OLD.months);
    DELETE FROM agg_shopper_firsts WHERE program_id = OLD.program_id
        AND fiscal_year = OLD.fiscal_year AND first_month = (OLD.months & -OLD.months)
        AND shoppers = 0;
    INSERT INTO agg_shopper_firsts (program_id, fiscal_year, first_month, shoppers)
        VALUES (NEW.program_id, NEW.fiscal_year, NEW.months & -NEW.months, 1)
        ON CONFLICT (program_id, fiscal_year, first_month)
        DO UPDATE SET shoppers = agg_shopper_firsts.shoppers + 1;
END;
