"""Checkpoints: each view's working state saved at a log position, where point-in-time replay starts.

The follower saves them as it passes a multiple of its interval (`Projector(checkpoint_every=…)`);
`projections.pointintime` restores the nearest one and folds on from there. Below both, so the
engine and point-in-time replay share it without importing each other.
"""

from __future__ import annotations

import pickle
import zlib
from datetime import datetime
from typing import Any, Iterable, Iterator, Protocol, Sequence

from projections.stores import ViewStore
from projections.tables import BLOB, INT, TEXT, TIMESTAMP, Keyed, Row, Table

CHECKPOINTS = Table(
    "view_checkpoints",
    (("view", TEXT), ("position", INT), ("recorded_at", TIMESTAMP), ("state", BLOB)),
    key=("view", "position"),
    doc="Each view's working state at a log position (compressed), where point-in-time replay starts.",
)
# A view whose working state the store holds (the billing facts, read per household; the tables
# other views read as needed) is copied within the database, never through the follower's memory:
# these rows (or those of the table's own copy, `copy_table`), named in `state` by IN_STORE.
CHECKPOINT_FACTS = Table(
    "view_checkpoint_facts",
    (("view", TEXT), ("position", INT), ("entity", TEXT), ("id", TEXT), ("owner", TEXT), ("month", TEXT),
     ("data", TEXT)),
    key=("view", "position", "entity", "id"),
    doc="The working state a store holds for its view (`*_facts` rows), copied at a checkpoint's position.",
)
IN_STORE = "rows in view_checkpoint_facts"  # (or in the table's own copy: copy_table)
_FACT_COLUMNS = tuple(n for n, _ in CHECKPOINT_FACTS.columns[2:])


class Checkpointed(Protocol):
    """What a checkpoint needs of a view (`projections.engine.View` has it)."""

    t: dict[str, Keyed]

    @property
    def checkpoint_name(self) -> str: ...

    def reset(self) -> None: ...

    def start(self, store: Any) -> None: ...

    def rederive(self) -> None: ...

    def held_rows(self, table: Table, store: Any) -> Iterable[Row]: ...

    def held_in_store(self, table: Table) -> str | None: ...


def save_checkpoint(store: ViewStore, views: Sequence[Checkpointed], position: int,
                    recorded_at: datetime | None) -> None:
    """Save each view's working state (not its append-only logs, nor the rows it derives from the
    state, which a restore derives again) at `position`."""
    store.ensure([CHECKPOINTS, CHECKPOINT_FACTS])
    rows = []
    for v in views:
        state: dict[str, Any] = {}
        for name, keyed in v.t.items():
            if keyed.table.append_only or keyed.table.derived:
                continue
            stored_as = v.held_in_store(keyed.table)
            if stored_as:
                _copy_in_store(store, v.checkpoint_name, position, keyed.table, stored_as)
                state[name] = IN_STORE
            else:
                state[name] = list(v.held_rows(keyed.table, store))
        rows.append({"view": v.checkpoint_name, "position": position, "recorded_at": recorded_at,
                     "state": zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1)})
    store.upsert(CHECKPOINTS, rows)


def checkpoints(store: ViewStore) -> list[tuple[str, int]]:
    """(view, position) of every saved checkpoint."""
    store.ensure([CHECKPOINTS])
    return [(r[0], int(r[1])) for r in store.query("SELECT view, position FROM view_checkpoints ORDER BY position")]


def restore(store: ViewStore, views: Sequence[Checkpointed], position: int) -> None:
    """Put the views in the state of their checkpoint at `position` (0: empty)."""
    for v in views:
        v.reset()
        if position == 0:
            continue
        ph = store.placeholder
        (blob,), = store.query(f"SELECT state FROM view_checkpoints WHERE view = {ph} AND position = {ph}",
                               (v.checkpoint_name, position))
        # Our own store wrote this blob (save_checkpoint); nothing else writes the table.
        state = pickle.loads(zlib.decompress(bytes(blob)))  # noqa: S301
        for name, rows in state.items():
            if rows == IN_STORE:
                state[name] = _copied_rows(store, v.checkpoint_name, position, v.t[name].table)
        v.start(_Saved(state))  # views rebuild their indexes from the rows in start()
        v.rederive()


def copy_table(table: Table) -> Table:
    """Where a checkpoint copies the rows of a table the store holds for its view: a `*_facts`
    table's into CHECKPOINT_FACTS, any other's into a table of its columns beside view and position."""
    if table.column_names == _FACT_COLUMNS:
        return CHECKPOINT_FACTS
    if {"view", "position"} & set(table.column_names):
        raise TypeError(f"{table.name}: a column named view or position cannot be checkpointed in the store")
    return Table(f"view_checkpoint__{table.name}", (("view", TEXT), ("position", INT), *table.columns),
                 key=("view", "position", *table.key), doc=f"The rows of {table.name} at a checkpoint's position.")


def _copy_in_store(store: ViewStore, view: str, position: int, table: Table, stored_as: str) -> None:
    copy = copy_table(table)
    store.ensure([copy])
    ph, columns = store.placeholder, ", ".join(table.column_names)
    # (rows left by a copy whose checkpoint was never saved: a crash between the two)
    store.query_write(f"DELETE FROM {copy.name} WHERE view = {ph} AND position = {ph}", (view, position))
    store.query_write(f"INSERT INTO {copy.name} (view, position, {columns}) "
                      f"SELECT {ph}, {ph}, {columns} FROM {stored_as}", (view, position))


def _copied_rows(store: ViewStore, view: str, position: int, table: Table) -> list[Row]:
    ph, columns = store.placeholder, ", ".join(table.column_names)
    copy = copy_table(table)
    return [store.decode_row(table, r) for r in store.query(
        f"SELECT {columns} FROM {copy.name} WHERE view = {ph} AND position = {ph}", (view, position))]


class _Saved:
    """A checkpoint's rows, read by View.start like a store's tables."""

    def __init__(self, state: dict[str, list[Row]]) -> None:
        self.state = state

    def load(self, table: Table, prefix: str = "") -> Iterator[Row]:
        return iter(self.state.get(table.name, ()))

    def group_totals(self, table: Table, group: tuple[str, ...], measures: tuple[str, ...],
                     prefix: str = "") -> Iterator[tuple[tuple, int, dict[str, int]]]:
        return iter(())  # only derived tables are summed, and a checkpoint holds none


def nearest(store: ViewStore, views: Sequence[Checkpointed], target: int, limit: int) -> int:
    """The latest position ≤ target (and ≤ limit) at which every view has a checkpoint."""
    have: dict[int, set[str]] = {}
    for view, position in checkpoints(store):
        have.setdefault(position, set()).add(view)
    names = {v.checkpoint_name for v in views}
    usable = [p for p, got in have.items() if p <= min(target, limit) and names <= got]
    return max(usable, default=0)
