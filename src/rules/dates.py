"""Calendar arithmetic the rules need: months, month ends, first days."""

from __future__ import annotations

import calendar
from datetime import date


_DAYS = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def days_in_month(d: date) -> int:
    """Number of days in d's month (28-31)."""
    # Arithmetic rather than calendar.monthrange: billing asks this millions of times.
    if d.month == 2 and calendar.isleap(d.year):
        return 29
    return _DAYS[d.month]


def first_of_month(d: date) -> date:
    return d if d.day == 1 else d.replace(day=1)


def last_of_month(d: date) -> date:
    return d.replace(day=days_in_month(d))


def add_months(d: date, months: int) -> date:
    """The same day `months` calendar months later (or earlier).

    A day that does not exist in the target month falls back to that month's last day, so a
    child born 31 October turns 4 months on 28 (or 29) February.
    """
    years, month0 = divmod(d.month - 1 + months, 12)
    year, month = d.year + years, month0 + 1
    return date(year, month, min(d.day, calendar.monthrange(year, month)[1]))
