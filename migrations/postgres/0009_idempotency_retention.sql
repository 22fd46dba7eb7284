-- Stored replies are kept for a retention window (`serve --idempotency-retention-days`) and
-- then purged in batches of at most 1,000 rows, oldest first (`ledger::retention`). Each
-- batch finds its rows by age: without this index every batch would scan the whole table.
CREATE INDEX idempotency_keys_created ON idempotency_keys(created_at);
