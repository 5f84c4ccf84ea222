"""How the API reads the views: current ones (waiting for a position if asked), or as of a time.

On SQLite the views are brought up to date inline after every command (read-your-writes).
On PostgreSQL a follower thread keeps them current (one per database: the API worker holding
the follower's advisory lock; the others read and wait); a command's response carries the log
position of its events, and a read with `min_position` waits (bounded) until the views
have caught up to it. A read without it waits (bounded, then answers what it has) for the
commands this server process has answered, so one client talking to one server reads its
own writes on both stores.
"""

from __future__ import annotations

import queue
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime
from typing import Iterator, Sequence

from ledger import InvalidCommand, Ledger, StoreUnavailable
from projections import Follower, Projector, View, all_views, attach_inline, open_store
from projections.engine import ViewStalled
from projections.pointintime import views_as_of
from projections.stores import ViewStore, is_outage

WAIT_SECONDS = 5.0
STALL_CHECK_SECONDS = 0.25  # how often a waiting read looks whether the views stopped


class Views:
    def __init__(self, ledger: Ledger, *, follow: bool = True, poll_seconds: float = 0.5) -> None:
        self.ledger = ledger
        self._stores: queue.SimpleQueue[ViewStore] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._detach = None
        self._inline: Projector | None = None  # SQLite: this process's projector, run after every command
        # PostgreSQL: a follower thread, projecting only while this process leads (one follower per
        # database, among API workers and `plads project --follow`).
        self._follower: Follower | None = None
        self._written = 0  # the last position a command of this process reached
        self._written_lock = threading.Lock()
        # Notified by the follower thread after each page it commits: reads waiting for a position
        # wake at once instead of polling the store.
        self._advanced = threading.Condition()
        if ledger.store.kind == "sqlite":
            self._inline = self._projector()
            try:
                self._inline.catch_up()
            except ViewStalled:
                pass  # logged and recorded by the projector: /health and the reads say so
            self._detach = attach_inline(ledger, self._inline)
        elif follow:
            self._follower = Follower(ledger, self._projector, poll_seconds=poll_seconds,
                                      on_stall=lambda _error: self._committed(0))
            try:
                self._follower.lead()  # the views are current before the first request (as a lone server expects)
            except ViewStalled:
                self._follower.resign()  # logged and recorded; the follower tries again now and then
            self._thread = threading.Thread(target=self._follow, name="plads-follower", daemon=True)
            self._thread.start()

    @property
    def projector(self) -> Projector | None:
        """This process's projector: always on SQLite; on PostgreSQL only while this process leads."""
        return self._follower.projector if self._follower is not None else self._inline

    def _projector(self) -> Projector:
        projector = Projector(self.ledger, all_views(), checkpoint_every=100_000)
        projector.on_commit = self._committed
        return projector

    def _follow(self) -> None:
        assert self._follower is not None
        self._follower.run(self._stop)

    def close(self) -> None:
        if self._detach:
            self._detach()
        self._stop.set()
        if self._thread:
            self._thread.join(timeout=10)
        while not self._stores.empty():
            self._stores.get().close()
        if self._follower is not None:
            self._follower.close()
        elif self._inline is not None:
            self._inline.close()

    def _committed(self, _position: int) -> None:
        with self._advanced:
            self._advanced.notify_all()

    def wrote(self, position: int | None) -> None:
        """A command of this process reached `position`: later reads here wait for it (on SQLite
        the inline projection has caught up before the command answers, unless a view stopped)."""
        if position:
            with self._written_lock:
                self._written = max(self._written, position)

    @contextmanager
    def current(self, min_position: int | None = None, *, own_writes: bool = True) -> Iterator[ViewStore]:
        """A store of the live views, at or beyond `min_position` when given; otherwise, as far as
        the follower gets within the wait, at or beyond this process's own last command."""
        try:
            store = self._stores.get_nowait()
        except queue.Empty:
            try:
                store = open_store(self.ledger)
            except Exception as e:  # noqa: BLE001 - the database is gone
                raise StoreUnavailable(f"the views' database is unavailable: {e}") from None
        healthy = False
        try:
            if min_position:
                self._wait_for(store, min_position)
            elif own_writes and self._written:
                self._wait_for(store, self._written, strict=False)
            yield store
            healthy = True
        except Exception as e:
            if is_outage(e):  # the database went away while this read used it
                raise StoreUnavailable(f"the views' database is unavailable: {e}") from None
            raise
        finally:
            if healthy:
                self._stores.put(store)
            else:
                store.close()

    def _wait_for(self, store: ViewStore, position: int, *, strict: bool = True) -> None:
        if strict and position > self.ledger.max_position():
            raise InvalidCommand(f"min_position {position} is beyond the ledger's last event")
        deadline = time.monotonic() + WAIT_SECONDS
        check_stall = 0.0
        while store.position("views") < position:
            if time.monotonic() >= check_stall:
                stall = store.stall("views")
                if stall is not None and stall[0] <= position:
                    raise ViewStalled("views", *stall)  # it will not get there: say so at once
                check_stall = time.monotonic() + STALL_CHECK_SECONDS
            if self.ledger.store.kind == "sqlite":
                assert self.projector is not None
                self.projector.catch_up()
            if time.monotonic() > deadline:
                if not strict:
                    return  # the answer's `position` says how far the views are
                raise StoreUnavailable(f"the views have not reached position {position} within "
                                       f"{WAIT_SECONDS:.0f} s; try again")
            projector = self.projector
            if self._thread is not None and projector is not None:
                # This process follows: sleep until it commits a page (the store is then read again).
                with self._advanced:
                    self._advanced.wait_for(lambda: projector.position >= position,
                                            timeout=min(0.5, max(0.0, deadline - time.monotonic())))
            else:
                time.sleep(0.005)  # another process follows: poll the store (one indexed read)

    @contextmanager
    def as_of(self, when: datetime | date, views: Sequence[View] | None = None) -> Iterator[ViewStore]:
        """The views as the ledger knew them at `when` (point-in-time replay)."""
        with views_as_of(self.ledger, when, views) as store:
            yield store
