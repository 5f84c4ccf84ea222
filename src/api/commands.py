"""The endpoints that change the ledger: each builds one command and runs it.

Every POST takes an `Idempotency-Key` header: a retry with the same key and body gets
the first answer (kept durably in the ledger); the same key with another body is 409.
The caller's actor goes into every event; its role decides the channel.
"""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from pydantic import ValidationError

from api import models as m
from api.auth import Principal, require
from api.deps import Acting, IdempotencyKey, own_booking, own_child
from api.problems import Problem
from ledger import AlreadyIssued, InvalidCommand, Ledger
from ledger import commands as c
from ledger.text import looks_like_cpr
from processes.allocation import run_allocation as run_month
from projections import queries as q

router = APIRouter(prefix="/v1")

ERRORS: dict[int | str, dict[str, Any]] = {
    s: {"model": Problem, "content": {"application/problem+json": {}}} for s in (400, 401, 403, 404, 409, 413, 422, 503)
}
Month = Annotated[str, Path(pattern=c.MONTH_PATTERN, examples=["2025-03"])]

def linked(status: int, param: str, *operations: str, body_field: str = "id") -> dict[int | str, dict[str, Any]]:
    """The error answers plus OpenAPI links: the new id feeds `param` of the named operations."""
    links = {op: {"operationId": op, "parameters": {param: f"$response.body#/{body_field}"}} for op in operations}
    return {**ERRORS, status: {"links": links}}


caseworker = require("caseworker")
admin = require("admin")
planner = require("admin", "caseworker")


def run(request: Request, response: Response, command: c.Command, principal: Principal,
        key: str | None) -> dict[str, Any]:
    ledger: Ledger = request.app.state.ledger
    if key is not None:
        _check_key(key)
    outcome = ledger.execute(command, actor=principal.actor, channel=principal.channel, idempotency_key=key)
    if outcome.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    request.app.state.views.wrote(outcome.position)
    return {**outcome.result, "position": outcome.position}


def _check_key(key: str) -> None:
    """The key lands in the ledger (as a digest) and in logs of retries: no CPR number in it. A UUID
    is taken as it is (its hex digits can happen to look like one)."""
    if not key.strip():
        raise InvalidCommand("Idempotency-Key is empty")
    try:
        UUID(key)
        return
    except ValueError:
        pass
    if looks_like_cpr(key):
        raise InvalidCommand("Idempotency-Key looks like a CPR number; use a random key (a UUID)")


# -- administration --------------------------------------------------------------------------------


@router.post("/institutions", status_code=201, response_model=m.Created, tags=["administration"],
             responses=linked(201, "institution_id", "change_capacity", "institution_availability", "waiting_list"))
def register_institution(body: c.RegisterInstitution, request: Request, response: Response,
                         principal: Principal = Depends(admin), key: IdempotencyKey = None):
    """Register an institution (admin)."""
    return run(request, response, body, principal, key)


@router.put("/institutions/{institution_id}/capacity", response_model=m.CapacitySet, responses=ERRORS,
            tags=["administration"])
def change_capacity(institution_id: UUID, body: m.CapacityBody, request: Request, response: Response,
                    principal: Principal = Depends(admin), key: IdempotencyKey = None):
    """Set an institution's seats for an age group and pool from a date (admin)."""
    command = c.ChangeCapacity(institution_id=institution_id, **body.model_dump())
    return run(request, response, command, principal, key)


@router.post("/rule-sets/{rule_set_id}/activate", status_code=201, response_model=m.Activation, responses=ERRORS,
             tags=["administration"])
def activate_rule_set(body: m.ActivationBody, request: Request, response: Response,
                      rule_set_id: str = Path(max_length=100, pattern=c.RULE_SET_ID,
                                              examples=["copenhagen-book-en-plads@1"]),
                      principal: Principal = Depends(admin), key: IdempotencyKey = None):
    """Put a rule set in force from a date (admin)."""
    command = c.ActivateRuleSet(rule_set_id=rule_set_id, **body.model_dump())
    return run(request, response, command, principal, key)


# -- households and children -----------------------------------------------------------------------


@router.post("/households", status_code=201, response_model=m.Created, tags=["families"],
             responses=linked(201, "household_id", "declare_income", "adjust_payment", "statement"))
def register_household(body: c.RegisterHousehold, request: Request, response: Response,
                       principal: Principal = Depends(caseworker), key: IdempotencyKey = None):
    """Register a household (the payer). Identifiers go to the encrypted person registry only."""
    return run(request, response, body, principal, key)


@router.post("/households/{household_id}/income", status_code=201, response_model=m.FripladsDecision,
             responses=ERRORS, tags=["families"])
def declare_income(household_id: UUID, body: m.IncomeBody, request: Request, response: Response,
                   principal: Principal = Depends(caseworker), key: IdempotencyKey = None):
    """Declare the household's yearly income; the answer is the friplads decision it gives."""
    return run(request, response, c.DeclareIncome(household_id=household_id, **body.model_dump()), principal, key)


@router.post("/households/{household_id}/adjustments", status_code=201, response_model=m.Adjustment,
             responses=ERRORS, tags=["families"])
def adjust_payment(household_id: UUID, body: m.AdjustmentBody, request: Request, response: Response,
                   principal: Principal = Depends(caseworker), key: IdempotencyKey = None):
    """A sibling, socialpædagogisk or behandlingsmæssig friplads, or a manual correction, with a reason."""
    return run(request, response, c.AdjustPayment(household_id=household_id, **body.model_dump()), principal, key)


@router.post("/children", status_code=201, response_model=m.ChildCreated, tags=["families"],
             responses=linked(201, "child_id", "register_on_waiting_lists", "child_history"))
def register_child(body: c.RegisterChild, request: Request, response: Response,
                   principal: Principal = Depends(caseworker), key: IdempotencyKey = None):
    """Register a child of a household (pseudonymous; identifiers to the person registry)."""
    return run(request, response, body, principal, key)


@router.post("/children/{child_id}/registrations", status_code=201, response_model=m.Registration,
             responses=ERRORS, tags=["families"])
def register_on_waiting_lists(child_id: UUID, body: m.RegistrationBody, request: Request, response: Response,
                              principal: Acting, key: IdempotencyKey = None):
    """Opskrivning: put the child on the waiting lists of its wished institutions (a family: its own child)."""
    own_child(request.app.state.ledger, principal, child_id)
    return run(request, response, c.Register(child_id=child_id, **body.model_dump()), principal, key)


# -- bookings --------------------------------------------------------------------------------------


@router.post("/bookings", status_code=201, response_model=m.Booking, tags=["bookings"],
             responses=linked(201, "booking_id", "cancel_booking", "transfer_child"))
def book_place(body: c.BookPlace, request: Request, response: Response, principal: Acting,
               key: IdempotencyKey = None):
    """Book a seat from a start date to the end of the age band (409 when no seat is free every day).

    A family books for its own children through the self-service share (general seats, no override)."""
    own_child(request.app.state.ledger, principal, body.child_id)
    return run(request, response, body, principal, key)


@router.post("/bookings/{booking_id}/cancel", response_model=m.Cancellation, responses=ERRORS, tags=["bookings"])
def cancel_booking(booking_id: UUID, body: m.CancelBody, request: Request, response: Response,
                   principal: Acting, key: IdempotencyKey = None):
    """End a booking: `effective_date` is the first day without the place."""
    own_booking(request.app.state.ledger, principal, booking_id)
    return run(request, response, c.CancelBooking(booking_id=booking_id, **body.model_dump()), principal, key)


@router.post("/bookings/{booking_id}/transfer", status_code=201, response_model=m.Booking, responses=ERRORS,
             tags=["bookings"])
def transfer_child(booking_id: UUID, body: m.TransferBody, request: Request, response: Response,
                   principal: Acting, key: IdempotencyKey = None):
    """Move the child to another institution from `effective_date`; the answer is the new booking."""
    own_booking(request.app.state.ledger, principal, booking_id)
    return run(request, response, c.TransferChild(booking_id=booking_id, **body.model_dump()), principal, key)


# -- billing and allocation ----------------------------------------------------------------------------


@router.post("/billing/{month}/issue", response_model=m.BillingRun, responses=ERRORS, tags=["billing"])
def issue_month(month: Month, request: Request, response: Response, principal: Principal = Depends(admin),
                key: IdempotencyKey = None):
    """Issue every household's statement for the month, as the billing view has computed it."""
    ledger: Ledger = request.app.state.ledger
    # The horizon follows this request's clock, not the latest recorded event (a quiet ledger bills on).
    ledger.execute(c.OpenBillingMonth(month=month), actor=principal.actor, channel=principal.channel)
    # The statements are the billing view's (docs/views-billing.md), caught up with every command so far.
    with request.app.state.views.current(min_position=ledger.max_position() or None) as store:
        drafts = q.draft_statements(store, month)
        issued = q.month_issued(store, month)
    if issued:
        raise AlreadyIssued(f"the statements for {month} are already issued; later changes become corrections "
                            "on a later month")
    statements, skipped = _statements(drafts)
    if not statements:
        named = "; ".join(f"{s.household_id}: {s.reason}" for s in skipped[:3])
        raise InvalidCommand(f"there is nothing to bill for {month} (no household holds a place then, "
                             "or the month is not yet within the billing horizon)" + (f"; {named}" if named else ""))
    command = c.IssueStatements(month=month, statements=statements, skipped=skipped)
    return run(request, response, command, principal, key)


def _statements(drafts: list[dict[str, Any]]) -> tuple[list[c.HouseholdStatement], list[c.SkippedStatement]]:
    """The drafts as statements; a household whose statement breaks a statement's limits is skipped
    and named, so one household never stops the month's run for everyone."""
    statements, skipped = [], []
    for d in drafts:
        try:
            statements.append(c.HouseholdStatement(
                household_id=d["household_id"], total_ore=d["total_ore"],
                lines=[c.StatementLine(kind=line["kind"], amount_ore=line["amount_ore"], child_id=line["child_id"],
                                       booking_id=line["booking_id"], month=line["corrects_month"],
                                       detail=(line["detail"] or "")[:300]) for line in d["lines"]]))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "statement"
            skipped.append(c.SkippedStatement(household_id=d["household_id"], reason=(
                f"its statement cannot be issued ({where}: {first['msg']}, total {d['total_ore']} øre); "
                "correct the household's adjustments")[:300]))
    return statements, skipped



@router.post("/allocation/{month}/run", response_model=m.AllocationRun, responses=ERRORS, tags=["allocation"])
def run_allocation(month: Month, request: Request, seed: int | None = Query(None, ge=0, le=2**31),
                   principal: Principal = Depends(planner)):
    """The month's allocation run: offers from the waiting lists in the rule set's order (a re-run makes no
    second offer), or under book-en-plads the held seats released and the cases without a place."""
    ledger: Ledger = request.app.state.ledger
    with request.app.state.views.current(min_position=ledger.max_position() or None) as store:
        result = run_month(ledger, month, seed=seed, actor=principal.actor, channel=principal.channel,
                           store=store)
    request.app.state.views.wrote(ledger.max_position())
    return result
