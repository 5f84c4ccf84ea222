"""Erasure of a person (GDPR art. 17), admin only: the key that opens the person's identifiers is
destroyed, and a PersonErased event records who erased whom (pseudonymous id) and when.

A person's id is its child's or household's id. Erasing again answers the same (no second event).
"""

from __future__ import annotations

from typing import Annotated, Literal
from uuid import UUID

from fastapi import APIRouter, Body, Depends, Request, Response
from pydantic import BaseModel, ConfigDict, Field

from api.auth import Principal
from api.commands import ERRORS, IdempotencyKey, admin, run
from ledger import commands as c
from ledger.registry import ERASURE_GROUNDS

router = APIRouter(prefix="/v1")

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


@router.post("/people/{person_id}/erase", response_model=Erased, responses=ERRORS, tags=["families"])
def erase_person(person_id: UUID, request: Request, response: Response,
                 body: Annotated[ErasureBody | None, Body()] = None,
                 principal: Principal = Depends(admin), key: IdempotencyKey = None):
    """Erase a child's or household's identifiers for good (admin). The pseudonymous facts stay, so
    totals and history keep adding up; the event names the id, the admin and the ground."""
    ground = (body or ErasureBody()).ground
    command = c.ErasePerson(person_id=person_id, reason=ERASURE_GROUNDS[ground])
    return run(request, response, command, principal, key)
