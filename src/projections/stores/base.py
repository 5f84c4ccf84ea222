"""Where views live: the ledger's own database (SQLite file or PostgreSQL schema); what every store does.

A store creates view tables, loads them, and commits one page of view changes
together with the projection's position in a single transaction — the basis of
exactly-once projection. Scratch tables (prefix) serve rebuild and verify.
"""

from __future__ import annotations

import hashlib
import sqlite3
from abc import ABC, abstractmethod
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Iterable, Iterator, Mapping

from ledger.errors import LedgerError
from projections.tables import Changes, Row, Table

POSITIONS = "projection_positions"
STALLS = "projection_stalls"  # a projection that stopped before an event its views cannot take
ANALYST_ROLE = "plads_analyst"



class OlderState(LedgerError):
    """The store holds views as an older plads stored them: they need `plads rebuild` once."""

    status = 503
    title = "Views need a rebuild"

class PositionMoved(RuntimeError):
    """Another projector of the same name committed first: this one's page is stale."""


class RowsRefused(RuntimeError):
    """The database refused a view's rows (a value it cannot hold, say): not an outage, and the
    same rows would be refused again."""

    def __init__(self, table: str, error: BaseException) -> None:
        super().__init__(f"table {table}: {type(error).__name__}: {error}")
        self.table, self.error = table, error


def is_outage(error: BaseException) -> bool:
    """Whether `error` says the database is unreachable or busy (try again later), not that it
    refused what it was given."""
    if isinstance(error, sqlite3.OperationalError):
        return True
    import psycopg

    return isinstance(error, (psycopg.OperationalError, psycopg.InterfaceError))


@contextmanager
def writing_to(table: Table) -> Iterator[None]:
    try:
        yield
    except Exception as e:  # noqa: BLE001 - anything but an outage is about these rows
        if is_outage(e):
            raise
        raise RowsRefused(table.name, e) from e


class ViewStore(ABC):
    dialect: str
    types: dict[str, str]  # column type -> SQL type
    conn: Any

    def ensure(self, tables: Iterable[Table], prefix: str = "") -> None:
        """Create the tables (and their indexes and SQL views) if they do not exist."""
        for t in tables:
            cols = ", ".join(f'"{c}" {self.types[ty]}' for c, ty in t.columns)
            pk = f", PRIMARY KEY ({', '.join(t.key)})" if t.key else ""
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {prefix}{t.name} ({cols}{pk})")
            for i, idx in enumerate(t.indexes):
                self.conn.execute(
                    f"CREATE INDEX IF NOT EXISTS {prefix}{t.name}_i{i} ON {prefix}{t.name} ({', '.join(idx)})")
            self.make_views(t, prefix)

    def older_layout(self, tables: Iterable[Table], prefix: str = "") -> str | None:
        """The name of a table holding rows where one of these tables' SQL views goes, while the
        table the view reads is not there yet: views stored by an older plads (household-months
        before runs), which a projector must not continue (a rebuild puts the view in its place)."""
        for t in tables:
            if not t.views or self.relation_kind(f"{prefix}{t.name}") is not None:
                continue
            for v in t.views:
                name = f"{prefix}{v.name}"
                if self.relation_kind(name) == "table" and self.conn.execute(f"SELECT 1 FROM {name} LIMIT 1").fetchall():
                    return v.name
        return None

    def make_views(self, table: Table, prefix: str = "") -> None:
        """The SQL views over a table. A table of a view's name (a layout before the view) is dropped:
        its rows are derived again into the table the view reads (a rebuild)."""
        for v in table.views:
            assert v.select is not None, f"{v.name} is a SQL view without a SELECT"
            kind = self.relation_kind(f"{prefix}{v.name}")
            if kind == "view":
                continue  # made by this code's rebuild (a swap makes them again): readers are not locked out
            if kind == "table":
                self.conn.execute(f"DROP TABLE {prefix}{v.name}")
            self.conn.execute(f"CREATE VIEW {prefix}{v.name} AS {v.select(self.dialect, prefix)}")

    def drop_views(self, tables: Iterable[Table], prefix: str = "") -> None:
        for t in tables:
            for v in t.views:
                if self.relation_kind(f"{prefix}{v.name}") == "view":
                    self.conn.execute(f"DROP VIEW {prefix}{v.name}")

    @abstractmethod
    def relation_kind(self, name: str) -> str | None:
        """"table", "view" or None: what the schema holds under `name`."""

    def drop(self, tables: Iterable[Table], prefix: str) -> None:
        tables = list(tables)
        self.drop_views(tables, prefix)
        for t in tables:
            self.conn.execute(f"DROP TABLE IF EXISTS {prefix}{t.name}")

    @abstractmethod
    def load(self, table: Table, prefix: str = "") -> Iterator[Row]: ...

    @abstractmethod
    def load_owned(self, table: Table, owners: list[Any], prefix: str = "",
                   since: tuple[str, Any] | None = None, by: str | None = None) -> Iterator[Row]:
        """The rows of a partitioned table whose partition column (or column `by`, of any table)
        is one of `owners` (and, given `since` = (column, value), whose column is at least that value)."""

    def group_totals(self, table: Table, group: tuple[str, ...], measures: tuple[str, ...],
                     prefix: str = "") -> Iterator[tuple[tuple, int, dict[str, int]]]:
        """Per group of `group` columns: the group, its row count and the sums of `measures` (integers)."""
        sums = ", ".join(f"CAST(COALESCE(SUM({m}), 0) AS BIGINT)" for m in measures)
        sql = f"SELECT {', '.join(group)}, COUNT(*), {sums} FROM {prefix}{table.name} GROUP BY {', '.join(group)}"
        n = len(group)
        for rec in self.conn.execute(sql).fetchall():
            yield tuple(rec[:n]), int(rec[n]), {m: int(v) for m, v in zip(measures, rec[n + 1:])}

    def group_total(self, table: Table, group: tuple[str, ...], values: tuple, measures: tuple[str, ...],
                    prefix: str = "") -> tuple[int, dict[str, int]]:
        """One group's row count and sums of `measures` (what `group_totals` gives every group)."""
        sums = ", ".join(f"CAST(COALESCE(SUM({m}), 0) AS BIGINT)" for m in measures)
        where = " AND ".join(f"{c} = {self.placeholder}" for c in group)
        rec = self.conn.execute(f"SELECT COUNT(*), {sums} FROM {prefix}{table.name} WHERE {where}", values).fetchone()
        return int(rec[0]), {m: int(v) for m, v in zip(measures, rec[1:])}

    placeholder: str  # the driver's parameter marker

    def position(self, name: str) -> int:
        row = self.conn.execute(f"SELECT position FROM {POSITIONS} WHERE name = {self.placeholder}",
                                (name,)).fetchone()
        return row[0] if row else 0

    def stall(self, name: str) -> tuple[int, str, str] | None:
        """Where projection `name` stopped, while it has not got past it: (position, view, error)."""
        p = self.placeholder
        row = self.conn.execute(
            f"SELECT s.position, s.view, s.error FROM {STALLS} s LEFT JOIN {POSITIONS} p ON p.name = s.name "
            f"WHERE s.name = {p} AND COALESCE(p.position, 0) < s.position", (name,)).fetchone()
        return (row[0], row[1], row[2]) if row else None

    def record_stall(self, name: str, position: int, view: str, error: str) -> None:
        """Projection `name` cannot get past `position` (it holds until the views get past it)."""
        p = self.placeholder
        error = error[:1000].encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
        self.conn.execute(f"INSERT INTO {STALLS} (name, position, view, error) VALUES ({p}, {p}, {p}, {p}) "
                          "ON CONFLICT (name) DO UPDATE SET position = excluded.position, view = excluded.view, "
                          "error = excluded.error", (name, position, view, error))

    def query(self, sql: str, params: tuple = ()) -> list[tuple]:
        """Run a read-only query (used by projections.queries)."""
        return self.conn.execute(sql, params).fetchall()

    def query_write(self, sql: str, params: tuple = ()) -> None:
        self.conn.execute(sql, params)

    @abstractmethod
    def commit(self, name: str, start: int, position: int, changes: Mapping[Table, Changes],
               prefix: str = "", views: Iterable[str] = ()) -> None:
        """Write a page's changes and move the position from `start` to `position`, in one
        transaction; PositionMoved (nothing written) unless the stored position is still `start`.
        `views`: the views that took the page, whose own positions move with it (`advance_views`)."""

    @abstractmethod
    def upsert(self, table: Table, rows: list[Row]) -> None:
        """Insert or replace rows by key, in one transaction."""

    @abstractmethod
    def bulk_insert(self, table: Table, rows: Iterable[Row], prefix: str) -> None:
        """Insert rows into a fresh (prefixed) table, in bulk; used by rebuild and verify."""

    @abstractmethod
    def swap_in(self, tables: Iterable[Table], prefix: str, name: str, position: int) -> None:
        """Replace the live tables by the prefixed ones and set the position, atomically."""

    @abstractmethod
    def close(self) -> None: ...

    def reset(self, name: str, tables: Iterable[Table]) -> None:
        """Forget a projection: drop its tables and its position (it will start from 0), its views' too."""
        self.drop(tables, "")
        p = self.placeholder
        self.query_write(f"DELETE FROM {POSITIONS} WHERE name = {p} OR substr(name, 1, length({p}) + 1) = {p}",
                         (name, name, f"{name}/"))

    # Each view's own position under a projection (`name/view`): it follows the projection's only
    # while the view took every page from 0, so a view projected under the name only some of the
    # time (a projector of fewer views under the same name), or first from a later position, stays
    # behind. Readers that need a view's rows whole (the budget audit) check it (`views_current`).
    # Moved in the page's own transaction (`commit(..., views=)`), so a crash leaves none behind.

    def advance_views(self, name: str, views: Iterable[str], start: int, position: int) -> None:
        keys = [f"{name}/{view}" for view in views]
        if not keys:
            return
        p = self.placeholder
        self.query_write(f"UPDATE {POSITIONS} SET position = {p} WHERE position = {p} "
                         f"AND name IN ({', '.join([p] * len(keys))})", (position, start, *keys))
        for key in keys if start == 0 else ():
            self.query_write(f"INSERT INTO {POSITIONS} (name, position) VALUES ({p}, {p}) "
                             "ON CONFLICT (name) DO NOTHING", (key, position))

    def set_views(self, name: str, views: Iterable[str], position: int) -> None:
        """The views were rebuilt from 0 to `position` (and swapped in)."""
        p = self.placeholder
        for view in views:
            self.query_write(f"INSERT INTO {POSITIONS} (name, position) VALUES ({p}, {p}) "
                             "ON CONFLICT (name) DO UPDATE SET position = excluded.position",
                             (f"{name}/{view}", position))

    def views_current(self, name: str, views: Iterable[str]) -> bool:
        """Whether each view took every page of projection `name` from 0 to where it stands."""
        at = self.position(name)
        return all(self.position(f"{name}/{view}") == at for view in views)

    def decode_row(self, table: Table, record: tuple) -> Row:
        return dict(zip(table.column_names, record))

    # Null-safe comparisons in the dialect (SQL's `=` and `<>` are unknown on NULL).
    same: str
    distinct: str

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        """One consistent read of the store: what a concurrent writer commits meanwhile is not seen."""
        yield

    def _rows(self, sql: str) -> Iterator[tuple]:
        return iter(self.conn.execute(sql))

    def analyze(self, tables: Iterable[Table], prefix: str = "") -> None:
        """Gather the planner's statistics for fresh tables (where the engine needs them)."""

    def compare(self, table: Table, prefix: str, sample: int = 20) -> tuple[dict[str, int], dict[str, list[tuple]]]:
        """The live table against its `prefix` copy, compared in the database row by row and
        streamed (the city's 11 M statement lines do not fit twice in memory). Per kind — missing
        (only in the copy), extra (only live), different (one key, other values) — the number of
        rows and the keys of the first `sample`, decoded as the views read them."""
        if not table.key:
            raise ValueError(f"{table.name} has no key: its rows cannot be compared one by one")
        live, copy = table.name, f"{prefix}{table.name}"
        cols = ", ".join(f"a.{c}" for c in table.column_names)
        on = " AND ".join(f"a.{k} {self.same} b.{k}" for k in table.key)
        queries = {
            "missing": f"SELECT {cols} FROM {copy} a WHERE NOT EXISTS (SELECT 1 FROM {live} b WHERE {on})",
            "extra": f"SELECT {cols} FROM {live} a WHERE NOT EXISTS (SELECT 1 FROM {copy} b WHERE {on})",
        }
        values = [c for c in table.column_names if c not in table.key]
        if values:
            queries["different"] = (f"SELECT {cols} FROM {live} a JOIN {copy} b ON {on} WHERE "
                                    + " OR ".join(f"a.{c} {self.distinct} b.{c}" for c in values))
        counts, samples = {}, {}
        for kind, sql in queries.items():
            n, keys = 0, []
            for record in self._rows(sql):
                if n < sample:
                    keys.append(table.key_of(self.decode_row(table, record)))
                n += 1
            counts[kind], samples[kind] = n, sorted(keys, key=_sortable)
        return counts, samples

    def checksums(self, table: Table, prefix: str = "") -> dict[tuple, str]:
        """Row-level checksums: key -> sha1 of the row's canonical text."""
        out = {}
        for row in self.load(table, prefix):
            text = "\x1f".join(_canonical(row[c]) for c in table.column_names)
            out[table.key_of(row)] = hashlib.sha1(text.encode()).hexdigest()
        return out


def _sortable(key: tuple) -> tuple:
    return tuple((v is not None, str(v) if v is not None else "") for v in key)


def _canonical(value: Any) -> str:
    if value is None:
        return "\x00"
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    return str(value)
