"""Unit of work: the aggregates one command (or one bulk batch) reads and changes.

Everything it touched is saved by the application in one transaction, so the
versions read are the optimistic locks for the whole command (invariant 5).
"""

from __future__ import annotations

from typing import TypeVar
from uuid import UUID

from eventsourcing.application import AggregateNotFoundError, Application

from ledger.aggregates import LedgerAggregate
from ledger.errors import NotFound

A = TypeVar("A", bound=LedgerAggregate)

_WHAT = {
    "Institution": "institution",
    "Household": "household",
    "Child": "child",
    "Booking": "booking",
    "Statement": "statement",
    "BillingRun": "billing run",
    "RuleBook": "rule book",
    "CommandReceipt": "command receipt",
}


class UnitOfWork:
    def __init__(self, app: Application) -> None:
        self.app = app
        self.seen: dict[UUID, LedgerAggregate] = {}
        self._missing: set[UUID] = set()

    def get(self, cls: type[A], aggregate_id: UUID | str) -> A:
        found = self.find(cls, aggregate_id)
        if found is None:
            raise NotFound(f"no {_WHAT.get(cls.__name__, cls.__name__)} with id {aggregate_id}")
        return found

    def find(self, cls: type[A], aggregate_id: UUID | str) -> A | None:
        key = aggregate_id if isinstance(aggregate_id, UUID) else _uuid(aggregate_id)
        if key is None:
            return None
        if key in self.seen:
            agg = self.seen[key]
        elif key in self._missing:
            return None
        else:
            try:
                agg = self.app.repository.get(key)
            except AggregateNotFoundError:
                self._missing.add(key)
                return None
            self.seen[key] = agg
        return agg if isinstance(agg, cls) else None

    def add(self, aggregate: LedgerAggregate) -> None:
        self.seen[aggregate.id] = aggregate
        self._missing.discard(aggregate.id)

    def pending_counts(self) -> dict[UUID, int]:
        """Pending events per changed aggregate (aggregates only read are left out)."""
        return {k: n for k, a in self.seen.items() if (n := len(a._pending_events))}  # noqa: SLF001

    def changed(self) -> list[LedgerAggregate]:
        return [a for a in self.seen.values() if a._pending_events]  # noqa: SLF001

    def forget_unchanged(self) -> None:
        """Drop what a batch only read, so a long bulk run does not grow without bound."""
        self.seen = {k: a for k, a in self.seen.items() if a._pending_events}  # noqa: SLF001
        self._missing.clear()


def _uuid(value: str) -> UUID | None:
    try:
        return UUID(str(value))
    except ValueError:
        return None
