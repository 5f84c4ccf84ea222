"""Justified envy (Kennes, Monte & Tumennasan 2014): a child passed over at a wished institution
by a child of lower priority under the rules (see replay.audit.fairness for the definition)."""

from __future__ import annotations

import itertools
from dataclasses import replace
from datetime import date

import rules

from replay.audit.facts import Booking, Demand, Registration
from replay.audit.standing import (Scope, Wishers, entry, holds_as_good, left_position, offered_as_good,
                                   placed_from_list, priority, registration_groups, run_of)

ENVY_SOURCES = ("booking", "offer")  # transfers continue a place; they give no seat away


def decided_by(b: Booking) -> str:
    """Who gave the seat: a caseworker's own booking is a person's decision (with its reason);
    an offer from the allocation run, or a booking the rules accepted (self-service), the system's."""
    return "caseworker" if b.source == "booking" and b.channel == "caseworker" else "system"


def seats_given(demand: Demand, in_period) -> list[tuple[Booking, Registration, dict | None, int]]:
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


def justified_envy(scope: Scope, regs: list[Registration]) -> list[dict]:
    demand = scope.demand
    wishers = Wishers(regs, left_position, lambda r: scope.last_of_age(demand.children[r.child_id].birth, r.age_group),
                      lambda r: r.position)
    given = seats_given(demand, scope.in_period)
    # a seat given by an offer was decided earlier than it was booked: the floor is the earliest to
    # come; and a child too old for the group on the earliest start to come can envy no later seat
    earliest_to_come = _earliest_to_come([g[3] for g in given])
    earliest_start = _earliest_to_come([g[0].start for g in given])
    found: dict[tuple[str, str, str], dict] = {}
    for (b, winner, offer, decided), floor, first_start in zip(given, earliest_to_come, earliest_start):
        day = (offer["recorded"] if offer else b.recorded).date()
        rs = scope.rule_set_on(day)
        # Priority as the ledger knew it when the seat was given (a sibling booked later gives none then).
        # A sibling counts when it holds a place there on the day of the decision, as on the
        # waiting-list view the run reads (its list date).
        winner_key = priority(entry(demand, winner, b.institution_id, day, rs, decided), rs, day)
        for r in wishers.not_left_before(b.institution_id, b.age_group, decided + 1, floor, first_start):
            if r.child_id == b.child_id or r.position > decided:
                continue
            wishes, need_date = r.as_of(position=decided)  # as the ledger knew them then
            if b.institution_id not in wishes or need_date > b.start:
                continue
            child = demand.children[r.child_id]
            if child.erased or not scope.eligible(child.birth, r.age_group, b.start, rs):
                continue
            if (r.child_id, b.institution_id) in demand.declined:
                continue
            if (placed_from_list(r, position=decided)
                    or holds_as_good(demand, r, wishes, b.institution_id, b.start, decided)
                    or offered_as_good(demand, r, wishes, b.institution_id, decided, run_of(offer))):
                continue
            mine = replace(entry(demand, r, b.institution_id, day, rs, decided), need_date=need_date)
            if priority(mine, rs, day)[:-2] >= winner_key[:-2]:
                continue  # not higher priority (a tie the seeded lottery broke is no rule's priority)
            _found(found, demand, r, b, winner, rs, day, wishes, need_date, mine)
    return [found[k] for k in sorted(found, key=lambda k: (found[k]["first_passed_over"], k))]


def _earliest_to_come(values: list) -> list:
    """For each place in the list, the least value from there to the end."""
    return list(itertools.accumulate(reversed(values), min))[::-1]


def _found(found: dict[tuple[str, str, str], dict], demand: Demand, r: Registration, b: Booking,
           winner: Registration, rs: rules.RuleSet, day: date, wishes: list[str], need_date: date,
           mine: rules.WaitingEntry) -> None:
    """Note that `r` was passed over by booking `b`: one finding per (child, institution, age group)."""
    passed_over = {"booking_id": b.booking_id, "child_id": b.child_id, "start": b.start.isoformat(),
                   "recorded": b.recorded.isoformat(), "channel": b.channel, "decided_by": decided_by(b),
                   "reason": b.reason, "priority_basis": _basis(winner, demand, b, rs, day),
                   "events": sorted(set(b.positions))}
    key = (r.child_id, b.institution_id, b.age_group)
    if key in found:
        found[key]["passed_over_by"].append(passed_over)
        if passed_over["decided_by"] == "system":
            found[key]["decided_by"] = "system"
        return
    inst = demand.institutions.get(b.institution_id)
    found[key] = {
        "child_id": r.child_id, "institution_id": b.institution_id,
        "institution": inst.name if inst else b.institution_id, "age_group": b.age_group,
        "district": demand.district_of(r.child_id), "channel": r.channel,
        "registration_age": registration_groups(demand, r)["registration_age"],
        "need_date": need_date.isoformat(), "registered_on": r.registered_on.isoformat(),
        "wish_no": wishes.index(b.institution_id) + 1, "priority_basis": rules.priority_basis(mine, rs, day),
        "rule_set": rs.id, "first_passed_over": b.start.isoformat(),
        "passed_over_by": [passed_over], "decided_by": passed_over["decided_by"],
        "events": sorted(set(r.positions) | set(b.positions)),
    }


def _basis(r: Registration, demand: Demand, b: Booking, rs: rules.RuleSet, day: date) -> str:
    try:
        return rules.priority_basis(entry(demand, r, b.institution_id, day, rs), rs, day)
    except rules.RuleError:
        return ""
