"""The forecast of children in care per institution, cluster or district × age group × month.

Children in care = the average number of seats in use over the month (seat-days ÷ days in the
month, all pools) — what the occupancy view's `seat_days` gives once the month has passed. The
forecast is the bookings the ledger knew at `as_of` (each to its end: the age roll out of the
nursery, school start) plus the change still to come (`estimate`): the children the ledger
already knows but who hold no seat yet (waiting lists, the roll to kindergarten) and those it
does not know yet (not born or not registered), less cancellations and moves. A district's
change to come is shared out to its institutions by where the last year's bookings went. The 80 %
interval of a unit is learned from its own past forecast errors (`errors`).
"""

from __future__ import annotations

import csv
import io
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import date, datetime
from typing import Mapping

from projections.outlook import estimate as est
from projections.outlook import model
from projections.outlook.errors import Curve, PastErrors, origins_of, past_errors
from projections.outlook.history import History

LEVELS = ("institution", "cluster", "district")
KEYS = {"institution": "institution_id", "cluster": "cluster", "district": "district"}


class ForecastError(ValueError):
    """Something a user asked that the forecast cannot give (a readable message)."""


class UnknownUnit(ForecastError):
    """No institution, cluster or district of that name was known at the forecast date."""


@dataclass(frozen=True, slots=True)
class ForecastRow:
    level: str
    unit: str
    age_group: str
    month: str
    children: float
    low: float
    high: float
    capacity: int

    def as_json(self) -> dict:
        return {KEYS[self.level]: self.unit, "age_group": self.age_group, "month": self.month,
                "children": round(self.children, 2), "low": round(self.low, 2), "high": round(self.high, 2),
                "capacity": self.capacity}


@dataclass(slots=True)
class Outlook:
    """What the ledger knew at a cut, and the rates learned from its past: ready to forecast."""

    history: History
    cut: est.Cut
    cohorts: est.Cohorts
    rates: est.Rates
    shares: dict[tuple[str, str], float]
    errors: PastErrors

    @classmethod
    def learn(cls, history: History, as_of: datetime | None = None,
              births: Mapping[tuple[str, int], float] | None = None) -> "Outlook":
        """Learn at `as_of` (default: the history's own cut) from what was known then only."""
        instant = as_of or history.as_of
        if instant > history.as_of:
            raise ForecastError("the forecast date lies after what the history was read up to")
        cut = est.Cut.at(instant, history)
        cohorts = est.cohorts(history, cut, dict(births) if births else None)
        found = est.changes(history, cut)
        shares = est.shares_by_origin(history, cut, range(cut.first_month, cut.month + 1))
        origins = {j for months in origins_of(cut).values() for j in months}
        then = {j: est.cohorts(history, est.Cut.month_end(j, history)) for j in origins}
        errors = past_errors(found, cohorts, cut, history.districts, shares, then)
        return cls(history, cut, cohorts, est.rates(found, cohorts, cut), shares.get(cut.month, {}), errors)

    def institutions(self, months: range) -> dict[tuple[str, str, int], model.Estimate]:
        """(institution, age group, month) → its estimate."""
        known = est.known_seats(self.history, self.cut, months)
        by_district: dict[tuple[str, str, int], float] = defaultdict(float)
        for (inst, group, month), seats in known.items():
            by_district[(self.history.districts.get(inst, ""), group, month)] += seats
        groups = {g for _i, g in self.shares} | {g for _i, g, _m in known}
        out: dict[tuple[str, str, int], model.Estimate] = {}
        wholes: dict[tuple[str, str, int], model.Estimate] = {}
        for inst, district in self.history.districts.items():
            if self.history.registered[inst] > self.cut.instant:
                continue
            for group in groups:
                for month in months:
                    k = (district, group, month)
                    whole = wholes.get(k) or wholes.setdefault(k, self.district(*k, by_district[k]))
                    part = whole.share(self.shares.get((inst, group), 0.0), known.get((inst, group, month), 0.0))
                    if part.known or part.to_come:
                        out[(inst, group, month)] = part
        return out

    def district(self, district: str, group: str, month: int, known: float) -> model.Estimate:
        if month <= self.cut.complete:  # wholly past: what came is known
            return model.Estimate(known, 0.0, 0.0)
        horizon = min(max(month - self.cut.month, 1), est.HORIZON)
        to_come, gross, on_level = self.rates.to_come(self.cohorts, district, group, month, month - horizon)
        served = self.rates.horizons.get(horizon, horizon)
        # The rates are themselves estimated from a few months: their own Poisson error adds 1/n.
        gross *= 1.0 + 1.0 / max(self.rates.months_used.get(served, 1), 1)
        sigma = math.sqrt(model.level_variance(on_level, self.cohorts.levels.get(district, 0.0)))
        return model.Estimate(known, to_come, sigma, gross)

    def rows(self, level: str, from_month: int, months: int, clusters: Mapping[str, str] | None = None,
             key: str | None = None) -> list[ForecastRow]:
        """The forecast rows of `level` (one unit when `key` is given), month by month."""
        if level not in LEVELS:
            raise ForecastError(f"unknown level {level!r}; one of: {', '.join(LEVELS)}")
        if months < 1:
            raise ForecastError("the forecast needs at least one month")
        span = range(from_month, from_month + months)
        unit_of = self.unit_of(level, clusters)
        capacity = est.capacity(self.history, self.cut, span)
        sums: dict[tuple[str, str, int], model.Estimate] = {}
        seats: dict[tuple[str, str, int], int] = defaultdict(int)
        for (inst, group, month), part in self.institutions(span).items():
            unit = unit_of(inst)
            if unit is None or (key is not None and unit != key):
                continue
            k = (unit, group, month)
            sums[k] = sums[k].plus(part) if k in sums else part
        for (inst, group, month), n in capacity.items():
            unit = unit_of(inst)
            if unit is not None and (key is None or unit == key):
                seats[(unit, group, month)] += n
                sums.setdefault((unit, group, month), model.Estimate(0.0, 0.0, 0.0, 0.0))
        if level == "district":  # the district's own spread, not the sum of its institutions' shares
            sums = {k: self.district(k[0], k[1], k[2], e.known) for k, e in sums.items()}
        if key is not None and not sums:
            raise UnknownUnit(f"no {level} {key!r} was known at the forecast date")
        members, curves = self.members(unit_of), {}
        for unit, group, _m in sums:
            if (unit, group) not in curves:
                curves[(unit, group)] = self.errors.curve(members.get(unit, ()), group)
        return [_row(level, k, self.with_past(sums[k], curves[k[:2]], k[2]), seats[k]) for k in sorted(sums)]

    def members(self, unit_of) -> dict[str, list[str]]:
        """unit → the institutions in it that were known at the cut."""
        out: dict[str, list[str]] = defaultdict(list)
        for inst in self.history.districts:
            unit = unit_of(inst)
            if unit is not None and self.history.registered[inst] <= self.cut.instant:
                out[unit].append(inst)
        return out

    def with_past(self, e: model.Estimate, curve: Curve, month: int) -> model.Estimate:
        """The estimate with the variance of the unit's own past errors at the month's horizon."""
        if month <= self.cut.complete:
            return e
        # the month of the cut itself (a forecast made mid-month) is in doubt as the next one is
        return e.with_past(curve.variance(max(month - self.cut.month, 1)))

    def unit_of(self, level: str, clusters: Mapping[str, str] | None):
        """institution id → its unit at `level` (None: outside every unit, e.g. an institution in no cluster)."""
        if level == "institution":
            return lambda inst: inst
        if level == "district":
            return self.history.districts.get
        if not clusters:
            raise ForecastError("no clusters are known in this ledger: forecast by institution or district")
        return clusters.get


def _row(level: str, key: tuple[str, str, int], e: model.Estimate, capacity: int) -> ForecastRow:
    low, high = e.interval()
    return ForecastRow(level, key[0], key[1], model.month_text(key[2]), e.children, low, high, capacity)


def parse_births(text: str) -> dict[tuple[str, int], float]:
    """A births forecast: CSV with columns district, month (YYYY-MM), births (children per month
    that will register with the ledger, e.g. the population projection times the take-up)."""
    reader = csv.DictReader(io.StringIO(text))
    missing = {"district", "month", "births"} - set(reader.fieldnames or ())
    if missing:
        raise ForecastError(f"the births file lacks the column(s) {', '.join(sorted(missing))}")
    out = {}
    for line, rec in enumerate(reader, start=2):
        try:
            births = float(rec["births"])
            if births < 0:
                raise ValueError
            out[(rec["district"], model.month_of(rec["month"]))] = births
        except (ValueError, TypeError):
            raise ForecastError(f"the births file, line {line}: needs a district, a month YYYY-MM and a "
                                f"number of births ≥ 0") from None
    return out


def first_month_after(day: date) -> int:
    return model.month_index(day) + 1
