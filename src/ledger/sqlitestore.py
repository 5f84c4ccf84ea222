"""A command's aggregates read from SQLite in one query per few hundred (their latest snapshots and
the events after them, or after the versions a cache already holds), as `pgstore.select_since` does
on PostgreSQL: a billing run reads every household of the city, and one query per household (two
for one not cached) was a tenth of a simulated city's time."""

from __future__ import annotations

from collections.abc import Mapping
from uuid import UUID

from eventsourcing.persistence import StoredEvent
from eventsourcing.sqlite import SQLiteAggregateRecorder

CHUNK = 400  # wanted aggregates per query (two parameters each; SQLite allows 32,766)

# Per wanted aggregate: its latest snapshot if the caller holds no version of it (known = 0),
# then every event after the snapshot or after the known version. Both tables are keyed on
# (originator_id, originator_version), so each part is an index range scan.
_SELECT_SINCE = """
WITH wanted(id, known) AS (VALUES {values}),
latest AS (
    SELECT w.id, s.originator_version, s.topic, s.state FROM wanted w
    JOIN {snapshots} s ON s.originator_id = w.id AND w.known = 0 AND s.originator_version =
        (SELECT max(originator_version) FROM {snapshots} m WHERE m.originator_id = w.id))
SELECT 0 AS part, id AS originator_id, originator_version, topic, state FROM latest
UNION ALL
SELECT 1, e.originator_id, e.originator_version, e.topic, e.state
FROM wanted w LEFT JOIN latest l ON l.id = w.id
JOIN {events} e ON e.originator_id = w.id
    AND e.originator_version > max(w.known, coalesce(l.originator_version, 0))
ORDER BY 2, 1, 3
"""
# Without snapshots: the events after the known version.
_EVENTS_SINCE = """
WITH wanted(id, known) AS (VALUES {values})
SELECT e.originator_id, e.originator_version, e.topic, e.state
FROM wanted w JOIN {events} e ON e.originator_id = w.id AND e.originator_version > w.known
ORDER BY 1, 2
"""


def select_since(events: SQLiteAggregateRecorder, snapshots: SQLiteAggregateRecorder | None,
                 known: Mapping[UUID, int]) -> dict[UUID, list[StoredEvent]]:
    """For each id: its latest snapshot (only where `known` is 0, and there are snapshots) and
    the events after it or after the known version, in version order; ids with nothing new map
    to []."""
    found: dict[UUID, list[StoredEvent]] = {i: [] for i in known}
    by_hex = {i.hex: i for i in known}
    ids = list(known)
    with events.datastore.transaction(commit=False) as c:
        for start in range(0, len(ids), CHUNK):
            chunk = ids[start:start + CHUNK]
            values = ",".join("(?,?)" for _ in chunk)
            if snapshots is None:
                statement = _EVENTS_SINCE.format(values=values, events=events.events_table_name)
            else:
                statement = _SELECT_SINCE.format(values=values, events=events.events_table_name,
                                                 snapshots=snapshots.events_table_name)
            c.execute(statement, [x for i in chunk for x in (i.hex, known[i])])
            for row in c.fetchall():
                found[by_hex[row["originator_id"]]].append(StoredEvent(
                    originator_id=by_hex[row["originator_id"]], originator_version=row["originator_version"],
                    topic=row["topic"], state=row["state"]))
    return found
