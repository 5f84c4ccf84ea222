"""Reading the billing views' facts table (`*_facts`: entity, id, owner, month, data) by household:
what `working.Households` needs of a view store, on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any, Iterator


from projections.billing.tables import SUPERSEDED_STATE
from projections.stores import OlderState
from projections.tables import Row, Table

_CHUNK = 500  # ids per statement on SQLite (well under its limit of bound parameters)
_COLUMNS = "entity, id, owner, month, data"


def _by_ids(store: Any, sql: str, ids: list[str], params: tuple = ()) -> Iterator[tuple]:
    """Run `sql` (its `{ids}` the test on a column) for the ids, in chunks on SQLite; `params` follow the ids."""
    if not ids:
        return
    if store.dialect == "postgres":
        yield from store.conn.execute(sql.format(ids="= ANY(%s)"), (list(ids), *params)).fetchall()
        return
    for i in range(0, len(ids), _CHUNK):
        chunk = ids[i:i + _CHUNK]
        yield from store.conn.execute(sql.format(ids=f"IN ({', '.join('?' for _ in chunk)})"),
                                      (*chunk, *params)).fetchall()


def _ph(store: Any) -> str:
    return store.placeholder


def _row(record: tuple) -> Row:
    return dict(zip(("entity", "id", "owner", "month", "data"), record))


def rows_of(store: Any, table: Table, prefix: str, owners: list[str], since: str) -> Iterator[Row]:
    """The households' facts, of their issued statements those of the months from `since` on."""
    sql = (f"SELECT {_COLUMNS} FROM {prefix}{table.name} WHERE owner {{ids}} "
           f"AND (entity <> 'issued' OR month >= {_ph(store)})")
    return map(_row, _by_ids(store, sql, owners, (since,)))


def issued_between(store: Any, table: Table, prefix: str, owners: list[str], since: str) -> Iterator[Row]:
    sql = (f"SELECT {_COLUMNS} FROM {prefix}{table.name} WHERE owner {{ids}} AND entity = 'issued' "
           f"AND month >= {_ph(store)}")
    return map(_row, _by_ids(store, sql, owners, (since,)))


def latest_issued(store: Any, table: Table, prefix: str, owners: list[str]) -> Iterator[tuple[str, str]]:
    sql = (f"SELECT owner, MAX(month) FROM {prefix}{table.name} WHERE owner {{ids}} AND entity = 'issued' "
           "GROUP BY owner")
    return ((owner, month) for owner, month in _by_ids(store, sql, owners))


def everyones(store: Any, table: Table, prefix: str) -> Iterator[Row]:
    """The facts that are no household's (institutions, capacity, billing runs, basis bookings, the clock)."""
    sql = f"SELECT {_COLUMNS} FROM {prefix}{table.name} WHERE owner = {_ph(store)}"
    return map(_row, store.conn.execute(sql, ("",)).fetchall())


def booking_owner(store: Any, table: Table, prefix: str, booking_id: str) -> str | None:
    found = booking_owners(store, table, prefix, [booking_id])
    return found[0] if found else None


def booking_owners(store: Any, table: Table, prefix: str, booking_ids: list[str]) -> list[str]:
    sql = f"SELECT DISTINCT owner FROM {prefix}{table.name} WHERE entity = 'booking' AND id {{ids}}"
    return [owner for owner, in _by_ids(store, sql, booking_ids)]


def booked_from(store: Any, table: Table, prefix: str, month: str) -> list[str]:
    """The households with a booking holding days in `month` or later (`month`: its last month)."""
    sql = f"SELECT DISTINCT owner FROM {prefix}{table.name} WHERE entity = 'booking' AND month >= {_ph(store)}"
    return [owner for owner, in store.conn.execute(sql, (month,)).fetchall()]


def owners(store: Any, table: Table, prefix: str) -> list[str]:
    sql = f"SELECT DISTINCT owner FROM {prefix}{table.name} WHERE owner <> {_ph(store)}"
    return [owner for owner, in store.conn.execute(sql, ("",)).fetchall()]


def booked_at(store: Any, table: Table, prefix: str, institution: str) -> list[str]:
    """The households with a booking at the institution (a rare question: an institution's cost
    changed). The JSON is written with sorted keys and no spaces (working.state_row)."""
    pattern = '%"institution":"' + institution.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + '"%'
    sql = (f"SELECT DISTINCT owner FROM {prefix}{table.name} WHERE entity = 'booking' "
           f"AND data LIKE {_ph(store)} ESCAPE '\\'")
    return [owner for owner, in store.conn.execute(sql, (pattern,)).fetchall()]


def has_rows(store: Any, name: str) -> bool:
    return bool(store.conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchall())


def refuse_older_state(store: Any, table: Table, prefix: str) -> None:
    """Before the facts were read per household they were kept in another table (no owner column):
    such a store needs a rebuild once. Once the new table holds the state, the old one goes."""
    older = f"{prefix}{SUPERSEDED_STATE[table.name]}"
    if store.relation_kind(older) != "table":
        return
    if has_rows(store, older) and not has_rows(store, f"{prefix}{table.name}"):
        raise OlderState(f"the billing views were projected by an older plads ({older}); run `plads rebuild` once")
    store.conn.execute(f"DROP TABLE {older}")
