"""Seat arithmetic for invariant 1: seats in use <= capacity on every day.

Pure functions over plain data so the Institution aggregate stays small and the
logic can be tested directly. Dates are inclusive ranges.
"""

from __future__ import annotations

from bisect import bisect_right
from datetime import date, timedelta
from typing import Callable, Iterable

ONE_DAY = timedelta(days=1)

# A capacity schedule: sorted [(effective_from, seats)]; before its first entry a pool has 0 seats.
Schedule = list[tuple[date, int]]


def seats_in_force(schedule: Schedule, day: date) -> int:
    i = bisect_right([d for d, _ in schedule], day)
    return schedule[i - 1][1] if i else 0


Span = tuple[date, date]


def _sweep(first: date, last: date, spans: Iterable[Span]) -> tuple[int, dict[date, int]]:
    """The spans held on `first`, and the change in that count on each later day of [first, last]."""
    deltas: dict[date, int] = {}
    active = 0
    for start, end in spans:
        if end < first or start > last:
            continue
        if start <= first:
            active += 1
        else:
            deltas[start] = deltas.get(start, 0) + 1
        after = end + ONE_DAY
        if after <= last:
            deltas[after] = deltas.get(after, 0) - 1
    return active, deltas


def shortfall_days(
    first: date,
    last: date,
    schedule: Schedule,
    in_use: Iterable[Span],
    limit: Callable[[date, int, int], int] = lambda day, capacity, caseworker_seats: capacity,
    extra_breaks: Iterable[date] = (),
    caseworker_in_use: Iterable[Span] = (),
) -> list[Span]:
    """Ranges of days in [first, last] where one more seat would exceed the limit.

    `in_use` are the (first, last) days of the reservations already held in the
    pool, `caseworker_in_use` those of them placed by caseworkers; `limit(day,
    capacity, caseworker_seats)` turns the capacity in force and the caseworker
    placements of the day into the seats this booking may find in use (e.g. the
    self-service limit). The limit and the counts are constant between breakpoints,
    so we sweep breakpoints rather than days.
    """
    active, deltas = _sweep(first, last, in_use)
    caseworkers, cw_deltas = _sweep(first, last, caseworker_in_use)
    breaks = {first}
    breaks.update(deltas)
    breaks.update(cw_deltas)
    breaks.update(d for d, _ in schedule if first < d <= last)
    breaks.update(d for d in extra_breaks if first < d <= last)
    ordered = sorted(breaks)
    short: list[Span] = []
    for i, day in enumerate(ordered):
        if day != first:
            active += deltas.get(day, 0)
            caseworkers += cw_deltas.get(day, 0)
        allowed = limit(day, seats_in_force(schedule, day), caseworkers)
        if active + 1 > allowed:
            until = ordered[i + 1] - ONE_DAY if i + 1 < len(ordered) else last
            if short and short[-1][1] + ONE_DAY == day:
                short[-1] = (short[-1][0], until)
            else:
                short.append((day, until))
    return short


def in_use_on(day: date, spans: Iterable[Span]) -> int:
    """How many of the spans hold a seat on `day`."""
    return sum(1 for start, end in spans if start <= day <= end)


def month_starts(first: date, last: date) -> list[date]:
    """The 1st of every month that begins inside (first, last]."""
    out = []
    y, m = first.year, first.month
    while True:
        m += 1
        if m == 13:
            y, m = y + 1, 1
        d = date(y, m, 1)
        if d > last:
            return out
        out.append(d)


def most_in_use(first: date, last: date, in_use: Iterable[tuple[date, date]]) -> tuple[int, date | None]:
    """The most reservations held on one day of [first, last], and the first such day."""
    deltas: dict[date, int] = {}
    for start, end in in_use:
        if end < first or start > last:
            continue
        s = max(start, first)
        deltas[s] = deltas.get(s, 0) + 1
        after = end + ONE_DAY
        deltas[after] = deltas.get(after, 0) - 1
    best, best_day, active = 0, None, 0
    for day in sorted(deltas):
        active += deltas[day]
        if day <= last and active > best:
            best, best_day = active, day
    return best, best_day
