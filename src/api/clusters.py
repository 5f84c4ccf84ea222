"""Clusters (klynger): which cluster an institution belongs to (admin), the clusters on a day, and the
children booked in an institution as counts — what a cluster leader plans staff from, no person data."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict

from api import models as m
from api.deps import Admin, ClusterLeaderOrStaff, LedgerDep, Run, ViewsDep, cluster_scope, own_institution
from api.reading import MonthQuery
from api.responses import ERRORS
from ledger import InvalidCommand
from ledger import commands as c
from projections import lookups

router = APIRouter(prefix="/v1", tags=["clusters"])


class ClusterBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [
        {"cluster": "Nørrebro Klynge 2", "effective_from": "2025-08-01", "reason": "the clusters were redrawn"}]})
    cluster: c.ClusterName | None
    effective_from: c.SaneDate
    reason: c.Reason | None = None


class ClusterSet(m.Created):
    model_config = ConfigDict(json_schema_extra={"examples": [
        {"id": m.ID, "cluster": "Nørrebro Klynge 2", "effective_from": "2025-08-01", "position": 1240}]})
    cluster: str | None
    effective_from: date


class Cluster(BaseModel):
    cluster: str
    institutions: list[str]


class Clusters(BaseModel):
    on: date
    items: list[Cluster]
    position: int


class BookedGroup(BaseModel):
    age_group: str
    pool: str
    start_month: str
    end_month: str
    children: int


class BookedChildren(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "institution_id": m.ID, "items": [{"age_group": "nursery", "pool": "general", "start_month": "2025-08",
                                           "end_month": "2027-05", "children": 3}], "position": 1250}]})
    institution_id: str
    items: list[BookedGroup]
    position: int


@router.put("/institutions/{institution_id}/cluster", response_model=ClusterSet, responses=ERRORS,
            tags=["administration"])
def assign_cluster(institution_id: UUID, body: ClusterBody, principal: Admin, run: Run):
    """The cluster (klynge) the institution belongs to from a date (admin); `cluster: null` takes it out."""
    return run(c.AssignCluster(institution_id=institution_id, **body.model_dump()), principal)


@router.get("/clusters", response_model=Clusters, responses=ERRORS)
def clusters(request: Request, views: ViewsDep, principal: ClusterLeaderOrStaff, on: c.SaneDate | None = None):
    """The clusters on a day (default today) and their institutions (a cluster leader: its own)."""
    day = on or request.app.state.ledger.today()
    own = cluster_scope(principal, None)
    with views.current() as store:
        found = lookups.institution_clusters(store, day)
        position = store.position("views")
    members: dict[str, list[str]] = {}
    for inst, cluster in sorted(found.items()):
        if own is None or cluster == own:
            members.setdefault(cluster, []).append(inst)
    return {"on": day, "items": [{"cluster": k, "institutions": v} for k, v in sorted(members.items())],
            "position": position}


@router.get("/institutions/{institution_id}/booked-children", response_model=BookedChildren, responses=ERRORS)
def booked_children(institution_id: UUID, ledger: LedgerDep, views: ViewsDep, principal: ClusterLeaderOrStaff,
                    from_month: MonthQuery = None, to_month: MonthQuery = None):
    """How many children hold a seat, per age group, pool, first and last month — counts only, no child or
    household ids. The seats held on a day from `from_month` (default this month) to `to_month`."""
    own_institution(ledger, principal, institution_id)
    first = from_month or ledger.today().isoformat()[:7]
    if to_month and to_month < first:
        raise InvalidCommand("`to_month` is before `from_month`")
    with views.current() as store:
        rows = lookups.booked_children(store, str(institution_id), from_month=first, to_month=to_month)
        position = store.position("views")
    return {"institution_id": str(institution_id), "items": rows, "position": position}
