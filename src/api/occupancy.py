"""Seats: occupancy per institution, age group, pool and month, and the search for institutions with a
free seat (the occupancy view, docs/views.md)."""

from __future__ import annotations

from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query

from api import models as m
from api.deps import Anyone, At, ClusterLeaderOrStaff, LedgerDep, cluster_scope
from api.reading import AgeGroup, Cluster, District, Limit, MonthQuery, Offset, page, sliced
from api.responses import ERRORS
from ledger import InvalidCommand
from ledger import commands as c
from projections import Occupancy, lookups
from projections import queries as q

router = APIRouter(prefix="/v1", tags=["occupancy"])
Pool = Annotated[str | None, Query(pattern=r"^(general|basis|special)$")]


@router.get("/occupancy", response_model=m.Page[m.OccupancyRow], responses=ERRORS)
def occupancy(read: At, principal: ClusterLeaderOrStaff, institution_id: UUID | None = None, district: District = None,
              month: MonthQuery = None, from_month: MonthQuery = None, to_month: MonthQuery = None,
              age_group: AgeGroup = None, pool: Pool = None, limit: Limit = 100, offset: Offset = 0,
              cluster: Cluster = None):
    """Institution × age group × pool × month: capacity, booked (most seats in use on a day), free; the district
    and the cluster the institution belonged to that month (a cluster leader: its cluster's months)."""
    cluster = cluster_scope(principal, cluster)
    month = read.month(month, from_month=from_month, to_month=to_month)
    with read.store([Occupancy()]) as (store, position):
        found = q.occupancy_page(store, limit=limit, offset=offset,
                                 institution_id=str(institution_id) if institution_id else None, district=district,
                                 month=month, from_month=from_month, to_month=to_month, age_group=age_group,
                                 pool=pool, cluster=cluster)
    return page(found, position)


@router.get("/availability", response_model=m.Page[m.Availability], responses=ERRORS)
def availability(read: At, ledger: LedgerDep, principal: Anyone,
                 age_group: Annotated[str, Query(pattern=r"^(nursery|kindergarten)$")],
                 start: c.SaneDate, end: c.SaneDate | None = None, district: District = None,
                 limit: Limit = 100, offset: Offset = 0, cluster: Cluster = None):
    """Institutions with a free general seat in every month from `start` to `end` (default: 12 months); `cluster`:
    those of a cluster today (a cluster leader: its own)."""
    read.timeless("availability spans its own days (start to end); read /v1/occupancy with valid_at for one day")
    if end and end < start:
        raise InvalidCommand("`end` is before `start`")
    cluster = cluster_scope(principal, cluster)
    with read.store([Occupancy()]) as (store, position):
        rows = q.available_institutions(store, age_group=age_group, start=start, end=end, district=district)
        if cluster is not None:
            members = lookups.cluster_members(store, cluster, ledger.today())
            rows = [r for r in rows if r["institution_id"] in members]
    return sliced(rows, limit, offset, position)
