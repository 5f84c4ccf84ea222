"""Point-in-time replay: the views as the ledger knew them at a recorded time.

The notification log is in recorded-time order, so "what the ledger knew at T" is
the log up to the last notification recorded at or before T. Replaying that from
position 0 at Copenhagen scale takes long; checkpoints — each view's working state,
saved whenever the position crosses a multiple of an interval — let a replay start
from the nearest one instead. The result is a scratch view store (a temporary SQLite
file, whatever the ledger's store) that `projections.queries` can read like the live one.
"""

from __future__ import annotations

import tempfile
from contextlib import contextmanager
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path
from typing import Callable, Iterator, Sequence

from ledger import Ledger
from ledger.clock import COPENHAGEN

from projections import all_views
from projections.checkpoints import nearest, restore, save_checkpoint
from projections.engine import LogReader, View, open_store, reader_for
from projections.rebuilding import fold_log, fold_to_store
from projections.stores import POSITIONS, SQLiteViewStore, ViewStore
from projections.tables import Row, Table
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


def take_checkpoints(ledger: Ledger, views: Sequence[View] | None = None, *, every: int = DEFAULT_EVERY,
                     page_size: int = 20_000, progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Checkpoint the views at every multiple of `every` up to the ledger's last position.

    Starts from the latest checkpoint already saved; returns the positions it added.
    """
    if every < 1:
        raise ValueError("the checkpoint interval must be at least 1 event")
    views = list(views) if views is not None else all_views()
    store = open_store(ledger)
    try:
        end = ledger.max_position()
        position = nearest(store, views, end, end)
        restore(store, views, position)
        reader = reader_for(ledger, views)
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
    views = list(views) if views is not None else all_views()
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
            start = nearest(live, views, target, live_position)
            restore(live, views, start)
            for table in tables:
                if table.append_only and start > 0:
                    scratch.bulk_insert(table, _log_rows(live, table, start), "")
            reader = reader_for(ledger, views)
            reached = fold_to_store(reader, views, scratch, "", start, target, page_size=page_size)
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
