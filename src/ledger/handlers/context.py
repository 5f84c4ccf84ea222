"""What every handler shares: the context of a command (who, through which channel, on which day,
under which rule set) and the checks and derived ids several handlers use."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable
from uuid import UUID, uuid5

import rules
from ledger import commands as c
from ledger.aggregates import NS, Household, RuleBook
from ledger.errors import Conflict, InvalidCommand, NoRuleSetInForce
from ledger.registry import PersonRegistry
from ledger.unit_of_work import UnitOfWork

ONE_DAY = timedelta(days=1)
# How far back capacity is checked: seats held only before it are forgotten by the
# institution (flat snapshots), so no booking, cancellation or capacity change may
# take effect before it.
CHECK_HORIZON = timedelta(days=3 * 366)


def not_erased(person) -> None:
    if person.erased:
        kind = "household" if isinstance(person, Household) else "child"
        raise Conflict(f"{kind} {person.id} was erased; register the family again if it returns")


def within_horizon(day: date, ctx: "Context", what: str) -> None:
    if day < ctx.today - CHECK_HORIZON:
        raise InvalidCommand(
            f"{what} {day} is more than three years back ({ctx.today - CHECK_HORIZON}); capacity "
            "is no longer checked that far back"
        )


@dataclass
class Context:
    """Who asks, through which channel, and on which day (recorded time)."""

    actor: str
    channel: str
    today: date
    registry: PersonRegistry | None = None
    before_commit: list[Callable[[], None]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # A re-run after a conflicting save: derived ids are then checked against the store (one
    # read a booking does not pay on its first try).
    retried: bool = False
    _rule_set: Any = None

    def rule_set(self, uow: UnitOfWork, required: bool = True) -> Any:
        if self._rule_set is None:
            book = uow.find(RuleBook, RuleBook.create_id())
            rule_set_id = book.in_force(self.today) if book else None
            if rule_set_id is None:
                if not required:
                    return None
                raise NoRuleSetInForce(
                    f"no rule set is in force on {self.today}; activate one first "
                    "(plads rules activate NAME@VERSION --from DATE)"
                )
            self._rule_set = rules.load_rule_set(rule_set_id)
        return self._rule_set

    def meta(
        self, uow: UnitOfWork, effective_date: date | None, reason: str | None = None
    ) -> dict[str, Any]:
        rule_set = self.rule_set(uow, required=False)
        return {
            "actor": self.actor,
            "channel": self.channel,
            "reason": reason,
            "rule_set": rule_set.id if rule_set else None,
            "effective_date": effective_date or self.today,
        }


def derived_id(*parts: object) -> UUID:
    """An id derived from what the command acts on (never random), so the same history gives
    the same ids: `plads simulate --seed` writes the same ledger event for event."""
    return uuid5(NS, "/".join(str(p) for p in parts))


def new_booking_id(uow: UnitOfWork, ctx: Context, *parts: object) -> UUID:
    """A derived booking id; should a caller have chosen it for something else, the next one.

    Only a re-run looks in the store: a first try that meets a caller's id fails to save as a
    conflict and is re-run (a uuid5 of a child's id and version is not guessed by chance).
    """
    n = 0
    while True:
        booking_id = derived_id("booking", *parts, *((n,) if n else ()))
        if booking_id not in uow.seen and (not ctx.retried or _unused(uow, booking_id)):
            return booking_id
        n += 1


def _unused(uow: UnitOfWork, aggregate_id: UUID) -> bool:
    try:
        uow.ensure_unused(aggregate_id, "booking")
    except Conflict:
        return False
    return True


def rule_error(e: rules.RuleError) -> InvalidCommand:
    return InvalidCommand(str(e))


def coarse(location: c.Location | None) -> dict[str, float] | None:
    """A home's position to about a kilometre (two decimals: ~1.1 km north-south, ~0.6 km
    east-west here): enough for the 4 km rule, too coarse to be an address — events outlive
    an erasure, so they must not carry one."""
    if location is None:
        return None
    return {"lat": round(location.lat, 2), "lon": round(location.lon, 2)}


def keep_identifiers(ctx: Context, person_id: UUID, identifiers: c.PersonIdentifiers) -> None:
    data = identifiers.model_dump(exclude_none=True)
    if data:
        registry = ctx.registry
        # Stored before the event is saved: if the save fails we keep an unused
        # registry row (no identifier is ever lost); a retry overwrites it.
        ctx.before_commit.append(lambda: registry.put(person_id, data))
