"""Institutions by name or cluster: the list a family, caseworker or cluster leader searches, and one
institution (a cluster leader: its own cluster's only)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import models as m
from api.commands import ERRORS
from api.deps import Anyone, LedgerDep, ViewsDep, cluster_scope, own_institution
from projections import lookups

router = APIRouter(prefix="/v1", tags=["institutions"])
# Query text holds no control character (PostgreSQL text cannot hold NUL; no stored name holds one).
PRINTABLE = r"^[^\x00-\x1f\x7f-\x9f]*$"


class InstitutionRow(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "institution_id": m.ID, "name": "Solsikken", "district": "Nørrebro", "kind": "integreret",
        "ownership": "kommunal", "municipality_code": "101", "registered_on": "2024-01-01",
        "cluster": "Nørrebro Klynge 1"}]})
    institution_id: str
    name: str
    district: str | None
    kind: str | None
    ownership: str | None
    municipality_code: str | None
    registered_on: date | None
    cluster: str | None = Field(description="the cluster (klynge) it belongs to today")


class ClusterFrom(BaseModel):
    effective_from: date
    cluster: str | None


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
    cluster: str | None = Field(description="the cluster (klynge) it belongs to today")
    clusters: list[ClusterFrom] = Field(description="its clusters, effective-dated (null: none from that day)")


@router.get("/institutions", response_model=m.Page[InstitutionRow], responses=ERRORS)
def institutions(views: ViewsDep, ledger: LedgerDep, principal: Anyone,
                 q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=PRINTABLE,
                                                description="part of the name")] = None,
                 district: Annotated[str | None, Query(max_length=200, pattern=PRINTABLE)] = None,
                 kind: Annotated[str | None, Query(pattern=r"^(vuggestue|boernehave|integreret|dagpleje)$")] = None,
                 cluster: Annotated[str | None, Query(min_length=1, max_length=100, pattern=PRINTABLE,
                                                      description="the cluster they belong to today")] = None,
                 limit: Annotated[int, Query(ge=1, le=1000)] = 100, offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
    """Institutions in name order; `q` finds a part of the name in any case (a cluster leader: its cluster's)."""
    cluster = cluster_scope(principal, cluster)
    with views.current() as store:
        page = lookups.institutions_page(store, on=ledger.today(), q=q, district=district, kind=kind, cluster=cluster,
                                         limit=limit, offset=offset)
        position = store.position("views")
    return {"items": page.items, "total": page.total, "limit": limit, "offset": offset, "position": position}


@router.get("/institutions/{institution_id}", response_model=InstitutionView, responses=ERRORS)
def institution(institution_id: UUID, ledger: LedgerDep, principal: Anyone):
    """An institution, its capacity decisions and its clusters."""
    found = own_institution(ledger, principal, institution_id)
    capacity = [{"age_group": key.split("/")[0], "pool": key.split("/")[1], "effective_from": day, "seats": seats}
                for key, schedule in sorted(found.capacity.items()) for day, seats in schedule]
    return {"id": str(found.id), "name": found.name, "district": found.district, "kind": found.kind,
            "ownership": found.ownership, "municipality_code": found.municipality_code, "capacity": capacity,
            "cluster": found.cluster_on(ledger.today()),
            "clusters": [{"effective_from": day, "cluster": name} for day, name in getattr(found, "clusters", [])]}
