"""The API's dependencies in one place: the ledger, the views, who asks (per role), what a
family or a cluster leader may see, how a command runs (`Run`) and which state of the views a read
asks for (`At`).

A family's principal is bound to one household: every id it names is checked here, and an id of
another household answers exactly as an unknown id does (404), so a family learns nothing of
other families' existence. A cluster leader's is bound to one cluster (klynge) likewise: the
institutions in it today, and an institution of another cluster answers 404.
"""

from __future__ import annotations

import unicodedata
from typing import Annotated
from uuid import UUID

from fastapi import Depends, Header, Request, Response

from api.auth import EVERYONE, PERSON_LEVEL, Principal, require
from api.execute import Runner
from api.reading import AsOf, MinPosition, ReadAt, ValidAt
from api.views import Views
from ledger import Ledger, NotFound
from ledger.aggregates import Booking, Child, Household, Institution
from ledger.unit_of_work import describe


# The dependencies that only pick things up are async: a sync one costs a hand-off to the thread
# pool and back on every request (measured: a tenth of the server's CPU per booking).
async def get_ledger(request: Request) -> Ledger:
    return request.app.state.ledger


async def get_views(request: Request) -> Views:
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
# Public facts (institutions, free seats): every role; a cluster leader: its cluster's institutions.
Anyone = Annotated[Principal, Depends(require(*EVERYONE, "family", "cluster_leader"))]
# Counts without person data (occupancy, booked children, forecasts): staff, and a cluster leader for
# its own cluster (scope with own_institution and cluster_scope).
ClusterLeaderOrStaff = Annotated[Principal, Depends(require(*EVERYONE, "cluster_leader"))]
# The forecast: planning staff, and a cluster leader for its own cluster's units.
Forecaster = Annotated[Principal, Depends(require(*PERSON_LEVEL, "cluster_leader"))]

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



async def runner(ledger: LedgerDep, views: ViewsDep, response: Response, key: IdempotencyKey = None) -> Runner:
    return Runner(ledger, views, response, key)


async def read_at(ledger: LedgerDep, views: ViewsDep, min_position: MinPosition = None, as_of: AsOf = None,
                  valid_at: ValidAt = None) -> ReadAt:
    return ReadAt(ledger, views, min_position, as_of, valid_at)


# A command's runner (with the request's Idempotency-Key), and a read's recorded and valid time.
Run = Annotated[Runner, Depends(runner)]
At = Annotated[ReadAt, Depends(read_at)]


def own_institution(ledger: Ledger, principal: Principal, institution_id: UUID) -> Institution:
    """The institution (404 if unknown); a cluster leader's only while it belongs to the leader's cluster today."""
    institution = ledger.get(Institution, institution_id)
    if principal.cluster is not None and institution.cluster_on(ledger.today()) != principal.cluster:
        raise NotFound(f"no {describe(Institution)} with id {institution_id}")
    return institution


def cluster_scope(principal: Principal, cluster: str | None) -> str | None:
    """The cluster a list is limited to: the one asked for, and a cluster leader's own whatever it asks
    (another cluster's name answers 404, as an unknown one would)."""
    if cluster is not None:
        cluster = unicodedata.normalize("NFC", cluster.strip())  # as the ledger keeps names
    if principal.cluster is None:
        return cluster
    if cluster is not None and cluster != principal.cluster:
        raise NotFound(f"no cluster named {cluster!r}")
    return principal.cluster
