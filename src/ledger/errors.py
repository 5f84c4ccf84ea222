"""Errors a user of the ledger can cause. Each carries a readable message.

The API maps them to problem+json statuses (see `status`); the CLI prints the
message on one line and exits non-zero.
"""

import re


class LedgerError(Exception):
    """Base of every domain error."""

    status = 400
    title = "Bad request"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class InvalidCommand(LedgerError):
    """The command breaks a rule whatever the ledger's state (bad dates, too many wishes)."""

    status = 422
    title = "Invalid command"


class NotFound(LedgerError):
    status = 404
    title = "Not found"


class BeyondBillingHorizon(NotFound):
    """A month the billing view does not charge yet (after the month after the latest recorded one):
    its statement does not exist yet, which is not the same as a month with nothing to charge."""

    title = "Beyond the billing horizon"


class Conflict(LedgerError):
    """The command contradicts the ledger's current state."""

    status = 409
    title = "Conflict"


class NoSeat(Conflict):
    """No free seat on every day of the requested booking (invariant 1)."""

    title = "No free seat"


class ChildAlreadyBooked(Conflict):
    """The child already holds a booking on a day of the requested one (invariant 2)."""

    title = "Child already booked"


class StaleState(Conflict):
    """Someone else changed the same aggregate at the same time; retries were used up."""

    title = "Concurrent change"


class IdempotencyKeyReused(Conflict):
    title = "Idempotency key reused with another request"


class AlreadyIssued(Conflict):
    title = "Statement already issued"


class NoRuleSetInForce(Conflict):
    title = "No rule set in force"


class StoreUnavailable(LedgerError):
    """The database cannot be reached; nothing was recorded."""

    status = 503
    title = "Store unavailable"

    def __init__(self, detail: str) -> None:
        super().__init__(_without_addresses(detail))


# What a driver's message says of where the database is (host, address, port, socket, URL):
# for the operator's logs, not for every client of the API.
_ADDRESSES = (
    (re.compile(r'server at "[^"]*"(?: \([^)]*\))?, port \d+'), "server"),
    (re.compile(r'(?:on )?socket "[^"]*"'), "on its socket"),
    (re.compile(r'host name "[^"]*"'), "host name"),
    (re.compile(r"\b[a-z][a-z0-9+.-]*://\S+", re.IGNORECASE), "<database url>"),
    (re.compile(r"\b(host|hostaddr|port|user|dbname|password)=\S+"), r"\1=…"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d+)?\b"), "<address>"),
    (re.compile(r"\bport \d+"), "its port"),
)


def _without_addresses(detail: str) -> str:
    for pattern, replacement in _ADDRESSES:
        detail = pattern.sub(replacement, detail)
    return " ".join(detail.split())
