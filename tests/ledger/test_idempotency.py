"""Idempotency keys: the same key answers the same request, and only it (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import Conflict, NoSeat
from ledger import commands as c

D = date


def test_an_idempotency_key_reused_from_another_channel_is_a_conflict(city):
    """The channel is part of the request: the same key and body from another channel is a 409,
    not the first outcome replayed."""
    inst = city.institution(kind="vuggestue", nursery=5, kindergarten=None)
    child = city.child(city.household())
    command = c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 9, 1))
    city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="k-9")
    with pytest.raises(Conflict, match="another request"):
        city.ledger.execute(command, actor="anna", channel="self_service", idempotency_key="k-9")


def test_a_refused_keyed_command_is_refused_again_on_retry(city):
    from ledger.errors import NoSeat

    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None)
    holder = city.book(city.child(city.household()), inst, D(2025, 3, 1))
    child = city.child(city.household())
    command = c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 3, 1))
    with pytest.raises(NoSeat):
        city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="r-1")
    city.run(c.CancelBooking(booking_id=holder["id"], effective_date=D(2025, 3, 1), reason="moved away"))
    # The seat is free now, but the retry of the refused request gets the first answer.
    with pytest.raises(NoSeat, match="no free nursery seat"):
        city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="r-1")
    with pytest.raises(Conflict, match="another request"):
        city.ledger.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 4, 1)),
                            actor="anna", channel="caseworker", idempotency_key="r-1")
    booked = city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="r-2")
    assert booked.result["child_id"] == child


def test_a_replayed_outcome_has_the_first_outcomes_position(city):
    """Issue 20: a retry with the same key answers the first outcome's log position (what a client
    passes as `min_position`), not none; other commands recorded in between do not move it."""
    inst = city.institution(kind="vuggestue", nursery=5, kindergarten=None)
    household = city.household()
    command = c.BookPlace(child_id=city.child(household), institution_id=inst, start_date=D(2025, 9, 1))
    first = city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="p-1")
    assert first.position is not None and not first.replayed
    city.child(household)  # later events
    again = city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="p-1")
    assert again.replayed and again.result == first.result
    assert again.position == first.position
    assert city.ledger.max_position() > first.position
