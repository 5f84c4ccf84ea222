"""The PostgreSQL store: views in the ledger's schema; large pages through COPY into staging tables."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterable, Iterator, Mapping

from projections.stores.base import ANALYST_ROLE, POSITIONS, STALLS, PositionMoved, ViewStore, writing_to
from projections.tables import BLOB, BOOL, DATE, INT, TEXT, TIMESTAMP, Changes, Row, Table

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
                   since: tuple[str, Any] | None = None, by: str | None = None) -> Iterator[Row]:
        names = table.column_names
        after = f" AND {since[0]} >= %s" if since else ""
        with self.conn.cursor() as cur:
            cur.execute(f"SELECT {', '.join(names)} FROM {prefix}{table.name} WHERE {by or table.partition} = ANY(%s){after}",
                        (list(owners), since[1]) if since else (list(owners),))
            for rec in cur:
                yield dict(zip(names, rec))

    def commit(self, name: str, start: int, position: int, changes: Mapping[Table, Changes],
               prefix: str = "", views: Iterable[str] = ()) -> None:
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
                with writing_to(table):
                    self._write(table, ch, prefix)
            self.conn.execute(
                f"INSERT INTO {POSITIONS} (name, position) VALUES (%s, %s) "
                f"ON CONFLICT (name) DO UPDATE SET position = excluded.position", (name, position))
            self.advance_views(name, views, start, position)

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
