"""The event catalogue: every event the ledger records, its name and its payload, declared once.

One class per event type, nested in a class named after its aggregate, so that an entry reads
as its stored topic (`Booking.PlaceBooked`). Its annotations are the payload (the fields a view
finds in the event's data); a default marks a field that events recorded before it was added
lack. The write side names its events through the catalogue (`@recorded_as(events.Booking.
PlaceBooked)` on the aggregate's method, whose parameters must be the payload: checked when the
aggregate is defined), and the views name the events they handle through it
(`@on(events.Booking.PlaceBooked)`), so an event renamed on one side and not the other fails at
import, not at run time. The machinery is in `ledger.catalogue`.

The names are stored with every event (`ledger.aggregates:Booking.PlaceBooked`): renaming an
entry renames what new events are stored as, and old ledgers would need an upcaster.
"""

from __future__ import annotations

from datetime import date
from typing import Any, TypedDict

from ledger.catalogue import CATALOGUE, EventType, entries, markdown, recorded_as

__all__ = ["CATALOGUE", "EventType", "Meta", "entries", "markdown", "recorded_as"]


class Meta(TypedDict, total=False):
    """What every event carries beside its payload."""

    actor: str
    channel: str | None  # self_service, caseworker, system, import
    reason: str | None  # where a person decided
    rule_set: str | None
    effective_date: date  # valid time (a few events before it was kept lack it)


# -- rule sets -----------------------------------------------------------------------------------


class RuleBook:
    """Which rule set is in force from which date (one per ledger)."""

    class Opened(EventType):
        """The ledger's rule book was opened."""

    class RuleSetActivated(EventType):
        """A rule set is in force from a date on (until the next activation)."""

        rule_set_id: str
        effective_from: date
        meta: Meta


# -- institutions --------------------------------------------------------------------------------


class Institution:
    """A daycare institution, its capacity over time and the seats reserved in it."""

    class InstitutionRegistered(EventType):
        """An institution joined the ledger."""

        name: str
        district: str
        kind: str  # vuggestue, boernehave, integreret, dagpleje
        ownership: str  # kommunal, selvejende, privat
        municipality_code: str
        location: dict[str, float] | None
        meta: Meta

    class CapacityChanged(EventType):
        """The seats of an age group and pool from a date on."""

        age_group: str
        pool: str  # general, basis, special
        seats: int
        effective_from: date
        meta: Meta

    class GrossCostSet(EventType):
        """The gross cost per full-time place a month of an age group from a date, as the institution's
        municipality calculates it (a place in another municipality: DTL § 41)."""

        age_group: str
        gross_cost_ore: int
        effective_from: date
        meta: Meta

    class ClusterAssigned(EventType):
        """The cluster (klynge) the institution belongs to from a date; None: no cluster."""

        cluster: str | None
        effective_from: date
        meta: Meta

    class SeatsReserved(EventType):
        """A booking holds seats: one segment [age group, first day, last day] per age group."""

        booking_id: str
        child_id: str
        pool: str
        segments: list[list[Any]]
        meta: Meta
        forget_before: date | None = None
        self_service: bool | None = None  # absent: the channel says

    class SeatsReleased(EventType):
        """A booking no longer holds seats from a date on (cancelled or transferred)."""

        booking_id: str
        from_date: date
        meta: Meta

    class CapacityOverridden(EventType):
        """A caseworker booked beyond capacity on purpose, on these days."""

        booking_id: str
        age_group: str
        pool: str
        short_days: list[list[date]]
        meta: Meta


# -- households ----------------------------------------------------------------------------------


class Household:
    """The payer and the facts that set the parent payment."""

    class HouseholdRegistered(EventType):
        """A household (the payer) joined the ledger."""

        municipality_code: str
        district: str
        single_parent: bool
        children_under_18: int
        location: dict[str, float] | None
        meta: Meta

    class HouseholdFactsChanged(EventType):
        """The facts that set the friplads limits, or the home, changed."""

        single_parent: bool
        children_under_18: int
        municipality_code: str
        district: str
        meta: Meta
        effective_from: date | None = None
        location: dict[str, float] | None = None  # absent: the home did not move

    class IncomeDeclared(EventType):
        """The household's annual income from a date on."""

        annual_income_ore: int
        effective_from: date
        meta: Meta

    class FripladsDecided(EventType):
        """Økonomisk friplads: the share of the fee the household pays from a date on."""

        pay_share_percent: int
        effective_from: date
        annual_income_ore: int
        scale: dict[str, Any]
        meta: Meta

    class FripladsSettled(EventType):
        """Efterregulering: a year's pay share per month decided again on the final income."""

        year: int
        annual_income_ore: int
        shares: list[int | None]  # January first; None: no friplads that month
        meta: Meta

    class PaymentAdjusted(EventType):
        """A caseworker's adjustment of the parent payment for a run of months."""

        adjustment_id: str
        kind: str
        from_month: str
        to_month: str | None
        amount_ore: int | None
        pay_share_percent: int | None
        child_id: str | None
        meta: Meta

    class PersonErased(EventType):
        """The household's person data was erased (its key destroyed)."""

        person_id: str
        meta: Meta


# -- children ------------------------------------------------------------------------------------


class Child:
    """A child (pseudonymous id), its registrations, offers and placements."""

    class ChildRegistered(EventType):
        """A child joined the ledger."""

        household_id: str
        birth_date: date
        district: str
        municipality_code: str
        support_needs: list[str]
        meta: Meta

    class Opskrevet(EventType):
        """The child was put on the waiting lists of an age group (its wishes, in order)."""

        age_group: str
        wishes: list[str]
        need_date: date
        registered_on: date
        newcomer: bool
        meta: Meta
        guarantee_list: bool = False

    class WishesChanged(EventType):
        """The wishes and need date of a registration changed."""

        age_group: str
        wishes: list[str]
        need_date: date
        meta: Meta

    class PlaceOffered(EventType):
        """The placement office offered the child a seat."""

        offer_id: str
        institution_id: str
        age_group: str
        pool: str
        start_date: date
        expires_on: date
        rank: int
        priority_basis: str
        seed: int
        meta: Meta

    class OfferAccepted(EventType):
        """The family accepted an offer: the booking it became."""

        offer_id: str
        booking_id: str
        meta: Meta

    class OfferDeclined(EventType):
        """The family declined an offer; the need date it waits for from now."""

        offer_id: str
        need_date: date
        meta: Meta

    class OfferExpired(EventType):
        """An offer went unanswered."""

        offer_id: str
        meta: Meta

    class Placed(EventType):
        """The child holds a booking from its first to its last day."""

        booking_id: str
        institution_id: str
        first: date
        last: date
        meta: Meta

    class PlacementEnded(EventType):
        """A placement's last day moved earlier (cancellation or transfer)."""

        booking_id: str
        last: date
        meta: Meta

    class PersonErased(EventType):
        """The child's person data was erased (its key destroyed)."""

        person_id: str
        meta: Meta


# -- bookings ------------------------------------------------------------------------------------


class Booking:
    """One booking of a seat: the fact billing and occupancy follow."""

    class PlaceBooked(EventType):
        """A seat booked for a child from a start to an end date (the end of its age band)."""

        child_id: str
        household_id: str
        institution_id: str
        pool: str
        age_group: str
        start_date: date
        end_date: date
        segments: list[list[Any]]  # [age group, first day, last day]
        lunch: bool
        basis: dict[str, Any]  # source, rule set, policy, channel, override
        meta: Meta

    class BookingCancelled(EventType):
        """The booking ends the day before the effective date."""

        effective_date: date
        meta: Meta

    class ChildTransferred(EventType):
        """The booking ends the day before the effective date; the child goes on in another one."""

        effective_date: date
        kind: str
        to_institution_id: str
        to_booking_id: str
        meta: Meta


# -- billing -------------------------------------------------------------------------------------


class BillingRun:
    """The issue of one month's statements."""

    class BillingRunIssued(EventType):
        """A month's statements were issued (once per month)."""

        month: str
        statements: int
        total_ore: int
        meta: Meta


class BillingCalendar:
    """The calendar months in which a command asked to bill (one per ledger)."""

    class Opened(EventType):
        """The ledger's billing calendar was opened."""

    class MonthOpened(EventType):
        """A command asked to bill a month: its recorded time moves the billing horizon."""

        month: str
        meta: Meta


class Statement:
    """A household's statement for a month, immutable once issued."""

    class StatementIssued(EventType):
        """A household's statement for a month, as issued: its lines and total."""

        household_id: str
        month: str
        lines: list[dict[str, Any]]
        total_ore: int
        meta: Meta


# -- idempotency ---------------------------------------------------------------------------------


class CommandReceipt:
    """The first outcome of a command sent with an idempotency key."""

    class CommandAccepted(EventType):
        """A keyed command was accepted: its outcome, for a retry."""

        key: str
        command: str
        request_hash: str
        outcome: dict[str, Any]
        meta: Meta


class RefusalReceipt:
    """A keyed command that was refused: a retry is refused the same way."""

    class CommandRefused(EventType):
        """A keyed command was refused: its outcome, for a retry."""

        key: str
        command: str
        request_hash: str
        outcome: dict[str, Any]
        meta: Meta
