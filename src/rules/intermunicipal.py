"""Places across municipal borders (mellemkommunal betaling, DTL § 41; parallel § 61 stk. 2-5).

A child of the rule set's municipality (Copenhagen, 101) in another municipality's dagtilbud:
the home municipality pays the institution's municipality its subsidy — its own subsidy per
place (gross cost less its tariff), at most its subsidy percentage of that institution's gross
cost — and the parents pay the rest of that gross cost. Of what the parents pay, the part up to
the home tariff is subsidised as at home (friplads, sibling subsidy); what exceeds it is not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from .errors import RuleError
from .model import IntermunicipalRules, RuleSet
from .money import round_half_up
from .tariffs import gross_cost_per_place_ore, monthly_tariff_ore


@dataclass(frozen=True)
class PlaceElsewhere:
    """A full month of a place in another municipality's institution, in øre.

    difference_ore = parent_payment_ore - home_payment_ore: above 0 the excess the parents pay
    unsubsidised; below 0 a cheaper place lowers what they pay (before friplads)."""

    gross_there_ore: int
    home_gross_ore: int
    home_payment_ore: int
    home_subsidy_ore: int
    parent_payment_ore: int
    difference_ore: int


def intermunicipal_rules(on: date, rs: RuleSet) -> IntermunicipalRules | None:
    """The rule in force, or None for rule data that carries none (no border rule applied)."""
    if not rs.intermunicipal:
        return None
    try:
        return rs.in_force("intermunicipal", on)
    except RuleError:
        return None


def pays_home_subsidy(home_municipality: str | None, institution_municipality: str | None, on: date,
                      rs: RuleSet) -> bool:
    """Whether a place is one of the rule set's own children in another municipality's institution."""
    rules = intermunicipal_rules(on, rs)
    return (rules is not None and home_municipality == rules.municipality_code
            and institution_municipality is not None and institution_municipality != home_municipality)


def place_elsewhere(kind: str, birth: date, month_first_day: date, gross_there_ore: int, rs: RuleSet) -> PlaceElsewhere:
    """What a full month of a place in another municipality's institution costs whom.

        home subsidy  = min(G_home - P_home, round(G_there * (G_home - P_home) / G_home))
        parents pay   = G_there - home subsidy
        difference    = parents pay - P_home

    G_home and P_home are the home municipality's gross cost per place and tariff for the kind
    and age band (`gross_cost_per_place_ore`, `monthly_tariff_ore` without lunch); G_there the
    institution's gross cost per place as its municipality calculates it.
    """
    if not isinstance(gross_there_ore, int) or isinstance(gross_there_ore, bool) or gross_there_ore < 0:
        raise RuleError(f"a gross cost per place is a whole number of øre >= 0, not {gross_there_ore!r}")
    home_gross = gross_cost_per_place_ore(kind, birth, month_first_day, rs)
    home_payment = monthly_tariff_ore(kind, birth, month_first_day, False, rs)
    own_subsidy = home_gross - home_payment
    # At most the home subsidy percentage of the gross cost there (§ 61 stk. 3's parallel).
    cap = round_half_up(gross_there_ore * own_subsidy, home_gross) if home_gross else 0
    subsidy = min(own_subsidy, cap)
    parents = gross_there_ore - subsidy
    return PlaceElsewhere(gross_there_ore, home_gross, home_payment, subsidy, parents, parents - home_payment)
