"""Wasted seat-months: seats of an institution's general pool free the whole month while children
wishing it waited (see replay.audit.fairness for the definition)."""

from __future__ import annotations

from collections import defaultdict
from datetime import date

import rules

from replay.audit.facts import Registration
from replay.audit.standing import Scope, Wishers, holds_as_good, left_day, placed_from_list


def wasted_seats(scope: Scope, regs: list[Registration], occupancy_rows: list[dict]) -> list[dict]:
    demand, start, until = scope.demand, scope.start, scope.until

    wishers = Wishers(regs, left_day, lambda r: scope.last_of_age(demand.children[r.child_id].birth, r.age_group),
                      lambda r: r.recorded.date())
    capacity_events = _capacity_events(scope)
    out = []
    for row in sorted(occupancy_rows, key=lambda x: (x["month"], x["institution_id"], x["age_group"])):
        if row["pool"] != "general" or row["free"] <= 0:
            continue
        first = date(int(row["month"][:4]), int(row["month"][5:7]), 1)
        last = rules.last_of_month(first)
        if last > until or (start is not None and first < start.replace(day=1)):
            continue  # only whole months the ledger has lived through
        rs = scope.rule_set_on(first)
        waiting = []
        for r in wishers.not_left_before(row["institution_id"], row["age_group"], first, first, first):
            child = demand.children[r.child_id]
            if child.erased or r.recorded.date() >= first:
                continue
            wishes, need_date = r.as_of(day=first)  # as the ledger knew them when the month began
            if (row["institution_id"] not in wishes or need_date > first
                    or not scope.eligible(child.birth, r.age_group, first, rs)
                    or not scope.eligible(child.birth, r.age_group, last, rs)):
                continue
            if placed_from_list(r, day=first) or any(
                    holds_as_good(demand, r, wishes, row["institution_id"], day, 0) for day in (first, last)):
                continue
            if (r.child_id, row["institution_id"]) in demand.declined:
                continue
            waiting.append(r)
        if waiting:
            events = [p for eff, p in capacity_events.get((row["institution_id"], row["age_group"]), ()) if eff <= last]
            out.append(_finding(scope, row, events, waiting))
    return out


def _capacity_events(scope: Scope) -> dict[tuple[str, str], list[tuple[date, int]]]:
    """(institution, age group) -> (effective from, position) of the general pool's capacity changes."""
    out: dict[tuple[str, str], list[tuple[date, int]]] = defaultdict(list)
    for (institution, group, pool), entries in scope.demand.capacity.items():
        if pool == "general":
            out[(institution, group)] += [(effective, position) for effective, _, position in entries]
    return out


def _finding(scope: Scope, row: dict, capacity_events: list[int], waiting: list[Registration]) -> dict:
    inst = scope.demand.institutions.get(row["institution_id"])
    return {
        "institution_id": row["institution_id"], "institution": inst.name if inst else row["institution_id"],
        "district": row["district"], "age_group": row["age_group"], "month": row["month"],
        "capacity": row["capacity"], "booked": row["booked"], "free": row["free"],
        "waiting_children": [r.child_id for r in sorted(waiting, key=lambda r: r.position)],
        "wasted_seat_months": min(row["free"], len(waiting)),
        "events": sorted(set(capacity_events) | {p for r in waiting for p in r.positions}),
    }
