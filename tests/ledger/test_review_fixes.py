"""Findings of a review of the write side, fixed: each test once failed."""

from __future__ import annotations

import threading
import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from ledger import Conflict, LedgerError, NotFound, StaleState
from ledger import commands as c
from ledger.aggregates import Booking, Household

D = date
BIRTH = D(2024, 3, 15)  # kindergarten from 2027-01-01; school 2030-08-01
CPH = ZoneInfo("Europe/Copenhagen")




def test_an_erased_child_can_still_be_put_on_a_waiting_list(city):
    """handlers.register (and offer_place) do not check Child.erased; _book does."""
    inst = city.institution()
    child = city.child(city.household())
    city.run(c.ErasePerson(person_id=child, reason="GDPR art. 17"))
    with pytest.raises(Conflict, match="erased"):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[inst], need_date=D(2025, 3, 1)))


def test_an_empty_statement_run_locks_the_month_forever(city):
    """handlers.issue_statements accepts statements=[] and records the BillingRun: the month can
    then never be billed (AlreadyIssued)."""
    hh = city.household()
    with pytest.raises(LedgerError):
        city.run(c.IssueStatements(month="2025-03", statements=[]))
    statement = c.HouseholdStatement(household_id=hh, total_ore=100, lines=[c.StatementLine(kind="fee", amount_ore=100)])
    city.run(c.IssueStatements(month="2025-03", statements=[statement]))


def test_idempotency_key_reused_from_another_channel_replays_the_first_outcome(city):
    """application._request_hash leaves the channel out: the same key and body from another
    channel returns the first outcome instead of a 409."""
    inst = city.institution(kind="vuggestue", nursery=5, kindergarten=None)
    child = city.child(city.household())
    command = c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 9, 1))
    city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="k-9")
    with pytest.raises(Conflict):
        city.ledger.execute(command, actor="anna", channel="self_service", idempotency_key="k-9")
