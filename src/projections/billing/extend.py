"""Months joining the billing horizon: a steady household's runs extended by them, not derived again.

When the horizon moves (from OLD to NEW, one month or more), every household holding days in the
months after OLD is derived again from the first of them (BillingFacts._horizon_moved), and for
most of them those months come out equal to OLD: the same places, pay share, tariffs and
adjustments. The live Billing view (and the budget linked to it) then writes them from OLD's rows
without deriving the household, where both of these hold:

- its facts give each month after OLD up to NEW what they give OLD (`steady`), checked on the facts
  alone: nothing else of the household changed in the page (a statement issued as drafted aside:
  BillingFacts._horizon_only); every booking holding days in those months or OLD holds all of
  them and lists the same events in them; the pay share in force (the decision, or the year's
  settlement) and the adjustments covering the month are the same on each 1st, and the home does
  not change; no child reaches the kindergarten age or the kindergarten rate age; no entry or gap
  of a booking's rule set and no gross cost of a booked institution takes effect after OLD's 1st;
  no new year begins (provisional marks and settled years name it); no month after OLD is issued;
- its stored rows hold OLD as what is due alone (`Billing.runs_ending`): each run holding OLD
  ends there; no line of OLD is a correction or a gap line (whose detail names the month, so never
  equal from month to month); and OLD is a draft, or was issued as drafted — the draft kept since
  (working.HouseholdFacts.drafted: in memory, until the household is derived again).

A month's lines then differ from OLD's only in the span of a full month, which a run's lines hold
as a token (billing.runs), and the parts count a full month as whole places (billing.partruns).
So a drafted OLD's runs are extended to NEW; after an OLD issued as drafted, the months begin a
run of its draft; the settlement and budget parts' runs are extended either way, moving their
groups' totals by the months joining. Anything else is derived as before.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import TYPE_CHECKING

import rules
from rules.model import OPTIONAL_SECTIONS, SECTIONS

from projections.billing.due import pay_share
from projections.billing.months import ONE_DAY, first_of, next_month
from projections.billing.partruns import PartRuns
from projections.billing.tables import Totals
from projections.tables import Keyed, Row

if TYPE_CHECKING:
    from projections.billing.fold import FactsFold
    from projections.billing.working import HouseholdFacts


@dataclass(frozen=True, slots=True)
class Joined:
    """The month joining the horizon in a page, and the households nothing else changed for."""

    old: str
    new: str
    households: frozenset[str]


@dataclass(frozen=True, slots=True)
class Extension:
    """A household's runs of one table holding `old` (and ending there), to be extended by `new`;
    given a part's `spec` (billing.partruns), `new`'s parts join their groups' `totals`."""

    table: Keyed
    rows: list[Row]
    spec: PartRuns | None = None
    totals: Totals | None = None

    def apply(self, old: str, new: str) -> None:
        for row in self.rows:
            longer = self.table.put({**row, "to_month": new})
            if self.spec is not None and self.totals is not None:
                for key, part in self.spec.parts_of([longer], next_month(old)).items():
                    self.totals.add(key[1:], part)


def ending_at(table: Keyed, owner: str, old: str) -> list[Row] | None:
    """The owner's runs held here that hold `old` (loaded from the month before the one derived
    on), if each of them ends there; None if one goes on past it."""
    rows = table.owned_rows(owner)
    if any(r["to_month"] > old for r in rows):
        return None
    return [r for r in rows if r["to_month"] == old]

_RULE_DAYS: dict[int, tuple[rules.RuleSet, tuple[date, ...]]] = {}


def rule_days(rs: rules.RuleSet) -> tuple[date, ...]:
    """The days on which something of the rule set takes effect: an entry of any section, the
    first day of a gap and the day after it (kept per rule set: a few hundred days)."""
    found = _RULE_DAYS.get(id(rs))
    if found is None or found[0] is not rs:
        days = {e.effective_from for s in SECTIONS + OPTIONAL_SECTIONS for e in getattr(rs, s, ())}
        days |= {d for g in rs.gaps for d in (g.effective_from, g.until + ONE_DAY)}
        found = _RULE_DAYS[id(rs)] = (rs, tuple(sorted(days)))
    return found[1]


def _between(day: date, after: date, until: date) -> bool:
    return after < day <= until


def steady(facts: FactsFold, hf: HouseholdFacts, old: str, new: str) -> bool:
    """Whether the household's facts give each month after `old` up to `new` the rows they give `old`."""
    after, until = first_of(old), first_of(new)
    if until.year != after.year or (hf.latest_issued or "") > old or any(m > old for m in facts.runs):
        return False  # a new year, or a month after OLD issued
    booked = _booked_both(hf, old, new, after, until)
    if not booked:
        return False
    for rule_set in {hf.bookings[b].rule_set for b in booked}:
        rs = facts.rules_for(rule_set)
        if any(_between(d, after, until) for d in rule_days(rs)):
            return False
        if not _same_ages(hf, booked, rs, after, until):
            return False
    for institution in {hf.bookings[b].institution for b in booked}:
        inst = facts.institutions.get(institution)
        costs = inst.gross_cost if inst is not None else None
        if costs and any(_between(d, after, until) for entries in costs.values() for d, _ in entries):
            return False
    if hf.household is not None and any(_between(f.effective, after, until) for f in hf.household.facts):
        return False
    return _same_share_and_adjustments(facts, hf, old, new)


def _same_share_and_adjustments(facts: FactsFold, hf: HouseholdFacts, old: str, new: str) -> bool:
    share, adjustments = pay_share(facts, hf, old), [a for a in hf.adjustments if a.covers(old)]
    month = old
    while month < new:
        month = next_month(month)
        if pay_share(facts, hf, month) != share or [a for a in hf.adjustments if a.covers(month)] != adjustments:
            return False
    return True


def _booked_both(hf: HouseholdFacts, old: str, new: str, after: date, until: date) -> list[str]:
    """The bookings holding days in either month, if each holds every day of both and lists the
    same events in both (none of its cancellations or transfers is listed from `new` on); else none."""
    last = rules.last_of_month(until)
    out = []
    for booking_id, b in hf.bookings.items():
        if not b.holds_days() or b.end < after or b.start > last:
            continue
        if b.start > after or b.end < last:
            return []  # a booking beginning or ending in either month
        if b.events_from is not None and any(old < month <= new for month in b.events_from):
            return []  # an end of it listed from `new` on
        out.append(booking_id)
    return out


def _same_ages(hf: HouseholdFacts, booked: list[str], rs: rules.RuleSet, after: date, until: date) -> bool:
    """No booked child reaches an age the charges change at (its age group, its rate band) between
    the two months' 1sts."""
    for child_id in {hf.bookings[b].child for b in booked}:
        child = hf.children.get(child_id)
        if child is None:
            continue  # its bookings are not charged in either month
        try:
            ages = (rules.kindergarten_from(child.birth, rs), rules.kindergarten_rate_from(child.birth, rs))
        except rules.RuleError:
            return False
        if any(_between(d, after, until) for d in ages):
            return False
    return True
