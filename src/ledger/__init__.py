"""The write side of plads: events, aggregates, commands and the Ledger application."""

from ledger.application import Bulk, Ledger, Outcome
from ledger.clock import SimulatedClock, SystemClock
from ledger.errors import (
    AlreadyIssued,
    ChildAlreadyBooked,
    Conflict,
    IdempotencyKeyReused,
    InvalidCommand,
    LedgerError,
    NoRuleSetInForce,
    NoSeat,
    NotFound,
    StaleState,
    StoreUnavailable,
)

__all__ = [
    "AlreadyIssued", "Bulk", "ChildAlreadyBooked", "Conflict", "IdempotencyKeyReused",
    "InvalidCommand", "Ledger", "LedgerError", "NoRuleSetInForce", "NoSeat", "NotFound",
    "Outcome", "SimulatedClock", "StaleState", "StoreUnavailable", "SystemClock",
]
