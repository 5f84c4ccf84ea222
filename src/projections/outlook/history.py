"""What the forecast reads: the ledger's own history of seats, capacities and children, with
the recorded time of every fact, as far as the ledger knew it at `as_of`.

One fold of the notification log up to the last event recorded at or before `as_of` (the
point-in-time cut of `projections.pointintime`). The recorded times are kept, so that the
estimators can ask "what was known at an earlier T'" of the same history without a replay
— which is how the forecast learns how much is still to come at each horizon.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Iterable, Iterator

from ledger import Ledger, events
from ledger.clock import COPENHAGEN

from projections.engine import Envelope, LogReader, on
from projections.outlook.model import month_index
from projections.pointintime import position_at, recorded_instant

PAGE = 20_000
ONE_DAY = timedelta(days=1)

Segment = tuple[str, date, date]  # age group, first day, last day


def known_month(instant: datetime) -> int:
    """The month (index) in which a fact recorded at `instant` became known, in Copenhagen."""
    return month_index(instant.astimezone(COPENHAGEN).date())


@dataclass(slots=True)
class Booking:
    """One booking's seats in one institution, in the versions the ledger knew over time."""

    institution_id: str
    pool: str
    child_id: str
    # (recorded time, segments known from then on), in recorded order
    versions: list[tuple[datetime, tuple[Segment, ...]]] = field(default_factory=list)

    def known_at(self, instant: datetime) -> tuple[Segment, ...] | None:
        """The segments as known at `instant` (None: not yet booked)."""
        found = None
        for recorded, segments in self.versions:
            if recorded > instant:
                break
            found = segments
        return found

    def copy(self) -> "Booking":
        return Booking(self.institution_id, self.pool, self.child_id, list(self.versions))

    def release(self, recorded: datetime, from_date: date) -> None:
        """The booking holds no seat from `from_date` on (as Occupancy folds SeatsReleased)."""
        current = self.versions[-1][1]
        kept = tuple((g, a, min(z, from_date - ONE_DAY)) for g, a, z in current if a < from_date)
        self.versions.append((recorded, kept))


@dataclass(frozen=True, slots=True)
class ChildFacts:
    birth: date
    district: str
    registered: datetime


@dataclass(frozen=True, slots=True)
class CapacityDecision:
    recorded: datetime
    institution_id: str
    age_group: str
    pool: str
    effective_from: date
    seats: int


@dataclass(slots=True)
class History:
    """The facts the forecast needs, each with the time the ledger learned it."""

    as_of: datetime
    districts: dict[str, str] = field(default_factory=dict)  # institution → district
    names: dict[str, str] = field(default_factory=dict)  # institution → name
    registered: dict[str, datetime] = field(default_factory=dict)  # institution → recorded
    capacity: list[CapacityDecision] = field(default_factory=list)
    bookings: dict[str, Booking] = field(default_factory=dict)
    children: dict[str, ChildFacts] = field(default_factory=dict)
    # institution → its cluster decisions (effective from, cluster or None), as known at the cut
    clusters: dict[str, list[tuple[date, str | None]]] = field(default_factory=dict)
    first_recorded: datetime | None = None

    def apply(self, e: Envelope) -> None:
        if self.first_recorded is None:
            self.first_recorded = e.recorded_at
        _FOLD[e.kind](self, e, e.data)

    def extended(self, more: Iterable[Envelope], as_of: datetime) -> "History":
        """A new history: this one and the events `more` recorded after it, up to `as_of`. This one
        stays as it was (an outlook learned from it may be answering): the new one shares the facts
        the events do not change, and a booking or cluster they change is copied first."""
        out = History(as_of, dict(self.districts), dict(self.names), dict(self.registered), list(self.capacity),
                      dict(self.bookings), dict(self.children), dict(self.clusters), self.first_recorded)
        for e in more:
            out.apply(e)
        return out

    @on(events.Institution.SeatsReserved)
    def _reserved(self, e: Envelope, d: dict) -> None:
        held = self.bookings.get(d["booking_id"])
        booking = Booking(e.originator_id, d["pool"], d["child_id"]) if held is None else held.copy()
        booking.versions.append((e.recorded_at, tuple((g, a, z) for g, a, z in d["segments"])))
        self.bookings[d["booking_id"]] = booking

    @on(events.Institution.SeatsReleased)
    def _released(self, e: Envelope, d: dict) -> None:
        held = self.bookings.get(d["booking_id"])
        if held is not None and held.versions:
            held = self.bookings[d["booking_id"]] = held.copy()
            held.release(e.recorded_at, d["from_date"])

    @on(events.Child.ChildRegistered)
    def _child(self, e: Envelope, d: dict) -> None:
        self.children[e.originator_id] = ChildFacts(d["birth_date"], d["district"], e.recorded_at)

    @on(events.Institution.CapacityChanged)
    def _capacity(self, e: Envelope, d: dict) -> None:
        self.capacity.append(CapacityDecision(e.recorded_at, e.originator_id, d["age_group"], d["pool"],
                                              d["effective_from"], int(d["seats"])))

    @on(events.Institution.InstitutionRegistered)
    def _institution(self, e: Envelope, d: dict) -> None:
        self.districts[e.originator_id] = d["district"]
        self.names[e.originator_id] = d["name"]
        self.registered[e.originator_id] = e.recorded_at

    @on(events.Institution.ClusterAssigned)
    def _cluster(self, e: Envelope, d: dict) -> None:
        self.clusters[e.originator_id] = [*self.clusters.get(e.originator_id, ()), (d["effective_from"], d["cluster"])]


# topic → the method that folds it, as registered with @on (the event catalogue's entries)
_FOLD = {topic: method for method in vars(History).values() for topic in getattr(method, "__handles__", ())}
KINDS = frozenset(_FOLD)


def read_history(ledger: Ledger, as_of: datetime | date, since: tuple[int, History] | None = None) -> History:
    """The history as the ledger knew it at `as_of` (a date: the end of that day in Copenhagen).
    `since`: a log position and the history read up to it — only the events after it are read
    (when `as_of` lies at or after it; else the whole log)."""
    instant = recorded_instant(as_of)
    until = position_at(ledger, instant)
    start, base = since if since is not None and since[0] <= until else (0, History(as_of=instant))
    return base.extended(_events(ledger, start, until), instant)


def _events(ledger: Ledger, start: int, until: int) -> Iterator[Envelope]:
    reader = LogReader(ledger, KINDS)
    position = start
    while position < until:
        events, last = reader.page(position, PAGE, until)
        if last == position:
            return
        yield from events
        position = last
