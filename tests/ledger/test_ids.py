"""Ids the ledger names itself are derived from what the command acts on (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date
from uuid import NAMESPACE_URL, uuid5

from ledger import commands as c
from ledger.aggregates import Booking, Child

D = date
# The ledger's namespace, written out here so a changed derivation shows as a failing test.
NS = uuid5(NAMESPACE_URL, "https://plads.invalid/ledger")


def test_a_booking_id_is_derived_from_its_child_and_a_transfer_from_the_booking(city):
    a, b = city.institution(name="A"), city.institution(name="B")
    child = city.child(city.household())
    version = city.ledger.get(Child, child).version
    booked = city.book(child, a, D(2025, 2, 1))
    assert booked["id"] == str(uuid5(NS, f"booking/{child}/{version}"))
    moved = city.run(c.TransferChild(booking_id=booked["id"], institution_id=b, effective_date=D(2025, 6, 1),
                                     kind="parent_request", reason="closer to home"))
    assert moved["id"] == str(uuid5(NS, f"booking/transfer/{booked['id']}"))


def test_a_derived_id_a_caller_already_chose_moves_to_the_next(city):
    inst = city.institution()
    first, second = city.child(city.household()), city.child(city.household())
    version = city.ledger.get(Child, second).version
    taken = uuid5(NS, f"booking/{second}/{version}")
    city.book(first, inst, D(2025, 2, 1), booking_id=taken)  # the caller's own id for another child
    booked = city.book(second, inst, D(2025, 2, 1))
    assert booked["id"] == str(uuid5(NS, f"booking/{second}/{version}/1"))
    assert city.ledger.get(Booking, taken).child_id == first
