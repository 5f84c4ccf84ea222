"""The ledger's own past forecast errors: what the 80 % interval is learned from.

At every past month-end j of the history, the change still to come in month m = j + h
(h = 1…12) is forecast again as it would have been then: rates from the months wholly past at j
only (a rolling origin — the changes summed over the months m' ≤ j over their exposures) times
month m's exposure, the district's change shared out to its institutions by the bookings of the
12 months up to j (`estimate.shares_by_origin`). Set against what came, the error is kept per
institution, age group, horizon and origin. The error of any unit — an institution, a cluster, a
district — is the sum of its institutions' errors at the same origin, so its variance at a
horizon is the mean square of those sums: the spread of a cluster includes where the children
went (across institution and district lines) as much as how many came, and it grows with the
horizon as far as the past errors did.

A horizon has past errors once its own rates rest on `estimate.MIN_MONTHS` months at an origin
and the month m has passed, so the longest horizons have none early in a ledger's life (a
12-month error needs two years: a year of history behind the rates and a year for the month to
come). The variance is therefore a curve in the horizon, σ(h) = b·h^p, fitted to the past
errors: the growth p once for the ledger, from how its districts' errors grew with the horizon
(log σ on log h), the level b per unit and age group from the unit's own errors. Where a horizon
has past forecasts enough, the unit's own mean square there is taken as it is. The children
still to come accumulate month by month and the rates drift with them, so the errors grow
faster than the horizon (p ≈ 1.1–1.7 in the simulated cities; docs/forecast.md).
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Collection, Mapping

from projections.outlook import estimate as est
from projections.outlook import model

MIN_ORIGINS = est.MIN_MONTHS  # a horizon's own variance needs this many past forecasts; else the drift's


@dataclass(frozen=True, slots=True)
class PastErrors:
    """(institution, age group, horizon) → origin month → error (what came − the forecast, children)."""

    by_institution: Mapping[tuple[str, str, int], Mapping[int, float]]
    origins: Mapping[int, range]  # horizon → the origins whose forecast at that horizon has passed
    growth: float = 1.0  # p in σ(h) = b·h^p, from the districts' past errors (`growth_of`)

    def mean_square(self, institutions: Collection[str], group: str, horizon: int) -> float:
        """The mean square over the origins of the unit's error (the sum of its institutions')."""
        origins = self.origins.get(horizon, range(0))
        if not origins:
            return 0.0
        summed: dict[int, float] = defaultdict(float)
        for inst in institutions:
            for origin, error in self.by_institution.get((inst, group, horizon), {}).items():
                summed[origin] += error
        return sum(e * e for e in summed.values()) / len(origins)

    def curve(self, institutions: Collection[str], group: str) -> "Curve":
        """The unit's error variance by horizon: its own past errors' mean square at the horizons with
        MIN_ORIGINS past forecasts; beyond them b²·h^2p, b² fitted to those (weighted by their number)."""
        counts = {h: len(o) for h, o in self.origins.items() if len(o) >= MIN_ORIGINS}
        measured = {h: self.mean_square(institutions, group, h) for h in counts}
        scale = sum(n * h ** (2 * self.growth) for h, n in counts.items())
        squares = sum(n * measured[h] for h, n in counts.items())
        return Curve(measured, squares / scale if scale else 0.0, self.growth)


@dataclass(frozen=True, slots=True)
class Curve:
    """One unit's error variance (children²) by horizon."""

    measured: Mapping[int, float]  # horizon → the mean square of its past errors
    level: float  # b²
    growth: float  # p

    def variance(self, horizon: int) -> float:
        found = self.measured.get(horizon)
        return found if found is not None else self.level * horizon ** (2 * self.growth)


def growth_of(mean_squares: Mapping[int, tuple[float, int]]) -> float:
    """p in σ(h) = b·h^p: the slope of log σ on log h over the horizons (h ≥ 2: the next month is
    often wholly known) with MIN_ORIGINS past forecasts, weighted by their number; `mean_squares`:
    horizon → (mean square of the districts' errors, origins). Linear (1) without two such horizons."""
    points = [(math.log(h), 0.5 * math.log(v), n) for h, (v, n) in mean_squares.items()
              if h >= 2 and n >= MIN_ORIGINS and v > 0]
    if len(points) < 2:
        return 1.0
    weight = sum(n for _x, _y, n in points)
    mx = sum(x * n for x, _y, n in points) / weight
    my = sum(y * n for _x, y, n in points) / weight
    spread = sum(n * (x - mx) ** 2 for x, _y, n in points)
    return sum(n * (x - mx) * (y - my) for x, y, n in points) / spread if spread else 1.0


def origins_of(cut: est.Cut) -> dict[int, range]:
    """horizon → the month-ends whose forecast at it has passed, its rates resting on MIN_MONTHS months."""
    return {h: range(cut.first_month + h + est.MIN_MONTHS - 1, cut.complete - h + 1) for h in range(1, est.HORIZON + 1)}


def past_errors(found: est.Changes, cohorts: est.Cohorts, cut: est.Cut, districts: Mapping[str, str],
                shares: Mapping[int, Mapping[tuple[str, str], float]],
                cohorts_then: Mapping[int, est.Cohorts]) -> PastErrors:
    """Each past origin's forecast of every later month that has passed, against what came.
    `districts`: institution → district; `shares`: origin → (institution, age group) → share;
    `cohorts_then`: origin → the cohorts as the ledger knew them then (the birth months not yet
    complete or born sized as they were then, so the error of that estimate is in the past errors)."""
    origins = origins_of(cut)
    members: dict[str, list[str]] = defaultdict(list)
    for inst, district in districts.items():
        members[district].append(inst)
    out: dict[tuple[str, str, int], dict[int, float]] = defaultdict(dict)
    squares: dict[int, list[float]] = defaultdict(lambda: [0.0, 0])  # horizon → [Σ district error², cells]
    for (district, group, h), cells in found.monthly.items():
        for origin, forecast in _rolling(cells, (cohorts, cohorts_then), district, h, cut, origins[h]).items():
            shares_then = shares.get(origin, {})
            whole = 0.0
            for inst in members[district]:
                came = found.by_institution.get((inst, group, origin + h, h), 0.0)
                error = came - shares_then.get((inst, group), 0.0) * forecast
                if error:
                    out[(inst, group, h)][origin] = error
                    whole += error
            squares[h][0] += whole * whole
            squares[h][1] += 1
    growth = growth_of({h: (total / cells, len(origins[h])) for h, (total, cells) in squares.items() if cells})
    return PastErrors(dict(out), origins, growth)


def _rolling(cells: Mapping[tuple[int, int], list[float]],
             cohorts: tuple[est.Cohorts, Mapping[int, est.Cohorts]], district: str, h: int,
             cut: est.Cut, origins: range) -> dict[int, float]:
    """origin j → the district's change to come in month j + h as forecast at j, from the rates of
    the months up to j (`cells`: (age, month) → [net of registered, net of not registered]) times
    the exposure of month j + h as known at j."""
    cohorts, cohorts_then = cohorts
    ages = sorted({age for age, _m in cells})
    sums = {age: [0.0, 0.0, 0.0, 0.0] for age in ages}  # changes (registered, not), exposures (same)
    exposed = {m: [est.exposure(cohorts, district, age, m, h) for age in ages] for m in est.rate_months(cut, h)}
    out = {}
    for month, exposures in exposed.items():
        for age, (registered, everyone) in zip(ages, exposures):
            s = sums[age]
            change = cells.get((age, month))
            if change is not None:
                s[0] += change[0]
                s[1] += change[1]
            s[2] += registered
            s[3] += everyone
        if month in origins:
            ahead = [est.exposure(cohorts_then[month], district, age, month + h, h) for age in ages]
            out[month] = sum(model.ratio(s[0], s[2]) * reg + model.ratio(s[1], s[3]) * size
                             for s, (reg, size) in zip((sums[a] for a in ages), ahead))
    return out
