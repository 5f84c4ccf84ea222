"""Guarantee breaches: no place on the guarantee date (rules.guarantee_date), and the first place
started later or has not started by the audit date (see replay.audit.fairness)."""

from __future__ import annotations

from datetime import date

import rules

from replay.audit.facts import Demand, Registration
from replay.audit.standing import Scope, registration_groups


def refused_in_time(demand: Demand, r: Registration, due: date) -> list[str]:
    """Offers for this registration starting by `due` that the family declined or let expire."""
    out = []
    for offer_id in demand.offers_by_child.get(r.child_id, ()):
        o = demand.offers[offer_id]
        if (o["age_group"] == r.age_group and o["answer"] in ("declined", "expired") and o["start"] <= due
                and o["position"] > r.positions[0]):
            out.append(offer_id)
    return out


def breaches(scope: Scope, regs: list[Registration], refused_offers: list[dict]) -> list[dict]:
    """The breaches, in guarantee-date order; guarantees met by an offer the family refused go to
    `refused_offers` instead."""
    demand, until = scope.demand, scope.until
    out = []
    for r in regs:
        child = demand.children[r.child_id]
        rs = scope.rule_set_on(r.registered_on)
        try:
            # The date the waiting-list view and the watch show: the guarantee list's, when earlier.
            due = rules.registration_guarantee_date(child.birth, r.registered_on, r.need_date, rs, r.guarantee_list)
        except rules.RuleError:
            continue
        if not scope.in_period(due) or due >= until:
            continue
        # The one definition the guarantee watch and the allocation run use too: any place meets it.
        places = [(b.start, b.end) for b in demand.bookings_of(r.child_id)]
        late = rules.guarantee_days_late(due, until, r.registered_on, places)
        if late is None:
            continue
        refused = refused_in_time(demand, r, due)
        if refused:
            # The municipality offered a place by the date and the family said no (or did not
            # answer): the guarantee was met (dagtilbudsloven § 23); counted apart, not a breach.
            refused_offers.append({"child_id": r.child_id, "age_group": r.age_group,
                                   "guarantee_date": due.isoformat(), "offers": refused})
            continue
        out.append(_breach(demand, r, rs, due, until, late))
    return sorted(out, key=lambda x: (x["guarantee_date"], x["child_id"]))


def _breach(demand: Demand, r: Registration, rs: rules.RuleSet, due: date, until: date, late: int) -> dict:
    later = [b for b in demand.bookings_of(r.child_id) if b.holds_a_day and due < b.start <= until]
    placed = min(later, key=lambda b: b.start) if later else None
    started = placed.start if placed is not None else None
    return {
        "child_id": r.child_id, "age_group": r.age_group, "district": demand.district_of(r.child_id),
        "channel": r.channel, "registration_age": registration_groups(demand, r)["registration_age"],
        "registered_on": r.registered_on.isoformat(), "need_date": r.need_date.isoformat(),
        "guarantee_date": due.isoformat(), "start": started.isoformat() if started else None,
        "institution_id": placed.institution_id if started else None,
        "days_late": late, "still_waiting": started is None, "rule_set": rs.id,
        "events": sorted(set(r.positions) | (set(placed.positions) if started else set())),
    }
