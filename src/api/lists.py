"""Waiting lists: an institution's list in offer order, a district's list, and the guarantee watch
(the waiting-list view, docs/views-waitinglists.md). The lists are ranked on their list date, so
they have no valid time: a read with valid_at is 422."""

from __future__ import annotations

from datetime import date
from typing import Annotated
from uuid import UUID

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api import models as m
from api.deps import At, LedgerDep, PersonLevel, ViewsDep
from api.reading import AgeGroup, District, Limit, Offset, RequiredDistrict, page, sliced
from api.responses import ERRORS
from ledger import commands as c
from ledger.aggregates import Institution
from projections import WaitingLists, lookups
from projections import queries as q

router = APIRouter(prefix="/v1", tags=["waiting lists"])
RANKED = "the waiting lists are ranked on their list date, not per day; read them with as_of alone"


class DistrictWaitingChild(BaseModel):
    district: str
    age_group: str
    child_id: str
    rank: int
    seniority_date: date | None
    need_date: date | None
    guarantee_date: date | None
    days_waiting: int | None


@router.get("/waiting-lists", response_model=m.Page[DistrictWaitingChild], responses=ERRORS)
def district_waiting_list(views: ViewsDep, _: PersonLevel, district: RequiredDistrict,
                          age_group: AgeGroup = None, limit: Limit = 100, offset: Offset = 0):
    """The children of a district waiting for a place, in waiting-list order (without sibling priority)."""
    with views.current() as store:
        found = lookups.district_waiting_list(store, district=district, age_group=age_group, limit=limit,
                                              offset=offset)
        return page(found, store.position("views"))


@router.get("/waiting-lists/{institution_id}", response_model=m.Page[m.WaitingChild], responses=ERRORS)
def waiting_list(institution_id: UUID, ledger: LedgerDep, read: At, _: PersonLevel, age_group: AgeGroup = None,
                 limit: Limit = 100, offset: Offset = 0):
    """The children waiting for an institution, in the order the rule set in force offers seats."""
    read.timeless(RANKED)
    ledger.get(Institution, institution_id)  # NotFound: 404
    with read.store([WaitingLists()]) as (store, position):
        found = q.waiting_list(store, str(institution_id), age_group=age_group, limit=limit, offset=offset)
    return page(found, position)


@router.get("/guarantee-watch", response_model=m.Page[m.GuaranteeWatch], responses=ERRORS)
def guarantee_watch(ledger: LedgerDep, read: At, _: PersonLevel, on: c.SaneDate | None = None,
                    within_days: Annotated[int, Query(ge=0, le=3650)] = 30, district: District = None,
                    limit: Limit = 100, offset: Offset = 0):
    """Waiting children whose place guarantee falls due within `within_days` of `on` (default today), or passed."""
    read.timeless(RANKED)
    with read.store([WaitingLists()]) as (store, position):
        rows = q.guarantee_watch(store, on=on or ledger.today(), within_days=within_days, district=district)
    return sliced(rows, limit, offset, position)
