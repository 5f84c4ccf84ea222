"""Running one command for a request: the caller's actor and channel go into every event, an
`Idempotency-Key` makes a retry get the first answer (kept durably in the ledger; the same key
with another body is 409), and the answer carries the log position of the command's events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from uuid import UUID

from fastapi import Response

from api.auth import Principal
from api.views import Views
from ledger import InvalidCommand, Ledger
from ledger import commands as c
from ledger.text import looks_like_cpr


@dataclass(frozen=True)
class Runner:
    ledger: Ledger
    views: Views
    response: Response
    key: str | None

    def __call__(self, command: c.Command, principal: Principal) -> dict[str, Any]:
        if self.key is not None:
            check_key(self.key)
        outcome = self.ledger.execute(command, actor=principal.actor, channel=principal.channel,
                                      idempotency_key=self.key)
        if outcome.replayed:
            self.response.headers["Idempotent-Replayed"] = "true"
        self.views.wrote(outcome.position)
        return {**outcome.result, "position": outcome.position}


def check_key(key: str) -> None:
    """The key lands in the ledger (as a digest) and in logs of retries: no CPR number in it. A UUID
    is taken as it is (its hex digits can happen to look like one)."""
    if not key.strip():
        raise InvalidCommand("Idempotency-Key is empty")
    try:
        UUID(key)
        return
    except ValueError:
        pass
    if looks_like_cpr(key):
        raise InvalidCommand("Idempotency-Key looks like a CPR number; use a random key (a UUID)")
