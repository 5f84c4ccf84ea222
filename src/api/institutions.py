"""Institutions by name or cluster: the list a family, caseworker or cluster leader searches, and one
institution (a cluster leader: its own cluster's only); registering one and setting its seats, gross
cost and cluster (admin); its seats per month (a read of the occupancy view)."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field

from api import bodies as b
from api import models as m
from api.deps import Admin, Anyone, At, LedgerDep, Run, ViewsDep, cluster_scope, own_institution
from api.reading import NO_CONTROL, AgeGroup, Cluster, District, Limit, Offset, page
from api.responses import ERRORS, linked
from ledger import InvalidCommand
from ledger import commands as c
from projections import Occupancy, lookups, queries

router = APIRouter(prefix="/v1", tags=["institutions"])


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
                 q: Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_CONTROL,
                                                description="part of the name")] = None,
                 district: District = None,
                 kind: Annotated[str | None, Query(pattern=r"^(vuggestue|boernehave|integreret|dagpleje)$")] = None,
                 cluster: Cluster = None,
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


@router.post("/institutions", status_code=201, response_model=m.Created,
             responses=linked(201, "institution_id", "change_capacity", "institution_availability", "waiting_list"))
def register_institution(body: c.RegisterInstitution, principal: Admin, run: Run):
    """Register an institution (admin)."""
    return run(body, principal)


@router.put("/institutions/{institution_id}/capacity", response_model=m.CapacitySet, responses=ERRORS)
def change_capacity(institution_id: UUID, body: b.CapacityBody, principal: Admin, run: Run):
    """Set an institution's seats for an age group and pool from a date (admin)."""
    return run(c.ChangeCapacity(institution_id=institution_id, **body.model_dump()), principal)


@router.put("/institutions/{institution_id}/gross-cost", response_model=m.GrossCostSet, responses=ERRORS)
def set_gross_cost(institution_id: UUID, body: b.GrossCostBody, principal: Admin, run: Run):
    """Set an institution's gross cost per full-time place a month for an age group from a date, as its
    municipality calculates it (admin): a place in another municipality (DTL § 41), budgets, settlement."""
    return run(c.SetGrossCost(institution_id=institution_id, **body.model_dump()), principal)


@router.get("/institutions/{institution_id}/availability", response_model=m.Page[m.OccupancyRow],
            responses=ERRORS)
def institution_availability(institution_id: UUID, ledger: LedgerDep, principal: Anyone, read: At,
                             from_: Annotated[c.SaneDate | None, Query(alias="from")] = None,
                             to: c.SaneDate | None = None, age_group: AgeGroup = None,
                             limit: Limit = 100, offset: Offset = 0):
    """Capacity, booked and free seats per month between `from` and `to` (dates; months that touch them)."""
    own_institution(ledger, principal, institution_id)  # NotFound: 404 (a cluster leader: another cluster's too)
    if from_ and to and to < from_:
        raise InvalidCommand("`to` is before `from`")
    first, last = (day.isoformat()[:7] if day else None for day in (from_, to))
    month = read.month(from_month=first, to_month=last)
    with read.store([Occupancy()]) as (store, position):
        found = queries.occupancy_page(store, limit=limit, offset=offset, institution_id=str(institution_id),
                                       age_group=age_group, month=month, from_month=first, to_month=last)
    return page(found, position)
