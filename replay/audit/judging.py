"""Judging a ledger's folded facts: the fairness measures (replay.audit.fairness defines them) over
the registrations of a period, each registration's outcome and groups, the findings and summaries."""

from __future__ import annotations

from datetime import date
from typing import Any

from replay.audit.envy import justified_envy
from replay.audit.facts import Booking, Demand, Registration
from replay.audit.guarantee import breaches as guarantee_breaches
from replay.audit.scenarios import AuditError
from replay.audit.standing import Scope, policy_on, registration_groups, sibling_places
from replay.audit.summaries import breakdown, by_month, distributions, heatmap, summarise
from replay.audit.wasted import wasted_seats

DIMENSIONS = ("district", "channel", "registration_age", "policy", "policy_and_registration_age")


def judge(demand: Demand, occupancy_rows: list[dict], *, start: date | None, end: date | None,
          policy: str | None) -> dict:
    """The measures over folded facts (also used on a counterfactual ledger's facts)."""
    if demand.last_recorded is None:
        raise AuditError("the ledger is empty: nothing to audit")
    today = demand.last_recorded.date()
    until = min(end, today) if end is not None else today
    scope = Scope(demand, start, until, policy)
    regs = [r for r in demand.registrations.values()
            if r.child_id in demand.children and not demand.children[r.child_id].erased]
    group_of = _groups_of(demand, regs)
    envy = justified_envy(scope, regs)
    wasted = wasted_seats(scope, regs, occupancy_rows)
    refused_offers: list[dict] = []
    breaches = guarantee_breaches(scope, regs, refused_offers)
    for finding in envy + breaches:
        groups = group_of[(finding["child_id"], finding["age_group"])]
        finding["policy"] = groups["policy"]
        finding["policy_and_registration_age"] = groups["policy_and_registration_age"]
    rows = _registration_rows(scope, regs, group_of)
    overrides = _overrides(demand, start, until)
    summary = summarise(rows, envy, wasted, breaches)
    summary["capacity_overrides"] = len(overrides)
    summary["guarantee_met_by_refused_offer"] = len(refused_offers)
    return {
        "audit": "fairness",
        "period": {"from": start.isoformat() if start else None, "to": until.isoformat()},
        "as_of": demand.last_recorded.isoformat(),
        "policy": policy or "the rule set in force on each day",
        "summary": summary,
        "breakdowns": {dim: breakdown(dim, rows, envy, breaches) for dim in DIMENSIONS},
        "waiting_days": {dim: distributions(dim, rows) for dim in DIMENSIONS},
        "occupancy_heatmap": heatmap(demand, occupancy_rows, start, until),
        "breaches_by_month": by_month(breaches),
        "findings": {"justified_envy": envy, "wasted_seats": wasted, "guarantee_breaches": breaches,
                     "capacity_overrides": overrides, "guarantee_met_by_refused_offer": refused_offers},
        "registrations": rows,
    }


def _groups_of(demand: Demand, regs: list[Registration]) -> dict[tuple[str, str], dict[str, str]]:
    """Each registration's groups, with the policy the family met: the one in force on its need date."""
    out = {}
    for r in regs:
        groups = registration_groups(demand, r)
        groups["policy"] = policy_on(demand, r.need_date)
        groups["policy_and_registration_age"] = f"{groups['policy']}, {groups['registration_age']}"
        out[(r.child_id, r.age_group)] = groups
    return out


def _registration_rows(scope: Scope, regs: list[Registration],
                       group_of: dict[tuple[str, str], dict[str, str]]) -> list[dict]:
    """Per registration needing a place in the period: waiting days, first choice, siblings."""
    demand, until = scope.demand, scope.until
    rows = []
    for r in regs:
        if not scope.in_period(r.need_date):
            continue
        placed = outcome(demand, r)
        row: dict[str, Any] = {"child_id": r.child_id, "age_group": r.age_group, **group_of[(r.child_id, r.age_group)],
                               "need_date": r.need_date.isoformat(), "registered_on": r.registered_on.isoformat(),
                               "wishes": r.wishes, "events": sorted(set(r.positions))}
        if placed is not None and placed.start <= until:
            row.update(placed=True, start=placed.start.isoformat(), institution_id=placed.institution_id,
                       booking_id=placed.booking_id, waiting_days=max(0, (placed.start - r.need_date).days),
                       first_choice=bool(r.wishes) and placed.institution_id == r.wishes[0],
                       events=sorted(set(r.positions) | set(placed.positions)))
            siblings_there = sibling_places(demand, r.child_id, placed.start)
            row["sibling_in_daycare"] = bool(siblings_there)
            row["with_sibling"] = placed.institution_id in siblings_there if siblings_there else None
        else:
            row.update(placed=False, waiting_days_so_far=max(0, (until - r.need_date).days))
        rows.append(row)
    return rows


def outcome(demand: Demand, r: Registration) -> Booking | None:
    """The registration's first place: the child's first booking of that age group holding a day;
    for a nursery registration never met, the first kindergarten place (the child outgrew the
    nursery while it waited, and that place ended the wait)."""
    for group in (r.age_group, "kindergarten") if r.age_group == "nursery" else (r.age_group,):
        for b in demand.bookings_of(r.child_id):
            if b.age_group == group and b.holds_a_day:
                return b
    return None


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
