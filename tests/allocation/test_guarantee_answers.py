"""One answer to "without a place by the guarantee date": the guarantee watch, the allocation run and
the fairness audit agree (rules.place_meets_guarantee, rules.offer_meets_guarantee). A child placed
outside its wishes has a place, and a family that refused an offer by the date was offered one: the
guarantee is met, though the child still waits for a wish; a child with neither is a breach — also when
it has left the lists with a place at a wish that starts after the date, or one cancelled unused."""

from __future__ import annotations

from datetime import date

import pytest

import rules
from ledger import commands as c
from ledger.aggregates import Child
from projections import WaitingLists
from projections import queries as q
from processes.allocation import run_allocation
from projections.projector import Projector
from replay.audit import fairness_audit
from replay.guarantee_answers import guarantee_answers

D = date


def test_the_rule_counts_any_place_and_only_a_place():
    due, registered = D(2025, 6, 1), D(2025, 1, 6)
    assert rules.place_meets_guarantee(due, registered, [(D(2025, 5, 1), D(2026, 12, 31))])  # covers the date
    assert rules.place_meets_guarantee(due, registered, [(D(2025, 2, 1), D(2025, 4, 30))])  # taken, ended before
    assert not rules.place_meets_guarantee(due, registered, [(D(2024, 9, 1), D(2024, 12, 31))])  # before registering
    assert not rules.place_meets_guarantee(due, registered, [(D(2025, 7, 1), D(2026, 12, 31))])  # starts later
    assert not rules.place_meets_guarantee(due, registered, [(D(2025, 5, 1), D(2025, 4, 30))])  # cancelled unused
    assert rules.guarantee_days_late(due, D(2025, 5, 31), registered, []) is None  # not yet due
    assert rules.guarantee_days_late(due, D(2025, 6, 11), registered, []) == 10  # still waiting: to the day asked
    assert rules.guarantee_days_late(due, D(2025, 9, 1), registered, [(D(2025, 7, 1), D(2026, 12, 31))]) == 30
    assert rules.offer_meets_guarantee(due, [D(2025, 6, 1)]) and not rules.offer_meets_guarantee(due, [D(2025, 6, 2)])


@pytest.fixture
def city(new_city):
    return new_city(rule_set="copenhagen-2025-waitinglist@1")


@pytest.fixture
def five(city):
    """Five children past their guarantee date (2025-04-06) on 2025-06-02: one placed outside its wishes,
    one that refused an offer, one with nothing, one placed at a wish from July, one whose place was
    cancelled before it started."""
    wished = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Ønsket")
    elsewhere = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Andetsteds")
    city.book(city.child(city.household(), birth=D(2024, 1, 10)), wished, D(2025, 1, 6))  # the wished seat is taken
    offered = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Tilbudt")
    placed, unplaced, refusing = (city.child(city.household(), birth=D(2024, 3, 15)) for _ in range(3))
    for child in (placed, unplaced, refusing):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[wished], need_date=D(2025, 3, 1)))
    city.book(placed, elsewhere, D(2025, 3, 1))  # a place, not a wished one
    offer = city.run(c.OfferPlace(child_id=refusing, institution_id=offered, age_group="nursery",
                                  start_date=D(2025, 3, 1), expires_on=D(2025, 2, 1), rank=1,
                                  priority_basis="guarantee"), channel="system")["id"]
    city.run(c.DeclineOffer(child_id=refusing, offer_id=offer, reason="we wait for our wish"))
    city.book(city.child(city.household(), birth=D(2024, 1, 12)), offered, D(2025, 3, 1))  # that seat went
    # Off the lists without a place by the date: a wished place from a later start (no seat at the need
    # date, so July), and a wished place cancelled before it started.
    later_inst = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="Senere")
    late, cancelled = (city.child(city.household(), birth=D(2024, 3, 15)) for _ in range(2))
    for child in (late, cancelled):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[later_inst], need_date=D(2025, 3, 1)))
    city.book(late, later_inst, D(2025, 7, 1))
    unused = city.book(cancelled, later_inst, D(2025, 3, 1))["id"]
    city.run(c.CancelBooking(booking_id=unused, effective_date=D(2025, 3, 1), reason="moved abroad after all"))
    # Registered 2025-01-06, need date 2025-03-01: due three months after registration, 2025-04-06.
    city.ledger.clock.set(D(2025, 6, 2))
    city.run(c.RegisterHousehold(district="Nørrebro"))  # the lists' date follows the ledger's latest event

    return city, {"placed": placed, "unplaced": unplaced, "refusing": refusing, "late": late,
                  "cancelled": cancelled}


def test_watch_run_and_audit_give_one_answer(five):
    city, kids = five
    placed, unplaced, refusing, late, cancelled = (kids[k] for k in ("placed", "unplaced", "refusing", "late",
                                                                     "cancelled"))
    projector = Projector(city.ledger, [WaitingLists()])
    projector.catch_up()
    watch = {r["child_id"]: r for r in q.guarantee_watch(projector.store, on=D(2025, 6, 2))}
    projector.close()
    assert {k: (r["guarantee_met_by"], r["days_left"], r["place_from"]) for k, r in watch.items()} == {
        placed: ("place", -57, None), unplaced: (None, -57, None),
        # declining moved its need date 2 months (2025-05-01), and with it the guarantee date
        refusing: ("refused_offer", -32, None),
        late: (None, -57, D(2025, 7, 1)), cancelled: (None, -57, None)}

    run = run_allocation(city.ledger, "2025-06")
    assert run["offers"] == []  # no seat free anywhere
    assert sorted(case["child_id"] for case in run["unplaced_cases"]) == sorted([unplaced, late, cancelled])

    findings = fairness_audit(city.ledger, end=D(2025, 6, 2))["findings"]
    assert sorted((b["child_id"], b["guarantee_date"], b["days_late"], b["still_waiting"])
                  for b in findings["guarantee_breaches"]) == \
        sorted((child, "2025-04-06", 57, True) for child in (unplaced, late, cancelled))
    assert [x["child_id"] for x in findings["guarantee_met_by_refused_offer"]] == [refusing]


def test_a_family_that_booked_a_later_start_is_late_in_every_answer(new_city):
    """Book en plads: the family finds no seat at its need date and books its wish from a later month;
    the demo city showed the audit counting it while the watch and the run did not."""
    city = new_city()  # copenhagen-book-en-plads@1
    wished = city.institution(kind="vuggestue", nursery=5, kindergarten=None, name="Ønsket")
    child = city.child(city.household(), birth=D(2024, 3, 15))
    city.run(c.Register(child_id=child, age_group="nursery", wishes=[wished], need_date=D(2025, 3, 1)),
             channel="self_service")
    city.book(child, wished, D(2025, 8, 1), channel="self_service")
    city.ledger.clock.set(D(2025, 6, 2))
    city.run(c.RegisterHousehold(district="Nørrebro"))

    projector = Projector(city.ledger, [WaitingLists()])
    projector.catch_up()
    watch = q.guarantee_watch(projector.store, on=D(2025, 6, 2))
    projector.close()
    assert [(r["child_id"], r["guarantee_date"], r["guarantee_met_by"], r["place_from"]) for r in watch] == \
        [(child, D(2025, 4, 6), None, D(2025, 8, 1))]
    run = run_allocation(city.ledger, "2025-06")
    assert [(case["child_id"], case["place_from"]) for case in run["unplaced_cases"]] == [(child, D(2025, 8, 1))]
    breaches = fairness_audit(city.ledger, end=D(2025, 6, 2))["findings"]["guarantee_breaches"]
    assert [(b["child_id"], b["days_late"], b["still_waiting"]) for b in breaches] == [(child, 57, True)]


def test_a_child_past_its_date_with_an_open_offer_is_without_a_place_in_every_answer(new_city):
    """An offer the family has not answered yet is no place: past the guarantee date the watch and the
    audit name the child, and so must the run (it makes no second offer, but the case is still open)."""
    city = new_city(rule_set="copenhagen-2025-waitinglist@1")
    wished = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Ønsket")
    child = city.child(city.household(), birth=D(2024, 3, 15))
    city.run(c.Register(child_id=child, age_group="nursery", wishes=[wished], need_date=D(2025, 3, 1)))
    city.ledger.clock.set(D(2025, 5, 20))  # due 2025-04-06; the offer starts after it
    city.run(c.OfferPlace(child_id=child, institution_id=wished, age_group="nursery", start_date=D(2025, 6, 1),
                          expires_on=D(2025, 6, 3), rank=1, priority_basis="seniority"), channel="system")
    city.ledger.clock.set(D(2025, 6, 2))
    city.run(c.RegisterHousehold(district="Nørrebro"))

    answers = guarantee_answers(city.ledger)
    assert answers.on == D(2025, 6, 2)
    assert answers.watch == answers.audit == {(child, "nursery")}
    assert answers.run_unplaced == {(child, "nursery")} and answers.run_offered == set()
    assert answers.agree() and answers.disagreements() == {}


def test_the_three_answers_side_by_side_name_the_same_children(five):
    """replay.guarantee_answers, the comparison measured on the demo city (docs/allocation.md)."""
    city, kids = five
    answers = guarantee_answers(city.ledger)
    assert answers.watch == answers.run_unplaced == answers.audit == \
        {(kids[k], "nursery") for k in ("unplaced", "late", "cancelled")}
    assert answers.run_offered == set() and answers.audit_placed_late == 0
    assert answers.breached_on == {D(2025, 4, 6)} and answers.agree()


def test_a_wished_seat_offered_to_a_child_whose_guarantee_is_met_is_no_guarantee_case(new_city):
    """The demo city's waiting list: the run offers a wished seat to a child past its date that holds a
    place outside its wishes. Its guarantee was met; the comparison must not count the offer as one."""
    city = new_city(rule_set="copenhagen-2025-waitinglist@1")
    wished = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Ønsket")
    elsewhere = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Andetsteds")
    child = city.child(city.household(), birth=D(2024, 3, 15))
    city.run(c.Register(child_id=child, age_group="nursery", wishes=[wished], need_date=D(2025, 3, 1)))
    city.book(child, elsewhere, D(2025, 3, 1))
    city.ledger.clock.set(D(2025, 6, 2))
    city.run(c.RegisterHousehold(district="Nørrebro"))

    answers = guarantee_answers(city.ledger)
    assert answers.watch == answers.run_unplaced == answers.audit == set()
    assert answers.run_offered == set() and answers.agree()
    offers = [o for o in city.ledger.get(Child, child).offers.values()]
    assert [(o["institution_id"], o["state"]) for o in offers] == [(wished, "open")]  # the run did offer it
