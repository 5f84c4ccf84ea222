"""PostgreSQL recorders that give up quickly when the database is gone.

eventsourcing's recorders retry a failed statement ten times, each waiting up to the
connect timeout for a pooled connection: with the server down one command would hang
for close to a minute before the caller hears of it. A caseworker (and a load balancer)
needs a prompt 503 instead, so these retry once — enough to replace a connection that
died under a restart. Everything else is the library's.

`select_since` is ours: a command's aggregates read in one round trip (their latest
snapshots and the events after them, or after the versions a cache already holds)
instead of two queries per aggregate.
"""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from eventsourcing.persistence import InterfaceError, OperationalError, StoredEvent
from eventsourcing.postgres import (
    PostgresAggregateRecorder,
    PostgresApplicationRecorder,
    PostgresFactory,
    PostgresTrackingRecorder,
)
from eventsourcing.utils import retry
from psycopg.sql import SQL, Identifier

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


# Per wanted aggregate: its latest snapshot if the caller holds no version of it (known = 0),
# then every event after the snapshot or after the known version. Both tables are keyed on
# (originator_id, originator_version), so each part is an index range scan.
_SELECT_SINCE = """
WITH wanted(id, known) AS (SELECT * FROM unnest(%s::uuid[], %s::int[])),
latest AS (
    SELECT w.id, s.originator_version, s.topic, s.state
    FROM wanted w CROSS JOIN LATERAL (
        SELECT originator_version, topic, state FROM {snapshots} s
        WHERE s.originator_id = w.id AND w.known = 0
        ORDER BY originator_version DESC LIMIT 1) s)
SELECT 0 AS part, id AS originator_id, originator_version, topic, state FROM latest
UNION ALL
SELECT 1, e.originator_id, e.originator_version, e.topic, e.state
FROM wanted w LEFT JOIN latest l ON l.id = w.id
JOIN {events} e ON e.originator_id = w.id
    AND e.originator_version > greatest(w.known, coalesce(l.originator_version, 0))
ORDER BY originator_id, part, originator_version
"""


@_once_more
def select_since(events: PostgresAggregateRecorder, snapshots: PostgresAggregateRecorder,
                 known: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
    """For each id: its latest snapshot (only where `known` is 0) and the events after it or
    after the known version, in version order; ids with nothing new map to []."""
    found: dict[UUID, list[StoredEvent]] = {i: [] for i in known}
    if not known:
        return found
    datastore = events.datastore
    ids = list(known)
    statement = SQL(_SELECT_SINCE).format(
        events=Identifier(datastore.schema, events.events_table_name),
        snapshots=Identifier(datastore.schema, snapshots.events_table_name),
    )
    with datastore.get_connection() as conn, conn.cursor() as curs:
        curs.execute(statement, (ids, [known[i] for i in ids]), prepare=True)
        for row in curs.fetchall():
            found[row["originator_id"]].append(StoredEvent(
                originator_id=row["originator_id"], originator_version=row["originator_version"],
                topic=row["topic"], state=bytes(row["state"])))
    return found


class Factory(PostgresFactory):
    aggregate_recorder_class = AggregateRecorder
    application_recorder_class = ApplicationRecorder
    tracking_recorder_class = PostgresTrackingRecorder


TOPIC = "ledger.pgstore:Factory"
