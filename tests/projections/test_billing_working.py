"""The billing views' working state lives in the `*_facts` table: a live projector reads a
household's facts when an event names it or its months are derived, and holds at most a bound of
households beyond those its page changed — on SQLite and PostgreSQL. What it writes equals a
rebuild (which folds in memory), across restarts and with months issued and changed afterwards."""

from datetime import date, timedelta

import pytest

from ledger import commands as c
from projections import Projector, billing_views, rebuild, verify
from projections.billing import BILLING_STATE
from projections.billing.fold import FactsFold
from projections.stores import OlderState
from projections.billing.working import Households
from projections.engine import open_store
from tests.projections.test_billing_runs import _derived, _equal_after_rebuild, _issue, _shown

D = date


def _history(city):
    insts = [city.institution(name=f"I{n}", district=f"D{n}", nursery=4, kindergarten=4) for n in range(2)]
    households = [city.household(district=f"D{n % 2}", children_under_18=2) for n in range(5)]
    bookings = []
    for n, household in enumerate(households):
        child = city.child(household, birth=D(2024, 1, 1) + timedelta(days=40 * n))
        bookings.append(city.book(child, insts[n % 2], D(2025, 1, 1) + timedelta(days=10 * n), lunch=n % 2 == 0)["id"])
    return households, bookings


def test_a_projector_holding_two_households_writes_what_a_rebuild_writes(city, monkeypatch):
    monkeypatch.setattr(FactsFold, "cache_bound", 2)
    held_after_page: list[int] = []
    settle = Households.settle

    def settled(self):
        settle(self)
        held_after_page.append(len(self.held))

    monkeypatch.setattr(Households, "settle", settled)
    households, bookings = _history(city)
    projector = Projector(city.ledger, billing_views(), page_size=3)
    for month in range(2, 6):  # January .. April issued at the start of the next month
        city.ledger.clock.set(city.ledger.clock.now().replace(month=month, day=3))
        _issue(city, projector, f"2025-{month - 1:02d}")
    projector.catch_up()
    # Backdated: a friplads decision from February, a booking cancelled in March (issued months
    # stay as issued; the next statement corrects them), an adjustment of January.
    city.run(c.DeclareIncome(household_id=households[0], annual_income_ore=20_000_000, effective_from=D(2025, 2, 1)))
    city.run(c.CancelBooking(booking_id=bookings[3], effective_date=D(2025, 5, 16), reason="moved"))
    city.run(c.AdjustPayment(household_id=households[1], kind="manual_correction", from_month="2025-01",
                             to_month="2025-02", amount_ore=-5_000, reason="agreed"))
    projector.catch_up()
    projector.close()
    # A restart reads the facts back as needed (nothing of them is loaded whole).
    projector = Projector(city.ledger, billing_views(), page_size=2)
    assert len(projector.views[0].held.held) == 0
    for month in (6, 7):
        city.ledger.clock.set(city.ledger.clock.now().replace(month=month, day=3))
        _issue(city, projector, f"2025-{month - 1:02d}")
    projector.catch_up()
    assert max(held_after_page) <= 2 and len(held_after_page) > 20
    corrections = projector.store.query("SELECT DISTINCT corrects_month FROM statement_lines WHERE kind = 'correction'")
    assert {r[0] for r in corrections} >= {"2025-02", "2025-03"}
    derived = _derived(projector.views[0])  # every household derived whole, one by one
    assert _shown(projector) == derived
    _equal_after_rebuild(city.ledger, projector, derived)


def _projected_and_closed(city):
    """The history's billing views projected into the ledger's store, and what they showed; the
    store opened again (for the test to leave it as an older plads would have)."""
    _history(city)
    city.ledger.clock.set(city.ledger.clock.now().replace(month=2, day=3))
    projector = Projector(city.ledger, billing_views())
    projector.catch_up()
    before = _shown(projector)
    projector.close()
    return before, open_store(city.ledger)


def test_views_whose_state_an_older_plads_kept_ask_for_a_rebuild(city):
    before, store = _projected_and_closed(city)
    # As an older plads left it: the state in billing_state (no owner column), none in billing_facts.
    store.conn.execute("CREATE TABLE billing_state (entity TEXT, id TEXT, data TEXT, PRIMARY KEY (entity, id))")
    store.conn.execute("INSERT INTO billing_state VALUES ('clock', 'last_month', '\"2025-02\"')")
    store.conn.execute(f"DELETE FROM {BILLING_STATE.name}")
    with pytest.raises(OlderState, match="plads rebuild"):
        Projector(city.ledger, billing_views())
    rebuild(city.ledger, billing_views())
    projector = Projector(city.ledger, billing_views())  # the older table goes once the new one holds the state
    assert store.relation_kind("billing_state") is None
    assert _shown(projector) == before and verify(city.ledger, billing_views()) == []
    projector.close()
    store.close()


def test_views_stored_by_month_by_an_older_plads_ask_for_a_rebuild(city):
    """Before the budget was stored as runs, `budget_parts` was a table of household-months: a
    projector continuing such a store would drift (its runs table starts empty), so it refuses to
    start until `plads rebuild`, which puts the view in the table's place."""
    before, store = _projected_and_closed(city)
    # As an older plads left it: budget_parts a table with rows, no budget_part_runs.
    store.conn.execute("DROP VIEW budget_parts")
    store.conn.execute("DROP TABLE budget_part_runs")
    store.conn.execute("CREATE TABLE budget_parts (owner TEXT, month TEXT, district TEXT, seat_days INTEGER)")
    store.conn.execute("INSERT INTO budget_parts VALUES ('household/x', '2025-01', 'D0', 31)")
    if hasattr(store.conn, "commit"):
        store.conn.commit()
    with pytest.raises(OlderState, match="budget_parts.*plads rebuild"):
        Projector(city.ledger, billing_views())
    assert store.relation_kind("budget_parts") == "table"  # nothing was dropped
    rebuild(city.ledger, billing_views())
    projector = Projector(city.ledger, billing_views())
    assert store.relation_kind("budget_parts") == "view"
    assert _shown(projector) == before and verify(city.ledger, billing_views()) == []
    projector.close()
    store.close()
