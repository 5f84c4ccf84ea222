"""Seats under the two policies: the caseworkers' share, its release, and the pools."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules
from rules import RuleError

BEP = rules.load_rule_set("copenhagen-book-en-plads@1")
WL = rules.load_rule_set("copenhagen-2025-waitinglist@1")
D = date


def test_self_service_exists_only_under_book_en_plads():
    assert rules.self_service_allowed(BEP) and rules.self_service_allowed(BEP, D(2025, 1, 1))
    assert not rules.self_service_allowed(WL, D(2025, 1, 1))


@pytest.mark.parametrize("capacity, held", [(0, 0), (4, 0), (5, 1), (10, 2), (14, 2), (96, 19)])
def test_twenty_percent_rounded_down_is_held_for_caseworkers(capacity, held):
    assert rules.caseworker_held_seats(capacity, BEP) == held


def test_without_self_service_every_seat_is_the_caseworkers():
    assert rules.caseworker_held_seats(10, WL) == 10
    assert rules.self_service_capacity(10, D(2025, 6, 10), D(2025, 1, 1), WL) == 0
    # Nor is a held seat ever released to self-service, however close the month.
    assert not rules.held_seats_released(D(2025, 6, 1), D(2025, 5, 31), WL)


def test_held_seats_are_released_four_weeks_before_the_month():
    # June 2025: released from 2025-06-01 - 28 days = 2025-05-04.
    assert rules.self_service_capacity(10, D(2025, 6, 10), D(2025, 5, 3), BEP) == 8
    assert rules.self_service_capacity(10, D(2025, 6, 10), D(2025, 5, 4), BEP) == 10
    assert rules.self_service_capacity(10, D(2025, 6, 30), D(2025, 6, 15), BEP) == 10
    assert rules.self_service_capacity(10, D(2025, 7, 1), D(2025, 6, 2), BEP) == 8
    assert rules.held_seats_released(D(2025, 6, 1), D(2025, 5, 4), BEP)


def test_basis_and_special_seats_only_through_caseworkers():
    for rs in (BEP, WL):
        assert rules.pool_allowed("general", "self_service", rs)
        for pool in ("basis", "special"):
            assert not rules.pool_allowed(pool, "self_service", rs)
            assert rules.pool_allowed(pool, "caseworker", rs)
            assert rules.pool_allowed(pool, "system", rs) and rules.pool_allowed(pool, "import", rs)
    assert rules.basis_seats_min_per_institution(BEP) == 6


def test_unknown_pools_channels_and_bad_capacities_are_rule_errors():
    with pytest.raises(RuleError, match=r"^unknown pool 'vip'; known: general, basis, special$"):
        rules.pool_allowed("vip", "caseworker", BEP)
    with pytest.raises(RuleError, match=r"^unknown channel 'fax'; known: self_service, caseworker, system, import$"):
        rules.pool_allowed("general", "fax", BEP)
    with pytest.raises(RuleError, match=r"^capacity must be a non-negative integer, not -1$"):
        rules.caseworker_held_seats(-1, BEP)


# Decisions from 2019-01-01 on (the seats rule's first day): day − 400 days stays within the data.
@given(st.integers(0, 500), st.dates(D(2020, 2, 5), D(2030, 12, 31)), st.integers(-400, 400))
def test_self_service_never_sees_more_than_capacity_nor_less_than_its_share(capacity, day, lead):
    decided_on = D.fromordinal(day.toordinal() - lead)
    seats = rules.self_service_capacity(capacity, day, decided_on, BEP)
    assert capacity - rules.caseworker_held_seats(capacity, BEP) <= seats <= capacity
