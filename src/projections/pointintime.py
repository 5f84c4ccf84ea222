"""Point-in-time replay: the views as the ledger knew them at a recorded time.

The notification log is in recorded-time order, so "what the ledger knew at T" is
the log up to the last notification recorded at or before T. Replaying that from
position 0 at Copenhagen scale takes long; checkpoints — each view's working state,
saved whenever the position crosses a multiple of an interval — let a replay start
from the nearest one instead. The result is a scratch view store (a temporary SQLite
file, whatever the ledger's store) that `projections.queries` can read like the live one.
"""

from __future__ import annotations

import pickle
import tempfile
import zlib
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ledger import Ledger
from ledger.clock import COPENHAGEN

from projections.engine import LogReader, View, BufferedSink, fold_log, open_store
from projections.stores import POSITIONS, SQLiteViewStore, ViewStore
from projections.tables import BLOB, INT, TEXT, TIMESTAMP, Row, Table

CHECKPOINTS = Table(
    "view_checkpoints",
    (("view", TEXT), ("position", INT), ("recorded_at", TIMESTAMP), ("state", BLOB)),
    key=("view", "position"),
    doc="Each view's working state at a log position (compressed), where point-in-time replay starts.",
)
DEFAULT_EVERY = 100_000
REPLAY_NAME = "views"


def recorded_instant(as_of: datetime | date) -> datetime:
    """A date means the end of that day in Copenhagen; a naive datetime is UTC."""
    if isinstance(as_of, datetime):
        return as_of if as_of.tzinfo else as_of.replace(tzinfo=timezone.utc)
    end_of_day = datetime.combine(as_of + timedelta(days=1), time(0), tzinfo=COPENHAGEN)
    return (end_of_day - timedelta(microseconds=1)).astimezone(timezone.utc)


def position_at(ledger: Ledger, as_of: datetime | date) -> int:
    """The last notification recorded at or before `as_of` (0 when there is none).

    Recorded time rises with the log, so a binary search over positions finds it
    with a few dozen single-event reads.
    """
    instant = recorded_instant(as_of)
    reader = LogReader(ledger, ())
    lo, hi = 0, ledger.max_position()
    while lo < hi:
        mid = (lo + hi + 1) // 2
        found = reader.recorded_at(mid)
        if found is None or found[1] > instant:
            hi = mid - 1
        else:
            lo = found[0]
    return lo


def save_checkpoint(store: ViewStore, views: Sequence[View], position: int, recorded_at: datetime | None) -> None:
    """Save each view's working state (not its append-only logs, nor the rows it derives from the
    state, which a restore derives again) at `position`."""
    store.ensure([CHECKPOINTS])
    rows = []
    for v in views:
        state = {name: list(keyed.rows.values()) for name, keyed in v.t.items()
                 if not (keyed.table.append_only or keyed.table.derived)}
        rows.append({"view": v.checkpoint_name, "position": position, "recorded_at": recorded_at,
                     "state": zlib.compress(pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL), 1)})
    store.upsert(CHECKPOINTS, rows)


def checkpoints(store: ViewStore) -> list[tuple[str, int]]:
    """(view, position) of every saved checkpoint."""
    store.ensure([CHECKPOINTS])
    return [(r[0], int(r[1])) for r in store.query("SELECT view, position FROM view_checkpoints ORDER BY position")]


def _restore(store: ViewStore, views: Sequence[View], position: int) -> None:
    for v in views:
        v.reset()
        if position == 0:
            continue
        ph = store.placeholder
        (blob,), = store.query(f"SELECT state FROM view_checkpoints WHERE view = {ph} AND position = {ph}",
                               (v.checkpoint_name, position))
        # Our own store wrote this blob (save_checkpoint); nothing else writes the table.
        state = pickle.loads(zlib.decompress(bytes(blob)))  # noqa: S301
        v.start(_Saved(state))  # views rebuild their indexes from the rows in start()
        v.rederive()


class _Saved:
    """A checkpoint's rows, read by View.start like a store's tables."""

    def __init__(self, state: dict[str, list[Row]]) -> None:
        self.state = state

    def load(self, table: Table, prefix: str = "") -> Iterator[Row]:
        return iter(self.state.get(table.name, ()))

    def group_totals(self, table: Table, group: tuple[str, ...], measures: tuple[str, ...],
                     prefix: str = "") -> Iterator[tuple[tuple, int, dict[str, int]]]:
        return iter(())  # only derived tables are summed, and a checkpoint holds none


def _nearest(store: ViewStore, views: Sequence[View], target: int, limit: int) -> int:
    """The latest position ≤ target (and ≤ limit) at which every view has a checkpoint."""
    have: dict[int, set[str]] = {}
    for view, position in checkpoints(store):
        have.setdefault(position, set()).add(view)
    names = {v.checkpoint_name for v in views}
    usable = [p for p, got in have.items() if p <= min(target, limit) and names <= got]
    return max(usable, default=0)


def take_checkpoints(ledger: Ledger, views: Sequence[View] | None = None, *, every: int = DEFAULT_EVERY,
                     page_size: int = 20_000, progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Checkpoint the views at every multiple of `every` up to the ledger's last position.

    Starts from the latest checkpoint already saved; returns the positions it added.
    """
    if every < 1:
        raise ValueError("the checkpoint interval must be at least 1 event")
    views = list(views) if views is not None else _all_views()
    store = open_store(ledger)
    try:
        end = ledger.max_position()
        position = _nearest(store, views, end, end)
        _restore(store, views, position)
        reader = LogReader(ledger, set().union(*(v.handles for v in views)))
        added = []
        for v in views:
            v.deriving = False  # a checkpoint holds the working state, not what derives from it
        while (position // every + 1) * every <= end:
            boundary = (position // every + 1) * every
            reached = fold_log(reader, views, position, boundary, page_size=page_size)
            if reached < boundary:  # the log has a gap up to the end: nothing more to fold
                break
            found = reader.recorded_at(boundary)
            save_checkpoint(store, views, boundary, found[1] if found and found[0] == boundary else None)
            added.append(boundary)
            position = boundary
            if progress:
                progress(position, end)
        return added
    finally:
        for v in views:
            v.deriving = True
        store.close()


@contextmanager
def views_as_of(ledger: Ledger, as_of: datetime | date | int, views: Sequence[View] | None = None, *,
                page_size: int = 20_000) -> Iterator[ViewStore]:
    """A scratch view store holding `views` (default: all) as the ledger knew them at `as_of`.

    `as_of` is a recorded time (a date: the end of that day in Copenhagen) or a log position.
    """
    views = list(views) if views is not None else _all_views()
    target = as_of if isinstance(as_of, int) else position_at(ledger, as_of)
    live = open_store(ledger)
    with tempfile.TemporaryDirectory(prefix="plads-asof-") as tmp:
        scratch = SQLiteViewStore(str(Path(tmp) / "views.db"))
        try:
            tables = [t for v in views for t in v.tables]
            scratch.ensure(tables)
            # Append-only logs are not in checkpoints: their rows up to the checkpoint come from
            # the live tables, so the checkpoint must not be ahead of the live views.
            live_position = live.position(REPLAY_NAME)
            start = _nearest(live, views, target, live_position)
            _restore(live, views, start)
            for table in tables:
                if table.append_only and start > 0:
                    scratch.bulk_insert(table, _log_rows(live, table, start), "")
            reader = LogReader(ledger, set().union(*(v.handles for v in views)))
            # Rows derived at the end stream into the scratch store (millions at city scale).
            sink = BufferedSink(lambda table, rows: scratch.bulk_insert(table, rows, ""))
            for v in views:
                v.sink = sink
            try:
                reached = fold_log(reader, views, start, target, page_size=page_size,
                                   on_appends=lambda table, rows: scratch.bulk_insert(table, rows, ""))
                sink.flush()
            finally:
                for v in views:
                    v.sink = None
            for v in views:
                for keyed in v.t.values():
                    if not keyed.table.append_only:
                        scratch.bulk_insert(keyed.table, list(keyed.values()), "")
            scratch.query_write(f"INSERT INTO {POSITIONS} (name, position) VALUES (?, ?)", (REPLAY_NAME, reached))
            yield scratch
        finally:
            scratch.close()
            live.close()


def _log_rows(store: ViewStore, table: Table, position: int) -> list[Row]:
    if "position" not in table.column_names:
        raise TypeError(f"append-only table {table.name} needs a position column for point-in-time replay")
    sql = f"SELECT {', '.join(table.column_names)} FROM {table.name} WHERE position <= {store.placeholder}"
    return [store.decode_row(table, r) for r in store.query(sql, (position,))]


def _all_views() -> list[View]:
    from projections import all_views

    return all_views()
