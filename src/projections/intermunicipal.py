"""Money across municipal borders in the billing and budget views (DTL § 41).

Kept apart from projections.billing so the views' fold and derivation change by a few calls:
- the institution's gross cost per place as its municipality calculates it (`GrossCostSet`),
  used wherever a place is costed (`gross_monthly`);
- the difference a Copenhagen child's parents pay for a place in another municipality's
  institution (`difference_ore`, rules.place_elsewhere);
- the budget's netting per month and district (`add_netting`): other municipalities' payments for
  their children here (money in) and Copenhagen's subsidy for its children elsewhere (money out),
  each the settlement's subsidy (gross cost less the parents' payment).
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import rules

if TYPE_CHECKING:
    from projections.billing import _BillingFacts, _Due, _Place, _Result

IN, OUT = 6, 7  # the netting's places in a household's budget part (after the six measures before them)


def fold_gross_cost(facts: _BillingFacts, institution: str, data: dict[str, Any]) -> None:
    """Institution.GrossCostSet: effective-dated per age group; the months from then on are
    costed again for the institution's bookings (and its empty basis seats)."""
    inst = facts.institutions.get(institution)
    if inst is None:
        return
    effective = data["effective_from"]
    effective = effective.isoformat() if isinstance(effective, date) else effective
    entries = [x for x in inst.setdefault("gross_cost", {}).get(data["age_group"], []) if x[0] != effective]
    inst["gross_cost"][data["age_group"]] = sorted(entries + [[effective, data["gross_cost_ore"]]])
    facts._save("institution", institution, inst)
    facts._dirty_i.add(institution)
    for booking_id in facts._by_institution.get(institution, ()):
        facts._changed(facts.bookings[booking_id]["household"], effective[:7])


def gross_monthly(inst: dict[str, Any], birth: date, month_first_day: date, rs: rules.RuleSet) -> int:
    """A full month's gross cost of a place: the institution's own (GrossCostSet, the entry in force
    on the month's 1st for the child's age group), else the rule set's per kind and age band.
    RuleError where neither can be had (no tariff in force)."""
    recorded = inst.get("gross_cost")
    if recorded:
        group = rules.age_group_on(birth, month_first_day, rs)
        day, found = month_first_day.isoformat(), None
        for effective, ore in recorded.get(group, []):
            if effective <= day:
                found = ore
        if found is not None:
            return found
    return rules.gross_cost_per_place_ore(inst["kind"], birth, month_first_day, rs)


def difference_ore(facts: _BillingFacts, place: _Place, month: str, rs: rules.RuleSet) -> int:
    """What the parents of a child of the rule set's municipality pay a month for a place in
    another municipality's institution beyond (or below) the home tariff; 0 for any other place."""
    first = place.spans[0]
    inst = facts.institutions.get(first.institution_id) or {}
    m_first = first.first.replace(day=1)
    home = facts._home_municipality(first.child_id, month)
    if not rules.pays_home_subsidy(home, inst.get("municipality"), m_first, rs):
        return 0
    gross_there = gross_monthly(inst, first.birth, m_first, rs)
    return rules.place_elsewhere(first.kind, first.birth, m_first, gross_there, rs).difference_ore


def _ours(facts: _BillingFacts, booking_id: str, m_first: date) -> str | None:
    """The municipality whose money the booking's rule set is (Copenhagen: 101)."""
    rule = rules.intermunicipal_rules(m_first, facts.rules_for(facts.bookings[booking_id]["rule_set"]))
    return rule.municipality_code if rule else None


def _flow(facts: _BillingFacts, booking_id: str, child_id: str, institution_id: str, month: str,
          m_first: date) -> str | None:
    """OUT for a child of ours in another municipality's institution, IN for another municipality's
    child (its home pays), None for a place with no border in it."""
    inst = facts.institutions.get(institution_id) or {}
    home, there = facts._home_municipality(child_id, month), inst.get("municipality")
    if not home or not there or home == there:
        return None
    return OUT if home == _ours(facts, booking_id, m_first) else IN


def add_netting(facts: _BillingFacts, res: _Result, due: dict[str, _Due], horizon: str) -> None:
    """Add the intermunicipal money of the household's months to its budget parts: per month and
    institution district, the settlement's subsidy (gross cost less the parents' payment by
    current knowledge) — money in from other municipalities, money out to them."""
    for month, dm in due.items():
        if month > horizon:
            continue
        m_first = date.fromisoformat(f"{month}-01")
        for s in dm.spans:
            flow = _flow(facts, s.booking_id, s.child_id, s.institution_id, month, m_first)
            if flow is not None:
                _part(facts, res, month, s.institution_id)[flow] += s.gross_ore
        # A place's lines count with its first booking's institution (as in the settlement).
        places = {}
        for place_id, place in dm.place_of.items():
            first = place.spans[0]
            flow = _flow(facts, first.booking_id, first.child_id, first.institution_id, month, m_first)
            if flow is not None:
                places[place_id] = (flow, _part(facts, res, month, first.institution_id))
        for line in dm.lines:
            found = places.get(line["booking_id"] or "")
            if found is not None and line["child_id"] is not None:
                found[1][found[0]] -= line["amount_ore"]


def _part(facts: _BillingFacts, res: _Result, month: str, institution_id: str) -> list[int]:
    inst = facts.institutions.get(institution_id, {})
    part = res.budget.setdefault((month, inst.get("district") or ""), [0] * 8)
    part.extend([0] * (8 - len(part)))
    return part
