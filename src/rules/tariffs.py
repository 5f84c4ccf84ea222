"""Monthly parent payments (takster) and the gross cost per place used by budgets."""

from __future__ import annotations

from datetime import date

from .ages import age_groups_for_kind, kindergarten_rate_from
from .dates import first_of_month
from .errors import RuleError
from .memo import Memo
from .model import KindTariff, RuleSet, TariffBand, TariffRules
from .money import round_half_up
from .types import InstitutionKind


# Billing asks three times per place and month; the answer depends on the kind, the month and
# which side of the rate age the child is on, not on the birth date itself.
_TARIFFS = Memo()


def _tariff(kind: str, birth: date, month_first_day: date, rs: RuleSet) -> tuple[TariffRules, KindTariff, TariffBand]:
    age_groups_for_kind(kind)  # RuleError for an unknown kind
    month = first_of_month(month_first_day)
    # The rate band follows the child's age, not the institution: the kindergarten rate from the
    # 1st of the month of the rate age (3 y 1 m since 2025), even in a nursery.
    rate_age = month >= kindergarten_rate_from(birth, rs)
    key = (id(rs), kind, month, rate_age)
    found = _TARIFFS.get(key)
    if found is None:
        rules: TariffRules = rs.in_force("tariffs", month)
        kind_tariff = rules.dagpleje if kind == "dagpleje" else rules.daginstitution
        band = kind_tariff.from_rate_age if rate_age else kind_tariff.under_rate_age
        if band is None:
            raise RuleError(f"{month:%Y-%m}: the {kind} price list of {rules.effective_from.year} in {rs.id} "
                            "gives no rate from the kindergarten rate age")
        found = _TARIFFS.remember(rs, key, (rules, kind_tariff, band))
    return found


def monthly_tariff_ore(
    kind: InstitutionKind | str, birth: date, month_first_day: date, lunch: bool, rs: RuleSet
) -> int:
    """The full-month parent payment for a place, before any subsidy (paid 12 months a year).

    Vuggestue, børnehave and integrated institutions share Copenhagen's daginstitution rates,
    with or without the lunch scheme. Dagpleje has one price that includes lunch (3,987 kr
    under 3 y 1 m, 3,120 kr from then, 2025), so `lunch` does not change it. The tariff in force
    on the 1st of the month applies; any day of the month may be given.
    """
    _, kind_tariff, band = _tariff(kind, birth, month_first_day, rs)
    if kind_tariff.lunch_included or lunch:
        return band.with_lunch_ore
    assert band.without_lunch_ore is not None  # the model guarantees it when lunch is optional
    return band.without_lunch_ore


def lunch_part_ore(kind: InstitutionKind | str, birth: date, month_first_day: date, rs: RuleSet) -> int:
    """The monthly price of the lunch scheme: with lunch minus without (0 where included)."""
    _, kind_tariff, band = _tariff(kind, birth, month_first_day, rs)
    if kind_tariff.lunch_included:
        return 0
    assert band.without_lunch_ore is not None
    return band.with_lunch_ore - band.without_lunch_ore


def gross_cost_per_place_ore(kind: InstitutionKind | str, birth: date, month_first_day: date, rs: RuleSet) -> int:
    """Budgeted gross operating cost of a place-month, for budgets and intermunicipal settlement.

    A parameter per kind and age band (gross_cost_ore in the data); where the data gives none,
    the tariff without lunch * 100 / 25: parents pay at most 25 % of the budgeted gross
    operating cost, so the rate at that cap implies the cost. For dagpleje, whose price
    includes lunch, that price is used.
    """
    rules, _, band = _tariff(kind, birth, month_first_day, rs)
    if band.gross_cost_ore is not None:
        return band.gross_cost_ore
    base = band.without_lunch_ore if band.without_lunch_ore is not None else band.with_lunch_ore
    return round_half_up(base * 100, rules.parent_max_share_percent)
