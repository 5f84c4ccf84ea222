"""Seat arithmetic (invariant 1) as pure functions."""

from datetime import date

from hypothesis import given, strategies as st

from ledger.seats import month_starts, seats_in_force, shortfall_days

D = date


def test_capacity_schedule_stays_in_force_until_replaced():
    schedule = [(D(2025, 1, 1), 10), (D(2025, 8, 1), 12)]
    assert seats_in_force(schedule, D(2024, 12, 31)) == 0
    assert seats_in_force(schedule, D(2025, 7, 31)) == 10
    assert seats_in_force(schedule, D(2030, 1, 1)) == 12


def test_a_seat_passes_from_one_child_to_the_next_mid_month():
    schedule = [(D(2025, 1, 1), 1)]
    held = [(D(2025, 1, 1), D(2025, 3, 14))]
    assert shortfall_days(D(2025, 3, 15), D(2025, 12, 31), schedule, held) == []
    assert shortfall_days(D(2025, 3, 14), D(2025, 12, 31), schedule, held) == [
        (D(2025, 3, 14), D(2025, 3, 14))
    ]


def test_capacity_cut_later_makes_a_long_booking_fail_only_from_the_cut():
    schedule = [(D(2025, 1, 1), 2), (D(2026, 1, 1), 1)]
    held = [(D(2025, 1, 1), D(2026, 6, 30))]
    assert shortfall_days(D(2025, 2, 1), D(2026, 12, 31), schedule, held) == [
        (D(2026, 1, 1), D(2026, 6, 30))
    ]


def test_limit_function_applies_a_share():
    schedule = [(D(2025, 1, 1), 10)]
    held = [(D(2025, 1, 1), D(2025, 12, 31))] * 8
    # 8 of 10 used; a self-service share of 8 seats is full, the whole pool is not.
    assert shortfall_days(D(2025, 5, 1), D(2025, 5, 31), schedule, held, limit=lambda d, c, cw: c - 2)
    assert not shortfall_days(D(2025, 5, 1), D(2025, 5, 31), schedule, held)


def test_the_limit_sees_the_caseworker_placements_of_each_day():
    schedule = [(D(2025, 1, 1), 10)]
    caseworkers = [(D(2025, 5, 1), D(2025, 5, 15)), (D(2025, 5, 10), D(2025, 5, 31))]
    held = [(D(2025, 1, 1), D(2025, 12, 31))] * 7 + caseworkers + [(D(2025, 5, 20), D(2025, 12, 31))]
    # 2 held seats, less the caseworker placements of the day: in use + 1 <= 10 - max(0, 2 - caseworkers).
    # 1-9 May: 8 + 1 <= 9; 10-15 May: 9 + 1 <= 10; 16-19 May: 8 + 1 <= 9; 20-31 May: 9 + 1 > 9.
    short = shortfall_days(D(2025, 5, 1), D(2025, 5, 31), schedule, held,
                           limit=lambda d, c, cw: c - max(0, 2 - cw), caseworker_in_use=caseworkers)
    assert short == [(D(2025, 5, 20), D(2025, 5, 31))]


def test_month_starts():
    assert month_starts(D(2025, 1, 15), D(2025, 4, 1)) == [D(2025, 2, 1), D(2025, 3, 1), D(2025, 4, 1)]
    assert month_starts(D(2025, 1, 1), D(2025, 1, 31)) == []


days = st.integers(min_value=0, max_value=120)


@given(
    capacity=st.integers(min_value=0, max_value=4),
    held=st.lists(st.tuples(days, st.integers(min_value=0, max_value=60)), max_size=8),
    first=days,
    length=st.integers(min_value=0, max_value=60),
)
def test_shortfall_agrees_with_counting_day_by_day(capacity, held, first, length):
    base = D(2025, 1, 1).toordinal()
    intervals = [(D.fromordinal(base + s), D.fromordinal(base + s + n)) for s, n in held]
    a, b = D.fromordinal(base + first), D.fromordinal(base + first + length)
    short = shortfall_days(a, b, [(D(2025, 1, 1), capacity)], intervals)
    expected = set()
    for o in range(a.toordinal(), b.toordinal() + 1):
        d = D.fromordinal(o)
        if sum(1 for s, e in intervals if s <= d <= e) + 1 > capacity:
            expected.add(d)
    got = set()
    for s, e in short:
        got.update(D.fromordinal(o) for o in range(s.toordinal(), e.toordinal() + 1))
    assert got == expected


def test_most_in_use():
    from ledger.seats import most_in_use

    held = [(D(2025, 1, 1), D(2025, 1, 31)), (D(2025, 1, 15), D(2025, 2, 28)), (D(2025, 2, 1), D(2025, 3, 1))]
    assert most_in_use(D(2025, 1, 1), D(2025, 12, 31), held) == (2, D(2025, 1, 15))
    assert most_in_use(D(2025, 3, 2), D(2025, 12, 31), held) == (0, None)
