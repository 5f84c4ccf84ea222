"""A month joining the billing horizon extends a steady household's runs by it instead of deriving
the household again (billing.extend); a household whose next month differs — the tariffs of a new
year, a child reaching the kindergarten rate age, a booking ending, a friplads share from that
month — is derived as before. Followers caught up month by month, with each month issued in advance
as the simulator does (on the 20th of the month before), in the page of the month joining the
horizon or in pages of their own, equal a rebuild, and `verify` finds no drift."""

from datetime import date, datetime, timezone

import pytest

from ledger import commands as c
from processes.billing import caught_up, issue_month
from projections import Projector, billing_views
from tests.projections.test_billing_runs import _derived, _equal_after_rebuild, _shown

D = date


def _months(first: str, last: str) -> list[str]:
    out, (y, m) = [], (int(first[:4]), int(first[5:]))
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _at(ledger, month: str, day: int) -> None:
    ledger.clock.set(datetime(int(month[:4]), int(month[5:]), day, 9, tzinfo=timezone.utc))


@pytest.mark.parametrize("page", [1, 10_000])
def test_a_month_joining_the_horizon_extends_steady_runs_derives_changed_households_and_equals_a_rebuild(
        new_city, page):
    city = new_city("copenhagen-book-en-plads-synthetic@1")  # publishes the years after 2025: each issued
    ledger = city.ledger
    inst = city.institution(nursery=6, kindergarten=6)
    names = {}
    names[city.household(children_under_18=2)] = "steady"
    names[city.household()] = "aging"  # the kindergarten rate age (3 y 1 m) on 15 June 2025: June's tariff
    names[city.household()] = "ending"  # its place cancelled from 16 May
    names[city.household(children_under_18=2)] = "deciding"  # a friplads share from July
    by_name = {v: k for k, v in names.items()}
    births = {"steady": D(2024, 3, 1), "aging": D(2022, 5, 15), "ending": D(2024, 2, 1), "deciding": D(2024, 1, 1)}
    booked = {name: city.book(city.child(by_name[name], birth=birth), inst, D(2025, 1, 1), lunch=name != "ending")
              for name, birth in births.items()}
    drafter = Projector(ledger, billing_views())  # the views the runs issue from (the simulator's own)
    follower = Projector(ledger, billing_views(), page_size=page)
    billing = follower.views[0]
    derived: list[tuple[str, str | None]] = []
    real = billing.household_result
    billing.household_result = lambda h, since=None: (derived.append((names.get(h, h), since)), real(h, since))[1]
    follower.catch_up()
    city.run(c.CancelBooking(booking_id=booked["ending"]["id"], effective_date=D(2025, 5, 16), reason="moved"))
    city.run(c.DeclareIncome(household_id=by_name["deciding"], annual_income_ore=30_000_000,
                             effective_from=D(2025, 7, 1)))
    follower.catch_up()
    joined: dict[str, list[tuple[str, str | None]]] = {}
    for month in _months("2025-02", "2026-02"):
        _at(ledger, month, 2)  # the month's first event: the month after it joins the horizon
        later, before = _months(month, "2026-12")[1], len(derived)
        city.run(c.OpenBillingMonth(month=later))
        # page 1: the month joining alone; else in the page of this month's statements, issued before
        follower.catch_up()
        joined[later] = derived[before:]
        _at(ledger, month, 20)  # the next month issued in advance, as the simulator does
        issue_month(ledger, later, caught_up(drafter))
        if page == 1:
            follower.catch_up()
    follower.catch_up()
    steady = {m: [x for x in joined[m] if x[0] == "steady"] for m in joined}
    # The steady household is derived only when a new year joins (its tariffs, its provisional marks).
    assert {m for m, xs in steady.items() if xs} == {"2026-01"}, steady
    assert billing.extended >= 10
    # Each month that differs from the month before is derived: the rate age, the place's last
    # days (no day in June: not derived for it), the new share.
    assert ("aging", "2025-06") in joined["2025-06"] and ("ending", "2025-05") in joined["2025-05"], joined
    assert ("deciding", "2025-07") in joined["2025-07"], joined
    assert not [x for x in joined["2025-06"] if x[0] == "ending"]
    billing.household_result = real
    rows = _derived(billing)
    assert _shown(follower) == rows
    drafter.close()
    _equal_after_rebuild(ledger, follower, rows)
