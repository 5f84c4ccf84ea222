"""Running the views over the log: after each command (inline), following it, or catching up once."""

from __future__ import annotations

import gc
import logging
import threading
from typing import Any, Callable, Sequence

from ledger import Ledger
from projections.checkpoints import save_checkpoint
from projections.engine import Envelope, View, ViewStalled, by_topic, collector_paused, open_store, reader_for
from projections.stores import OlderState, PositionMoved, PostgresViewStore, RowsRefused, ViewStore, is_outage
from projections.tables import Changes, Table

DEFAULT_PAGE = 5_000
logger = logging.getLogger("plads.projections")


class _Refused(Exception):
    """A view refused a page: in folding (at a known event) or in writing its rows."""

    def __init__(self, view: str, position: int, error: BaseException) -> None:
        super().__init__(view, position, error)
        self.view, self.position, self.error = view, position, error




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
        self._by_topic = by_topic(self.views)
        self._view_names = sorted({v.name for v in self.views})
        self.reader = reader_for(ledger, self.views)
        self._lock = threading.Lock()
        # Called with the new position after every committed page (the API wakes its waiting reads).
        self.on_commit: Callable[[int], None] | None = None
        older = self.store.older_layout(self.tables)
        if older is not None:
            raise OlderState(f"the views were projected by an older plads ({older} is stored by month, not as runs); "
                             "run `plads rebuild` once")
        self.store.ensure(self.tables)
        if isinstance(self.store, PostgresViewStore):
            self.store.grant_analyst(self.tables)
        self._start()

    def _start(self) -> None:
        with collector_paused():
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
                    self.store.commit(self.name, self.position, last, changes, views=self._view_names)
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
        for v in self.views:
            try:
                v.prefetch(events)
            except Exception as error:
                raise (error if is_outage(error) else _Refused(v.name, last, error)) from error
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
