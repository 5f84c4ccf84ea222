"""Queries over the views, for the API and the auditor's workbench.

SQL lives here and in the views' modules only. Each function takes a ViewStore
(see projections.open_store) and returns plain dicts.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from projections.guarantee import GUARANTEE_UNPLACED
from projections.billing import BILLING_STATE, BUDGET, SETTLEMENT, STATEMENT_LINES, STATEMENTS, billing_horizon_of
from projections.billing.runs import Expanded
from projections.occupancy import CAPACITY, INSTITUTIONS, OCCUPANCY, SPANS
from projections.waitinglists import WAITING_LIST
from projections.stores import ViewStore
from projections.tables import Row, Table
from projections.timeline import TIMELINE


def _select(store: ViewStore, table: Table, where: dict[str, Any], order: tuple[str, ...], *,
            limit: int | None = None, offset: int = 0, ranges: dict[str, tuple[Any, Any]] | None = None) -> list[Row]:
    relation, first = _relation(store, table, where)
    sql, params = _where(store, table, where, ranges)
    sql = f"SELECT {', '.join(table.column_names)} FROM {relation}" + sql + " ORDER BY " + ", ".join(order)
    params = first + params
    if limit is not None:
        sql += f" LIMIT {int(limit)} OFFSET {int(offset)}"
    return [store.decode_row(table, r) for r in store.query(sql, params)]


def _count(store: ViewStore, table: Table, where: dict[str, Any],
           ranges: dict[str, tuple[Any, Any]] | None = None) -> int:
    relation, first = _relation(store, table, where)
    sql, params = _where(store, table, where, ranges)
    return int(store.query(f"SELECT COUNT(*) FROM {relation}" + sql, first + params)[0][0])


def _relation(store: ViewStore, table: Table, where: dict[str, Any]) -> tuple[str, tuple]:
    """What to read `table` from. A SQL view over runs of months, asked for one month: the runs
    holding that month only (by the runs' month index), as that month — the view itself would
    expand every run of every month first on PostgreSQL, which cannot move a month's condition
    into generate_series."""
    month = where.get("month")
    if month is None or not isinstance(table.select, Expanded):
        return table.name, ()
    within, params = table.select.select(store.dialect, "", store.placeholder)
    return f"({within}) AS {table.name}", (month,) * params


def _where(store: ViewStore, table: Table, where: dict[str, Any],
           ranges: dict[str, tuple[Any, Any]] | None) -> tuple[str, tuple]:
    ph = store.placeholder
    clauses, params = [], []
    for k, v in where.items():
        if v is not None:
            clauses.append(f"{k} = {ph}")
            params.append(_param(v))
    for k, (lo, hi) in (ranges or {}).items():
        if lo is not None:
            clauses.append(f"{k} >= {ph}")
            params.append(_param(lo))
        if hi is not None:
            clauses.append(f"{k} <= {ph}")
            params.append(_param(hi))
    return (" WHERE " + " AND ".join(clauses) if clauses else ""), tuple(params)


@dataclass
class Page:
    """One page of a longer list: the rows, and how many there are in all."""

    items: list[Row]
    total: int
    limit: int
    offset: int


def _param(value: Any) -> Any:
    return str(value) if not isinstance(value, (int, str)) else value


def occupancy(store: ViewStore, *, institution_id: str | None = None, district: str | None = None,
              month: str | None = None, age_group: str | None = None, pool: str | None = None) -> list[Row]:
    """Occupancy rows (capacity, booked, free, seat-days) filtered by any of the keys."""
    return _select(store, OCCUPANCY, {"institution_id": institution_id, "district": district, "month": month,
                                      "age_group": age_group, "pool": pool},
                   ("institution_id", "age_group", "pool", "month"))


def occupancy_page(store: ViewStore, *, limit: int, offset: int = 0, institution_id: str | None = None,
                   district: str | None = None, month: str | None = None, from_month: str | None = None,
                   to_month: str | None = None, age_group: str | None = None, pool: str | None = None,
                   cluster: str | None = None) -> Page:
    """Occupancy rows filtered by any of the keys and a month range, a page at a time (`cluster`: the
    months the institution belonged to that cluster)."""
    where = {"institution_id": institution_id, "district": district, "month": month, "age_group": age_group,
             "pool": pool, "cluster": cluster}
    ranges = {"month": (from_month, to_month)}
    rows = _select(store, OCCUPANCY, where, ("institution_id", "age_group", "pool", "month"), limit=limit,
                   offset=offset, ranges=ranges)
    return Page(rows, _count(store, OCCUPANCY, where, ranges), limit, offset)


def institutions(store: ViewStore, *, district: str | None = None, kind: str | None = None) -> list[Row]:
    return _select(store, INSTITUTIONS, {"district": district, "kind": kind}, ("district", "name", "institution_id"))


def waiting_list(store: ViewStore, institution_id: str, *, age_group: str | None = None, limit: int = 100,
                 offset: int = 0) -> Page:
    """The children waiting for an institution, in offer order (person-level)."""
    where = {"institution_id": institution_id, "age_group": age_group}
    rows = _select(store, WAITING_LIST, where, ("age_group", "rank"), limit=limit, offset=offset)
    return Page(rows, _count(store, WAITING_LIST, where), limit, offset)


def guarantee_watch(store: ViewStore, *, on: date, within_days: int = 30, district: str | None = None) -> list[Row]:
    """Waiting children whose place guarantee falls due within `within_days` of `on`, or has passed.

    One row per child and age group (its first wish's list row): days_left < 0 means the
    guarantee date passed that many days ago; `guarantee_met_by` says whether the guarantee is met
    though the child still waits for a wish ('place': it holds a place outside its wishes;
    'refused_offer': the family declined or let expire an offer starting by the date) or not (None:
    no place; past the date, the guarantee is broken) — as the allocation run and the fairness audit
    decide it (rules.place_meets_guarantee, rules.offer_meets_guarantee).
    """
    rows = _select(store, WAITING_LIST, {"district": district}, ("guarantee_date", "child_id", "wish_no"),
                   ranges={"guarantee_date": (None, on + timedelta(days=within_days))})
    seen: set[tuple[str, str]] = set()
    out = []
    for r in rows:
        if r["guarantee_date"] is None or (r["child_id"], r["age_group"]) in seen:
            continue
        seen.add((r["child_id"], r["age_group"]))
        out.append({"child_id": r["child_id"], "age_group": r["age_group"], "district": r["district"],
                    "guarantee_date": r["guarantee_date"], "days_left": (r["guarantee_date"] - on).days,
                    "need_date": r["need_date"], "first_wish": r["institution_id"], "rule_set": r["rule_set"],
                    "guarantee_met_by": r["guarantee_met_by"], "place_from": None})
    for r in guarantee_unplaced(store, on=on + timedelta(days=within_days), district=district):
        if r["place_from"] is None or r["place_from"] > on:  # not yet in care on `on`
            out.append({"child_id": r["child_id"], "age_group": r["age_group"], "district": r["district"],
                        "guarantee_date": r["guarantee_date"], "days_left": (r["guarantee_date"] - on).days,
                        "need_date": r["need_date"], "first_wish": None, "rule_set": r["rule_set"],
                        "guarantee_met_by": None, "place_from": r["place_from"]})
    out.sort(key=lambda r: (r["guarantee_date"], r["child_id"]))
    return out


def guarantee_unplaced(store: ViewStore, *, on: date, district: str | None = None) -> list[Row]:
    """Children off the waiting lists whose guarantee date is on or before `on` and whom no place met it
    (a place at a wish that starts later, or one cancelled before it started): see projections.guarantee."""
    return _select(store, GUARANTEE_UNPLACED, {"district": district}, ("guarantee_date", "child_id"),
                   ranges={"guarantee_date": (None, on)})


def statement(store: ViewStore, household_id: str, month: str) -> dict[str, Any] | None:
    """A household's statement for a month: its lines and total (issued or as it stands)."""
    head = _select(store, STATEMENTS, {"household_id": household_id, "month": month}, ("month",))
    if not head:
        return None
    lines = _select(store, STATEMENT_LINES, {"household_id": household_id, "month": month}, ("line_no",))
    return {"household_id": household_id, "month": month, "issued": bool(head[0]["issued"]),
            "total_ore": head[0]["total_ore"], "lines": lines}


def billing_horizon(store: ViewStore) -> str | None:
    """The last month the billing view charges (YYYY-MM), None before it has seen any event."""
    rows = _select(store, BILLING_STATE, {"entity": "clock", "id": "last_month"}, ("id",))
    return billing_horizon_of(json.loads(rows[0]["data"])) if rows else None


def draft_statements(store: ViewStore, month: str) -> list[dict[str, Any]]:
    """Every household's not-yet-issued statement for a month, lines in order."""
    heads = [h for h in _select(store, STATEMENTS, {"month": month}, ("household_id",)) if not h["issued"]]
    lines: dict[str, list[Row]] = {}
    for line in _select(store, STATEMENT_LINES, {"month": month}, ("household_id", "line_no")):
        lines.setdefault(line["household_id"], []).append(line)
    return [{"household_id": h["household_id"], "total_ore": h["total_ore"], "lines": lines.get(h["household_id"], [])}
            for h in heads]


def month_issued(store: ViewStore, month: str) -> bool:
    """Whether the month's statements have been issued (a billing run was recorded)."""
    return any(h["issued"] for h in _select(store, STATEMENTS, {"month": month}, ("household_id",), limit=50))


def budget(store: ViewStore, *, district: str | None = None, from_month: str | None = None,
           to_month: str | None = None) -> list[Row]:
    """The budget per month and district (money in øre)."""
    return _select(store, BUDGET, {"district": district}, ("month", "district"),
                   ranges={"month": (from_month, to_month)})


def settlement(store: ViewStore, *, month: str | None = None) -> list[Row]:
    """Intermunicipal settlement per month and pair of municipalities."""
    return _select(store, SETTLEMENT, {"month": month}, ("month", "payer_municipality", "institution_municipality"))


def occupancy_by_district(store: ViewStore, month: str | None = None) -> list[Row]:
    """District roll-up: sums of capacity, booked, free and seat-days per district, age group and month."""
    ph = store.placeholder
    sql = ("SELECT district, age_group, month, SUM(capacity), SUM(booked), SUM(free), SUM(seat_days), "
           "SUM(capacity_days) FROM occupancy" + (f" WHERE month = {ph}" if month else "")
           + " GROUP BY district, age_group, month ORDER BY district, age_group, month")
    names = ("district", "age_group", "month", "capacity", "booked", "free", "seat_days", "capacity_days")
    return [dict(zip(names, (r[0], r[1], r[2], *(int(x) for x in r[3:])))) for r in
            store.query(sql, (month,) if month else ())]


def occupancy_by_cluster(store: ViewStore, month: str | None = None) -> list[Row]:
    """Cluster roll-up: sums of capacity, booked, free and seat-days per cluster, age group and month (the
    months an institution belonged to the cluster; institutions in no cluster are left out)."""
    ph = store.placeholder
    sql = ("SELECT cluster, age_group, month, SUM(capacity), SUM(booked), SUM(free), SUM(seat_days), "
           "SUM(capacity_days) FROM occupancy WHERE cluster IS NOT NULL" + (f" AND month = {ph}" if month else "")
           + " GROUP BY cluster, age_group, month ORDER BY cluster, age_group, month")
    names = ("cluster", "age_group", "month", "capacity", "booked", "free", "seat_days", "capacity_days")
    return [dict(zip(names, (r[0], r[1], r[2], *(int(x) for x in r[3:])))) for r in
            store.query(sql, (month,) if month else ())]


def institution(store: ViewStore, institution_id: str) -> Row | None:
    rows = _select(store, INSTITUTIONS, {"institution_id": institution_id}, ("institution_id",))
    return rows[0] if rows else None


def child_history(store: ViewStore, child_id: str, *, limit: int | None = None, offset: int = 0) -> list[Row]:
    """Every event of a child in log order (person-level: caseworkers and auditors only)."""
    return _select(store, TIMELINE, {"child_id": child_id}, ("position",), limit=limit, offset=offset)


def child_history_page(store: ViewStore, child_id: str, *, limit: int, offset: int = 0) -> Page:
    rows = child_history(store, child_id, limit=limit, offset=offset)
    return Page(rows, _count(store, TIMELINE, {"child_id": child_id}), limit, offset)


def _months_between(first: str, last: str) -> int:
    return (int(last[:4]) - int(first[:4])) * 12 + int(last[5:7]) - int(first[5:7])


def available_institutions(store: ViewStore, *, age_group: str, start: date, end: date | None = None,
                           district: str | None = None, pool: str = "general") -> list[Row]:
    """Institutions with a free seat in every month from `start` to `end` (default: 12 months).

    Free is per month (capacity in force less the most seats in use on a day), so a seat
    free for the whole stretch shows; one that frees up mid-month shows from the month after.
    """
    first = f"{start.year:04d}-{start.month:02d}"
    stop = end or date(start.year + (start.month + 10) // 12, (start.month + 10) % 12 + 1, 1)
    last = f"{stop.year:04d}-{stop.month:02d}"
    months = _months_between(first, last) + 1
    rows = _select(store, OCCUPANCY, {"district": district, "age_group": age_group, "pool": pool},
                   ("institution_id", "month"), ranges={"month": (first, last)})
    by_inst: dict[str, list[Row]] = {}
    for r in rows:
        by_inst.setdefault(r["institution_id"], []).append(r)
    names = {r["institution_id"]: r for r in _select(store, INSTITUTIONS, {"district": district}, ("institution_id",))}
    out = []
    for inst, inst_rows in by_inst.items():
        # The view's months run to the last booked day (and a year past the first capacity); later
        # months hold no booking, so their free seats are the capacity in force, as in the last month.
        if inst_rows[0]["month"] != first:
            continue  # no capacity yet in the first month
        frees = [r["free"] for r in inst_rows]
        if len(frees) < months:
            frees.append(inst_rows[-1]["capacity"])
        if min(frees) > 0 and inst in names:
            info = names[inst]
            out.append({"institution_id": inst, "name": info["name"], "district": info["district"],
                        "kind": info["kind"], "age_group": age_group, "pool": pool, "free_seats": min(frees),
                        "from_month": first, "to_month": last})
    return sorted(out, key=lambda r: (r["district"], r["name"], r["institution_id"]))


def waiting_entries(store: ViewStore) -> list[Row]:
    """Every row of every institution's waiting list, in list order (person-level)."""
    return _select(store, WAITING_LIST, {}, ("institution_id", "age_group", "rank"))


def free_seats(store: ViewStore, institution_id: str, age_group: str, start: date, months: int = 12,
               pool: str = "general") -> int:
    """The fewest free seats in any month of `months` from `start`'s month.

    The occupancy view's months run from the first capacity or booking to the last booked day (and
    a year past the first capacity); a month outside them holds no booking, so its free seats are
    the capacity in force (the fewest seats decided for a day of the month)."""
    first = date(start.year, start.month, 1)
    keys = [_add_months(first, k) for k in range(months)]
    rows = {r["month"]: r for r in _select(store, OCCUPANCY, {"institution_id": institution_id,
                                                              "age_group": age_group, "pool": pool},
                                           ("month",), ranges={"month": (f"{keys[0]:%Y-%m}", f"{keys[-1]:%Y-%m}")})}
    decided = _decided(store, institution_id, age_group, pool)
    frees = []
    for month_start in keys:
        row = rows.get(f"{month_start:%Y-%m}")
        frees.append(row["free"] if row else _fewest_seats(decided, month_start))
    return max(0, min(frees))


def capacity_in_force(store: ViewStore, institution_id: str, age_group: str, month_start: date,
                      pool: str = "general") -> int:
    """The fewest seats decided for a day of the month (0 before the first decision)."""
    return _fewest_seats(_decided(store, institution_id, age_group, pool), date(month_start.year, month_start.month, 1))


def _decided(store: ViewStore, institution_id: str, age_group: str, pool: str) -> list[tuple[date, int]]:
    return sorted((r["effective_from"], r["seats"]) for r in _select(
        store, CAPACITY, {"institution_id": institution_id, "age_group": age_group, "pool": pool},
        ("effective_from",)))


def _add_months(day: date, n: int) -> date:
    index = day.year * 12 + day.month - 1 + n
    return date(index // 12, index % 12 + 1, 1)


def _fewest_seats(decided: list[tuple[date, int]], month_start: date) -> int:
    """The fewest seats in force on a day of the month, from the capacity decisions."""
    month_end = _add_months(month_start, 1)
    in_force = [seats for day, seats in decided if day <= month_start][-1:] or [0]
    during = [seats for day, seats in decided if month_start < day < month_end]
    return min(in_force + during)


def nursery_places_ending(store: ViewStore, first: date, last: date) -> list[Row]:
    """Nursery seats whose last day falls between `first` and `last` (the age roll's candidates)."""
    return _select(store, SPANS, {"age_group": "nursery"}, ("child_id", "booking_id"),
                   ranges={"last_day": (first, last)})
