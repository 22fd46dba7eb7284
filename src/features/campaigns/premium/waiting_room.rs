//! The waiting room in front of a first-come premium sale (issue 17): a shopper takes a
//! ticket, polls it, and is admitted in the order tickets were taken at the campaign's rate;
//! only an admitted ticket buys, for a limited time.
//!
//! Every ticket's admission instant is fixed when it is taken: one interval (1 s / rate)
//! after the ticket before it, or at once if the queue has drained. So a poll is one read on
//! the read pool (no job for the writer), the wait it shows is exact (unless the sets run out
//! first), and the queue is the database's rows, the same on every instance. Taking a ticket
//! is one small writer job (one guarded UPDATE of the campaign's counters, one INSERT), in
//! the writer's sale lane (`Writer::sale`), as the purchases are.

use chrono::{DateTime, SecondsFormat, Utc};

use super::store::{self, PremiumCampaignRow, TicketRow};
use super::{PremiumRefusal, QueueTicket, SALE_MODE_FIRST_COME, WaitingRoomTerms, campaign};
use crate::app::App;
use crate::error::{AppError, internal};
use crate::writer::{Answer, Done, Work};
use machipay_domain::auth::{Capability, Principal};
use machipay_domain::ids::*;

/// Microseconds between two admissions at `admits_per_s` a second.
fn interval_us(room: WaitingRoomTerms) -> i64 {
    1_000_000 / i64::from(room.admits_per_s.max(1))
}

/// What a waiting room's terms must be.
pub fn check_terms(room: &WaitingRoomTerms, sale_mode: &str) -> Result<(), AppError> {
    if sale_mode != SALE_MODE_FIRST_COME {
        return Err(
            PremiumRefusal::InvalidWaitingRoom("a waiting room is for first-come sales").into(),
        );
    }
    if !(1..=10_000).contains(&room.admits_per_s) || !(30..=3_600).contains(&room.admitted_for_s) {
        return Err(PremiumRefusal::InvalidWaitingRoom(
            "admits_per_s must be 1 to 10000 and admitted_for_s 30 to 3600",
        )
        .into());
    }
    Ok(())
}

/// The campaign's waiting room, if its buyers must go through one now.
fn room_of(c: &PremiumCampaignRow) -> Option<WaitingRoomTerms> {
    c.waiting_room()
        .filter(|_| c.sale_mode == SALE_MODE_FIRST_COME)
}

/// A sale that is over, or sold out, is answered at once to whoever asks, waiting or not.
fn still_selling(c: &PremiumCampaignRow, now: DateTime<Utc>) -> Result<(), AppError> {
    if c.sold_out() {
        return Err(PremiumRefusal::CampaignSoldOut.into());
    }
    if now >= c.sale_ends_at {
        return Err(PremiumRefusal::CampaignNotOnSale.into());
    }
    Ok(())
}

/// A ticket as of `now`: waiting (with the tickets ahead and the wait), admitted or expired.
fn view(t: &TicketRow, room: WaitingRoomTerms, now: DateTime<Utc>) -> QueueTicket {
    let interval = interval_us(room);
    let now_us = now.timestamp_micros();
    let window_us = i64::from(room.admitted_for_s) * 1_000_000;
    let until_us = t.admit_at_us + window_us;
    let wait_us = (t.admit_at_us - now_us).max(0);
    // Tickets admitted later than now form one run spaced by the interval that ends with
    // this one (a run starts with a ticket admitted when it was taken, in the past), so the
    // waiting ones ahead are the interval's steps between now and this ticket's turn.
    let ahead = if wait_us == 0 {
        0
    } else {
        ((wait_us + interval - 1) / interval - 1).clamp(0, t.position - 1)
    };
    let wait_ms = (wait_us + 999) / 1_000;
    let (state, poll_after_ms) = if wait_us > 0 {
        // Close to the turn, come back right at it; far from it, halfway (at most 5 s, so a
        // sold-out sale is heard within 5 s).
        let pause = if wait_ms <= 2_000 {
            wait_ms.max(50)
        } else {
            (wait_ms / 2).min(5_000)
        };
        ("waiting", pause)
    } else if now_us < until_us {
        ("admitted", ((until_us - now_us) / 1_000).min(10_000))
    } else {
        ("expired", 10_000)
    };
    let at = |us: i64| DateTime::from_timestamp_micros(us).unwrap_or(now);
    QueueTicket {
        id: t.id,
        campaign_id: t.campaign_id,
        shopper_id: t.shopper_id,
        position: t.position,
        state: state.to_owned(),
        ahead,
        admit_at: at(t.admit_at_us),
        estimated_wait_ms: wait_ms,
        buy_until: at(until_us),
        poll_after_ms,
    }
}

/// A shopper takes a place in the campaign's queue, or is handed the one they took (one per
/// shopper and campaign, 200 then). A sold-out or ended sale is answered at once, before the
/// writer is asked for anything.
pub async fn enter(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign_id: PremiumCampaignId,
) -> Result<Answer<QueueTicket>, AppError> {
    let Principal::Shopper { id: shopper, .. } = who else {
        return Err(AppError::forbidden());
    };
    crate::features::directory::get_program(app, who, program).await?;
    let c = campaign(app, program, campaign_id).await?;
    let room = room_of(&c).ok_or(PremiumRefusal::NoWaitingRoom)?;
    let now = machipay_domain::calendar::now();
    still_selling(&c, now)?;
    if let Some(t) = store::ticket_of(&app.db, campaign_id, shopper).await? {
        return Ok(Answer::Fresh(Done::ok(view(&t, room, now))));
    }
    let earliest_from = c.sale_starts_at;
    // The sale's lane: thousands of tickets taken within seconds share each batch with the
    // town's payments only up to `writer::SALE_JOBS_PER_BATCH_MAX`.
    app.writer
        .sale()
        .answer(None, move |w| {
            Box::pin(take_ticket_in(w, campaign_id, shopper, room, earliest_from))
        })
        .await
}

async fn take_ticket_in(
    w: &mut Work,
    campaign_id: PremiumCampaignId,
    shopper: ShopperId,
    room: WaitingRoomTerms,
    sale_starts_at: DateTime<Utc>,
) -> Result<Done<QueueTicket>, AppError> {
    if let Some(t) = store::ticket_of_tx(&mut w.tx, campaign_id, shopper).await? {
        return Ok(Done::ok(view(&t, room, w.now)));
    }
    let earliest_us = w.now.max(sale_starts_at).timestamp_micros();
    let Some((position, admit_at_us)) =
        store::take_place(&mut w.tx, campaign_id, interval_us(room), earliest_us).await?
    else {
        return Err(PremiumRefusal::CampaignSoldOut.into());
    };
    let t = TicketRow {
        id: QueueTicketId::new(),
        campaign_id,
        shopper_id: shopper,
        position,
        admit_at_us,
        created_at: w.now,
    };
    store::insert_ticket(&mut w.tx, &t).await?;
    Ok(Done::created(view(&t, room, w.now)))
}

/// A ticket as of now (its shopper, or staff of the city). A sold-out or ended sale is
/// answered instead, to every waiting shopper at their next poll.
pub async fn ticket(
    app: &App,
    who: Principal,
    program: ProgramId,
    campaign_id: PremiumCampaignId,
    ticket: QueueTicketId,
) -> Result<QueueTicket, AppError> {
    let not_found = || AppError::not_found("ticket");
    let t = store::ticket(&app.db, ticket)
        .await?
        .filter(|t| t.campaign_id == campaign_id)
        .ok_or_else(not_found)?;
    let own = matches!(who, Principal::Shopper { id, .. } if id == t.shopper_id);
    if !own {
        if !who.can(Capability::ViewCity) {
            return Err(not_found());
        }
        crate::features::directory::get_program(app, who, program).await?;
    }
    let c = campaign(app, program, campaign_id).await?;
    let room = c
        .waiting_room()
        .ok_or_else(|| internal("a ticket of a campaign without a waiting room"))?;
    let now = machipay_domain::calendar::now();
    still_selling(&c, now)?;
    Ok(view(&t, room, now))
}

/// The purchase's check before the writer: a campaign with a waiting room needs a ticket of
/// this shopper, admitted by now. Only refusals that no earlier request with the same key
/// could have met otherwise are answered here (a ticket not yet admitted was never admitted),
/// so a replay still finds its stored reply in the writer.
pub async fn precheck(
    app: &App,
    program: ProgramId,
    campaign_id: PremiumCampaignId,
    shopper: ShopperId,
    ticket: Option<QueueTicketId>,
) -> Result<(), AppError> {
    let c = campaign(app, program, campaign_id).await?;
    let Some(room) = room_of(&c) else {
        return Ok(());
    };
    let ticket = ticket.ok_or(PremiumRefusal::TicketRequired)?;
    let t = store::ticket(&app.db, ticket).await?;
    let t = owned(t, campaign_id, shopper)?;
    admitted(&t, room, machipay_domain::calendar::now(), false)
}

/// The purchase's check in its write job: the shopper's ticket, admitted and within its
/// window (the window's end is checked here only).
pub async fn check_in(
    w: &mut Work,
    c: &PremiumCampaignRow,
    shopper: ShopperId,
    ticket: Option<QueueTicketId>,
) -> Result<(), AppError> {
    let Some(room) = room_of(c) else {
        return Ok(());
    };
    let ticket = ticket.ok_or(PremiumRefusal::TicketRequired)?;
    let t = store::ticket_tx(&mut w.tx, ticket).await?;
    let t = owned(t, c.id, shopper)?;
    admitted(&t, room, w.now, true)
}

fn owned(
    t: Option<TicketRow>,
    campaign_id: PremiumCampaignId,
    shopper: ShopperId,
) -> Result<TicketRow, AppError> {
    t.filter(|t| t.campaign_id == campaign_id && t.shopper_id == shopper)
        .ok_or_else(|| AppError::not_found("ticket"))
}

fn admitted(
    t: &TicketRow,
    room: WaitingRoomTerms,
    now: DateTime<Utc>,
    window: bool,
) -> Result<(), AppError> {
    let v = view(t, room, now);
    match v.state.as_str() {
        "waiting" => Err(PremiumRefusal::NotAdmittedYet(v.ahead, v.estimated_wait_ms).into()),
        "expired" if window => Err(PremiumRefusal::AdmissionExpired(
            v.buy_until.to_rfc3339_opts(SecondsFormat::Micros, true),
        )
        .into()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ticket(position: i64, admit_at_us: i64) -> TicketRow {
        TicketRow {
            id: QueueTicketId::new(),
            campaign_id: PremiumCampaignId::new(),
            shopper_id: ShopperId::new(),
            position,
            admit_at_us,
            created_at: Utc::now(),
        }
    }

    #[test]
    fn a_ticket_shows_the_tickets_ahead_and_the_exact_wait() {
        let room = WaitingRoomTerms {
            admits_per_s: 10,
            admitted_for_s: 60,
        };
        let now = DateTime::from_timestamp_micros(1_000_000_000).expect("instant");
        // The 25th ticket of a backed-up queue, admitted 1.5 s from now: 15 steps of 100 ms,
        // so 14 tickets ahead are still waiting.
        let v = view(&ticket(25, 1_001_500_000), room, now);
        assert_eq!(
            (v.state.as_str(), v.ahead, v.estimated_wait_ms),
            ("waiting", 14, 1_500)
        );
        // Admitted a second ago: may buy for 59 s more.
        let v = view(&ticket(3, 999_000_000), room, now);
        assert_eq!(
            (v.state.as_str(), v.ahead, v.estimated_wait_ms),
            ("admitted", 0, 0)
        );
        // Admitted 61 s ago: its window is over.
        let v = view(&ticket(1, 939_000_000), room, now);
        assert_eq!(v.state, "expired");
    }
}
