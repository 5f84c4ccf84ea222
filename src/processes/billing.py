"""Issuing a month's statements: the billing run.

A process, not a view: it brings the month within the billing horizon (`OpenBillingMonth`, by
the clock of whoever bills), reads the billing view caught up with every command so far
(`projections.queries.draft_statements`, docs/views-billing.md) and issues what it shows
(`IssueStatements`). A household whose statement breaks a statement's limits is skipped and named,
so one household never stops the month's run for everyone.

The API (`POST /v1/billing/{month}/issue`), the CLI (`plads billing issue MONTH`) and the
simulator (every simulated month) issue through `issue_month`; each brings its own views:

    issue_month(ledger, "2025-03", views)   # views(position) -> a context of a ViewStore at >= position

`caught_up(projector)` makes such views of a projector the caller runs (the CLI: the live views in
the ledger's database); `BillingViews` is the billing view alone, kept by a projector of its own in
a scratch file and caught up on each run (the simulator, `plads demo --small`).
"""

from __future__ import annotations

import os
import tempfile
from contextlib import AbstractContextManager, contextmanager
from typing import Any, Callable, Iterator

from pydantic import ValidationError

from ledger import AlreadyIssued, InvalidCommand, Ledger
from ledger import commands as c
from projections import Billing
from projections import queries as q
from projections.projector import Projector
from projections.stores import SQLiteViewStore, ViewStore

# The views a run reads, at or beyond a log position (the API's `Views.current`, or `BillingViews`).
ViewsAt = Callable[[int | None], AbstractContextManager[ViewStore]]
Send = Callable[[c.Command], dict[str, Any]]


def issue_month(ledger: Ledger, month: str, views: ViewsAt, *, actor: str = "system", channel: str = "system",
                send: Send | None = None) -> dict[str, Any]:
    """Issue every household's statement for `month` as the billing view has computed it; returns
    the ledger's answer (`month`, `statements`, `total_ore`, `skipped` when some were left out).

    `send` runs the IssueStatements command (the API's, with the request's idempotency key); by
    default `ledger.execute` with `actor` and `channel`. AlreadyIssued when the month has a run;
    InvalidCommand when there is nothing to bill, or the month cannot be priced (a gap, a
    provisional year) or lies beyond the horizon."""
    # The horizon follows this clock, not the latest recorded event (a quiet ledger bills on).
    ledger.execute(c.OpenBillingMonth(month=month), actor=actor, channel=channel)
    with views(ledger.max_position() or None) as store:
        command = billing_run(store, month)
    if send is not None:
        return send(command)
    return ledger.execute(command, actor=actor, channel=channel).result


def billing_run(store: ViewStore, month: str) -> c.IssueStatements:
    """The month's IssueStatements from a billing view that is caught up (see `issue_month`)."""
    drafts = q.draft_statements(store, month)
    if q.month_issued(store, month):
        raise AlreadyIssued(f"the statements for {month} are already issued; later changes become corrections "
                            "on a later month")
    statements, skipped = statements_of(drafts)
    if not statements:
        named = "; ".join(f"{s.household_id}: {s.reason}" for s in skipped[:3])
        raise InvalidCommand(f"there is nothing to bill for {month} (no household holds a place then, "
                             "or the month is not yet within the billing horizon)" + (f"; {named}" if named else ""))
    return c.IssueStatements(month=month, statements=statements, skipped=skipped)


def statements_of(drafts: list[dict[str, Any]]) -> tuple[list[c.HouseholdStatement], list[c.SkippedStatement]]:
    """The drafts as statements; a household whose statement breaks a statement's limits is skipped
    and named (its amounts come back as corrections once its adjustments are corrected)."""
    statements, skipped = [], []
    for d in drafts:
        try:
            statements.append(c.HouseholdStatement(
                household_id=d["household_id"], total_ore=d["total_ore"],
                lines=[c.StatementLine(kind=line["kind"], amount_ore=line["amount_ore"], child_id=line["child_id"],
                                       booking_id=line["booking_id"], month=line["corrects_month"],
                                       detail=(line["detail"] or "")[:300]) for line in d["lines"]]))
        except ValidationError as e:
            first = e.errors()[0]
            where = ".".join(str(x) for x in first["loc"]) or "statement"
            skipped.append(c.SkippedStatement(household_id=d["household_id"], reason=(
                f"its statement cannot be issued ({where}: {first['msg']}, total {d['total_ore']} øre); "
                "correct the household's adjustments")[:300]))
    return statements, skipped


def caught_up(projector: Projector) -> ViewsAt:
    """The views `projector` keeps, caught up with the whole log on each read (for a caller that runs
    its own projector rather than waiting for a follower)."""

    @contextmanager
    def views(_position: int | None = None) -> Iterator[ViewStore]:
        projector.catch_up()
        yield projector.store

    return views


class BillingViews:
    """The billing view alone, folded by a projector of its own into a scratch SQLite file (its rows
    grow with the households' months: a file, not memory), caught up whenever a run reads it.

    For callers without a follower: the simulator keeps one for its whole run, so each month folds
    only that month's events. Close it (or use it as a context manager): the file goes with it."""

    def __init__(self, ledger: Ledger, directory: str | None = None) -> None:
        handle, self.path = tempfile.mkstemp(prefix="plads-billing-", suffix=".db", dir=directory)
        os.close(handle)
        self.projector = Projector(ledger, [Billing()], name="billing", store=SQLiteViewStore(self.path))
        self.views = caught_up(self.projector)

    def __call__(self, position: int | None = None) -> AbstractContextManager[ViewStore]:
        return self.views(position)

    def close(self) -> None:
        self.projector.close()
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(self.path + suffix):
                os.remove(self.path + suffix)

    def __enter__(self) -> BillingViews:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
