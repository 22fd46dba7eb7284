-- A period that cuts a month counts that month's shoppers from their rows (`days`, and the
-- links of migration 0026). Through the primary key each row was a lookup of the table row;
-- this index holds every column those reads need, so a month is one walk of one index.
CREATE INDEX agg_shopper_months_cover
    ON agg_shopper_months (program_id, month, owner_id, days, prev_month, next_month);
