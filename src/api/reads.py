"""The endpoints that read the views. Lists are paginated (`limit`, `offset`); every read
takes `min_position` (wait until the views include a command's events) or `as_of` (the
views as the ledger knew them at a recorded time: a date means the end of that day in
Copenhagen, a timestamp without an offset is UTC)."""

from __future__ import annotations

from contextlib import contextmanager
from datetime import date, datetime
from typing import Annotated, Iterator, Sequence
from uuid import UUID

from fastapi import APIRouter, Depends, Query, Request

from api import models as m
from api.auth import EVERYONE, PERSON_LEVEL, Principal, require
from api.commands import ERRORS, Month
from api.deps import Anyone, ClusterLeaderOrStaff, Reader, cluster_scope, own_child, own_household, own_institution
from ledger import InvalidCommand, Ledger
from ledger import commands as c
from ledger.aggregates import Institution
from projections import Billing, ChildTimeline, Occupancy, View, WaitingLists, billing_views
from projections import lookups
from projections import queries as q
from projections.pointintime import position_at
from projections.stores import ViewStore

router = APIRouter(prefix="/v1")
everyone = require(*EVERYONE)
person_level = require(*PERSON_LEVEL)

Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]
MinPosition = Annotated[int | None, Query(ge=0, le=2**62, description="wait until the views include this "
                                                                        "log position (from a command's answer); "
                                                                        "422 when the log has not reached it (with "
                                                                        "as_of: had not reached it then)")]
# A date, or a timestamp (HH:MM, seconds, fraction, offset optional), 1990 to 2100 like every date.
_TIME = r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"
AS_OF_PATTERN = c.CALENDAR_DAY_PATTERN[:-1] + _TIME + "$"  # a date or a timestamp: no `format` applies
AsOf = Annotated[str | None, Query(max_length=40, pattern=AS_OF_PATTERN,
                                   description="recorded time: YYYY-MM-DD (end of that day, Copenhagen) or an "
                                               "ISO timestamp, 1990 to 2100", examples=["2025-03-31"])]
MonthQuery = Annotated[str | None, Query(pattern=c.MONTH_PATTERN, examples=["2025-08"])]
AgeGroup = Annotated[str | None, Query(pattern=r"^(nursery|kindergarten)$")]
# No control characters: PostgreSQL refuses NUL in text, and no stored name holds one.
District = Annotated[str | None, Query(max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$")]
Cluster = Annotated[str | None, Query(min_length=1, max_length=100, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$",
                                      description="a cluster's name (klynge)")]


def _instant(text: str) -> date | datetime:
    try:
        when = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise InvalidCommand(f"as_of {text!r} is neither a date (YYYY-MM-DD) nor an ISO timestamp") from None
    day = when.date() if isinstance(when, datetime) else when
    if not c.FIRST_DAY <= day <= c.LAST_DAY:  # also keeps the end of the day in Copenhagen a datetime
        raise InvalidCommand(f"as_of {text!r} is outside {c.FIRST_DAY} to {c.LAST_DAY}")
    return when


@contextmanager
def _views(request: Request, views: Sequence[View], min_position: int | None, as_of: str | None
           ) -> Iterator[tuple[ViewStore, int]]:
    """The store to read (live, or as of a time) and the position it is at."""
    source = request.app.state.views
    if as_of is not None:
        when = _instant(as_of)
        # A read as of a time replays the log itself: it holds every position recorded by then.
        if min_position is not None and min_position > (recorded := position_at(request.app.state.ledger, when)):
            raise InvalidCommand(f"min_position {min_position} was not yet recorded at as_of {as_of} "
                                 f"(the log was at position {recorded} then)")
        with source.as_of(when, views) as store:
            yield store, store.position("views")
        return
    with source.current(min_position) as store:
        yield store, store.position("views")


def _exists(request: Request, cls: type, id_: UUID) -> None:
    ledger: Ledger = request.app.state.ledger
    ledger.get(cls, id_)  # NotFound → 404


def _page(page: q.Page, position: int) -> dict:
    return {"items": page.items, "total": page.total, "limit": page.limit, "offset": page.offset,
            "position": position}


@router.get("/occupancy", response_model=m.Page[m.OccupancyRow], responses=ERRORS, tags=["views"])
def occupancy(request: Request, institution_id: UUID | None = None, district: District = None,
              month: MonthQuery = None, from_month: MonthQuery = None, to_month: MonthQuery = None,
              age_group: AgeGroup = None, pool: Annotated[str | None, Query(pattern=r"^(general|basis|special)$")] = None,
              limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None, as_of: AsOf = None,
              cluster: Cluster = None, *, principal: ClusterLeaderOrStaff):
    """Institution × age group × pool × month: capacity, booked (most seats in use on a day), free; the district
    and the cluster the institution belonged to that month (a cluster leader: its cluster's months)."""
    cluster = cluster_scope(principal, cluster)
    with _views(request, [Occupancy()], min_position, as_of) as (store, position):
        page = q.occupancy_page(store, limit=limit, offset=offset,
                                institution_id=str(institution_id) if institution_id else None, district=district,
                                month=month, from_month=from_month, to_month=to_month, age_group=age_group,
                                pool=pool, cluster=cluster)
    return _page(page, position)


@router.get("/institutions/{institution_id}/availability", response_model=m.Page[m.OccupancyRow],
            responses=ERRORS, tags=["views"])
def institution_availability(institution_id: UUID, request: Request, principal: Anyone,
                             from_: Annotated[c.SaneDate | None, Query(alias="from")] = None,
                             to: c.SaneDate | None = None,
                             age_group: AgeGroup = None, limit: Limit = 100, offset: Offset = 0,
                             min_position: MinPosition = None, as_of: AsOf = None):
    """Capacity, booked and free seats per month between `from` and `to` (dates; months that touch them)."""
    own_institution(request.app.state.ledger, principal, institution_id)
    if from_ and to and to < from_:
        raise InvalidCommand("`to` is before `from`")
    with _views(request, [Occupancy()], min_position, as_of) as (store, position):
        page = q.occupancy_page(store, limit=limit, offset=offset, institution_id=str(institution_id),
                                age_group=age_group, from_month=from_.isoformat()[:7] if from_ else None,
                                to_month=to.isoformat()[:7] if to else None)
    return _page(page, position)


@router.get("/availability", response_model=m.Page[m.Availability], responses=ERRORS, tags=["views"])
def availability(request: Request, principal: Anyone,
                 age_group: Annotated[str, Query(pattern=r"^(nursery|kindergarten)$")],
                 start: c.SaneDate, end: c.SaneDate | None = None,
                 district: District = None, limit: Limit = 100, offset: Offset = 0,
                 min_position: MinPosition = None, as_of: AsOf = None, cluster: Cluster = None):
    """Institutions with a free general seat in every month from `start` to `end` (default: 12 months); `cluster`:
    those of a cluster today (a cluster leader: its own)."""
    if end and end < start:
        raise InvalidCommand("`end` is before `start`")
    cluster = cluster_scope(principal, cluster)
    with _views(request, [Occupancy()], min_position, as_of) as (store, position):
        rows = q.available_institutions(store, age_group=age_group, start=start, end=end, district=district)
        if cluster is not None:
            members = lookups.cluster_members(store, cluster, request.app.state.ledger.today())
            rows = [r for r in rows if r["institution_id"] in members]
    return _page(q.Page(rows[offset:offset + limit], len(rows), limit, offset), position)


@router.get("/waiting-lists/{institution_id}", response_model=m.Page[m.WaitingChild], responses=ERRORS,
            tags=["views"])
def waiting_list(institution_id: UUID, request: Request, age_group: AgeGroup = None, limit: Limit = 100,
                 offset: Offset = 0, min_position: MinPosition = None, as_of: AsOf = None,
                 _: Principal = Depends(person_level)):
    """The children waiting for an institution, in the order the rule set in force offers seats."""
    _exists(request, Institution, institution_id)
    with _views(request, [WaitingLists()], min_position, as_of) as (store, position):
        page = q.waiting_list(store, str(institution_id), age_group=age_group, limit=limit, offset=offset)
    return _page(page, position)


@router.get("/guarantee-watch", response_model=m.Page[m.GuaranteeWatch], responses=ERRORS, tags=["views"])
def guarantee_watch(request: Request, on: c.SaneDate | None = None,
                    within_days: Annotated[int, Query(ge=0, le=3650)] = 30, district: District = None,
                    limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None,
                    as_of: AsOf = None, _: Principal = Depends(person_level)):
    """Waiting children whose place guarantee falls due within `within_days` of `on` (default today), or passed."""
    ledger: Ledger = request.app.state.ledger
    day = on or ledger.today()
    with _views(request, [WaitingLists()], min_position, as_of) as (store, position):
        rows = q.guarantee_watch(store, on=day, within_days=within_days, district=district)
    return _page(q.Page(rows[offset:offset + limit], len(rows), limit, offset), position)


@router.get("/households/{household_id}/statements/{month}", response_model=m.Statement, responses=ERRORS,
            tags=["views"])
def statement(household_id: UUID, month: Month, request: Request, principal: Reader, min_position: MinPosition = None,
              as_of: AsOf = None):
    """A household's statement for a month: issued (immutable) or as it stands, line by line (a family: its own)."""
    own_household(request.app.state.ledger, principal, household_id)
    with _views(request, [Billing()], min_position, as_of) as (store, position):
        found = q.statement(store, str(household_id), month)
    if found is None:
        from ledger import NotFound

        raise NotFound(f"household {household_id} has no statement for {month}")
    return {**found, "position": position}


@router.get("/children/{child_id}/history", response_model=m.Page[m.HistoryRow], responses=ERRORS,
            tags=["views"])
def child_history(child_id: UUID, request: Request, principal: Reader, limit: Limit = 100, offset: Offset = 0,
                  min_position: MinPosition = None, as_of: AsOf = None):
    """Every event of a child in the order the ledger learned them (for caseworkers, appeals and the family)."""
    own_child(request.app.state.ledger, principal, child_id)
    with _views(request, [ChildTimeline()], min_position, as_of) as (store, position):
        page = q.child_history_page(store, str(child_id), limit=limit, offset=offset)
    return _page(page, position)


@router.get("/budget", response_model=m.Page[m.BudgetRow], responses=ERRORS, tags=["views"])
def budget(request: Request, district: District = None, from_month: MonthQuery = None, to_month: MonthQuery = None,
           limit: Limit = 100, offset: Offset = 0, min_position: MinPosition = None, as_of: AsOf = None,
           _: Principal = Depends(everyone)):
    """Per month and district: place-months, gross cost, parent payments, friplads and sibling cost, net cost."""
    with _views(request, billing_views(), min_position, as_of) as (store, position):
        rows = q.budget(store, district=district, from_month=from_month, to_month=to_month)
    return _page(q.Page(rows[offset:offset + limit], len(rows), limit, offset), position)
