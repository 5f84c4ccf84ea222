"""The forecast's estimators on numbers worked out by hand."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from projections.outlook import estimate as est
from projections.outlook import model
from projections.outlook.history import Booking, ChildFacts, History

JAN25 = model.month_index(date(2025, 1, 1))


def test_a_span_is_split_into_the_days_of_each_month():
    assert model.month_days(date(2025, 1, 30), date(2025, 3, 1)) == [(JAN25, 2), (JAN25 + 1, 28), (JAN25 + 2, 1)]
    assert model.month_days(date(2025, 1, 2), date(2025, 1, 1)) == []


def test_months_are_read_and_written_as_yyyy_mm():
    assert model.month_text(model.month_of("2026-09")) == "2026-09"
    with pytest.raises(ValueError):
        model.month_of("2026-13")
    with pytest.raises(ValueError):
        model.month_of("26-09")


def test_chain_ladder_factors_from_the_registration_lags():
    # Birth month 0 registered at lags 0, 0, 1, 2; birth month 1 at lags 0, 1; now = month 2.
    # f0 = (3 + 2) / (2 + 1) = 5/3 (both seen at lag 1); f1 = 4 / 3 (only month 0 seen at lag 2).
    dev = model.development({0: [0, 0, 1, 2], 1: [0, 1]}, now=2, max_lag=4)
    assert dev.factor(0) == pytest.approx(5 / 3 * 4 / 3)
    assert dev.factor(1) == pytest.approx(4 / 3)
    assert dev.factor(2) == 1.0
    assert dev.factor(9) == 1.0


def test_young_birth_months_are_completed_from_the_level_of_the_mature_ones():
    dev = model.development({0: [0, 0, 1, 2], 1: [0, 1]}, now=2, max_lag=4)
    sizes = model.cohort_sizes({0: [0, 0, 1, 2], 1: [0, 1]}, 2, dev)
    # Month 0 is mature (factor 1): 4. Month 1 has factor 4/3 > 1.25: Bornhuetter-Ferguson,
    # 2 seen + (1 - 3/4) x level 4 = 3.
    assert sizes == {0: pytest.approx(4.0), 1: pytest.approx(3.0)}
    assert model.level(sizes, now=2) == pytest.approx(3.5)


def test_the_interval_is_the_past_errors_and_the_birth_level_at_least_the_poisson_variance():
    e = model.Estimate(known=10.0, to_come=4.0, sigma=1.0, gross=8.0)  # no past errors: sd = sqrt(1 + 8) = 3
    low, high = e.interval()
    assert e.children == 14.0
    assert (low, high) == (pytest.approx(14 - 3 * model.Z80), pytest.approx(14 + 3 * model.Z80))
    assert e.with_past(15.0).interval()[1] == pytest.approx(14 + 4 * model.Z80)  # sqrt(1 + 15) = 4
    assert e.with_past(3.0).interval() == e.interval()  # fewer than the Poisson chances alone: those
    assert model.Estimate(known=1.0, to_come=-0.5, sigma=2.0).interval()[0] == 0.0  # never below 0


def test_an_institutions_share_and_a_sum_of_parts():
    # The birth level is one for the district: a quarter of the children resting on it, a quarter of its
    # spread; the Poisson chances are each child's own: a quarter of the variance.
    part = model.Estimate(100.0, 8.0, 4.0, gross=12.0).share(0.25, known=30.0)
    assert (part.known, part.to_come, part.sigma, part.gross) == (30.0, 2.0, pytest.approx(1.0), 3.0)
    both = part.plus(part)
    assert (both.known, both.to_come, both.sigma, both.gross) == (60.0, 4.0, pytest.approx(2.0), 6.0)


def test_percentage_error_and_mean():
    assert model.ape(90.0, 100.0) == pytest.approx(10.0)
    assert model.ape(1.0, 0.0) is None
    assert model.mean([10.0, None, 20.0]) == 15.0


def _utc(*args) -> datetime:
    return datetime(*args, 10, tzinfo=timezone.utc)


def _history() -> History:
    """One district D, one institution; child A (born June 2024) registered in January 2025 and
    booked in March for April; the history read at the end of June 2025."""
    h = History(as_of=_utc(2025, 6, 30), first_recorded=_utc(2025, 1, 2))
    h.districts["i1"], h.names["i1"], h.registered["i1"] = "D", "Solsikken", _utc(2025, 1, 2)
    h.children["a"] = ChildFacts(date(2024, 6, 15), "D", _utc(2025, 1, 5))
    h.bookings["b1"] = Booking("i1", "general", "a",
                               [(_utc(2025, 3, 10), (("nursery", date(2025, 4, 1), date(2025, 4, 30)),))])
    return h


def test_the_change_still_to_come_is_learned_per_age_horizon_and_standing():
    h = _history()
    cut = est.Cut.at(h.as_of, h)
    found = est.changes(h, cut)
    # April's seat was unknown at the end of January (h = 3) and February (h = 2), known from March.
    assert dict(found.by_age) == {("D", "nursery", 10, 3, est.REGISTERED): 1.0,
                                  ("D", "nursery", 10, 2, est.REGISTERED): 1.0}
    cohorts = est.cohorts(h, cut)
    rates = est.rates(found, cohorts, cut)
    # h = 2: months March to June; at age 10 only April's cohort (June 2024) had a child registered
    # two months before: 1 seat / 1 child.
    assert rates.per_child[("D", "nursery", 2)] == [(10, 1.0, 0.0, 1.0, 0.0)]
    assert rates.to_come(cohorts, "D", "nursery", JAN25 + 3, JAN25 + 1) == (1.0, 1.0, 0.0)


def test_a_cancellation_known_later_is_a_negative_change():
    h = _history()
    h.bookings["b1"].release(_utc(2025, 4, 10), date(2025, 4, 16))  # holds 1-15 April: 15/30
    cut = est.Cut.at(h.as_of, h)
    found = est.changes(h, cut)
    assert found.by_age[("D", "nursery", 10, 1, est.REGISTERED)] == pytest.approx(-0.5)  # known 1.0 at March
    assert found.gross_by_age[("D", "nursery", 10, 1, est.REGISTERED)] == pytest.approx(0.5)
    assert found.by_age[("D", "nursery", 10, 2, est.REGISTERED)] == pytest.approx(0.5)


def test_the_forecast_learns_only_from_what_was_known_at_its_date():
    h = _history()
    early = est.Cut.at(_utc(2025, 2, 28), h)
    assert est.known_seats(h, early, range(JAN25, JAN25 + 6)) == {}
    late = est.Cut.at(h.as_of, h)
    assert dict(est.known_seats(h, late, range(JAN25, JAN25 + 6))) == {("i1", "nursery", JAN25 + 3): 1.0}


def test_the_level_of_births_is_uncertain_in_proportion_to_the_children_resting_on_it():
    # 12 birth months of 25 on average: the level's relative variance is 1/(12 x 25) = 1/300,
    # so 30 children resting on it vary by 30² / 300 = 3.
    assert model.level_variance(30.0, 25.0) == pytest.approx(3.0)
    assert model.level_variance(30.0, 0.0) == 0.0


def test_a_cluster_is_the_sum_of_its_institutions():
    from projections.outlook import ForecastError, Outlook
    from projections.outlook.history import CapacityDecision

    h = _history()
    h.districts["i2"], h.names["i2"], h.registered["i2"] = "D", "Mælkebøtten", _utc(2025, 1, 2)
    for inst, seats in (("i1", 4), ("i2", 6)):
        h.capacity.append(CapacityDecision(_utc(2025, 1, 2), inst, "nursery", "general", date(2025, 1, 1), seats))
    h.children["b"] = ChildFacts(date(2024, 5, 1), "D", _utc(2025, 1, 6))
    h.bookings["b2"] = Booking("i2", "general", "b", [(_utc(2025, 1, 6), (("nursery", date(2025, 2, 1),
                                                                              date(2025, 3, 31)),))])
    outlook = Outlook.learn(h, _utc(2025, 1, 31))
    clusters = {"i1": "Klynge Nord", "i2": "Klynge Nord"}  # as the clusters branch will answer
    feb = model.month_of("2025-02")
    by_inst = outlook.rows("institution", feb, 2)
    by_cluster = outlook.rows("cluster", feb, 2, clusters)
    assert [(r.unit, r.month, r.capacity) for r in by_cluster] == [("Klynge Nord", "2025-02", 10),
                                                                   ("Klynge Nord", "2025-03", 10)]
    for r in by_cluster:
        assert r.children == pytest.approx(sum(i.children for i in by_inst if i.month == r.month))
    assert by_cluster[0].as_json()["cluster"] == "Klynge Nord"
    with pytest.raises(ForecastError, match="no clusters are known"):
        outlook.rows("cluster", feb, 2, {})
