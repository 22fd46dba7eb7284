-- A shopper blocked by staff: a state of the shopper (see ../postgres/0023_shopper_block.sql).
ALTER TABLE shoppers ADD COLUMN blocked_at TEXT;
ALTER TABLE shoppers ADD COLUMN blocked_reason TEXT CHECK (length(blocked_reason) BETWEEN 1 AND 200);
-- SQLite cannot add a table constraint; a column's CHECK may name the other columns, so the
-- last column added carries the rule that the three are set together or not at all.
ALTER TABLE shoppers ADD COLUMN blocked_by BLOB CHECK (
    (blocked_at IS NULL) = (blocked_reason IS NULL) AND (blocked_at IS NULL) = (blocked_by IS NULL)
);
CREATE INDEX point_cards_number ON point_cards(number);
