"""One household-month of charges: fees, lunch, and the subsidies in the order of the law."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date

from .dates import days_in_month, first_of_month
from .errors import RuleError
from .intermunicipal import intermunicipal_rules
from .model import RuleSet, SiblingRules, SubsidyRules
from .money import fee_after_share_ore, prorate_ore, sibling_discounted
from .tariffs import monthly_tariff_ore
from .types import SUBSIDY_ORDER


@dataclass(frozen=True)
class PlaceMonth:
    """The days first..last (inclusive) of one month that a child holds a place."""

    place_id: str
    kind: str
    birth: date
    first: date
    last: date
    lunch: bool
    # A place in another municipality's institution: the full month's parent payment there less
    # the home tariff (intermunicipal.place_elsewhere); 0 for a place at home.
    difference_ore: int = 0


@dataclass(frozen=True)
class ChargeLine:
    """A statement line: kind is fee | lunch | intermunicipal | friplads | sibling | adjustment |
    excess; discounts negative."""

    place_id: str | None
    kind: str
    amount_ore: int
    detail: str


@dataclass(frozen=True)
class Adjustment:
    """A payment adjustment in force this month: an amount (øre) or a pay share (percent of what
    is still payable that the household keeps paying). A plain tuple (kind, amount_ore,
    pay_share_percent) means the same for the whole household."""

    kind: str  # behandlingsmaessig_friplads | socialpaedagogisk_friplads | sibling | manual_correction | ...
    amount_ore: int | None = None
    pay_share_percent: int | None = None
    place_id: str | None = None
    detail: str = ""


# Adjustments follow the subsidies of bek. nr. 2058 § 2 in order; "sibling" is a manual
# søskendetilskud; anything else (manual corrections) comes last, in the order given.
_ADJUSTMENT_RANK = {kind: i for i, kind in enumerate(SUBSIDY_ORDER)} | {"sibling": 1}


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _as_adjustment(adj: Adjustment | tuple) -> Adjustment:
    if isinstance(adj, Adjustment):
        result = adj
    else:
        try:
            kind, amount, share = adj
        except (TypeError, ValueError):
            raise RuleError(f"an adjustment is (kind, amount_ore, pay_share_percent), not {adj!r}") from None
        result = Adjustment(kind=kind, amount_ore=amount, pay_share_percent=share)
    if (result.amount_ore is None) == (result.pay_share_percent is None):
        raise RuleError(f"adjustment {result.kind!r}: give exactly one of an amount and a pay share")
    if result.pay_share_percent is not None and not 0 <= result.pay_share_percent <= 100:
        raise RuleError(f"adjustment {result.kind!r}: pay share {result.pay_share_percent} % is outside 0..100")
    if result.amount_ore is not None and not _is_int(result.amount_ore):
        raise RuleError(f"adjustment {result.kind!r}: the amount is integer øre")
    return result


def _check_place(p: PlaceMonth, month: date) -> None:
    if first_of_month(p.first) != month or first_of_month(p.last) != month or p.last < p.first:
        raise RuleError(f"place {p.place_id}: {p.first}..{p.last} is not a span of days in {month:%Y-%m}")


def _fee_lines(p: PlaceMonth, month: date, rs: RuleSet) -> list[ChargeLine]:
    """The fee (without lunch) and the lunch part, each prorated by calendar days.

    Lunch = prorated with-lunch total minus the prorated fee, so the two lines add up to the
    prorated with-lunch price exactly.
    """
    fee = prorate_ore(monthly_tariff_ore(p.kind, p.birth, month, False, rs), p.first, p.last)
    total = prorate_ore(monthly_tariff_ore(p.kind, p.birth, month, p.lunch, rs), p.first, p.last)
    covered = (p.last - p.first).days + 1
    span = f"{p.first.isoformat()}..{p.last.isoformat()} ({covered}/{days_in_month(month)} days)"
    included = ", lunch included" if p.kind == "dagpleje" else ""
    lines = [ChargeLine(p.place_id, "fee", fee, f"{p.kind} place {span}{included}")]
    if total != fee:
        lines.append(ChargeLine(p.place_id, "lunch", total - fee, f"lunch scheme {span}"))
    return lines


def _difference_lines(p: PlaceMonth, month: date, rs: RuleSet) -> tuple[list[ChargeLine], list[ChargeLine]]:
    """A place in another municipality's institution (DTL § 41): (lines subsidised like the fee,
    the excess line no subsidy covers). A cheaper place lowers the fee; a dearer one adds an
    excess after every subsidy — unless the data says the excess is subsidised."""
    if not p.difference_ore:
        return [], []
    if not _is_int(p.difference_ore):
        raise RuleError(f"place {p.place_id}: the intermunicipal difference is integer øre")
    rules = intermunicipal_rules(month, rs)
    if rules is None:
        raise RuleError(f"{month:%Y-%m}: no intermunicipal rule in {rs.id} for a place in another municipality")
    amount = prorate_ore(p.difference_ore, p.first, p.last)
    if p.difference_ore < 0 or rules.excess_subsidised:
        return [ChargeLine(p.place_id, "intermunicipal", amount,
                           "the institution's municipality: parents pay its gross cost less the home "
                           f"subsidy, {p.difference_ore:+d} øre a month against the home tariff")], []
    return [], [ChargeLine(p.place_id, "excess", amount,
                           "merbetaling: the institution's gross cost exceeds what the home subsidy and "
                           f"tariff cover by {p.difference_ore} øre a month; no friplads or sibling subsidy")]


def household_month_charges(
    places: Sequence[PlaceMonth],
    pay_share_percent: int,
    month_first_day: date,
    rs: RuleSet,
    adjustments: Iterable[Adjustment | tuple[str, int | None, int | None]] = (),
) -> list[ChargeLine]:
    """A household's statement lines for one month.

    1. Per place (in place_id order): a fee line (tariff without lunch) and a lunch line, both
       prorated by calendar days.
    2. Økonomisk friplads per place: -(payable - fee_after_share(payable, pay share)). The
       payable amount includes the lunch payment: bek. nr. 2058 gives income-based friplads and
       sibling subsidy for the healthy lunch meal too (chapters 5 and 6); the data says so
       (subsidies.lunch_subsidised) and can turn it off.
    3. Søskendetilskud: every place but the most expensive after friplads pays 50 % of its
       amount after friplads (rounded half up); the line is the difference.
    4. Adjustments, ranked by the subsidy order of bek. nr. 2058 § 2 (treatment-based, then
       social-pedagogical friplads), then other kinds (manual corrections) as given. An amount
       is taken as it is; a pay share keeps that percent of what is payable so far (of the
       place, if the adjustment names one, else of the household).
    5. A place in another municipality's institution (`difference_ore`, DTL § 41): a cheaper
       place's reduction is an "intermunicipal" line before the subsidies (they apply to what is
       left); a dearer place's excess is an "excess" line after all of them (none covers it).
    6. The month's total is never negative: a final "adjustment" line lifts it to zero
       ("floor"); refunds of earlier months are correction lines of the billing projection.
    """
    if not _is_int(pay_share_percent) or not 0 <= pay_share_percent <= 100:
        raise RuleError(f"pay share {pay_share_percent!r} is not a percentage 0..100")
    month = first_of_month(month_first_day)
    subsidies: SubsidyRules = rs.in_force("subsidies", month)
    sibling: SiblingRules = rs.in_force("sibling", month)
    ordered = sorted(places, key=lambda p: p.place_id)
    if len({p.place_id for p in ordered}) != len(ordered):
        raise RuleError("a place appears twice in one household-month")
    lines, payable, excess = _place_lines(ordered, month, rs, subsidies)
    after_friplads = [fee_after_share_ore(amount, pay_share_percent) for amount in payable]
    lines += _step_lines(ordered, payable, after_friplads, "friplads",
                         f"økonomisk friplads: the household pays {pay_share_percent} %")
    after_sibling = sibling_discounted(after_friplads, sibling.other_places_pay_percent)
    lines += _step_lines(ordered, after_friplads, after_sibling, "sibling",
                         f"søskendetilskud: pays {sibling.other_places_pay_percent} % "
                         "(not the household's most expensive place)")
    lines += _adjustment_lines(lines, adjustments)
    lines += excess  # after every subsidy: none covers the excess (DTL § 41)
    total = sum(l.amount_ore for l in lines)
    if total < 0:
        lines.append(ChargeLine(None, "adjustment", -total, "floor: a month's total is never below zero"))
    return lines


def _place_lines(ordered: Sequence[PlaceMonth], month: date, rs: RuleSet,
                 subsidies: SubsidyRules) -> tuple[list[ChargeLine], list[int], list[ChargeLine]]:
    """Steps 1 and 5: each place's fee and lunch lines (with a cheaper place's intermunicipal line),
    what of them the subsidies apply to, and the excess lines no subsidy covers."""
    lines: list[ChargeLine] = []
    payable: list[int] = []
    excess: list[ChargeLine] = []
    for p in ordered:
        _check_place(p, month)
        subsidised, unsubsidised = _difference_lines(p, month, rs)
        fee_lines = _fee_lines(p, month, rs) + subsidised
        lines += fee_lines
        excess += unsubsidised
        payable.append(sum(l.amount_ore for l in fee_lines if subsidies.lunch_subsidised or l.kind != "lunch"))
    return lines, payable, excess


def _step_lines(ordered: Sequence[PlaceMonth], before: list[int], after: list[int], kind: str,
                detail: str) -> list[ChargeLine]:
    """Steps 2 and 3: a line per place whose amount a subsidy changed, the change its amount."""
    return [ChargeLine(p.place_id, kind, a - b, detail) for p, b, a in zip(ordered, before, after) if a != b]


def _adjustment_lines(lines: list[ChargeLine],
                      adjustments: Iterable[Adjustment | tuple[str, int | None, int | None]]) -> list[ChargeLine]:
    """Step 4: the adjustments in the subsidy order, each a share of what is payable after the lines
    before it (of its place, when it names one) or an amount."""
    out: list[ChargeLine] = []
    last = len(SUBSIDY_ORDER)
    for adj in sorted((_as_adjustment(a) for a in adjustments), key=lambda a: _ADJUSTMENT_RANK.get(a.kind, last)):
        if adj.amount_ore is not None:
            amount, how = adj.amount_ore, f"{adj.amount_ore} øre"
        else:
            base = max(0, sum(l.amount_ore for l in lines + out if adj.place_id is None or l.place_id == adj.place_id))
            amount, how = fee_after_share_ore(base, adj.pay_share_percent) - base, f"pays {adj.pay_share_percent} %"
        if amount:
            out.append(ChargeLine(adj.place_id, "adjustment", amount, f"{adj.kind}: {adj.detail or how}"))
    return out
