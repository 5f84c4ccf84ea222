"""The Ledger application: commands in, events out, one transaction per command.

    with Ledger("sqlite:///plads.db") as ledger:
        ledger.execute(RegisterInstitution(...), actor="anna", channel="caseworker")

Storage comes from `PLADS_DATABASE_URL` (see ledger.storage). Each command runs
its handler on a fresh unit of work and saves every aggregate it changed in one
transaction; a concurrent change to one of them (optimistic concurrency) is
retried on fresh state, so the command either succeeds once or is refused with
a domain error — never lost, never doubled.
"""

from __future__ import annotations

import logging
import threading
import time
from contextlib import contextmanager
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable, Iterator
from uuid import UUID

from eventsourcing.application import Application, ProcessingEvent
from eventsourcing.persistence import IntegrityError, JSONTranscoder, PersistenceError, Transcoding

import rules
from ledger import commands as c
from ledger.aggregates import Child, CommandReceipt, Household, Institution, key_digest
from ledger.bulk import Bulk
from ledger.cache import CachedAggregates
from ledger.clock import Clock, SystemClock, copenhagen_date, using_clock
from ledger.dispatch import CHANNELS, Outcome, check_channel, handler_for, hash_request, named_ids
from ledger.errors import InvalidCommand, LedgerError, StaleState, StoreUnavailable
from ledger.handlers import Context
from ledger.lookups import PersonLookups
from ledger.receipts import Receipts
from ledger.registry import PersonRegistry
from ledger.storage import StoreConfig, create_schema, file_identity, opening, parse_database_url
from ledger.unit_of_work import UnitOfWork

__all__ = ["CHANNELS", "Bulk", "Ledger", "Outcome"]

logger = logging.getLogger("plads.ledger")

MAX_ATTEMPTS = 20
_TICK = timedelta(microseconds=1)


class DateAsISO(Transcoding):
    """`date` is not among eventsourcing's default transcodings."""

    type = date
    name = "date_iso"

    def encode(self, obj: date) -> str:
        return obj.isoformat()

    def decode(self, data: str) -> date:
        return date.fromisoformat(data)


class Ledger(CachedAggregates, Receipts, PersonLookups, Application):
    name = "ledger"
    # Institutions live for decades and Households/Children collect many events:
    # snapshots keep command latency flat as history grows.
    snapshotting_intervals = {Institution: 50, Household: 50, Child: 50}  # noqa: RUF012

    def __init__(
        self,
        database_url: str | None = None,
        *,
        clock: Clock | None = None,
        cipher_key: str | None = None,
        env: dict[str, str] | None = None,
        key_store: str | None = None,
        private: bool = False,
    ) -> None:
        self.store: StoreConfig = parse_database_url(database_url, cipher_key)
        # private: nothing but this object writes the store (a scratch ledger), so the aggregates
        # it cached as saved are current, and loading them asks the store nothing.
        self.private = private
        self.clock: Clock = clock or SystemClock()
        self.after_commit: list[Callable[["Ledger", list[Any]], None]] = []
        self._record_lock = threading.Lock()
        self._cache_lock = threading.Lock()
        self._store_down = False
        self._file: tuple[int, int] | None = None  # the SQLite file's (device, inode) when opened
        self._last_recorded = datetime.min.replace(tzinfo=timezone.utc)
        try:
            with opening(self.store):
                if self.store.kind == "postgres" and self.store.schema:
                    create_schema(self.store)
                # Cached aggregates are fast-forwarded with one query for newer events (other
                # processes' writes included) instead of a snapshot read and decode per command;
                # commands get deep copies, so a refused command leaves the cache as it was.
                super().__init__(env={"AGGREGATE_CACHE_MAXSIZE": "20000", **self.store.env, **(env or {})})
                self.registry = PersonRegistry(self.store, key_store)  # keys: $PLADS_KEY_STORE
            self._last_recorded = self._last_recorded_in_log()
            self._file = file_identity(self.store)
        except PersistenceError as e:
            raise StoreUnavailable(f"cannot open the ledger at {self.store.kind}: {e}") from None

    def _last_recorded_in_log(self) -> datetime:
        """The recorded time of the log's last event: a ledger opened again (a restart, another
        process, a clock behind the last writer's) records after it, so recorded time keeps rising
        with the log."""
        last = self.recorder.max_notification_id()
        if last:
            found = self.recorder.select_notifications(start=last, limit=1)
            if found:
                return self.mapper.to_domain_event(found[0]).timestamp
        return datetime.min.replace(tzinfo=timezone.utc)

    def register_transcodings(self, transcoder: JSONTranscoder) -> None:
        super().register_transcodings(transcoder)
        transcoder.register(DateAsISO())

    def save(self, *objs: Any, **kwargs: Any) -> list[Any]:
        """Save aggregates in one transaction, their events in recorded-time order.

        A command's events interleave across aggregates (the child's registration,
        then the booking, then the seat); sorting by timestamp (stable, so each
        aggregate keeps its version order) makes log order follow recorded time.
        """
        processing_event: ProcessingEvent = ProcessingEvent()
        processing_event.collect_events(*objs, **kwargs)
        processing_event.events.sort(key=lambda e: e.timestamp)
        with self._record_lock:
            # Two threads can take their times in one order and commit in the other;
            # recorded time must still rise with the log, so a late committer's events
            # move forward to just after the last time recorded (never backwards).
            for e in processing_event.events:
                if e.timestamp <= self._last_recorded:
                    object.__setattr__(e, "timestamp", self._last_recorded + _TICK)
                self._last_recorded = e.timestamp
            recordings = self._record(processing_event)
        self._take_snapshots(processing_event)
        self._notify(recordings)
        return recordings

    def _take_snapshots(self, processing_event: ProcessingEvent) -> None:
        """Snapshot the aggregates whose version passed a multiple of their interval, from the
        saved aggregates themselves, in one transaction: the library reads each one back from
        the database first (a snapshot and its events: two more queries per snapshot)."""
        if self.snapshots is None:
            return
        due: dict[UUID, Any] = {}
        for event in processing_event.events:
            aggregate = processing_event.aggregates.get(event.originator_id)
            interval = self.snapshotting_intervals.get(type(aggregate))
            if interval and event.originator_version % interval == 0:
                due[event.originator_id] = aggregate
        if due:
            # At the aggregate's latest saved version: a snapshot of any version is valid.
            self.snapshots.put([
                getattr(type(a), "Snapshot", type(self).snapshot_class).take(a) for a in due.values()
            ])

    def close(self) -> None:
        registry = getattr(self, "registry", None)
        if registry is not None:
            registry.close()
        super().close()

    # -- commands ----------------------------------------------------------------------

    def execute(
        self,
        command: c.Command,
        *,
        actor: str,
        channel: str,
        idempotency_key: str | None = None,
    ) -> Outcome:
        """Run one command in its own transaction (retrying on a concurrent change)."""
        handler = handler_for(command)
        check_channel(channel)
        self._check_store()
        request_hash = hash_request(command, actor, channel) if idempotency_key else ""
        reconnected = False
        for attempt in range(MAX_ATTEMPTS):
            uow = UnitOfWork(self)
            ctx = Context(actor=actor, channel=channel, today=self._today(), registry=self.registry,
                          retried=attempt > 0)
            writing: list[bool] = []  # set once the save has begun
            try:
                with using_clock(self.clock):
                    uow.prefetch(named_ids(command, idempotency_key))
                    earlier = self._earlier_outcome(uow, idempotency_key, request_hash) if idempotency_key else None
                    if earlier is not None:
                        return earlier
                    result = handler(uow, command, ctx)
                    recordings = self._commit(uow, ctx, command, result, idempotency_key, request_hash, writing)
            except IntegrityError:
                # Someone saved one of our aggregates first: re-run on fresh state.
                time.sleep(min(0.001 * 2**attempt, 0.05) * (0.5 + (hash((actor, attempt)) % 100) / 100))
                continue
            except LedgerError as e:
                if idempotency_key:
                    self._remember_refusal(idempotency_key, request_hash, command, actor, channel, e)
                raise
            except rules.RuleError as e:
                refusal = InvalidCommand(str(e))
                if idempotency_key:
                    self._remember_refusal(idempotency_key, request_hash, command, actor, channel, refusal)
                raise refusal from None
            except PersistenceError as e:
                self._store_down = True
                if not writing and not reconnected:
                    # A read met a connection that died in a restart while we were idle: if the
                    # server answers now, run the command again on fresh connections. (Not after
                    # a failed write: it may have committed, and running it twice could double it.)
                    self._check_store()
                    reconnected = True
                    continue
                raise StoreUnavailable(f"the ledger's database is unavailable: {e}") from None
            for step in ctx.after_commit:
                step()
            self._notify_after_commit(recordings)
            return Outcome(result, max((r.notification.id for r in recordings), default=None))
        raise StaleState(
            f"{type(command).__name__} met concurrent changes {MAX_ATTEMPTS} times; try again"
        )

    def _commit(self, uow: UnitOfWork, ctx: Context, command: c.Command, result: dict,
                idempotency_key: str | None, request_hash: str, writing: list[bool]) -> list[Any]:
        """Save what the command changed (and its receipt, when it has a key) in one transaction."""
        if idempotency_key:
            uow.add(CommandReceipt(key=key_digest(idempotency_key), command=type(command).__name__,
                                   request_hash=request_hash, outcome=result, meta=ctx.meta(uow, None)))
        for step in ctx.before_commit:
            step()
        writing.append(True)
        # The receipt last: its log position is the command's, which a retry answers again.
        changed = sorted(uow.changed(), key=lambda a: isinstance(a, CommandReceipt))
        recordings = self.save(*changed)
        for aggregate in changed:
            # As saved: the next command on it reads only what others wrote since.
            self._remember(aggregate)
        return recordings

    def check(self) -> None:
        """Raise StoreUnavailable when the store cannot take writes: a PostgreSQL server known to be
        down (asked again), or a SQLite file deleted or replaced since the ledger opened it."""
        self._check_store()

    def _check_store(self) -> None:
        """After an outage, ask the server before queueing behind the pool's timeouts:
        while it is still down, callers hear so at once (HTTP 503), not after seconds."""
        if self._file is not None and file_identity(self.store) != self._file:
            # The open connections would go on writing into the unlinked file, acknowledged and
            # then lost at the next start: refuse instead, until the file is back and we restart.
            raise StoreUnavailable("the ledger's SQLite file was deleted or replaced after the ledger opened it; "
                                   "writes are refused until it is restored and the service restarted")
        if not self._store_down or self.store.kind != "postgres":
            return
        import psycopg

        try:
            with psycopg.connect(self.store.postgres_conninfo, connect_timeout=1):
                pass
        except psycopg.Error as e:
            raise StoreUnavailable(f"the ledger's database is unavailable: {str(e).strip()}") from None
        # The server is back: connections pooled before the outage are dead; drop them now
        # rather than meet them one failed statement at a time.
        self.recorder.datastore.pool.check()
        self._store_down = False

    def today(self) -> date:
        """The ledger's decision day (Copenhagen date of its clock)."""
        return self._today()

    def _today(self) -> date:
        # The decision day is the recorded day in Copenhagen (a booking at 00:30 on the
        # 1st is made on the 1st, not on the 31st in UTC); reading it does not tick a
        # simulated clock.
        today = getattr(self.clock, "today", None)
        return today() if callable(today) else copenhagen_date(self.clock.now())

    def _notify_after_commit(self, recordings: list[Any]) -> None:
        # The command is committed whatever a listener does: a failing listener (an inline
        # projection, say) is logged and catches up on its next run; it never turns an
        # accepted command into an apparent failure.
        for listener in self.after_commit:
            try:
                listener(self, recordings)
            except Exception:  # noqa: BLE001
                logger.exception("a listener failed after a committed command; it will catch up later")

    # -- the bulk path (import, simulation) ------------------------------------------------

    @contextmanager
    def bulk(self, *, actor: str, channel: str, batch_size: int = 500) -> Iterator["Bulk"]:
        """Many commands per transaction, with the same handlers and validation.

        A refused command is reported (Bulk.rejected) and leaves no trace; the
        others are saved batch by batch. Leaving the block saves the last batch.
        """
        check_channel(channel)
        batch = Bulk(self, actor, channel, batch_size)
        try:
            yield batch
            batch.flush()
        finally:
            batch.uow = UnitOfWork(self)

    # -- reading --------------------------------------------------------------------------

    def get(self, cls, aggregate_id):
        """An aggregate by id and type (NotFound otherwise); for queries and tests."""
        self._check_store()
        try:
            return UnitOfWork(self).get(cls, aggregate_id)
        except PersistenceError as e:
            self._store_down = True
            raise StoreUnavailable(f"the ledger's database is unavailable: {e}") from None

    def _position_of(self, aggregate_id: UUID, version: int = 1) -> int | None:
        """The log position of one recorded event (None when it is not in the log)."""
        datastore, table = self.recorder.datastore, self.recorder.events_table_name
        if self.store.kind == "postgres":
            from psycopg.rows import tuple_row

            sql = (f'SELECT notification_id FROM "{datastore.schema}".{table} '
                   'WHERE originator_id = %s AND originator_version = %s')
            with datastore.get_connection() as conn, conn.cursor(row_factory=tuple_row) as cur:
                cur.execute(sql, (aggregate_id, version))
                row = cur.fetchone()
        else:
            with datastore.transaction(commit=False) as cur:
                cur.execute(f"SELECT rowid FROM {table} WHERE originator_id = ? AND originator_version = ?",
                            (aggregate_id.hex, version))
                row = cur.fetchone()
        return None if row is None else int(row[0])

    def max_position(self) -> int:
        self._check_store()
        try:
            return self.recorder.max_notification_id() or 0
        except PersistenceError as e:
            self._store_down = True
            raise StoreUnavailable(f"the ledger's database is unavailable: {e}") from None
