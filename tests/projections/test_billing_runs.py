"""Statement lines and statements are stored as runs of months and shown month by month by SQL
views (`statement_lines`, `statements`): for random histories, what the views show equals the
household-months derived one by one — on SQLite and PostgreSQL, projected page by page (months
derived again from a month on continue the runs stored before) and rebuilt.
"""

from datetime import date, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import commands as c
from ledger.errors import Conflict, InvalidCommand, NotFound
from projections import Projector, billing_views, rebuild, verify
from projections.billing import STATEMENT_LINES, STATEMENTS
from projections.billing.runs import TOKEN, Run, full_month, runs_of
from projections.billing.statements import month_rows

D = date

step = st.one_of(
    st.tuples(st.just("book"), st.integers(0, 2), st.integers(200, 1100), st.integers(0, 120), st.booleans()),
    st.tuples(st.just("cancel"), st.integers(0, 9), st.integers(-40, 60)),
    st.tuples(st.just("income"), st.integers(0, 2), st.integers(150_000, 700_000), st.integers(-4, 2)),
    st.tuples(st.just("adjust"), st.integers(0, 2), st.integers(-3, 2), st.integers(0, 3), st.integers(-500, 500)),
    st.tuples(st.just("issue"), st.integers(1, 2)),
    st.tuples(st.just("wait"), st.integers(1, 45)),
)


def test_runs_join_equal_consecutive_months_only():
    months = [("2025-01", "a"), ("2025-02", "a"), ("2025-04", "a"), ("2025-05", "b"), ("2025-06", "b")]
    assert runs_of(months) == [Run("2025-01", "2025-02", "a"), Run("2025-04", "2025-04", "a"),
                               Run("2025-05", "2025-06", "b")]
    assert runs_of([("2025-03", "a")], seed=Run("2025-01", "2025-02", "a")) == [Run("2025-01", "2025-03", "a")]
    assert full_month("2024-02") == "2024-02-01..2024-02-29 (29/29 days)" and TOKEN not in full_month("2025-01")


def test_the_views_over_the_runs_equal_the_months_derived_one_by_one(store, city_class):
    found = {"runs of several months": 0, "issued months": 0, "months derived again from a month on": 0}

    @settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
    @given(steps=st.lists(step, min_size=3, max_size=14), page=st.integers(1, 9))
    def runs_equal_months(steps, page):
        check_one_history(store, city_class, steps, page, found)

    runs_equal_months()
    assert all(found.values()), found  # across the histories, each case was met


def check_one_history(store, city_class, steps, page, found):
    ledger = store.ledger(start=D(2025, 1, 6), url=store.new_url())
    try:
        city = city_class(ledger)
        insts = [city.institution(name=f"I{n}", district=f"D{n}", nursery=3, kindergarten=3) for n in range(2)]
        households = [city.household(district=f"D{n % 2}", children_under_18=2) for n in range(3)]
        projector = Projector(ledger, billing_views(), page_size=page)
        real = projector.views[0].household_result

        def derive(household, since=None):
            found["months derived again from a month on"] += since is not None
            return real(household, since)

        projector.views[0].household_result = derive
        bookings: list[str] = []
        # Every history books a place, and ends by issuing a month and changing what it billed.
        tail = [("wait", 40), ("issue", 1), ("income", 0, 300_000, -2), ("wait", 31)]
        for s in [("book", 0, 400, 60, True), *steps, *tail]:
            _act(city, projector, insts, households, bookings, s)
            projector.catch_up()  # page by page: households derived again from a month on
        runs = projector.store.query("SELECT from_month, to_month, issued FROM statement_runs")
        found["runs of several months"] += sum(1 for a, z, _ in runs if a != z)
        found["issued months"] += sum(1 for _, _, issued in runs if issued)
        shown = _shown(projector)
        derived = _derived(projector.views[0])
        assert shown == derived
        projector.views[0].household_result = real
        assert verify(ledger, billing_views()) == []  # the runs stored page by page equal a rebuild's
        projector.close()
        rebuild(ledger, billing_views())
        projector = Projector(ledger, billing_views())
        assert _shown(projector) == derived
        projector.close()
    finally:
        ledger.close()


def _act(city, projector, insts, households, bookings, s):
    today = city.ledger.clock.today()
    try:
        if s[0] == "book":
            _, hh, age_days, start_in, lunch = s
            child = city.child(households[hh], birth=today - timedelta(days=age_days))
            bookings.append(city.book(child, insts[hh % 2], today + timedelta(days=start_in - 60), lunch=lunch)["id"])
        elif s[0] == "cancel" and bookings:
            _, n, days = s
            city.run(c.CancelBooking(booking_id=bookings[n % len(bookings)],
                                     effective_date=today + timedelta(days=days), reason="moved"))
        elif s[0] == "income":
            _, hh, kr, months = s
            city.run(c.DeclareIncome(household_id=households[hh], annual_income_ore=kr * 100,
                                     effective_from=_month_first(today, months)))
        elif s[0] == "adjust":
            _, hh, start, length, kr = s
            first = _month_first(today, start)
            city.run(c.AdjustPayment(household_id=households[hh], kind="manual_correction",
                                     from_month=first.isoformat()[:7],
                                     to_month=_month_first(first, length).isoformat()[:7], amount_ore=kr * 100,
                                     reason="agreed"))
        elif s[0] == "issue":
            _issue(city, projector, _month_first(today, -s[1]).isoformat()[:7])
        elif s[0] == "wait":
            city.ledger.clock.set(city.ledger.clock.now() + timedelta(days=s[1]))
    except (InvalidCommand, Conflict, NotFound):
        pass  # refused by the ledger (too young, no seat, a month without prices): the history goes on


def _month_first(day, months):
    m = day.year * 12 + day.month - 1 + months
    return D(m // 12, m % 12 + 1, 1)


def _issue(city, projector, month):
    """Issue a month as the API does: the views' lines of it, as they stand."""
    projector.catch_up()
    heads = [r for r in projector.store.load(STATEMENTS) if r["month"] == month and not r["issued"]]
    if not heads or any(r["issued"] for r in projector.store.load(STATEMENTS) if r["month"] == month):
        return
    lines = sorted((r for r in projector.store.load(STATEMENT_LINES) if r["month"] == month),
                   key=lambda r: r["line_no"])
    statements = [c.HouseholdStatement(household_id=h["household_id"], total_ore=h["total_ore"], lines=[
        c.StatementLine(kind=r["kind"], amount_ore=r["amount_ore"], child_id=r["child_id"], booking_id=r["booking_id"],
                        month=r["corrects_month"], detail=r["detail"])
        for r in lines if r["household_id"] == h["household_id"]]) for h in heads]
    city.run(c.IssueStatements(month=month, statements=statements))


def _shown(projector):
    return {t.name: sorted(tuple(r[col] for col in t.column_names) for r in projector.store.load(t))
            for t in (STATEMENT_LINES, STATEMENTS)}


def _derived(billing):
    """Every household's months derived whole, one by one, as rows of the month-by-month tables."""
    lines, statements = [], []
    for household in set(billing._every_household()):
        by_line, by_month = month_rows(household, billing.household_result(household))
        lines += by_line.values()
        statements += by_month.values()
    return {t.name: sorted(tuple(r[col] for col in t.column_names) for r in rows)
            for t, rows in ((STATEMENT_LINES, lines), (STATEMENTS, statements))}
