"""Where views live: the ledger's own database (SQLite file or PostgreSQL schema).

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

from projections.tables import BLOB, BOOL, DATE, INT, TEXT, TIMESTAMP, Changes, Row, Table

POSITIONS = "projection_positions"
STALLS = "projection_stalls"  # a projection that stopped before an event its views cannot take
ANALYST_ROLE = "plads_analyst"


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
def _writing(table: Table) -> Iterator[None]:
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
                   since: tuple[str, Any] | None = None) -> Iterator[Row]:
        """The rows of a partitioned table whose partition column is one of `owners` (and, given
        `since` = (column, value), whose column is at least that value)."""

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
               prefix: str = "") -> None:
        """Write a page's changes and move the position from `start` to `position`, in one
        transaction; PositionMoved (nothing written) unless the stored position is still `start`."""

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
        """Forget a projection: drop its tables and its position (it will start from 0)."""
        self.drop(tables, "")
        self.query_write(f"DELETE FROM {POSITIONS} WHERE name = {self.placeholder}", (name,))

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


# -- SQLite ----------------------------------------------------------------------------------

_SQLITE_TYPES = {TEXT: "TEXT", INT: "INTEGER", DATE: "TEXT", BOOL: "INTEGER", TIMESTAMP: "TEXT", BLOB: "BLOB"}


class SQLiteViewStore(ViewStore):
    dialect = "sqlite"
    types = _SQLITE_TYPES
    placeholder = "?"
    same, distinct = "IS", "IS NOT"

    def __init__(self, path: str) -> None:
        self.conn = sqlite3.connect(path, uri=path.startswith("file:"), isolation_level=None,
                                    check_same_thread=False)
        self.conn.execute("PRAGMA journal_mode=WAL")
        self.conn.execute("PRAGMA busy_timeout=30000")
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {POSITIONS} (name TEXT PRIMARY KEY, position INTEGER NOT NULL)")
        self.conn.execute(f"CREATE TABLE IF NOT EXISTS {STALLS} (name TEXT PRIMARY KEY, position INTEGER NOT NULL, "
                          "view TEXT NOT NULL, error TEXT NOT NULL)")

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        self.conn.execute("BEGIN")  # in WAL mode a read transaction sees one state of the file
        try:
            yield
        finally:
            self.conn.execute("COMMIT")

    def load(self, table: Table, prefix: str = "") -> Iterator[Row]:
        cur = self.conn.execute(f"SELECT {', '.join(table.column_names)} FROM {prefix}{table.name}")
        return _decoded(table, cur)

    def relation_kind(self, name: str) -> str | None:
        row = self.conn.execute("SELECT type FROM sqlite_master WHERE name = ? AND type IN ('table', 'view')",
                                (name,)).fetchone()
        return row[0] if row else None

    def decode_row(self, table: Table, record: tuple) -> Row:
        return next(_decoded(table, [record]))

    def load_owned(self, table: Table, owners: list[Any], prefix: str = "",
                   since: tuple[str, Any] | None = None) -> Iterator[Row]:
        after = f" AND {since[0]} >= ?" if since else ""
        for i in range(0, len(owners), 500):  # well under SQLite's limit of bound parameters
            chunk = [_sqlite_value(o) for o in owners[i:i + 500]]
            cur = self.conn.execute(f"SELECT {', '.join(table.column_names)} FROM {prefix}{table.name} "
                                    f"WHERE {table.partition} IN ({', '.join('?' for _ in chunk)}){after}",
                                    chunk + ([_sqlite_value(since[1])] if since else []))
            yield from _decoded(table, cur)

    def commit(self, name: str, start: int, position: int, changes: Mapping[Table, Changes],
               prefix: str = "") -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            # Exactly once: the position moves forward in the same transaction, or not at all.
            current = self.position(name)
            if current != start:
                raise PositionMoved(f"projection {name} is at {current}, not {start}; refusing to apply "
                                    f"{start}..{position}")
            for table, ch in changes.items():
                with _writing(table):
                    self._write(table, ch, prefix)
            c.execute(f"INSERT INTO {POSITIONS} (name, position) VALUES (?, ?) "
                      f"ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _write(self, table: Table, ch: Changes, prefix: str) -> None:
        names = table.column_names
        # Only dates, times and booleans need converting; text and integers go as they are.
        convert = [i for i, (_, ty) in enumerate(table.columns) if ty in (DATE, TIMESTAMP, BOOL)]

        def encode(r: Row) -> list[Any]:
            values = list(map(r.get, names))
            for i in convert:
                if values[i] is not None:
                    values[i] = _sqlite_value(values[i])
            return values

        placeholders = ", ".join("?" for _ in names)
        if ch.deletes:
            where = " AND ".join(f"{k} = ?" for k in table.key)
            self.conn.executemany(f"DELETE FROM {prefix}{table.name} WHERE {where}",
                                  [tuple(_sqlite_value(v) for v in key) for key in ch.deletes])
        rows = ch.upserts + ch.appends
        if rows:
            verb = "INSERT" if table.append_only and not ch.upserts else "INSERT OR REPLACE"
            self.conn.executemany(
                f"{verb} INTO {prefix}{table.name} ({', '.join(names)}) VALUES ({placeholders})",
                [encode(r) for r in rows])

    def upsert(self, table: Table, rows: list[Row]) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            self._write(table, Changes(upserts=rows), "")
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def bulk_insert(self, table: Table, rows: Iterable[Row], prefix: str) -> None:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            self._write(table, Changes(appends=list(rows)), prefix)
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def swap_in(self, tables: Iterable[Table], prefix: str, name: str, position: int) -> None:
        c = self.conn
        tables = list(tables)
        c.execute("BEGIN IMMEDIATE")
        try:
            # A view over a table in the swap goes first: a rename checks every view of the schema.
            self.drop_views(tables)
            self.drop_views(tables, prefix)
            for t in tables:
                c.execute(f"DROP TABLE IF EXISTS {t.name}")
                c.execute(f"ALTER TABLE {prefix}{t.name} RENAME TO {t.name}")
                for i, _ in enumerate(t.indexes):
                    # SQLite keeps index names on rename; recreate them under the live names.
                    c.execute(f"DROP INDEX IF EXISTS {prefix}{t.name}_i{i}")
            self.ensure(tables)
            c.execute(f"INSERT INTO {POSITIONS} (name, position) VALUES (?, ?) "
                      f"ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def close(self) -> None:
        self.conn.close()


def _sqlite_value(v: Any) -> Any:
    if isinstance(v, (date, datetime)):
        return v.isoformat()
    if isinstance(v, bool):
        return int(v)
    return v


def _decoded(table: Table, records: Iterable[tuple]) -> Iterator[Row]:
    """SQLite records as the views' rows: dates, booleans and timestamps decoded from their storage."""
    names = table.column_names
    decoders = [_sqlite_decoder(ty) for _, ty in table.columns]
    for rec in records:
        yield {n: (d(v) if v is not None else None) for n, d, v in zip(names, decoders, rec)}


def _sqlite_decoder(ty: str):
    if ty == DATE:
        return date.fromisoformat
    if ty == TIMESTAMP:
        return datetime.fromisoformat
    if ty == BOOL:
        return bool
    return lambda v: v


# -- PostgreSQL --------------------------------------------------------------------------------

_COPY_FROM = 200  # rows: from this many, upserts and deletes go through a COPY into a staging table
_DDL_LOCK = 0x706C616473  # "plads": the advisory lock for the views' catalog changes
_PG_TYPES = {TEXT: "text", INT: "bigint", DATE: "date", BOOL: "boolean", TIMESTAMP: "timestamptz", BLOB: "bytea"}


class PostgresViewStore(ViewStore):
    dialect = "postgres"
    types = _PG_TYPES
    placeholder = "%s"
    # Keys are primary-key columns, never NULL: plain `=` lets the planner hash or merge the join.
    same, distinct = "=", "IS DISTINCT FROM"

    def __init__(self, conninfo: str, schema: str | None) -> None:
        import psycopg

        self.schema = schema or "public"
        self.conn = psycopg.connect(conninfo, autocommit=True)
        with self._ddl_lock():  # stores opened at once on a fresh schema (API workers) met duplicate types
            self.conn.execute(f'CREATE SCHEMA IF NOT EXISTS "{self.schema}"')
            self.conn.execute(f'SET search_path TO "{self.schema}"')  # for the session: the transaction commits
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {POSITIONS} (name text PRIMARY KEY, position bigint NOT NULL)")
            self.conn.execute(f"CREATE TABLE IF NOT EXISTS {STALLS} (name text PRIMARY KEY, position bigint NOT NULL, "
                              "view text NOT NULL, error text NOT NULL)")

    @contextmanager
    def _ddl_lock(self) -> Iterator[None]:
        """Catalog changes serialised across processes (a follower and an API starting together
        would otherwise meet "tuple concurrently updated" on the shared role or a new table)."""
        with self.conn.transaction():
            self.conn.execute("SELECT pg_advisory_xact_lock(%s)", (_DDL_LOCK,))
            yield

    def ensure(self, tables: Iterable[Table], prefix: str = "") -> None:
        with self._ddl_lock():
            super().ensure(tables, prefix)

    def relation_kind(self, name: str) -> str | None:
        row = self.conn.execute("SELECT c.relkind FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
                                "WHERE n.nspname = %s AND c.relname = %s", (self.schema, name)).fetchone()
        return {"r": "table", "v": "view"}.get(row[0]) if row else None

    @contextmanager
    def snapshot(self) -> Iterator[None]:
        with self.conn.transaction():
            self.conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield

    def _rows(self, sql: str) -> Iterator[tuple]:
        # A server-side cursor (inside the snapshot's transaction): rows arrive in batches, not all at once.
        with self.conn.cursor(name="plads_compare") as cur:
            cur.itersize = 10_000
            cur.execute(sql)
            yield from cur

    def analyze(self, tables: Iterable[Table], prefix: str = "") -> None:
        for t in tables:
            self.conn.execute(f"ANALYZE {prefix}{t.name}")

    def grant_analyst(self, tables: Iterable[Table]) -> None:
        """The analysts' read-only role sees the aggregate views, never person-level rows or events."""
        with self._ddl_lock():
            if not self.conn.execute("SELECT 1 FROM pg_roles WHERE rolname = %s", (ANALYST_ROLE,)).fetchone():
                self.conn.execute(f"CREATE ROLE {ANALYST_ROLE} NOLOGIN")
            self.conn.execute(f'GRANT USAGE ON SCHEMA "{self.schema}" TO {ANALYST_ROLE}')
            for t in tables:
                for readable in (t, *t.views):
                    if readable.analyst:
                        self.conn.execute(f"GRANT SELECT ON {readable.name} TO {ANALYST_ROLE}")

    def load(self, table: Table, prefix: str = "") -> Iterator[Row]:
        names = table.column_names
        with self.conn.cursor(name=None) as cur:
            cur.execute(f"SELECT {', '.join(names)} FROM {prefix}{table.name}")
            for rec in cur:
                yield dict(zip(names, rec))

    def load_owned(self, table: Table, owners: list[Any], prefix: str = "",
                   since: tuple[str, Any] | None = None) -> Iterator[Row]:
        names = table.column_names
        after = f" AND {since[0]} >= %s" if since else ""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(names)} FROM {prefix}{table.name} WHERE {table.partition} = ANY(%s){after}",
                        (list(owners), since[1]) if since else (list(owners),))
            for rec in cur:
                yield dict(zip(names, rec))

    def commit(self, name: str, start: int, position: int, changes: Mapping[Table, Changes],
               prefix: str = "") -> None:
        with self.conn.transaction():
            # Row lock on the position: a second projector of the same name waits, then sees it moved.
            lock = f"SELECT position FROM {POSITIONS} WHERE name = %s FOR UPDATE"
            row = self.conn.execute(lock, (name,)).fetchone()
            if row is None:
                # Nothing to lock yet (fresh views): make the row — a projector doing the same at
                # once waits on it here, then locks the committed row and sees it moved.
                self.conn.execute(f"INSERT INTO {POSITIONS} (name, position) VALUES (%s, 0) "
                                  f"ON CONFLICT (name) DO NOTHING", (name,))
                row = self.conn.execute(lock, (name,)).fetchone()
            current = row[0]
            if current != start:
                raise PositionMoved(f"projection {name} is at {current}, not {start}; refusing to apply "
                                    f"{start}..{position}")
            for table, ch in changes.items():
                with _writing(table):
                    self._write(table, ch, prefix)
            self.conn.execute(
                f"INSERT INTO {POSITIONS} (name, position) VALUES (%s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))

    def _write(self, table: Table, ch: Changes, prefix: str) -> None:
        names = table.column_names
        full = f"{prefix}{table.name}"
        cols = ", ".join(names)
        with self.conn.cursor() as cur:
            if ch.deletes:
                where = " AND ".join(f"{k} = %s" for k in table.key)
                if len(ch.deletes) < _COPY_FROM:
                    cur.executemany(f"DELETE FROM {full} WHERE {where}", ch.deletes)
                else:  # many keys: COPY them into a temporary table and delete in one statement
                    keys = self._staging(cur, table, full, table.key)
                    with cur.copy(f"COPY {keys} ({', '.join(table.key)}) FROM STDIN") as copy:
                        for key in ch.deletes:
                            copy.write_row(key)
                    match = " AND ".join(f"t.{k} = s.{k}" for k in table.key)
                    cur.execute(f"DELETE FROM {full} t USING {keys} s WHERE {match}")
                    cur.execute(f"TRUNCATE {keys}")
            if ch.upserts:
                update = ", ".join(f"{n} = excluded.{n}" for n in names if n not in table.key)
                conflict = f"ON CONFLICT ({', '.join(table.key)}) DO " + (f"UPDATE SET {update}" if update else "NOTHING")
                rows = [tuple(map(r.get, names)) for r in ch.upserts]
                if len(rows) < _COPY_FROM:
                    vals = ", ".join("%s" for _ in names)
                    cur.executemany(f"INSERT INTO {full} ({cols}) VALUES ({vals}) {conflict}", rows)
                else:  # many rows: COPY into a temporary table, then one INSERT … ON CONFLICT
                    staged = self._staging(cur, table, full, names)
                    with cur.copy(f"COPY {staged} ({cols}) FROM STDIN") as copy:
                        for row in rows:
                            copy.write_row(row)
                    cur.execute(f"INSERT INTO {full} ({cols}) SELECT {cols} FROM {staged} {conflict}")
                    cur.execute(f"TRUNCATE {staged}")
            if ch.appends:
                with cur.copy(f"COPY {full} ({', '.join(names)}) FROM STDIN") as copy:
                    for r in ch.appends:
                        copy.write_row(tuple(map(r.get, names)))

    def _staging(self, cur: Any, table: Table, full: str, columns: tuple[str, ...]) -> str:
        """A temporary table (this connection's) with `columns` of `full`, created on first use."""
        # Made again when missing: a rolled-back page takes a table made in it along.
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS staging_{full}_{len(columns)} AS "
                    f"SELECT {', '.join(columns)} FROM {full} WITH NO DATA")
        return f"pg_temp.staging_{full}_{len(columns)}"

    def upsert(self, table: Table, rows: list[Row]) -> None:
        with self.conn.transaction():
            self._write(table, Changes(upserts=rows), "")

    def bulk_insert(self, table: Table, rows: Iterable[Row], prefix: str) -> None:
        """COPY rows into a fresh (scratch) table; used by rebuild."""
        names = table.column_names
        with self.conn.cursor() as cur, cur.copy(
                f"COPY {prefix}{table.name} ({', '.join(names)}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(tuple(map(r.get, names)))

    def swap_in(self, tables: Iterable[Table], prefix: str, name: str, position: int) -> None:
        tables = list(tables)
        with self.conn.transaction():
            # A view depends on the table it reads: it goes first and is made again over the new one.
            self.drop_views(tables)
            self.drop_views(tables, prefix)
            for t in tables:
                self.conn.execute(f"DROP TABLE IF EXISTS {t.name}")
                self.conn.execute(f"ALTER TABLE {prefix}{t.name} RENAME TO {t.name}")
                for i, _ in enumerate(t.indexes):
                    self.conn.execute(f"ALTER INDEX IF EXISTS {prefix}{t.name}_i{i} RENAME TO {t.name}_i{i}")
                if t.key:
                    self.conn.execute(f"ALTER TABLE {t.name} RENAME CONSTRAINT {prefix}{t.name}_pkey TO {t.name}_pkey")
                self.make_views(t)
            self.conn.execute(
                f"INSERT INTO {POSITIONS} (name, position) VALUES (%s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))
        self.grant_analyst(tables)  # the swapped-in tables are new: grant again
        # Fresh tables have no statistics yet: without them the planner reads a household's
        # statement lines by a scan of all 11 M (the follower's reads after a city rebuild).
        self.analyze(tables)

    def close(self) -> None:
        self.conn.close()
