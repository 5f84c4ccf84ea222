"""Valid time beside recorded time: the rows of a view that were in force on a day.

`plads replay VIEW --as-of T --valid-at D` folds the views as the ledger knew them at T
(recorded time, projections.pointintime) and keeps the rows in force on D (valid time):

- month tables (occupancy, budget, statements, ...): the rows of D's month;
- spans (seat_spans, forecast_demand): the rows whose first_day..last_day holds D;
- effective-dated facts (institution_capacity, institution_clusters): per key, the latest change effective on or before D;
- histories (child_timeline): the events effective on or before D (recorded by then, when they
  carry no effective date); institutions: those registered by D.

The waiting lists are ranked on their list date, not per day: they have no valid time here
(replay them --as-of alone).
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from ledger.clock import copenhagen_date
from projections.tables import Table

Row = dict[str, Any]

MONTHLY = {"budget", "occupancy", "intermunicipal_settlement", "statements", "statement_lines"}
SPANS = {"seat_spans", "forecast_demand"}
EFFECTIVE = {"institution_capacity": "effective_from", "institution_clusters": "effective_from"}


class NoValidTime(ValueError):
    """The table has no valid time to select on."""


def has_valid_time(table: Table) -> bool:
    return table.name in MONTHLY | SPANS | set(EFFECTIVE) | {"child_timeline", "institutions"}


def in_force_on(table: Table, rows: list[Row], day: date) -> list[Row]:
    """The rows of `table` in force on `day` (in the order given)."""
    name = table.name
    if name in MONTHLY:
        month = day.isoformat()[:7]
        return [r for r in rows if r["month"] == month]
    if name in SPANS:
        return [r for r in rows if _d(r["first_day"]) <= day and (r["last_day"] is None or day <= _d(r["last_day"]))]
    if name in EFFECTIVE:
        column = EFFECTIVE[name]
        rest = [c for c in table.key if c != column]
        latest: dict[tuple, Row] = {}
        for r in rows:
            group = tuple(r[c] for c in rest)
            if _d(r[column]) <= day and (group not in latest or _d(latest[group][column]) < _d(r[column])):
                latest[group] = r
        kept = {id(r) for r in latest.values()}
        return [r for r in rows if id(r) in kept]
    if name == "child_timeline":
        return [r for r in rows if _d(r["effective_date"] or r["recorded_at"]) <= day]
    if name == "institutions":
        return [r for r in rows if r["registered_on"] is None or _d(r["registered_on"]) <= day]
    raise NoValidTime(f"{name} has no valid time (it is ranked on its list date); replay it with --as-of alone")


def _d(value: Any) -> date:
    if isinstance(value, datetime):  # a recorded time: its day in Copenhagen
        return copenhagen_date(value)
    if isinstance(value, date):
        return value
    return date.fromisoformat(str(value)[:10])
