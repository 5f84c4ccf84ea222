"""What a command names, who handles it and on which channel: shared by one command's transaction
(Ledger.execute) and a bulk batch (Bulk)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any
from uuid import UUID

from pydantic import BaseModel

from ledger import commands as c
from ledger.aggregates import RuleBook, receipt_ids
from ledger.errors import InvalidCommand
from ledger.handlers import HANDLERS

CHANNELS = ("self_service", "caseworker", "system", "import")


@dataclass
class Outcome:
    """What a command did: its result and the log position of its last event."""

    result: dict[str, Any]
    position: int | None = None
    replayed: bool = False  # True when an idempotent retry returned the first outcome


def handler_for(command: c.Command):
    try:
        return HANDLERS[type(command)]
    except KeyError:
        raise InvalidCommand(f"unknown command {type(command).__name__}") from None


def named_ids(command: c.Command, idempotency_key: str | None) -> list[Any]:
    """The aggregates a command names (its *_id fields), the rule book every command
    consults, and the receipt of its idempotency key: what it will read first."""
    ids: list[Any] = [RuleBook.create_id()]
    if idempotency_key:
        ids.extend(receipt_ids(idempotency_key))
    for name, value in command:
        if name.endswith("_id") and isinstance(value, (str, UUID)):
            ids.append(value)
    return ids


def check_channel(channel: str) -> None:
    if channel not in CHANNELS:
        raise InvalidCommand(f"unknown channel {channel!r}; one of {', '.join(CHANNELS)}")


def hash_request(command: BaseModel, actor: str, channel: str) -> str:
    body = json.dumps(
        {"command": type(command).__name__, "body": command.model_dump(mode="json"), "actor": actor,
         "channel": channel},
        sort_keys=True,
    )
    return hashlib.sha256(body.encode()).hexdigest()
