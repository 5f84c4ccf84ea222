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
    assert rules.seats_still_held(10, 3, D(2025, 6, 10), D(2025, 6, 1), WL) == 10
    assert rules.self_service_limit(10, 0, D(2025, 6, 10), D(2025, 6, 1), D(2025, 1, 1), WL) == 0
    # Nor is a held seat ever released to self-service, however close the month.
    assert not rules.held_seats_released(D(2025, 6, 1), D(2025, 5, 31), WL)


def test_held_seats_are_released_four_weeks_before_the_month():
    # June 2025: released from 2025-06-01 - 28 days = 2025-05-04.
    assert rules.release_day(D(2025, 6, 17), BEP) == D(2025, 5, 4)
    assert rules.seats_still_held(10, 0, D(2025, 6, 10), D(2025, 5, 3), BEP) == 2
    assert rules.seats_still_held(10, 0, D(2025, 6, 10), D(2025, 5, 4), BEP) == 0
    assert rules.seats_still_held(10, 0, D(2025, 6, 30), D(2025, 6, 15), BEP) == 0
    assert rules.seats_still_held(10, 0, D(2025, 7, 1), D(2025, 6, 2), BEP) == 2
    assert rules.held_seats_released(D(2025, 6, 1), D(2025, 5, 4), BEP)


@pytest.mark.parametrize("caseworker_seats, still_held", [(0, 2), (1, 1), (2, 0), (5, 0)])
def test_caseworker_placements_use_the_held_seats_first(caseworker_seats, still_held):
    assert rules.held_seats_unused(10, caseworker_seats, BEP) == still_held
    assert rules.seats_still_held(10, caseworker_seats, D(2025, 9, 10), D(2025, 1, 6), BEP) == still_held


def test_the_held_share_governs_only_a_self_service_bookings_start_month():
    start, decided = D(2025, 9, 1), D(2025, 1, 6)
    # September (start month, not released): 10 seats less the 2 held; 1 caseworker placement frees one.
    assert rules.self_service_limit(10, 0, D(2025, 9, 30), start, decided, BEP) == 8
    assert rules.self_service_limit(10, 1, D(2025, 9, 30), start, decided, BEP) == 9
    # October on: any free general seat, released or not.
    assert rules.self_service_limit(10, 0, D(2025, 10, 1), start, decided, BEP) == 10
    assert rules.self_service_limit(10, 0, D(2027, 3, 31), start, decided, BEP) == 10
    # Released start month: the whole pool.
    assert rules.self_service_limit(10, 0, D(2025, 9, 5), start, D(2025, 8, 4), BEP) == 10


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
@given(st.integers(0, 500), st.integers(0, 500), st.dates(D(2020, 2, 5), D(2030, 12, 31)), st.integers(-400, 400))
def test_self_service_never_sees_more_than_capacity_nor_less_than_its_share(capacity, caseworkers, day, lead):
    decided_on = D.fromordinal(day.toordinal() - lead)
    still_held = rules.seats_still_held(capacity, caseworkers, day, decided_on, BEP)
    assert 0 <= still_held <= rules.caseworker_held_seats(capacity, BEP)
    seats = rules.self_service_limit(capacity, caseworkers, day, day, decided_on, BEP)
    assert capacity - rules.caseworker_held_seats(capacity, BEP) <= seats <= capacity
