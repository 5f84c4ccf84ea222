"""The bulk path (SPEC §4): many commands per transaction, with the same handlers and validation
as one command's own (history import, the simulator)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable

from eventsourcing.persistence import IntegrityError, PersistenceError

import rules
from ledger import commands as c
from ledger.clock import using_clock
from ledger.dispatch import check_channel, handler_for, named_ids
from ledger.errors import InvalidCommand, LedgerError, StaleState, StoreUnavailable
from ledger.handlers import Context
from ledger.unit_of_work import UnitOfWork

if TYPE_CHECKING:
    from ledger.application import Ledger


@dataclass
class Bulk:
    ledger: "Ledger"
    actor: str
    channel: str
    batch_size: int
    uow: UnitOfWork = field(init=False)
    pending: int = 0
    accepted: int = 0
    rejected: list[tuple[int, c.Command, LedgerError]] = field(default_factory=list)
    _count: int = 0
    _before: list[Callable[[], None]] = field(default_factory=list)
    _after: list[Callable[[], None]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.uow = UnitOfWork(self.ledger)

    def execute(self, command: c.Command, *, actor: str | None = None,
                channel: str | None = None) -> dict[str, Any] | None:
        """Run a command into the current batch; None (and a rejection) if refused.

        `actor` and `channel` default to the batch's; a simulation mixes families'
        self-service and caseworkers' commands in one batch."""
        handler = handler_for(command)
        if channel is not None:
            check_channel(channel)
        self._count += 1
        ctx = Context(actor or self.actor, channel or self.channel, self.ledger._today(),  # noqa: SLF001
                      self.ledger.registry)
        self.uow.begin()
        try:
            with using_clock(self.ledger.clock):
                try:
                    self.uow.prefetch(named_ids(command, None))
                    result = handler(self.uow, command, ctx)
                except rules.RuleError as e:
                    raise InvalidCommand(str(e)) from None
        except LedgerError as e:
            if not self.uow.unchanged_since_begin():
                raise RuntimeError(f"{type(command).__name__} changed state before refusing") from e
            self.rejected.append((self._count, command, e))
            return None
        self._before.extend(ctx.before_commit)
        self._after.extend(ctx.after_commit)
        self.pending += 1
        self.accepted += 1
        if self.pending >= self.batch_size:
            self.flush()
        return result

    def flush(self) -> int | None:
        if not self.pending:
            return None
        self.ledger.check()
        for step in self._before:
            step()
        changed = self.uow.changed()
        try:
            recordings = self.ledger.save(*changed)
        except IntegrityError as e:
            raise StaleState(
                "another writer changed the ledger during a bulk batch; nothing of this batch was saved"
            ) from e
        except PersistenceError as e:
            self.ledger._store_down = True  # noqa: SLF001
            raise StoreUnavailable(f"the ledger's database is unavailable: {e}") from None
        if self.ledger.private:
            # The cache stays current without asking the store (see Ledger): it takes what was
            # saved, and the next command reads a copy of it, as a command does.
            for aggregate in changed:
                self.ledger._remember(aggregate)  # noqa: SLF001
                del self.uow.seen[aggregate.id]
        for step in self._after:
            step()
        self._before.clear()
        self._after.clear()
        self.pending = 0
        if len(self.uow.seen) > 20_000:
            # Keep the long-lived aggregates; drop children and bookings already saved.
            self.uow.seen = {
                k: a for k, a in self.uow.seen.items() if type(a).__name__ in ("Institution", "RuleBook", "Household")
            }
        self.ledger._notify_after_commit(recordings)  # noqa: SLF001
        return max((r.notification.id for r in recordings), default=None)
