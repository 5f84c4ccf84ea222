"""Money across municipal borders in the billing and budget views (DTL § 41).

Kept apart so the views' fold and derivation change by a few calls:
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
from typing import TYPE_CHECKING

import rules

from projections.billing.facts import Institution
from projections.billing.months import first_of

if TYPE_CHECKING:
    from projections.billing.due import Due, Place
    from projections.billing.fold import FactsFold
    from projections.billing.household import BudgetShare, Result
    from projections.billing.working import HouseholdFacts


def gross_monthly(inst: Institution, birth: date, month_first_day: date, rs: rules.RuleSet) -> int:
    """A full month's gross cost of a place: the institution's own (GrossCostSet, the entry in force
    on the month's 1st for the child's age group), else the rule set's per kind and age band.
    RuleError where neither can be had (no tariff in force)."""
    if inst.gross_cost:
        group = rules.age_group_on(birth, month_first_day, rs)
        found = None
        for effective, ore in inst.gross_cost.get(group, ()):
            if effective <= month_first_day:
                found = ore
        if found is not None:
            return found
    return rules.gross_cost_per_place_ore(inst.kind, birth, month_first_day, rs)


def difference_ore(facts: FactsFold, hf: HouseholdFacts, place: Place, month: str, rs: rules.RuleSet) -> int:
    """What the parents of a child of the rule set's municipality pay a month for a place in
    another municipality's institution beyond (or below) the home tariff; 0 for any other place."""
    first = place.spans[0]
    inst = facts.institutions[first.institution_id]  # a span is of a known institution
    m_first = first.first.replace(day=1)
    home = facts.home_municipality(hf, first.child_id, month)
    if not rules.pays_home_subsidy(home, inst.municipality, m_first, rs):
        return 0
    gross_there = gross_monthly(inst, first.birth, m_first, rs)
    return rules.place_elsewhere(first.kind, first.birth, m_first, gross_there, rs).difference_ore


def _ours(facts: FactsFold, hf: HouseholdFacts, booking_id: str, m_first: date) -> str | None:
    """The municipality whose money the booking's rule set is (Copenhagen: 101)."""
    rule = rules.intermunicipal_rules(m_first, facts.rules_for(hf.bookings[booking_id].rule_set))
    return rule.municipality_code if rule else None


def _flow(facts: FactsFold, hf: HouseholdFacts, booking_id: str, child_id: str, institution_id: str,
          month: str) -> str | None:
    """"out" for a child of ours in another municipality's institution, "in" for another
    municipality's child (its home pays), None for a place with no border in it."""
    inst = facts.institutions.get(institution_id)
    home, there = facts.home_municipality(hf, child_id, month), inst.municipality if inst else None
    if not home or not there or home == there:
        return None
    return "out" if home == _ours(facts, hf, booking_id, first_of(month)) else "in"


def add_netting(facts: FactsFold, hf: HouseholdFacts, res: Result, due: dict[str, Due], horizon: str) -> None:
    """Add the intermunicipal money of the household's months to its budget parts: per month and
    institution district, the settlement's subsidy (gross cost less the parents' payment by
    current knowledge) — money in from other municipalities, money out to them."""
    for month, dm in due.items():
        if month > horizon:
            continue
        for s in dm.spans:
            flow = _flow(facts, hf, s.booking_id, s.child_id, s.institution_id, month)
            if flow is not None:
                _part(facts, res, month, s.institution_id).net(flow, s.gross_ore)
        # A place's lines count with its first booking's institution (as in the settlement).
        places: dict[str, tuple[str, BudgetShare]] = {}
        for place_id, place in dm.place_of.items():
            first = place.spans[0]
            flow = _flow(facts, hf, first.booking_id, first.child_id, first.institution_id, month)
            if flow is not None:
                places[place_id] = (flow, _part(facts, res, month, first.institution_id))
        for line in dm.lines:
            found = places.get(line.booking_id or "")
            if found is not None and line.child_id is not None:
                found[1].net(found[0], -line.amount_ore)


def _part(facts: FactsFold, res: Result, month: str, institution_id: str) -> BudgetShare:
    inst = facts.institutions.get(institution_id)
    return res.budget_share(month, (inst.district if inst else None) or "")
