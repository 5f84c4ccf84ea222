"""The base of every aggregate, the rule book, and what they share."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any
from uuid import NAMESPACE_URL, UUID, uuid5

from eventsourcing.domain import Aggregate

from ledger import events
from ledger.clock import recorded_now
from ledger.events import Meta, recorded_as

# Every stored event and snapshot names its class by module and name ("ledger.aggregates:Child.
# ChildRegistered"). The aggregates live in the modules of this package, but keep the package's
# name as their module, so the log's topics stay what they have always been.
TOPIC_MODULE = "ledger.aggregates"
NS = uuid5(NAMESPACE_URL, "https://plads.invalid/ledger")
ONE_DAY = timedelta(days=1)


class LedgerAggregate(Aggregate):
    __module__ = TOPIC_MODULE  # the module its stored topics name

    class Event(Aggregate.Event):
        __module__ = TOPIC_MODULE  # the module its stored topics name

        @staticmethod
        def create_timestamp() -> datetime:
            return recorded_now()

    class Created(Event, Aggregate.Created):
        __module__ = TOPIC_MODULE  # the module its stored topics name


class RuleBook(LedgerAggregate):
    """Which rule set is in force from which date (one per ledger)."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NS, "rulebook")

    @recorded_as(events.RuleBook.Opened)
    def __init__(self) -> None:
        self.activations: list[list[Any]] = []  # [effective_from, rule_set_id], sorted

    @recorded_as(events.RuleBook.RuleSetActivated)
    def activate(self, rule_set_id: str, effective_from: date, meta: Meta) -> None:
        self.activations = sorted(
            [a for a in self.activations if a[0] != effective_from]
            + [[effective_from, rule_set_id]],
            key=lambda a: a[0],
        )

    def in_force(self, day: date) -> str | None:
        current = None
        for effective_from, rule_set_id in self.activations:
            if effective_from <= day:
                current = rule_set_id
        return current


def dated_upsert(entries: list[list[Any]], effective_from: date, value: Any) -> list[list[Any]]:
    kept = [e for e in entries if e[0] != effective_from]
    kept.append([effective_from, value])
    return sorted(kept, key=lambda e: e[0])


def dated_lookup(entries: list[list[Any]], day: date) -> Any:
    current = None
    for effective_from, value in entries:
        if effective_from <= day:
            current = value
    return current
