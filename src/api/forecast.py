"""GET /v1/forecast: children in care in the months ahead, per institution, cluster or district.

The forecast reads the ledger's history as it was known at `as_of` (default: now) and learns from
it; the learned outlook is kept per log position, so the next request at the same position (a
cluster leader paging through institutions) answers from memory, and a request after new events
reads only those.
"""

from __future__ import annotations

import threading
from datetime import date, datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict

from api.responses import ERRORS
from api.auth import AuthError, Principal
from api.deps import Forecaster, cluster_scope
from api.reading import AsOf, instant as _instant
from ledger import InvalidCommand, Ledger, NotFound
from ledger import commands as c
from ledger.clock import copenhagen_date
from projections.outlook import ForecastError, History, Outlook, UnknownUnit, read_history
from projections.outlook.clusters import cluster_map
from projections.outlook.model import month_index, month_of
from projections.pointintime import position_at, recorded_instant

router = APIRouter(prefix="/v1", tags=["views"])
_CACHE_SIZE = 4


class ForecastRow(BaseModel):
    """One unit (institution_id, cluster or district, as asked by `by`), age group and month."""

    model_config = ConfigDict(extra="allow")  # the unit's key is named after `by`

    age_group: str
    month: str
    children: float
    low: float
    high: float
    capacity: int


class _Outlooks:
    """Learned outlooks by log position and cut (the few most recent), and the newest history read:
    a read at a later position reads only the events recorded since."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_position: dict[tuple, Outlook] = {}
        self._read: tuple[int, History] | None = None  # (log position, the history up to it)

    def at(self, ledger: Ledger, when: date | datetime) -> Outlook:
        position = (position_at(ledger, when), recorded_instant(when))
        with self._lock:
            found = self._by_position.get(position)
            if found is not None:
                return found
            history = read_history(ledger, when, since=self._read)
            if self._read is None or position[0] >= self._read[0]:
                self._read = (position[0], history)
            outlook = Outlook.learn(history)
            if len(self._by_position) >= _CACHE_SIZE:
                self._by_position.pop(next(iter(self._by_position)))
            self._by_position[position] = outlook
            return outlook


def _outlooks(request: Request) -> _Outlooks:
    state = request.app.state
    if getattr(state, "outlooks", None) is None:
        state.outlooks = _Outlooks()
    return state.outlooks


# Who may read it: planning staff, and a cluster leader its own cluster's units.
@router.get("/forecast", response_model=list[ForecastRow], responses=ERRORS)
def forecast(request: Request, principal: Forecaster,
             by: Annotated[Literal["institution", "cluster", "district"] | None,
                           Query(description="the units (default: district; a cluster leader: cluster)")] = None,
             key: Annotated[str | None, Query(min_length=1, max_length=200, pattern=r"^[^\x00-\x1f\x7f-\x9f]*$",
                                              description="one institution id, cluster or district")] = None,
             from_: Annotated[str | None, Query(alias="from", pattern=r"^[0-9]{4}-(0[1-9]|1[0-2])$",
                                                description="first month (default: the month after as_of)",
                                                examples=["2026-01"])] = None,
             months: Annotated[int, Query(ge=1, le=24)] = 12,
             as_of: AsOf = None):
    """Children in care (average seats in use over the month, all pools) with an 80 % interval and
    the capacity, for `months` months: the bookings known at `as_of`, plus what the ledger's own
    history says is still to come (children not yet registered or born, waiting lists, the roll to
    kindergarten, cancellations)."""
    ledger: Ledger = request.app.state.ledger
    by = by or ("cluster" if principal.cluster is not None else "district")
    when = _instant(as_of) if as_of is not None else copenhagen_date(ledger.clock.now())  # today, so far
    day = when.date() if isinstance(when, datetime) else when
    first = month_of(from_) if from_ else month_index(day) + 1
    if not month_index(c.FIRST_DAY) <= first <= month_index(c.LAST_DAY):
        raise InvalidCommand(f"from {from_!r} is outside {c.FIRST_DAY:%Y-%m} to {c.LAST_DAY:%Y-%m}")
    outlook = _outlooks(request).at(ledger, when)
    clusters = cluster_map(outlook.history, day)
    if by == "cluster":
        key = cluster_scope(principal, key)
    try:
        rows = outlook.rows(by, first, months, clusters, key=key)
    except UnknownUnit as e:
        raise NotFound(str(e)) from None
    except ForecastError as e:
        raise InvalidCommand(str(e)) from None
    return [r.as_json() for r in _own_units(principal, by, key, rows, clusters)]


def _own_units(principal: Principal, by: str, key: str | None, rows: list, clusters: dict[str, str]) -> list:
    """A cluster leader's part: its cluster, or its cluster's institutions (another's answers 404, as an
    unknown one would); districts span clusters, so not theirs to read."""
    if principal.cluster is None or by == "cluster":
        return rows
    if by == "district":
        raise AuthError(403, "a cluster leader reads its own cluster's forecast: by=cluster or by=institution")
    if key is not None and clusters.get(key) != principal.cluster:
        raise NotFound(f"no institution {key!r} was known at the forecast date")
    return [r for r in rows if clusters.get(r.unit) == principal.cluster]
