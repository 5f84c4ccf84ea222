"""The aggregates: consistency boundaries of the write side.

Each command method is a decorated event (eventsourcing): the method body is the
state change, run when the event is triggered and again on every replay, so it
must only assign state; decisions are made in the handlers before calling it.

Every event carries `meta`: actor, channel, reason, rule set and the effective
date (valid time). Its `timestamp` is the recorded time, from the command's clock.

State is kept in JSON-friendly shapes (dicts, lists, str, int, date) because
snapshots serialise the aggregate's __dict__.
"""

from __future__ import annotations

import copy
import hashlib
from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger import events
from ledger.clock import recorded_now
from ledger.events import Meta, recorded_as
from ledger.seats import Schedule

NS = uuid5(NAMESPACE_URL, "https://plads.invalid/ledger")
ONE_DAY = timedelta(days=1)


class LedgerAggregate(Aggregate):
    class Event(Aggregate.Event):
        @staticmethod
        def create_timestamp() -> datetime:
            return recorded_now()

    class Created(Event, Aggregate.Created):
        pass


# -- rule sets ---------------------------------------------------------------------------


class RuleBook(LedgerAggregate):
    """Which rule set is in force from which date (one per ledger)."""

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NS, "rulebook")

    @recorded_as(events.RuleBook.Opened)
    def __init__(self) -> None:
        self.activations: list[list[Any]] = []  # [effective_from, rule_set_id], sorted

    @recorded_as(events.RuleBook.RuleSetActivated)
    def activate(self, rule_set_id: str, effective_from: date, meta: Meta) -> None:
        self.activations = sorted(
            [a for a in self.activations if a[0] != effective_from]
            + [[effective_from, rule_set_id]],
            key=lambda a: a[0],
        )

    def in_force(self, day: date) -> str | None:
        current = None
        for effective_from, rule_set_id in self.activations:
            if effective_from <= day:
                current = rule_set_id
        return current


# -- institutions --------------------------------------------------------------------------


class Institution(LedgerAggregate):
    """A daycare institution, its capacity over time and the seats reserved in it.

    The aggregate's version is the lock for invariant 1: two bookings that read
    the same version cannot both be saved.
    """

    @recorded_as(events.Institution.InstitutionRegistered)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate's id, chosen by the handler (imports keep theirs)
        name: str,
        district: str,
        kind: str,
        ownership: str,
        municipality_code: str,
        location: dict[str, float] | None,
        meta: Meta,
    ) -> None:
        self.name = name
        self.district = district
        self.kind = kind
        self.ownership = ownership
        self.municipality_code = municipality_code
        self.location = location
        self.capacity: dict[str, list[list[Any]]] = {}  # "age_group/pool" -> [[from, seats]]
        # booking_id -> {"child_id", "pool", "channel", "segments": [[age_group, first, last]]}
        self.reservations: dict[str, dict[str, Any]] = {}

    @recorded_as(events.Institution.CapacityChanged)
    def change_capacity(
        self, age_group: str, pool: str, seats: int, effective_from: date, meta: Meta
    ) -> None:
        key = f"{age_group}/{pool}"
        entries = [e for e in self.capacity.get(key, []) if e[0] != effective_from]
        entries.append([effective_from, seats])
        self.capacity[key] = sorted(entries, key=lambda e: e[0])

    @recorded_as(events.Institution.GrossCostSet)
    def set_gross_cost(self, age_group: str, gross_cost_ore: int, effective_from: date, meta: Meta) -> None:
        # The budgeted gross cost per place as the institution's municipality calculates it; the
        # billing views read it from the event (nothing the aggregate decides depends on it).
        costs = self.__dict__.setdefault("gross_cost", {})
        entries = [e for e in costs.get(age_group, []) if e[0] != effective_from]
        costs[age_group] = sorted(entries + [[effective_from, gross_cost_ore]], key=lambda e: e[0])

    @recorded_as(events.Institution.SeatsReserved)
    def reserve(
        self,
        booking_id: str,
        child_id: str,
        pool: str,
        segments: list[list[Any]],
        meta: Meta,
        forget_before: date | None = None,
        self_service: bool | None = None,
    ) -> None:
        # self_service: a family's own booking, not a caseworker placement (which uses the held
        # seats first). An accepted offer is the placement office's even when the family answers
        # it; events before this field follow their channel.
        self.reservations[booking_id] = {
            "child_id": child_id,
            "pool": pool,
            "channel": meta.get("channel"),
            "segments": segments,
            "self_service": meta.get("channel") == "self_service" if self_service is None else self_service,
        }
        if forget_before is not None:
            # An institution lives for decades: seats held only before the checking
            # horizon can no longer meet a new booking, so they leave the working state
            # (and the snapshots stay flat). The events keep them for the views.
            self.reservations = {
                k: r for k, r in self.reservations.items()
                if any(last >= forget_before for _, _, last in r["segments"])
            }

    @recorded_as(events.Institution.SeatsReleased)
    def release(self, booking_id: str, from_date: date, meta: Meta) -> None:
        """The booking no longer uses seats from `from_date` on."""
        held = self.reservations.get(booking_id)
        if held is None:
            return  # forgotten: it ended before the checking horizon
        kept = []
        for age_group, first, last in held["segments"]:
            if first >= from_date:
                continue
            kept.append([age_group, first, min(last, from_date - ONE_DAY)])
        self.reservations[booking_id] = {**held, "segments": kept}  # replaced, never changed in place

    def __deepcopy__(self, memo: dict[int, Any]) -> "Institution":
        # The application hands every command a deep copy of the cached institution, and an
        # institution holds hundreds of reservations. Reservations and capacity entries are
        # replaced, never changed in place (reserve, release, change_capacity), so a copy may
        # share them: copying the two dicts keeps the cached institution as it was whatever
        # the command does.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in ("reservations", "capacity"):
                clone.__dict__[name] = dict(value)
            else:
                clone.__dict__[name] = copy.deepcopy(value, memo)
        return clone

    @recorded_as(events.Institution.ClusterAssigned)
    def assign_cluster(self, cluster: str | None, effective_from: date, meta: Meta) -> None:
        """The cluster (klynge) the institution belongs to from `effective_from`; None: no cluster."""
        self.clusters = _dated_upsert(getattr(self, "clusters", []), effective_from, cluster)

    def cluster_on(self, day: date) -> str | None:
        """The cluster in force on `day` (None before the first assignment; institutions registered
        before clusters existed have none)."""
        return _dated_lookup(getattr(self, "clusters", []), day)

    @recorded_as(events.Institution.CapacityOverridden)
    def record_override(
        self,
        booking_id: str,
        age_group: str,
        pool: str,
        short_days: list[list[date]],
        meta: Meta,
    ) -> None:
        """A caseworker booked beyond capacity on purpose; kept for audits."""

    def schedule(self, age_group: str, pool: str) -> Schedule:
        return [(e[0], e[1]) for e in self.capacity.get(f"{age_group}/{pool}", [])]

    def capacity_on(self, age_group: str, pool: str, day: date) -> int:
        seats = 0
        for effective_from, n in self.schedule(age_group, pool):
            if effective_from > day:
                break
            seats = n
        return seats

    def seats_held(self, age_group: str, pool: str, *, caseworkers_only: bool = False) -> list[tuple[date, date]]:
        """The (first, last) days of the seats reserved; `caseworkers_only`: of the caseworker placements."""
        out = []
        for r in self.reservations.values():
            if r["pool"] != pool or (caseworkers_only and _self_service(r)):
                continue
            for g, first, last in r["segments"]:
                if g == age_group:
                    out.append((first, last))
        return out


def _self_service(reservation: dict[str, Any]) -> bool:
    # Reservations kept in snapshots from before the field follow their channel.
    return reservation.get("self_service", reservation["channel"] == "self_service")


# -- households ----------------------------------------------------------------------------


class Household(LedgerAggregate):
    """The payer and the facts that set the parent payment."""

    @recorded_as(events.Household.HouseholdRegistered)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate's id, chosen by the handler (imports keep theirs)
        municipality_code: str,
        district: str,
        single_parent: bool,
        children_under_18: int,
        location: dict[str, float] | None,
        meta: Meta,
    ) -> None:
        self.municipality_code = municipality_code
        self.district = district
        self.single_parent = single_parent
        self.children_under_18 = children_under_18
        self.location = location
        self.incomes: list[list[Any]] = []  # [effective_from, annual_income_ore]
        self.friplads: list[list[Any]] = []  # [effective_from, pay_share_percent]
        self.adjustments: list[dict[str, Any]] = []
        self.erased = False
        # The facts that set the friplads limits, effective-dated: [from, single, children].
        self.facts: list[list[Any]] = []
        self.registered_facts = [single_parent, children_under_18]

    @recorded_as(events.Household.HouseholdFactsChanged)
    def change_facts(
        self,
        single_parent: bool,
        children_under_18: int,
        municipality_code: str,
        district: str,
        meta: Meta,
        effective_from: date | None = None,
        location: dict[str, float] | None = None,
    ) -> None:
        self.single_parent = single_parent
        self.children_under_18 = children_under_18
        self.municipality_code = municipality_code
        self.district = district
        if location is not None:  # absent: the home did not move (and events before moves carried none)
            self.location = location
        if effective_from is not None:
            self.facts = _dated_upsert(getattr(self, "facts", []), effective_from,
                                       [single_parent, children_under_18])

    @recorded_as(events.Household.IncomeDeclared)
    def declare_income(self, annual_income_ore: int, effective_from: date, meta: Meta) -> None:
        self.incomes = _dated_upsert(self.incomes, effective_from, annual_income_ore)

    @recorded_as(events.Household.FripladsDecided)
    def decide_friplads(
        self,
        pay_share_percent: int,
        effective_from: date,
        annual_income_ore: int,
        scale: dict[str, Any],
        meta: Meta,
    ) -> None:
        self.friplads = _dated_upsert(self.friplads, effective_from, pay_share_percent)
        self.granted_incomes = _dated_upsert(getattr(self, "granted_incomes", []), effective_from, annual_income_ore)
        scale_from = scale.get("effective_from")
        self.decided_scales = _dated_upsert(getattr(self, "decided_scales", []), effective_from,
                                            None if scale_from is None else str(scale_from))

    @recorded_as(events.Household.FripladsSettled)
    def settle_friplads(self, year: int, annual_income_ore: int, shares: list[int | None], meta: Meta) -> None:
        """Efterregulering: the year's pay share per month (January first; None: no friplads that
        month) decided again on the final income."""
        self.settlements = {**getattr(self, "settlements", {}), str(year): shares}

    def granted_income_on(self, day: date) -> int | None:
        """The income the pay share in force on `day` was decided on (None from a snapshot taken
        before decisions kept it: the share is then decided again on any new income)."""
        return _dated_lookup(getattr(self, "granted_incomes", []), day)

    def decided_scale_on(self, day: date) -> date | None:
        """The first day of the friplads scale the share in force on `day` was decided on (None
        without a decision, or from a snapshot taken before decisions kept it)."""
        found = _dated_lookup(getattr(self, "decided_scales", []), day)
        return None if found is None else date.fromisoformat(found)

    def settled_share_on(self, day: date) -> int | None:
        """The share the year's settlement gives the month of `day` (None: not settled)."""
        shares = getattr(self, "settlements", {}).get(str(day.year))
        return None if shares is None else shares[day.month - 1]

    def has_friplads_on(self, day: date) -> bool:
        """Whether a friplads decision is in force on `day`."""
        return _dated_lookup(self.friplads, day) is not None

    @recorded_as(events.Household.PaymentAdjusted)
    def adjust_payment(
        self,
        adjustment_id: str,
        kind: str,
        from_month: str,
        to_month: str | None,
        amount_ore: int | None,
        pay_share_percent: int | None,
        child_id: str | None,
        meta: Meta,
    ) -> None:
        self.adjustments.append(
            {
                "id": adjustment_id,
                "kind": kind,
                "from_month": from_month,
                "to_month": to_month,
                "amount_ore": amount_ore,
                "pay_share_percent": pay_share_percent,
                "child_id": child_id,
            }
        )

    @recorded_as(events.Household.PersonErased)
    def erase(self, person_id: str, meta: Meta) -> None:
        self.erased = True

    def income_on(self, day: date) -> int | None:
        return _dated_lookup(self.incomes, day)

    def facts_on(self, day: date) -> tuple[bool, int]:
        """(single parent, children under 18) in force on a day."""
        found = _dated_lookup(getattr(self, "facts", []), day)
        single, children = found if found is not None else getattr(
            self, "registered_facts", [self.single_parent, self.children_under_18])
        return bool(single), int(children)

    def fact_dates(self) -> list[date]:
        """Days on which something that sets the pay share changed."""
        return sorted({e[0] for e in self.incomes} | {e[0] for e in getattr(self, "facts", [])})

    def pay_share_on(self, day: date) -> int:
        share = _dated_lookup(self.friplads, day)
        return 100 if share is None else share


# -- children ------------------------------------------------------------------------------


class Child(LedgerAggregate):
    """A child (pseudonymous id), its registrations, offers and placements.

    The version is the lock for invariant 2 (one booking on any day).
    """

    @recorded_as(events.Child.ChildRegistered)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate's id, chosen by the handler (imports keep theirs)
        household_id: str,
        birth_date: date,
        district: str,
        municipality_code: str,
        support_needs: list[str],
        meta: Meta,
    ) -> None:
        self.household_id = household_id
        self.birth_date = birth_date
        self.district = district
        self.municipality_code = municipality_code
        self.support_needs = support_needs
        # age_group -> {"wishes", "need_date", "registered_on", "channel", "newcomer", "active"}
        self.registrations: dict[str, dict[str, Any]] = {}
        self.offers: dict[str, dict[str, Any]] = {}
        self.placements: dict[str, list[Any]] = {}  # booking_id -> [institution_id, first, last]
        self.erased = False

    @recorded_as(events.Child.Opskrevet)
    def register(
        self,
        age_group: str,
        wishes: list[str],
        need_date: date,
        registered_on: date,
        newcomer: bool,
        meta: Meta,
        guarantee_list: bool = False,
    ) -> None:
        self.registrations[age_group] = {
            "wishes": wishes,
            "need_date": need_date,
            "registered_on": registered_on,
            "channel": meta.get("channel"),
            "newcomer": newcomer,
            "active": True,
            "guarantee_list": guarantee_list,
        }

    @recorded_as(events.Child.WishesChanged)
    def change_wishes(self, age_group: str, wishes: list[str], need_date: date, meta: Meta) -> None:
        self.registrations[age_group]["wishes"] = wishes
        self.registrations[age_group]["need_date"] = need_date

    @recorded_as(events.Child.PlaceOffered)
    def offer(
        self,
        offer_id: str,
        institution_id: str,
        age_group: str,
        pool: str,
        start_date: date,
        expires_on: date,
        rank: int,
        priority_basis: str,
        seed: int,
        meta: Meta,
    ) -> None:
        self.offers[offer_id] = {
            "institution_id": institution_id,
            "age_group": age_group,
            "pool": pool,
            "start_date": start_date,
            "expires_on": expires_on,
            "state": "open",
        }

    @recorded_as(events.Child.OfferAccepted)
    def accept_offer(self, offer_id: str, booking_id: str, meta: Meta) -> None:
        self.offers[offer_id]["state"] = "accepted"

    @recorded_as(events.Child.OfferDeclined)
    def decline_offer(self, offer_id: str, need_date: date, meta: Meta) -> None:
        self.offers[offer_id]["state"] = "declined"
        registration = self.registrations.get(self.offers[offer_id]["age_group"])
        if registration is not None:
            registration["need_date"] = need_date

    @recorded_as(events.Child.OfferExpired)
    def expire_offer(self, offer_id: str, meta: Meta) -> None:
        self.offers[offer_id]["state"] = "expired"

    @recorded_as(events.Child.Placed)
    def place(self, booking_id: str, institution_id: str, first: date, last: date, meta: Meta) -> None:
        self.placements[booking_id] = [institution_id, first, last]
        for registration in self.registrations.values():
            if institution_id in registration["wishes"]:
                registration["active"] = False

    @recorded_as(events.Child.PlacementEnded)
    def end_placement(self, booking_id: str, last: date, meta: Meta) -> None:
        """The placement's last day moved earlier (cancellation or transfer)."""
        self.placements[booking_id][2] = last

    @recorded_as(events.Child.PersonErased)
    def erase(self, person_id: str, meta: Meta) -> None:
        self.erased = True

    def __deepcopy__(self, memo: dict[int, Any]) -> "Child":
        # Every command (and every allocation run) gets a deep copy of the cached child, and a
        # child waiting under the waiting list collects an offer a month. Its registrations, offers
        # and placements are flat entries (strings, dates, numbers and lists of ids), changed in
        # place by the events: copying each entry (sharing only its immutable values) keeps the
        # cached child as it was, for a fraction of the generic walk's cost.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in ("registrations", "offers", "placements"):
                clone.__dict__[name] = {k: _entry_copy(v) for k, v in value.items()}
            else:
                clone.__dict__[name] = copy.deepcopy(value, memo)
        return clone

    def overlapping_placement(
        self, first: date, last: date, ending: dict[str, date] | None = None
    ) -> str | None:
        """The booking that holds the child on a day of [first, last], if any.

        `ending` gives placements that the same command ends earlier (a transfer).
        """
        for booking_id, (_, p_first, p_last) in self.placements.items():
            if ending and booking_id in ending:
                p_last = min(p_last, ending[booking_id])
            if p_last < p_first:
                continue  # cancelled before it began: holds no day
            if p_first <= last and first <= p_last:
                return booking_id
        return None


_IMMUTABLE = (str, int, float, bool, date, UUID, type(None))  # date covers datetime


def _entry_copy(entry: Any) -> Any:
    """A copy of an entry (a dict or a list) that shares only its immutable values with it."""
    if isinstance(entry, dict):
        return {k: v if isinstance(v, _IMMUTABLE) else _value_copy(v) for k, v in entry.items()}
    return [v if isinstance(v, _IMMUTABLE) else _value_copy(v) for v in entry]


def _value_copy(value: Any) -> Any:
    if isinstance(value, list) and all(isinstance(v, _IMMUTABLE) for v in value):
        return list(value)  # wishes: institution ids
    return copy.deepcopy(value)


# -- bookings ------------------------------------------------------------------------------


class Booking(LedgerAggregate):
    """One booking of a seat: the fact billing and occupancy follow."""

    @recorded_as(events.Booking.PlaceBooked)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate's id, chosen by the handler (imports keep theirs)
        child_id: str,
        household_id: str,
        institution_id: str,
        pool: str,
        age_group: str,
        start_date: date,
        end_date: date,
        segments: list[list[Any]],
        lunch: bool,
        basis: dict[str, Any],
        meta: Meta,
    ) -> None:
        self.child_id = child_id
        self.household_id = household_id
        self.institution_id = institution_id
        self.pool = pool
        self.age_group = age_group
        self.start_date = start_date
        self.end_date = end_date
        self.lunch = lunch
        self.status = "booked"

    @recorded_as(events.Booking.BookingCancelled)
    def cancel(self, effective_date: date, meta: Meta) -> None:
        self.end_date = min(self.end_date, effective_date - ONE_DAY)
        self.status = "cancelled"

    @recorded_as(events.Booking.ChildTransferred)
    def transfer(
        self,
        effective_date: date,
        kind: str,
        to_institution_id: str,
        to_booking_id: str,
        meta: Meta,
    ) -> None:
        self.end_date = min(self.end_date, effective_date - ONE_DAY)
        self.status = "transferred"

    @property
    def last_day(self) -> date:
        return self.end_date


# -- billing -------------------------------------------------------------------------------


class BillingRun(LedgerAggregate):
    """The issue of one month's statements; one per month, never changed."""

    @staticmethod
    def create_id(month: str, **_: Any) -> UUID:
        return uuid5(NS, f"billing-run/{month}")

    @recorded_as(events.BillingRun.BillingRunIssued)
    def __init__(self, month: str, statements: int, total_ore: int, meta: Meta) -> None:
        self.month = month
        self.statements = statements
        self.total_ore = total_ore


class BillingCalendar(LedgerAggregate):
    """The calendar months in which a command asked to bill (one per ledger).

    The billing views charge months up to the month after the latest recorded time they have
    seen; a MonthOpened event records the asking command's clock, so a quiet ledger (no other
    event since) still reaches the month it bills, and a rebuild reaches it too."""

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NS, "billing-calendar")

    @recorded_as(events.BillingCalendar.Opened)
    def __init__(self) -> None:
        self.opened: list[str] = []

    @recorded_as(events.BillingCalendar.MonthOpened)
    def open_month(self, month: str, meta: Meta) -> None:
        self.opened.append(month)


class Statement(LedgerAggregate):
    """A household's statement for a month, immutable once issued (invariant 4)."""

    @staticmethod
    def create_id(household_id: str, month: str, **_: Any) -> UUID:
        return uuid5(NS, f"statement/{household_id}/{month}")

    @recorded_as(events.Statement.StatementIssued)
    def __init__(
        self, household_id: str, month: str, lines: list[dict[str, Any]], total_ore: int, meta: Meta
    ) -> None:
        self.household_id = household_id
        self.month = month
        self.lines = lines
        self.total_ore = total_ore


# -- idempotency ---------------------------------------------------------------------------


class CommandReceipt(LedgerAggregate):
    """The first outcome of a command sent with an idempotency key.

    Saved in the command's own transaction, so a retry either finds the receipt
    (and gets the same outcome) or the command never happened.
    """

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return uuid5(NS, f"idempotency/{key}")

    @recorded_as(events.CommandReceipt.CommandAccepted)
    def __init__(
        self, key: str, command: str, request_hash: str, outcome: dict[str, Any], meta: Meta
    ) -> None:
        self.key = key
        self.command = command
        self.request_hash = request_hash
        self.outcome = outcome


class RefusalReceipt(CommandReceipt):
    """A command sent with an idempotency key and refused: a retry is refused the same way,
    even if the ledger would now accept it (same key, same outcome)."""

    @recorded_as(events.RefusalReceipt.CommandRefused)
    def __init__(  # noqa: D107
        self, key: str, command: str, request_hash: str, outcome: dict[str, Any], meta: Meta
    ) -> None:
        self.key = key
        self.command = command
        self.request_hash = request_hash
        self.outcome = outcome


def statement_id(household_id: str, month: str) -> UUID:
    return Statement.create_id(household_id=household_id, month=month)


def billing_run_id(month: str) -> UUID:
    return BillingRun.create_id(month=month)


def key_digest(key: str) -> str:
    """What a receipt keeps of its idempotency key (and its id derives from): a digest, never the
    key a client chose, which could hold anything."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def receipt_ids(key: str) -> tuple[UUID, UUID]:
    """Where the receipt of `key` may be: under the key's digest, or (saved before keys were
    digested) under the key itself."""
    return CommandReceipt.create_id(key=key_digest(key)), CommandReceipt.create_id(key=key)


def _dated_upsert(entries: list[list[Any]], effective_from: date, value: Any) -> list[list[Any]]:
    kept = [e for e in entries if e[0] != effective_from]
    kept.append([effective_from, value])
    return sorted(kept, key=lambda e: e[0])


def _dated_lookup(entries: list[list[Any]], day: date) -> Any:
    current = None
    for effective_from, value in entries:
        if effective_from <= day:
            current = value
    return current
