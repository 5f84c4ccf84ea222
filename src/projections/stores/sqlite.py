"""The SQLite store: views in the ledger's own file (WAL), one transaction per page."""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from datetime import date, datetime
from typing import Any, Iterable, Iterator, Mapping

from projections.stores.base import POSITIONS, STALLS, PositionMoved, ViewStore, writing_to
from projections.tables import BLOB, BOOL, DATE, INT, TEXT, TIMESTAMP, Changes, Row, Table

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
                   since: tuple[str, Any] | None = None, by: str | None = None) -> Iterator[Row]:
        after = f" AND {since[0]} >= ?" if since else ""
        for i in range(0, len(owners), 500):  # well under SQLite's limit of bound parameters
            chunk = [_sqlite_value(o) for o in owners[i:i + 500]]
            cur = self.conn.execute(f"SELECT {', '.join(table.column_names)} FROM {prefix}{table.name} "
                                    f"WHERE {by or table.partition} IN ({', '.join('?' for _ in chunk)}){after}",
                                    chunk + ([_sqlite_value(since[1])] if since else []))
            yield from _decoded(table, cur)

    @contextmanager
    def _transaction(self) -> Iterator[None]:
        c = self.conn
        c.execute("BEGIN IMMEDIATE")
        try:
            yield
            c.execute("COMMIT")
        except BaseException:
            c.execute("ROLLBACK")
            raise

    def _set_position(self, name: str, position: int) -> None:
        self.conn.execute(f"INSERT INTO {POSITIONS} (name, position) VALUES (?, ?) "
                          f"ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))

    def commit(self, name: str, start: int, position: int, changes: Mapping[Table, Changes],
               prefix: str = "", views: Iterable[str] = ()) -> None:
        with self._transaction():
            # Exactly once: the position moves forward in the same transaction, or not at all.
            current = self.position(name)
            if current != start:
                raise PositionMoved(f"projection {name} is at {current}, not {start}; refusing to apply "
                                    f"{start}..{position}")
            for table, ch in changes.items():
                with writing_to(table):
                    self._write(table, ch, prefix)
            self._set_position(name, position)
            self.advance_views(name, views, start, position)

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
        with self._transaction():
            self._write(table, Changes(upserts=rows), "")

    def bulk_insert(self, table: Table, rows: Iterable[Row], prefix: str) -> None:
        with self._transaction():
            self._write(table, Changes(appends=list(rows)), prefix)

    def swap_in(self, tables: Iterable[Table], prefix: str, name: str, position: int) -> None:
        c = self.conn
        tables = list(tables)
        with self._transaction():
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
            self._set_position(name, position)

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
