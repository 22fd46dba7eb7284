-- Sale day: the waiting room in front of a first-come premium sale.
-- Comments: ../postgres/0020_waiting_room.sql. SQLite cannot add a table constraint, so
-- "both or neither" rides on the second column (SQLite column checks may name other columns).

ALTER TABLE premium_campaigns ADD COLUMN waiting_room_admits_per_s INTEGER
    CHECK (waiting_room_admits_per_s BETWEEN 1 AND 10000);
ALTER TABLE premium_campaigns ADD COLUMN waiting_room_admitted_for_s INTEGER
    CHECK (waiting_room_admitted_for_s BETWEEN 30 AND 3600
           AND (waiting_room_admits_per_s IS NULL) = (waiting_room_admitted_for_s IS NULL));
ALTER TABLE premium_campaigns ADD COLUMN queue_tickets INTEGER NOT NULL DEFAULT 0
    CHECK (queue_tickets >= 0);
ALTER TABLE premium_campaigns ADD COLUMN queue_last_admit_us INTEGER NOT NULL DEFAULT 0;

CREATE TABLE premium_queue_tickets (
    id           BLOB PRIMARY KEY,
    campaign_id  BLOB NOT NULL REFERENCES premium_campaigns(id),
    shopper_id   BLOB NOT NULL REFERENCES shoppers(id),
    position     INTEGER NOT NULL CHECK (position > 0),
    admit_at_us  INTEGER NOT NULL,
    created_at   TEXT NOT NULL,
    UNIQUE (campaign_id, shopper_id),
    UNIQUE (campaign_id, position)
) STRICT;
CREATE TRIGGER premium_queue_tickets_immutable_u BEFORE UPDATE ON premium_queue_tickets BEGIN SELECT RAISE(ABORT, 'rows of premium_queue_tickets are immutable'); END;
CREATE TRIGGER premium_queue_tickets_immutable_d BEFORE DELETE ON premium_queue_tickets BEGIN SELECT RAISE(ABORT, 'rows of premium_queue_tickets are immutable'); END;
