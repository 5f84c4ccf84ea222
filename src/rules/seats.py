"""The seat shares of copenhagen-book-en-plads: the caseworkers' share and its release."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Literal

from rules.model import RuleSet, SeatRules, in_force

Pool = Literal["general", "basis", "special"]
Channel = Literal["self_service", "caseworker", "system", "import"]


def _seats(rs: RuleSet, on: date) -> SeatRules:
    return in_force(rs.seats, on, "seat rules")


def self_service_allowed(rs: RuleSet, on: date) -> bool:
    return _seats(rs, on).self_service


def caseworker_held_seats(capacity: int, rs: RuleSet, on: date) -> int:
    """Seats of the general pool held for caseworkers: the share, rounded down."""
    return capacity * _seats(rs, on).caseworker_share_percent // 100


def self_service_capacity(capacity: int, day: date, decided_on: date, rs: RuleSet) -> int:
    """General seats a self-service booking may use on `day`, decided on `decided_on`.

    The caseworkers' share is released to self-service a number of weeks before
    the month begins; until then self-service sees capacity minus the share.
    """
    rules = _seats(rs, decided_on)
    month_start = day.replace(day=1)
    if decided_on >= month_start - timedelta(weeks=rules.release_weeks_before_month):
        return capacity
    return capacity - caseworker_held_seats(capacity, rs, decided_on)


def pool_allowed(pool: str, channel: str, rs: RuleSet) -> bool:
    """`basis` and `special` seats are assigned only by caseworkers (or system/import on their behalf)."""
    if pool == "general":
        return True
    return channel in ("caseworker", "system", "import")
