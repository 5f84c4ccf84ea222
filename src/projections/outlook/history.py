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
from typing import Iterator

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

    @on(events.Institution.SeatsReserved)
    def _reserved(self, e: Envelope, d: dict) -> None:
        booking = self.bookings.setdefault(d["booking_id"], Booking(e.originator_id, d["pool"], d["child_id"]))
        booking.versions.append((e.recorded_at, tuple((g, a, z) for g, a, z in d["segments"])))

    @on(events.Institution.SeatsReleased)
    def _released(self, e: Envelope, d: dict) -> None:
        held = self.bookings.get(d["booking_id"])
        if held is not None and held.versions:
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
        self.clusters.setdefault(e.originator_id, []).append((d["effective_from"], d["cluster"]))


# topic → the method that folds it, as registered with @on (the event catalogue's entries)
_FOLD = {topic: method for method in vars(History).values() for topic in getattr(method, "__handles__", ())}
KINDS = frozenset(_FOLD)


def read_history(ledger: Ledger, as_of: datetime | date) -> History:
    """The history as the ledger knew it at `as_of` (a date: the end of that day in Copenhagen)."""
    instant = recorded_instant(as_of)
    history = History(as_of=instant)
    for e in _events(ledger, position_at(ledger, instant)):
        history.apply(e)
    return history


def _events(ledger: Ledger, until: int) -> Iterator[Envelope]:
    reader = LogReader(ledger, KINDS)
    position = 0
    while position < until:
        events, last = reader.page(position, PAGE, until)
        if last == position:
            return
        yield from events
        position = last
