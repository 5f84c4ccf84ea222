"""Which dates a command may take: age roll, the past for self-service, need dates, rule sets."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from ledger import LedgerError
from ledger import commands as c
from ledger.aggregates import Booking

D = date
BIRTH = D(2024, 3, 15)  # kindergarten from 2027-01-01; school 2030-08-01


def test_the_age_roll_transfers_on_the_day_after_the_nursery_booking_ends(city):
    nursery = city.institution(kind="vuggestue", nursery=5, kindergarten=None, name="Vug")
    kindergarten = city.institution(kind="boernehave", nursery=None, kindergarten=5, name="Børn")
    child = city.child(city.household(), birth=BIRTH)
    booking = city.book(child, nursery, D(2025, 3, 1))
    last = D.fromisoformat(booking["end_date"])
    moved = city.run(c.TransferChild(booking_id=booking["id"], institution_id=kindergarten,
                                     effective_date=last + timedelta(days=1), reason="årsrulning", kind="age_roll"),
                     channel="system")
    assert moved["start_date"] == (last + timedelta(days=1)).isoformat()
    assert city.ledger.get(Booking, booking["id"]).end_date == last


def test_self_service_cannot_book_cancel_or_transfer_in_the_past(city):
    inst = city.institution(kind="integreret")
    other = city.institution(kind="integreret", name="Anden")
    child = city.child(city.household())
    with pytest.raises(LedgerError, match="past"):
        city.book(child, inst, D(2025, 1, 1), channel="self_service")  # the clock says 2025-01-06
    booking = city.book(child, inst, D(2025, 1, 2))  # a caseworker may record it
    with pytest.raises(LedgerError, match="past"):
        city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2025, 1, 3), reason="moved"),
                 channel="self_service")
    with pytest.raises(LedgerError, match="past"):
        city.run(c.TransferChild(booking_id=booking["id"], institution_id=other, effective_date=D(2025, 1, 3),
                                 reason="closer"), channel="self_service")


def test_a_kindergarten_need_date_at_nursery_age_is_refused(city):
    inst = city.institution(kind="integreret")
    child = city.child(city.household(), birth=BIRTH)
    with pytest.raises(LedgerError, match="before the kindergarten age"):
        city.run(c.Register(child_id=child, age_group="kindergarten", wishes=[inst], need_date=D(2025, 6, 1)))
    city.run(c.Register(child_id=child, age_group="kindergarten", wishes=[inst], need_date=D(2027, 1, 1)))


def test_a_rule_set_cannot_take_effect_before_its_rules(city):
    with pytest.raises(LedgerError, match="only from"):
        city.run(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=D(1995, 1, 1)),
                 channel="system")
