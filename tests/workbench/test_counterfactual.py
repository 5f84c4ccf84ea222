"""Counterfactual replay: the demand of a ledger under another rule set, in a scratch ledger."""

from __future__ import annotations

from datetime import date as D

import pytest

from replay.audit import AuditError, fairness_audit
from replay.audit.counterfactual import replay_demand
from replay.audit.report import render_html

from .test_fairness import planted


def test_a_rule_set_against_itself_gives_zero_difference(city):
    planted(city)
    original = fairness_audit(city.ledger)
    result = fairness_audit(city.ledger, vs="copenhagen-book-en-plads@1")
    vs = result["vs"]
    assert vs["policy"] == vs["vs"] == "copenhagen-book-en-plads@1"
    assert vs["actual"] == vs["alternative"]
    assert vs["actual_breakdowns"] == vs["alternative_breakdowns"]
    assert vs["refused"] == {"actual": [], "alternative": []}
    # and the replay is faithful: the replayed demand under the rules in force has the original's measures
    flat = {k: v for k, v in original["summary"].items() if not isinstance(v, dict)}
    assert {k: vs["actual"][k] for k in flat} == flat
    assert vs["actual"]["justified_envy"] == 1 and vs["actual"]["wasted_seat_months"] == 1
    html = render_html(result)
    assert "Counterfactual: copenhagen-book-en-plads@1 vs copenhagen-book-en-plads@1" in html


def test_replay_is_deterministic_and_keeps_the_demand(city):
    ids = planted(city)
    dumps = []
    for _ in range(2):
        with replay_demand(city.ledger, "copenhagen-book-en-plads@1") as replayed:
            scratch = replayed.ledger
            rows = []
            from projections.engine import LogReader

            events, _ = LogReader(scratch, {"Child.Opskrevet", "Booking.PlaceBooked"}).page(0, 10_000)
            for e in events:
                data = {k: v for k, v in e.data.items() if k not in ("meta", "booking_id", "id")}
                rows.append((e.kind, e.recorded_at.isoformat(), e.originator_id, repr(sorted(data.items()))))
            dumps.append(rows)
    assert dumps[0] == dumps[1]
    booked = [r for r in dumps[0] if r[0] == "Booking.PlaceBooked"]
    assert len(booked) == 3 and any(ids["k"] in r[3] for r in booked)


def test_counterfactual_errors(city):
    planted(city)
    with pytest.raises(AuditError, match="scenario, not a packaged rule set"):
        fairness_audit(city.ledger, vs="friplads-2024-scale@1")
    with pytest.raises(AuditError, match="unknown rule set"):
        fairness_audit(city.ledger, vs="nope@1")


def test_a_waiting_list_counterfactual_is_deterministic(city):
    planted(city)
    first = fairness_audit(city.ledger, vs="copenhagen-2025-waitinglist@1")["vs"]
    again = fairness_audit(city.ledger, vs="copenhagen-2025-waitinglist@1")["vs"]
    assert first == again  # deterministic: same demand, rule set and seed
    assert first["alternative"]["registrations"] == first["actual"]["registrations"]


def test_transfers_and_their_cancellations_are_replayed(city):
    """A transfer frees the old seat and takes a new one; cancelling the new booking later must reach
    the replayed booking (its id differs from the original's)."""
    ids = planted(city)
    clock = city.ledger.clock
    bookings = {b.child_id: b.booking_id for b in _bookings(city)}
    moved = city.run(city.c.TransferChild(booking_id=bookings[ids["j1"]], institution_id=ids["b"],
                                          effective_date=D(2025, 6, 1), reason="closer to home"))
    clock.set(D(2025, 5, 20))
    city.run(city.c.CancelBooking(booking_id=moved["id"], effective_date=D(2025, 8, 1), reason="moving"))
    # the seat j1 left at A goes to i, which only fits if the transfer was replayed
    city.book(ids["i"], ids["a"], D(2025, 6, 1))
    clock.set(D(2025, 9, 2))
    city.household()
    original = fairness_audit(city.ledger)
    vs = fairness_audit(city.ledger, vs="copenhagen-book-en-plads@1")["vs"]
    assert vs["refused"]["actual"] == []
    flat = {k: v for k, v in original["summary"].items() if not isinstance(v, dict)}
    assert {k: vs["actual"][k] for k in flat} == flat
    with replay_demand(city.ledger, "copenhagen-book-en-plads@1") as replayed:
        from replay.audit.facts import Demand, fold

        facts = Demand()
        fold(replayed.ledger, [facts])
        ends = sorted((b.institution_id == ids["b"], b.end.isoformat()) for b in facts.bookings.values()
                      if b.child_id == ids["j1"])
    assert ends == [(False, "2025-05-31"), (True, "2025-07-31")]


def _bookings(city):
    from replay.audit.facts import Demand, fold

    facts = Demand()
    fold(city.ledger, [facts])
    return list(facts.bookings.values())


def test_another_ledger_side_by_side(store, city, city_class, tmp_path):
    """`vs` may name another ledger (the demo writes one per policy): its measures next to ours."""
    planted(city)
    url = store.new_url()
    other = store.ledger(url=url)
    try:
        there = city_class(other)
        a = there.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
        there.book(there.child(there.household(), birth=D(2024, 3, 15)), a, D(2025, 3, 1))
        other.clock.set(D(2025, 4, 1))
        there.household()
    finally:
        other.close()
    result = fairness_audit(city.ledger, vs=url)
    vs = result["vs"]
    assert vs["actual"]["justified_envy"] == 1 and vs["alternative"]["justified_envy"] == 0
    assert vs["alternative"]["placed"] == 1 and vs["kind"] == "ledgers"
    assert "Two ledgers: this ledger vs" in render_html(result)
    with pytest.raises(AuditError, match="no ledger at"):
        fairness_audit(city.ledger, vs=f"sqlite:///{tmp_path / 'missing.db'}")


def test_a_ledger_url_in_a_report_has_no_password():
    from replay.audit.fairness import _redacted

    assert _redacted("postgresql://auditor:s3cret@db:5432/plads?schema=x") == "postgresql://auditor:***@db:5432/plads?schema=x"
    assert _redacted("sqlite:///plads-demo-waitinglist.db") == "sqlite:///plads-demo-waitinglist.db"



def test_the_same_inputs_give_the_same_report_byte_for_byte(city, tmp_path):
    from replay.audit.report import write_html, write_json

    planted(city)
    for n in (1, 2):
        result = fairness_audit(city.ledger, vs="copenhagen-book-en-plads@1")
        write_json(result, tmp_path / f"run{n}.json")
        write_html(result, tmp_path / f"run{n}.html")
    assert (tmp_path / "run1.json").read_bytes() == (tmp_path / "run2.json").read_bytes()
    assert (tmp_path / "run1.html").read_bytes() == (tmp_path / "run2.html").read_bytes()


def test_an_erased_child_is_erased_in_the_replay_too(city):
    ids = planted(city)
    city.run(city.c.ErasePerson(person_id=ids["k"], reason="the family asked"))
    original = fairness_audit(city.ledger)
    assert original["summary"]["registrations"] == 3
    vs = fairness_audit(city.ledger, vs="copenhagen-book-en-plads@1")["vs"]
    flat = {k: v for k, v in original["summary"].items() if not isinstance(v, dict)}
    assert {k: vs["actual"][k] for k in flat} == flat and vs["refused"]["actual"] == []


def test_a_caseworker_override_is_replayed(city):
    ids = planted(city)
    extra = city.child(city.household(), birth=D(2024, 3, 15))
    city.book(extra, ids["a"], D(2025, 6, 1), override=True, reason="acute need")
    original = fairness_audit(city.ledger)
    vs = fairness_audit(city.ledger, vs="copenhagen-book-en-plads@1")["vs"]
    assert vs["refused"]["actual"] == []
    assert vs["actual"]["placed"] == original["summary"]["placed"]
    [override] = original["findings"]["capacity_overrides"]
    assert (override["child_id"], override["institution_id"], override["reason"]) == (extra, ids["a"], "acute need")
    assert override["short_from"] == "2025-06-01" and override["short_days"] > 0 and override["events"]
    assert original["summary"]["capacity_overrides"] == 1 == vs["actual"]["capacity_overrides"]


# -- issue 22: the cross-policy counterfactual both ways -------------------------------------------

def _placed_children(ledger):
    from replay.audit.facts import Demand, fold

    facts = Demand()
    fold(ledger, [facts])
    return {b.child_id: b.institution_id for b in facts.bookings.values()}


def test_under_the_waiting_list_the_registered_children_accept_their_offers(city):
    """planted(): A has 2 nursery seats and i registered for it first (Jan 6), j1/j2 booked it later
    (Jan 20); k registered for B. Under the waiting list the monthly run offers A to i and one of j1/j2 and B to k from March, and the families accept: 3 placed, nobody passed
    over. j1 and j2 registered on one day: the run's seed picks one of them.
    (Accepting an offer is a placement-office step: self-service does not exist there.)"""
    ids = planted(city)
    with replay_demand(city.ledger, "copenhagen-2025-waitinglist@1") as replayed:
        placed = _placed_children(replayed.ledger)
    assert (placed.pop(ids["i"]), placed.pop(ids["k"])) == (ids["a"], ids["b"])
    assert list(placed.values()) == [ids["a"]] and set(placed) < {ids["j1"], ids["j2"]}
    vs = fairness_audit(city.ledger, vs="copenhagen-2025-waitinglist@1")["vs"]
    assert (vs["alternative"]["placed"], vs["alternative"]["justified_envy"]) == (3, 0)
    assert (vs["actual"]["placed"], vs["actual"]["justified_envy"]) == (3, 1)


def test_a_child_offered_a_seat_by_the_replay_can_act_again_later(city):
    """The allocation writes the offers past the replay's bulk batch; a later step of the same child
    (here i changes its wishes in April) must not be saved over the offer's version."""
    ids = planted(city)
    city.ledger.clock.set(D(2025, 5, 12))
    city.run(city.c.ChangeWishes(child_id=ids["i"], age_group="nursery", wishes=[ids["a"], ids["b"]]))
    city.household()
    vs = fairness_audit(city.ledger, vs="copenhagen-2025-waitinglist@1")["vs"]
    assert vs["alternative"]["registrations"] == vs["actual"]["registrations"] == 4


def test_a_waiting_list_ledger_replays_under_book_en_plads_and_back(new_city):
    """The other way round: a ledger kept under the waiting list (a registration, a caseworker's offer
    accepted) replayed under both rule sets."""
    city = new_city("copenhagen-2025-waitinglist@1")
    a = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
    i = city.child(city.household(), birth=D(2024, 2, 1))
    city.run(city.c.Register(child_id=i, age_group="nursery", wishes=[a], need_date=D(2025, 3, 1)))
    from processes.allocation import run_allocation

    city.ledger.clock.set(D(2025, 2, 1))
    [offer] = run_allocation(city.ledger, "2025-03")["offers"]
    city.run(city.c.AcceptOffer(child_id=i, offer_id=offer["offer_id"]))
    city.ledger.clock.set(D(2025, 4, 1))
    city.household()
    for rule_set in ("copenhagen-book-en-plads@1", "copenhagen-2025-waitinglist@1"):
        vs = fairness_audit(city.ledger, vs=rule_set)["vs"]
        assert vs["actual"]["placed"] == vs["alternative"]["placed"] == 1, rule_set


def test_an_internal_failure_of_the_replay_says_so(city, monkeypatch):
    """A failure inside the private scratch ledger is plads's own, not "another writer"."""
    from ledger.application import Bulk
    from ledger.errors import StaleState

    planted(city)
    real = Bulk.flush

    def broken(self):
        if self.ledger is not city.ledger:
            raise StaleState("another writer changed the ledger during a bulk batch") from RuntimeError("boom")
        return real(self)

    monkeypatch.setattr(Bulk, "flush", broken)
    with pytest.raises(AuditError, match=r"internal error: the counterfactual replay under "
                                         r"copenhagen-book-en-plads@1 failed in its private scratch ledger "
                                         r".*RuntimeError: boom") as caught:
        fairness_audit(city.ledger, vs="copenhagen-2025-waitinglist@1")
    assert "another writer" not in str(caught.value)


def test_an_imported_history_replays_under_both_rule_sets(store):
    from pathlib import Path

    from replay.importer import import_history

    history = Path(__file__).parents[1] / "simulate" / "data" / "history.json"
    with store.ledger(D(2020, 1, 1)) as ledger:
        import_history(ledger, history)
        original = fairness_audit(ledger)["summary"]
        placements = _starts(ledger)
        for rule_set in ("copenhagen-book-en-plads@1", "copenhagen-2025-waitinglist@1"):
            vs = fairness_audit(ledger, vs=rule_set)["vs"]
            assert vs["alternative"]["registrations"] == original["registrations"], rule_set
            # placements imported from the old system predate either policy: kept as they were
            with replay_demand(ledger, rule_set) as replayed:
                assert _starts(replayed.ledger) == placements, rule_set


def _starts(ledger):
    from replay.audit.facts import Demand, fold

    facts = Demand()
    fold(ledger, [facts])
    return sorted((b.child_id, b.institution_id, b.start) for b in facts.bookings.values())


def test_replayed_demand_keeps_the_institutions_clusters(city):
    from uuid import UUID

    from ledger import commands as c
    from ledger.aggregates import Institution

    inst = planted(city)["a"]
    city.run(c.AssignCluster(institution_id=inst, cluster="Valby Klynge 1", effective_from=D(2025, 1, 1)),
             actor="root", channel="system")
    with replay_demand(city.ledger, "copenhagen-book-en-plads@1") as replayed:
        assert replayed.ledger.get(Institution, UUID(inst)).cluster_on(D(2025, 6, 1)) == "Valby Klynge 1"
