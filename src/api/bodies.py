"""Request bodies where the path carries an id (bodies that are whole commands use the ledger's own
command models, src/ledger/commands.py, so the API and the ledger cannot disagree about a field)."""

from __future__ import annotations

from typing import Annotated, Any
from uuid import UUID

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.json_schema import SkipJsonSchema

from ledger import commands as c

# The id the examples show.
ID = "6f1c2a3e-9b7d-4c11-8e0a-2d5b7c9e1f40"


def example(**fields: Any) -> ConfigDict:
    return ConfigDict(extra="forbid", json_schema_extra={"examples": [fields]})


class CapacityBody(BaseModel):
    model_config = example(age_group="nursery", pool="general", seats=40, effective_from="2025-08-01")
    age_group: c.AgeGroup
    pool: c.Pool = "general"
    seats: int = Field(ge=0, le=10_000)
    effective_from: c.SaneDate
    reason: c.Reason | None = None


class GrossCostBody(BaseModel):
    model_config = example(age_group="nursery", gross_cost_ore=2_000_000, effective_from="2025-01-01")
    age_group: c.AgeGroup
    gross_cost_ore: int = Field(ge=0, le=10**9)
    effective_from: c.SaneDate
    reason: c.Reason | None = None


class IncomeBody(BaseModel):
    model_config = example(annual_income_ore=41_000_000, effective_from="2025-01-01")
    annual_income_ore: int = Field(ge=0, le=10**13)
    effective_from: c.SaneDate


class RegistrationBody(BaseModel):
    model_config = example(age_group="nursery", wishes=[ID], need_date="2025-08-01")
    age_group: c.AgeGroup
    wishes: list[UUID] = Field(min_length=1, max_length=10, json_schema_extra={"uniqueItems": True})
    need_date: c.SaneDate
    newcomer: bool = False
    guarantee_list: bool = False


class CancelBody(BaseModel):
    model_config = example(effective_date="2025-09-01", reason="the family moved to Aarhus")
    effective_date: c.SaneDate
    reason: c.Reason


class TransferBody(BaseModel):
    model_config = example(institution_id=ID, effective_date="2025-10-01", reason="closer to home")
    institution_id: UUID
    effective_date: c.SaneDate
    reason: c.Reason
    kind: c.TransferKind = "parent_request"
    pool: c.Pool | None = None
    lunch: bool | None = None


class AdjustmentBody(BaseModel):
    """Exactly one of `amount_ore` (per month; negative reduces the bill) and `pay_share_percent`;
    `to_month`, when given, is not before `from_month`."""

    model_config = ConfigDict(extra="forbid", json_schema_extra={
        "examples": [{"kind": "socialpaedagogisk_friplads", "from_month": "2025-09", "to_month": "2026-02",
                      "pay_share_percent": 0, "reason": "decided by the family's caseworker"}],
        "oneOf": [{"required": ["amount_ore"]}, {"required": ["pay_share_percent"]}]})
    kind: c.AdjustmentKind
    from_month: c.Month
    to_month: c.Month | None = None
    # Absent, not null: the schema's oneOf says which of the two is given.
    amount_ore: c.AdjustmentOre | SkipJsonSchema[None] = None
    pay_share_percent: Annotated[int, Field(ge=0, le=100)] | SkipJsonSchema[None] = None
    child_id: UUID | None = None
    reason: c.Reason

    @model_validator(mode="before")
    @classmethod
    def _absent_not_null(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name in ("amount_ore", "pay_share_percent"):
                if name in data and data[name] is None:
                    raise ValueError(f"{name}: leave it out rather than send null")
        return data


class ActivationBody(BaseModel):
    model_config = example(effective_from="2025-01-01", reason="the city council's decision of 2024-11-28")
    effective_from: c.SaneDate
    reason: c.Reason | None = None
