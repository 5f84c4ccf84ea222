"""View tables: their shape, and a keyed in-memory working set with change tracking.

Views fold events into Python state held in `Keyed` tables; the engine asks for
the changes after each page and writes them together with the position.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Iterable

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
    # Rows the view computes from its other state: checkpoints leave them out, and a view restored
    # from a checkpoint derives them again.
    derived: bool = False
    # The key column that owns the rows (a household, say): a view replaces one owner's rows at a
    # time, so a live projector loads an owner's rows only while it derives them again, never the
    # whole table (millions of statement lines at city scale). Implies derived.
    partition: str | None = None
    # SQL views over this table, made and dropped with it (in the same store, with the same
    # prefix): rows stored compactly here (runs of months) read under their documented names.
    views: tuple["Table", ...] = ()
    # A SQL view (one of a table's `views`): its SELECT, given the dialect and the prefix of the
    # tables it reads. Its columns and key are what it shows.
    select: Callable[[str, str], str] | None = None

    def __post_init__(self) -> None:
        if self.partition is not None:
            if self.partition not in self.key:
                raise ValueError(f"{self.name}: the partition column {self.partition} must be part of the key")
            object.__setattr__(self, "derived", True)

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
        # Partitioned tables: the keys of each owner's rows held here.
        self._owner_at = table.key.index(table.partition) if table.partition else None
        self._by_owner: dict[Any, set[tuple]] = {}

    def load(self, rows: Iterable[Row]) -> None:
        for row in rows:
            key = self.table.key_of(row)
            self.rows[key] = row
            if self._owner_at is not None:
                self._by_owner.setdefault(key[self._owner_at], set()).add(key)

    def owned(self, owner: Any) -> set[tuple]:
        """The keys of `owner`'s rows held here (a partitioned table)."""
        return set(self._by_owner.get(owner, ()))

    def owned_rows(self, owner: Any) -> list[Row]:
        """`owner`'s rows held here (a partitioned table)."""
        return [self.rows[key] for key in self._by_owner.get(owner, ())]

    def release(self, owners: Iterable[Any]) -> None:
        """Forget the owners' unchanged rows (a partitioned table whose rows live in the store);
        changed rows stay until their changes are taken."""
        for owner in owners:
            for key in self._by_owner.pop(owner, ()):
                if key not in self._dirty:
                    del self.rows[key]

    def evict(self) -> None:
        """Forget every row (after the changes were taken): the store holds them."""
        assert not (self._dirty or self._deleted or self._appended), "evicting rows with changes not taken"
        self.rows, self._by_owner = {}, {}

    def get(self, *key: Any) -> Row | None:
        return self.rows.get(key)

    def put(self, row: Row) -> Row:
        key = self.table.key_of(row)
        self.rows[key] = row
        self._dirty.add(key)
        self._deleted.discard(key)
        if self._owner_at is not None:
            self._by_owner.setdefault(key[self._owner_at], set()).add(key)
        return row

    def touch(self, row: Row) -> None:
        """Mark a row changed in place."""
        self._dirty.add(self.table.key_of(row))

    def delete(self, *key: Any) -> None:
        if self.rows.pop(key, None) is not None or key in self._dirty:
            self._deleted.add(key)
        self._dirty.discard(key)
        if self._owner_at is not None:
            keys = self._by_owner.get(key[self._owner_at])
            if keys is not None:
                keys.discard(key)
                if not keys:
                    del self._by_owner[key[self._owner_at]]

    def delete_stored(self, *key: Any) -> None:
        """Delete a row whether held here or not: the store may hold it (a partitioned table's
        rows are read only from a month on, say)."""
        self.delete(*key)
        self._deleted.add(key)

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
