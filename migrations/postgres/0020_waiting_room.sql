-- Sale day (issue 17): the waiting room in front of a first-come premium sale.
--
-- A campaign with a waiting room admits the tickets of its queue in the order they were
-- taken, at most `waiting_room_admits_per_s` a second; an admitted ticket may buy for
-- `waiting_room_admitted_for_s` seconds. The queue's state is these rows (not any server's
-- memory), so every instance on one database answers the same.
ALTER TABLE premium_campaigns ADD COLUMN waiting_room_admits_per_s integer
    CHECK (waiting_room_admits_per_s BETWEEN 1 AND 10000);
ALTER TABLE premium_campaigns ADD COLUMN waiting_room_admitted_for_s integer
    CHECK (waiting_room_admitted_for_s BETWEEN 30 AND 3600);
-- Both or neither: a waiting room has a rate and a window.
ALTER TABLE premium_campaigns ADD CONSTRAINT premium_campaigns_waiting_room_whole
    CHECK ((waiting_room_admits_per_s IS NULL) = (waiting_room_admitted_for_s IS NULL));
-- Tickets taken so far (the last ticket's position), and the instant (µs since the Unix
-- epoch) the last ticket is admitted at. A new ticket is admitted one interval (1 s / rate)
-- after it, or at once if the queue has drained: one guarded UPDATE per ticket, so two
-- instances taking tickets at once are ordered by the row's lock.
ALTER TABLE premium_campaigns ADD COLUMN queue_tickets bigint NOT NULL DEFAULT 0
    CHECK (queue_tickets >= 0);
ALTER TABLE premium_campaigns ADD COLUMN queue_last_admit_us bigint NOT NULL DEFAULT 0;

-- A place in a campaign's queue: one per shopper and campaign, positions unique and never
-- changed (a ticket's admission instant is fixed when it is taken).
CREATE TABLE premium_queue_tickets (
    id           uuid PRIMARY KEY,
    campaign_id  uuid NOT NULL REFERENCES premium_campaigns(id),
    shopper_id   uuid NOT NULL REFERENCES shoppers(id),
    position     bigint NOT NULL CHECK (position > 0),
    -- When the ticket is admitted (µs since the Unix epoch): it may buy from then for the
    -- campaign's waiting_room_admitted_for_s.
    admit_at_us  bigint NOT NULL,
    created_at   timestamptz NOT NULL,
    UNIQUE (campaign_id, shopper_id),
    UNIQUE (campaign_id, position)
);
CREATE TRIGGER premium_queue_tickets_immutable BEFORE UPDATE OR DELETE ON premium_queue_tickets
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
