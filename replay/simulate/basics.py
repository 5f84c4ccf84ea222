"""What every part of the simulation shares: who acts on each channel, and its days."""

from __future__ import annotations

from datetime import date, timedelta

import rules

ACTORS = {"self_service": "parent", "caseworker": "pladsanviser", "system": "system", "import": "legacy-import"}
ONE_DAY = timedelta(days=1)


def first_on_or_after(day: date) -> date:
    return day if day.day == 1 else rules.add_months(day.replace(day=1), 1)


def billing_day(month: date, day_of_month: int) -> date:
    """When `month`'s statements are issued: paid in advance, on `day_of_month` of the month before,
    or the next weekday."""
    day = rules.add_months(month, -1).replace(day=day_of_month)
    while day.weekday() >= 5:
        day += ONE_DAY
    return day
