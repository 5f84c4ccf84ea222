"""How good the forecast is, measured on the ledger's own past.

From several past month-ends T the forecast is made with only what the ledger knew at T
(`Outlook.learn(history, T)` reads nothing recorded later) and set against the children in
care that came (the seats as the ledger knows them now, for months wholly past). Per level and
horizon (months after T's month): the mean absolute percentage error over the cells (unit × age
group × month) and the share of cells whose 80 % interval held the outcome.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Mapping, Sequence

from projections.outlook import estimate as est
from projections.outlook import model
from projections.outlook.forecast import ForecastError, Outlook
from projections.outlook.history import History
from projections.pointintime import recorded_instant

MIN_CHILDREN = 1.0  # cells with fewer children in care have no meaningful percentage error
# A forecast date needs this much history before it: a year, and the months behind the 12-month
# horizon's own rates (est.MIN_MONTHS), so no horizon borrows a shorter one's.
HISTORY_MONTHS = 12 + est.MIN_MONTHS


@dataclass(slots=True)
class Accuracy:
    """Per horizon: the absolute percentage errors and whether the interval held."""

    errors: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    signed: dict[int, list[float]] = field(default_factory=lambda: defaultdict(list))
    held: dict[int, list[bool]] = field(default_factory=lambda: defaultdict(list))

    def add(self, horizon: int, forecast: float, low: float, high: float, actual: float) -> None:
        if actual < MIN_CHILDREN:
            return
        self.errors[horizon].append(model.ape(forecast, actual) or 0.0)
        self.signed[horizon].append((forecast - actual) / actual * 100.0)
        self.held[horizon].append(low <= actual <= high)

    def table(self) -> list[dict]:
        return [{"horizon": h, "mape": round(model.mean(self.errors[h]) or 0.0, 2),
                 "bias": round(model.mean(self.signed[h]) or 0.0, 2),
                 "coverage": round(100.0 * sum(self.held[h]) / len(self.held[h]), 1), "cells": len(self.held[h])}
                for h in sorted(self.errors)]

    def coverage(self) -> float | None:
        held = [x for h in self.held.values() for x in h]
        return round(100.0 * sum(held) / len(held), 1) if held else None


def default_dates(history: History, step: int = 2) -> list[date]:
    """Month-ends with HISTORY_MONTHS of history before them and at least one month after, every
    `step` months (the last date first, so the newest one is always measured)."""
    final = est.Cut.at(history.as_of, history)
    first, last = final.first_month + HISTORY_MONTHS - 1, final.complete - 1
    return [model.first_day(m + 1).fromordinal(model.first_day(m + 1).toordinal() - 1)
            for m in range(last, first - 1, -step)][::-1]


def backtest(history: History, *, dates: Sequence[date] | None = None, levels: Sequence[str] = ("district",),
             clusters: Mapping[str, str] | None = None, months: int = 12) -> dict:
    """Forecasts from each date against what came; the accuracy per level and horizon."""
    final = est.Cut.at(history.as_of, history)
    dates = list(dates) if dates is not None else default_dates(history)
    if not dates:
        raise ForecastError("the ledger's history is too short to backtest: it needs a year before a "
                            "forecast date and a month after it")
    accuracy = {level: Accuracy() for level in levels}
    for day in dates:
        outlook = Outlook.learn(history, recorded_instant(day))
        span = range(outlook.cut.month + 1, min(outlook.cut.month + months, final.complete) + 1)
        if not span:
            continue
        came = est.known_seats(history, final, span)
        for level in levels:
            actual: dict[tuple[str, str, int], float] = defaultdict(float)
            unit_of = outlook.unit_of(level, clusters)
            for (inst, group, month), seats in came.items():
                unit = unit_of(inst)
                if unit is not None:
                    actual[(unit, group, month)] += seats
            for row in outlook.rows(level, span.start, len(span), clusters):
                month = model.month_of(row.month)
                accuracy[level].add(month - outlook.cut.month, row.children, row.low, row.high,
                                    actual.get((row.unit, row.age_group, month), 0.0))
    return {"dates": [d.isoformat() for d in dates], "as_of": history.as_of.isoformat(),
            "levels": {level: {"horizons": a.table(), "coverage": a.coverage()} for level, a in accuracy.items()}}


def format_table(result: dict) -> str:
    """The backtest as text: one table per level."""
    lines = [f"backtest: forecasts from {len(result['dates'])} dates ({', '.join(result['dates'])})"]
    for level, found in result["levels"].items():
        lines.append(f"\n{level}: MAPE per horizon, and how often the 80 % interval held "
                     f"(overall {found['coverage']} %)")
        lines.append("horizon  MAPE %  bias %  interval held %  cells")
        for r in found["horizons"]:
            lines.append(f"{r['horizon']:>7}  {r['mape']:>6.2f}  {r['bias']:>+6.2f}  {r['coverage']:>15.1f}  "
                         f"{r['cells']:>5}")
    return "\n".join(lines)
