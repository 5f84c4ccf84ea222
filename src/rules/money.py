"""Money arithmetic: exact integer øre, one rounding rule, proration by calendar days.

1 kr = 100 øre. No floats anywhere: every division goes through round_half_up.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from .dates import days_in_month
from .errors import RuleError

__all__ = [
    "days_in_month",
    "fee_after_share_ore",
    "prorate_ore",
    "prorate_split_ore",
    "round_half_up",
    "sibling_discounted",
]


def round_half_up(numerator: int, denominator: int) -> int:
    """numerator / denominator rounded to a whole number, exactly, halves away from zero.

    For non-negative numerators this is the usual "half up" (5/10 -> 1, 4/10 -> 0). For
    negative numerators the halves go away from zero (-5/10 -> -1), so rounding a discount
    gives the negative of rounding its size: round_half_up(-n, d) == -round_half_up(n, d).
    A negative denominator is folded into the numerator's sign; zero is an error.
    """
    if not isinstance(numerator, int) or not isinstance(denominator, int):
        raise TypeError("round_half_up takes integers (øre), never floats")
    if denominator == 0:
        raise ValueError("denominator must not be zero")
    if denominator < 0:
        numerator, denominator = -numerator, -denominator
    size = (2 * abs(numerator) + denominator) // (2 * denominator)
    return size if numerator >= 0 else -size


def _days_within_one_month(first: date, last: date) -> int:
    if last < first or (first.year, first.month) != (last.year, last.month):
        raise RuleError(f"{first.isoformat()}..{last.isoformat()} is not a span of days within one month")
    return (last - first).days + 1


def prorate_ore(amount_ore: int, first: date, last: date) -> int:
    """A monthly amount for the days first..last (inclusive) of one month, by calendar days.

    amount * days covered / days in the month, rounded half up; a whole month is exact.
    """
    covered = _days_within_one_month(first, last)
    days = days_in_month(first)
    if covered == days and isinstance(amount_ore, int):
        return amount_ore  # a whole month: exact, and most months are whole
    return round_half_up(amount_ore * covered, days)


def prorate_split_ore(amount_ore: int, spans: Sequence[tuple[date, date]]) -> list[int]:
    """Prorate one monthly amount over disjoint spans of one month so the parts add up exactly.

    Largest remainder: every part is floor(amount * days / month days); the øre left over go,
    one each, to the parts with the largest remainders (earlier spans first on a tie). When the
    spans cover the whole month the parts sum to `amount_ore` exactly; each part differs from
    prorate_ore of its span by at most 1 øre. Non-negative amounts only.
    """
    if amount_ore < 0:
        raise RuleError("prorate_split_ore splits a non-negative amount")
    if not spans:
        return []
    n = days_in_month(spans[0][0])
    days = [_days_within_one_month(a, z) for a, z in spans]
    if any((a.year, a.month) != (spans[0][0].year, spans[0][0].month) for a, _ in spans):
        raise RuleError("all spans must lie in the same month")
    if sum(days) > n:
        raise RuleError("the spans cover more days than the month has")
    exact = [divmod(amount_ore * d, n) for d in days]
    parts = [q for q, _ in exact]
    target = round_half_up(amount_ore * sum(days), n)
    for i in sorted(range(len(spans)), key=lambda i: (-exact[i][1], i))[: target - sum(parts)]:
        parts[i] += 1
    return parts


def fee_after_share_ore(tariff_ore: int, pay_share_percent: int) -> int:
    """What the parents pay of an amount at a pay share: tariff * pct / 100, half up."""
    if not 0 <= pay_share_percent <= 100:
        raise RuleError(f"pay share {pay_share_percent} % is outside 0..100")
    return round_half_up(tariff_ore * pay_share_percent, 100)


def sibling_discounted(fees: Sequence[int], other_places_pay_percent: int = 50) -> list[int]:
    """Søskendetilskud (DTL § 85): the most expensive place in full, every other at 50 %.

    Same order as given; the first of equal maxima pays in full. The parents' half is rounded
    half up (as fee_after_share_ore does), so the discount is the exact remainder.
    One place (or none): unchanged.
    """
    if len(fees) <= 1:
        return list(fees)
    full = max(range(len(fees)), key=lambda i: (fees[i], -i))
    return [fee if i == full else fee_after_share_ore(fee, other_places_pay_percent) for i, fee in enumerate(fees)]
