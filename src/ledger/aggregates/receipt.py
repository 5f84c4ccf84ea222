"""Idempotency: the receipt of a command sent with a key, accepted or refused (invariant 5)."""

from __future__ import annotations

import hashlib
from typing import Any
from uuid import UUID, uuid5

from ledger import events
from ledger.aggregates.base import NS, TOPIC_MODULE, LedgerAggregate
from ledger.events import Meta, recorded_as


class CommandReceipt(LedgerAggregate):
    """The first outcome of a command sent with an idempotency key.

    Saved in the command's own transaction, so a retry either finds the receipt
    (and gets the same outcome) or the command never happened.
    """
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @staticmethod
    def create_id(key: str, **_: Any) -> UUID:
        return uuid5(NS, f"idempotency/{key}")

    @recorded_as(events.CommandReceipt.CommandAccepted)
    def __init__(
        self, key: str, command: str, request_hash: str, outcome: dict[str, Any], meta: Meta
    ) -> None:
        self.key = key
        self.command = command
        self.request_hash = request_hash
        self.outcome = outcome


class RefusalReceipt(CommandReceipt):
    """A command sent with an idempotency key and refused: a retry is refused the same way,
    even if the ledger would now accept it (same key, same outcome)."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @recorded_as(events.RefusalReceipt.CommandRefused)
    def __init__(  # noqa: D107
        self, key: str, command: str, request_hash: str, outcome: dict[str, Any], meta: Meta
    ) -> None:
        self.key = key
        self.command = command
        self.request_hash = request_hash
        self.outcome = outcome


def key_digest(key: str) -> str:
    """What a receipt keeps of its idempotency key (and its id derives from): a digest, never the
    key a client chose, which could hold anything."""
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def receipt_ids(key: str) -> tuple[UUID, UUID]:
    """Where the receipt of `key` may be: under the key's digest, or (saved before keys were
    digested) under the key itself."""
    return CommandReceipt.create_id(key=key_digest(key)), CommandReceipt.create_id(key=key)
