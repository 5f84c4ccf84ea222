"""Offers: a child's offers, and the family's (or its caseworker's) answer to one."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import models as m
from api.deps import Acting, LedgerDep, Reader, Run, ViewsDep, own_child
from api.responses import ERRORS
from ledger import NotFound
from ledger import commands as c
from ledger.aggregates import Child
from projections import lookups

router = APIRouter(prefix="/v1", tags=["offers"])
ID = "6f1c2a3e-9b7d-4c11-8e0a-2d5b7c9e1f40"


class OfferState(m.OfferFacts):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "offer_id": ID, "child_id": ID, "institution_id": ID, "age_group": "nursery", "pool": "general",
        "start_date": "2025-08-01", "expires_on": "2025-06-15", "state": "open"}]})
    expires_on: date
    state: str = Field(description="open, accepted, declined or expired")


class AcceptBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"lunch": True}]})
    lunch: bool = True


class DeclineBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"reason": "too far from home"}]})
    reason: c.Reason | None = None


class Declined(BaseModel):
    offer_id: str
    need_date: date = Field(description="the need date the child keeps its place on the list with")
    position: int | None = None


def offer_states(child: Child) -> list[dict]:
    return [{"offer_id": offer_id, "child_id": str(child.id), **{k: offer[k] for k in (
        "institution_id", "age_group", "pool", "start_date", "expires_on", "state")}}
            for offer_id, offer in child.offers.items()]


def _offer_owner(ledger: LedgerDep, views: ViewsDep, principal, offer_id: UUID) -> Child:
    # An offer may come from an allocation run of another process: read the views as far as the log goes.
    with views.current(min_position=ledger.max_position() or None) as store:
        child_id = lookups.offer_child(store, str(offer_id))
    if child_id is None:
        raise NotFound(f"no offer with id {offer_id}")
    try:
        return own_child(ledger, principal, UUID(child_id))
    except NotFound:
        raise NotFound(f"no offer with id {offer_id}") from None


@router.get("/offers", response_model=list[OfferState], responses=ERRORS)
def offers(ledger: LedgerDep, principal: Reader, child_id: Annotated[UUID, Query()],
           state: Annotated[str | None, Query(pattern=r"^(open|accepted|declined|expired)$")] = None):
    """A child's offers, newest last (a family: its own children's)."""
    child = own_child(ledger, principal, child_id)
    return [o for o in offer_states(child) if state is None or o["state"] == state]


@router.post("/offers/{offer_id}/accept", status_code=201, response_model=m.Booking, responses=ERRORS)
def accept_offer(offer_id: UUID, body: AcceptBody, ledger: LedgerDep, views: ViewsDep, principal: Acting, run: Run):
    """Accept an open offer: the answer is the booking it makes (409 when it expired or the seat went)."""
    child = _offer_owner(ledger, views, principal, offer_id)
    return run(c.AcceptOffer(child_id=child.id, offer_id=offer_id, lunch=body.lunch), principal)


@router.post("/offers/{offer_id}/decline", response_model=Declined, responses=ERRORS)
def decline_offer(offer_id: UUID, body: DeclineBody, ledger: LedgerDep, views: ViewsDep, principal: Acting,
                  run: Run):
    """Decline an open offer: the child keeps its place on the list (the need date may move)."""
    child = _offer_owner(ledger, views, principal, offer_id)
    return run(c.DeclineOffer(child_id=child.id, offer_id=offer_id, reason=body.reason), principal)
