"""The forecast's arithmetic: pure functions, no I/O.

Months are counted as integers (`month_index`: year × 12 + month − 1) so that ages and
horizons are differences. The estimators:

- **cohort sizes** (children registered per birth month and district) by the chain-ladder
  method: a birth month's registrations keep arriving for a year or more (families book 2 weeks
  to 5 months after the birth, caseworkers register 20–100 days before the need date), so the
  recent months are incomplete. Development factors f_k = C(k+1)/C(k), summed over the birth
  months seen at both lags, complete them; the newest months, where the factor is large and
  the count small, are completed Bornhuetter–Ferguson style from the district's level (the mean
  of the mature months) — Mack (1993); Bornhuetter & Ferguson (1972).
- **rates** (children in care not yet booked, per child of a cohort): a ratio of sums.
- **the 80 % interval**: the normal quantile times the spread: the variance of the ledger's own
  past forecast errors (`errors`), the birth level's, at least the Poisson variance of the
  arrivals and departures still to come.
- **accuracy**: mean absolute percentage error and interval coverage.
"""

from __future__ import annotations

import calendar
import math
from bisect import bisect_right
from dataclasses import dataclass
from datetime import date
from functools import lru_cache
from typing import Iterable, Mapping, Sequence

Z80 = 1.2815515655446004  # the 90 % normal quantile: 80 % of outcomes between ± Z80 σ


def month_index(day: date) -> int:
    return day.year * 12 + day.month - 1


def month_text(index: int) -> str:
    return f"{index // 12:04d}-{index % 12 + 1:02d}"


def month_of(text: str) -> int:
    """'2026-09' → its index; ValueError for anything else."""
    if len(text) != 7 or text[4] != "-":
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    year, month = int(text[:4]), int(text[5:])
    if not 1 <= month <= 12:
        raise ValueError(f"not a month (YYYY-MM): {text!r}")
    return year * 12 + month - 1


@lru_cache(maxsize=None)  # asked millions of times (every booking's every month), of a few hundred months
def days_in(index: int) -> int:
    return calendar.monthrange(index // 12, index % 12 + 1)[1]


def first_day(index: int) -> date:
    return date(index // 12, index % 12 + 1, 1)


def month_days(first: date, last: date) -> list[tuple[int, int]]:
    """(month index, days held) for each month the span [first, last] touches."""
    out: list[tuple[int, int]] = []
    day = first
    while day <= last:
        index = month_index(day)
        end = date(day.year, day.month, days_in(index))
        upto = min(end, last)
        out.append((index, (upto - day).days + 1))
        day = date.fromordinal(end.toordinal() + 1)
    return out


# -- cohort sizes ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Development:
    """Cumulative development factors: ultimate / registered by lag k (k = 0, 1, …)."""

    to_ultimate: tuple[float, ...]

    def factor(self, lag: int) -> float:
        return self.to_ultimate[lag] if 0 <= lag < len(self.to_ultimate) else 1.0


def development(lags_by_cohort: Mapping[int, Sequence[int]], now: int, max_lag: int = 24) -> Development:
    """Chain-ladder factors from each birth month's registration lags (months after the birth month).

    Only birth months seen at lag k+1 (cohort + k + 1 ≤ now) inform f_k."""
    factors = []
    for k in range(max_lag):
        at_k = at_next = 0
        for cohort, lags in lags_by_cohort.items():
            if cohort + k + 1 > now:
                continue
            ordered = sorted(lags)
            at_k += bisect_right(ordered, k)
            at_next += bisect_right(ordered, k + 1)
        factors.append(at_next / at_k if at_k else 1.0)
    cumulative, running = [], 1.0
    for f in reversed(factors):
        running *= f
        cumulative.append(running)
    return Development(tuple(reversed(cumulative)))


def cohort_sizes(lags_by_cohort: Mapping[int, Sequence[int]], now: int, dev: Development,
                 mature_factor: float = 1.25) -> dict[int, float]:
    """Each birth month's ultimate registrations: mature months (factor ≤ `mature_factor`) by
    chain ladder, younger ones Bornhuetter–Ferguson from the mean of the mature ones."""
    seen = {c: sum(1 for k in lags if c + k <= now) for c, lags in sorted(lags_by_cohort.items()) if c <= now}
    mature = [seen[c] * dev.factor(now - c) for c in seen if dev.factor(now - c) <= mature_factor]
    level = sum(mature[-12:]) / len(mature[-12:]) if mature else None
    out = {}
    for cohort, count in seen.items():
        f = dev.factor(now - cohort)
        if f <= mature_factor or level is None:
            out[cohort] = count * f
        else:
            out[cohort] = count + (1.0 - 1.0 / f) * level
    return out


def level_variance(part: float, level: float, months: int = 12) -> float:
    """The variance of `part` children who come from birth months sized by the level: the level is a
    mean of `months` birth months, each a Poisson count, so its relative variance is 1/(months·level)."""
    return part * part / (months * level) if level > 0 else 0.0


def level(sizes: Mapping[int, float], now: int, months: int = 12) -> float:
    """The mean cohort of the last `months` birth months up to `now` (0 without any)."""
    recent = [v for c, v in sizes.items() if now - months < c <= now]
    return sum(recent) / len(recent) if recent else 0.0


# -- rates, intervals, accuracy ---------------------------------------------------------------


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else 0.0


@dataclass(frozen=True, slots=True)
class Estimate:
    """Children in care: known bookings plus the expected change still to come (net); the spread of
    the birth level behind it (sigma), the Poisson variance of the arrivals and departures still to
    come (gross), and the variance of the ledger's own past forecast errors at this horizon (past)."""

    known: float
    to_come: float
    sigma: float
    gross: float = 0.0
    past: float = 0.0

    @property
    def children(self) -> float:
        return max(0.0, self.known + self.to_come)

    def interval(self) -> tuple[float, float]:
        """The 80 % interval: ± Z80 σ, σ² = the birth level's variance plus the past errors' — at
        least the Poisson variance of what is still to come (each child's own chance), which the past
        errors, a few months of them, may by chance undershoot."""
        sd = math.sqrt(self.sigma ** 2 + max(self.past, self.gross))
        return max(0.0, self.children - Z80 * sd), self.children + Z80 * sd

    def share(self, weight: float, known: float) -> "Estimate":
        """A part of this estimate (an institution's share of what is to come), with its own known:
        the birth level is one for the whole district, so its spread is shared in proportion."""
        w = max(weight, 0.0)
        return Estimate(known, self.to_come * w, self.sigma * w, self.gross * w)

    def plus(self, other: "Estimate") -> "Estimate":
        """The sum of two estimates: Poisson parts independent; the level's spreads added as if they
        were one district's (the safe side); the past errors are the unit's own (`with_past`)."""
        return Estimate(self.known + other.known, self.to_come + other.to_come, self.sigma + other.sigma,
                        self.gross + other.gross)

    def with_past(self, variance: float) -> "Estimate":
        return Estimate(self.known, self.to_come, self.sigma, self.gross, variance)


def ape(forecast: float, actual: float) -> float | None:
    """Absolute percentage error; None where nothing came (a percentage of 0 has no meaning)."""
    return abs(forecast - actual) / actual * 100.0 if actual > 0 else None


def mean(values: Iterable[float | None]) -> float | None:
    got = [v for v in values if v is not None]
    return sum(got) / len(got) if got else None
