"""The response models (with examples); the request bodies are in api.bodies."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, Generic, TypeVar

from pydantic import BaseModel, Field

from api.bodies import ID
from api.bodies import example as _example

T = TypeVar("T")


# -- responses ----------------------------------------------------------------------------------


class Created(BaseModel):
    model_config = _example(id=ID, position=1234)
    id: str
    position: int | None = Field(None, description="log position of the command's last event; pass it as "
                                                    "min_position to a read to see the command's effect")


class CapacitySet(Created):
    model_config = _example(id=ID, age_group="nursery", pool="general", seats=40, position=1235)
    age_group: str
    pool: str
    seats: int


class GrossCostSet(Created):
    model_config = _example(id=ID, age_group="nursery", gross_cost_ore=2_000_000, effective_from="2025-01-01",
                            position=1235)
    age_group: str
    gross_cost_ore: int
    effective_from: str


class ChildCreated(Created):
    model_config = _example(id=ID, household_id=ID, position=1236)
    household_id: str


class FripladsDecision(BaseModel):
    model_config = _example(household_id=ID, effective_from="2025-01-01", pay_share_percent=43,
                            scale={"lower_ore": 20810100, "upper_ore": 64650000}, position=1237)
    household_id: str
    effective_from: date
    pay_share_percent: int = Field(description="percent of the fee the household pays (0 = free place)")
    scale: dict[str, Any] = Field(description="the friplads scale the decision used")
    position: int | None = None


class Registration(BaseModel):
    model_config = _example(child_id=ID, age_group="nursery", wishes=[ID], need_date="2025-08-01",
                            registered_on="2025-01-06", seniority_date="2024-07-15",
                            guarantee_date="2025-08-01", position=1238)
    child_id: str
    age_group: str
    wishes: list[str]
    need_date: date
    registered_on: date
    seniority_date: date
    guarantee_date: date
    position: int | None = None


class Booking(BaseModel):
    model_config = _example(id=ID, child_id=ID, institution_id=ID, pool="general", start_date="2025-08-01",
                            end_date="2026-12-31", override=False, position=1239)
    id: str
    child_id: str
    institution_id: str
    pool: str
    start_date: date
    end_date: date
    override: bool
    from_booking_id: str | None = Field(None, description="on a transfer: the booking it ends")
    position: int | None = None


class Cancellation(BaseModel):
    model_config = _example(id=ID, effective_date="2025-09-01", last_day="2025-08-31", position=1240)
    id: str
    effective_date: date
    last_day: date
    position: int | None = None


class Adjustment(Created):
    model_config = _example(id=ID, household_id=ID, position=1241)
    household_id: str


class Activation(BaseModel):
    model_config = _example(rule_set_id="copenhagen-book-en-plads@1", effective_from="2025-01-01", position=3)
    rule_set_id: str
    effective_from: date
    position: int | None = None


class SkippedStatement(BaseModel):
    household_id: str
    reason: str


class BillingRun(BaseModel):
    model_config = _example(month="2025-03", statements=412, total_ore=98_765_400, skipped=[], position=5000)
    month: str
    statements: int
    total_ore: int
    skipped: list[SkippedStatement] = Field(
        default_factory=list, description="households whose statement could not be issued, and why; their "
                                          "amounts come back as corrections on a later month's statement")
    position: int | None = None


class Page(BaseModel, Generic[T]):
    """One page of a list: `items`, and `total` rows in all (use limit and offset to page)."""

    items: list[T]
    total: int
    limit: int
    offset: int
    position: int = Field(description="the log position the views were at")


class OccupancyRow(BaseModel):
    model_config = _example(institution_id=ID, age_group="nursery", pool="general", month="2025-08",
                            district="Nørrebro", cluster="Nørrebro Klynge 1", capacity=40, booked=38, free=2,
                            seat_days=1150, capacity_days=1240)
    institution_id: str
    age_group: str
    pool: str
    month: str
    district: str | None
    cluster: str | None = Field(None, description="the cluster (klynge) the institution belonged to at the month's end")
    capacity: int
    booked: int
    free: int
    seat_days: int
    capacity_days: int


class Availability(BaseModel):
    model_config = _example(institution_id=ID, name="Solsikken", district="Nørrebro", kind="integreret",
                            age_group="nursery", pool="general", free_seats=2, from_month="2025-08",
                            to_month="2026-07")
    institution_id: str
    name: str
    district: str | None
    kind: str | None
    age_group: str
    pool: str
    free_seats: int
    from_month: str
    to_month: str


class WaitingChild(BaseModel):
    model_config = _example(institution_id=ID, age_group="nursery", child_id=ID, rank=1,
                            priority_basis="sibling in the institution", sibling=True,
                            seniority_date="2024-07-15", need_date="2025-08-01", registered_on="2025-01-06",
                            guarantee_date="2025-08-01", days_waiting=0, channel="self_service", wish_no=1,
                            district="Nørrebro", rule_set="copenhagen-2025-waitinglist@1")
    institution_id: str
    age_group: str
    child_id: str
    rank: int
    priority_basis: str | None
    sibling: bool | None
    seniority_date: date | None
    need_date: date | None
    registered_on: date | None
    guarantee_date: date | None
    days_waiting: int | None
    channel: str | None
    wish_no: int | None
    district: str | None
    rule_set: str | None
    guarantee_met_by: str | None = Field(None, description="place: a place outside its wishes meets the child's "
                                         "guarantee; refused_offer: the family refused an offer starting by "
                                         "the guarantee date; empty: not met")


class GuaranteeWatch(BaseModel):
    model_config = _example(child_id=ID, age_group="nursery", district="Valby", guarantee_date="2025-08-01",
                            days_left=-12, need_date="2025-05-01", first_wish=ID,
                            rule_set="copenhagen-2025-waitinglist@1", guarantee_met_by=None)
    child_id: str
    age_group: str
    district: str | None
    guarantee_date: date
    days_left: int = Field(description="days until the guarantee date; negative = passed that many days ago")
    need_date: date | None
    first_wish: str | None = Field(description="the first wish of a waiting child; empty for a child off the "
                                                "lists (placed at a wish from a later start, or its place cancelled)")
    rule_set: str | None
    guarantee_met_by: str | None = Field(None, description="empty: no place (past the date, the guarantee is "
                                                            "broken); place: a place outside its wishes meets it; "
                                                            "refused_offer: an offer by the date was refused")
    place_from: date | None = Field(None, description="a child without a place on its guarantee date who holds "
                                                      "one from a later day: that day (it has a place, but late)")


class StatementLine(BaseModel):
    model_config = _example(household_id=ID, month="2025-03", line_no=1, kind="fee", amount_ore=399_600,
                            child_id=ID, booking_id=ID, corrects_month=None, detail="nursery, 31 of 31 days",
                            events="1201,1250", issued=True)
    household_id: str
    month: str
    line_no: int
    kind: str
    amount_ore: int
    child_id: str | None
    booking_id: str | None
    corrects_month: str | None
    detail: str | None
    events: str | None = Field(description="the log positions behind the line")
    issued: bool | None


class Statement(BaseModel):
    model_config = _example(household_id=ID, month="2025-03", issued=True, total_ore=245_300, lines=[],
                            position=5000)
    household_id: str
    month: str
    issued: bool
    total_ore: int
    lines: list[StatementLine]
    position: int


class BudgetRow(BaseModel):
    model_config = _example(month="2025-03", district="Nørrebro", seat_days=31_000, place_months_milli=1_000_000,
                            gross_cost_ore=1_598_400_000, empty_basis_cost_ore=0,
                            parent_payments_ore=399_600_000, friplads_cost_ore=80_000_000,
                            sibling_cost_ore=20_000_000, intermunicipal_in_ore=0, intermunicipal_out_ore=0,
                            net_municipal_cost_ore=1_198_800_000)
    month: str
    district: str | None
    seat_days: int
    place_months_milli: int
    gross_cost_ore: int
    empty_basis_cost_ore: int
    parent_payments_ore: int
    friplads_cost_ore: int
    sibling_cost_ore: int
    intermunicipal_in_ore: int = Field(description="other municipalities' payments for their children here "
                                                   "(deducted from the net cost)")
    intermunicipal_out_ore: int = Field(description="the home subsidy paid to other municipalities for our "
                                                    "children in their institutions (part of the net cost)")
    net_municipal_cost_ore: int


class HistoryRow(BaseModel):
    model_config = _example(child_id=ID, position=1239, recorded_at="2025-01-06T09:30:00+00:00",
                            effective_date="2025-08-01", event="PlaceBooked", actor="anna", channel="caseworker",
                            reason=None, rule_set="copenhagen-book-en-plads@1", institution_id=ID, booking_id=ID,
                            detail="{}")
    child_id: str
    position: int
    recorded_at: datetime
    effective_date: date | None
    event: str
    actor: str | None
    channel: str | None
    reason: str | None
    rule_set: str | None
    institution_id: str | None
    booking_id: str | None
    detail: str | None


class OfferFacts(BaseModel):
    """What every offer says: to which child, where, which seat, from when."""

    offer_id: str
    child_id: str
    institution_id: str
    age_group: str
    pool: str
    start_date: date


class Offer(OfferFacts):
    model_config = _example(offer_id=ID, child_id=ID, institution_id=ID, age_group="nursery", pool="general",
                            start_date="2025-08-01", rank=1, wish_no=1,
                            priority_basis="sibling, seniority 2024-07-15, need date 2025-08-01")
    rank: int = Field(description="the child's place in the run's order at that institution (0: guarantee offer)")
    wish_no: int | None = Field(None, description="which wish it meets (none for a guarantee offer)")
    priority_basis: str


class AllocationRun(BaseModel):
    model_config = _example(month="2025-08", rule_set="copenhagen-2025-waitinglist@1", seed=202508, offers=[],
                            released=[], unplaced_cases=[])
    month: str
    rule_set: str
    seed: int | None = Field(description="the tie-break seed, recorded on every offer")
    offers: list[Offer]
    released: list[dict[str, Any]] = Field(description="book-en-plads: held seats released to self-service")
    unplaced_cases: list[dict[str, Any]] = Field(description="children due this month still without a place")
    refused: list[dict[str, Any]] = Field(default_factory=list,
                                          description="offers the ledger refused (the child's situation changed)")


class Health(BaseModel):
    model_config = _example(status="ok", store="sqlite", position=1234, views_position=1234)
    status: str
    store: str
    position: int
    views_position: int
