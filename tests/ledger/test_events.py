"""The event catalogue (ledger/events.py): every event the aggregates record is declared once, under
the name the log stores it by, with the payload the views read; a mismatch fails at import."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from eventsourcing.domain import Aggregate, CanMutateAggregate
from eventsourcing.utils import get_topic

from ledger import aggregates, events
from ledger.events import Meta, recorded_as
from projections.engine import LogReader

D = date
DOCS = Path(__file__).resolve().parents[2] / "docs" / "ledger.md"

# What old ledgers hold, written out: an entry renamed in the catalogue renames what new events are
# stored as, and the events already stored would no longer be read (they would need an upcaster).
STORED = {
    "RuleBook.Opened", "RuleBook.RuleSetActivated",
    "Institution.InstitutionRegistered", "Institution.CapacityChanged", "Institution.SeatsReserved",
    "Institution.SeatsReleased", "Institution.CapacityOverridden", "Institution.GrossCostSet", "Institution.ClusterAssigned",
    "Household.HouseholdRegistered", "Household.HouseholdFactsChanged", "Household.IncomeDeclared",
    "Household.FripladsDecided", "Household.FripladsSettled", "Household.PaymentAdjusted",
    "Household.PersonErased",
    "Child.ChildRegistered", "Child.Opskrevet", "Child.WishesChanged", "Child.PlaceOffered",
    "Child.OfferAccepted", "Child.OfferDeclined", "Child.OfferExpired", "Child.Placed", "Child.PlacementEnded",
    "Child.PersonErased",
    "Booking.PlaceBooked", "Booking.BookingCancelled", "Booking.ChildTransferred",
    "BillingRun.BillingRunIssued", "BillingCalendar.Opened", "BillingCalendar.MonthOpened",
    "Statement.StatementIssued", "CommandReceipt.CommandAccepted", "RefusalReceipt.CommandRefused",
}


def _recorded_by_aggregates() -> set[str]:
    """The events the aggregates define (found on the classes, not through the catalogue): each
    aggregate's own event classes, less its base classes' and the library's Event and Created."""
    found = set()
    for cls in vars(aggregates).values():
        if not (isinstance(cls, type) and issubclass(cls, aggregates.LedgerAggregate)) \
                or cls is aggregates.LedgerAggregate:
            continue
        for name, value in vars(cls).items():
            inherited = any(name in vars(base) for base in cls.__mro__[1:])
            if isinstance(value, type) and issubclass(value, CanMutateAggregate) and not inherited:
                found.add(f"{cls.__name__}.{name}")
    return found


def test_every_event_an_aggregate_records_has_a_catalogue_entry_and_every_entry_an_aggregate():
    assert _recorded_by_aggregates() == set(events.CATALOGUE)


def test_the_catalogue_names_the_events_as_old_ledgers_store_them():
    assert set(events.CATALOGUE) == STORED
    for topic, entry in events.CATALOGUE.items():
        aggregate, name = topic.split(".")
        assert get_topic(getattr(getattr(aggregates, aggregate), name)) == f"ledger.aggregates:{topic}"
        assert (entry.aggregate, entry.event_name) == (aggregate, name)


def test_the_payload_is_the_aggregate_methods_parameters():
    booked = events.Booking.PlaceBooked.fields()
    assert list(booked)[:3] == ["child_id", "household_id", "institution_id"] and booked["start_date"] is date
    assert events.Institution.SeatsReserved.defaults() == {"forget_before": None, "self_service": None}
    assert events.Child.Opskrevet.defaults() == {"guarantee_list": False}
    assert events.RuleBook.Opened.fields() == {}


# -- a method that does not record its entry's payload fails when its aggregate is defined ----------


def _define(method_source: str, entry: str) -> type:
    namespace: dict[str, Any] = {"recorded_as": recorded_as, "events": events, "Meta": Meta, "date": date,
                                 "Aggregate": Aggregate}
    exec(f"class Booking(Aggregate):\n    @recorded_as(events.{entry})\n{method_source}", namespace)
    return namespace["Booking"]


def test_the_catalogues_payload_recorded_as_declared_defines_the_aggregate():
    cls = _define("    def cancel(self, effective_date: date, meta: Meta) -> None:\n        pass\n",
                  "Booking.BookingCancelled")
    assert get_topic(cls.BookingCancelled).endswith(":Booking.BookingCancelled")


@pytest.mark.parametrize(("source", "problem"), [
    ("    def cancel(self, meta: Meta) -> None:\n        pass\n", "effective_date is not a parameter"),
    ("    def cancel(self, effective_date: date, meta: Meta, why: str) -> None:\n        pass\n",
     "parameter why is not in the payload"),
    ("    def cancel(self, effective_date: str, meta: Meta) -> None:\n        pass\n",
     "effective_date is <class 'str'>, the catalogue says <class 'datetime.date'>"),
    ("    def cancel(self, effective_date: date, meta: Meta = None) -> None:\n        pass\n",
     "meta's default differs"),
])
def test_a_method_whose_parameters_are_not_the_payload_fails_at_definition(source, problem):
    with pytest.raises(TypeError, match=re.escape(problem)):
        _define(source, "Booking.BookingCancelled")


def test_a_method_recording_another_aggregates_event_fails_at_definition():
    with pytest.raises(TypeError, match="an event of another aggregate"):
        _define("    def place(self, booking_id: str, institution_id: str, first: date, last: date, meta: Meta)"
                " -> None:\n        pass\n", "Child.Placed")


def test_an_event_type_outside_an_aggregates_namespace_or_declared_twice_is_refused():
    with pytest.raises(TypeError, match="inside its aggregate's class"):
        type("Loose", (events.EventType,), {"__qualname__": "Loose"})
    with pytest.raises(TypeError, match="declared twice"):
        type("PlaceBooked", (events.EventType,), {"__qualname__": "Booking.PlaceBooked"})
    with pytest.raises(TypeError, match="may not be called"):
        type("Odd", (events.EventType,), {"__qualname__": "Booking.Odd", "__annotations__": {"topic": "str"}})
    assert "Booking.Odd" not in events.CATALOGUE and "Loose" not in events.CATALOGUE


# -- what the log holds is what the catalogue says ---------------------------------------------------


def test_the_events_a_ledger_stores_carry_the_catalogues_payload(city):
    c = city.c
    inst = city.institution()
    other = city.institution(name="Mælkebøtten")
    hh = city.household(income_kr=300_000)
    child = city.child(hh)
    city.run(c.Register(child_id=child, age_group="nursery", wishes=[inst, other], need_date=D(2025, 8, 1)))
    booked = city.book(child, inst, D(2025, 2, 1))
    city.run(c.TransferChild(booking_id=booked["id"], institution_id=other, effective_date=D(2025, 5, 1),
                             kind="parent_request", reason="closer to home"))
    second = city.book(city.child(city.household()), inst, D(2025, 3, 1))
    city.run(c.CancelBooking(booking_id=second["id"], effective_date=D(2025, 4, 1), reason="moved away"))
    reader = LogReader(city.ledger, events.CATALOGUE)
    read, _ = reader.page(0, 10_000)
    seen = set()
    for e in read:
        entry = events.CATALOGUE[e.kind]
        fields, defaults = entry.fields(), entry.defaults()
        payload = set(e.data) - {"originator_topic"}  # the library's, on an aggregate's first event
        assert payload <= set(fields), (e.kind, payload - set(fields))
        assert set(fields) - set(defaults) <= payload, (e.kind, set(fields) - payload)
        seen.add(e.kind)
    assert {"Booking.PlaceBooked", "Booking.ChildTransferred", "Booking.BookingCancelled", "Child.Opskrevet",
            "Institution.SeatsReserved", "Institution.SeatsReleased", "Household.IncomeDeclared"} <= seen


# -- the documentation ------------------------------------------------------------------------------


def test_the_documented_catalogue_is_the_catalogue():
    text = DOCS.read_text(encoding="utf-8")
    start, end = "<!-- event catalogue: generated by ledger.events.markdown() -->\n", "<!-- end of event catalogue -->"
    assert start in text and end in text, "docs/ledger.md lost its event catalogue section"
    documented = text.split(start, 1)[1].split(end, 1)[0]
    assert documented == events.markdown(), "docs/ledger.md: paste ledger.events.markdown() between the markers"
