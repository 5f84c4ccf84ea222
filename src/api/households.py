"""Households (the payer): registering one, its income (friplads), payment adjustments and facts, and
the household in one answer (children, facts, pay-share history, statement months)."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import UUID

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field

from api import bodies as b
from api import models as m
from api.deps import Caseworker, LedgerDep, Reader, Run, ViewsDep, own_household
from api.responses import ERRORS, linked
from ledger import commands as c
from projections import lookups

router = APIRouter(prefix="/v1", tags=["households"])
ID = m.ID


class Dated(BaseModel):
    effective_from: date


class PayShare(Dated):
    pay_share_percent: int = Field(description="percent of the fee the household pays (0 = free place)")


class Facts(Dated):
    single_parent: bool
    children_under_18: int


class HouseholdChild(BaseModel):
    child_id: str
    birth_date: date


class StatementMonth(BaseModel):
    month: str
    total_ore: int
    issued: bool


class HouseholdView(BaseModel):
    model_config = ConfigDict(json_schema_extra={"examples": [{
        "id": ID, "municipality_code": "101", "district": "Nørrebro", "single_parent": False,
        "children_under_18": 2, "erased": False, "children": [], "facts": [], "pay_shares": [],
        "adjustments": [], "statements": [], "position": 12}]})
    id: str
    municipality_code: str
    district: str
    single_parent: bool
    children_under_18: int
    erased: bool
    children: list[HouseholdChild]
    facts: list[Facts] = Field(description="single parent and children under 18, effective-dated")
    pay_shares: list[PayShare] = Field(description="the friplads decisions, effective-dated")
    adjustments: list[dict[str, Any]]
    statements: list[StatementMonth] = Field(description="the months with a statement, issued or as it stands")
    position: int


class FactsBody(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [{
        "effective_from": "2025-09-01", "district": "Valby", "children_under_18": 3}]})
    effective_from: c.SaneDate
    district: c.Name | None = None
    municipality_code: c.MunicipalityCode | None = None
    children_under_18: int | None = Field(default=None, ge=0, le=30)
    single_parent: bool | None = None
    location: c.Location | None = None
    reason: c.Reason | None = None


class FactsChanged(BaseModel):
    id: str
    pay_share_percent: int | None = None
    position: int | None = None


@router.get("/households/{household_id}", response_model=HouseholdView, responses=ERRORS)
def household(household_id: UUID, ledger: LedgerDep, views: ViewsDep, principal: Reader):
    """The household: its children, facts and pay-share history, adjustments and statement months."""
    found = own_household(ledger, principal, household_id)
    with views.current() as store:
        children = lookups.household_children(store, str(household_id))
        statements = lookups.statement_months(store, str(household_id))
        position = store.position("views")
    single, under_18 = found.facts_on(ledger.today())
    return {"id": str(found.id), "municipality_code": found.municipality_code, "district": found.district,
            "single_parent": single, "children_under_18": under_18, "erased": found.erased,
            "children": [{"child_id": r["child_id"], "birth_date": r["birth_date"]} for r in children],
            "facts": [{"effective_from": d, "single_parent": bool(s), "children_under_18": int(n)}
                      for d, (s, n) in getattr(found, "facts", [])],
            "pay_shares": [{"effective_from": d, "pay_share_percent": p} for d, p in found.friplads],
            "adjustments": list(found.adjustments), "statements": statements, "position": position}


@router.post("/households/{household_id}/facts", response_model=FactsChanged, responses=ERRORS)
def change_facts(household_id: UUID, body: FactsBody, ledger: LedgerDep, principal: Caseworker, run: Run):
    """A move (district, municipality, home), the children under 18 or single parenthood, from a date.
    The friplads share is decided again from that date."""
    own_household(ledger, principal, household_id)
    return run(c.ChangeHouseholdFacts(household_id=household_id, **body.model_dump()), principal)


@router.post("/households", status_code=201, response_model=m.Created,
             responses=linked(201, "household_id", "declare_income", "adjust_payment", "statement"))
def register_household(body: c.RegisterHousehold, principal: Caseworker, run: Run):
    """Register a household (the payer). Identifiers go to the encrypted person registry only."""
    return run(body, principal)


@router.post("/households/{household_id}/income", status_code=201, response_model=m.FripladsDecision,
             responses=ERRORS)
def declare_income(household_id: UUID, body: b.IncomeBody, principal: Caseworker, run: Run):
    """Declare the household's yearly income; the answer is the friplads decision it gives."""
    return run(c.DeclareIncome(household_id=household_id, **body.model_dump()), principal)


@router.post("/households/{household_id}/adjustments", status_code=201, response_model=m.Adjustment,
             responses=ERRORS)
def adjust_payment(household_id: UUID, body: b.AdjustmentBody, principal: Caseworker, run: Run):
    """A sibling, socialpædagogisk or behandlingsmæssig friplads, or a manual correction, with a reason."""
    return run(c.AdjustPayment(household_id=household_id, **body.model_dump()), principal)
