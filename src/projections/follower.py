"""The follower: keeps the views current from one process at a time, for as long as it runs.

One implementation for `plads project --follow` and the API's follower thread. On PostgreSQL one
process per database follows (the `Leadership` lock); the others wait and take over when it goes.
A view that cannot take an event stops the views (the projector logs it and records it for
/health): the follower gives up the lead and tries again now and then, as it does after an outage.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Callable

from ledger import Ledger

from projections.engine import ViewStalled

from projections.projector import Projector
from projections.stores import is_outage

STALL_RETRY_SECONDS = 60.0  # a view that could not take an event is tried again this often (it was logged)
OUTAGE_RETRY_SECONDS = 1.0  # after the database went away (or the follower failed): a pause, then again
logger = logging.getLogger("plads.projections")


class Leadership:
    """One follower per set of views on PostgreSQL: a session advisory lock on (schema, view set),
    held on its own connection while following. Followers that do not hold it wait and take over
    when the holder goes (its connection closes, and the lock with it). Two followers would only
    refuse each other's pages (PositionMoved) and reload their whole state each time."""

    def __init__(self, ledger: Ledger, name: str = "views") -> None:
        self.conninfo = ledger.store.postgres_conninfo
        self.key = f"plads follower {ledger.store.schema or 'public'} {name}"
        self.conn: Any = None

    def try_acquire(self) -> bool:
        import psycopg  # only PostgreSQL has followers to choose among

        if self.conn is None or self.conn.closed:
            self.conn = psycopg.connect(self.conninfo, autocommit=True)
        return bool(self.conn.execute("SELECT pg_try_advisory_lock(hashtext(%s))", (self.key,)).fetchone()[0])

    def release(self) -> None:
        if self.conn is not None:
            self.conn.close()  # the lock goes with the session
            self.conn = None


class Follower:
    """Leads when it can (always on SQLite, which has one writer of views), catches up, follows.

    `projector` is the live projector while this process leads, else None. The hooks say what
    happens to whoever runs it: `on_wait()` when another process leads, `on_lead(position)` when
    this one takes the lead (from the views' position), `on_stall(error)` when a view stopped the views.
    """

    def __init__(self, ledger: Ledger, make_projector: Callable[[], Projector], *, poll_seconds: float = 1.0,
                 on_wait: Callable[[], None] | None = None, on_lead: Callable[[int], None] | None = None,
                 on_stall: Callable[[ViewStalled], None] | None = None) -> None:
        self.leadership = Leadership(ledger) if ledger.store.kind == "postgres" else None
        self.make_projector = make_projector
        self.poll_seconds = poll_seconds
        self.on_wait, self.on_lead, self.on_stall = on_wait, on_lead, on_stall
        self.projector: Projector | None = None

    def lead(self) -> bool:
        """Take the lead if no other process has it, and bring the views up to date; False while
        another leads. A ViewStalled from the catch-up leaves the lead taken (`resign` gives it up)."""
        if self.projector is not None:
            return True
        if self.leadership is not None and not self.leadership.try_acquire():
            return False
        projector = self.make_projector()
        if self.on_lead:
            self.on_lead(projector.position)
        try:
            projector.catch_up()
        except BaseException:
            projector.close()
            raise
        self.projector = projector
        return True

    def run(self, stop: threading.Event) -> None:
        """Follow until `stop` is set: lead or wait for the lead, and keep going through stalls and outages."""
        waiting = failing = False
        while not stop.is_set():
            try:
                if not self.lead():
                    if not waiting and self.on_wait:
                        self.on_wait()
                    waiting = True
                    stop.wait(self.poll_seconds)  # another process follows; take over when it goes
                    continue
                waiting = failing = False
                assert self.projector is not None
                self.projector.follow(stop, poll_seconds=self.poll_seconds)
            except ViewStalled as e:
                # Logged and recorded by the projector; trying again at once would only fail again.
                self.resign()
                if self.on_stall:
                    self.on_stall(e)
                stop.wait(STALL_RETRY_SECONDS)
            except Exception as e:  # noqa: BLE001 - give up the lead, try again after a pause
                if failing:
                    pass  # said once when it began; the next lead that succeeds ends it
                elif is_outage(e):
                    logger.warning("the follower lost the database (%s); trying again each second", e)
                else:
                    logger.exception("the follower failed; trying again each second")
                failing = True
                self.resign()
                stop.wait(OUTAGE_RETRY_SECONDS)

    def resign(self) -> None:
        """Stop following here and give up the lead (another process, or this one later, takes it)."""
        projector, self.projector = self.projector, None
        if projector is not None:
            try:
                projector.close()
            except Exception:  # noqa: BLE001 - its connection may be gone already
                pass
        if self.leadership is not None:
            try:
                self.leadership.release()
            except Exception:  # noqa: BLE001
                pass

    close = resign
