"""Billing: a household's statement of a month, issuing a month's statements (admin), the
intermunicipal settlement and the budget — the reads and the one command of the billing views
(docs/views-billing.md)."""

from __future__ import annotations

from datetime import date
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel

import rules
from api import models as m
from api.deps import Admin, At, Everyone, LedgerDep, Reader, Run, ViewsDep, own_household
from api.reading import District, Limit, Month, MonthQuery, Offset, sliced
from api.responses import ERRORS
from ledger import NotFound
from ledger.errors import BeyondBillingHorizon
from processes import billing
from projections import Billing, billing_views
from projections import queries as q

router = APIRouter(prefix="/v1", tags=["billing"])


class SettlementRow(BaseModel):
    month: str
    payer_municipality: str
    institution_municipality: str
    children: int
    place_days: int
    gross_cost_ore: int
    parent_payment_ore: int
    subsidy_ore: int


@router.get("/households/{household_id}/statements/{month}", response_model=m.Statement, responses=ERRORS)
def statement(household_id: UUID, month: Month, ledger: LedgerDep, principal: Reader, read: At):
    """A household's statement for a month: issued (immutable) or as it stands, line by line (a family: its own).
    A month beyond the billing horizon is a 404 that says so, and from when the month is charged."""
    own_household(ledger, principal, household_id)
    read.month(month)  # a statement is in force in its own month
    with read.store([Billing()]) as (store, position):
        found = q.statement(store, str(household_id), month)
        horizon = q.billing_horizon(store)
    if found is None:
        raise _no_statement(household_id, month, horizon)
    return {**found, "position": position}


def _no_statement(household_id: UUID, month: str, horizon: str | None) -> NotFound:
    if horizon is None or month > horizon:
        opens = rules.add_months(date.fromisoformat(f"{month}-01"), -1)
        reach = f"statements run to {horizon}" if horizon else "the ledger has recorded nothing yet"
        return BeyondBillingHorizon(
            f"{month} is beyond the billing horizon ({reach}: the month after the latest month the ledger "
            f"recorded anything in); {month} is charged from {opens}, once the ledger records an event that "
            "month or the month is issued")
    return NotFound(f"household {household_id} has no statement for {month}: nothing was charged to it that month")


@router.post("/billing/{month}/issue", response_model=m.BillingRun, responses=ERRORS)
def issue_month(month: Month, ledger: LedgerDep, views: ViewsDep, principal: Admin, run: Run):
    """Issue every household's statement for the month, as the billing view has computed it."""
    # The process (processes.billing) reads the live views caught up with every command so far.
    return billing.issue_month(ledger, month, views.current, actor=principal.actor, channel=principal.channel,
                               send=lambda command: run(command, principal))


@router.get("/settlement", response_model=list[SettlementRow], responses=ERRORS)
def settlement(views: ViewsDep, _: Everyone, month: MonthQuery = None):
    """Mellemkommunal afregning: per month and pair of municipalities, the subsidy the home municipality owes."""
    with views.current() as store:
        return q.settlement(store, month=month)


@router.get("/budget", response_model=m.Page[m.BudgetRow], responses=ERRORS)
def budget(read: At, _: Everyone, district: District = None, from_month: MonthQuery = None,
           to_month: MonthQuery = None, limit: Limit = 100, offset: Offset = 0):
    """Per month and district: place-months, gross cost, parent payments, friplads and sibling cost, net cost."""
    month = read.month(from_month=from_month, to_month=to_month)
    with read.store(billing_views()) as (store, position):
        rows = q.budget(store, district=district, from_month=month or from_month, to_month=month or to_month)
    return sliced(rows, limit, offset, position)
