"""A district's waiting list and the intermunicipal settlement."""

from __future__ import annotations

from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel

from api import models as m
from api.commands import ERRORS
from api.deps import Everyone, PersonLevel, ViewsDep
from projections import lookups
from projections import queries as q

router = APIRouter(prefix="/v1", tags=["views"])
MonthQuery = Annotated[str | None, Query(pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$", examples=["2025-08"])]


class DistrictWaitingChild(BaseModel):
    district: str
    age_group: str
    child_id: str
    rank: int
    seniority_date: date | None
    need_date: date | None
    guarantee_date: date | None
    days_waiting: int | None


class SettlementRow(BaseModel):
    month: str
    payer_municipality: str
    institution_municipality: str
    children: int
    place_days: int
    gross_cost_ore: int
    parent_payment_ore: int
    subsidy_ore: int


@router.get("/waiting-lists", response_model=m.Page[DistrictWaitingChild], responses=ERRORS)
def district_waiting_list(views: ViewsDep, _: PersonLevel,
                          district: Annotated[str, Query(min_length=1, max_length=200,
                                                         pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")],
                          age_group: Annotated[str | None, Query(pattern=r"^(nursery|kindergarten)$")] = None,
                          limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                          offset: Annotated[int, Query(ge=0, le=10**9)] = 0):
    """The children of a district waiting for a place, in waiting-list order (without sibling priority)."""
    with views.current() as store:
        page = lookups.district_waiting_list(store, district=district, age_group=age_group, limit=limit,
                                             offset=offset)
        position = store.position("views")
    return {"items": page.items, "total": page.total, "limit": limit, "offset": offset, "position": position}


@router.get("/settlement", response_model=list[SettlementRow], responses=ERRORS)
def settlement(views: ViewsDep, _: Everyone, month: MonthQuery = None):
    """Mellemkommunal afregning: per month and pair of municipalities, the subsidy the home municipality owes."""
    with views.current() as store:
        return q.settlement(store, month=month)
