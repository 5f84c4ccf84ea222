"""One answer to "without a place by the guarantee date": the guarantee watch, the allocation run and
the fairness audit agree (rules.place_meets_guarantee). A child placed outside its wishes has a place:
the guarantee is met, though it still waits for a wished one; a child with no place is a breach."""

from __future__ import annotations

from datetime import date

import pytest

import rules
from ledger import commands as c
from projections import WaitingLists
from projections import queries as q
from projections.allocation import run_allocation
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


@pytest.fixture
def city(new_city):
    return new_city(rule_set="copenhagen-2025-waitinglist@1")


def test_watch_run_and_audit_give_one_answer(city):
    wished = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Ønsket")
    elsewhere = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="Andetsteds")
    city.book(city.child(city.household(), birth=D(2024, 1, 10)), wished, D(2025, 1, 6))  # the wished seat is taken
    placed, unplaced = (city.child(city.household(), birth=D(2024, 3, 15)) for _ in range(2))
    for child in (placed, unplaced):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[wished], need_date=D(2025, 3, 1)))
    city.book(placed, elsewhere, D(2025, 3, 1))  # a place, not a wished one
    # Registered 2025-01-06, need date 2025-03-01: due three months after registration, 2025-04-06.
    city.ledger.clock.set(D(2025, 6, 2))
    city.run(c.RegisterHousehold(district="Nørrebro"))  # the lists' date follows the ledger's latest event

    projector = Projector(city.ledger, [WaitingLists()])
    projector.catch_up()
    watch = {r["child_id"]: r for r in q.guarantee_watch(projector.store, on=D(2025, 6, 2))}
    projector.close()
    assert {k: (r["place"], r["days_left"]) for k, r in watch.items()} == {
        placed: ("outside_wishes", -57), unplaced: ("none", -57)}

    run = run_allocation(city.ledger, "2025-06")
    assert run["offers"] == []  # no seat free anywhere
    assert [case["child_id"] for case in run["unplaced_cases"]] == [unplaced]

    breaches = fairness_audit(city.ledger, end=D(2025, 6, 2))["findings"]["guarantee_breaches"]
    assert [(b["child_id"], b["guarantee_date"]) for b in breaches] == [(unplaced, "2025-04-06")]
