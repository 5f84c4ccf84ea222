"""Ages and transitions (Copenhagen): 26 weeks, 2 y 10 m, the kindergarten rate, school start.

An age date is computed with the age rule in force on that date: when a rule changes (the
kindergarten rate moved from 3 y to 3 y 1 m on 1 January 2025) a child reaches the age on the
first day on which the rule then in force says it has.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta

from .dates import add_months, first_of_month
from .errors import RuleError
from .memo import Memo
from .model import AgeRules, RuleSet
from .types import AgeGroup, InstitutionKind

ONE_DAY = timedelta(days=1)

_KIND_GROUPS: dict[str, tuple[AgeGroup, ...]] = {
    "vuggestue": ("nursery",),
    "dagpleje": ("nursery",),
    "boernehave": ("kindergarten",),
    "integreret": ("nursery", "kindergarten"),
}


def _age_date(birth: date, rs: RuleSet, what: str, compute: Callable[[AgeRules], date]) -> date:
    """The first day on which the age rule in force that day says the age is reached."""
    for i, (rules, ends) in enumerate(rs.periods("ages")):
        reached = compute(rules)
        if i == 0 and reached < rules.effective_from:
            raise RuleError(
                f"{rs.id}: a child born {birth.isoformat()} reaches {what} on {reached.isoformat()}, "
                f"before the first age rule ({rules.effective_from.isoformat()})"
            )
        reached = max(reached, rules.effective_from)
        if ends is None or reached < ends:
            return reached
    raise AssertionError("the last period has no end")  # pragma: no cover


def guarantee_start(birth: date, rs: RuleSet) -> date:
    """The start of the national place guarantee: 26 weeks (182 days) after birth (DTL § 23)."""
    return _age_date(birth, rs, "26 weeks", lambda r: birth + timedelta(weeks=r.earliest_start_weeks))


def earliest_start(birth: date, rs: RuleSet) -> date:
    """The earliest start of a place: the local rule where the data gives one (Copenhagen: the
    day the child turns 6 months, kk.dk), never before the 26-week guarantee start."""

    def start(r: AgeRules) -> date:
        weeks = birth + timedelta(weeks=r.earliest_start_weeks)
        return weeks if r.earliest_start_months is None else max(weeks, add_months(birth, r.earliest_start_months))

    return _age_date(birth, rs, "the earliest start age", start)


def kindergarten_from(birth: date, rs: RuleSet) -> date:
    """The 1st of the month the child turns 2 y 10 m: kindergarten offers from then."""
    return _age_date(
        birth, rs, "the kindergarten age", lambda r: first_of_month(add_months(birth, r.kindergarten_from_months))
    )


# Billing asks for a child's rate age once for every month of its place.
_RATE_FROM = Memo()


def kindergarten_rate_from(birth: date, rs: RuleSet) -> date:
    """The 1st of the month of the rate age (3 y 1 m since 1 January 2025, 3 y before)."""
    key = (id(rs), birth)
    found = _RATE_FROM.get(key)
    if found is None:
        found = _RATE_FROM.remember(rs, key, _age_date(
            birth, rs, "the kindergarten rate age",
            lambda r: first_of_month(add_months(birth, r.kindergarten_rate_from_months)),
        ))
    return found


def school_start(birth: date, rs: RuleSet) -> date:
    """School start: by default 1 August of the year the child turns 6 (month/day are data)."""
    return _age_date(
        birth, rs, "school start",
        lambda r: date(birth.year + r.school_start_age_years, r.school_start_month, r.school_start_day),
    )


def age_group_on(birth: date, day: date, rs: RuleSet) -> AgeGroup:
    """nursery before kindergarten_from, kindergarten from then on."""
    return "nursery" if day < kindergarten_from(birth, rs) else "kindergarten"


def age_groups_for_kind(kind: InstitutionKind | str) -> tuple[AgeGroup, ...]:
    """The age groups an institution kind takes: an integrated institution takes both."""
    try:
        return _KIND_GROUPS[kind]
    except (KeyError, TypeError):
        raise RuleError(f"unknown institution kind {kind!r}; known: {', '.join(_KIND_GROUPS)}") from None


def booking_end(birth: date, start: date, kind: InstitutionKind | str, rs: RuleSet) -> date:
    """The last day of a booking that starts on `start`.

    Nursery-only kinds (vuggestue, dagpleje): the day before kindergarten_from, i.e. the last
    day of the month before the month the child turns 2 y 10 m. Børnehave and integrated
    institutions (which carry their own nursery children on): the day before school start.
    """
    groups = age_groups_for_kind(kind)
    earliest, kg_from, school = earliest_start(birth, rs), kindergarten_from(birth, rs), school_start(birth, rs)
    born = f"a child born {birth.isoformat()}"
    if start < earliest:
        raise RuleError(f"{born} can start at the earliest on {earliest.isoformat()} ({_earliest_rule(start, rs)})")
    if start >= school:
        raise RuleError(f"{born} starts school on {school.isoformat()}; no booking from {start.isoformat()}")
    if groups == ("nursery",):
        if start >= kg_from:
            raise RuleError(f"{born} is past the nursery age from {kg_from.isoformat()}; book a kindergarten")
        return kg_from - ONE_DAY
    if groups == ("kindergarten",) and start < kg_from:
        raise RuleError(f"{born} can start in kindergarten from {kg_from.isoformat()} (2 y 10 m)")
    return school - ONE_DAY


def _earliest_rule(day: date, rs: RuleSet) -> str:
    months = rs.in_force("ages", day).earliest_start_months
    return "26 weeks" if months is None else f"{months} months, {rs.id}"


def seat_segments(
    birth: date, start: date, end: date, kind: InstitutionKind | str, rs: RuleSet
) -> list[tuple[AgeGroup, date, date]]:
    """The seats a booking uses, as inclusive (age group, first day, last day) pieces in order.

    An integrated booking uses a nursery seat until kindergarten_from - 1 and a kindergarten
    seat after. An empty span (end < start) uses none. A span outside the kind's ages: RuleError.
    """
    groups = age_groups_for_kind(kind)
    if end < start:
        return []
    kg_from = kindergarten_from(birth, rs)
    pieces: list[tuple[AgeGroup, date, date]] = []
    if start < kg_from:
        pieces.append(("nursery", start, min(end, kg_from - ONE_DAY)))
    if end >= kg_from:
        pieces.append(("kindergarten", max(start, kg_from), end))
    wrong = [g for g, _, _ in pieces if g not in groups]
    if wrong:
        raise RuleError(
            f"a {kind} takes no {wrong[0]} children; a child born {birth.isoformat()} "
            f"is in kindergarten age from {kg_from.isoformat()}"
        )
    return pieces
