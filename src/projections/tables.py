"""View tables: their shape, and a keyed in-memory working set with change tracking.

Views fold events into Python state held in `Keyed` tables; the engine asks for
the changes after each page and writes them together with the position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable

Row = dict[str, Any]

# Column types, mapped per dialect by the stores.
TEXT, INT, DATE, BOOL, TIMESTAMP, BLOB = "text", "int", "date", "bool", "timestamp", "blob"


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[tuple[str, str], ...]
    key: tuple[str, ...]
    append_only: bool = False  # rows are only inserted (a log): never loaded back into memory
    indexes: tuple[tuple[str, ...], ...] = ()
    doc: str = ""
    analyst: bool = False  # readable by the analysts' read-only role (no person-level rows)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    def key_of(self, row: Row) -> tuple:
        return tuple(row[k] for k in self.key)


@dataclass
class Changes:
    upserts: list[Row] = field(default_factory=list)
    deletes: list[tuple] = field(default_factory=list)
    appends: list[Row] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.upserts or self.deletes or self.appends)


class Keyed:
    """A table's rows in memory, keyed by primary key, remembering what changed."""

    def __init__(self, table: Table) -> None:
        self.table = table
        self.rows: dict[tuple, Row] = {}
        self._dirty: set[tuple] = set()
        self._deleted: set[tuple] = set()
        self._appended: list[Row] = []

    def load(self, rows: Iterable[Row]) -> None:
        for row in rows:
            self.rows[self.table.key_of(row)] = row

    def get(self, *key: Any) -> Row | None:
        return self.rows.get(key)

    def put(self, row: Row) -> Row:
        key = self.table.key_of(row)
        self.rows[key] = row
        self._dirty.add(key)
        self._deleted.discard(key)
        return row

    def touch(self, row: Row) -> None:
        """Mark a row changed in place."""
        self._dirty.add(self.table.key_of(row))

    def delete(self, *key: Any) -> None:
        if self.rows.pop(key, None) is not None or key in self._dirty:
            self._deleted.add(key)
        self._dirty.discard(key)

    def append(self, row: Row) -> None:
        self._appended.append(row)

    def values(self):
        return self.rows.values()

    def take_changes(self) -> Changes:
        changes = Changes(
            upserts=[self.rows[k] for k in self._dirty if k in self.rows],
            deletes=list(self._deleted),
            appends=self._appended,
        )
        self._dirty, self._deleted, self._appended = set(), set(), []
        return changes
