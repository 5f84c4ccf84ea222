"""Institutions by name: the list a family or caseworker searches, and one institution."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import models as m
from api.commands import ERRORS
from api.deps import Anyone, LedgerDep, ViewsDep
from ledger.aggregates import Institution
from projections import lookups

router = APIRouter(prefix="/v1", tags=["institutions"])


class InstitutionRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "institution_id": m.ID, "name": "Solsikken", "district": "Nørrebro", "kind": "integreret",
        "ownership": "kommunal", "municipality_code": "101", "registered_on": "2024-01-01"}]})
    institution_id: str
    name: str
    district: str | None
    kind: str | None
    ownership: str | None
    municipality_code: str | None
    registered_on: date | None


class Seats(BaseModel):
    age_group: str
    pool: str
    effective_from: date
    seats: int


class InstitutionView(BaseModel):
    id: str
    name: str
    district: str
    kind: str
    ownership: str
    municipality_code: str
    capacity: list[Seats] = Field(description="capacity decisions per age group and pool, effective-dated")


@router.get("/institutions", response_model=m.Page[InstitutionRow], responses=ERRORS)
def institutions(views: ViewsDep, _: Anyone,
                 q: Annotated[str | None, Query(min_length=1, max_length=100, description="part of the name")] = None,
                 district: Annotated[str | None, Query(max_length=200)] = None,
                 kind: Annotated[str | None, Query(pattern=r"^(vuggestue|boernehave|integreret|dagpleje)$")] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
    """Institutions in name order; `q` finds a part of the name in any case."""
    with views.current() as store:
        page = lookups.institutions_page(store, q=q, district=district, kind=kind, limit=limit, offset=offset)
        position = store.position("views")
    return {"items": page.items, "total": page.total, "limit": limit, "offset": offset, "position": position}


@router.get("/institutions/{institution_id}", response_model=InstitutionView, responses=ERRORS)
def institution(institution_id: UUID, ledger: LedgerDep, _: Anyone):
    """An institution and its capacity decisions."""
    found = ledger.get(Institution, institution_id)
    capacity = [{"age_group": key.split("/")[0], "pool": key.split("/")[1], "effective_from": day, "seats": seats}
                for key, schedule in sorted(found.capacity.items()) for day, seats in schedule]
    return {"id": str(found.id), "name": found.name, "district": found.district, "kind": found.kind,
            "ownership": found.ownership, "municipality_code": found.municipality_code, "capacity": capacity}
