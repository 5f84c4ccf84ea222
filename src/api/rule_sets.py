"""Rule sets: putting one in force from a date (admin). The rule sets themselves are code (rules/)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path

from api import bodies as b
from api import models as m
from api.deps import Admin, Run
from api.responses import ERRORS
from ledger import commands as c

router = APIRouter(prefix="/v1", tags=["rule sets"])
RuleSetId = Annotated[str, Path(max_length=100, pattern=c.RULE_SET_ID, examples=["copenhagen-book-en-plads@1"])]


@router.post("/rule-sets/{rule_set_id}/activate", status_code=201, response_model=m.Activation, responses=ERRORS)
def activate_rule_set(rule_set_id: RuleSetId, body: b.ActivationBody, principal: Admin, run: Run):
    """Put a rule set in force from a date (admin)."""
    return run(c.ActivateRuleSet(rule_set_id=rule_set_id, **body.model_dump()), principal)
