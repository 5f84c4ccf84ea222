"""The month's allocation run (admin or caseworker)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from api import models as m
from api.deps import LedgerDep, Planner, ViewsDep
from api.reading import Month
from api.responses import ERRORS
from processes.allocation import run_allocation as run_month

router = APIRouter(prefix="/v1", tags=["allocation"])


@router.post("/allocation/{month}/run", response_model=m.AllocationRun, responses=ERRORS)
def run_allocation(month: Month, ledger: LedgerDep, views: ViewsDep, principal: Planner,
                   seed: Annotated[int | None, Query(ge=0, le=2**31)] = None):
    """The month's allocation run: offers from the waiting lists in the rule set's order (a re-run makes no
    second offer), or under book-en-plads the held seats released and the cases without a place."""
    with views.current(min_position=ledger.max_position() or None) as store:
        result = run_month(ledger, month, seed=seed, actor=principal.actor, channel=principal.channel, store=store)
    views.wrote(ledger.max_position())
    return result
