"""The caseworkers' held share governs intake (SPEC §5, book-en-plads), on SQLite and PostgreSQL.

In each institution, age group and month 20 % of the general seats (rounded down) are held for
caseworker placements until 4 weeks before the month, and caseworker placements use them first.
A self-service booking needs a seat open to self-service in its start month and any free general
seat in every later month.
"""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import HealthCheck, Phase, event, given, settings
from hypothesis import strategies as st

import rules
from ledger import InvalidCommand, NoSeat
from ledger import commands as c
from ledger.aggregates import Institution

D = date
BIRTH = D(2024, 3, 15)  # nursery to 2026-12-31 in a vuggestue


def test_caseworker_placements_use_the_held_seats_first(city):
    # 10 seats, 2 held. Two caseworker placements take the 2 held seats; 8 families then book.
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    kids = [city.child(city.household()) for _ in range(11)]
    for kid in kids[:2]:
        city.book(kid, inst, D(2025, 9, 1), channel="caseworker")
    for kid in kids[2:10]:
        city.book(kid, inst, D(2025, 9, 1), channel="self_service")
    with pytest.raises(NoSeat, match=r"no free nursery seat in the general pool in 2025-09"):
        city.book(kids[10], inst, D(2025, 9, 1), channel="self_service")
    assert len(city.ledger.get(Institution, inst).seats_held("nursery", "general")) == 10  # none held empty


def test_the_seats_still_held_are_the_held_share_less_the_caseworker_placements(city):
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    kids = [city.child(city.household()) for _ in range(11)]
    city.book(kids[0], inst, D(2025, 9, 1), channel="caseworker")  # 1 of the 2 held seats used
    for kid in kids[1:9]:
        city.book(kid, inst, D(2025, 9, 1), channel="self_service")
    # 9 in use, 1 free, and that one is still held: the share is full, not the pool.
    # September's held seats are released on 2025-09-01 - 4 weeks = 2025-08-04.
    with pytest.raises(NoSeat, match=r"no nursery seat open to self-service in 2025-09: the self-service "
                                     r"share is full.* held for caseworker placements until 2025-08-04"):
        city.book(kids[9], inst, D(2025, 9, 1), channel="self_service")
    city.book(kids[9], inst, D(2025, 9, 1), channel="caseworker")  # a caseworker may use the whole pool


def test_a_refusal_names_the_first_day_without_any_seat_when_the_pool_is_full(city):
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    for _ in range(8):
        city.book(city.child(city.household()), inst, D(2025, 9, 1), channel="self_service")
    for _ in range(2):
        city.book(city.child(city.household()), inst, D(2025, 9, 20), channel="caseworker")
    # 1-19 September only the share is full (2 seats held); from the 20th no seat is free at all.
    with pytest.raises(NoSeat, match=r"no free nursery seat in the general pool in 2025-09 \(from 2025-09-20 to "):
        city.book(city.child(city.household()), inst, D(2025, 9, 1), channel="self_service")


def test_a_released_seat_is_the_familys_to_the_end_of_its_booking(new_city):
    # Today 2025-05-10: June's held seats were released on 2025-05-04, July's are still held.
    city = new_city(start=D(2025, 5, 10))
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    kids = [city.child(city.household()) for _ in range(8)]
    for kid in kids:
        city.book(kid, inst, D(2025, 6, 1), channel="self_service")
    # Self-service holds 8 seats from June to the end of the age band; the 2 held ones are free.
    # Before: refused "from 2025-07-01 to 2026-12-31" because July on was not yet released.
    ninth = city.book(city.child(city.household()), inst, D(2025, 6, 1), channel="self_service")
    assert (ninth["start_date"], ninth["end_date"]) == ("2025-06-01", "2026-12-31")
    # A child whose nursery booking ends 2025-07-31 (2 y 10 m in August) was refused too.
    short = city.book(city.child(city.household(), birth=D(2022, 10, 20)), inst, D(2025, 6, 1),
                      channel="self_service")
    assert short["end_date"] == "2025-07-31"
    # The pool is full now: a July start is refused as having no seat at all.
    with pytest.raises(NoSeat, match=r"no free nursery seat in the general pool in 2025-07"):
        city.book(city.child(city.household()), inst, D(2025, 7, 1), channel="self_service")


def test_july_starts_still_meet_julys_held_seats(new_city):
    city = new_city(start=D(2025, 5, 10))
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    for _ in range(8):
        city.book(city.child(city.household()), inst, D(2025, 6, 1), channel="self_service")
    # A booking starting in July needs a seat open to self-service in July: the 2 free ones are held.
    with pytest.raises(NoSeat, match=r"open to self-service in 2025-07.* until 2025-06-03"):
        city.book(city.child(city.household()), inst, D(2025, 7, 1), channel="self_service")


def test_an_accepted_offer_is_a_caseworker_placement_whoever_answers(city):
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    kids = [city.child(city.household()) for _ in range(10)]
    for kid in kids[:8]:
        city.book(kid, inst, D(2025, 9, 1), channel="self_service")
    city.run(c.Register(child_id=kids[8], age_group="nursery", wishes=[inst], need_date=D(2025, 9, 1)))
    offer = city.run(c.OfferPlace(child_id=kids[8], institution_id=inst, age_group="nursery",
                                  start_date=D(2025, 9, 1), expires_on=D(2025, 1, 20), rank=1,
                                  priority_basis="placement office"))
    # The family answers the office's offer itself: it takes a held seat, as the office's placement.
    city.run(c.AcceptOffer(child_id=kids[8], offer_id=offer["id"]), channel="self_service")
    with pytest.raises(NoSeat, match="self-service share is full"):  # the other held seat is still held
        city.book(kids[9], inst, D(2025, 9, 1), channel="self_service")


def test_under_the_waiting_list_a_family_answers_its_offer_itself(new_city):
    city = new_city("copenhagen-2025-waitinglist@1")
    inst = city.institution(kind="vuggestue", nursery=2, kindergarten=None)
    kid = city.child(city.household())
    city.run(c.Register(child_id=kid, age_group="nursery", wishes=[inst], need_date=D(2025, 3, 1)))
    offer = city.run(c.OfferPlace(child_id=kid, institution_id=inst, age_group="nursery",
                                  start_date=D(2025, 3, 1), expires_on=D(2025, 1, 20), rank=1,
                                  priority_basis="seniority"))
    booked = city.run(c.AcceptOffer(child_id=kid, offer_id=offer["id"]), channel="self_service")
    assert booked["start_date"] == "2025-03-01"


# -- the property -------------------------------------------------------------------------------------

CAPACITY_FROM = D(2024, 1, 1)
attempt = st.tuples(
    st.sampled_from(["self_service", "self_service", "caseworker", "cancel"]),
    st.integers(0, 700),   # birth: days before 2024-07-01
    st.integers(0, 100),   # start: days after today
    st.integers(0, 20),    # days to the next attempt
    st.integers(0, 30),    # which booking a cancel ends
)


def _fits(spans, first, last, allowed) -> bool:
    """Day by day: one more seat stays within allowed(day, in_use, caseworkers) on every day."""
    day = first
    while day <= last:
        in_use = sum(1 for a, z, _ in spans if a <= day <= z)
        caseworkers = sum(1 for a, z, cw in spans if cw and a <= day <= z)
        if in_use + 1 > allowed(day, caseworkers):
            return False
        day += timedelta(days=1)
    return True


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture],
          phases=[Phase.explicit, Phase.reuse, Phase.generate, Phase.shrink])
@given(capacity=st.sampled_from([5, 7, 10]), attempts=st.lists(attempt, min_size=6, max_size=16))
def test_self_service_is_refused_exactly_when_its_start_month_has_no_open_seat_or_a_later_month_no_seat(
        store, city_class, capacity, attempts):
    """Accepted iff the start month has a free general seat beyond those still held (held by hand:
    20 % rounded down, less the caseworker placements, none from 4 weeks before the month) and
    every later day of the booking a free general seat; caseworkers need only a free seat."""
    held = capacity // 5
    ledger = store.ledger(url=store.new_url())
    try:
        city = city_class(ledger)
        rs = rules.load_rule_set("copenhagen-book-en-plads@1")
        inst = city.institution(kind="vuggestue", nursery=capacity, kindergarten=None, effective_from=CAPACITY_FROM)
        spans: list[list] = []  # [first, last, caseworker, booking id, cancelled] of the accepted bookings
        for channel, born, start_in, pause, which in attempts:
            today = ledger.clock.today()
            start = today + timedelta(days=start_in)
            if channel == "cancel":
                if spans:
                    span = spans[which % len(spans)]
                    effective = max(span[0], start)
                    if effective <= span[1] and not span[4]:
                        city.run(c.CancelBooking(booking_id=span[3], effective_date=effective, reason="moving"))
                        span[1], span[4] = effective - timedelta(days=1), True
            else:
                birth = D(2024, 7, 1) - timedelta(days=born)
                try:
                    end = rules.booking_end(birth, start, "vuggestue", rs)
                except rules.RuleError:
                    end = None  # outside the nursery age: the ledger refuses it as invalid
                month = start.replace(day=1)
                released = today >= month - timedelta(weeks=4)

                def allowed(day, caseworkers):
                    if channel == "caseworker" or day.replace(day=1) > month:
                        return capacity
                    return capacity - (0 if released else max(0, held - caseworkers))

                fits = end is not None and _fits([s[:3] for s in spans], start, end, allowed)
                child = city.child(city.household(), birth=birth)
                try:
                    booked = city.book(child, inst, start, channel=channel)
                except NoSeat:
                    assert end is not None and not fits
                    share = _fits([s[:3] for s in spans], start, end, lambda day, caseworkers: capacity)
                    event(f"{channel} refused" + (" by the seats still held" if share else ""))
                except InvalidCommand:
                    assert end is None
                else:
                    assert fits
                    spans.append([start, D.fromisoformat(booked["end_date"]), channel == "caseworker", booked["id"],
                                  False])
                    event(f"{channel} accepted" + (" after the release" if released and channel != "caseworker" else ""))
            ledger.clock.set(ledger.clock.now() + timedelta(days=pause))
    finally:
        ledger.close()
