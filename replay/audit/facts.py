"""The facts an audit judges, folded from the ledger's notification log in memory.

`fold(ledger, views)` runs views over the log without writing a table (an audit reads their
in-memory rows); `Demand` is the audit's own fold of what families asked for and got:
children, registrations (wishes, need dates, channel), offers, bookings and their ends,
institutions, capacity and rule-set activations — each fact with the notification positions
behind it, so every finding can name its events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Iterable, Sequence

from ledger import Ledger, events
from projections.engine import Envelope, View, on, reader_for
from projections.rebuilding import fold_log

PAGE = 20_000


def fold(ledger: Ledger, views: Sequence[View], *, until: int | None = None) -> int:
    """Fold the log (to position `until`) into `views`' memory; returns the position reached."""
    reader = reader_for(ledger, views, selected=True)
    end = ledger.max_position() if until is None else until
    return fold_log(reader, views, 0, end, page_size=PAGE)  # nothing is written: the audit reads memory


@dataclass
class Registration:
    child_id: str
    age_group: str
    wishes: list[str]
    need_date: date
    registered_on: date
    channel: str
    newcomer: bool
    position: int  # the Opskrevet event
    recorded: datetime
    positions: list[int] = field(default_factory=list)  # Opskrevet, WishesChanged, OfferDeclined
    # Left the waiting lists: the Child.Placed event (position, recorded) of a booking at one of its
    # wishes, as in the waiting-list view (a later cancellation does not put the child back).
    left: tuple[int, datetime] | None = None
    # (position, recorded, wishes, need date) after each of those events, in log order
    history: list[tuple[int, datetime, list[str], date]] = field(default_factory=list)
    guarantee_list: bool = False  # on Copenhagen's guarantee list: a place within 2 months

    def as_of(self, position: int | None = None, day: date | None = None) -> tuple[list[str], date]:
        """Wishes and need date as the ledger knew them at a log position, or at the start of a day."""
        wishes, need = self.history[0][2], self.history[0][3]
        for pos, recorded, w, n in self.history:
            if (position is not None and pos > position) or (day is not None and recorded.date() >= day):
                break
            wishes, need = w, n
        return wishes, need

    def ever_wished(self) -> set[str]:
        return {inst for _, _, wishes, _ in self.history for inst in wishes}


@dataclass
class Booking:
    booking_id: str
    child_id: str
    household_id: str
    institution_id: str
    pool: str
    age_group: str
    start: date
    end: date  # last day held (before start: cancelled before it began)
    channel: str
    source: str  # basis.source: booking, offer, transfer, ...
    position: int
    recorded: datetime
    positions: list[int] = field(default_factory=list)
    offer_id: str | None = None  # the offer it accepted (basis.offer_id), when it came from one
    reason: str | None = None  # the person's reason, when a person decided

    def covers(self, day: date) -> bool:
        return self.start <= day <= self.end

    @property
    def holds_a_day(self) -> bool:
        return self.end >= self.start


@dataclass
class Child:
    child_id: str
    household_id: str
    birth: date
    district: str | None
    position: int
    erased: bool = False


@dataclass
class Institution:
    institution_id: str
    name: str
    district: str
    kind: str
    position: int


class Demand(View):
    """The audit's fold of demand and outcome (no tables: read its attributes after `fold`)."""

    name = "audit_demand"
    tables = ()

    def __init__(self) -> None:
        super().__init__()
        self.children: dict[str, Child] = {}
        self.households: dict[str, dict[str, Any]] = {}  # id -> {"district", "children": set, "incomes": [...]}
        self.registrations: dict[tuple[str, str], Registration] = {}  # (child, age group) -> latest
        self.offers: dict[str, dict[str, Any]] = {}  # offer id -> {child, institution, age_group, position}
        self.declined: set[tuple[str, str]] = set()  # (child, institution) offers declined
        self.offers_by_child: dict[str, list[str]] = {}
        self.bookings: dict[str, Booking] = {}
        self.institutions: dict[str, Institution] = {}
        self.capacity: dict[tuple[str, str, str], list[tuple[date, int, int]]] = {}  # (inst, group, pool)
        self.activations: list[tuple[date, str, int]] = []  # (effective_from, rule set, position)
        self.overrides: list[dict[str, Any]] = []  # caseworkers' bookings beyond capacity (invariant 1)
        self.last_recorded: datetime | None = None

    def apply(self, e: Envelope) -> None:
        self.last_recorded = e.recorded_at
        super().apply(e)

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.children[oid] = Child(oid, d["household_id"], d["birth_date"], d.get("district"), e.position)
        self.households.setdefault(d["household_id"], _household()).setdefault("children", set()).add(oid)

    @on(events.Child.Opskrevet)
    def _opskrevet(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.registrations[(oid, d["age_group"])] = Registration(
            oid, d["age_group"], list(d["wishes"]), d["need_date"], d["registered_on"],
            e.meta.get("channel") or "unknown", bool(d.get("newcomer")), e.position, e.recorded_at,
            positions=[e.position], history=[(e.position, e.recorded_at, list(d["wishes"]), d["need_date"])],
            guarantee_list=bool(d.get("guarantee_list")))

    @on(events.Child.WishesChanged)
    def _wishes_changed(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        reg = self.registrations.get((oid, d["age_group"]))
        if reg is not None:
            reg.wishes, reg.need_date = list(d["wishes"]), d["need_date"]
            reg.positions.append(e.position)
            reg.history.append((e.position, e.recorded_at, reg.wishes, reg.need_date))

    @on(events.Child.PlaceOffered)
    def _place_offered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.offers[d["offer_id"]] = {"child": oid, "institution": d["institution_id"],
                                      "age_group": d["age_group"], "position": e.position,
                                      "recorded": e.recorded_at, "closed": None, "seed": d.get("seed"),
                                      "basis": d.get("priority_basis") or "", "start": d["start_date"],
                                      "answer": None}
        self.offers_by_child.setdefault(oid, []).append(d["offer_id"])

    @on(events.Child.OfferAccepted)
    def _offer_accepted(self, e: Envelope) -> None:
        self._offer_closed(e, "accepted")

    @on(events.Child.OfferExpired)
    def _offer_expired(self, e: Envelope) -> None:
        self._offer_closed(e, "expired")

    def _offer_closed(self, e: Envelope, answer: str) -> None:
        offer = self.offers.get(e.data["offer_id"])
        if offer is not None:
            offer["closed"] = e.position
            offer["answer"] = answer

    @on(events.Child.OfferDeclined)
    def _offer_declined(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        offer = self.offers.get(d["offer_id"])
        if offer is not None:
            offer["closed"] = e.position
            offer["answer"] = "declined"
            self.declined.add((oid, offer["institution"]))
            reg = self.registrations.get((oid, offer["age_group"]))
            if reg is not None:
                reg.need_date = d["need_date"]
                reg.positions.append(e.position)
                reg.history.append((e.position, e.recorded_at, reg.wishes, reg.need_date))

    @on(events.Child.Placed)
    def _placed(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        for group in ("nursery", "kindergarten"):
            reg = self.registrations.get((oid, group))
            if reg is not None and reg.left is None and d["institution_id"] in reg.wishes:
                reg.left = (e.position, e.recorded_at)

    @on(events.Child.PersonErased)
    def _person_erased(self, e: Envelope) -> None:
        oid = e.originator_id
        child = self.children.get(oid)
        if child is not None:
            child.erased = True

    @on(events.Booking.PlaceBooked)
    def _place_booked(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        basis = d.get("basis") or {}
        self.bookings[oid] = Booking(
            oid, d["child_id"], d["household_id"], d["institution_id"], d["pool"], d["age_group"],
            d["start_date"], d["end_date"], e.meta.get("channel") or basis.get("channel") or "unknown",
            basis.get("source") or "booking", e.position, e.recorded_at, [e.position], basis.get("offer_id"),
            e.meta.get("reason"))

    @on(events.Booking.BookingCancelled, events.Booking.ChildTransferred)
    def _booking_ended(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        b = self.bookings.get(oid)
        if b is not None:
            b.end = min(b.end, date.fromordinal(d["effective_date"].toordinal() - 1))
            b.positions.append(e.position)

    @on(events.Institution.InstitutionRegistered)
    def _institution_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.institutions[oid] = Institution(oid, d.get("name") or oid[:8], d["district"], d["kind"], e.position)

    @on(events.Institution.CapacityChanged)
    def _capacity_changed(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        entries = [x for x in self.capacity.get((oid, d["age_group"], d["pool"]), []) if x[0] != d["effective_from"]]
        entries.append((d["effective_from"], d["seats"], e.position))
        self.capacity[(oid, d["age_group"], d["pool"])] = sorted(entries)

    @on(events.Institution.CapacityOverridden)
    def _capacity_overridden(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.overrides.append({
            "institution_id": oid, "booking_id": d["booking_id"], "age_group": d["age_group"], "pool": d["pool"],
            "short_from": min(a for a, _ in d["short_days"]).isoformat() if d["short_days"] else None,
            "short_to": max(b for _, b in d["short_days"]).isoformat() if d["short_days"] else None,
            "short_days": sum((b - a).days + 1 for a, b in d["short_days"]),
            "actor": e.meta.get("actor"), "reason": e.meta.get("reason"),
            "recorded": e.recorded_at.isoformat(), "events": [e.position]})

    @on(events.Household.HouseholdRegistered)
    def _household_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.households.setdefault(oid, _household())["district"] = d["district"]

    @on(events.RuleBook.RuleSetActivated)
    def _rule_set_activated(self, e: Envelope) -> None:
        d = e.data
        self.activations = sorted(self.activations + [(d["effective_from"], d["rule_set_id"], e.position)])

    # -- questions the audits ask ---------------------------------------------------------------

    def rule_set_id_on(self, day: date, default: str) -> str:
        current = default
        for effective_from, rule_set_id, _ in self.activations:
            if effective_from <= day:
                current = rule_set_id
        return current

    def bookings_of(self, child_id: str) -> list[Booking]:
        """The child's bookings by start (then log order); the audits ask this of every child many times."""
        return self._by_child().get(child_id, [])

    def _by_child(self) -> dict[str, list[Booking]]:
        # Built once the fold is done (bookings only grow; an ended booking changes in place, not its start).
        cache = getattr(self, "_child_index", None)
        if cache is None or cache[0] != len(self.bookings):
            index: dict[str, list[Booking]] = {}
            for b in self.bookings.values():
                index.setdefault(b.child_id, []).append(b)
            for bookings in index.values():
                bookings.sort(key=lambda b: (b.start, b.position))
            cache = (len(self.bookings), index)
            self._child_index = cache
        return cache[1]

    def siblings(self, child_id: str) -> set[str]:
        child = self.children.get(child_id)
        if child is None:
            return set()
        return set(self.households.get(child.household_id, {}).get("children", ())) - {child_id}

    def district_of(self, child_id: str) -> str:
        child = self.children.get(child_id)
        if child is None:
            return "unknown"
        return child.district or self.households.get(child.household_id, {}).get("district") or "unknown"


class DemandAndIncomes(Demand):
    """The demand with the households' declared incomes (the budget audit's income bands; the
    fairness audit reads no income, so its fold skips those events)."""

    name = "audit_demand_incomes"

    @on(events.Household.IncomeDeclared)
    def _income_declared(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        incomes = self.households.setdefault(oid, _household())["incomes"]
        incomes[:] = sorted([x for x in incomes if x[0] != d["effective_from"]]
                            + [(d["effective_from"], d["annual_income_ore"])])

    def income_on(self, household_id: str, day: date) -> int | None:
        found = None
        for effective, income in self.households.get(household_id, {}).get("incomes", ()):
            if effective <= day:
                found = income
        return found


def _household() -> dict[str, Any]:
    return {"district": None, "children": set(), "incomes": []}


def months(first: date, last: date) -> Iterable[date]:
    """The 1st of every month from first's month to last's month."""
    m = first.replace(day=1)
    while m <= last:
        yield m
        m = date(m.year + (m.month == 12), m.month % 12 + 1, 1)
