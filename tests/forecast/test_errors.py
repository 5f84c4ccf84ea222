"""The 80 % interval learned from the ledger's own past forecast errors, on numbers worked out by hand."""

from __future__ import annotations

import pytest

from projections.outlook import estimate as est
from projections.outlook.errors import PastErrors, growth_of, past_errors
from projections.outlook.history import History


def test_a_unit_errs_by_the_sum_of_its_institutions_errors():
    # Two institutions of one cluster erred in opposite directions at every origin: children went
    # from one to the other. Each alone has a spread; the cluster, which kept them, has none.
    errors = {("i1", "nursery", 2): {10: 3.0, 11: -3.0, 12: 3.0}, ("i2", "nursery", 2): {10: -3.0, 11: 3.0, 12: -3.0}}
    past = PastErrors(errors, {2: range(10, 13)})
    assert past.mean_square(["i1"], "nursery", 2) == pytest.approx(9.0)
    assert past.mean_square(["i1", "i2"], "nursery", 2) == 0.0
    assert past.mean_square(["i3"], "nursery", 2) == 0.0  # no error recorded: the forecast was right


def test_the_interval_widens_with_the_horizon_as_the_past_errors_grew_with_it():
    # Errors of 2 at horizon 2 and 4 at horizon 4 (σ = h): the growth is linear, and a unit's
    # variance 12 months ahead, where no 12-month forecast has passed yet, is 12².
    errors = {("i1", "nursery", 2): dict.fromkeys(range(10, 16), 2.0), ("i1", "nursery", 4): dict.fromkeys(range(10, 14), -4.0)}
    origins = {2: range(10, 16), 4: range(10, 14), 12: range(0)}
    assert growth_of({2: (4.0, 6), 4: (16.0, 4)}) == pytest.approx(1.0)
    curve = PastErrors(errors, origins, growth=1.0).curve(["i1"], "nursery")
    assert curve.level == pytest.approx(1.0)
    assert [curve.variance(h) for h in (2, 4, 6, 12)] == [4.0, 16.0, pytest.approx(36.0), pytest.approx(144.0)]
    # Errors that grew as h^1.5 give p = 1.5 and a wider year ahead than a straight line would.
    assert growth_of({2: (2.0 ** 3, 6), 4: (4.0 ** 3, 4), 6: (6.0 ** 3, 3)}) == pytest.approx(1.5)


def test_without_two_horizons_of_past_errors_the_growth_is_linear():
    assert growth_of({2: (4.0, 6)}) == 1.0
    assert growth_of({2: (4.0, 6), 4: (16.0, 2)}) == 1.0  # too few forecasts at 4 months
    assert growth_of({1: (0.0, 9), 2: (4.0, 6)}) == 1.0  # the next month, often wholly known, does not count


def _cohorts() -> est.Cohorts:
    """Every birth month of district D: 10 children, registered in their birth month."""
    births = range(-6, 11)
    return est.Cohorts(registered={("D", b): [b] * 10 for b in births}, sizes={("D", b): 10.0 for b in births},
                       levels={"D": 10.0})


def test_a_past_forecast_uses_only_the_months_before_its_origin():
    # Registered children aged 5 months get a seat they did not have a month before: 1 in each of
    # months 1-5, then 100 in month 6. The forecast made at the end of month 5 for month 6 knew only
    # the quiet months: 1 child to come, and it erred by 99.
    found = est.Changes()
    for month in range(1, 10):
        came = 100.0 if month == 6 else 1.0
        found.monthly[("D", "nursery", 1)][(5, month)][0] += came
        found.by_institution[("i1", "nursery", month, 1)] += came
    cut = est.Cut(instant=None, month=10, complete=10, first_month=0)
    shares = {j: {("i1", "nursery"): 1.0} for j in range(11)}
    cohorts = _cohorts()
    past = past_errors(found, cohorts, cut, {"i1": "D"}, shares, dict.fromkeys(range(11), cohorts))
    errors = past.by_institution[("i1", "nursery", 1)]
    assert 4 not in errors  # month 5: 1 came, 1 foreseen
    assert errors[5] == pytest.approx(99.0)
    assert errors[6] == pytest.approx(1.0 - 105.0 / 6)  # from then on the big month is in the rates


def test_the_past_errors_are_learned_from_what_the_ledger_knew_at_the_forecast_date():
    from tests.forecast.test_model import _history, _utc
    from projections.outlook import Outlook

    h = _history()
    early = Outlook.learn(h, _utc(2025, 2, 28))
    known_then = History(as_of=_utc(2025, 2, 28), first_recorded=h.first_recorded, districts=h.districts,
                         names=h.names, registered=h.registered, children=h.children)  # the booking came in March
    assert early.errors == Outlook.learn(known_then).errors
