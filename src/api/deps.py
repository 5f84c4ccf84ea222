"""The API's dependencies in one place: the ledger, the views, who asks (per role), what a
family may see, how a command runs (`Run`) and which state of the views a read asks for (`At`).

A family's principal is bound to one household: every id it names is checked here, and an id of
another household answers exactly as an unknown id does (404), so a family learns nothing of
other families' existence.
"""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request, Response

from api.auth import EVERYONE, PERSON_LEVEL, Principal, require
from api.execute import Runner
from api.reading import AsOf, MinPosition, ReadAt, ValidAt
from api.views import Views
from ledger import Ledger, NotFound
from ledger.aggregates import Booking, Child, Household
from ledger.unit_of_work import describe


def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


def get_views(request: Request) -> Views:
    return request.app.state.views


LedgerDep = Annotated[Ledger, Depends(get_ledger)]
ViewsDep = Annotated[Views, Depends(get_views)]

# One dependency per set of roles (the role-table test reads each one's `roles`).
Caseworker = Annotated[Principal, Depends(require("caseworker"))]
Admin = Annotated[Principal, Depends(require("admin"))]
Planner = Annotated[Principal, Depends(require("admin", "caseworker"))]
Everyone = Annotated[Principal, Depends(require(*EVERYONE))]
PersonLevel = Annotated[Principal, Depends(require(*PERSON_LEVEL))]
# Families act for their own children; caseworkers for anyone's.
Acting = Annotated[Principal, Depends(require("caseworker", "family"))]
# Person-level reads: staff who may see persons, and a family its own.
Reader = Annotated[Principal, Depends(require(*PERSON_LEVEL, "family"))]
# Public facts (institutions, free seats): every role.
Anyone = Annotated[Principal, Depends(require(*EVERYONE, "family"))]

IdempotencyKey = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200, pattern=r"^[!-~]([ -~]*[!-~])?$",
                                              description="a retry with the same key gets the first answer "
                                                          "(printable ASCII, not blank)")]


def _hidden(principal: Principal, household_id: str, cls: type, id_: UUID) -> None:
    if principal.is_family and household_id != principal.household_id:
        raise NotFound(f"no {describe(cls)} with id {id_}")


def own_household(ledger: Ledger, principal: Principal, household_id: UUID) -> Household:
    if principal.is_family and str(household_id) != principal.household_id:
        raise NotFound(f"no {describe(Household)} with id {household_id}")
    return ledger.get(Household, household_id)


def own_child(ledger: Ledger, principal: Principal, child_id: UUID) -> Child:
    child = ledger.get(Child, child_id)
    _hidden(principal, child.household_id, Child, child_id)
    return child


def own_booking(ledger: Ledger, principal: Principal, booking_id: UUID) -> Booking:
    booking = ledger.get(Booking, booking_id)
    _hidden(principal, booking.household_id, Booking, booking_id)
    return booking



def runner(ledger: LedgerDep, views: ViewsDep, response: Response, key: IdempotencyKey = None) -> Runner:
    return Runner(ledger, views, response, key)


def read_at(ledger: LedgerDep, views: ViewsDep, min_position: MinPosition = None, as_of: AsOf = None,
            valid_at: ValidAt = None) -> ReadAt:
    return ReadAt(ledger, views, min_position, as_of, valid_at)


# A command's runner (with the request's Idempotency-Key), and a read's recorded and valid time.
Run = Annotated[Runner, Depends(runner)]
At = Annotated[ReadAt, Depends(read_at)]
