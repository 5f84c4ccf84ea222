"""Billing: a month's run, the calendar of months asked to bill, a household's statement (invariant 4)."""

from __future__ import annotations

from typing import Any
from uuid import UUID, uuid5

from ledger import events
from ledger.aggregates.base import NS, TOPIC_MODULE, LedgerAggregate
from ledger.events import Meta, recorded_as


class BillingRun(LedgerAggregate):
    """The issue of one month's statements; one per month, never changed."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @staticmethod
    def create_id(month: str, **_: Any) -> UUID:
        return uuid5(NS, f"billing-run/{month}")

    @recorded_as(events.BillingRun.BillingRunIssued)
    def __init__(self, month: str, statements: int, total_ore: int, meta: Meta) -> None:
        self.month = month
        self.statements = statements
        self.total_ore = total_ore


class BillingCalendar(LedgerAggregate):
    """The calendar months in which a command asked to bill (one per ledger).

    The billing views charge months up to the month after the latest recorded time they have
    seen; a MonthOpened event records the asking command's clock, so a quiet ledger (no other
    event since) still reaches the month it bills, and a rebuild reaches it too."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @staticmethod
    def create_id() -> UUID:
        return uuid5(NS, "billing-calendar")

    @recorded_as(events.BillingCalendar.Opened)
    def __init__(self) -> None:
        self.opened: list[str] = []

    @recorded_as(events.BillingCalendar.MonthOpened)
    def open_month(self, month: str, meta: Meta) -> None:
        self.opened.append(month)


class Statement(LedgerAggregate):
    """A household's statement for a month, immutable once issued (invariant 4)."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @staticmethod
    def create_id(household_id: str, month: str, **_: Any) -> UUID:
        return uuid5(NS, f"statement/{household_id}/{month}")

    @recorded_as(events.Statement.StatementIssued)
    def __init__(
        self, household_id: str, month: str, lines: list[dict[str, Any]], total_ore: int, meta: Meta
    ) -> None:
        self.household_id = household_id
        self.month = month
        self.lines = lines
        self.total_ore = total_ore


def statement_id(household_id: str, month: str) -> UUID:
    return Statement.create_id(household_id=household_id, month=month)


def billing_run_id(month: str) -> UUID:
    return BillingRun.create_id(month=month)
