"""The comparison line: eventsourcing's stock ProjectionRunner on the same history.

A minimal projection (count events per kind) run by `eventsourcing.projection.ProjectionRunner`
on PostgreSQL: it subscribes to the ledger and commits the view change and the tracking
position in one transaction per event. It runs for a bounded time; the rate is the number of
events it tracked divided by that time. Used by bench/run.py; PostgreSQL only (SQLite
recorders cannot subscribe).
"""

from __future__ import annotations

import time
from functools import singledispatchmethod
from typing import Any

from eventsourcing.persistence import Tracking
from eventsourcing.postgres import PostgresTrackingRecorder
from eventsourcing.projection import Projection, ProjectionRunner
from psycopg.sql import SQL, Identifier

from ledger import Ledger


class EventCounts(PostgresTrackingRecorder):
    """A materialised view: events seen per kind."""

    def __init__(self, datastore: Any, **kwargs: Any) -> None:
        super().__init__(datastore, **kwargs)
        self.sql_create_statements.append(SQL(
            "CREATE TABLE IF NOT EXISTS {0}.stock_runner_counts (kind text PRIMARY KEY, n bigint NOT NULL)"
        ).format(Identifier(datastore.schema)))
        self._upsert = SQL(
            "INSERT INTO {0}.stock_runner_counts VALUES (%s, 1) "
            "ON CONFLICT (kind) DO UPDATE SET n = stock_runner_counts.n + 1"
        ).format(Identifier(datastore.schema))

    def count(self, kind: str, tracking: Tracking) -> None:
        with self.datastore.transaction(commit=True) as curs:
            curs.execute(self._upsert, (kind,), prepare=True)
            self._insert_tracking(curs, tracking)


class CountEvents(Projection[EventCounts]):
    name = "stockcount"

    @singledispatchmethod
    def process_event(self, domain_event: Any, tracking: Tracking) -> None:
        self.view.count(type(domain_event).__qualname__, tracking)


def stock_runner_rate(ledger: Ledger, seconds: float = 15.0) -> tuple[int, float]:
    """Events tracked by the stock runner in about `seconds`, and the rate (events/s)."""
    url = ledger.store.url

    class _Ledger(Ledger):  # the runner constructs the application from an env alone
        name = ledger.name

        def __init__(self, env: Any = None) -> None:
            super().__init__(url)

    env = dict(ledger.store.env)
    started = time.perf_counter()
    with ProjectionRunner(application_class=_Ledger, projection_class=CountEvents, view_class=EventCounts,
                          env=env) as runner:
        time.sleep(seconds)
        done = runner.projection.view.max_tracking_id(ledger.name) or 0
        elapsed = time.perf_counter() - started
    return done, done / elapsed
