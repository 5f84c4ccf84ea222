"""Look-ups for the API's finding doors: institutions by name, a child's places on the lists,
a household's children and statement months, the child an offer was made to."""

from __future__ import annotations

from typing import Any

from projections.billing import STATEMENTS
from projections.occupancy import INSTITUTIONS
from projections.queries import Page, _count, _select
from projections.stores import ViewStore
from projections.tables import Row
from projections.timeline import CHILD_HOUSEHOLD, OFFER_CHILD
from projections.waitinglists import WAITING_LIST, WAITING_LIST_DISTRICT


def _like(text: str) -> str:
    """A LIKE pattern for `text` anywhere, its own wildcards taken literally."""
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def institutions_page(store: ViewStore, *, q: str | None = None, district: str | None = None,
                      kind: str | None = None, limit: int = 100, offset: int = 0) -> Page:
    """Institutions in name order, filtered by a part of the name (any case), district and kind."""
    ph = store.placeholder
    clauses, params = [], []
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
    return Page([store.decode_row(INSTITUTIONS, r) for r in rows], total, limit, offset)


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
