"""Children: registering one (pseudonymous), its opskrivning and wishes, the child in one answer
(household, registrations with ranks, bookings, offers), and its history."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import bodies as b
from api import models as m
from api.deps import Acting, At, Caseworker, LedgerDep, Reader, Run, ViewsDep, own_child
from api.offers import OfferState, offer_states
from api.reading import Limit, Offset, page, sliced
from api.responses import ERRORS, linked
from ledger import commands as c
from projections import ChildTimeline, lookups
from projections import queries as q
from projections.timeline import TIMELINE

router = APIRouter(prefix="/v1", tags=["children"])
ID = m.ID


class ListPlace(BaseModel):
    institution_id: str
    rank: int = Field(description="the child's place on that list (1 = offered first)")
    wish_no: int | None
    priority_basis: str | None


class ChildRegistration(BaseModel):
    age_group: str
    wishes: list[str]
    need_date: date
    registered_on: date
    channel: str | None
    active: bool = Field(description="still waiting (false once placed in a wished institution)")
    guarantee_date: date | None = Field(description="the day the place guarantee falls due (while waiting)")
    lists: list[ListPlace] = Field(description="the child's rank on each wished institution's list")


class ChildBooking(BaseModel):
    booking_id: str
    institution_id: str
    first_day: date
    last_day: date


class ChildView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID, "household_id": ID, "birth_date": "2024-03-15", "district": "Nørrebro", "municipality_code": "101",
        "support_needs": [], "erased": False, "registrations": [], "bookings": [], "offers": [], "position": 12}]})
    id: str
    household_id: str
    birth_date: date
    district: str
    municipality_code: str
    support_needs: list[str]
    erased: bool
    registrations: list[ChildRegistration]
    bookings: list[ChildBooking]
    offers: list[OfferState]
    position: int = Field(description="the log position the waiting-list ranks were read at")


class WishesBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "age_group": "nursery", "wishes": [ID], "need_date": "2025-08-01"}]})
    age_group: c.AgeGroup
    wishes: list[UUID] = Field(min_length=1, max_length=10)
    need_date: c.SaneDate | None = None


@router.get("/children/{child_id}", response_model=ChildView, responses=ERRORS)
def child(child_id: UUID, ledger: LedgerDep, views: ViewsDep, principal: Reader):
    """The child, its registrations with its rank on each list, its bookings and its offers (a family: its own)."""
    found = own_child(ledger, principal, child_id)
    with views.current() as store:
        ranks = lookups.child_ranks(store, str(child_id))
        position = store.position("views")
    registrations = []
    for group, r in found.registrations.items():
        rows = [x for x in ranks if x["age_group"] == group]
        registrations.append({
            "age_group": group, "wishes": list(r["wishes"]), "need_date": r["need_date"],
            "registered_on": r["registered_on"], "channel": r.get("channel"), "active": bool(r["active"]),
            "guarantee_date": min((x["guarantee_date"] for x in rows if x["guarantee_date"]), default=None),
            "lists": [{k: x[k] for k in ("institution_id", "rank", "wish_no", "priority_basis")} for x in rows]})
    bookings = [{"booking_id": b, "institution_id": inst, "first_day": first, "last_day": last}
                for b, (inst, first, last) in found.placements.items() if last >= first]
    return {"id": str(found.id), "household_id": found.household_id, "birth_date": found.birth_date,
            "district": found.district, "municipality_code": found.municipality_code,
            "support_needs": list(found.support_needs), "erased": found.erased, "registrations": registrations,
            "bookings": sorted(bookings, key=lambda b: b["first_day"]), "offers": offer_states(found),
            "position": position}


@router.post("/children/{child_id}/wishes", response_model=m.Registration, responses=ERRORS)
def change_wishes(child_id: UUID, body: WishesBody, ledger: LedgerDep, principal: Acting, run: Run):
    """Change a registration's wished institutions (in order) and, optionally, its need date."""
    own_child(ledger, principal, child_id)
    return run(c.ChangeWishes(child_id=child_id, **body.model_dump()), principal)


@router.post("/children", status_code=201, response_model=m.ChildCreated,
             responses=linked(201, "child_id", "register_on_waiting_lists", "child_history"))
def register_child(body: c.RegisterChild, principal: Caseworker, run: Run):
    """Register a child of a household (pseudonymous; identifiers to the person registry)."""
    return run(body, principal)


@router.post("/children/{child_id}/registrations", status_code=201, response_model=m.Registration,
             responses=ERRORS)
def register_on_waiting_lists(child_id: UUID, body: b.RegistrationBody, ledger: LedgerDep, principal: Acting,
                              run: Run):
    """Opskrivning: put the child on the waiting lists of its wished institutions (a family: its own child)."""
    own_child(ledger, principal, child_id)
    return run(c.Register(child_id=child_id, **body.model_dump()), principal)


@router.get("/children/{child_id}/history", response_model=m.Page[m.HistoryRow], responses=ERRORS)
def child_history(child_id: UUID, ledger: LedgerDep, principal: Reader, read: At, limit: Limit = 100,
                  offset: Offset = 0):
    """Every event of a child in the order the ledger learned them (for caseworkers, appeals and the family);
    with valid_at, the events in force by that day."""
    own_child(ledger, principal, child_id)
    with read.store([ChildTimeline()]) as (store, position):
        if read.valid_at is None:
            return page(q.child_history_page(store, str(child_id), limit=limit, offset=offset), position)
        rows = read.in_force(TIMELINE, q.child_history(store, str(child_id)))
    return sliced(rows, limit, offset, position)
