-- Sale day (issue 17): a sold counter on every premium-set campaign, and lottery sales (抽選販売).

-- Sets sold and premium granted by the campaign's live sales. The sale adds to them in the
-- same write transaction as its postings, so the budget check reads one row instead of
-- summing every sale of the campaign (O(n²) over a sale day). A reversal gives them back by
-- the trigger below: reversals are the payments capability's, which names no campaign.
ALTER TABLE premium_campaigns ADD COLUMN units_sold bigint NOT NULL DEFAULT 0
    CHECK (units_sold >= 0);
ALTER TABLE premium_campaigns ADD COLUMN premium_granted_yen bigint NOT NULL DEFAULT 0
    CHECK (premium_granted_yen >= 0);
UPDATE premium_campaigns c SET units_sold = s.units, premium_granted_yen = s.premium
    FROM (SELECT p.campaign_id, sum(p.units) AS units, sum(p.premium_yen) AS premium
          FROM premium_purchases p
          WHERE NOT EXISTS (SELECT 1 FROM transactions r WHERE r.reverses_id = p.transaction_id)
          GROUP BY p.campaign_id) s
    WHERE s.campaign_id = c.id;
-- Never one set over the budget, whatever the code does.
ALTER TABLE premium_campaigns ADD CONSTRAINT premium_campaigns_within_budget
    CHECK (premium_granted_yen <= budget_yen);

CREATE FUNCTION machipay_premium_sale_reversed() RETURNS trigger AS $$
BEGIN
    UPDATE premium_campaigns c
       SET units_sold = c.units_sold - p.units,
           premium_granted_yen = c.premium_granted_yen - p.premium_yen
      FROM premium_purchases p
     WHERE p.transaction_id = NEW.reverses_id AND c.id = p.campaign_id;
    RETURN NULL;
END
$$ LANGUAGE plpgsql;
CREATE TRIGGER transactions_premium_sale_reversed AFTER INSERT ON transactions
    FOR EACH ROW WHEN (NEW.reverses_id IS NOT NULL)
    EXECUTE FUNCTION machipay_premium_sale_reversed();

-- How a campaign sells. 'first_come': anyone, while on sale. 'lottery': while on sale only
-- shoppers holding an entitlement (the lottery's winners, in their purchase period), and
-- anyone from first_come_from on (NULL: never; set when unclaimed sets go first-come).
ALTER TABLE premium_campaigns ADD COLUMN sale_mode text NOT NULL DEFAULT 'first_come'
    CHECK (sale_mode IN ('first_come', 'lottery'));
ALTER TABLE premium_campaigns ADD COLUMN first_come_from timestamptz;

-- The right to buy up to `units` sets of a campaign between buy_from and buy_until. One per
-- shopper and campaign: a second draw is only among those who lost the first.
CREATE TABLE premium_entitlements (
    campaign_id uuid NOT NULL REFERENCES premium_campaigns(id),
    shopper_id  uuid NOT NULL REFERENCES shoppers(id),
    units       integer NOT NULL CHECK (units > 0),
    buy_from    timestamptz NOT NULL,
    buy_until   timestamptz NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, shopper_id),
    CHECK (buy_until > buy_from)
);
CREATE TRIGGER premium_entitlements_immutable BEFORE UPDATE OR DELETE ON premium_entitlements
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- City staff's check that a shopper lives in the city (for residents-only lotteries): when
-- and how it was checked. A new check replaces the old.
CREATE TABLE resident_verifications (
    shopper_id  uuid PRIMARY KEY REFERENCES shoppers(id),
    verified_on date NOT NULL,
    method      text NOT NULL CHECK (length(method) BETWEEN 1 AND 100),
    verified_by uuid NOT NULL,
    created_at  timestamptz NOT NULL
);

-- A lottery sale of a premium-set campaign (sale_mode 'lottery'). seed_hash is the hex
-- SHA-256 of the seed the operator keeps secret until the draw; it is published from the
-- lottery's creation and never changes (the row is immutable), so the operator cannot pick
-- the seed after seeing the applications.
CREATE TABLE lotteries (
    campaign_id           uuid PRIMARY KEY REFERENCES premium_campaigns(id),
    applications_open_at  timestamptz NOT NULL,
    applications_close_at timestamptz NOT NULL,
    -- Winners buy from the campaign's sale_starts_at until this instant.
    winners_buy_until     timestamptz NOT NULL,
    residents_only        boolean NOT NULL,
    -- What happens to sets winners did not buy: a second draw among the others, or first-come.
    unclaimed             text NOT NULL CHECK (unclaimed IN ('second_draw', 'first_come')),
    seed_hash             text NOT NULL CHECK (length(seed_hash) = 64),
    created_by            uuid NOT NULL,
    created_at            timestamptz NOT NULL,
    CHECK (applications_close_at > applications_open_at)
);
CREATE TRIGGER lotteries_immutable BEFORE UPDATE OR DELETE ON lotteries
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- One application per shopper and lottery (the primary key).
CREATE TABLE lottery_applications (
    campaign_id uuid NOT NULL REFERENCES lotteries(campaign_id),
    shopper_id  uuid NOT NULL REFERENCES shoppers(id),
    units       integer NOT NULL CHECK (units > 0),
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, shopper_id)
);
CREATE TRIGGER lottery_applications_immutable BEFORE UPDATE OR DELETE ON lottery_applications
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- Each draw (round 1, and round 2 of the unclaimed sets) once, with the revealed seed (whose
-- SHA-256 is the lottery's seed_hash) and the sets it had to give.
CREATE TABLE lottery_draws (
    campaign_id  uuid NOT NULL REFERENCES lotteries(campaign_id),
    round        integer NOT NULL CHECK (round IN (1, 2)),
    seed         text NOT NULL,
    budget_units bigint NOT NULL CHECK (budget_units >= 0),
    drawn_by     uuid NOT NULL,
    drawn_at     timestamptz NOT NULL,
    PRIMARY KEY (campaign_id, round)
);
CREATE TRIGGER lottery_draws_immutable BEFORE UPDATE OR DELETE ON lottery_draws
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();

-- A winning application: whole, in one round (an application wins at most once).
CREATE TABLE lottery_winners (
    campaign_id uuid NOT NULL,
    shopper_id  uuid NOT NULL,
    round       integer NOT NULL,
    units       integer NOT NULL CHECK (units > 0),
    PRIMARY KEY (campaign_id, shopper_id),
    FOREIGN KEY (campaign_id, shopper_id) REFERENCES lottery_applications(campaign_id, shopper_id),
    FOREIGN KEY (campaign_id, round) REFERENCES lottery_draws(campaign_id, round)
);
CREATE TRIGGER lottery_winners_immutable BEFORE UPDATE OR DELETE ON lottery_winners
    FOR EACH ROW EXECUTE FUNCTION machipay_forbid_change();
