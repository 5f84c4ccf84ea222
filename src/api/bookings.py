"""Bookings: book a seat, cancel, transfer (a family: its own children's), and one booking with what its
first full month is expected to cost the household."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

import rules
from api import bodies as b
from api import models as m
from api.deps import Acting, LedgerDep, Reader, Run, own_booking, own_child
from api.responses import ERRORS, linked
from ledger import commands as c
from ledger import InvalidCommand, NotFound
from ledger.aggregates import Booking, Child, Household, Institution, RuleBook

router = APIRouter(prefix="/v1", tags=["bookings"])
ID = m.ID


class ExpectedFee(BaseModel):
    month: str = Field(description="the booking's first full month (YYYY-MM)")
    amount_ore: int = Field(description="tariff and lunch less økonomisk friplads, before the sibling "
                                        "discount and adjustments (they depend on the household's other places)")
    pay_share_percent: int
    rule_set: str
    lines: list[dict]


class BookingView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID, "child_id": ID, "household_id": ID, "institution_id": ID, "pool": "general",
        "age_group": "nursery", "start_date": "2025-08-01", "end_date": "2027-04-30", "lunch": True,
        "status": "booked", "expected_fee": None}]})
    id: str
    child_id: str
    household_id: str
    institution_id: str
    pool: str
    age_group: str
    start_date: date
    end_date: date
    lunch: bool
    status: str = Field(description="booked, cancelled or transferred")
    expected_fee: ExpectedFee | None = Field(description="none when the booking holds no full month")


def _first_full_month(booking: Booking) -> date | None:
    month = rules.first_of_month(booking.start_date)
    if month < booking.start_date:
        month = rules.add_months(month, 1)
    return month if rules.last_of_month(month) <= booking.end_date else None


def expected_fee(ledger: LedgerDep, booking: Booking) -> dict | None:
    month = _first_full_month(booking)
    if month is None:
        return None
    try:
        rule_set_id = ledger.get(RuleBook, RuleBook.create_id()).in_force(month)
    except NotFound:
        rule_set_id = None
    if rule_set_id is None:
        return None
    rs = rules.load_rule_set(rule_set_id)
    child = ledger.get(Child, booking.child_id)
    kind = ledger.get(Institution, booking.institution_id).kind
    share = ledger.get(Household, booking.household_id).pay_share_on(month)
    place = rules.PlaceMonth(str(booking.id), kind, child.birth_date, month, rules.last_of_month(month),
                             booking.lunch)
    try:
        lines = rules.household_month_charges([place], share, month, rs)
    except rules.RuleError as e:
        raise InvalidCommand(f"the expected fee cannot be computed: {e}") from None
    return {"month": month.isoformat()[:7], "amount_ore": sum(line.amount_ore for line in lines),
            "pay_share_percent": share, "rule_set": rule_set_id,
            "lines": [{"kind": line.kind, "amount_ore": line.amount_ore, "detail": line.detail} for line in lines]}


@router.get("/bookings/{booking_id}", response_model=BookingView, responses=ERRORS)
def booking(booking_id: UUID, ledger: LedgerDep, principal: Reader):
    """A booking and the expected monthly fee of its first full month (a family: its own children's)."""
    found = own_booking(ledger, principal, booking_id)
    return {"id": str(found.id), "child_id": found.child_id, "household_id": found.household_id,
            "institution_id": found.institution_id, "pool": found.pool, "age_group": found.age_group,
            "start_date": found.start_date, "end_date": found.end_date, "lunch": found.lunch,
            "status": found.status, "expected_fee": expected_fee(ledger, found)}


@router.post("/bookings", status_code=201, response_model=m.Booking,
             responses=linked(201, "booking_id", "cancel_booking", "transfer_child"))
def book_place(body: c.BookPlace, ledger: LedgerDep, principal: Acting, run: Run):
    """Book a seat from a start date to the end of the age band (409 when no seat is free every day).

    A family books for its own children through the self-service share (general seats, no override)."""
    own_child(ledger, principal, body.child_id)
    return run(body, principal)


@router.post("/bookings/{booking_id}/cancel", response_model=m.Cancellation, responses=ERRORS)
def cancel_booking(booking_id: UUID, body: b.CancelBody, ledger: LedgerDep, principal: Acting, run: Run):
    """End a booking: `effective_date` is the first day without the place."""
    own_booking(ledger, principal, booking_id)
    return run(c.CancelBooking(booking_id=booking_id, **body.model_dump()), principal)


@router.post("/bookings/{booking_id}/transfer", status_code=201, response_model=m.Booking, responses=ERRORS)
def transfer_child(booking_id: UUID, body: b.TransferBody, ledger: LedgerDep, principal: Acting, run: Run):
    """Move the child to another institution from `effective_date`; the answer is the new booking."""
    own_booking(ledger, principal, booking_id)
    return run(c.TransferChild(booking_id=booking_id, **body.model_dump()), principal)
