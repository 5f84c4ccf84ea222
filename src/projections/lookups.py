"""Look-ups for the API's finding doors: institutions by name or cluster, a child's places on the
lists, a household's children and statement months, the child an offer was made to, the children
booked in an institution (counts only)."""

from __future__ import annotations

from collections import Counter
from datetime import date
from typing import Any

from projections.billing import STATEMENTS
from projections.occupancy import CLUSTERS, INSTITUTIONS, SPANS, cluster_on
from projections.queries import Page, _count, _select
from projections.stores import ViewStore
from projections.tables import Row
from projections.timeline import CHILD_HOUSEHOLD, OFFER_CHILD
from projections.waitinglists import WAITING_LIST, WAITING_LIST_DISTRICT


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def institution_clusters(store: ViewStore, on: date) -> dict[str, str]:
    """institution_id -> the cluster (klynge) it belongs to on `on`; institutions in no cluster then are
    left out. `store` is a view store (live, or as of a recorded time: projections.pointintime)."""
    assignments: dict[str, list[tuple[date, str | None]]] = {}
    for row in _select(store, CLUSTERS, {}, ("institution_id", "effective_from"), ranges={"effective_from": (None, on)}):
        assignments.setdefault(row["institution_id"], []).append((row["effective_from"], row["cluster"]))
    found = {inst: cluster_on(dated, on) for inst, dated in assignments.items()}
    return {inst: cluster for inst, cluster in found.items() if cluster is not None}


def cluster_members(store: ViewStore, cluster: str, on: date) -> set[str]:
    """The institutions that belong to `cluster` on `on`."""
    return {inst for inst, c in institution_clusters(store, on).items() if c == cluster}


def institutions_page(store: ViewStore, *, on: date, q: str | None = None, district: str | None = None,
                      kind: str | None = None, cluster: str | None = None, limit: int = 100, offset: int = 0) -> Page:
    """Institutions in name order, filtered by a part of the name (any case), district, kind and the
    cluster they belong to on `on`; each row names that cluster."""
    ph = store.placeholder
    clusters = institution_clusters(store, on)
    clauses, params = [], []
    if cluster is not None:
        members = sorted(inst for inst, c in clusters.items() if c == cluster)
        if not members:
            return Page([], 0, limit, offset)
        clauses.append(f"institution_id IN ({', '.join([ph] * len(members))})")
        params.extend(members)
    for column, value in (("district", district), ("kind", kind)):
        if value is not None:
            clauses.append(f"{column} = {ph}")
            params.append(value)
    if q:
        clauses.append(f"LOWER(name) LIKE {ph} ESCAPE '\\'")
        params.append(_like(q))
    where = " WHERE " + " AND ".join(clauses) if clauses else ""
    columns = ", ".join(INSTITUTIONS.column_names)
    rows = store.query(f"SELECT {columns} FROM institutions{where} ORDER BY name, institution_id "
                       f"LIMIT {int(limit)} OFFSET {int(offset)}", tuple(params))
    total = int(store.query(f"SELECT COUNT(*) FROM institutions{where}", tuple(params))[0][0])
    items = [store.decode_row(INSTITUTIONS, r) for r in rows]
    return Page([{**r, "cluster": clusters.get(r["institution_id"])} for r in items], total, limit, offset)


def booked_children(store: ViewStore, institution_id: str, *, from_month: str | None = None,
                    to_month: str | None = None) -> list[dict[str, Any]]:
    """How many children hold a seat in the institution, per first and last month, age group and pool,
    among the seats held on a day from `from_month` to `to_month`: counts only, no child or household
    (what a cluster leader plans staff from). A seat given up before its first day holds none."""
    spans = _select(store, SPANS, {"institution_id": institution_id}, ("booking_id", "segment"))
    counts: Counter = Counter()
    for s in spans:
        first, last = s["first_day"], s["last_day"]
        start, end = f"{first:%Y-%m}", f"{last:%Y-%m}"
        if last < first or (from_month and end < from_month) or (to_month and start > to_month):
            continue
        counts[(start, end, s["age_group"], s["pool"])] += 1
    return [{"age_group": g, "pool": p, "start_month": a, "end_month": z, "children": n}
            for (a, z, g, p), n in sorted(counts.items())]


def child_ranks(store: ViewStore, child_id: str) -> list[Row]:
    """The child's rows on the waiting lists: institution, age group, rank, wish number, dates."""
    return _select(store, WAITING_LIST, {"child_id": child_id}, ("age_group", "wish_no"))


def household_children(store: ViewStore, household_id: str) -> list[Row]:
    return _select(store, CHILD_HOUSEHOLD, {"household_id": household_id}, ("birth_date", "child_id"))


def statement_months(store: ViewStore, household_id: str) -> list[dict[str, Any]]:
    return [{"month": r["month"], "total_ore": r["total_ore"], "issued": bool(r["issued"])}
            for r in _select(store, STATEMENTS, {"household_id": household_id}, ("month",))]


def offer_child(store: ViewStore, offer_id: str) -> str | None:
    rows = _select(store, OFFER_CHILD, {"offer_id": offer_id}, ("offer_id",))
    return rows[0]["child_id"] if rows else None


def district_waiting_list(store: ViewStore, *, district: str, age_group: str | None = None, limit: int = 100,
                          offset: int = 0) -> Page:
    """The children of a district waiting for a place, in the waiting-list order (person-level)."""
    where = {"district": district, "age_group": age_group}
    rows = _select(store, WAITING_LIST_DISTRICT, where, ("age_group", "rank"), limit=limit, offset=offset)
    return Page(rows, _count(store, WAITING_LIST_DISTRICT, where), limit, offset)
