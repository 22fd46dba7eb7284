-- A shopper blocked by staff (operators or city admins) at the counter: a state of the
-- shopper, not of a token. While blocked_at is set, the shopper's tokens and sessions resolve
-- to nothing usable (403 shopper_blocked), sign-in is refused, and no movement that the
-- shopper would make or receive (payment, charge, transfer, earn, spend) is posted; balances
-- stay as they are. Unblocking clears all three columns; the audit log keeps every block and
-- unblock with its reason and who did it.
ALTER TABLE shoppers ADD COLUMN blocked_at timestamptz;
ALTER TABLE shoppers ADD COLUMN blocked_reason text CHECK (length(blocked_reason) BETWEEN 1 AND 200);
-- The staff member who blocked (a staff id; staff are never deleted).
ALTER TABLE shoppers ADD COLUMN blocked_by uuid;
-- The three are set together or not at all: a block always has its reason and its author.
ALTER TABLE shoppers ADD CONSTRAINT shoppers_block_whole CHECK (
    (blocked_at IS NULL) = (blocked_reason IS NULL) AND (blocked_at IS NULL) = (blocked_by IS NULL)
);
-- The counter finds a shopper by a point card number: point_cards(program_id, number) is
-- unique per program; this index finds a number across the city's programs.
CREATE INDEX point_cards_number ON point_cards(number);
