"""Erasure of a person (GDPR art. 17), admin only: the key that opens the person's identifiers is
destroyed, and a PersonErased event records who erased whom (pseudonymous id) and when.

A person's id is its child's or household's id. Erasing again answers the same (no second event).
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body
from pydantic import BaseModel, ConfigDict, Field

from api.deps import Admin, LedgerDep, Planner, Run
from api.responses import ERRORS
from ledger import NotFound
from ledger import commands as c
from ledger.registry import ERASURE_GROUNDS

router = APIRouter(prefix="/v1", tags=["people"])

Ground = Literal[tuple(ERASURE_GROUNDS)]  # type: ignore[valid-type]  # the ledger's vocabulary, one list


class ErasureBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"ground": "consent_withdrawn"}]})
    ground: Ground = Field("request", description="why (GDPR art. 17(1)); recorded as a fixed text, never free "
                                                  "text, so the event cannot carry an identifier")


class Erased(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"person_id": "0b7c6a52-8f0e-4c55-9d43-3f7e2c1d9a10", "erased": True, "position": 1234}]})
    person_id: str
    erased: bool
    position: int | None = Field(None, description="log position of the PersonErased event (none when the "
                                                   "person was already erased)")


@router.post("/people/{person_id}/erase", response_model=Erased, responses=ERRORS)
def erase_person(person_id: UUID, principal: Admin, run: Run, body: Annotated[ErasureBody | None, Body()] = None):
    """Erase a child's or household's identifiers for good (admin). The pseudonymous facts stay, so
    totals and history keep adding up; the event names the id, the admin and the ground."""
    ground = (body or ErasureBody()).ground
    return run(c.ErasePerson(person_id=person_id, reason=ERASURE_GROUNDS[ground]), principal)


class LookupBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{"cpr": "010190-1234"}]})
    cpr: Annotated[str, Field(pattern=r"^[0-9]{6}-?[0-9]{4}$", description="ten digits, a hyphen after the sixth "
                                                                          "allowed")]


class Person(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"kind": "child", "id": "0b7c6a52-8f0e-4c55-9d43-3f7e2c1d9a10",
         "household_id": "6f1c2a3e-9b7d-4c11-8e0a-2d5b7c9e1f40"}]})
    kind: Literal["child", "household"] = Field(description="a child's own number, or a household's payer's")
    id: str = Field(description="the child's or household's id: GET /v1/children/{id} or /v1/households/{id}")
    household_id: str


@router.post("/people/lookup", response_model=Person, responses=ERRORS)
def lookup_person(body: LookupBody, ledger: LedgerDep, principal: Planner):
    """The child or household registered with a CPR number (a POST, so the number never sits in a URL or
    an access log). Each look-up is recorded with its actor and whom it found, never the number."""
    found = ledger.find_person(body.cpr, actor=principal.actor)
    if found is None:
        raise NotFound("no child or household is registered with that CPR number")
    kind, person_id, household_id = found
    return {"kind": kind, "id": person_id, "household_id": household_id}
