"""The budget's and the settlement's parts are stored as runs of months and shown month by month by
SQL views (`budget_parts`, `billing_settlement_parts`): for random histories, what the views show
equals the household-months (and the institutions' months of empty basis seats) derived one by
one, and the summary rows (`budget`, `intermunicipal_settlement`) are the sums of those months —
on SQLite and PostgreSQL, projected page by page (months derived again from a month on continue
the runs stored before) and rebuilt. Families of two municipalities book places in institutions
of both, so places cross the border both ways, and move across it.
"""

from collections import defaultdict
from datetime import date, timedelta

from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from ledger import commands as c
from ledger.errors import Conflict, InvalidCommand, NotFound
from projections import Projector, billing_views
from projections.billing import BUDGET, BUDGET_PARTS, SETTLEMENT, SETTLEMENT_PARTS
from projections.billing.budget import household_parts, institution_parts
from projections.billing.months import first_of
from projections.billing.statements import settlement_parts
from projections.billing.tables import budget_row, settlement_row
from tests.projections.test_billing_runs import (_act, _equal_after_rebuild, _issue_every_month, _month_first,
                                                count_derivations_from_a_month)

import rules

D = date
TABLES = (BUDGET_PARTS, SETTLEMENT_PARTS, BUDGET, SETTLEMENT)

step = st.one_of(
    st.tuples(st.just("place"), st.integers(0, 2), st.integers(0, 1), st.integers(200, 1100), st.integers(0, 120)),
    st.tuples(st.just("cancel"), st.integers(0, 9), st.integers(-40, 60)),
    st.tuples(st.just("move"), st.integers(0, 2), st.integers(-3, 2)),
    st.tuples(st.just("income"), st.integers(0, 2), st.integers(150_000, 700_000), st.integers(-4, 2)),
    st.tuples(st.just("issue"), st.integers(1, 2)),
    st.tuples(st.just("wait"), st.integers(1, 45)),
)


def test_the_views_over_the_part_runs_equal_the_months_derived_one_by_one(store, city_class):
    found = {"budget runs of several months": 0, "settlement runs of several months": 0,
             "runs of full months of different lengths": 0, "months of odd days": 0,
             "months derived again from a month on": 0}

    @settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps=st.lists(step, min_size=3, max_size=12), page=st.integers(1, 9), monthly=st.booleans())
    # Each case met whatever the random draws: places held over a quiet stretch of months issued one
    # by one (runs across months of 28, 30 and 31 days), then a move across the border.
    @example(steps=[("wait", 45), ("wait", 45), ("wait", 45), ("move", 1, -1)], page=4, monthly=True)
    def runs_equal_months(steps, page, monthly):
        check_one_history(store, city_class, steps, page, found, monthly)

    runs_equal_months()
    assert all(found.values()), found  # across the histories, each case was met


def check_one_history(store, city_class, steps, page, found, monthly):
    ledger = store.ledger(start=D(2025, 1, 6), url=store.new_url())
    try:
        city = city_class(ledger)
        insts = [city.institution(name="Solsikken", district="Valby", nursery=3, kindergarten=3),
                 _elsewhere(city)]
        households = [city.household(district="Valby", children_under_18=2),
                      city.household(district="Frederiksberg", municipality_code="147"),
                      city.household(district="Amager", children_under_18=3)]
        projector = Projector(ledger, billing_views(), page_size=page)
        restore = count_derivations_from_a_month(projector, found)
        bookings: list[str] = []
        # Every history places a child across the border both ways (from mid-month: odd days), and
        # ends by issuing a month and changing what it billed.
        head = [("place", 1, 0, 500, 75), ("place", 0, 1, 400, 70)]
        tail = [("wait", 40), ("issue", 1), ("income", 0, 300_000, -2), ("wait", 31)]
        for s in [*head, *steps, *tail]:
            _act_more(city, projector, insts, households, bookings, s)
            if monthly:
                _issue_every_month(city, projector)
            projector.catch_up()
        _count(projector, found)
        derived = _derived(projector.views[0])
        assert _shown(projector) == derived
        restore()
        _equal_after_rebuild(ledger, projector, derived, _shown)
    finally:
        ledger.close()


def _elsewhere(city):
    """An institution of another municipality (Frederiksberg) that Copenhagen children may attend."""
    inst = city.run(c.RegisterInstitution(name="Mælkebøtten", district="Frederiksberg", kind="integreret",
                                          municipality_code="147"), channel="system")["id"]
    for group in ("nursery", "kindergarten"):
        city.run(c.ChangeCapacity(institution_id=inst, age_group=group, seats=3, effective_from=D(2024, 1, 1)),
                 channel="system")
    return inst


def _act_more(city, projector, insts, households, bookings, s):
    """A place at either institution, a move (municipality and district) from a month's 1st, or
    what the statement runs' histories do (test_billing_runs)."""
    today = city.ledger.clock.today()
    try:
        if s[0] == "place":
            _, hh, inst, age_days, start_in = s
            child = city.child(households[hh], birth=today - timedelta(days=age_days))
            bookings.append(city.book(child, insts[inst], today + timedelta(days=start_in - 60), lunch=True)["id"])
        elif s[0] == "move":
            _, hh, months = s
            across = "101" if hh == 1 else "147"  # the Frederiksberg family moves to Copenhagen, the others away
            city.run(c.ChangeHouseholdFacts(household_id=households[hh], effective_from=_month_first(today, months),
                                            municipality_code=across, district="Moved"))
        else:
            _act(city, projector, insts, households, bookings, s)
    except (InvalidCommand, Conflict, NotFound):
        pass  # refused by the ledger: the history goes on


def _count(projector, found):
    query = projector.store.query
    budget = query("SELECT from_month, to_month, seats, odd_seat_days FROM budget_part_runs "
                   "WHERE substr(owner, 1, 10) = 'household/'")
    found["budget runs of several months"] += sum(1 for a, z, _, _ in budget if a != z)
    found["months of odd days"] += sum(1 for _, _, _, odd in budget if odd)
    found["runs of full months of different lengths"] += sum(
        1 for a, z, seats, odd in budget if seats and not odd and len(_lengths(a, z)) > 1)
    found["settlement runs of several months"] += sum(
        1 for a, z in query("SELECT from_month, to_month FROM billing_settlement_part_runs") if a != z)


def _lengths(a, z):
    out, m = set(), first_of(a)
    while m <= first_of(z):
        out.add(rules.days_in_month(m))
        m = rules.add_months(m, 1)
    return out


def _shown(projector):
    return {t.name: sorted(tuple(r[col] for col in t.column_names) for r in projector.store.load(t)) for t in TABLES}


def _derived(billing):
    """Every household's months (and every institution's) derived whole, one by one, as the views'
    rows; the summary rows their sums per month and group."""
    budget, settlement = [], []
    for household in set(billing._every_household()):
        res = billing.household_result(household)
        budget += household_parts(household, res)
        settlement += settlement_parts(household, res)
    for institution in billing.institutions:
        budget += institution_parts(billing, institution)
    summed = {}
    for parts, summary, make in ((budget, BUDGET, budget_row), (settlement, SETTLEMENT, settlement_row)):
        groups = defaultdict(list)
        for p in parts:
            groups[tuple(p[k] for k in summary.key)].append(p)
        summed[summary.name] = [make(g, ps) for g, ps in groups.items()]
    return {t.name: sorted(tuple(r[col] for col in t.column_names) for r in rows) for t, rows in (
        (BUDGET_PARTS, budget), (SETTLEMENT_PARTS, settlement), (BUDGET, summed[BUDGET.name]),
        (SETTLEMENT, summed[SETTLEMENT.name]))}


def test_a_place_held_over_months_of_28_30_and_31_days_is_one_run_and_the_view_counts_each_months_days(city):
    """seat_days and place_days are stored as whole places and odd days: a full month of one place
    is (1, 0) whatever its length, so January..May are one run; the view multiplies out each month's
    days, and a place from the 10th starts with odd days of its own."""
    city.ledger.clock.set(D(2025, 4, 20))
    inst = city.institution(district="Valby")
    theirs = city.household(district="Valby", municipality_code="147")
    city.book(city.child(theirs, birth=D(2024, 3, 15)), inst, D(2024, 12, 10))
    projector = Projector(city.ledger, billing_views())
    projector.catch_up()
    query = projector.store.query
    owner = f"household/{theirs}"
    assert [tuple(r) for r in query("SELECT from_month, to_month, seats, odd_seat_days FROM budget_part_runs "
                                    "ORDER BY from_month")] == [("2024-12", "2024-12", 0, 22),
                                                                ("2025-01", "2025-05", 1, 0)]
    shown = {r["month"]: r["seat_days"] for r in projector.store.load(BUDGET_PARTS) if r["owner"] == owner}
    assert shown == {"2024-12": 22, "2025-01": 31, "2025-02": 28, "2025-03": 31, "2025-04": 30, "2025-05": 31}
    settled = {r["month"]: r["place_days"] for r in projector.store.load(SETTLEMENT_PARTS)}
    assert settled == shown
    assert {r["month"]: r["place_days"] for r in projector.store.load(SETTLEMENT)} == shown
    assert [tuple(r) for r in query("SELECT from_month, to_month, places, odd_place_days "
                                    "FROM billing_settlement_part_runs ORDER BY from_month")] == [
        ("2024-12", "2024-12", 0, 22), ("2025-01", "2025-05", 1, 0)]
    projector.close()
