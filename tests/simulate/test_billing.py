"""The simulated city bills like a real one (issue 25): every simulated month has its billing run,
issued in advance through `processes.billing` as the API issues it, from the billing view as it
stood then."""

from __future__ import annotations

from datetime import date, timedelta

from ledger import SimulatedClock
from projections import Billing, Projector
from projections import queries as q
from projections.stores import SQLiteViewStore
from replay.simulate import simulate
from replay.simulate.behaviour import billing_day

START = date(2025, 1, 1)


def _log(ledger):
    position, out = 0, []
    while True:
        notes = ledger.recorder.select_notifications(position + 1, 5_000)
        if not notes:
            return out
        out.extend((n.id, n.topic.rsplit(".", 1)[-1], ledger.mapper.to_domain_event(n)) for n in notes)
        position = notes[-1].id


def _holding_a_place(bookings: dict, first: date) -> set[str]:
    return {household for household, start, end in bookings.values() if start <= first <= end}


def test_every_simulated_month_is_billed_for_every_household_with_a_place(store):
    ledger = store.ledger(START)
    try:
        report = simulate(ledger, years=0.5, scale=0.02, seed=4, policy="book-en-plads")
        months = [f"2025-{m:02d}" for m in range(1, 7)]
        log = _log(ledger)
        runs = [(position, e) for position, kind, e in log if kind == "BillingRunIssued"]
        assert [e.month for _, e in runs] == months  # one run per simulated month, in order
        assert report.counts["IssueStatements (system)"] == 6 and not any(
            k.startswith("IssueStatements") for k in report.refusals)
        # Paid in advance: each month issued on its billing day in the month before (the first on day one).
        issued_on = {e.month: e.timestamp.date() for _, e in runs}
        assert issued_on["2025-01"] == START
        assert all(issued_on[m] == billing_day(date.fromisoformat(m + "-01"), 20) for m in months[1:])
        assert issued_on["2025-03"] == date(2025, 2, 20) and issued_on["2025-06"] == date(2025, 5, 20)

        # Every household holding a place on the month's 1st, as the ledger knew it when the run was
        # issued, has its statement for the month.
        bookings: dict[str, list] = {}
        statements: dict[str, set[str]] = {m: set() for m in months}
        holding: dict[str, set[str]] = {}
        for position, kind, e in log:
            if kind == "PlaceBooked":
                bookings[str(e.originator_id)] = [e.household_id, e.start_date, e.end_date]
            elif kind in ("BookingCancelled", "ChildTransferred"):
                bookings[str(e.originator_id)][2] = e.effective_date - timedelta(days=1)
            elif kind == "StatementIssued":
                if e.month not in holding:
                    holding[e.month] = _holding_a_place(bookings, date.fromisoformat(e.month + "-01"))
                statements[e.month].add(e.household_id)
        for month in months:
            assert len(holding[month]) > 100
            assert holding[month] <= statements[month], month
        assert report.counts["statements issued"] == sum(len(s) for s in statements.values())
    finally:
        ledger.close()


def test_the_issued_statements_are_the_billing_views_drafts_when_the_run_was_made(store):
    ledger = store.ledger(START, clock=SimulatedClock(START))
    try:
        simulate(ledger, years=0.25, scale=0.02, seed=6, policy="waitinglist")
        issued: dict[str, dict[str, tuple]] = {}
        before: dict[str, int] = {}
        for position, kind, e in _log(ledger):
            if kind == "StatementIssued":
                before.setdefault(e.month, position - 1)
                issued.setdefault(e.month, {})[e.household_id] = (e.total_ore, [
                    (line["kind"], line["amount_ore"], line["child_id"], line["booking_id"], line["month"],
                     line["detail"]) for line in e.lines])
        assert sorted(issued) == ["2025-01", "2025-02", "2025-03"]
        for month, position in before.items():
            # A billing view of its own, folded from nothing to just before the run.
            projector = Projector(ledger, [Billing()], name="check", store=SQLiteViewStore(":memory:"))
            try:
                projector.catch_up(until=position)
                drafts = {d["household_id"]: (d["total_ore"], [
                    (line["kind"], line["amount_ore"], line["child_id"], line["booking_id"], line["corrects_month"],
                     line["detail"]) for line in d["lines"]]) for d in q.draft_statements(projector.store, month)}
            finally:
                projector.close()
            assert drafts and drafts == issued[month], month
    finally:
        ledger.close()


def test_a_months_statements_are_issued_on_the_20th_of_the_month_before_or_the_next_weekday():
    assert billing_day(date(2025, 3, 1), 20) == date(2025, 2, 20)
    assert billing_day(date(2025, 10, 1), 20) == date(2025, 9, 22)  # the 20th is a Saturday
    assert billing_day(date(2026, 1, 1), 20) == date(2025, 12, 22)  # a Saturday, across the year
    assert billing_day(date(2025, 1, 1), 1) == date(2024, 12, 2)  # a Sunday
