"""Queries over the views, for the API and the auditor's workbench.

SQL lives here and in the views' modules only. Each function takes a ViewStore
(see projections.open_store) and returns plain dicts.
"""

from __future__ import annotations

from typing import Any

from projections.occupancy import INSTITUTIONS, OCCUPANCY
from projections.stores import ViewStore
from projections.tables import Row, Table
from projections.timeline import TIMELINE


def _select(store: ViewStore, table: Table, where: dict[str, Any], order: tuple[str, ...]) -> list[Row]:
    ph = store.placeholder
    filters = {k: v for k, v in where.items() if v is not None}
    sql = f"SELECT {', '.join(table.column_names)} FROM {table.name}"
    if filters:
        sql += " WHERE " + " AND ".join(f"{k} = {ph}" for k in filters)
    sql += " ORDER BY " + ", ".join(order)
    rows = store.query(sql, tuple(_param(v) for v in filters.values()))
    return [store.decode_row(table, r) for r in rows]


def _param(value: Any) -> Any:
    return str(value) if not isinstance(value, (int, str)) else value


def occupancy(store: ViewStore, *, institution_id: str | None = None, district: str | None = None,
              month: str | None = None, age_group: str | None = None, pool: str | None = None) -> list[Row]:
    """Occupancy rows (capacity, booked, free, seat-days) filtered by any of the keys."""
    return _select(store, OCCUPANCY, {"institution_id": institution_id, "district": district, "month": month,
                                      "age_group": age_group, "pool": pool},
                   ("institution_id", "age_group", "pool", "month"))


def occupancy_by_district(store: ViewStore, month: str | None = None) -> list[Row]:
    """District roll-up: sums of capacity, booked, free and seat-days per district, age group and month."""
    ph = store.placeholder
    sql = ("SELECT district, age_group, month, SUM(capacity), SUM(booked), SUM(free), SUM(seat_days), "
           "SUM(capacity_days) FROM occupancy" + (f" WHERE month = {ph}" if month else "")
           + " GROUP BY district, age_group, month ORDER BY district, age_group, month")
    names = ("district", "age_group", "month", "capacity", "booked", "free", "seat_days", "capacity_days")
    return [dict(zip(names, (r[0], r[1], r[2], *(int(x) for x in r[3:])))) for r in
            store.query(sql, (month,) if month else ())]


def institution(store: ViewStore, institution_id: str) -> Row | None:
    rows = _select(store, INSTITUTIONS, {"institution_id": institution_id}, ("institution_id",))
    return rows[0] if rows else None


def child_history(store: ViewStore, child_id: str) -> list[Row]:
    """Every event of a child in log order (person-level: caseworkers and auditors only)."""
    return _select(store, TIMELINE, {"child_id": child_id}, ("position",))
