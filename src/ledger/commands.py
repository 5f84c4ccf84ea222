"""Commands: small, validated requests to change the ledger.

Each is a frozen pydantic model; field names are the API's. Validation here is
about shape (types, ranges, lengths); rules that need the ledger's state are
checked by the handlers.
"""

from __future__ import annotations

import re
from datetime import date
from typing import Annotated, Literal
from uuid import UUID

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints, model_validator

from ledger.text import Text, no_cpr
from rules.loader import RULE_SET_ID_PATTERN

AgeGroup = Literal["nursery", "kindergarten"]
Pool = Literal["general", "basis", "special"]
Channel = Literal["self_service", "caseworker", "system", "import"]
InstitutionKind = Literal["vuggestue", "boernehave", "integreret", "dagpleje"]
Ownership = Literal["kommunal", "selvejende", "privat"]
TransferKind = Literal["parent_request", "age_roll", "caseworker"]
AdjustmentKind = Literal[
    "sibling", "socialpaedagogisk_friplads", "behandlingsmaessig_friplads", "manual_correction"
]

# Every string a client sends that lands in an event is free text (ledger.text: NFC, one line of
# printable characters, no CPR number) or a stricter pattern.
Name = Text(200)
Reason = Text(1000)
Label = Text(100)  # a support need
Address = Text(300)
LineKind = Text(40)
# Text the ledger composes itself from checked text: a cut at the length limit must not make a
# billing or allocation run refuse a whole month, so no CPR check.
PriorityBasis = Text(200, min_length=0, check_cpr=False)
LineDetail = Text(300, min_length=0, check_cpr=False)
RULE_SET_ID = RULE_SET_ID_PATTERN  # name@version, as rules.loader reads them
# (a refusal echoes an unknown id, and a refusal under an idempotency key is kept)
RuleSetId = Annotated[str, StringConstraints(max_length=100, pattern=RULE_SET_ID), AfterValidator(no_cpr)]
MunicipalityCode = Annotated[str, StringConstraints(pattern=r"^[0-9]{3}$")]
# Dates a daycare ledger can meaningfully hold; keeps hostile input (year 0, 1 or 9999) out, so a
# day or a month either side of an accepted date is still a date. The patterns state the same
# range in the OpenAPI schema (a JSON schema cannot bound a date otherwise).
FIRST_DAY, LAST_DAY = date(1990, 1, 1), date(2100, 12, 31)
_YEAR = r"(199[0-9]|20[0-9]{2}|2100)"
MONTH_PATTERN = rf"^{_YEAR}-(0[1-9]|1[0-2])$"
DATE_PATTERN = rf"^{_YEAR}-(0[1-9]|1[0-2])-(0[1-9]|[12][0-9]|3[01])$"  # with `format: date` for the calendar
# Days a month can have (only 29 February of a common year gets past it), where there is no `format`.
_MONTH_DAY = r"((0[1-9]|1[0-2])-(0[1-9]|1[0-9]|2[0-9])|(0[13-9]|1[0-2])-30|(0[13578]|1[02])-31)"
CALENDAR_DAY_PATTERN = rf"^{_YEAR}-{_MONTH_DAY}$"
Month = Annotated[str, StringConstraints(pattern=MONTH_PATTERN)]


def _iso_date(value: object) -> object:
    """A date as the schema states it: YYYY-MM-DD text (or a date), not a timestamp or a number,
    which pydantic would otherwise take."""
    if isinstance(value, date) or (isinstance(value, str) and re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value)):
        return value
    raise ValueError("a date is written YYYY-MM-DD")


SaneDate = Annotated[date, Field(ge=FIRST_DAY, le=LAST_DAY, json_schema_extra={"pattern": DATE_PATTERN}),
                     BeforeValidator(_iso_date)]
# An issued statement's lines and total; wide enough for any sum of bounded amounts a household
# can plausibly collect (a billing run names the household it cannot issue rather than fail).
Ore = Annotated[int, Field(ge=-10**12, le=10**12)]
# What a payment adjustment may change a month's bill by: 1,000,000 kr, far above any monthly fee
# (a few thousand kr), so even thousands of adjustments on one month stay within a statement's Ore.
MAX_ADJUSTMENT_ORE = 10**8
AdjustmentOre = Annotated[int, Field(ge=-MAX_ADJUSTMENT_ORE, le=MAX_ADJUSTMENT_ORE)]


class Command(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Location(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    lat: float = Field(ge=-90, le=90)
    lon: float = Field(ge=-180, le=180)


class PersonIdentifiers(BaseModel):
    """Identifiers kept only in the encrypted person registry, never in events."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    cpr: Annotated[str, StringConstraints(pattern=r"^[0-9]{6}-?[0-9]{4}$")] | None = None
    name: Name | None = None
    address: Address | None = None


# -- administration -----------------------------------------------------------------


class ActivateRuleSet(Command):
    rule_set_id: RuleSetId
    effective_from: SaneDate
    reason: Reason | None = None


class RegisterInstitution(Command):
    name: Name
    district: Name
    kind: InstitutionKind
    ownership: Ownership = "kommunal"
    municipality_code: MunicipalityCode = "101"
    location: Location | None = None
    institution_id: UUID | None = None  # for imports that keep their own ids


def _cluster_name(name: str) -> str:
    # A cluster leader's token names its cluster after a colon, in a comma-separated list.
    if any(ch in name for ch in ",:"):
        raise ValueError("a cluster's name holds no ',' or ':' (tokens name the cluster after a colon)")
    return name


ClusterName = Annotated[Text(100), AfterValidator(_cluster_name), Field(json_schema_extra={"pattern": r"^[^,:]*$"})]


class AssignCluster(Command):
    """The cluster (klynge) an institution belongs to from a date; `cluster: null` takes it out of
    its cluster (a self-owned institution belongs to none)."""

    institution_id: UUID
    cluster: ClusterName | None
    effective_from: SaneDate
    reason: Reason | None = None


class ChangeCapacity(Command):
    institution_id: UUID
    age_group: AgeGroup
    pool: Pool = "general"
    seats: int = Field(ge=0, le=10_000)
    effective_from: SaneDate
    reason: Reason | None = None


class SetGrossCost(Command):
    """An institution's budgeted gross operating cost of a full-time place a month, as its own
    municipality calculates it (bruttodriftsudgift pr. plads; DTL § 41): what a Copenhagen child's
    place there costs, and the gross cost budgets and the settlement count for its places."""

    institution_id: UUID
    age_group: AgeGroup
    gross_cost_ore: int = Field(ge=0, le=10**9)
    effective_from: SaneDate
    reason: Reason | None = None


# -- households -----------------------------------------------------------------------


class RegisterHousehold(Command):
    municipality_code: MunicipalityCode = "101"
    district: Name
    single_parent: bool = False
    children_under_18: int = Field(default=1, ge=0, le=30)
    location: Location | None = None
    payer: PersonIdentifiers | None = None
    household_id: UUID | None = None


class ChangeHouseholdFacts(Command):
    household_id: UUID
    effective_from: SaneDate
    single_parent: bool | None = None
    children_under_18: int | None = Field(default=None, ge=0, le=30)
    municipality_code: MunicipalityCode | None = None
    district: Name | None = None
    location: Location | None = None  # the new home after a move (kept to about a kilometre)
    reason: Reason | None = None


class DeclareIncome(Command):
    household_id: UUID
    annual_income_ore: int = Field(ge=0, le=10**13)
    effective_from: SaneDate


class SettleFriplads(Command):
    """Efterregulering: the household's final income for a past year; each month's pay share is
    decided again on it, and months already billed are corrected on the next statement."""

    household_id: UUID
    year: int = Field(ge=2000, le=2100)
    annual_income_ore: int = Field(ge=0, le=10**13)


class AdjustPayment(Command):
    """A discretionary or corrective change to what a household pays.

    Either an amount per month (øre; negative reduces the bill) or a pay share
    (percent of the fee the household still pays), for a period of months.
    """

    household_id: UUID
    kind: AdjustmentKind
    from_month: Month
    to_month: Month | None = None
    amount_ore: AdjustmentOre | None = None
    pay_share_percent: int | None = Field(default=None, ge=0, le=100)
    child_id: UUID | None = None
    reason: Reason

    @model_validator(mode="after")
    def _amount_or_share(self) -> "AdjustPayment":
        if (self.amount_ore is None) == (self.pay_share_percent is None):
            raise ValueError("give exactly one of amount_ore and pay_share_percent")
        if self.to_month is not None and self.to_month < self.from_month:
            raise ValueError("to_month is before from_month")
        return self


# -- children, registrations, offers ------------------------------------------------------


class RegisterChild(Command):
    household_id: UUID
    birth_date: SaneDate
    district: Name | None = None  # defaults to the household's
    municipality_code: MunicipalityCode | None = None
    support_needs: list[Label] = Field(
        default_factory=list, max_length=20
    )
    identifiers: PersonIdentifiers | None = None
    child_id: UUID | None = None


class Register(Command):
    """Opskrivning: put the child on the waiting lists of its wished institutions."""

    child_id: UUID
    age_group: AgeGroup
    wishes: list[UUID] = Field(min_length=1, max_length=10)
    need_date: SaneDate
    newcomer: bool = False
    guarantee_list: bool = False  # Copenhagen's guarantee list: a place within 2 months (residents only)

    @model_validator(mode="after")
    def _distinct(self) -> "Register":
        if len(set(self.wishes)) != len(self.wishes):
            raise ValueError("an institution appears twice among the wishes")
        return self


class ChangeWishes(Command):
    child_id: UUID
    age_group: AgeGroup
    wishes: list[UUID] = Field(min_length=1, max_length=10)
    need_date: SaneDate | None = None


class OfferPlace(Command):
    child_id: UUID
    institution_id: UUID
    age_group: AgeGroup
    start_date: SaneDate
    pool: Pool = "general"
    expires_on: SaneDate
    rank: int = Field(ge=1)
    priority_basis: PriorityBasis
    seed: int = 0


class AcceptOffer(Command):
    child_id: UUID
    offer_id: UUID
    lunch: bool = True


class DeclineOffer(Command):
    child_id: UUID
    offer_id: UUID
    reason: Reason | None = None


class ExpireOffer(Command):
    child_id: UUID
    offer_id: UUID


# -- bookings ---------------------------------------------------------------------------


class BookPlace(Command):
    # The schema states the override rule too, so a client generated from it knows it.
    model_config = ConfigDict(frozen=True, extra="forbid", json_schema_extra={
        "if": {"properties": {"override": {"const": True}}, "required": ["override"]},
        "then": {"properties": {"reason": {"type": "string"}}, "required": ["reason"]}})
    child_id: UUID
    institution_id: UUID
    start_date: SaneDate
    pool: Pool = "general"
    lunch: bool = True
    override: bool = False  # caseworker books beyond capacity; needs a reason
    reason: Reason | None = None
    booking_id: UUID | None = None
    # The first day the family asked a place from, when earlier than the start it got (a
    # self-service search that found no seat for the earlier months): recorded as the need date of
    # the registration a booking without an earlier one records, so its waiting shows.
    need_date: SaneDate | None = None

    @model_validator(mode="after")
    def _override_needs_reason(self) -> "BookPlace":
        if self.override and not self.reason:
            raise ValueError("a capacity override needs a reason")
        if self.need_date is not None and self.need_date > self.start_date:
            raise ValueError("the need date cannot be after the start date")
        return self


class CancelBooking(Command):
    booking_id: UUID
    effective_date: SaneDate  # first day without the place
    reason: Reason


class TransferChild(Command):
    booking_id: UUID
    institution_id: UUID
    effective_date: SaneDate  # first day in the new institution
    reason: Reason
    kind: TransferKind = "parent_request"
    pool: Pool | None = None  # default: the pool of the current booking
    lunch: bool | None = None


# -- billing and erasure --------------------------------------------------------------------


class StatementLine(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    kind: LineKind
    amount_ore: Ore
    child_id: UUID | None = None
    booking_id: UUID | None = None
    month: Month | None = None  # the month a correction line corrects
    detail: LineDetail = ""


class HouseholdStatement(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    household_id: UUID
    lines: list[StatementLine]
    total_ore: Ore

    @model_validator(mode="after")
    def _total_adds_up(self) -> "HouseholdStatement":
        if sum(line.amount_ore for line in self.lines) != self.total_ore:
            raise ValueError("total_ore is not the sum of the lines")
        return self


class SkippedStatement(BaseModel):
    """A household a billing run could not issue, and why (it is billed by a later run's corrections)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    household_id: UUID
    reason: Annotated[str, StringConstraints(max_length=300)]


class IssueStatements(Command):
    month: Month
    statements: list[HouseholdStatement]
    skipped: list[SkippedStatement] = Field(default_factory=list)  # named in the answer, not recorded


class OpenBillingMonth(Command):
    """Bring `month` within the billing horizon by this command's clock (no later than the
    month after today's): a quiet ledger bills on without waiting for another event."""

    month: Month


class ErasePerson(Command):
    person_id: UUID
    reason: Reason
