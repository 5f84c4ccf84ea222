"""The place guarantee (pasningsgaranti) and Copenhagen's guarantee list."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Iterable

from .ages import earliest_start, guarantee_start
from .dates import add_months
from .model import GuaranteeRules, RuleSet


def _guarantee(rs: RuleSet, on: date) -> GuaranteeRules:
    return rs.in_force("guarantee", on)


def guarantee_date(birth: date, registered_on: date, need_date: date, rs: RuleSet) -> date:
    """The day by which the municipality must offer a place (the garantidato).

    Our reading of the law:
    - DTL § 23 stk. 3 and bek. nr. 2058 af 15/11/2021 § 3 stk. 1: a place from 26 weeks of age
      until school start, so never before the 26-week date.
    - Bek. § 3 stk. 3: a place at the latest 3 months after the parents applied (registration).
    - A later start at the parents' wish moves the date to the need date; the guarantee is not
      broken when the deadline moves at the parents' request (the ministry's guidance on the
      pasningsgaranti).
    - DTL § 23 stk. 3, 2nd sentence: parents who want the place in direct continuation of the
      26 weeks (need_date <= the 26-week date) give the municipality 4 more weeks: due 26 weeks
      + 4 weeks. It is still not put before registration + 3 months: bek. § 3 stk. 2 lets the
      municipality extend the period for parents who applied too late for a 26-week start, and
      the 3 months of stk. 3 is the period that always holds.

    So: max(registered_on + 3 months, 26 weeks + 4 weeks) for a 26-week start, else
    max(registered_on + 3 months, need_date). The rule in force on the registration day applies.
    """
    rules = _guarantee(rs, registered_on)
    after_application = add_months(registered_on, rules.months_after_application)
    at_26_weeks = guarantee_start(birth, rs)
    if need_date <= at_26_weeks:
        return max(after_application, at_26_weeks + timedelta(weeks=rules.weeks_after_26_weeks))
    return max(after_application, need_date)


def guarantee_list_open_to(municipality_code: str, on: date, rs: RuleSet) -> bool:
    """Whether a child living in `municipality_code` may sign up on the guarantee list (residents only)."""
    rules = _guarantee(rs, on)
    return rules.guarantee_list_municipality is not None and municipality_code == rules.guarantee_list_municipality


def registration_guarantee_date(birth: date, registered_on: date, need_date: date, rs: RuleSet,
                                 guarantee_list: bool = False) -> date:
    """The date a registration's place is due: the statutory guarantee date, or the guarantee
    list's (2 months from signing up) when the child is on it and that comes first."""
    due = guarantee_date(birth, registered_on, need_date, rs)
    if guarantee_list:
        due = min(due, guarantee_list_due(birth, registered_on, need_date, rs))
    return due


def guarantee_list_due(birth: date, listed_on: date, need_date: date, rs: RuleSet) -> date:
    """Copenhagen's guarantee list: a place within 2 months of signing up on it.

    Never before the need date nor before the earliest start (international.kk.dk,
    "Childminding guarantee"; a place cannot start before Copenhagen's 6 months). A missed date is an audit finding, not an error.
    """
    rules = _guarantee(rs, listed_on)
    return max(add_months(listed_on, rules.guarantee_list_months), need_date, earliest_start(birth, rs))


def place_meets_guarantee(due: date, registered_on: date, places: Iterable[tuple[date, date]]) -> bool:
    """Was the child without a place by the guarantee date? The one answer the guarantee watch, the
    allocation run and the fairness audit share.

    DTL § 23 guarantees *a* place, not a wished one: a place (first, last) that covers the due date
    meets it, and so does one taken after the registration that started by the due date (even if
    it ended before it). A place outside the child's wishes meets the guarantee; the child may
    still wait for a wished one.
    """
    return any(first <= last and (first <= due <= last or registered_on <= first <= due)
               for first, last in places)


def offer_meets_guarantee(due: date, refused_offer_starts: Iterable[date]) -> bool:
    """An offer of a place starting by the due date that the family declined or let expire met the
    guarantee (DTL § 23: the municipality must offer a place; it need not be taken)."""
    return any(start <= due for start in refused_offer_starts)


def guarantee_days_late(due: date, on: date, registered_on: date, places: Iterable[tuple[date, date]]) -> int | None:
    """Days the guarantee is broken as seen on `on`: None when a place met it or it is not yet due;
    else from the due date to the first later place's start (if it has started by `on`), or to `on`."""
    spans = [(first, last) for first, last in places if first <= last]
    if on < due or place_meets_guarantee(due, registered_on, spans):
        return None
    later = min((first for first, _ in spans if due < first <= on), default=on)
    return (later - due).days
