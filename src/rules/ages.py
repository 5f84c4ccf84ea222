"""Ages and transitions (Copenhagen): 26 weeks, 2 y 10 m, the 3 y 1 m rate switch, school start."""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Literal

from rules.model import AgeRules, RuleError, RuleSet, in_force

AgeGroup = Literal["nursery", "kindergarten"]
InstitutionKind = Literal["vuggestue", "boernehave", "integreret", "dagpleje"]
ONE_DAY = timedelta(days=1)

_KIND_GROUPS: dict[str, tuple[AgeGroup, ...]] = {
    "vuggestue": ("nursery",),
    "dagpleje": ("nursery",),
    "boernehave": ("kindergarten",),
    "integreret": ("nursery", "kindergarten"),
}


def add_months(day: date, months: int) -> date:
    """The same day `months` later; the month's last day when it is shorter (31 Jan + 1 m = 28/29 Feb)."""
    y, m = divmod(day.month - 1 + months, 12)
    year, month = day.year + y, m + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def first_of_month(day: date) -> date:
    return day.replace(day=1)


def _ages(birth: date, rs: RuleSet) -> AgeRules:
    return in_force(rs.ages, birth, "age rules")


def earliest_start(birth: date, rs: RuleSet) -> date:
    """The guarantee and the earliest start: 26 weeks after birth."""
    return birth + timedelta(weeks=_ages(birth, rs).earliest_start_weeks)


def kindergarten_from(birth: date, rs: RuleSet) -> date:
    """Kindergarten from the 1st of the month the child turns 2 y 10 m."""
    return first_of_month(add_months(birth, _ages(birth, rs).kindergarten_from_months))


def kindergarten_rate_from(birth: date, rs: RuleSet) -> date:
    """The kindergarten rate from the 1st of the month of the rate age in force then (3 y 1 m since 2025)."""
    for rules in reversed(rs.ages):
        candidate = first_of_month(add_months(birth, rules.kindergarten_rate_from_months))
        if candidate >= rules.effective_from:
            return candidate
    raise RuleError(f"no age rules in force for a child born {birth}")


def school_start(birth: date, rs: RuleSet) -> date:
    rules = _ages(birth, rs)
    return date(birth.year + rules.school_start_age_years, rules.school_start_month, rules.school_start_day)


def age_group_on(birth: date, day: date, rs: RuleSet) -> AgeGroup:
    return "nursery" if day < kindergarten_from(birth, rs) else "kindergarten"


def age_groups_for_kind(kind: str) -> tuple[AgeGroup, ...]:
    try:
        return _KIND_GROUPS[kind]
    except KeyError:
        raise RuleError(f"unknown institution kind {kind!r}") from None


def booking_end(birth: date, start: date, kind: str, rs: RuleSet) -> date:
    """The last day of a booking that starts on `start`.

    Nursery-only kinds (vuggestue, dagpleje): the last day of the month before the
    child turns 2 y 10 m. Kindergarten and integrated institutions: the day before
    school start (an integrated institution carries its nursery children on).
    """
    groups = age_groups_for_kind(kind)
    earliest, kg_from, school = earliest_start(birth, rs), kindergarten_from(birth, rs), school_start(birth, rs)
    if start < earliest:
        raise RuleError(f"a child born {birth} can start at the earliest on {earliest} (26 weeks)")
    if start >= school:
        raise RuleError(f"a child born {birth} starts school on {school}")
    if groups == ("kindergarten",) and start < kg_from:
        raise RuleError(f"a child born {birth} can start in kindergarten from {kg_from} (2 y 10 m)")
    if groups == ("nursery",):
        if start >= kg_from:
            raise RuleError(f"a child born {birth} is past the nursery age from {kg_from}; book a kindergarten")
        return kg_from - ONE_DAY
    return school - ONE_DAY


def seat_segments(birth: date, start: date, end: date, kind: str, rs: RuleSet) -> list[tuple[AgeGroup, date, date]]:
    """The seats a booking uses: (age group, first day, last day), inclusive, in order."""
    if end < start:
        return []
    groups = age_groups_for_kind(kind)
    kg_from = kindergarten_from(birth, rs)
    if groups == ("nursery",):
        return [("nursery", start, end)]
    if groups == ("kindergarten",) or start >= kg_from:
        return [("kindergarten", start, end)]
    if end < kg_from:
        return [("nursery", start, end)]
    return [("nursery", start, kg_from - ONE_DAY), ("kindergarten", kg_from, end)]
