"""Rule-set data: pydantic models over the TOML files in rules/data.

A rule set is named and versioned (`copenhagen-book-en-plads@1`). Every value is
a list of effective-dated entries: the entry in force on a day is the latest with
`effective_from <= day`, and it stays in force until a later one replaces it.
"""

from __future__ import annotations

import tomllib
from datetime import date
from functools import lru_cache
from importlib import resources
from typing import Literal, Sequence, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

Policy = Literal["waitinglist", "book-en-plads"]


class RuleError(ValueError):
    """A rule cannot answer: unknown rule set, no value in force, a date outside the rules."""


class Dated(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    effective_from: date
    source: str = Field(min_length=1)


class AgeRules(Dated):
    earliest_start_weeks: int = 26
    kindergarten_from_months: int = 34  # 2 y 10 m
    kindergarten_rate_from_months: int = 37  # 3 y 1 m
    school_start_age_years: int = 6
    school_start_month: int = 8
    school_start_day: int = 1


class GuaranteeRules(Dated):
    months_after_registration: int = 3
    weeks_after_26_weeks: int = 4
    guarantee_list_months: int = 2


class WaitingListRules(Dated):
    max_wishes_nursery: int = 2
    max_wishes_kindergarten: int = 3
    nursery_seniority_months: int = 4
    kindergarten_seniority_months: int = 24
    kindergarten_sibling_priority_months: int = 30
    decline_moves_need_date_months: int = 2
    newcomer_positions_per_year: int = 6
    distance_fallback_km: int = 4


class SeatRules(Dated):
    self_service: bool
    caseworker_share_percent: int = Field(default=20, ge=0, le=100)
    release_weeks_before_month: int = Field(default=4, ge=0)


class TariffRules(Dated):
    """Monthly parent payment in whole kroner, paid 12 months a year."""

    under_rate_age_kr: int
    under_rate_age_with_lunch_kr: int
    over_rate_age_kr: int
    over_rate_age_with_lunch_kr: int
    dagpleje_kr: int
    dagpleje_lunch_included: bool = True
    parent_share_of_gross_cost_percent: int = 25


class FripladsScale(Dated):
    """Økonomisk friplads: income limits for one year, in whole kroner."""

    lower_kr: int
    upper_kr: int
    step_kr: int
    single_parent_addition_kr: int | None = None  # None: not published in our sources
    per_child_addition_kr: int = 7_000

    @property
    def lower_ore(self) -> int:
        return self.lower_kr * 100

    @property
    def upper_ore(self) -> int:
        return self.upper_kr * 100

    @property
    def step_ore(self) -> int:
        return self.step_kr * 100

    @property
    def single_parent_addition_ore(self) -> int | None:
        return None if self.single_parent_addition_kr is None else self.single_parent_addition_kr * 100

    @property
    def per_child_addition_ore(self) -> int:
        return self.per_child_addition_kr * 100


class SiblingRules(Dated):
    other_places_pay_percent: int = 50


class RuleSet(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    name: str
    version: int
    title: str
    policy: Policy
    subsidy_order: tuple[str, ...]
    rounding: Literal["half_up"] = "half_up"
    ages: tuple[AgeRules, ...]
    guarantee: tuple[GuaranteeRules, ...]
    waitinglist: tuple[WaitingListRules, ...]
    seats: tuple[SeatRules, ...]
    tariffs: tuple[TariffRules, ...]
    friplads: tuple[FripladsScale, ...]
    sibling: tuple[SiblingRules, ...]

    @property
    def id(self) -> str:
        return f"{self.name}@{self.version}"

    @field_validator("ages", "guarantee", "waitinglist", "seats", "tariffs", "friplads", "sibling")
    @classmethod
    def _sorted_and_distinct(cls, entries: tuple[Dated, ...]) -> tuple[Dated, ...]:
        if not entries:
            raise ValueError("needs at least one effective-dated entry")
        ordered = tuple(sorted(entries, key=lambda e: e.effective_from))
        dates = [e.effective_from for e in ordered]
        if len(set(dates)) != len(dates):
            raise ValueError("two entries take effect on the same day")
        return ordered


D = TypeVar("D", bound=Dated)


def in_force(entries: Sequence[D], on: date, what: str = "rule") -> D:
    """The entry in force on a day: the latest that took effect on or before it."""
    current = None
    for entry in entries:
        if entry.effective_from <= on:
            current = entry
        else:
            break
    if current is None:
        raise RuleError(f"no {what} in force on {on} (the first takes effect {entries[0].effective_from})")
    return current


def _data_files() -> dict[str, str]:
    folder = resources.files("rules") / "data"
    return {f.name[: -len(".toml")]: f.read_text(encoding="utf-8")
            for f in folder.iterdir() if f.name.endswith(".toml")}


def _merge(base: dict, override: dict) -> dict:
    out = dict(base)
    for key, value in override.items():
        out[key] = _merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def _resolve(rule_set_id: str, files: dict[str, str], seen: tuple[str, ...] = ()) -> dict:
    if rule_set_id not in files:
        raise RuleError(f"unknown rule set {rule_set_id!r}; known: {', '.join(sorted(files))}")
    if rule_set_id in seen:
        raise RuleError(f"rule set {rule_set_id} includes itself")
    data = tomllib.loads(files[rule_set_id])
    merged: dict = {}
    for included in data.pop("include", []):
        base = _resolve(included, files, seen + (rule_set_id,))
        base.pop("abstract", None)  # abstract-ness is not inherited
        merged = _merge(merged, base)
    return _merge(merged, data)


@lru_cache(maxsize=None)
def load_rule_set(rule_set_id: str) -> RuleSet:
    """A named, versioned rule set ("copenhagen-book-en-plads@1"), validated."""
    files = _data_files()
    data = _resolve(rule_set_id, files)
    if data.get("abstract"):
        raise RuleError(f"{rule_set_id} is a shared base, not a rule set to activate")
    data.pop("abstract", None)
    try:
        rule_set = RuleSet.model_validate(data)
    except ValidationError as e:
        raise RuleError(f"rule set {rule_set_id} is invalid: {e.errors()[0]['msg']} at "
                        f"{'.'.join(str(p) for p in e.errors()[0]['loc'])}") from None
    if rule_set.id != rule_set_id:
        raise RuleError(f"file {rule_set_id}.toml declares {rule_set.id}")
    return rule_set


def list_rule_sets() -> list[str]:
    files = _data_files()
    return sorted(k for k, text in files.items() if not tomllib.loads(text).get("abstract"))
