"""Ids, free text and database URLs a caller gives: refused clearly when wrong."""

from __future__ import annotations

import uuid
from datetime import date

import pytest

from ledger import Conflict
from ledger import commands as c
from ledger.aggregates import Household

D = date
BIRTH = D(2024, 3, 15)


def test_an_id_in_use_by_another_aggregate_type_is_a_conflict(city):
    household = city.household()
    with pytest.raises(Conflict, match="already in use"):
        city.run(c.RegisterInstitution(name="X", district="Nørrebro", kind="vuggestue", institution_id=household))
    # In a bulk batch the refusal leaves the household as it was.
    with city.ledger.bulk(actor="import", channel="import") as bulk:
        assert bulk.execute(c.RegisterChild(household_id=household, birth_date=BIRTH, child_id=household)) is None
    assert isinstance(bulk.rejected[0][2], Conflict)
    assert city.ledger.get(Household, household).district == "Nørrebro"


@pytest.mark.parametrize("text", ["child 150324-1234 moved", "see 1503241234", "CPR 150324 1234"])
def test_free_text_refuses_cpr_numbers(text):
    with pytest.raises(ValueError, match="CPR"):
        c.CancelBooking(booking_id=uuid.uuid4(), effective_date=D(2025, 3, 1), reason=text)
    # Ordinary numbers in a reason stay allowed.
    c.CancelBooking(booking_id=uuid.uuid4(), effective_date=D(2025, 3, 1), reason="moved on 2025-03-01, room 12")


def test_a_mixed_case_schema_is_refused_clearly():
    from ledger.errors import InvalidCommand
    from ledger.storage import parse_database_url

    with pytest.raises(InvalidCommand, match="lower-case"):
        parse_database_url("postgresql://u@localhost:5432/db?schema=Plads")
    assert parse_database_url("postgresql://u@localhost:5432/db?schema=plads_2").schema == "plads_2"
