"""Pydantic models of the rule data: a RuleSet is a frozen bundle of effective-dated sections.

Every section is a tuple of entries, each with `effective_from` and `source`. The entry in force
on a day is the latest one with effective_from <= day; it stays in force until a later entry of
the same section replaces it (so the 2025 tariffs still apply in 2027). Before a section's
first entry there is no rule: RuleError.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, field_validator, model_validator

from .errors import RuleError
from .memo import Memo
from .money import round_half_up
from .types import POOLS, SUBSIDY_ORDER, Policy, Pool

# Money, counts and percentages are integers in the data; strict, so 3996.0 or "3996" never
# slip in as money.
Ore = Annotated[StrictInt, Field(ge=0)]
Percent = Annotated[StrictInt, Field(ge=0, le=100)]
Count = Annotated[StrictInt, Field(ge=0)]
Months = Annotated[StrictInt, Field(ge=0, le=240)]
Weeks = Annotated[StrictInt, Field(ge=0, le=104)]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Dated(_Frozen):
    """One entry of a section: in force from effective_from until the next entry.

    synthetic: the numbers are not published ones but made up for simulation (e.g. the last
    published rates indexed); a rule set carrying any says so in every report made with it.
    """

    effective_from: date
    source: Annotated[str, Field(min_length=3)]
    synthetic: StrictBool = False


class AgeRules(Dated):
    earliest_start_weeks: Weeks  # the national guarantee basis (DTL § 23: from 26 weeks)
    earliest_start_months: Months | None = None  # a stricter local earliest start (Copenhagen: 6 months)
    kindergarten_from_months: Months
    kindergarten_rate_from_months: Months
    school_start_age_years: Annotated[StrictInt, Field(ge=3, le=8)]
    school_start_month: Annotated[StrictInt, Field(ge=1, le=12)]
    school_start_day: Annotated[StrictInt, Field(ge=1, le=31)]

    @model_validator(mode="after")
    def _sensible(self) -> AgeRules:
        try:
            date(2001, self.school_start_month, self.school_start_day)  # a day of every year
        except ValueError:
            raise ValueError("school_start_month/day is not a day of every year") from None
        if not self.earliest_start_weeks * 7 < self.kindergarten_from_months * 28:
            raise ValueError("the earliest start must come before the kindergarten age")
        if self.earliest_start_months is not None and self.earliest_start_months >= self.kindergarten_from_months:
            raise ValueError("earliest_start_months must come before the kindergarten age")
        if self.kindergarten_from_months >= 12 * self.school_start_age_years:
            raise ValueError("kindergarten_from_months must come before school start")
        return self


class GuaranteeRules(Dated):
    months_after_application: Months
    weeks_after_26_weeks: Weeks
    guarantee_list_months: Months
    guarantee_list_municipality: Annotated[str, Field(pattern=r"^[0-9]{3}$")] | None = None  # residents only


class WaitingListRules(Dated):
    nursery_max_wishes: Annotated[StrictInt, Field(ge=1, le=20)]
    kindergarten_max_wishes: Annotated[StrictInt, Field(ge=1, le=20)]
    nursery_seniority_from_months: Months
    kindergarten_seniority_from_months: Months
    kindergarten_sibling_priority_from_months: Months
    kindergarten_oldest_first: StrictBool
    decline_moves_need_date_months: Months
    newcomer_positions_per_year: Count
    newcomer_position_valid_months: Months
    distance_km_fallback: Count


class SeatRules(Dated):
    self_service: StrictBool
    caseworker_share_percent: Percent | None = None
    release_weeks_before_month: Weeks | None = None
    caseworker_only_pools: tuple[Pool, ...]
    basis_seats_min_per_institution: Count | None = None

    @model_validator(mode="after")
    def _self_service_needs_its_parameters(self) -> SeatRules:
        if self.self_service and (self.caseworker_share_percent is None or self.release_weeks_before_month is None):
            raise ValueError("self_service needs caseworker_share_percent and release_weeks_before_month")
        if "general" in self.caseworker_only_pools:
            raise ValueError("the general pool cannot be caseworker-only")
        unknown = set(self.caseworker_only_pools) - set(POOLS)
        if unknown:
            raise ValueError(f"unknown pools {sorted(unknown)}")
        return self


class TariffBand(_Frozen):
    """A monthly rate in øre. without_lunch_ore is absent where lunch is part of the place."""

    without_lunch_ore: Ore | None = None
    with_lunch_ore: Ore
    gross_cost_ore: Ore | None = None  # budget parameter; absent: derived (see tariffs.py)

    @model_validator(mode="after")
    def _lunch_costs_extra(self) -> TariffBand:
        if self.without_lunch_ore is not None and self.without_lunch_ore > self.with_lunch_ore:
            raise ValueError("with_lunch_ore must be at least without_lunch_ore")
        return self


class KindTariff(_Frozen):
    lunch_included: StrictBool = False
    under_rate_age: TariffBand
    from_rate_age: TariffBand | None = None  # absent where the year's price list gives none (dagpleje 2018-19)

    @model_validator(mode="after")
    def _one_price_when_lunch_is_included(self) -> KindTariff:
        for band in (self.under_rate_age, self.from_rate_age):
            if band is None:
                continue
            if self.lunch_included and band.without_lunch_ore is not None:
                raise ValueError("lunch is included: give only with_lunch_ore")
            if not self.lunch_included and band.without_lunch_ore is None:
                raise ValueError("lunch is optional: give without_lunch_ore too")
        return self


class TariffRules(Dated):
    parent_max_share_percent: Annotated[StrictInt, Field(ge=1, le=100)]
    daginstitution: KindTariff  # vuggestue, boernehave, integreret
    dagpleje: KindTariff


def derived_step_ore(lower_ore: int, upper_ore: int, steps: int = 95) -> int:
    """(U - L) / steps rounded half up to whole kroner, in øre."""
    return round_half_up(upper_ore - lower_ore, steps * 100) * 100


class FripladsScale(Dated):
    """The income-based free place scale of one year (økonomisk friplads, DTL § 43 stk. 1 nr. 1).

    step_ore absent in the data: not published, derived as (U - L) / 95 rounded to whole kroner
    (step_published is then False).
    """

    lower_ore: Ore
    upper_ore: Ore
    step_ore: Ore
    step_published: StrictBool
    single_parent_addition_ore: Ore
    per_child_addition_ore: Ore
    first_share_percent: Percent = 5
    steps: Annotated[StrictInt, Field(ge=1, le=1000)] = 95

    @model_validator(mode="before")
    @classmethod
    def _derive_unpublished_step(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "step_published" in data:
            return data
        if "step_ore" in data:
            return {**data, "step_published": True}
        lower, upper, steps = data.get("lower_ore"), data.get("upper_ore"), data.get("steps", 95)
        if all(isinstance(v, int) and not isinstance(v, bool) for v in (lower, upper, steps)) and upper > lower:
            return {**data, "step_ore": derived_step_ore(lower, upper, steps), "step_published": False}
        return data

    @model_validator(mode="after")
    def _limits_make_sense(self) -> FripladsScale:
        if self.upper_ore <= self.lower_ore:
            raise ValueError("upper_ore must exceed lower_ore")
        if self.step_ore <= 0:
            raise ValueError("step_ore must be positive")
        # A published step agrees with (U - L) / 95 to the krone; a typo in a limit shows here.
        if abs(self.step_ore - derived_step_ore(self.lower_ore, self.upper_ore, self.steps)) > 100:
            raise ValueError("step_ore differs from (upper - lower) / steps by more than 1 kr")
        return self


class SiblingRules(Dated):
    other_places_pay_percent: Percent  # the most expensive place pays in full


class SubsidyRules(Dated):
    order: tuple[str, ...]
    lunch_subsidised: StrictBool  # friplads and sibling subsidy cover the lunch payment too
    friplads_recalculation_steps: Count | None = None  # None: every declared income is decided again
    friplads_annual_settlement: StrictBool = False  # efterregulering against the year's final income

    @field_validator("order")
    @classmethod
    def _order_is_the_law(cls, order: tuple[str, ...]) -> tuple[str, ...]:
        if tuple(order) != SUBSIDY_ORDER:
            raise ValueError(f"the subsidy order must be {SUBSIDY_ORDER} (bek. nr. 2058 § 2)")
        return order


class RoundingRules(Dated):
    mode: Literal["half_up"]


class IntermunicipalRules(Dated):
    """Places across municipal borders (DTL § 41): the municipality whose subsidies the rule set
    carries pays its subsidy to the institution's municipality for its children placed there;
    the parents pay the rest of that institution's gross cost, with no subsidy on the excess."""

    municipality_code: Annotated[str, Field(pattern=r"^[0-9]{3}$")]  # Copenhagen: 101
    excess_subsidised: StrictBool = False  # friplads and sibling subsidy on the excess (never, by law)


# Sections published once a year: a month after the last published year is provisional.
YEARLY = ("tariffs", "friplads")


class Gap(_Frozen):
    """Days inside the covered years for which a yearly section has no published numbers.

    Nothing is applied there: asking for the section on such a day is a RuleError naming the
    month and the rule set (never another year's numbers)."""

    section: Literal["tariffs", "friplads"]
    effective_from: date
    until: date  # the last day of the gap (inclusive)
    source: Annotated[str, Field(min_length=3)]  # what was searched, what was (not) found

    @model_validator(mode="after")
    def _ordered(self) -> Gap:
        if self.until < self.effective_from:
            raise ValueError("a gap's until comes before its effective_from")
        return self


SECTIONS = ("ages", "guarantee", "waiting_list", "seats", "tariffs", "friplads", "sibling", "subsidies", "rounding")
# Sections a rule set may lack (rule data written before them): asking one is a RuleError.
OPTIONAL_SECTIONS = ("intermunicipal",)

D = TypeVar("D", bound=Dated)


def in_force(entries: Sequence[D], on: date, what: str = "rule") -> D:
    """The entry in force on a day: the latest with effective_from <= day (entries sorted)."""
    chosen = None
    for entry in entries:
        if entry.effective_from > on:
            break
        chosen = entry
    if chosen is None:
        first = entries[0].effective_from.isoformat() if entries else "never"
        raise RuleError(f"no {what} in force on {on.isoformat()} (the first takes effect {first})")
    return chosen


# Billing asks for the tariffs, subsidies and sibling rules in force once per household-month.
_IN_FORCE = Memo(limit=50_000)


class RuleSet(_Frozen):
    """A named, versioned rule set: metadata plus effective-dated sections."""

    id: str
    name: str
    version: Annotated[StrictInt, Field(ge=1)]
    policy: Policy
    title: str
    extends: str | None = None

    ages: tuple[AgeRules, ...]
    guarantee: tuple[GuaranteeRules, ...]
    waiting_list: tuple[WaitingListRules, ...]
    seats: tuple[SeatRules, ...]
    tariffs: tuple[TariffRules, ...]
    friplads: tuple[FripladsScale, ...]
    sibling: tuple[SiblingRules, ...]
    subsidies: tuple[SubsidyRules, ...]
    rounding: tuple[RoundingRules, ...]
    intermunicipal: tuple[IntermunicipalRules, ...] = ()
    gaps: tuple[Gap, ...] = ()

    @field_validator(*SECTIONS, *OPTIONAL_SECTIONS)
    @classmethod
    def _dated_in_order(cls, entries: tuple[Dated, ...]) -> tuple[Dated, ...]:
        if not entries:
            raise ValueError("a section needs at least one effective-dated entry")
        ordered = tuple(sorted(entries, key=lambda e: e.effective_from))
        for a, b in zip(ordered, ordered[1:]):
            if a.effective_from == b.effective_from:
                raise ValueError(f"two entries take effect on {a.effective_from.isoformat()}")
        return ordered

    @model_validator(mode="after")
    def _id_is_name_at_version(self) -> RuleSet:
        if self.id != f"{self.name}@{self.version}":
            raise ValueError(f"id {self.id!r} is not name@version ({self.name}@{self.version})")
        return self

    def in_force(self, section: str, day: date) -> Any:
        """The entry of `section` in force on `day`; RuleError before the first entry and in a
        gap of the section (a month with no published numbers)."""
        key = (id(self), section, day)
        found = _IN_FORCE.get(key)
        if found is None:
            gap = self.gap(section, day)
            if gap is not None:
                raise RuleError(f"{day:%Y-%m}: no published {section} in {self.id} (a gap in its data, "
                                f"{gap.effective_from.isoformat()}..{gap.until.isoformat()})")
            found = _IN_FORCE.remember(self, key, in_force(self._section(section), day, f"{section} rule of {self.id}"))
        return found

    def gap(self, section: str, day: date) -> Gap | None:
        """The gap of `section` that `day` falls in, if any."""
        return next((g for g in self.gaps if g.section == section and g.effective_from <= day <= g.until), None)

    def last_published_year(self, section: str) -> int:
        """The last year a yearly section has an entry for (published or declared synthetic)."""
        return self._section(section)[-1].effective_from.year

    def provisional(self, section: str, day: date) -> str | None:
        """Why `day` is provisional for a yearly section (after its last year: that year's numbers
        are used for drafts and forecasts, never issued), else None."""
        last = self.last_published_year(section)
        if section not in YEARLY or day.year <= last:
            return None
        return (f"provisional: {section} for {day.year} are not published in {self.id}; "
                f"the {last} numbers are used")

    def synthetic_entries(self) -> list[str]:
        """'section from date' of every entry declared synthetic (empty for published data)."""
        return [f"{section} from {e.effective_from.isoformat()}" for section in SECTIONS + OPTIONAL_SECTIONS
                for e in getattr(self, section) if e.synthetic]

    @property
    def first_day(self) -> date:
        """The first day on which any of its rules is in force (a section may start later:
        a command that needs it before then is refused with the rule's own message)."""
        return min(getattr(self, section)[0].effective_from for section in SECTIONS)

    def latest(self, section: str) -> Any:
        """The newest entry of a section: for parameters asked without a date."""
        return self._section(section)[-1]

    def periods(self, section: str) -> Iterator[tuple[Any, date | None]]:
        """Each entry with the day its successor takes over (None for the last)."""
        entries = self._section(section)
        for i, entry in enumerate(entries):
            yield entry, entries[i + 1].effective_from if i + 1 < len(entries) else None

    def _section(self, section: str) -> tuple[Any, ...]:
        if section not in SECTIONS + OPTIONAL_SECTIONS:
            raise RuleError(f"unknown rule section {section!r}")
        return getattr(self, section)
