"""The projection engine: one reader of the ledger's notification log, many views.

It reads the log in large pages, hands each event to the views that handle it,
and commits every view's changes together with the position in one transaction
per page — exactly once, resumable after a crash (`kill -9`): an uncommitted
page leaves neither rows nor position, so it is simply read again.

Modes:
- inline: after each command (SQLite, read-your-writes) — `attach_inline(ledger)`;
- follow: a long-running process that polls and wakes on LISTEN/NOTIFY (PostgreSQL);
- rebuild: from position 0 into scratch tables, folded in memory, written in bulk
  (COPY on PostgreSQL) and swapped in atomically;
- verify: a rebuild into scratch tables compared with the live ones, row by row.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable, Iterable, Sequence

from ledger import Ledger

from projections.stores import PostgresViewStore, SQLiteViewStore, ViewStore
from projections.tables import Changes, Keyed, Table

DEFAULT_PAGE = 5_000
SCRATCH = "scratch_"
REBUILD = "rebuild_"


@dataclass(frozen=True, slots=True)
class Envelope:
    """One event as views see it."""

    position: int  # notification id
    recorded_at: datetime  # when the ledger learned it (UTC)
    aggregate: str  # "Booking"
    name: str  # "PlaceBooked"
    originator_id: str
    version: int
    data: dict[str, Any]  # the event's attributes (dates as date)

    @property
    def kind(self) -> str:
        return f"{self.aggregate}.{self.name}"

    @property
    def meta(self) -> dict[str, Any]:
        return self.data.get("meta") or {}


class View:
    """A read model: tables, the events it handles, and how it folds them."""

    name: str = ""
    tables: tuple[Table, ...] = ()
    handles: frozenset[str] = frozenset()  # "Aggregate.Event"

    def __init__(self) -> None:
        self.t: dict[str, Keyed] = {table.name: Keyed(table) for table in self.tables}

    def start(self, store: ViewStore, prefix: str = "") -> None:
        """Load the working state from the view's (non-log) tables."""
        for keyed in self.t.values():
            if not keyed.table.append_only:
                keyed.load(store.load(keyed.table, prefix))

    def apply(self, e: Envelope) -> None:
        raise NotImplementedError

    def finish_page(self, final: bool = True) -> None:
        """Called after each page, before its changes are taken: derive rows from state.

        A rebuild calls it with final=False between pages and True once at the end,
        so views may defer expensive derivations until then.
        """

    def changes(self) -> dict[Table, Changes]:
        out = {}
        for keyed in self.t.values():
            ch = keyed.take_changes()
            if ch:
                out[keyed.table] = ch
        return out


def open_store(ledger: Ledger) -> ViewStore:
    cfg = ledger.store
    if cfg.kind == "sqlite":
        return SQLiteViewStore(cfg.sqlite_path)
    return PostgresViewStore(cfg.postgres_conninfo, cfg.schema)


class LogReader:
    """Pages of the notification log, decoded without building domain objects."""

    def __init__(self, ledger: Ledger, kinds: Iterable[str]) -> None:
        self.ledger = ledger
        self.kinds = frozenset(kinds)
        mapper = ledger.mapper
        self._cipher, self._compressor, self._transcoder = mapper.cipher, mapper.compressor, mapper.transcoder

    def page(self, after: int, limit: int) -> tuple[list[Envelope], int]:
        """Events after `after` (up to `limit` notifications) and the last position read."""
        notes = self.ledger.recorder.select_notifications(after + 1, limit)
        out = []
        last = after
        for n in notes:
            last = n.id
            kind = n.topic.rsplit(":", 1)[-1]
            if kind not in self.kinds:
                continue
            state = n.state
            if self._cipher:
                state = self._cipher.decrypt(state)
            if self._compressor:
                state = self._compressor.decompress(state)
            data = self._transcoder.decode(state)
            if "class_version" in data:  # an older event version: let the mapper upcast it
                event = self.ledger.mapper.to_domain_event(n)
                data = {k: v for k, v in vars(event).items() if k not in ("originator_id", "originator_version")}
            aggregate, name = kind.split(".", 1)
            out.append(Envelope(n.id, data.pop("timestamp"), aggregate, name, str(n.originator_id),
                                n.originator_version, data))
        return out, last


class Projector:
    """Keeps a set of views current with the ledger, page by page."""

    def __init__(self, ledger: Ledger, views: Sequence[View], *, name: str = "views",
                 page_size: int = DEFAULT_PAGE, store: ViewStore | None = None) -> None:
        self.ledger = ledger
        self.views = list(views)
        self.name = name
        self.page_size = page_size
        self.store = store or open_store(ledger)
        self.reader = LogReader(ledger, set().union(*(v.handles for v in self.views)) if self.views else ())
        self._lock = threading.Lock()
        self.store.ensure(self.tables)
        if isinstance(self.store, PostgresViewStore):
            self.store.grant_analyst(self.tables)
        self._start()

    def _start(self) -> None:
        for v in self.views:
            v.__init__()  # fresh working state (after a failed page, too)
            v.start(self.store)
        self.position = self.store.position(self.name)

    @property
    def tables(self) -> list[Table]:
        return [t for v in self.views for t in v.tables]

    def run_page(self, crash_before_commit: Callable[[], None] | None = None) -> int:
        """Apply one page; returns how many notifications it read (0 when caught up)."""
        with self._lock:
            events, last = self.reader.page(self.position, self.page_size)
            if last == self.position:
                return 0
            try:
                changes = self._fold(events)
                if crash_before_commit:
                    crash_before_commit()
                self.store.commit(self.name, last, changes)
            except BaseException:
                self._start()  # the page was not committed: forget what it folded
                raise
            read = last - self.position
            self.position = last
            return read

    def _fold(self, events: list[Envelope]) -> dict[Table, Changes]:
        for e in events:
            kind = e.kind
            for v in self.views:
                if kind in v.handles:
                    v.apply(e)
        changes: dict[Table, Changes] = {}
        for v in self.views:
            v.finish_page()
            changes.update(v.changes())
        return changes

    def catch_up(self) -> int:
        total = 0
        while True:
            n = self.run_page()
            if n == 0:
                return total
            total += n

    def follow(self, stop: threading.Event, poll_seconds: float = 1.0) -> None:
        """Keep up until `stop` is set: poll, and wake early on NOTIFY (PostgreSQL)."""
        waiter = _NotifyWaiter(self.ledger) if self.ledger.store.kind == "postgres" else None
        try:
            while not stop.is_set():
                self.catch_up()
                if waiter:
                    waiter.wait(poll_seconds)
                else:
                    stop.wait(poll_seconds)
        finally:
            if waiter:
                waiter.close()

    def close(self) -> None:
        self.store.close()


class _NotifyWaiter:
    """LISTEN on the ledger's events channel; wait() returns on a NOTIFY or a timeout."""

    def __init__(self, ledger: Ledger) -> None:
        import psycopg

        self.conn = psycopg.connect(ledger.store.postgres_conninfo, autocommit=True)
        channel = ledger.recorder.channel_name
        self.conn.execute(f'LISTEN "{channel}"')

    def wait(self, timeout: float) -> None:
        for _ in self.conn.notifies(timeout=timeout, stop_after=1):
            break

    def close(self) -> None:
        self.conn.close()


def attach_inline(ledger: Ledger, projector: Projector) -> None:
    """Read-your-writes on SQLite: bring the views up to date after every command."""
    ledger.after_commit.append(lambda _ledger, _recordings: projector.catch_up())


def fold_into(ledger: Ledger, views: Sequence[View], store: ViewStore, prefix: str, *,
              until: int | None = None, page_size: int = 20_000,
              progress: Callable[[int, int], None] | None = None) -> int:
    """Fold the log from position 0 (to `until`) in memory into fresh prefixed tables.

    Append-only logs stream out page by page; keyed state is written in bulk at the
    end (COPY on PostgreSQL). Returns the position folded to.
    """
    tables = [t for v in views for t in v.tables]
    store.drop(tables, prefix)
    store.ensure(tables, prefix)
    reader = LogReader(ledger, set().union(*(v.handles for v in views)) if views else ())
    end = ledger.max_position() if until is None else until
    position = 0
    while position < end:
        events, last = reader.page(position, min(page_size, end - position))
        if last == position:
            break
        for e in events:
            kind = e.kind
            for v in views:
                if kind in v.handles:
                    v.apply(e)
        for v in views:
            v.finish_page(final=False)
            for table, ch in v.changes().items():
                if table.append_only and ch.appends:
                    store.bulk_insert(table, ch.appends, prefix)
        position = last
        if progress:
            progress(position, end)
    for v in views:
        v.finish_page(final=True)
        for table, ch in v.changes().items():
            if table.append_only and ch.appends:
                store.bulk_insert(table, ch.appends, prefix)
        for keyed in v.t.values():
            if not keyed.table.append_only:
                store.bulk_insert(keyed.table, list(keyed.values()), prefix)
    return position


def rebuild(ledger: Ledger, views: Sequence[View], *, name: str = "views", page_size: int = 20_000,
            progress: Callable[[int, int], None] | None = None) -> int:
    """Rebuild the views from position 0 and swap the result in atomically."""
    store = open_store(ledger)
    try:
        tables = [t for v in views for t in v.tables]
        position = fold_into(ledger, views, store, REBUILD, page_size=page_size, progress=progress)
        store.swap_in(tables, REBUILD, name, position)
        return position
    finally:
        store.close()


@dataclass
class Drift:
    table: str
    missing: list[tuple]  # in the rebuild, not live
    extra: list[tuple]  # live, not in the rebuild
    different: list[tuple]

    def __bool__(self) -> bool:
        return bool(self.missing or self.extra or self.different)


def verify(ledger: Ledger, views: Sequence[View], *, name: str = "views") -> list[Drift]:
    """Rebuild into scratch tables up to the live position and compare row checksums."""
    store = open_store(ledger)
    try:
        tables = [t for v in views for t in v.tables]
        fold_into(ledger, views, store, SCRATCH, until=store.position(name))
        drifts = []
        for t in tables:
            live, fresh = store.checksums(t), store.checksums(t, SCRATCH)
            d = Drift(t.name,
                      missing=sorted(k for k in fresh if k not in live),
                      extra=sorted(k for k in live if k not in fresh),
                      different=sorted(k for k in fresh if k in live and fresh[k] != live[k]))
            if d:
                drifts.append(d)
        store.drop(tables, SCRATCH)
        return drifts
    finally:
        store.close()
