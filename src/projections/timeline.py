"""Child timeline: every event of a child in order (its own and its bookings'), for caseworkers and appeals."""

from __future__ import annotations

import json
from datetime import date, datetime
from typing import Any

from ledger import events

from projections.engine import Envelope, View, on
from projections.tables import DATE, INT, TEXT, TIMESTAMP, Changes, Table

TIMELINE = Table(
    "child_timeline",
    (("child_id", TEXT), ("position", INT), ("recorded_at", TIMESTAMP), ("effective_date", DATE),
     ("event", TEXT), ("actor", TEXT), ("channel", TEXT), ("reason", TEXT), ("rule_set", TEXT),
     ("institution_id", TEXT), ("booking_id", TEXT), ("detail", TEXT)),
    key=("child_id", "position"),
    append_only=True,
    indexes=(("child_id", "position"),),
    doc="One row per event of a child, in log order.",
)
BOOKING_CHILD = Table(
    "timeline_booking_child", (("booking_id", TEXT), ("child_id", TEXT)), key=("booking_id",),
    doc="Working state: which child a booking belongs to.",
)
# Look-ups the API needs from an id to the child behind it (an offer is answered by its id alone;
# a household lists its children). Person-level: not for analysts.
OFFER_CHILD = Table(
    "offer_child", (("offer_id", TEXT), ("child_id", TEXT)), key=("offer_id",),
    doc="Which child an offer was made to.",
)
CHILD_HOUSEHOLD = Table(
    "child_household", (("child_id", TEXT), ("household_id", TEXT), ("birth_date", DATE)), key=("child_id",),
    indexes=(("household_id",),),
    doc="Which household a child belongs to.",
)


_BOOKING_CHANGES = frozenset({events.Booking.BookingCancelled.topic, events.Booking.ChildTransferred.topic})


def _json_default(value: Any) -> str:
    if isinstance(value, (date, datetime)):
        return value.isoformat()
    return str(value)


class ChildTimeline(View):
    name = "timeline"
    rebuild_weight = 13  # seconds per 300k events of the synthetic city, folded alone
    tables = (TIMELINE, BOOKING_CHILD, OFFER_CHILD, CHILD_HOUSEHOLD)

    # A live projector holds none of its look-ups: the API's (offer and household to child) are
    # only written, and a page reads the children of the bookings its events name (prefetch).
    def loads(self, table: Table) -> bool:
        return False

    def start(self, store: Any, prefix: str = "") -> None:
        super().start(store, prefix)
        if self.owned_store is None:  # a checkpoint: every row in memory
            for table in (BOOKING_CHILD, OFFER_CHILD, CHILD_HOUSEHOLD):
                self.t[table.name].load(store.load(table, prefix))

    def prefetch(self, page: list[Envelope]) -> None:
        lookup = self.t[BOOKING_CHILD.name]
        named = {e.originator_id for e in page if e.kind in _BOOKING_CHANGES}
        lookup.load(self.read_rows(BOOKING_CHILD, "booking_id", sorted(b for b in named if lookup.get(b) is None)))

    def changes(self) -> dict[Table, Changes]:
        out = super().changes()
        if self.owned_store is not None:
            for table in (BOOKING_CHILD, OFFER_CHILD, CHILD_HOUSEHOLD):
                self.t[table.name].evict()  # the store holds them
        return out

    @on(events.Child.ChildRegistered)
    def _registered(self, e: Envelope) -> None:
        self.t["child_household"].put({"child_id": e.originator_id, "household_id": e.data["household_id"],
                                       "birth_date": e.data["birth_date"]})
        self._show(e, e.originator_id, None)

    @on(events.Child.PlaceOffered)
    def _offered(self, e: Envelope) -> None:
        self.t["offer_child"].put({"offer_id": e.data["offer_id"], "child_id": e.originator_id})
        self._show(e, e.originator_id, None)

    @on(events.Child.Opskrevet, events.Child.WishesChanged, events.Child.OfferAccepted, events.Child.OfferDeclined,
        events.Child.OfferExpired, events.Child.PersonErased)
    def _child(self, e: Envelope) -> None:
        self._show(e, e.originator_id, e.data.get("booking_id"))

    @on(events.Booking.PlaceBooked)
    def _booked(self, e: Envelope) -> None:
        self.t["timeline_booking_child"].put({"booking_id": e.originator_id, "child_id": e.data["child_id"]})
        self._show(e, e.data["child_id"], e.originator_id)

    @on(events.Booking.BookingCancelled, events.Booking.ChildTransferred)
    def _booking(self, e: Envelope) -> None:
        row = self.t["timeline_booking_child"].get(e.originator_id)
        if row is not None:
            self._show(e, row["child_id"], e.originator_id)

    def _show(self, e: Envelope, child_id: str, booking_id: str | None) -> None:
        data, meta = e.data, e.meta
        detail = {k: v for k, v in data.items() if k not in ("meta", "originator_topic")}
        self.t["child_timeline"].append({
            "child_id": child_id,
            "position": e.position,
            "recorded_at": e.recorded_at,
            "effective_date": meta.get("effective_date"),
            "event": e.name,
            "actor": meta.get("actor"),
            "channel": meta.get("channel"),
            "reason": meta.get("reason"),
            "rule_set": meta.get("rule_set"),
            "institution_id": data.get("institution_id") or data.get("to_institution_id"),
            "booking_id": booking_id,
            "detail": json.dumps(detail, sort_keys=True, default=_json_default, ensure_ascii=False),
        })
