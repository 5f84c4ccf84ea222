"""A child (its registrations, offers and bookings held) and a booking of a seat."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any
from uuid import UUID

from ledger import events
from ledger.aggregates.base import ONE_DAY, TOPIC_MODULE, LedgerAggregate
from ledger.events import Meta, recorded_as


class Child(LedgerAggregate):
    """A child (pseudonymous id), its registrations, offers and placements.

    The version is the lock for invariant 2 (one booking on any day).
    """
    __module__ = TOPIC_MODULE  # the module its stored topics name

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


class Booking(LedgerAggregate):
    """One booking of a seat: the fact billing and occupancy follow."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

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
