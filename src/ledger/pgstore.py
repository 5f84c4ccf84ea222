"""PostgreSQL recorders that give up quickly when the database is gone.

eventsourcing's recorders retry a failed statement ten times, each waiting up to the
connect timeout for a pooled connection: with the server down one command would hang
for close to a minute before the caller hears of it. A caseworker (and a load balancer)
needs a prompt 503 instead, so these retry once — enough to replace a connection that
died under a restart. Everything else is the library's.
"""

from __future__ import annotations

from eventsourcing.persistence import InterfaceError, OperationalError
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry

_once_more = retry((InterfaceError, OperationalError), max_attempts=2, wait=0.1)


def _quick(method):
    return _once_more(method.__wrapped__)


class AggregateRecorder(PostgresAggregateRecorder):
    insert_events = _quick(PostgresAggregateRecorder.insert_events)
    select_events = _quick(PostgresAggregateRecorder.select_events)


class ApplicationRecorder(PostgresApplicationRecorder):
    insert_events = _quick(PostgresApplicationRecorder.insert_events)
    select_events = _quick(PostgresApplicationRecorder.select_events)
    select_notifications = _quick(PostgresApplicationRecorder.select_notifications)
    max_notification_id = _quick(PostgresApplicationRecorder.max_notification_id)


class Factory(PostgresFactory):
    aggregate_recorder_class = AggregateRecorder
    application_recorder_class = ApplicationRecorder
    tracking_recorder_class = PostgresTrackingRecorder


TOPIC = "ledger.pgstore:Factory"
