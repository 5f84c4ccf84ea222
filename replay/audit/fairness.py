"""The fairness audit (SPEC §8): measures from the matching literature over the ledger's facts.

- Justified envy (Kennes, Monte & Tumennasan 2014): child i wished institution I for an age
  group, was due (need date on or before the start) and old enough, had registered before the
  booking was recorded, held no place at I or at a wish it ranks higher (and had not declined an
  offer at I) — and a child j with *lower* priority under the waiting-list order got a general
  seat at I starting that day. One finding per (i, I, age group), however many bookings passed
  i over there (they are listed in the finding).
- Wasted seat-months: seats of an institution's general pool free the whole month (the
  Occupancy view's `free`) while children wishing it, due and old enough for the whole month,
  registered before the month, had no place there or at a better wish: min(free, waiting).
- Guarantee breaches: no place on the guarantee date (rules.guarantee_date), and the first place
  started later (days late = start - guarantee date) or has not started by the audit date.
- Waiting days: need date -> start of the registration's first place (0 when it started on or
  before the need date); registrations still waiting are counted apart (censored).
- First-choice share: places at the first wish among placed registrations.
- Sibling co-location: of the placed children with a sibling in daycare on their start date,
  the share placed where a sibling is.
Each measure is broken down by district (the child's home), registration channel and the
child's age when registered (< 4 months, 4-12 months, > 12 months; registrations imported from
the old system are a group of their own: neither policy saw them registered).

The priority order is `rules.priority_key` (seed 0, the waiting-list view's order) under
`policy` or, by default, the rule set in force on the day the booking was recorded; envy needs
strictly higher priority by the rules (sibling, age, seniority, need date), not a win of the
seeded tie-break lottery.
"""

from __future__ import annotations

import itertools
import math
import re
import statistics
from collections import defaultdict
from dataclasses import replace
from datetime import date
from functools import lru_cache
from pathlib import Path
from typing import Any, Callable, Sequence

import rules
from ledger import Ledger
from projections.engine import View
from projections.occupancy import Occupancy

from replay.audit.counterfactual import Script, replay_demand
from replay.audit.facts import Booking, Demand, Registration, fold, months
from replay.audit.scenarios import AuditError, resolve_rule_set

DEFAULT_RULE_SET = "copenhagen-2025-waitinglist@1"
SEED = 0
AGE_BANDS = ("registered before 4 months", "registered at 4-12 months", "registered after 12 months")
IMPORTED = "imported from the old system"
DIMENSIONS = ("district", "channel", "registration_age", "policy", "policy_and_registration_age")
ENVY_SOURCES = ("booking", "offer")  # transfers continue a place; they give no seat away


def decided_by(b: Booking) -> str:
    """Who gave the seat: a caseworker's own booking is a person's decision (with its reason);
    an offer from the allocation run, or a booking the rules accepted (self-service), the system's."""
    return "caseworker" if b.source == "booking" and b.channel == "caseworker" else "system"


def fairness_audit(ledger: Ledger, *, start: date | None = None, end: date | None = None,
                   policy: str | None = None, vs: str | None = None) -> dict:
    """The fairness audit of the ledger's history (JSON-able dict; see docs/audits.md)."""
    if start is not None and end is not None and end < start:
        raise AuditError(f"the period ends ({end}) before it starts ({start})")
    # Another rule set: its replay reads the ledger's demand in the same pass over the log.
    script = Script() if vs is not None and "://" not in vs else None
    result, demand = _judged(ledger, start=start, end=end, policy=policy, also=(script,) if script else ())
    if vs is not None and "://" in vs:  # another ledger: its measures side by side
        result["vs"] = other_ledger_fairness(result, vs, start=start, end=end, policy=policy)
    elif vs is not None:  # another rule set: the same demand replayed under it
        result["vs"] = counterfactual_fairness(ledger, demand, start=start, end=end, policy=policy, vs=vs,
                                               script=script)
    return result


def _judged(ledger: Ledger, *, start: date | None, end: date | None, policy: str | None,
            also: Sequence[View] = ()) -> tuple[dict, Demand]:
    """The measures over a ledger's own facts (with the position they were folded to), and its demand
    (`also`: more views folded in the same pass)."""
    demand, occupancy = Demand(), Occupancy()
    position = fold(ledger, [demand, occupancy, *also])
    result = judge(demand, list(occupancy.t["occupancy"].values()), start=start, end=end, policy=policy)
    result["position"] = position
    return result, demand


def counterfactual_fairness(ledger: Ledger, demand: Demand, *, start: date | None, end: date | None,
                            policy: str | None, vs: str, script: Script | None = None) -> dict:
    """The fairness measures of the ledger's demand replayed under `policy` (default: the rule set in
    force at the end) and under `vs`, side by side (`script`: the ledger's demand, if folded already)."""
    if script is None:
        script = Script()
        fold(ledger, [script])
    base = policy or demand.rule_set_id_on(demand.last_recorded.date(), DEFAULT_RULE_SET)
    sides = {}
    for name in (base, vs):
        with replay_demand(ledger, name, script=script) as replayed:
            judged, _ = _judged(replayed.ledger, start=start, end=end, policy=policy)
            sides[name] = (judged, replayed.refused)
    (a, refused_a), (b, refused_b) = sides[base], sides[vs]
    return {
        "kind": "replay", "policy": base, "vs": vs,
        "note": "both sides are the ledger's demand replayed in a scratch ledger; priority judged under "
                + (policy or "each side's own rule set"),
        **_side_by_side(a, b), "refused": {"actual": refused_a, "alternative": refused_b},
    }


def other_ledger_fairness(mine: dict, other_url: str, *, start: date | None, end: date | None,
                          policy: str | None) -> dict:
    """This ledger's fairness measures (`mine`, from judge) next to another ledger's (e.g. the demo's
    two cities, one per policy): no replay, each judged on its own facts."""
    if other_url.startswith("sqlite:///") and not Path(other_url[len("sqlite:///"):].split("?")[0]).is_file():
        raise AuditError(f"no ledger at {other_url!r}")
    try:
        other_ledger = Ledger(other_url)
    except Exception as e:  # a URL the auditor typed: say what is wrong with it, in one line
        raise AuditError(f"cannot open the ledger {other_url!r}: {e}") from None
    with other_ledger:
        theirs, _ = _judged(other_ledger, start=start, end=end, policy=policy)
    return {
        "kind": "ledgers", "policy": "this ledger", "vs": _redacted(other_url),
        "note": "two ledgers side by side, each judged on its own facts (no replay)",
        **_side_by_side(mine, theirs), "refused": {"actual": [], "alternative": []},
    }


def _side_by_side(actual: dict, alternative: dict) -> dict:
    return {"actual": _flat(actual["summary"]), "alternative": _flat(alternative["summary"]),
            "actual_breakdowns": actual["breakdowns"], "alternative_breakdowns": alternative["breakdowns"],
            "actual_waiting_days": actual["waiting_days"], "alternative_waiting_days": alternative["waiting_days"]}


def _flat(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    out.update({f"waiting_days_{k}": v for k, v in summary["waiting_days"].items()})
    return out


def _redacted(url: str) -> str:
    """A ledger URL fit for a report: without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)


def judge(demand: Demand, occupancy_rows: list[dict], *, start: date | None, end: date | None,
          policy: str | None) -> dict:
    """The measures over folded facts (also used on a counterfactual ledger's facts)."""
    if demand.last_recorded is None:
        raise AuditError("the ledger is empty: nothing to audit")
    today = demand.last_recorded.date()
    _AGE_BOUNDS.clear()
    until = min(end, today) if end is not None else today
    fixed = resolve_rule_set(policy) if policy else None
    cache: dict[str, rules.RuleSet] = {}

    def rule_set_on(day: date) -> rules.RuleSet:
        if fixed is not None:
            return fixed
        rule_set_id = demand.rule_set_id_on(day, DEFAULT_RULE_SET)
        if rule_set_id not in cache:
            try:
                cache[rule_set_id] = resolve_rule_set(rule_set_id)
            except AuditError:
                cache[rule_set_id] = rules.load_rule_set(DEFAULT_RULE_SET)
        return cache[rule_set_id]

    def in_period(day: date) -> bool:
        return (start is None or day >= start) and day <= until

    regs = [r for r in demand.registrations.values()
            if r.child_id in demand.children and not demand.children[r.child_id].erased]
    group_of = {(r.child_id, r.age_group): _groups(demand, r) for r in regs}
    outcomes = {(r.child_id, r.age_group): _outcome(demand, r) for r in regs}

    for r in regs:  # the policy the family met: the one in force on its need date
        groups = group_of[(r.child_id, r.age_group)]
        groups["policy"] = _policy_on(demand, r.need_date)
        groups["policy_and_registration_age"] = f"{groups['policy']}, {groups['registration_age']}"
    envy = _justified_envy(demand, regs, rule_set_on, in_period)
    wasted = _wasted(demand, regs, occupancy_rows, rule_set_on, start, until)
    refused_offers: list[dict] = []
    breaches = _breaches(demand, regs, rule_set_on, in_period, until, refused_offers)
    for finding in envy + breaches:
        groups = group_of[(finding["child_id"], finding["age_group"])]
        finding["policy"] = groups["policy"]
        finding["policy_and_registration_age"] = groups["policy_and_registration_age"]

    # -- per registration: waiting, first choice, siblings -------------------------------------
    rows = []
    for r in regs:
        placed = outcomes[(r.child_id, r.age_group)]
        if not in_period(r.need_date):
            continue
        row: dict[str, Any] = {"child_id": r.child_id, "age_group": r.age_group, **group_of[(r.child_id, r.age_group)],
                               "need_date": r.need_date.isoformat(), "registered_on": r.registered_on.isoformat(),
                               "wishes": r.wishes, "events": sorted(set(r.positions))}
        if placed is not None and placed.start <= until:
            row.update(placed=True, start=placed.start.isoformat(), institution_id=placed.institution_id,
                       booking_id=placed.booking_id, waiting_days=max(0, (placed.start - r.need_date).days),
                       first_choice=bool(r.wishes) and placed.institution_id == r.wishes[0],
                       events=sorted(set(r.positions) | set(placed.positions)))
            siblings_there = _sibling_places(demand, r.child_id, placed.start)
            row["sibling_in_daycare"] = bool(siblings_there)
            row["with_sibling"] = placed.institution_id in siblings_there if siblings_there else None
        else:
            row.update(placed=False, waiting_days_so_far=max(0, (until - r.need_date).days))
        rows.append(row)

    overrides = _overrides(demand, start, until)
    summary = _summarise(rows, envy, wasted, breaches)
    summary["capacity_overrides"] = len(overrides)
    summary["guarantee_met_by_refused_offer"] = len(refused_offers)
    breakdowns = {dim: _breakdown(dim, rows, envy, breaches) for dim in DIMENSIONS}
    return {
        "audit": "fairness",
        "period": {"from": start.isoformat() if start else None, "to": until.isoformat()},
        "as_of": demand.last_recorded.isoformat(),
        "policy": policy or "the rule set in force on each day",
        "summary": summary,
        "breakdowns": breakdowns,
        "waiting_days": {dim: _distributions(dim, rows) for dim in DIMENSIONS},
        "occupancy_heatmap": _heatmap(demand, occupancy_rows, start, until),
        "breaches_by_month": _by_month(breaches),
        "findings": {"justified_envy": envy, "wasted_seats": wasted, "guarantee_breaches": breaches,
                     "capacity_overrides": overrides, "guarantee_met_by_refused_offer": refused_offers},
        "registrations": rows,
    }


# -- groups ----------------------------------------------------------------------------------------


def _groups(demand: Demand, r: Registration) -> dict[str, str]:
    child = demand.children[r.child_id]
    months_old = _months_between(child.birth, r.registered_on)
    band = AGE_BANDS[0] if months_old < 4 else AGE_BANDS[1] if months_old <= 12 else AGE_BANDS[2]
    if r.channel == "import":  # registered in the old system, under neither policy: not early or late here
        band = IMPORTED
    return {"district": demand.district_of(r.child_id), "channel": r.channel, "registration_age": band}


def _policy_on(demand: Demand, day: date) -> str:
    return _policy_of(demand.rule_set_id_on(day, DEFAULT_RULE_SET))


@lru_cache(maxsize=None)
def _policy_of(rule_set_id: str) -> str:
    try:
        return resolve_rule_set(rule_set_id).policy
    except AuditError:
        return rule_set_id


def _months_between(a: date, b: date) -> int:
    n = (b.year - a.year) * 12 + b.month - a.month
    return n - 1 if b.day < a.day else n


# -- outcomes ----------------------------------------------------------------------------------------


def _outcome(demand: Demand, r: Registration) -> Booking | None:
    """The registration's first place: the child's first booking of that age group holding a day;
    for a nursery registration never met, the first kindergarten place (the child outgrew the
    nursery while it waited, and that place ended the wait)."""
    for group in (r.age_group, "kindergarten") if r.age_group == "nursery" else (r.age_group,):
        for b in demand.bookings_of(r.child_id):
            if b.age_group == group and b.holds_a_day:
                return b
    return None


_AGE_BOUNDS: dict[tuple[date, str, str], tuple[date, date] | None] = {}  # reset by each judge()


def _eligible(birth: date, group: str, day: date, rs: rules.RuleSet) -> bool:
    """Of age for the group on `day` (the first and the last day of the age band, kept per child)."""
    key = (birth, group, rs.id)
    if key not in _AGE_BOUNDS:
        try:
            if group == "nursery":
                _AGE_BOUNDS[key] = (rules.earliest_start(birth, rs), rules.kindergarten_from(birth, rs))
            else:
                _AGE_BOUNDS[key] = (rules.kindergarten_from(birth, rs), rules.school_start(birth, rs))
        except rules.RuleError:
            _AGE_BOUNDS[key] = None
    bounds = _AGE_BOUNDS[key]
    return bounds is not None and bounds[0] <= day < bounds[1]


def _sibling_places(demand: Demand, child_id: str, day: date, known_before: int | None = None) -> set[str]:
    """Institutions where a sibling holds a place on `day` (by a booking recorded before `known_before`)."""
    return {b.institution_id for s in demand.siblings(child_id) for b in demand.bookings_of(s)
            if b.covers(day) and (known_before is None or b.position < known_before)}


def _entry(demand: Demand, r: Registration, institution_id: str, day: date, rs: rules.RuleSet,
           known_before: int | None = None) -> rules.WaitingEntry:
    child = demand.children[r.child_id]
    try:
        seniority = rules.seniority_date(child.birth, r.registered_on, r.age_group, rs)
    except rules.RuleError:
        seniority = r.registered_on
    return rules.WaitingEntry(child_id=r.child_id, birth=child.birth, registered_on=r.registered_on,
                              need_date=r.need_date, age_group=r.age_group,
                              sibling_in_institution=institution_id in _sibling_places(demand, r.child_id, day,
                                                                                       known_before),
                              seniority=seniority, newcomer=r.newcomer)


def _key(entry: rules.WaitingEntry, rs: rules.RuleSet, day: date) -> tuple:
    try:
        return rules.priority_key(entry, rs, SEED, day)
    except rules.RuleError:
        return (1, date.min, entry.seniority, entry.need_date, rules.tie_break(SEED, entry.child_id), entry.child_id)


def _holds_as_good(demand: Demand, r: Registration, wishes: list[str], institution_id: str, day: date,
                   before: int) -> bool:
    """Had a place (covering `day`, or booked before position `before`) at I or a wish ranked above I."""
    rank = wishes.index(institution_id)
    good = set(wishes[: rank + 1])
    for b in demand.bookings_of(r.child_id):
        if b.institution_id in good and b.holds_a_day and (b.covers(day) or (b.position < before and b.end >= day)):
            return True
    return False


def _run_of(offer: dict | None) -> tuple | None:
    """The allocation run an offer came from: its seed and day (a run's offers are one decision)."""
    return None if offer is None else (offer.get("seed"), offer["recorded"].date())


def _offered_as_good(demand: Demand, r: Registration, wishes: list[str], institution_id: str, at: int,
                     run: tuple | None = None) -> bool:
    """Held an open offer, at I or a wish ranked above I, when the seat was given (log position `at`),
    or got one in the same allocation run (whose offers are written one after another)."""
    good = set(wishes[: wishes.index(institution_id) + 1])
    for offer_id in demand.offers_by_child.get(r.child_id, ()):
        o = demand.offers[offer_id]
        if o["age_group"] != r.age_group or o["institution"] not in good:
            continue
        if (o["position"] < at or (run is not None and _run_of(o) == run)) and (o["closed"] is None or o["closed"] > at):
            return True
    return False


def _placed_from_list(r: Registration, *, position: int | None = None, day: date | None = None) -> bool:
    """Left the waiting lists before a log position (or a day): placed at one of its wishes."""
    if r.left is None:
        return False
    return (position is not None and r.left[0] < position) or (day is not None and r.left[1].date() < day)


# -- justified envy -----------------------------------------------------------------------------------


def _seats_given(demand: Demand, in_period) -> list[tuple[Booking, Registration, dict | None, int]]:
    """The general seats that can pass a child over, in log order: (booking, the winner's
    registration, the offer it came from, the log position of the decision)."""
    out = []
    for b in sorted(demand.bookings.values(), key=lambda b: b.position):
        if b.pool != "general" or b.source not in ENVY_SOURCES or not b.holds_a_day or not in_period(b.start):
            continue
        winner = demand.registrations.get((b.child_id, b.age_group))
        if winner is None or b.child_id not in demand.children:
            continue
        # A place given by an offer was decided when the offer was made: judge as of then.
        offer = demand.offers.get(b.offer_id) if b.source == "offer" and b.offer_id else None
        if offer and offer["basis"].startswith("newcomer position"):
            continue  # a position the rules reserve for newcomers: no one is passed over by it
        out.append((b, winner, offer, offer["position"] if offer else b.position))
    return out


def _left_position(r: Registration) -> float:
    return r.left[0] if r.left is not None else math.inf


def _left_day(r: Registration) -> date:
    return r.left[1].date() if r.left is not None else date.max


class _Wishers:
    """The registrations that ever wished each (institution, age group), ordered by when they left
    the lists (`left`: a position or a day). A child placed from the lists before a decision is
    not waiting at it (_placed_from_list), so as the decisions move on, those who left before the
    earliest one still to judge drop off the front for good — else each decision would look at
    every child that ever wished the institution (quadratic in the years of history)."""

    def __init__(self, regs: list[Registration], left: Callable[[Registration], Any]) -> None:
        self._left = left
        self._wished: dict[tuple[str, str], list[Registration]] = defaultdict(list)
        for r in regs:
            for inst in r.ever_wished():
                self._wished[(inst, r.age_group)].append(r)
        for wished in self._wished.values():
            wished.sort(key=left)
        self._gone: dict[tuple[str, str], int] = defaultdict(int)

    def not_left_before(self, institution_id: str, age_group: str, floor) -> list[Registration]:
        key = (institution_id, age_group)
        wished, gone = self._wished.get(key, []), self._gone[key]
        while gone < len(wished) and self._left(wished[gone]) < floor:
            gone += 1
        self._gone[key] = gone
        return wished[gone:]


def _justified_envy(demand: Demand, regs: list[Registration], rule_set_on, in_period) -> list[dict]:
    wishers = _Wishers(regs, _left_position)
    given = _seats_given(demand, in_period)
    # a seat given by an offer was decided earlier than it was booked: the floor is the earliest to come
    earliest_to_come = list(itertools.accumulate(reversed([g[3] for g in given]), min))[::-1]
    found: dict[tuple[str, str, str], dict] = {}
    for (b, winner, offer, decided), floor in zip(given, earliest_to_come):
        day = (offer["recorded"] if offer else b.recorded).date()
        rs = rule_set_on(day)
        # Priority as the ledger knew it when the seat was given (a sibling booked later gives none then).
        # A sibling counts when it holds a place there on the day of the decision, as on the
        # waiting-list view the run reads (its list date).
        winner_key = _key(_entry(demand, winner, b.institution_id, day, rs, decided), rs, day)
        for r in wishers.not_left_before(b.institution_id, b.age_group, floor):
            if r.child_id == b.child_id or r.position > decided:
                continue
            wishes, need_date = r.as_of(position=decided)  # as the ledger knew them then
            if b.institution_id not in wishes or need_date > b.start:
                continue
            child = demand.children[r.child_id]
            if child.erased or not _eligible(child.birth, r.age_group, b.start, rs):
                continue
            if (r.child_id, b.institution_id) in demand.declined:
                continue
            if (_placed_from_list(r, position=decided)
                    or _holds_as_good(demand, r, wishes, b.institution_id, b.start, decided)
                    or _offered_as_good(demand, r, wishes, b.institution_id, decided, _run_of(offer))):
                continue
            entry = replace(_entry(demand, r, b.institution_id, day, rs, decided), need_date=need_date)
            if _key(entry, rs, day)[:-2] >= winner_key[:-2]:
                continue  # not higher priority (a tie the seeded lottery broke is no rule's priority)
            inst = demand.institutions.get(b.institution_id)
            passed_over = {"booking_id": b.booking_id, "child_id": b.child_id, "start": b.start.isoformat(),
                           "recorded": b.recorded.isoformat(), "channel": b.channel, "decided_by": decided_by(b),
                           "reason": b.reason, "priority_basis": _basis(winner, demand, b, rs, day),
                           "events": sorted(set(b.positions))}
            key = (r.child_id, b.institution_id, b.age_group)
            if key in found:
                found[key]["passed_over_by"].append(passed_over)
                if passed_over["decided_by"] == "system":
                    found[key]["decided_by"] = "system"
                continue
            found[key] = {
                "child_id": r.child_id, "institution_id": b.institution_id,
                "institution": inst.name if inst else b.institution_id, "age_group": b.age_group,
                "district": demand.district_of(r.child_id), "channel": r.channel,
                "registration_age": _groups(demand, r)["registration_age"],
                "need_date": need_date.isoformat(), "registered_on": r.registered_on.isoformat(),
                "wish_no": wishes.index(b.institution_id) + 1, "priority_basis": rules.priority_basis(entry, rs, day),
                "rule_set": rs.id, "first_passed_over": b.start.isoformat(),
                "passed_over_by": [passed_over], "decided_by": passed_over["decided_by"],
                "events": sorted(set(r.positions) | set(b.positions)),
            }
    return [found[k] for k in sorted(found, key=lambda k: (found[k]["first_passed_over"], k))]


def _basis(r: Registration, demand: Demand, b: Booking, rs: rules.RuleSet, day: date) -> str:
    try:
        return rules.priority_basis(_entry(demand, r, b.institution_id, day, rs), rs, day)
    except rules.RuleError:
        return ""


# -- wasted seats -------------------------------------------------------------------------------------


def _wasted(demand: Demand, regs: list[Registration], occupancy_rows: list[dict], rule_set_on,
            start: date | None, until: date) -> list[dict]:
    wishers = _Wishers(regs, _left_day)  # the months come in order
    out = []
    for row in sorted(occupancy_rows, key=lambda x: (x["month"], x["institution_id"], x["age_group"])):
        if row["pool"] != "general" or row["free"] <= 0:
            continue
        first = date(int(row["month"][:4]), int(row["month"][5:7]), 1)
        last = rules.last_of_month(first)
        if last > until or (start is not None and first < start.replace(day=1)):
            continue  # only whole months the ledger has lived through
        rs = rule_set_on(first)
        waiting = []
        for r in wishers.not_left_before(row["institution_id"], row["age_group"], first):
            child = demand.children[r.child_id]
            if child.erased or r.recorded.date() >= first:
                continue
            wishes, need_date = r.as_of(day=first)  # as the ledger knew them when the month began
            if (row["institution_id"] not in wishes or need_date > first
                    or not _eligible(child.birth, r.age_group, first, rs)
                    or not _eligible(child.birth, r.age_group, last, rs)):
                continue
            if _placed_from_list(r, day=first) or any(
                    _holds_as_good(demand, r, wishes, row["institution_id"], day, 0) for day in (first, last)):
                continue
            if (r.child_id, row["institution_id"]) in demand.declined:
                continue
            waiting.append(r)
        if not waiting:
            continue
        inst = demand.institutions.get(row["institution_id"])
        capacity_events = [p for (i, g, pool), entries in demand.capacity.items()
                           if i == row["institution_id"] and g == row["age_group"] and pool == "general"
                           for eff, _, p in entries if eff <= last]
        out.append({
            "institution_id": row["institution_id"], "institution": inst.name if inst else row["institution_id"],
            "district": row["district"], "age_group": row["age_group"], "month": row["month"],
            "capacity": row["capacity"], "booked": row["booked"], "free": row["free"],
            "waiting_children": [r.child_id for r in sorted(waiting, key=lambda r: r.position)],
            "wasted_seat_months": min(row["free"], len(waiting)),
            "events": sorted(set(capacity_events) | {p for r in waiting for p in r.positions}),
        })
    return out


# -- guarantee -----------------------------------------------------------------------------------------


def _refused_in_time(demand: Demand, r: Registration, due: date) -> list[str]:
    """Offers for this registration starting by `due` that the family declined or let expire."""
    out = []
    for offer_id in demand.offers_by_child.get(r.child_id, ()):
        o = demand.offers[offer_id]
        if (o["age_group"] == r.age_group and o["answer"] in ("declined", "expired") and o["start"] <= due
                and o["position"] > r.positions[0]):
            out.append(offer_id)
    return out


def _breaches(demand: Demand, regs: list[Registration], rule_set_on, in_period, until: date,
              refused_offers: list[dict]) -> list[dict]:
    out = []
    for r in regs:
        child = demand.children[r.child_id]
        rs = rule_set_on(r.registered_on)
        try:
            # The date the waiting-list view and the watch show: the guarantee list's, when earlier.
            due = rules.registration_guarantee_date(child.birth, r.registered_on, r.need_date, rs, r.guarantee_list)
        except rules.RuleError:
            continue
        if not in_period(due) or due >= until:
            continue
        # The one definition the guarantee watch and the allocation run use too: any place meets it.
        places = [(b.start, b.end) for b in demand.bookings_of(r.child_id)]
        late = rules.guarantee_days_late(due, until, r.registered_on, places)
        if late is None:
            continue
        refused = _refused_in_time(demand, r, due)
        if refused:
            # The municipality offered a place by the date and the family said no (or did not
            # answer): the guarantee was met (dagtilbudsloven § 23); counted apart, not a breach.
            refused_offers.append({"child_id": r.child_id, "age_group": r.age_group,
                                   "guarantee_date": due.isoformat(), "offers": refused})
            continue
        later = [b for b in demand.bookings_of(r.child_id) if b.holds_a_day and due < b.start <= until]
        placed = min(later, key=lambda b: b.start) if later else None
        started = placed.start if placed is not None else None
        out.append({
            "child_id": r.child_id, "age_group": r.age_group, "district": demand.district_of(r.child_id),
            "channel": r.channel, "registration_age": _groups(demand, r)["registration_age"],
            "registered_on": r.registered_on.isoformat(), "need_date": r.need_date.isoformat(),
            "guarantee_date": due.isoformat(), "start": started.isoformat() if started else None,
            "institution_id": placed.institution_id if started else None,
            "days_late": late, "still_waiting": started is None, "rule_set": rs.id,
            "events": sorted(set(r.positions) | (set(placed.positions) if started else set())),
        })
    return sorted(out, key=lambda x: (x["guarantee_date"], x["child_id"]))


def _overrides(demand: Demand, start: date | None, until: date) -> list[dict]:
    """Caseworkers' bookings beyond capacity (each its own event, with a reason) decided in the period."""
    out = []
    for o in demand.overrides:
        day = o["recorded"][:10]
        if (start is not None and day < start.isoformat()) or day > until.isoformat():
            continue
        booking = demand.bookings.get(o["booking_id"])
        inst = demand.institutions.get(o["institution_id"])
        out.append({**o, "institution": inst.name if inst else o["institution_id"],
                    "child_id": booking.child_id if booking else None,
                    "events": sorted(set(o["events"]) | (set(booking.positions) if booking else set()))})
    return out


# -- summaries -----------------------------------------------------------------------------------------


def _stats(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {"n": len(values), "mean": round(statistics.fmean(values), 1), "median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, (9 * len(ordered)) // 10)], "max": ordered[-1]}


def _share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def _measures(rows: list[dict], envy: list[dict], breaches: list[dict]) -> dict[str, Any]:
    placed = [r for r in rows if r["placed"]]
    with_sibling = [r for r in placed if r.get("sibling_in_daycare")]
    return {
        "registrations": len(rows),
        "placed": len(placed),
        "still_waiting": len(rows) - len(placed),
        "waiting_days": _stats([r["waiting_days"] for r in placed]),
        "first_choice_share": _share(sum(1 for r in placed if r["first_choice"]), len(placed)),
        "sibling_colocation_share": _share(sum(1 for r in with_sibling if r["with_sibling"]), len(with_sibling)),
        "children_with_sibling_in_daycare": len(with_sibling),
        "justified_envy": len(envy),
        # A finding is the system's when any seat it was passed over for came from the rules or the run.
        "justified_envy_in_system_decisions": sum(1 for e in envy if e["decided_by"] == "system"),
        "justified_envy_in_caseworker_decisions": sum(1 for e in envy if e["decided_by"] == "caseworker"),
        "children_with_justified_envy": len({e["child_id"] for e in envy}),
        "guarantee_breaches": len(breaches),
        "guarantee_days_late": sum(b["days_late"] for b in breaches),
    }


def _summarise(rows, envy, wasted, breaches) -> dict[str, Any]:
    out = _measures(rows, envy, breaches)
    out["wasted_seat_months"] = sum(w["wasted_seat_months"] for w in wasted)
    return out


def _breakdown(dim: str, rows, envy, breaches) -> dict[str, dict]:
    values = sorted({r[dim] for r in rows} | {e[dim] for e in envy} | {b[dim] for b in breaches})
    return {v: _measures([r for r in rows if r[dim] == v], [e for e in envy if e[dim] == v],
                         [b for b in breaches if b[dim] == v]) for v in values}


def _distributions(dim: str, rows) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if r["placed"]:
            out[r[dim]].append(r["waiting_days"])
    return {k: sorted(v) for k, v in sorted(out.items())}


def _heatmap(demand: Demand, occupancy_rows: list[dict], start: date | None, until: date) -> dict[str, Any]:
    """District x month: seat-days used / capacity-days of the general pool, in percent."""
    used: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    lo = start.replace(day=1).isoformat()[:7] if start else "0000-00"
    hi = until.isoformat()[:7]
    for row in occupancy_rows:
        if row["pool"] != "general" or not lo <= row["month"] <= hi:
            continue
        cell = used[(row["district"], row["month"])]
        cell[0] += row["seat_days"]
        cell[1] += row["capacity_days"]
    districts = sorted({d for d, _ in used})
    all_months = sorted({m for _, m in used})
    return {"districts": districts, "months": all_months,
            "percent": [[round(100 * used[(d, m)][0] / used[(d, m)][1], 1) if (d, m) in used and used[(d, m)][1]
                         else None for m in all_months] for d in districts]}


def _by_month(breaches: list[dict]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for b in breaches:
        out[b["guarantee_date"][:7]] += 1
    if out:  # every month between the first and the last, so the chart has no gaps
        first, last = min(out), max(out)
        for m in months(date.fromisoformat(first + "-01"), date.fromisoformat(last + "-01")):
            out.setdefault(m.isoformat()[:7], 0)
    return dict(sorted(out.items()))
