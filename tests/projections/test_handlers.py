"""Views declare what they handle by one method per event type (`@on` with catalogue entries); their
`handles`, and so what the engine reads, are derived from those methods."""

from __future__ import annotations

from datetime import date, datetime, timezone

import pytest

from ledger import events
from projections import all_views
from projections.engine import Envelope, View, on
from replay.audit.facts import Demand, DemandAndIncomes
from replay.audit.counterfactual import Script

AT = datetime(2025, 1, 6, 9, tzinfo=timezone.utc)


def _event(topic: str, data: dict, position: int = 1) -> Envelope:
    aggregate, name = topic.split(".")
    return Envelope(position, AT, aggregate, name, "b-1", 1, data)


class _Bookings(View):
    name = "test_bookings"

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[tuple[str, str]] = []

    @on(events.Booking.PlaceBooked)
    def _booked(self, e: Envelope) -> None:
        self.seen.append(("booked", e.data["child_id"]))

    @on(events.Booking.BookingCancelled, events.Booking.ChildTransferred)
    def _ended(self, e: Envelope) -> None:
        self.seen.append(("ended", e.name))


def test_handles_are_the_topics_of_the_registered_methods():
    assert _Bookings.handles == {"Booking.PlaceBooked", "Booking.BookingCancelled", "Booking.ChildTransferred"}


def test_apply_hands_each_event_to_its_method_and_ignores_the_rest():
    view = _Bookings()
    view.apply(_event("Booking.PlaceBooked", {"child_id": "c-1"}))
    view.apply(_event("Booking.ChildTransferred", {"effective_date": date(2025, 3, 1)}))
    view.apply(_event("Child.Placed", {"booking_id": "b-1"}))  # not its event
    assert view.seen == [("booked", "c-1"), ("ended", "ChildTransferred")]


def test_a_subclass_inherits_the_handlers_and_overrides_one_by_its_method():
    class Counting(_Bookings):
        @on(events.Child.Placed)
        def _placed(self, e: Envelope) -> None:
            self.seen.append(("placed", e.data["booking_id"]))

        def _ended(self, e: Envelope) -> None:
            self.seen.append(("ended differently", e.name))

    assert Counting.handles == _Bookings.handles | {"Child.Placed"}
    view = Counting()
    for topic, data in (("Booking.PlaceBooked", {"child_id": "c-1"}), ("Booking.BookingCancelled", {}),
                        ("Child.Placed", {"booking_id": "b-1"})):
        view.apply(_event(topic, data))
    assert view.seen == [("booked", "c-1"), ("ended differently", "BookingCancelled"), ("placed", "b-1")]
    assert _Bookings.handles == {"Booking.PlaceBooked", "Booking.BookingCancelled", "Booking.ChildTransferred"}


def test_a_view_cannot_name_an_event_the_catalogue_does_not_have():
    with pytest.raises(TypeError, match="not an entry of the event catalogue"):
        on("Booking.PlaceBooked")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="not an entry of the event catalogue"):
        on(events.Booking)  # type: ignore[arg-type]  # the aggregate's namespace, not an event
    with pytest.raises(TypeError, match="name the events"):
        on()


def test_one_event_in_two_methods_or_handles_set_by_hand_is_refused():
    with pytest.raises(TypeError, match="handles Booking.PlaceBooked twice"):
        class Twice(View):
            @on(events.Booking.PlaceBooked)
            def _one(self, e: Envelope) -> None: ...

            @on(events.Booking.PlaceBooked)
            def _other(self, e: Envelope) -> None: ...
    with pytest.raises(TypeError, match="instead of setting handles"):
        class ByHand(View):
            handles = frozenset({"Booking.PlaceBooked"})


@pytest.mark.parametrize("view", [*all_views(), Script(), Demand(), DemandAndIncomes()], ids=lambda v: v.name)
def test_every_view_handles_only_catalogue_events_each_by_one_method(view):
    assert view.handles <= set(events.CATALOGUE)
    assert set(type(view)._handlers) == type(view).handles
    assert all(callable(method) for method in type(view)._handlers.values())
