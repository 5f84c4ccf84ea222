"""Billing: issuing a month's statements, opening a billing month."""

from __future__ import annotations

from datetime import date

import rules
from ledger import commands as c
from ledger.aggregates import BillingCalendar, BillingRun, Household, Statement, billing_run_id, statement_id
from ledger.errors import AlreadyIssued, InvalidCommand
from ledger.handlers.context import Context
from ledger.handlers.households import stale_friplads
from ledger.unit_of_work import UnitOfWork

# Statement lines the billing view marks as not billable (projections.billing.due.marker).
UNBILLABLE_LINES = ("gap", "provisional")


def issue_statements(uow: UnitOfWork, cmd: c.IssueStatements, ctx: Context) -> dict:
    if not cmd.statements:
        raise InvalidCommand(f"no statements to issue for {cmd.month}; an empty run would lock the month")
    if uow.find(BillingRun, billing_run_id(cmd.month)):
        raise AlreadyIssued(f"the statements for {cmd.month} were already issued")
    # A run names every household of the city: read them and their statements together (one round
    # trip on PostgreSQL, not two per household).
    uow.prefetch([s.household_id for s in cmd.statements]
                 + [statement_id(str(s.household_id), cmd.month) for s in cmd.statements])
    seen, first_day = set(), date.fromisoformat(cmd.month + "-01")
    for s in cmd.statements:
        if s.household_id in seen:
            raise InvalidCommand(f"household {s.household_id} has two statements for {cmd.month}")
        seen.add(s.household_id)
        household = uow.get(Household, s.household_id)
        unpublished = next((line for line in s.lines if line.kind in UNBILLABLE_LINES), None)
        if unpublished is not None:
            # A month without its year's published numbers (a gap, or after the last published
            # year) is never issued: the rule data needs that year first (a new rule-set version).
            raise InvalidCommand(f"{cmd.month} cannot be issued for household {s.household_id}: "
                                 f"{unpublished.detail or unpublished.kind}")
        stale = stale_friplads(household, first_day, ctx.rule_set(uow))
        if stale is not None:
            # Nor with a share decided on another year's scale (never another year's numbers).
            raise InvalidCommand(f"{cmd.month} cannot be issued for household {s.household_id}: {stale}")
        if uow.find(Statement, statement_id(str(s.household_id), cmd.month)):
            raise AlreadyIssued(f"household {s.household_id} already has a statement for {cmd.month}")
    meta = ctx.meta(uow, first_day)
    total = 0
    for s in cmd.statements:
        lines = [line.model_dump(mode="json") for line in s.lines]
        uow.add(
            Statement(
                household_id=str(s.household_id), month=cmd.month, lines=lines, total_ore=s.total_ore, meta=meta
            )
        )
        total += s.total_ore
    uow.add(BillingRun(month=cmd.month, statements=len(cmd.statements), total_ore=total, meta=meta))
    skipped = {"skipped": [s.model_dump(mode="json") for s in cmd.skipped]} if cmd.skipped else {}
    return {"month": cmd.month, "statements": len(cmd.statements), "total_ore": total, **skipped}


def open_billing_month(uow: UnitOfWork, cmd: c.OpenBillingMonth, ctx: Context) -> dict:
    """The horizon follows the clock of the command that asks: up to the month after today's."""
    today = f"{ctx.today:%Y-%m}"
    horizon = f"{rules.add_months(ctx.today.replace(day=1), 1):%Y-%m}"
    if cmd.month > horizon:
        raise InvalidCommand(f"{cmd.month} is not yet within the billing horizon: on {ctx.today} it reaches {horizon}")
    calendar = uow.find(BillingCalendar, BillingCalendar.create_id())
    if calendar is None:
        calendar = BillingCalendar()
        uow.add(calendar)
    if today not in calendar.opened:  # one event per calendar month is enough: its recorded time is the clock
        calendar.open_month(month=today, meta=ctx.meta(uow, None))
    return {"month": cmd.month, "horizon": horizon}
