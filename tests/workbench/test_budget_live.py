"""The budget audit reads its actual side from the live views (SQLite and PostgreSQL): for random
histories — places across the border both ways, moves, incomes declared back in time, issued months
and so corrections — what it reads equals the Budget folded from the log and derived household by
household (as the audit did before), whether the views were current, stale or absent when it
started; and the scenario, which reads no issued statement, equals the scenario folded with them.
A view projected under the views' name only part of the time is not read: the audit folds instead.
"""

from datetime import date as D

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from projections import Projector, all_views
from projections.billing.partruns import BUDGET_RUNS
from replay.audit import budget_audit
from replay.audit.budget import ScenarioBudget
from replay.audit.facts import fold
from replay.audit.livebudget import AuditBudget, _folded, actual_budget
from replay.audit.scenarios import resolve_rule_set
from tests.projections.test_billing_runs import _issue_every_month
from tests.projections.test_budget_runs import _act_more, _elsewhere, step

SCENARIO = "friplads-2024-scale@1"


def test_the_actual_side_read_from_the_views_equals_the_fold_of_the_log(store, city_class):
    found = {"corrections": 0, "views stale": 0, "views absent": 0, "views current": 0}

    @settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps=st.lists(step, min_size=2, max_size=10), page=st.integers(1, 9), monthly=st.booleans(),
           views=st.sampled_from(["current", "stale", "absent"]))
    # A month issued, then an income declared back in time: its correction, read from the stored facts.
    @example(steps=[("wait", 40)], page=5, monthly=True, views="stale")
    @example(steps=[("wait", 20), ("income", 2, 200_000, -1)], page=3, monthly=True, views="current")
    @example(steps=[("wait", 35)], page=7, monthly=False, views="absent")
    def read_equals_folded(steps, page, monthly, views):
        check_one_history(store, city_class, steps, page, monthly, views, found)

    read_equals_folded()
    assert all(found.values()), found


def check_one_history(store, city_class, steps, page, monthly, views, found):
    ledger = store.ledger(start=D(2025, 1, 6), url=store.new_url())
    try:
        city = city_class(ledger)
        insts = [city.institution(name="Solsikken", district="Valby", nursery=3, kindergarten=3), _elsewhere(city)]
        households = [city.household(district="Valby", children_under_18=2),
                      city.household(district="Frederiksberg", municipality_code="147"),
                      city.household(district="Amager", children_under_18=3)]
        projector = Projector(ledger, all_views(), page_size=page)
        bookings: list[str] = []
        head = [("place", 1, 0, 500, 75), ("place", 0, 1, 400, 70)]
        for s in [*head, *steps, ("wait", 40), ("issue", 1)]:
            _act_more(city, projector, insts, households, bookings, s)
            if monthly:
                _issue_every_month(city, projector)
        projector.catch_up()
        # Changes the views have not taken yet, unless they are current: the audit catches them up.
        for s in (("income", 0, 300_000, -2), ("place", 2, 0, 600, 65), ("wait", 31)):
            _act_more(city, projector, insts, households, bookings, s)
        if views == "current":
            projector.catch_up()
        elif views == "absent":  # dropped: the audit projects every view from 0
            projector.store.reset(projector.name, projector.tables)
        projector.close()
        found[f"views {views}"] += 1

        read = actual_budget(ledger)
        folded = _folded(ledger, read.position)
        assert read.position == ledger.max_position()
        assert _sorted(read.parts) == _sorted(folded.parts)
        assert sorted(read.corrections, key=repr) == sorted(folded.corrections, key=repr)
        assert read.clock == folded.clock
        found["corrections"] += len(read.corrections)
        _scenario_equals_the_one_with_statements(ledger, read)
    finally:
        ledger.close()


def _scenario_equals_the_one_with_statements(ledger, read):
    """The scenario folded without the issued statements (its horizon from the views' clock) counts
    what the scenario folded with them counts, month by month."""
    scenario = resolve_rule_set(SCENARIO)
    lean, full = ScenarioBudget(scenario=scenario, clock=read.clock), AuditBudget(scenario=scenario, months_apart=True)
    fold(ledger, [lean], until=read.position)
    fold(ledger, [full], until=read.position)
    expected = BUDGET_RUNS.parts_of(full.t["budget_part_runs"].values()).values()
    assert _sorted(p for parts in lean.parts.values() for p in parts) == _sorted(expected)


def _sorted(parts):
    return sorted(tuple(sorted(p.items())) for p in parts)


def test_a_view_projected_only_part_of_the_time_is_not_read(city, monkeypatch):
    """Statements issued through a projector of the Billing view alone (under the views' name, as
    some tools do): the Budget view missed those pages, so the audit folds the log instead — and
    reports what it reports with every view projected."""
    from tests.workbench.test_budget import _issue, small_city

    small_city(city)
    _issue(city, "2025-02")
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    store = projector.store
    assert store.views_current("views", ["billing"]) and not store.views_current("views", ["billing", "budget"])
    projector.close()
    folded = []
    monkeypatch.setattr("replay.audit.livebudget._folded", lambda ledger, position: folded.append(position) or
                        _folded(ledger, position))
    partial = budget_audit(city.ledger, vs=SCENARIO)
    assert folded == [city.ledger.max_position()]

    probe = Projector(city.ledger, [])
    probe.store.reset("views", [t for v in all_views() for t in v.tables])  # the views dropped: projected again
    probe.close()
    whole = budget_audit(city.ledger, vs=SCENARIO)  # every view projected from 0 by the audit's catch-up
    assert folded == [city.ledger.max_position()]  # not folded again: the views were read
    assert whole == partial


def test_each_views_position_moves_in_the_pages_own_transaction(city, monkeypatch):
    """A follower stopped between a page's commit and its views' positions would leave them behind
    for good (the audit folding every time until a rebuild): they move in the same transaction, so a
    failure there writes nothing, and the page is taken again whole."""
    from projections.stores.base import ViewStore
    from tests.workbench.test_budget import small_city

    small_city(city)
    projector = Projector(city.ledger, all_views(), page_size=5)
    store, names = projector.store, [v.name for v in projector.views]
    advance, failed = ViewStore.advance_views, []

    def stopped_once(self, *args):
        if not failed:
            failed.append(args)
            raise RuntimeError("the follower stopped here")
        return advance(self, *args)

    monkeypatch.setattr(ViewStore, "advance_views", stopped_once)
    try:
        projector.catch_up()
    except RuntimeError:
        pass
    assert failed and store.position("views") == 0  # the first page was not committed either
    projector.catch_up()
    assert store.position("views") == city.ledger.max_position()
    assert store.views_current("views", names)
    projector.close()
