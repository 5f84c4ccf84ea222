"""The projection engine: one reader of the ledger's notification log, many views.

It reads the log in large pages, hands each event to the views that handle it (each view registers
one method per event type of the catalogue, `ledger.events`, with `@on`; its `handles` follow),
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

import gc
import json
import logging
import sys
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar
from uuid import UUID

from ledger import Ledger, LedgerError, events

from projections.checkpoints import save_checkpoint
from projections.stores import PositionMoved, PostgresViewStore, RowsRefused, SQLiteViewStore, ViewStore, is_outage
from projections.tables import Changes, Keyed, Row, Table

DEFAULT_PAGE = 5_000
SCRATCH = "scratch_"
REBUILD = "rebuild_"
logger = logging.getLogger("plads.projections")


class ViewStalled(LedgerError):
    """A view cannot take an event: the projection stops before it, loudly (logged, recorded in the
    store for /health and the readers), instead of failing on every page in silence."""

    status = 503
    title = "Views stalled"

    def __init__(self, projection: str, position: int, view: str, error: str) -> None:
        super().__init__(f"the views stopped before log position {position}: view {view} cannot take that "
                         f"event ({error}); commands are still recorded, and reads that need the views "
                         "beyond it answer 503 until the view is mended")
        self.projection, self.position, self.view, self.error = projection, position, view, error


class _Refused(Exception):
    """A view refused a page: in folding (at a known event) or in writing its rows."""

    def __init__(self, view: str, position: int, error: BaseException) -> None:
        super().__init__(view, position, error)
        self.view, self.position, self.error = view, position, error


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


Handler = TypeVar("Handler", bound=Callable[..., None])


def on(*entries: type[events.EventType]) -> Callable[[Handler], Handler]:
    """Registers a view's method as the view's handler of these events (entries of the event
    catalogue, `ledger.events`); the view's `handles` are the events its methods registered for."""
    for entry in entries:
        if not (isinstance(entry, type) and issubclass(entry, events.EventType)
                and events.CATALOGUE.get(getattr(entry, "topic", None)) is entry):
            raise TypeError(f"{entry!r} is not an entry of the event catalogue")
    if not entries:
        raise TypeError("name the events the handler takes")

    def register(method: Handler) -> Handler:
        method.__handles__ = (*getattr(method, "__handles__", ()), *(e.topic for e in entries))  # type: ignore[attr-defined]
        return method

    return register


class View:
    """A read model: tables, the events it handles (one method per event type, registered with
    `@on(...)`), and how it folds them."""

    name: str = ""
    tables: tuple[Table, ...] = ()
    handles: frozenset[str] = frozenset()  # "Aggregate.Event": derived from the registered methods
    _handlers: dict[str, Callable[["View", Envelope], None]] = {}  # topic -> method

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "handles" in cls.__dict__:
            raise TypeError(f"{cls.__name__}: register a method per event with @on(...) instead of setting handles")
        # Inherited handlers, resolved by name: a subclass that overrides a handler method overrides the handler.
        handlers = {topic: getattr(cls, method.__name__) for topic, method in cls._handlers.items()}
        own: dict[str, str] = {}
        for name, attr in cls.__dict__.items():
            for topic in getattr(attr, "__handles__", ()):
                if topic in own:
                    raise TypeError(f"{cls.__name__} handles {topic} twice: in {own[topic]} and {name}")
                own[topic] = name
                handlers[topic] = attr
        cls._handlers = handlers
        cls.handles = frozenset(handlers)

    def __init__(self) -> None:
        self.t: dict[str, Keyed] = {table.name: Keyed(table) for table in self.tables}
        # Set by a rebuild (fold_into): where a view may write rows it derives once and never
        # reads back, instead of holding them in memory until the end. Views that derive per
        # page, or not at all, ignore it.
        self.sink: Callable[[Table, list[Row]], None] | None = None
        # Set by start() from a view store: where the rows of partitioned tables live. They are
        # loaded per owner while being derived again and forgotten once their changes are taken.
        # Unset (a fold in memory, or a restore from a checkpoint) every row stays in memory.
        self.owned_store: ViewStore | None = None
        self._owned_prefix = ""

    def start(self, store: ViewStore, prefix: str = "") -> None:
        """Load the working state from the view's (non-log, non-partitioned) tables."""
        for keyed in self.t.values():
            if not keyed.table.append_only and keyed.table.partition is None:
                keyed.load(store.load(keyed.table, prefix))
        if isinstance(store, ViewStore) and any(t.partition for t in self.tables):
            self.owned_store, self._owned_prefix = store, prefix

    def load_owned(self, table: str, owners: list[Any], since: tuple[str, Any] | None = None) -> None:
        """Bring the owners' rows of a partitioned table into memory (from the store; given
        `since` = (column, value), only rows from that value on), to be compared with what the view
        derives for them now."""
        if self.owned_store is not None and self.sink is None and owners:
            keyed = self.t[table]
            keyed.load(self.owned_store.load_owned(keyed.table, owners, self._owned_prefix, since))

    def release_owned(self, table: str, owners: list[Any]) -> None:
        """Forget the owners' unchanged rows again (the store keeps them)."""
        if self.owned_store is not None and self.sink is None:
            self.t[table].release(owners)

    # Relative cost of folding this view in a rebuild (measured on the synthetic city); a parallel
    # rebuild balances its processes by it.
    rebuild_weight: float = 1.0

    def companions(self) -> list["View"]:
        """Views that share this one's working state, so must be folded in the same process."""
        return []

    def shard(self, k: int, n: int) -> list["View"] | None:
        """Fresh views (this one and its companions) that fold everything but derive only the k-th
        of n shares of the rows, so a parallel rebuild can split this view's cost over processes;
        None where the view cannot be split. The rows that sum over all shares (summary tables)
        are written by `finish_shards` once the shards are done."""
        return None

    def finish_shards(self, store: ViewStore, prefix: str) -> None:
        """After a sharded rebuild (called on one shard's views): write what no shard could write alone."""

    @property
    def checkpoint_name(self) -> str:
        """Whose working state a checkpoint holds (views whose state differs need different names)."""
        return self.name

    def reset(self) -> None:
        """Forget the working state (after a failed page, or before a restore); keep the configuration."""
        self.__init__()  # type: ignore[misc]

    def apply(self, e: Envelope) -> None:
        """Hand the event to the method registered for its type (none: the view ignores it).

        A view that must see every event it handles first (its clock, say) overrides this and
        calls `super().apply(e)`."""
        handler = self._handlers.get(e.kind)
        if handler is not None:
            handler(self, e)

    def route(self, topic: str) -> Callable[[Envelope], None]:
        """What the engine calls with each event of `topic`: the registered method, bound — or
        `apply` where the view overrides it."""
        if type(self).apply is not View.apply:
            return self.apply
        return self._handlers[topic].__get__(self)

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
            if self.owned_store is not None and keyed.table.partition is not None:
                keyed.evict()
        return out

    def rederive(self) -> None:
        """Restored from a checkpoint, which holds no derived rows: derive them all again at the
        next final finish_page. Views with derived tables override this."""

    # False while only the working state matters (checkpoints taken afterwards): views may then skip
    # their derivations; a view restored from such a state derives everything again.
    deriving: bool = True


def _by_topic(views: Sequence[View]) -> dict[str, list[tuple[View, Callable[[Envelope], None]]]]:
    """Per topic, the views that handle it (in their order) and what to call with its events."""
    out: dict[str, list[tuple[View, Callable[[Envelope], None]]]] = {}
    for v in views:
        for topic in v.handles:
            out.setdefault(topic, []).append((v, v.route(topic)))
    return out


def open_store(ledger: Ledger) -> ViewStore:
    cfg = ledger.store
    if cfg.kind == "sqlite":
        return SQLiteViewStore(cfg.sqlite_path)
    return PostgresViewStore(cfg.postgres_conninfo, cfg.schema)


class LogReader:
    """Pages of the notification log, decoded without building domain objects.

    It selects the stored rows itself (no Notification or UUID objects) and decodes
    the JSON with a lean hook: ids become their canonical text, which is what the
    views keep anyway. Events of an older class version go through the mapper's upcasters.
    """

    def __init__(self, ledger: Ledger, kinds: Iterable[str]) -> None:
        self.ledger = ledger
        self.kinds = frozenset(kinds)
        self._dates: dict[str, date] = {}
        mapper = ledger.mapper
        self._cipher, self._compressor = mapper.cipher, mapper.compressor
        transcodings = mapper.transcoder.names  # type: ignore[attr-defined]
        # Views keep ids and dates in many places (a child's id in a dozen indexes): one object
        # per id and per date instead of one per mention keeps a rebuild's memory down.
        intern, dates = sys.intern, self._dates

        def hook(d: dict[str, Any]) -> Any:
            if len(d) == 2:
                name = d.get("_type_")
                if name is not None and "_data_" in d:
                    data = d["_data_"]
                    if name == "uuid_hex":
                        return intern(f"{data[:8]}-{data[8:12]}-{data[12:16]}-{data[16:20]}-{data[20:]}")
                    if name == "date_iso":
                        day = dates.get(data)
                        if day is None:
                            day = date.fromisoformat(data)
                            if len(dates) < 100_000:
                                dates[data] = day
                        return day
                    if name == "datetime_iso":
                        return datetime.fromisoformat(data)
                    return transcodings[name].decode(data)
            for k, v in d.items():
                if type(v) is str and len(v) <= 40:  # districts, pools, age groups, codes: few values
                    d[k] = intern(v)
            return d

        self._decoder = json.JSONDecoder(object_hook=hook)
        recorder = ledger.recorder
        self._postgres = ledger.store.kind == "postgres"
        if self._postgres:
            self._sql = (f'SELECT notification_id, originator_id::text, originator_version, topic, state '
                         f'FROM "{recorder.datastore.schema}".{recorder.events_table_name} '
                         f'WHERE notification_id >= %s AND notification_id <= %s ORDER BY notification_id LIMIT %s')
        else:
            self._sql = (f"SELECT rowid, originator_id, originator_version, topic, state "
                         f"FROM {recorder.events_table_name} WHERE rowid >= ? AND rowid <= ? ORDER BY rowid LIMIT ?")

    def _rows(self, start: int, limit: int, until: int | None) -> list[tuple]:
        params = (start, until if until is not None else 2**62, limit)
        datastore = self.ledger.recorder.datastore
        if self._postgres:
            from psycopg.rows import tuple_row

            with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                cur.execute(self._sql, params, prepare=True)
                return cur.fetchall()
        with datastore.transaction(commit=False) as cur:
            cur.execute(self._sql, params)
            return [tuple(r) for r in cur.fetchall()]

    def page(self, after: int, limit: int, until: int | None = None) -> tuple[list[Envelope], int]:
        """Events after `after` (up to `limit` notifications, none beyond `until`) and the last position read."""
        out = []
        last = after
        kinds = self.kinds
        for row in self._rows(after + 1, limit, until):
            last = row[0]
            kind = row[3].rsplit(":", 1)[-1]
            if kind in kinds:
                out.append(self._envelope(row, kind))
        return out, last

    def _envelope(self, row: tuple, kind: str) -> Envelope:
        position, originator_id, version, topic, state = row
        state = bytes(state)
        if self._cipher:
            state = self._cipher.decrypt(state)
        if self._compressor:
            state = self._compressor.decompress(state)
        data = self._decoder.decode(state.decode("utf-8"))
        if "class_version" in data:  # an older event version: let the mapper upcast it
            from eventsourcing.persistence import Notification

            event = self.ledger.mapper.to_domain_event(Notification(
                id=position, originator_id=UUID(str(originator_id)), originator_version=version, topic=topic,
                state=bytes(row[4])))
            data = {k: (str(v) if isinstance(v, UUID) else v) for k, v in vars(event).items()
                    if k not in ("originator_id", "originator_version")}
        if len(originator_id) == 32:  # SQLite keeps the hex form
            originator_id = str(UUID(originator_id))
        originator_id = sys.intern(originator_id)
        aggregate, name = kind.split(".", 1)
        return Envelope(position, data.pop("timestamp"), aggregate, name, originator_id, version, data)

    def recorded_at(self, position: int) -> tuple[int, datetime] | None:
        """The first notification at or after `position`: its id and recorded time."""
        rows = self._rows(position, 1, None)
        if not rows:
            return None
        e = self._envelope(rows[0], rows[0][3].rsplit(":", 1)[-1])
        return e.position, e.recorded_at


class Projector:
    """Keeps a set of views current with the ledger, page by page."""

    def __init__(self, ledger: Ledger, views: Sequence[View], *, name: str = "views",
                 page_size: int = DEFAULT_PAGE, store: ViewStore | None = None,
                 checkpoint_every: int | None = None) -> None:
        self.ledger = ledger
        # Point-in-time replay starts from the nearest checkpoint: the views' state saved
        # whenever the position crosses a multiple of this (None: take none).
        self.checkpoint_every = checkpoint_every
        self.views = list(views)
        self.name = name
        self.page_size = page_size
        self.store = store or open_store(ledger)
        self._by_topic = _by_topic(self.views)
        self.reader = LogReader(ledger, self._by_topic)
        self._lock = threading.Lock()
        # Called with the new position after every committed page (the API wakes its waiting reads).
        self.on_commit: Callable[[int], None] | None = None
        self.store.ensure(self.tables)
        if isinstance(self.store, PostgresViewStore):
            self.store.grant_analyst(self.tables)
        self._start()

    def _start(self) -> None:
        with _collector_paused():
            for v in self.views:
                v.reset()  # fresh working state (after a failed page, too)
                v.start(self.store)
        # The loaded state lives as long as the projector: keep the cyclic collector off it.
        gc.freeze()
        self.position = self.store.position(self.name)

    @property
    def tables(self) -> list[Table]:
        return [t for v in self.views for t in v.tables]

    def run_page(self, crash_before_commit: Callable[[], None] | None = None, until: int | None = None) -> int:
        """Apply one page (none beyond `until`); returns how many notifications it read (0 when caught up)."""
        with self._lock:
            if until is not None and self.position >= until:
                return 0
            events, last = self.reader.page(self.position, self.page_size, until)
            if last == self.position:
                return 0
            try:
                changes = self._fold(events, last)
                if crash_before_commit:
                    crash_before_commit()
                try:
                    self.store.commit(self.name, self.position, last, changes)
                except RowsRefused as e:
                    view = next(v.name for v in self.views if any(t.name == e.table for t in v.tables))
                    raise _Refused(view, last, e.error) from e
            except BaseException:
                self._start()  # the page was not committed: forget what it folded
                raise
            read = last - self.position
            before, self.position = self.position, last
            if self.checkpoint_every and last // self.checkpoint_every > before // self.checkpoint_every:
                save_checkpoint(self.store, self.views, last, events[-1].recorded_at if events else None)
            if self.on_commit:
                self.on_commit(last)
            return read

    def _fold(self, events: list[Envelope], last: int) -> dict[Table, Changes]:
        for e in events:
            for v, handle in self._by_topic.get(e.kind, ()):
                try:
                    handle(e)
                except Exception as error:
                    raise (error if is_outage(error) else _Refused(v.name, e.position, error)) from error
        changes: dict[Table, Changes] = {}
        for v in self.views:
            try:
                v.finish_page()
                changes.update(v.changes())
            except Exception as error:
                raise (error if is_outage(error) else _Refused(v.name, last, error)) from error
        return changes

    def catch_up(self, until: int | None = None) -> int:
        """Apply pages until caught up (to `until`); ViewStalled when a view cannot take an event."""
        total = 0
        while True:
            try:
                n = self.run_page(until=until)
            except PositionMoved:
                # Another projector (another API worker, say) applied these events first;
                # run_page has reloaded the views' state and position: go on from there.
                continue
            except _Refused as refused:
                n = self._to_the_refusal(until, refused)
            if n == 0:
                return total
            total += n

    def _to_the_refusal(self, until: int | None, refused: _Refused) -> int:
        """A view refused a page: take it again one notification at a time, so the events before
        the refused one are committed and that one is named, then stop there (ViewStalled).
        Returns what it applied if the refusal does not come again."""
        size, self.page_size = self.page_size, 1
        total = 0
        try:
            while self.position < refused.position:
                try:
                    n = self.run_page(until=until)
                except PositionMoved:
                    continue
                except _Refused as again:
                    raise self._stalled(again) from again.error
                if n == 0:
                    break
                total += n
            return total
        finally:
            self.page_size = size

    def _stalled(self, refused: _Refused) -> ViewStalled:
        error = f"{type(refused.error).__name__}: {refused.error}".replace("\x00", "\\x00")
        logger.error("projection %s: view %s cannot take the event at log position %d; the views stop before "
                     "it: %s", self.name, refused.view, refused.position, error)
        try:
            self.store.record_stall(self.name, refused.position, refused.view, error)
        except Exception:  # noqa: BLE001 - logged above already; the stall is reported to the caller
            logger.exception("could not record the stall of projection %s", self.name)
        return ViewStalled(self.name, refused.position, refused.view, error)

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


def attach_inline(ledger: Ledger, projector: Projector) -> Callable[[], None]:
    """Read-your-writes on SQLite: bring the views up to date after every command.

    Returns a function that detaches the projector again."""

    stalled = False

    def listener(_ledger: Ledger, _recordings: list[Any]) -> None:
        nonlocal stalled
        if stalled:
            return  # it would only fail again (and reload every view to do so); a restart tries again
        try:
            projector.catch_up()
        except ViewStalled:
            stalled = True  # logged and recorded by the projector; the command stands

    ledger.after_commit.append(listener)
    return lambda: ledger.after_commit.remove(listener) if listener in ledger.after_commit else None


def fold_log(reader: LogReader, views: Sequence[View], start: int, until: int, *, page_size: int = 20_000,
             on_appends: Callable[[Table, list[Row]], None] | None = None,
             progress: Callable[[int, int], None] | None = None) -> int:
    """Fold the log from `start` to `until` into the views' memory, page by page; derivations run
    once at the end (`finish_page(final=True)`). Append-only rows go to `on_appends` as they come
    (dropped without it); keyed state stays in the views. Returns the position folded to."""
    with _collector_paused():
        return _fold_log(reader, views, start, until, page_size, on_appends, progress)


@contextmanager
def _collector_paused() -> Iterator[None]:
    """A fold builds millions of long-lived objects, which Python's cyclic collector would walk
    again and again (≈ 40 % of a billing fold on the synthetic city); reference counting still
    frees what the views drop, and the views' state holds no cycles."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _fold_log(reader: LogReader, views: Sequence[View], start: int, until: int, page_size: int,
              on_appends: Callable[[Table, list[Row]], None] | None,
              progress: Callable[[int, int], None] | None) -> int:
    position = start
    by_topic = _by_topic(views)
    while position < until:
        events, last = reader.page(position, page_size, until)
        if last == position:
            break
        for e in events:
            for _, handle in by_topic.get(e.kind, ()):
                handle(e)
        for v in views:
            v.finish_page(final=False)
            _hand_on(v, on_appends)
        position = last
        if progress:
            progress(position, until)
    for v in views:
        v.finish_page(final=True)
        _hand_on(v, on_appends)
    return position


def _hand_on(view: View, on_appends: Callable[[Table, list[Row]], None] | None) -> None:
    for table, ch in view.changes().items():
        if on_appends and table.append_only and ch.appends:
            on_appends(table, ch.appends)


def fold_into(ledger: Ledger, views: Sequence[View], store: ViewStore, prefix: str, *,
              until: int | None = None, page_size: int = 20_000,
              progress: Callable[[int, int], None] | None = None, fresh_tables: bool = True) -> int:
    """Fold the log from position 0 (to `until`) in memory into fresh prefixed tables (made here,
    unless `fresh_tables` is False: the caller made them, for several processes to share).

    Append-only logs stream out page by page; keyed state is written in bulk at the
    end (COPY on PostgreSQL). Returns the position folded to.
    """
    tables = [t for v in views for t in v.tables]
    if fresh_tables:
        store.drop(tables, prefix)
        store.ensure(tables, prefix)
    reader = LogReader(ledger, set().union(*(v.handles for v in views)) if views else ())
    end = ledger.max_position() if until is None else until
    sink = BufferedSink(lambda table, rows: store.bulk_insert(table, rows, prefix))
    for v in views:
        v.sink = sink
    try:
        position = fold_log(reader, views, 0, end, page_size=page_size, progress=progress,
                            on_appends=lambda table, rows: store.bulk_insert(table, rows, prefix))
        sink.flush()
    finally:
        for v in views:
            v.sink = None
    for v in views:
        for keyed in v.t.values():
            if not keyed.table.append_only:
                store.bulk_insert(keyed.table, list(keyed.values()), prefix)
    return position


class BufferedSink:
    """Rows streamed out of a rebuild, written in batches (one COPY or executemany each)."""

    def __init__(self, write: Callable[[Table, list[Row]], None], batch: int = 20_000) -> None:
        self.write, self.batch = write, batch
        self.pending: dict[Table, list[Row]] = {}

    def __call__(self, table: Table, rows: list[Row]) -> None:
        pending = self.pending.setdefault(table, [])
        pending.extend(rows)
        if len(pending) >= self.batch:
            self.write(table, pending)
            self.pending[table] = []

    def flush(self) -> None:
        for table, rows in self.pending.items():
            if rows:
                self.write(table, rows)
        self.pending = {}


def rebuild(ledger: Ledger, views: Sequence[View], *, name: str = "views", page_size: int = 20_000,
            progress: Callable[[int, int], None] | None = None, workers: int | None = None,
            until: int | None = None) -> int:
    """Rebuild the views from position 0 (to `until`, default the end) and swap the result in atomically.

    With more than one worker (default: one per core, from PARALLEL_FROM events, where the views
    split and the store is not in memory) the views are folded in parallel processes, each
    reading the log itself and writing its own scratch tables; the swap stays one transaction."""
    store = open_store(ledger)
    try:
        end = ledger.max_position() if until is None else until
        position = _fold_fresh(ledger, views, store, REBUILD, end, page_size, progress, workers)
        store.swap_in([t for v in views for t in v.tables], REBUILD, name, position)
        return position
    finally:
        store.close()


def _fold_fresh(ledger: Ledger, views: Sequence[View], store: ViewStore, prefix: str, end: int, page_size: int,
                progress: Callable[[int, int], None] | None, workers: int | None) -> int:
    """Fold the log to `end` into fresh `prefix` tables: in this process, or in parallel ones."""
    if workers is None and end < PARALLEL_FROM:
        workers = 1  # starting processes costs more than it saves on a short log
    groups, sharded = _balanced(views, _workers(ledger, workers))
    if len(groups) == 1:
        return fold_into(ledger, views, store, prefix, until=end, page_size=page_size, progress=progress)
    # The scratch tables are made here: processes folding shares of one view write into the same ones.
    tables = [t for v in views for t in v.tables]
    store.drop(tables, prefix)
    store.ensure(tables, prefix)
    position = _fold_in_processes(ledger, groups, prefix, end, page_size, progress)
    for v in sharded:
        v.finish_shards(store, prefix)
    return position


PARALLEL_FROM = 50_000  # events; a shorter log is rebuilt in this process
# Peak RSS (MB) of each process of the last parallel rebuild in this process: for benchmarks.
last_worker_peaks: list[float] = []


def _workers(ledger: Ledger, asked: int | None) -> int:
    if ledger.store.kind == "sqlite" and "mode=memory" in (ledger.store.sqlite_path or ""):
        return 1  # another process cannot see an in-memory database
    import os

    return max(1, asked if asked is not None else (os.cpu_count() or 1))


def _balanced(views: Sequence[View], workers: int) -> tuple[list[list[View]], list[View]]:
    """Views in at most `workers` groups of similar weight; companions stay together. With more
    than one worker, the heaviest unit that can be sharded is split into one share per worker
    (each folds all its events and derives 1/workers of the rows). Returns the groups and the
    views whose `finish_shards` completes the shares (empty when nothing was split)."""
    units: list[list[View]] = []
    for v in views:
        home = next((u for u in units if any(c in u for c in v.companions())), None)
        if home is None:
            units.append([v])
        else:
            home.append(v)
    weighted = [(unit, sum(v.rebuild_weight for v in unit)) for unit in units]
    sharded: list[View] = []
    if workers > 1:
        for i, (unit, weight) in sorted(enumerate(weighted), key=lambda x: -x[1][1]):
            shares = [unit[0].shard(k, workers) for k in range(workers)]
            if all(shares):
                # Each share still folds every event of the unit: about a tenth of its cost (billing).
                weighted[i:i + 1] = [(share, weight / workers + weight / 10) for share in shares]  # type: ignore[misc]
                sharded = shares[0]  # type: ignore[assignment]
                break
    groups: list[list[View]] = [[] for _ in range(min(workers, len(weighted)))]
    loads = [0.0] * len(groups)
    for unit, weight in sorted(weighted, key=lambda x: -x[1]):
        i = loads.index(min(loads))
        groups[i].extend(unit)
        loads[i] += weight
    return [g for g in groups if g], sharded


def _fold_in_processes(ledger: Ledger, groups: list[list[View]], prefix: str, end: int, page_size: int,
                       progress: Callable[[int, int], None] | None) -> int:
    import multiprocessing
    import time

    # spawn, not fork: the parent holds connection pools and their threads.
    ctx = multiprocessing.get_context("spawn")
    cipher_key = ledger.store.env.get("CIPHER_KEY") or ""
    workers = []
    for group in groups:
        done = ctx.Value("q", 0)
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_fold_worker, args=(ledger.store.url, cipher_key, group, prefix, end, page_size,
                                                      done, send), daemon=True)
        proc.start()
        send.close()
        workers.append((proc, done, receive))
    try:
        while any(p.is_alive() for p, _, _ in workers):
            if progress:
                progress(min(d.value for _, d, _ in workers), end)
            time.sleep(0.2)
        results = []
        for proc, _, receive in workers:
            proc.join()
            try:
                results.append(receive.recv() if receive.poll() else None)
            except EOFError:  # it died before sending (it could not even start, say)
                results.append(None)
            if results[-1] is None:
                raise RuntimeError(f"a rebuild process ended without a result (exit code {proc.exitcode})")
    finally:
        for proc, _, receive in workers:
            if proc.is_alive():
                proc.kill()
            receive.close()
    failed = [r[1] for r in results if r[0] == "error"]
    if failed:
        raise RuntimeError(f"a rebuild process failed: {failed[0]}")
    positions = {r[1] for r in results}
    if len(positions) != 1:
        raise RuntimeError(f"the rebuild processes folded to different positions: {sorted(positions)}")
    last_worker_peaks[:] = [r[2] for r in results]
    if progress:
        progress(end, end)
    return positions.pop()


def rss_mb(field: str = "VmRSS") -> float | None:
    """This process's resident set (VmRSS) or its peak (VmHWM) in MB, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set (MB): VmHWM where /proc has it. ru_maxrss is not the process's
    own after fork + exec on Linux: it starts at the parent's high-water mark (a 2.6 GB benchmark
    process made its 200 MB children report 2.6 GB)."""
    import resource

    peak = rss_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fold_worker(url: str, cipher_key: str, views: list[View], prefix: str, until: int, page_size: int,
                 done: Any, send: Any) -> None:
    import traceback

    try:
        for v in views:
            v.reset()  # fresh state after the trip through pickle (sentinels compare by identity)
        with Ledger(url, cipher_key=cipher_key) as ledger:
            store = open_store(ledger)
            try:
                def report(position: int, _end: int) -> None:
                    done.value = position

                position = fold_into(ledger, views, store, prefix, until=until, page_size=page_size, progress=report,
                                     fresh_tables=False)
            finally:
                store.close()
        send.send(("ok", position, peak_rss_mb()))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
        send.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        send.close()


class ViewsMoved(RuntimeError):
    """The live views moved on while `verify` rebuilt its copy: the two cannot be compared."""


@dataclass
class Drift:
    """One table's differences between the live views and a fresh rebuild: how many rows of each
    kind, and the keys of the first few (sorted)."""

    table: str
    missing: list[tuple]  # in the rebuild, not live
    extra: list[tuple]  # live, not in the rebuild
    different: list[tuple]
    counts: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.counts.values()) or bool(self.missing or self.extra or self.different)


def verify(ledger: Ledger, views: Sequence[View], *, name: str = "views", sample: int = 20,
           workers: int | None = None, page_size: int = 20_000,
           progress: Callable[[int, int], None] | None = None) -> list[Drift]:
    """Rebuild into scratch tables up to the live position (folded as `rebuild` folds: in
    parallel processes on a long log) and compare them with the live tables row by row, in the
    database, within one snapshot. Raises ViewsMoved when the live views moved meanwhile."""
    store = open_store(ledger)
    tables = [t for v in views for t in v.tables]
    try:
        store.ensure(tables)  # views never projected: empty tables, compared with an empty fold
        position = store.position(name)
        _fold_fresh(ledger, views, store, SCRATCH, position, page_size, progress, workers)
        store.analyze(tables, SCRATCH)
        drifts = []
        with store.snapshot():
            now = store.position(name)
            if now != position:
                raise ViewsMoved(f"the live views moved from position {position} to {now} while verify "
                                 "rebuilt its copy; run it again while no follower or command is writing")
            for t in tables:
                counts, samples = store.compare(t, SCRATCH, sample)
                d = Drift(t.name, samples["missing"], samples["extra"], samples.get("different", []), counts)
                if d:
                    drifts.append(d)
        return drifts
    finally:
        try:
            store.drop(tables, SCRATCH)
        finally:
            store.close()
