"""Reading the notification log for the views: events as `Envelope`s, pages of them decoded by
`LogReader` without building domain objects (re-exported by `projections.engine`)."""

from __future__ import annotations

import json
import sys
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any, Callable, Iterable
from uuid import UUID

from ledger import Ledger


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


class LogReader:
    """Pages of the notification log, decoded without building domain objects.

    It selects the stored rows itself (no Notification or UUID objects) and decodes
    the JSON with a lean hook: ids become their canonical text, which is what the
    views keep anyway. Events of an older class version go through the mapper's upcasters.
    """

    def __init__(self, ledger: Ledger, kinds: Iterable[str], *, selected: bool = False,
                 time_only: Iterable[str] = ()) -> None:
        """`selected`: the database selects the rows of `kinds` itself, so a fold of the whole log
        that reads a few kinds never fetches the others (a city's statements are most of its
        rows); a page that ends early then reports `until` as the last position read.
        `time_only`: of `kinds`, those read for their recorded time alone: their envelopes carry
        no data (the JSON is not decoded; a clock's view reads just the time)."""
        self.ledger = ledger
        self.kinds = frozenset(kinds)
        self.time_only = frozenset(time_only) & self.kinds
        self.selected = selected
        mapper = ledger.mapper
        self._cipher, self._compressor = mapper.cipher, mapper.compressor
        self._decode = _event_decoder(mapper.transcoder.names)  # type: ignore[attr-defined]
        recorder = ledger.recorder
        self._postgres = ledger.store.kind == "postgres"
        if self._postgres:
            kind_is = " AND split_part(topic, ':', 2) = ANY(%s)" if selected else ""
            self._sql = (f'SELECT notification_id, originator_id::text, originator_version, topic, state '
                         f'FROM "{recorder.datastore.schema}".{recorder.events_table_name} '
                         f'WHERE notification_id >= %s AND notification_id <= %s{kind_is} '
                         f'ORDER BY notification_id LIMIT %s')
        else:
            kind_is = (f" AND substr(topic, instr(topic, ':') + 1) IN ({', '.join('?' * len(self.kinds))})"
                       if selected else "")
            self._sql = (f"SELECT rowid, originator_id, originator_version, topic, state "
                         f"FROM {recorder.events_table_name} WHERE rowid >= ? AND rowid <= ?{kind_is} "
                         f"ORDER BY rowid LIMIT ?")

    def _rows(self, start: int, limit: int, until: int | None) -> list[tuple]:
        kinds: tuple = ()
        if self.selected:
            kinds = (sorted(self.kinds),) if self._postgres else tuple(sorted(self.kinds))
        params = (start, until if until is not None else 2**62, *kinds, limit)
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
        kinds, time_only = self.kinds, self.time_only
        rows = self._rows(after + 1, limit, until)
        for row in rows:
            last = row[0]
            kind = row[3].rsplit(":", 1)[-1]
            if kind in kinds:
                out.append(self._timed(row, kind) if kind in time_only else self._envelope(row, kind))
        if self.selected and len(rows) < limit and until is not None:
            last = max(last, until)  # the rows of other kinds up to `until` were passed over
        return out, last

    def _state(self, state: Any) -> bytes:
        state = bytes(state)
        if self._cipher:
            state = self._cipher.decrypt(state)
        if self._compressor:
            state = self._compressor.decompress(state)
        return state

    def _timed(self, row: tuple, kind: str) -> Envelope:
        """An event read for its recorded time alone: the stored JSON opens with it (the event's
        first attribute), so only that is parsed; anything else (an older version) is decoded whole."""
        state = self._state(row[4])
        if not state.startswith(_STAMPED) or b'"class_version"' in state:
            return self._envelope(row, kind)
        stamp = state[len(_STAMPED):state.index(b'"', len(_STAMPED))]
        return self._enveloped(row, kind, {"timestamp": datetime.fromisoformat(stamp.decode())})

    def _envelope(self, row: tuple, kind: str) -> Envelope:
        position, originator_id, version, topic, _ = row
        data = self._decode(self._state(row[4]).decode("utf-8"))
        if "class_version" in data:  # an older event version: let the mapper upcast it
            from eventsourcing.persistence import Notification

            event = self.ledger.mapper.to_domain_event(Notification(
                id=position, originator_id=UUID(str(originator_id)), originator_version=version, topic=topic,
                state=bytes(row[4])))
            data = {k: (str(v) if isinstance(v, UUID) else v) for k, v in vars(event).items()
                    if k not in ("originator_id", "originator_version")}
        return self._enveloped(row, kind, data)

    @staticmethod
    def _enveloped(row: tuple, kind: str, data: dict[str, Any]) -> Envelope:
        position, originator_id, version = row[0], row[1], row[2]
        if len(originator_id) == 32:  # SQLite keeps the hex form: the canonical text, as the hook makes it
            h = originator_id.lower()
            originator_id = f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
        originator_id = sys.intern(originator_id)
        aggregate, name = kind.split(".", 1)
        return Envelope(position, data.pop("timestamp"), aggregate, name, originator_id, version, data)

    def recorded_at(self, position: int) -> tuple[int, datetime] | None:
        """The first notification at or after `position`: its id and recorded time."""
        rows = self._rows(position, 1, None)
        if not rows:
            return None
        e = self._timed(rows[0], rows[0][3].rsplit(":", 1)[-1])
        return e.position, e.recorded_at


# How the ledger's JSON opens: the recorded time (eventsourcing's transcoding of a datetime).
_STAMPED = b'{"timestamp":{"_type_":"datetime_iso","_data_":"'


def _event_decoder(transcodings: dict[str, Any]) -> Callable[[str], Any]:
    """A stored event's JSON as the views read it: ids and dates decoded, and shared — views keep
    ids and dates in many places (a child's id in a dozen indexes): one object per id and per date
    instead of one per mention keeps a rebuild's memory down."""
    intern, dates = sys.intern, {}

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

    decoder = json.JSONDecoder(object_hook=hook)
    scan = decoder.scan_once

    def decode(text: str) -> Any:
        # The scanner itself, without decode()'s Python wrappers (a stored event is one JSON
        # object, nothing around it); anything else goes through decode(), which says what is wrong.
        try:
            data, end = scan(text, 0)
        except StopIteration:
            end = -1
        return data if end == len(text) else decoder.decode(text)

    return decode
