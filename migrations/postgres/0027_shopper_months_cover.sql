-- A period that cuts a month counts that month's shoppers from their rows (`days`, and the
-- links of migration 0026). Through the primary key each row was a heap fetch: a usage
-- report over two 年度 with cut months read eight months of rows, ~190,000 buffers and
-- 0.5-0.6 s at 100,000 wallets. This index answers those reads alone (an index-only scan:
-- 1,800 buffers), once vacuum has marked the months' pages all-visible, as autovacuum does.
CREATE INDEX agg_shopper_months_cover ON agg_shopper_months (program_id, month)
    INCLUDE (owner_id, days, prev_month, next_month);
