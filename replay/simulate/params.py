"""The simulator's parameters: params.toml, validated (pydantic), in one object."""

from __future__ import annotations

import tomllib
from datetime import date
from importlib import resources
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

Share = float


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Special(_Model):
    group: str
    age_group: Literal["nursery", "kindergarten"]


class District(_Model):
    name: str
    institutions: int = Field(ge=1)
    basis_institutions: int = Field(ge=0)
    basis_seats: int = Field(ge=0)
    supply_factor: float = Field(gt=0)
    centre: tuple[float, float]  # (lat, lon): homes and institutions lie around it
    special: Special | None = None


class CityParams(_Model):
    start: date
    municipality_code: str
    kind_shares: dict[Literal["integreret", "boernehave", "vuggestue", "dagpleje"], Share]
    selvejende_share: Share = Field(ge=0, le=1)
    nursery_weight: dict[str, float]
    kindergarten_weight: dict[str, float]
    size_jitter: float = Field(ge=0, lt=1)
    basis_nursery_share: Share = Field(ge=0, le=1)
    special_group_seats: int = Field(ge=1)
    location_jitter_km: float = Field(ge=0, le=10)
    cluster_size: int = Field(6, ge=1, le=50)  # municipal institutions per cluster (klynge), about


class PopulationParams(_Model):
    births_per_year: int = Field(ge=1)
    take_up: Share = Field(ge=0, le=1)
    later_birth_share: Share = Field(ge=0, le=1)
    sibling_gap_years: tuple[float, float]
    single_parent_share: Share = Field(ge=0, le=1)
    older_children_share: Share = Field(ge=0, le=1)
    newcomers_per_birth: float = Field(ge=0)
    newcomer_child_age_days: tuple[int, int]
    newcomer_need_days: int = Field(ge=0)
    support_needs_share: Share = Field(ge=0, le=1)
    special_needs_share: Share = Field(ge=0, le=1)
    couple_income_median_kr: int = Field(gt=0)
    couple_income_sigma: float = Field(ge=0)
    single_income_median_kr: int = Field(gt=0)
    single_income_sigma: float = Field(ge=0)
    income_floor_kr: int = Field(ge=0)
    income_redeclare_share: Share = Field(ge=0, le=1)
    income_growth: float
    income_growth_sigma: float = Field(ge=0)


class BehaviourParams(_Model):
    late_or_caseworker_share: Share = Field(ge=0, le=1)
    need_age_months: list[int]
    need_age_weights: list[float]
    early_action_days: tuple[int, int]
    late_action_days_before_need: tuple[int, int]
    wishes: int = Field(ge=1, le=3)
    other_district_wish_share: Share = Field(ge=0, le=1)
    self_service_start_tries: int = Field(ge=1)
    kindergarten_action_months_before: tuple[int, int]
    late_kindergarten_months_before: int = Field(ge=0)
    caseworker_every_days: int = Field(ge=1)
    caseworker_district_tries: int = Field(ge=1)
    caseworker_city_tries: int = Field(ge=0)
    caseworker_months_ahead: int = Field(ge=1)
    move_away_per_year: float = Field(ge=0)
    move_within_per_year: float = Field(ge=0)
    move_transfer_share: Share = Field(ge=0, le=1)
    transfer_per_year: float = Field(ge=0)
    notice_months: int = Field(ge=0)
    offer_accept_first_wish: Share = Field(ge=0, le=1)
    offer_accept_other: Share = Field(ge=0, le=1)
    offer_no_answer: Share = Field(ge=0, le=1)
    offer_answer_days: tuple[int, int]
    allocation_months_ahead: int = Field(ge=0)
    # A month's statements are issued in advance, on this day of the month before (or the next weekday).
    billing_day: int = Field(20, ge=1, le=28)

    @model_validator(mode="after")
    def _weights(self) -> "BehaviourParams":
        if len(self.need_age_months) != len(self.need_age_weights) or not self.need_age_months:
            raise ValueError("need_age_months and need_age_weights must have the same, non-zero length")
        if min(self.need_age_months) < 6:
            raise ValueError("a need age below 6 months is before the earliest start (26 weeks)")
        return self


class Params(_Model):
    city: CityParams
    districts: list[District] = Field(min_length=1)
    population: PopulationParams
    behaviour: BehaviourParams


def load_params(path: str | Path | None = None) -> Params:
    """The parameters from a TOML file (default: the package's params.toml)."""
    if path is None:
        text = resources.files("replay.simulate").joinpath("params.toml").read_text(encoding="utf-8")
    else:
        text = Path(path).read_text(encoding="utf-8")
    return Params.model_validate(tomllib.loads(text))
