"""Money: tariffs, proration, økonomisk friplads, sibling discount, a household's month.

All amounts are integer øre (1 kr = 100 øre); no floats. Rounding is defined once:
`round_half_up`, applied per statement line.
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date
from typing import Iterable, Sequence

from rules.ages import kindergarten_rate_from
from rules.model import FripladsScale, RuleError, RuleSet, in_force

SUBSIDY_ORDER = ("okonomisk_friplads", "soeskendetilskud", "behandlingsmaessig_friplads", "socialpaedagogisk_friplads")


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to the nearest integer, halves away from zero.

    Exact integer arithmetic: 5/2 -> 3, -5/2 -> -3, 7/3 -> 2.
    """
    if denominator <= 0:
        raise ValueError("denominator must be positive")
    sign = -1 if numerator < 0 else 1
    q, r = divmod(abs(numerator), denominator)
    return sign * (q + (1 if 2 * r >= denominator else 0))


def days_in_month(day: date) -> int:
    return calendar.monthrange(day.year, day.month)[1]


def prorate_ore(amount_ore: int, first: date, last: date) -> int:
    """A monthly amount for the days first..last (inclusive) of one month, by calendar days."""
    if (first.year, first.month) != (last.year, last.month) or last < first:
        raise RuleError(f"{first}..{last} is not a span of days within one month")
    n = days_in_month(first)
    covered = (last - first).days + 1
    if covered == n:
        return amount_ore
    return round_half_up(amount_ore * covered, n)


def monthly_tariff_ore(kind: str, birth: date, month_first_day: date, lunch: bool, rs: RuleSet) -> int:
    """The full-month parent payment for a place, before any subsidy.

    Dagpleje has one price with meals included. Otherwise the rate depends on age:
    the under-3-y-1-m rate until the 1st of the month of the rate age, then the
    kindergarten rate; with or without the lunch scheme.
    """
    t = in_force(rs.tariffs, month_first_day, "tariff")
    if kind == "dagpleje":
        return t.dagpleje_kr * 100
    if month_first_day >= kindergarten_rate_from(birth, rs):
        return (t.over_rate_age_with_lunch_kr if lunch else t.over_rate_age_kr) * 100
    return (t.under_rate_age_with_lunch_kr if lunch else t.under_rate_age_kr) * 100


def gross_cost_per_place_ore(kind: str, birth: date, month_first_day: date, rs: RuleSet) -> int:
    """Budgeted gross operating cost per place-month: the tariff without lunch / parents' max share."""
    t = in_force(rs.tariffs, month_first_day, "tariff")
    tariff = monthly_tariff_ore(kind, birth, month_first_day, False, rs)
    return round_half_up(tariff * 100, t.parent_share_of_gross_cost_percent)


def friplads_scale_on(on: date, rs: RuleSet) -> FripladsScale:
    return in_force(rs.friplads, on, "friplads scale")


def friplads_pay_share_percent(
    annual_income_ore: int, children_under_18: int, single_parent: bool, on: date, rs: RuleSet
) -> int:
    """The percentage of the fee the household pays (økonomisk friplads).

    With L' and U' the limits raised by 7,000 kr per child under 18 beyond the
    first and, for single parents, by the year's addition: 0 % below L', 100 % at
    or above U', otherwise min(99, 5 + floor((I - L') / step)).
    """
    if annual_income_ore < 0:
        raise RuleError("income cannot be negative")
    scale = friplads_scale_on(on, rs)
    addition = scale.per_child_addition_ore * max(0, children_under_18 - 1)
    if single_parent:
        if scale.single_parent_addition_ore is None:
            raise RuleError(f"the single-parent addition for the {scale.effective_from.year} scale is not known")
        addition += scale.single_parent_addition_ore
    lower, upper = scale.lower_ore + addition, scale.upper_ore + addition
    if annual_income_ore < lower:
        return 0
    if annual_income_ore >= upper:
        return 100
    return min(99, 5 + (annual_income_ore - lower) // scale.step_ore)


def fee_after_share_ore(tariff_ore: int, pay_share_percent: int) -> int:
    return round_half_up(tariff_ore * pay_share_percent, 100)


def sibling_discounted(fees: Sequence[int], rs: RuleSet | None = None, on: date | None = None) -> list[int]:
    """Søskendetilskud: the most expensive place in full, every other at 50 % (same order as given)."""
    pay_percent = 50
    if rs is not None and on is not None:
        pay_percent = in_force(rs.sibling, on, "sibling rules").other_places_pay_percent
    if len(fees) <= 1:
        return list(fees)
    top = max(range(len(fees)), key=lambda i: fees[i])  # the first of equal maxima pays in full
    return [fee if i == top else round_half_up(fee * pay_percent, 100) for i, fee in enumerate(fees)]


@dataclass(frozen=True)
class PlaceMonth:
    """The days of one month a child holds a place."""

    place_id: str
    kind: str
    birth: date
    first: date
    last: date
    lunch: bool


@dataclass(frozen=True)
class ChargeLine:
    place_id: str | None
    kind: str  # fee | lunch | friplads | sibling | adjustment | floor
    amount_ore: int  # discounts negative
    detail: str


@dataclass(frozen=True)
class Adjustment:
    """A payment adjustment in force this month: an amount or a pay share."""

    kind: str  # behandlingsmaessig_friplads | socialpaedagogisk_friplads | manual_correction | sibling
    amount_ore: int | None = None
    pay_share_percent: int | None = None
    place_id: str | None = None
    detail: str = ""


_ADJUSTMENT_ORDER = {"behandlingsmaessig_friplads": 0, "socialpaedagogisk_friplads": 1, "sibling": 2,
                     "manual_correction": 3}


def household_month_charges(
    places: Sequence[PlaceMonth],
    pay_share_percent: int,
    month_first_day: date,
    rs: RuleSet,
    adjustments: Iterable[Adjustment] = (),
) -> list[ChargeLine]:
    """One household's statement lines for one month, in the order of subsidies.

    Per place: the fee (tariff without lunch) and the lunch part, prorated by days.
    The income-based friplads applies to both (the parents' payment for the place);
    then the sibling discount (every place but the most expensive at 50 % of its fee
    after friplads); then treatment-based and social-pedagogical friplads and manual
    corrections as adjustments. A total below zero is lifted to zero by a floor line.
    """
    lines: list[ChargeLine] = []
    after_friplads: list[int] = []
    for p in places:
        full = monthly_tariff_ore(p.kind, p.birth, month_first_day, p.lunch, rs)
        base = monthly_tariff_ore(p.kind, p.birth, month_first_day, False, rs)
        gross = prorate_ore(full, p.first, p.last)
        fee = prorate_ore(base, p.first, p.last)
        days = f"{p.first.isoformat()}..{p.last.isoformat()}"
        lines.append(ChargeLine(p.place_id, "fee", fee, f"place {days}"))
        if gross != fee:
            lines.append(ChargeLine(p.place_id, "lunch", gross - fee, f"lunch {days}"))
        paid = fee_after_share_ore(gross, pay_share_percent)
        if paid != gross:
            lines.append(ChargeLine(p.place_id, "friplads", paid - gross,
                                    f"økonomisk friplads: pays {pay_share_percent} %"))
        after_friplads.append(paid)
    for p, before, after in zip(places, after_friplads, sibling_discounted(after_friplads, rs, month_first_day)):
        if after != before:
            lines.append(ChargeLine(p.place_id, "sibling", after - before, "søskendetilskud: 50 %"))
    for adj in sorted(adjustments, key=lambda a: _ADJUSTMENT_ORDER.get(a.kind, 9)):
        total = sum(line.amount_ore for line in lines)
        if adj.amount_ore is not None:
            amount = adj.amount_ore
        else:
            amount = round_half_up(total * (adj.pay_share_percent or 0), 100) - total
        if amount:
            lines.append(ChargeLine(adj.place_id, "adjustment", amount, adj.detail or adj.kind))
    total = sum(line.amount_ore for line in lines)
    if total < 0:
        lines.append(ChargeLine(None, "floor", -total, "a month is never below zero"))
    return lines
