"""Idempotent commands (SPEC §4, invariant 5): a command's receipt under its idempotency key, so a
retry answers the first outcome — an acceptance with its log position, or the same refusal."""

from __future__ import annotations

import logging
from eventsourcing.persistence import IntegrityError, PersistenceError

import rules
from ledger import commands as c
from ledger import errors
from ledger.aggregates import CommandReceipt, RefusalReceipt, key_digest, receipt_ids
from ledger.clock import using_clock
from ledger.dispatch import Outcome
from ledger.errors import IdempotencyKeyReused, InvalidCommand, LedgerError, StaleState, StoreUnavailable
from ledger.handlers import Context
from ledger.unit_of_work import UnitOfWork

logger = logging.getLogger("plads.ledger")


class Receipts:
    """The Ledger's idempotency: reads and keeps receipts through the Ledger's own store."""

    def _earlier_outcome(self, uow: UnitOfWork, key: str, request_hash: str) -> Outcome | None:
        receipt = find_receipt(uow, key)
        if receipt is None:
            return None
        if receipt.request_hash != request_hash:
            raise IdempotencyKeyReused(
                f"idempotency key {key!r} was first used for another request ({receipt.command})"
            )
        if isinstance(receipt, RefusalReceipt):
            refused = receipt.outcome["refused"]
            error = getattr(errors, refused["error"], None)
            if not (isinstance(error, type) and issubclass(error, LedgerError)):
                error = InvalidCommand
            raise error(refused["detail"])
        return Outcome(receipt.outcome, self._position_of(receipt.id), replayed=True)

    def _remember_refusal(self, key: str, request_hash: str, command: c.Command, actor: str, channel: str,
                          refusal: LedgerError) -> None:
        """Keep a refusal under its idempotency key, so a retry gets the same answer.

        Transient refusals (the store down, too much contention) are not outcomes of the
        command and are not kept; a receipt saved meanwhile by a racing retry wins."""
        if isinstance(refusal, (StaleState, StoreUnavailable, IdempotencyKeyReused)):
            return
        uow = UnitOfWork(self)
        ctx = Context(actor=actor, channel=channel, today=self._today(), registry=self.registry)
        try:
            with using_clock(self.clock):
                if find_receipt(uow, key) is not None:
                    return
                uow.add(RefusalReceipt(
                    key=key_digest(key), command=type(command).__name__, request_hash=request_hash,
                    outcome={"refused": {"error": type(refusal).__name__, "detail": refusal.detail}},
                    meta=ctx.meta(uow, None),
                ))
                self.save(*uow.changed())
        except (IntegrityError, LedgerError, rules.RuleError):
            pass
        except PersistenceError:
            logger.warning("could not keep the refusal of a %s under its idempotency key; a retry runs the "
                           "command again", type(command).__name__)


def find_receipt(uow: UnitOfWork, key: str) -> CommandReceipt | None:
    for receipt_id in receipt_ids(key):
        receipt = uow.find(CommandReceipt, receipt_id)
        if receipt is not None:
            return receipt
    return None
