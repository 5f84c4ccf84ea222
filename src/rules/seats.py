"""Seats: who may book which pool, and the caseworkers' held share (copenhagen-book-en-plads).

Under the waiting-list policy there is no self-service booking at all: every seat is
allocated by the placement office, so its held share is the whole capacity.
"""

from __future__ import annotations

from datetime import date, timedelta

from .dates import first_of_month
from .errors import RuleError
from .model import RuleSet, SeatRules
from .types import CHANNELS, POOLS, Channel, Pool


def _rules(rs: RuleSet, on: date | None) -> SeatRules:
    return rs.latest("seats") if on is None else rs.in_force("seats", on)


def _check_capacity(capacity: int) -> None:
    if not isinstance(capacity, int) or capacity < 0:
        raise RuleError(f"capacity must be a non-negative integer, not {capacity!r}")


def self_service_allowed(rs: RuleSet, on: date | None = None) -> bool:
    """Can parents book by themselves? Yes under book-en-plads, no under the waiting list."""
    return _rules(rs, on).self_service


def caseworker_held_seats(capacity: int, rs: RuleSet, on: date | None = None) -> int:
    """Seats of a general pool held for caseworkers: floor(capacity * share / 100).

    The share (20 % by default) keeps seats for families who register late or are less
    digital. Without self-service every seat is the caseworkers'.
    """
    _check_capacity(capacity)
    rules = _rules(rs, on)
    if not rules.self_service:
        return capacity
    return capacity * rules.caseworker_share_percent // 100


def release_day(day: date, rs: RuleSet, on: date | None = None) -> date:
    """The first day the unused held seats of day's month are open to self-service:
    `release_weeks` weeks before the month."""
    return first_of_month(day) - timedelta(weeks=_rules(rs, on).release_weeks_before_month)


def held_seats_released(day: date, decided_on: date, rs: RuleSet) -> bool:
    """Unused held seats of day's month are released `release_weeks` weeks before the month."""
    if not _rules(rs, decided_on).self_service:
        return False
    return decided_on >= release_day(day, rs, decided_on)


def held_seats_unused(capacity: int, caseworker_seats: int, rs: RuleSet, on: date | None = None) -> int:
    """The held seats no caseworker placement uses: placements by caseworkers take the held
    seats first, so only those beyond the held share reach the seats open to self-service."""
    return max(0, caseworker_held_seats(capacity, rs, on) - caseworker_seats)


def seats_still_held(capacity: int, caseworker_seats: int, day: date, decided_on: date, rs: RuleSet) -> int:
    """The general seats kept from a self-service booking decided on `decided_on` on `day`:
    the unused held seats until their release, none after it (every seat without self-service)."""
    _check_capacity(capacity)
    if not self_service_allowed(rs, decided_on):
        return capacity
    if held_seats_released(day, decided_on, rs):
        return 0
    return held_seats_unused(capacity, caseworker_seats, rs, decided_on)


def self_service_limit(
    capacity: int, caseworker_seats: int, day: date, start: date, decided_on: date, rs: RuleSet
) -> int:
    """The most general seats that may be in use on `day`, a self-service booking from `start` included.

    The held share governs intake only: in the booking's start month a seat must be open to
    self-service (capacity less the seats still held, `seats_still_held`); in every later month
    any free general seat will do, so a released seat a family takes is theirs to the end of the
    booking. `caseworker_seats`: the general seats caseworker placements use on `day`.
    A booking fits when, on every day of it, the seats in use + 1 <= this limit.
    """
    _check_capacity(capacity)
    if not self_service_allowed(rs, decided_on):
        return 0
    if first_of_month(day) > first_of_month(start):
        return capacity
    return capacity - seats_still_held(capacity, caseworker_seats, day, decided_on, rs)


def pool_allowed(pool: Pool, channel: Channel, rs: RuleSet, on: date | None = None) -> bool:
    """May this channel assign a seat of this pool? basis/special: caseworkers only.

    `system` and `import` act on a caseworker's decision (allocation runs, legacy history),
    so they may too; the general pool is open to every channel.
    """
    if pool not in POOLS:
        raise RuleError(f"unknown pool {pool!r}; known: {', '.join(POOLS)}")
    if channel not in CHANNELS:
        raise RuleError(f"unknown channel {channel!r}; known: {', '.join(CHANNELS)}")
    if pool in _rules(rs, on).caseworker_only_pools:
        return channel != "self_service"
    return True


def basis_seats_min_per_institution(rs: RuleSet, on: date | None = None) -> int | None:
    """The least number of basis seats a basis institution has (6 in Copenhagen's model)."""
    return _rules(rs, on).basis_seats_min_per_institution
