"""Where a registration stood when a seat was given or a month began: the audit's shared questions.

Of age for the group, a sibling's place, the waiting-list entry and its priority (rules.priority_key,
seed 0: the waiting-list view's order), a place or an open offer as good as the institution, placed
from the lists; the groups a registration is counted in; and `Scope`, what one judging of a ledger
is about (its facts, its period, the rule set of each day).
"""

from __future__ import annotations

import bisect
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, timedelta
from functools import lru_cache
from typing import Any, Callable

import rules

from replay.audit.facts import Demand, Registration
from replay.audit.scenarios import AuditError, resolve_rule_set

DEFAULT_RULE_SET = "copenhagen-2025-waitinglist@1"
SEED = 0
AGE_BANDS = ("registered before 4 months", "registered at 4-12 months", "registered after 12 months")
IMPORTED = "imported from the old system"
ONE_DAY = timedelta(days=1)


class Scope:
    """One judging: the facts, the period (`start`..`until`) and the rule set of each day (`policy`
    fixed, or the one in force that day), with the age bands it has looked up."""

    def __init__(self, demand: Demand, start: date | None, until: date, policy: str | None) -> None:
        self.demand, self.start, self.until = demand, start, until
        self._fixed = resolve_rule_set(policy) if policy else None
        self._rule_sets: dict[str, rules.RuleSet] = {}
        self._age_bounds: dict[tuple[date, str, str], tuple[date, date] | None] = {}
        self._every: list[rules.RuleSet] | None = None
        self._age_ends: dict[tuple[date, str, str], date | None] = {}

    def rule_set_on(self, day: date) -> rules.RuleSet:
        if self._fixed is not None:
            return self._fixed
        return self._resolved(self.demand.rule_set_id_on(day, DEFAULT_RULE_SET))

    def _resolved(self, rule_set_id: str) -> rules.RuleSet:
        if rule_set_id not in self._rule_sets:
            try:
                self._rule_sets[rule_set_id] = resolve_rule_set(rule_set_id)
            except AuditError:
                self._rule_sets[rule_set_id] = rules.load_rule_set(DEFAULT_RULE_SET)
        return self._rule_sets[rule_set_id]

    def _any_rule_set(self) -> list[rules.RuleSet]:
        """Every rule set `rule_set_on` can give, whatever the day."""
        if self._every is None:
            ids = {DEFAULT_RULE_SET} | {rule_set_id for _, rule_set_id, _ in self.demand.activations}
            self._every = [self._fixed] if self._fixed is not None else [self._resolved(i) for i in sorted(ids)]
        return self._every

    def in_period(self, day: date) -> bool:
        return (self.start is None or day >= self.start) and day <= self.until

    def eligible(self, birth: date, group: str, day: date, rs: rules.RuleSet) -> bool:
        """Of age for the group on `day`."""
        bounds = self._band(birth, group, rs)
        return bounds is not None and bounds[0] <= day < bounds[1]

    def last_of_age(self, birth: date, group: str) -> date:
        """The last day the child is of age for the group under any rule set of the audit (date.min:
        under none): from the day after, `eligible` is False whatever the day's rule set."""
        ends = [end for end in (self._end(birth, group, rs) for rs in self._any_rule_set()) if end]
        return max(ends) - ONE_DAY if ends else date.min

    def _end(self, birth: date, group: str, rs: rules.RuleSet) -> date | None:
        """The day after the age band's last (the band's start is not needed to know when it ends)."""
        key = (birth, group, rs.id)
        end = self._age_ends.get(key, False)
        if end is False:
            try:
                end = rules.kindergarten_from(birth, rs) if group == "nursery" else rules.school_start(birth, rs)
            except rules.RuleError:
                end = None
            self._age_ends[key] = end
        return end

    def _band(self, birth: date, group: str, rs: rules.RuleSet) -> tuple[date, date] | None:
        """The first day of the age band and the day after its last (kept per child); None: no band."""
        key = (birth, group, rs.id)
        bounds = self._age_bounds.get(key, False)
        if bounds is False:
            try:
                if group == "nursery":
                    bounds = (rules.earliest_start(birth, rs), rules.kindergarten_from(birth, rs))
                else:
                    bounds = (rules.kindergarten_from(birth, rs), rules.school_start(birth, rs))
            except rules.RuleError:
                bounds = None
            self._age_bounds[key] = bounds
        return bounds


# -- groups ----------------------------------------------------------------------------------------


def registration_groups(demand: Demand, r: Registration) -> dict[str, str]:
    child = demand.children[r.child_id]
    months_old = months_between(child.birth, r.registered_on)
    band = AGE_BANDS[0] if months_old < 4 else AGE_BANDS[1] if months_old <= 12 else AGE_BANDS[2]
    if r.channel == "import":  # registered in the old system, under neither policy: not early or late here
        band = IMPORTED
    return {"district": demand.district_of(r.child_id), "channel": r.channel, "registration_age": band}


def policy_on(demand: Demand, day: date) -> str:
    return _policy_of(demand.rule_set_id_on(day, DEFAULT_RULE_SET))


@lru_cache(maxsize=None)
def _policy_of(rule_set_id: str) -> str:
    try:
        return resolve_rule_set(rule_set_id).policy
    except AuditError:
        return rule_set_id


def months_between(a: date, b: date) -> int:
    n = (b.year - a.year) * 12 + b.month - a.month
    return n - 1 if b.day < a.day else n


# -- a child's standing ----------------------------------------------------------------------------


def sibling_places(demand: Demand, child_id: str, day: date, known_before: int | None = None) -> set[str]:
    """Institutions where a sibling holds a place on `day` (by a booking recorded before `known_before`)."""
    return {b.institution_id for s in demand.siblings(child_id) for b in demand.bookings_of(s)
            if b.covers(day) and (known_before is None or b.position < known_before)}


def entry(demand: Demand, r: Registration, institution_id: str, day: date, rs: rules.RuleSet,
          known_before: int | None = None) -> rules.WaitingEntry:
    child = demand.children[r.child_id]
    try:
        seniority = rules.seniority_date(child.birth, r.registered_on, r.age_group, rs)
    except rules.RuleError:
        seniority = r.registered_on
    return rules.WaitingEntry(child_id=r.child_id, birth=child.birth, registered_on=r.registered_on,
                              need_date=r.need_date, age_group=r.age_group,
                              sibling_in_institution=institution_id in sibling_places(demand, r.child_id, day,
                                                                                      known_before),
                              seniority=seniority, newcomer=r.newcomer)


def priority(e: rules.WaitingEntry, rs: rules.RuleSet, day: date) -> tuple:
    try:
        return rules.priority_key(e, rs, SEED, day)
    except rules.RuleError:
        return (1, date.min, e.seniority, e.need_date, rules.tie_break(SEED, e.child_id), e.child_id)


def holds_as_good(demand: Demand, r: Registration, wishes: list[str], institution_id: str, day: date,
                  before: int) -> bool:
    """Had a place (covering `day`, or booked before position `before`) at I or a wish ranked above I."""
    rank = wishes.index(institution_id)
    good = set(wishes[: rank + 1])
    for b in demand.bookings_of(r.child_id):
        if b.institution_id in good and b.holds_a_day and (b.covers(day) or (b.position < before and b.end >= day)):
            return True
    return False


def run_of(offer: dict | None) -> tuple | None:
    """The allocation run an offer came from: its seed and day (a run's offers are one decision)."""
    return None if offer is None else (offer.get("seed"), offer["recorded"].date())


def offered_as_good(demand: Demand, r: Registration, wishes: list[str], institution_id: str, at: int,
                    run: tuple | None = None) -> bool:
    """Held an open offer, at I or a wish ranked above I, when the seat was given (log position `at`),
    or got one in the same allocation run (whose offers are written one after another)."""
    good = set(wishes[: wishes.index(institution_id) + 1])
    for offer_id in demand.offers_by_child.get(r.child_id, ()):
        o = demand.offers[offer_id]
        if o["age_group"] != r.age_group or o["institution"] not in good:
            continue
        if (o["position"] < at or (run is not None and run_of(o) == run)) and (o["closed"] is None or o["closed"] > at):
            return True
    return False


def placed_from_list(r: Registration, *, position: int | None = None, day: date | None = None) -> bool:
    """Left the waiting lists before a log position (or a day): placed at one of its wishes."""
    if r.left is None:
        return False
    return (position is not None and r.left[0] < position) or (day is not None and r.left[1].date() < day)


# -- who wished an institution ------------------------------------------------------------------------


def left_position(r: Registration) -> float:
    return r.left[0] if r.left is not None else math.inf


def left_day(r: Registration) -> date:
    return r.left[1].date() if r.left is not None else date.max


class Wishers:
    """The registrations that wished each (institution, age group), ordered by when they left the
    lists (`left`: a position or a day). Each joins when it was registered (`arrival`, the same
    axis as the decisions' `arrived`) — else every decision would look at every child that will
    ever wish the institution. A child placed from the lists before a decision is not waiting at
    it (placed_from_list), so as the decisions move on, those who left before the earliest one still
    to judge drop off the front for good, and so do, month by month, the children too old for the
    group (`last_of_age`) on the earliest day still to judge: else each decision would look at every
    child that ever wished the institution (quadratic in the years of history)."""

    def __init__(self, regs: list[Registration], left: Callable[[Registration], Any],
                 last_of_age: Callable[[Registration], date], arrival: Callable[[Registration], Any]) -> None:
        wished: dict[tuple[str, str], list[_Wisher]] = defaultdict(list)
        for n, r in enumerate(regs):
            wisher = _Wisher(arrival(r), left(r), n, last_of_age(r), r)
            for inst in r.ever_wished():
                wished[(inst, r.age_group)].append(wisher)
        self._lists = {key: _Waiting(sorted(entries, key=lambda w: (w.arrival, w.n))) for key, entries in wished.items()}

    def not_left_before(self, institution_id: str, age_group: str, arrived, floor, day: date) -> list[Registration]:
        """Those who had not left the lists before `floor`, are of age on `day` or later and arrived
        before `arrived` — or before a larger `arrived` of an earlier call: the caller skips those
        (`floor` and `day` are never earlier than at the call before)."""
        waiting = self._lists.get((institution_id, age_group))
        return [] if waiting is None else waiting.from_(arrived, floor, day)


@dataclass(frozen=True, slots=True)
class _Wisher:
    arrival: Any
    left: Any
    n: int  # in the order of the registrations judged (a stable order among equals)
    last: date  # of age for the group until then
    r: Registration


class _Waiting:
    """One (institution, age group)'s wishers: those still to arrive (by arrival), those waiting (by
    when they left, from `gone` on)."""

    def __init__(self, to_arrive: list[_Wisher]) -> None:
        self.to_arrive, self.arrived = to_arrive, 0
        self.waiting: list[tuple[Any, int, _Wisher]] = []
        self.gone = 0
        self.month: tuple[int, int] | None = None  # of the day the too old were dropped last

    def from_(self, arrived, floor, day: date) -> list[Registration]:
        to_arrive, waiting = self.to_arrive, self.waiting
        while self.arrived < len(to_arrive) and to_arrive[self.arrived].arrival < arrived:
            w = to_arrive[self.arrived]
            self.arrived += 1
            if not (w.left < floor or w.last < day):  # else it has left, or is too old, already
                bisect.insort(waiting, (w.left, w.n, w), lo=self.gone)
        gone = self.gone
        while gone < len(waiting) and waiting[gone][0] < floor:
            gone += 1
        if self.month != (day.year, day.month):
            self.waiting = waiting = [x for x in waiting[gone:] if x[2].last >= day]
            gone, self.month = 0, (day.year, day.month)
        self.gone = gone
        return [x[2].r for x in waiting[gone:]]
