"""Registrations and the waiting-list order (Copenhagen practice, kk.dk / international.kk.dk).

Parameters asked without a date (max_wishes, newcomer_positions_per_year, ...) take an optional
`on`; without it they answer with the newest entry of the rule set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date

from .dates import add_months, first_of_month
from .errors import RuleError
from .model import RuleSet, WaitingListRules
from .types import AGE_GROUPS, AgeGroup


def _rules(rs: RuleSet, on: date | None) -> WaitingListRules:
    return rs.latest("waiting_list") if on is None else rs.in_force("waiting_list", on)


def _check(age_group: str) -> None:
    if age_group not in AGE_GROUPS:
        raise RuleError(f"unknown age group {age_group!r}; known: {', '.join(AGE_GROUPS)}")


def max_wishes(age_group: AgeGroup, rs: RuleSet, on: date | None = None) -> int:
    """How many institutions a registration may wish: nursery 2, kindergarten 3."""
    _check(age_group)
    rules = _rules(rs, on)
    return rules.nursery_max_wishes if age_group == "nursery" else rules.kindergarten_max_wishes


def seniority_date(birth: date, registered_on: date, age_group: AgeGroup, rs: RuleSet) -> date:
    """The date the child's place on the list counts from.

    Nursery: the 4-month birthday however early the child was registered (a later registration
    counts from its own day). Kindergarten: the 2nd birthday, or the registration day if later.
    """
    _check(age_group)
    rules = _rules(rs, registered_on)
    months = (
        rules.nursery_seniority_from_months if age_group == "nursery" else rules.kindergarten_seniority_from_months
    )
    return max(add_months(birth, months), registered_on)


def decline_need_date(
    need_date: date, rs: RuleSet, on: date | None = None, *, offered_start: date | None = None
) -> date:
    """Declining an offer keeps the position; the need date may move 2 months.

    Counted from the offered start when given (Pladsanvisningen moves the need date "two months
    ahead from the starting date" of the declined offer), else from the need date; never earlier
    than the need date. `on` (the day of the decline) picks the rule in force.
    """
    rules = _rules(rs, on if on is not None else need_date)
    moved = add_months(offered_start or need_date, rules.decline_moves_need_date_months)
    return max(moved, need_date)


def newcomer_positions_per_year(rs: RuleSet, on: date | None = None) -> int:
    """Positions per institution and year reserved for newcomers (tilflyttere)."""
    return _rules(rs, on).newcomer_positions_per_year


def newcomer_position_valid(registered_on: date, on: date, rs: RuleSet) -> bool:
    """Whether a newcomer's claim on a reserved position still holds on `on`: it is used within
    newcomer_position_valid_months (3) of the registration, or it lapses (the child keeps its
    ordinary place in the list)."""
    months = _rules(rs, registered_on).newcomer_position_valid_months
    return on < add_months(registered_on, months)


def distance_km_fallback(rs: RuleSet, on: date | None = None) -> int:
    """Without a wished place, a kindergarten place within this many km of home."""
    return _rules(rs, on).distance_km_fallback


distance_fallback_km = distance_km_fallback  # the name the first sketch of this package used


@dataclass(frozen=True)
class WaitingEntry:
    """One child on one institution's list, as the allocation sees it."""

    child_id: str
    birth: date
    registered_on: date
    need_date: date
    age_group: AgeGroup
    sibling_in_institution: bool
    seniority: date
    newcomer: bool = False


def sibling_priority_from(birth: date, rs: RuleSet, on: date | None = None) -> date:
    """Kindergarten sibling priority: from the 1st of the month the child turns 2 y 6 m."""
    return first_of_month(add_months(birth, _rules(rs, on).kindergarten_sibling_priority_from_months))


def _sibling_counts(entry: WaitingEntry, rs: RuleSet, on: date) -> bool:
    if not entry.sibling_in_institution:
        return False
    return entry.age_group == "nursery" or on >= sibling_priority_from(entry.birth, rs, on)


def tie_break(seed: int, child_id: str) -> int:
    """A deterministic, recordable tie-break: sha256 of (seed, child id) as a 64-bit number."""
    digest = hashlib.sha256(f"{seed}:{child_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big")


def priority_key(entry: WaitingEntry, rs: RuleSet, seed: int, on: date | None = None) -> tuple:
    """Sort key; ascending = offered first. `on` is the offer day (default: the need date).

    Nursery: siblings already in the institution first, then seniority, then need date.
    Kindergarten: siblings (only from 2 y 6 m on the offer day), then the oldest child first
    (birth date), then seniority, then need date. Ties: tie_break(seed, child_id), then the id.
    Every key has the same shape, so keys of both age groups compare without error.
    """
    _check(entry.age_group)
    on = on or entry.need_date
    sibling = 0 if _sibling_counts(entry, rs, on) else 1
    oldest_first = entry.age_group == "kindergarten" and _rules(rs, on).kindergarten_oldest_first
    age = entry.birth if oldest_first else date.min
    return (sibling, age, entry.seniority, entry.need_date, tie_break(seed, entry.child_id), entry.child_id)


def priority_basis(entry: WaitingEntry, rs: RuleSet, on: date | None = None) -> str:
    """The human-readable basis of an offer, recorded with it."""
    _check(entry.age_group)
    on = on or entry.need_date
    parts = ["newcomer"] if entry.newcomer else []
    if _sibling_counts(entry, rs, on):
        parts.append("sibling")
    if entry.age_group == "kindergarten" and _rules(rs, on).kindergarten_oldest_first:
        parts.append(f"oldest first (born {entry.birth.isoformat()})")
    parts.append(f"seniority {entry.seniority.isoformat()}")
    parts.append(f"need date {entry.need_date.isoformat()}")
    return ", ".join(parts)
