"""Unit of work: the aggregates one command (or one bulk batch) reads and changes.

Everything it touched is saved by the application in one transaction, so the
versions read are the optimistic locks for the whole command (invariant 5).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, TypeVar
from uuid import UUID

from ledger.aggregates import LedgerAggregate
from ledger.errors import Conflict, NotFound

if TYPE_CHECKING:
    from ledger.application import Ledger

A = TypeVar("A", bound=LedgerAggregate)

_WHAT = {
    "Institution": "institution",
    "Household": "household",
    "Child": "child",
    "Booking": "booking",
    "Statement": "statement",
    "BillingRun": "billing run",
    "BillingCalendar": "billing calendar",
    "RuleBook": "rule book",
    "CommandReceipt": "command receipt",
}


class UnitOfWork:
    def __init__(self, app: "Ledger") -> None:
        self.app = app
        self.seen: dict[UUID, LedgerAggregate] = {}
        self._missing: set[UUID] = set()
        # Pending-event counts of the aggregates the current command touched, taken at
        # first touch: a refused command must leave them as they were (see unchanged_since_begin).
        self._touched: dict[UUID, int] = {}

    def begin(self) -> None:
        """Start a new command within this unit of work."""
        self._touched = {}

    def _touch(self, agg: LedgerAggregate) -> None:
        if agg.id not in self._touched:
            self._touched[agg.id] = len(agg._pending_events)  # noqa: SLF001

    def unchanged_since_begin(self) -> bool:
        return all(len(self.seen[k]._pending_events) == n  # noqa: SLF001
                   for k, n in self._touched.items() if k in self.seen)

    def get(self, cls: type[A], aggregate_id: UUID | str) -> A:
        found = self.find(cls, aggregate_id)
        if found is None:
            raise NotFound(f"no {describe(cls)} with id {aggregate_id}")
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
            self.prefetch([key])
            if key in self._missing:
                return None
            agg = self.seen[key]
        if not isinstance(agg, cls):
            return None
        self._touch(agg)
        return agg

    def prefetch(self, ids: Iterable[UUID | str]) -> None:
        """Read these aggregates now, together (one round trip on PostgreSQL), for the
        command to find later; ids that are not ids, or of no aggregate, are fine."""
        keys = [k for k in (i if isinstance(i, UUID) else _uuid(i) for i in ids)
                if k is not None and k not in self.seen and k not in self._missing]
        if not keys:
            return
        found = self.app.load(keys)
        self.seen.update(found)
        self._missing.update(k for k in keys if k not in found)

    def ensure_unused(self, aggregate_id: UUID | str, what: str) -> None:
        """A caller-chosen id (imports keep theirs) must not name any aggregate yet.

        `find` answers per type, so an institution id given to a new child would
        otherwise replace the institution in a batch, or fail as a stale write.
        """
        key = aggregate_id if isinstance(aggregate_id, UUID) else _uuid(aggregate_id)
        if key is None or key in self._missing:
            return
        if key not in self.seen:
            self.prefetch([key])
            if key in self._missing:
                return
        existing = self.seen[key]
        kind = _WHAT.get(type(existing).__name__, type(existing).__name__)
        raise Conflict(f"{what} id {aggregate_id} is already in use (a {kind} is registered under it)")

    def add(self, aggregate: LedgerAggregate) -> None:
        self.seen[aggregate.id] = aggregate
        self._missing.discard(aggregate.id)
        self._touched.setdefault(aggregate.id, 0)

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


def describe(cls: type) -> str:
    """An aggregate class in words, as a "not found" message names it."""
    return _WHAT.get(cls.__name__, cls.__name__)
