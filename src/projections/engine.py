"""The projection engine's core: views, the events they handle, and the reader of the log.

A view registers one method per event type of the catalogue (`ledger.events`) with `@on`; its
`handles` follow. `LogReader` reads the notification log in large pages and decodes the events
without building domain objects. What runs the views over the log:
- `projections.projector.Projector`: inline after each command (SQLite, read-your-writes) with
  `attach_inline(ledger)`, or following the log (PostgreSQL: polls and wakes on LISTEN/NOTIFY),
  committing every view's changes with the position in one transaction per page — exactly once,
  resumable after a crash (`kill -9`): an uncommitted page leaves neither rows nor position;
- `projections.rebuilding`: from position 0 into fresh tables, folded in memory, written in bulk
  (COPY on PostgreSQL) and swapped in atomically; `verify`, a rebuild into scratch tables
  compared with the live ones, row by row.
"""

from __future__ import annotations

import gc
import logging
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, Sequence, TypeVar

from ledger import Ledger, LedgerError, events
from projections.logreader import Envelope, LogReader
from projections.stores import PostgresViewStore, SQLiteViewStore, ViewStore
from projections.tables import Changes, Keyed, Row, Table

logger = logging.getLogger("plads.projections")

# LogReader and Envelope live in projections.logreader; the views and runners import them from here.
__all__ = ["Envelope", "LogReader", "View", "ViewStalled", "by_topic", "collector_paused", "on", "open_store",
           "reader_for"]


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


Handler = TypeVar("Handler", bound=Callable[..., None])


def on(*entries: type[events.EventType], time_only: bool = False) -> Callable[[Handler], Handler]:
    """Registers a view's method as the view's handler of these events (entries of the event
    catalogue, `ledger.events`); the view's `handles` are the events its methods registered for.
    `time_only`: the view reads nothing of these events but their recorded time (a clock), so
    where no other view reads more of them their JSON is never decoded (`reader_for`)."""
    for entry in entries:
        if not (isinstance(entry, type) and issubclass(entry, events.EventType)
                and events.CATALOGUE.get(getattr(entry, "topic", None)) is entry):
            raise TypeError(f"{entry!r} is not an entry of the event catalogue")
    if not entries:
        raise TypeError("name the events the handler takes")

    def register(method: Handler) -> Handler:
        method.__handles__ = (*getattr(method, "__handles__", ()), *(e.topic for e in entries))  # type: ignore[attr-defined]
        if time_only:
            method.__time_only__ = (*getattr(method, "__time_only__", ()), *(e.topic for e in entries))  # type: ignore[attr-defined]
        return method

    return register


class View:
    """A read model: tables, the events it handles (one method per event type, registered with
    `@on(...)`), and how it folds them."""

    name: str = ""
    tables: tuple[Table, ...] = ()
    handles: frozenset[str] = frozenset()  # "Aggregate.Event": derived from the registered methods
    time_only: frozenset[str] = frozenset()  # of those, the ones it reads only the recorded time of
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
        cls.time_only = frozenset(topic for topic, method in handlers.items()
                                  if topic in getattr(method, "__time_only__", ()))

    def __init__(self) -> None:
        self.t: dict[str, Keyed] = {table.name: Keyed(table) for table in self.tables}
        # Set by a rebuild (fold_into): where a view may write rows it derives once and never
        # reads back, instead of holding them in memory until the end. Views that derive per
        # page, or not at all, ignore it.
        self.sink: Callable[[Table, list[Row]], None] | None = None
        # Set by start() from a view store: where the rows of partitioned tables live (loaded per
        # owner while being derived again and forgotten once their changes are taken), and those
        # of tables the view reads as needed (`loads`, `read_rows`). Unset (a fold in memory, or a
        # restore from a checkpoint) every row stays in memory.
        self.owned_store: ViewStore | None = None
        self._owned_prefix = ""

    def start(self, store: ViewStore, prefix: str = "") -> None:
        """Load the working state from the view's (non-log, non-partitioned) tables."""
        for keyed in self.t.values():
            if not keyed.table.append_only and keyed.table.partition is None and self.loads(keyed.table):
                keyed.load(store.load(keyed.table, prefix))
        if isinstance(store, ViewStore):
            self.owned_store, self._owned_prefix = store, prefix

    def loads(self, table: Table) -> bool:
        """Whether `start` loads the table whole (a view reading it otherwise says no: it reads the
        rows it needs with `read_rows` and may forget them once their changes are taken)."""
        return True

    def read_rows(self, table: Table, column: str, values: list[Any],
                  since: tuple[str, Any] | None = None) -> Iterator[Row]:
        """The store's rows of the table whose `column` is one of `values` (given `since` =
        (column, value), only those from that value on); none in a fold in memory (no store)."""
        if self.owned_store is None or not values:
            return iter(())
        return self.owned_store.load_owned(table, values, self._owned_prefix, since, by=column)

    def held_rows(self, table: Table, store: ViewStore) -> Iterable[Row]:
        """The table's rows as the view's state has them now (a checkpoint saves them)."""
        return self.t[table.name].rows.values()

    def held_in_store(self, table: Table) -> str | None:
        """Where the store, just committed, holds the table's rows as the state has them (a
        checkpoint then copies them within the database); None: the rows are in memory. A table
        `start` does not load is read as needed: the store holds it."""
        if self.owned_store is not None and not self.loads(table):
            return f"{self._owned_prefix}{table.name}"
        return None

    def prefetch(self, events: list[Envelope]) -> None:
        """Before a live projector folds a page: a view that reads its state from the store as
        needed may read what the page's events need in one go."""

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


def by_topic(views: Sequence[View]) -> dict[str, list[tuple[View, Callable[[Envelope], None]]]]:
    """Per topic, the views that handle it (in their order) and what to call with its events."""
    out: dict[str, list[tuple[View, Callable[[Envelope], None]]]] = {}
    for v in views:
        for topic in v.handles:
            out.setdefault(topic, []).append((v, v.route(topic)))
    return out


def reader_for(ledger: Ledger, views: Sequence[View], *, selected: bool = False) -> LogReader:
    """A reader of the events the views handle; of those every view handling them takes only for
    their recorded time (`on(..., time_only=True)`), just that time is read — not their JSON."""
    kinds = set().union(*(v.handles for v in views))
    time_only = {k for k in kinds if all(k in v.time_only for v in views if k in v.handles)}
    return LogReader(ledger, kinds, selected=selected, time_only=time_only)


def open_store(ledger: Ledger) -> ViewStore:
    cfg = ledger.store
    if cfg.kind == "sqlite":
        return SQLiteViewStore(cfg.sqlite_path)
    return PostgresViewStore(cfg.postgres_conninfo, cfg.schema)


@contextmanager
def collector_paused() -> Iterator[None]:
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
