"""The order of a waiting list on its list date: pure functions over the children who wait.

`rules.priority_key(entry, rule_set, seed=0, on=list date)` orders, `rules.priority_basis` says why;
before the first waiting-list rule the data models, a fallback order (siblings in the nursery,
seniority, need date) stands in.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Iterable

import rules

from projections.waitinglists.state import ListedChild, Registration

SEED = 0

Row = dict[str, Any]


@dataclass(frozen=True)
class Waiting:
    """A child's registration for an age group as the lists see it on the list date."""

    entry: rules.WaitingEntry  # sibling_in_institution=False
    registration: Registration
    guarantee: date | None
    days_waiting: int
    district: str | None
    guarantee_met_by: str | None  # "place" (outside its wishes) or "refused_offer": the child may still wait


def dates(birth: date, reg: Registration, group: str, rs: rules.RuleSet) -> tuple[date, date | None, date | None]:
    """Seniority, guarantee date and the day the child outgrows the age group."""
    try:
        seniority = rules.seniority_date(birth, reg.registered_on, group, rs)
    except rules.RuleError:  # registered before the first waiting-list rule the data models
        seniority = reg.registered_on
    try:
        guarantee = rules.registration_guarantee_date(birth, reg.registered_on, reg.need_date, rs, reg.guarantee_list)
    except rules.RuleError:
        guarantee = None
    try:
        outgrown = rules.kindergarten_from(birth, rs) if group == "nursery" else rules.school_start(birth, rs)
    except rules.RuleError:
        outgrown = None
    return seniority, guarantee, outgrown


def guarantee_met_by(child: ListedChild, group: str, reg: Registration, guarantee: date | None) -> str | None:
    """Whether the child's guarantee is met though it still waits: by a place outside its wishes, or by
    an offer the family refused (the same rules the allocation run and the fairness audit apply)."""
    if guarantee is None:
        return None
    if rules.place_meets_guarantee(guarantee, reg.registered_on, child.places()):
        return "place"
    if rules.offer_meets_guarantee(guarantee, child.refused.get(group, ())):
        return "refused_offer"
    return None


def institution_rows(inst: str, group: str, waiting: Iterable[tuple[Waiting, bool]], on: date,
                     rs: rules.RuleSet) -> list[Row]:
    """The institution's list: each waiting child (with whether a sibling attends the institution on
    the list date) ranked, 1 = offered first."""
    keyed = []
    for w, sibling in waiting:
        entry = replace(w.entry, sibling_in_institution=True) if sibling else w.entry
        key, basis = _order(entry, rs, on)
        keyed.append((key, entry, basis, w))
    keyed.sort(key=lambda x: x[0])
    return [{"institution_id": inst, "age_group": group, "child_id": entry.child_id, "rank": rank,
             "priority_basis": basis, "sibling": entry.sibling_in_institution,
             "seniority_date": entry.seniority, "need_date": entry.need_date,
             "registered_on": entry.registered_on, "guarantee_date": w.guarantee,
             "days_waiting": w.days_waiting, "channel": w.registration.channel,
             "wish_no": w.registration.wishes.index(inst) + 1, "district": w.district, "rule_set": rs.id,
             "guarantee_met_by": w.guarantee_met_by}
            for rank, (_, entry, basis, w) in enumerate(keyed, start=1)]


def district_rows(district: str, group: str, waiting: Iterable[Waiting], on: date, rs: rules.RuleSet) -> list[Row]:
    """The district's list: its waiting children ranked by the same order without the
    institution-specific sibling priority."""
    keyed = sorted(((_key(w.entry, rs, on), w) for w in waiting), key=lambda x: x[0])
    return [{"district": district, "age_group": group, "child_id": w.entry.child_id, "rank": rank,
             "seniority_date": w.entry.seniority, "need_date": w.entry.need_date,
             "guarantee_date": w.guarantee, "days_waiting": w.days_waiting}
            for rank, (_, w) in enumerate(keyed, start=1)]


def _fallback_key(entry: rules.WaitingEntry) -> tuple:
    # A list date before the first waiting-list rule the data models: siblings (nursery), seniority, need date.
    sibling = entry.sibling_in_institution and entry.age_group == "nursery"
    return (0 if sibling else 1, date.min, entry.seniority, entry.need_date,
            rules.tie_break(SEED, entry.child_id), entry.child_id)


def _key(entry: rules.WaitingEntry, rs: rules.RuleSet, on: date) -> tuple:
    """The waiting-list order key on the list date (ascending = offered first)."""
    try:
        return rules.priority_key(entry, rs, SEED, on)
    except rules.RuleError:
        return _fallback_key(entry)


def _order(entry: rules.WaitingEntry, rs: rules.RuleSet, on: date) -> tuple[tuple, str]:
    """The waiting-list order key and its basis text on the list date."""
    try:
        return rules.priority_key(entry, rs, SEED, on), rules.priority_basis(entry, rs, on)
    except rules.RuleError:
        key = _fallback_key(entry)
        basis = ", ".join((["sibling"] if key[0] == 0 else [])
                          + [f"seniority {entry.seniority.isoformat()}", f"need date {entry.need_date.isoformat()}"])
        return key, basis
