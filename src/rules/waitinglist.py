"""Place guarantee and the waiting-list order (copenhagen-2025-waitinglist)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date, timedelta

from rules.ages import AgeGroup, add_months, earliest_start
from rules.model import RuleSet, WaitingListRules, in_force


def guarantee_date(birth: date, registered_on: date, need_date: date, rs: RuleSet) -> date:
    """The day the place guarantee (pasningsgaranti) falls due.

    Our reading of DTL § 23 stk. 3 and bek. 2058 § 3 stk. 3: a place is due at the
    latest 3 months after registration, never before the need date nor before 26
    weeks. When the parents asked for a start at the 26-week date, the municipality
    has 4 weeks more than the 26-week date, but still at least the 3 months after
    registration.
    """
    g = in_force(rs.guarantee, registered_on, "guarantee rules")
    after_registration = add_months(registered_on, g.months_after_registration)
    at_26_weeks = earliest_start(birth, rs)
    if need_date <= at_26_weeks:
        return max(after_registration, at_26_weeks + timedelta(weeks=g.weeks_after_26_weeks))
    return max(after_registration, need_date)


def guarantee_list_date(registered_on: date, need_date: date, rs: RuleSet) -> date:
    """Copenhagen's guarantee list: a place within 2 months of the later of registration and need date."""
    g = in_force(rs.guarantee, registered_on, "guarantee rules")
    return add_months(max(registered_on, need_date), g.guarantee_list_months)


def _wl(rs: RuleSet, on: date) -> WaitingListRules:
    return in_force(rs.waitinglist, on, "waiting-list rules")


def max_wishes(age_group: AgeGroup, rs: RuleSet, on: date) -> int:
    w = _wl(rs, on)
    return w.max_wishes_nursery if age_group == "nursery" else w.max_wishes_kindergarten


def seniority_date(birth: date, registered_on: date, age_group: AgeGroup, rs: RuleSet) -> date:
    """Nursery: the 4-month birthday however early registered; kindergarten: the 2nd birthday.

    A later registration counts from the registration day.
    """
    w = _wl(rs, registered_on)
    months = w.nursery_seniority_months if age_group == "nursery" else w.kindergarten_seniority_months
    return max(add_months(birth, months), registered_on)


def decline_need_date(need_date: date, rs: RuleSet, on: date) -> date:
    """Declining an offer keeps the position but moves the need date."""
    return add_months(need_date, _wl(rs, on).decline_moves_need_date_months)


def newcomer_positions_per_year(rs: RuleSet, on: date) -> int:
    return _wl(rs, on).newcomer_positions_per_year


def distance_fallback_km(rs: RuleSet, on: date) -> int:
    return _wl(rs, on).distance_fallback_km


@dataclass(frozen=True)
class WaitingEntry:
    child_id: str
    birth: date
    registered_on: date
    need_date: date
    age_group: AgeGroup
    sibling_in_institution: bool
    seniority: date
    newcomer: bool = False


def _sibling_counts(entry: WaitingEntry, rs: RuleSet, on: date) -> bool:
    if not entry.sibling_in_institution:
        return False
    if entry.age_group == "nursery":
        return True
    return on >= add_months(entry.birth, _wl(rs, on).kindergarten_sibling_priority_months)


def tie_break(seed: int, child_id: str) -> str:
    """A deterministic, recordable tie-break: the same seed and child give the same order."""
    return hashlib.sha256(f"{seed}:{child_id}".encode()).hexdigest()


def priority_key(entry: WaitingEntry, rs: RuleSet, seed: int, on: date) -> tuple:
    """Sort key, ascending = offered first.

    Nursery: siblings already in the institution, then seniority, then need date.
    Kindergarten: siblings (from 2 y 6 m), then oldest first, then seniority, then need date.
    Ties: a hash of the recorded seed and the child id.
    """
    sibling = 0 if _sibling_counts(entry, rs, on) else 1
    if entry.age_group == "nursery":
        return (sibling, entry.seniority, entry.need_date, tie_break(seed, entry.child_id))
    return (sibling, entry.birth, entry.seniority, entry.need_date, tie_break(seed, entry.child_id))


def priority_basis(entry: WaitingEntry, rs: RuleSet, on: date) -> str:
    if _sibling_counts(entry, rs, on):
        return "sibling in the institution"
    if entry.age_group == "kindergarten":
        return f"age (born {entry.birth.isoformat()}), seniority {entry.seniority.isoformat()}"
    return f"seniority {entry.seniority.isoformat()}, need date {entry.need_date.isoformat()}"
