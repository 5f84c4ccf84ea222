"""One answer to "without a place by the guarantee date": the guarantee watch, the allocation run and
the fairness audit agree (rules.place_meets_guarantee, rules.offer_meets_guarantee). A child placed
outside its wishes has a place, and a family that refused an offer by the date was offered one: the
guarantee is met, though the child still waits for a wish; a child with neither is a breach."""

from __future__ import annotations

from datetime import date

import pytest

import rules
from ledger import commands as c
from projections import WaitingLists
from projections import queries as q
from processes.allocation import run_allocation
from projections.engine import Projector
from replay.audit import fairness_audit

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


def test_watch_run_and_audit_give_one_answer(city):
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
    # Registered 2025-01-06, need date 2025-03-01: due three months after registration, 2025-04-06.
    city.ledger.clock.set(D(2025, 6, 2))
    city.run(c.RegisterHousehold(district="Nørrebro"))  # the lists' date follows the ledger's latest event

    projector = Projector(city.ledger, [WaitingLists()])
    projector.catch_up()
    watch = {r["child_id"]: r for r in q.guarantee_watch(projector.store, on=D(2025, 6, 2))}
    projector.close()
    assert {k: (r["guarantee_met_by"], r["days_left"]) for k, r in watch.items()} == {
        placed: ("place", -57), unplaced: (None, -57),
        # declining moved its need date 2 months (2025-05-01), and with it the guarantee date
        refusing: ("refused_offer", -32)}

    run = run_allocation(city.ledger, "2025-06")
    assert run["offers"] == []  # no seat free anywhere
    assert [case["child_id"] for case in run["unplaced_cases"]] == [unplaced]

    findings = fairness_audit(city.ledger, end=D(2025, 6, 2))["findings"]
    assert [(b["child_id"], b["guarantee_date"], b["days_late"]) for b in findings["guarantee_breaches"]] == \
        [(unplaced, "2025-04-06", 57)]
    assert [x["child_id"] for x in findings["guarantee_met_by_refused_offer"]] == [refusing]
