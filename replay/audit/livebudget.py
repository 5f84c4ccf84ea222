"""The budget audit's actual side, read from the live views instead of folded and derived again.

The live Budget view (`budget_part_runs`) counts each household-month as the audit does, with one
difference: a statement's `correction` lines count in the month whose statement carries them (its
cash), where the audit counts them apart (`corrections`). So the households with a correction line
in `statement_line_runs` (a fact of theirs changed back in time: a quarter of the households of
the 10-year simulated city) have their months derived again from the live Billing view's facts
(`billing_facts`, read per household), from the earliest month they correct, months apart; every
other household's parts are the stored ones as they stand. The views are brought up to date with
the log first (as `plads export` does), so a ledger whose views are stale or absent is audited as
one whose views are current. Where the two views did not take every page of the
projection (`ViewStore.views_current`), the actual side is folded from the log instead, as before.
"""

from __future__ import annotations

from dataclasses import dataclass

from ledger import Ledger
from projections import Projector, all_views
from projections.billing import BILLING_STATE, BUDGET_PART_RUNS, STATEMENT_LINE_RUNS, Budget
from projections.billing.budget import household_parts
from projections.billing.derivation import BillingFacts
from projections.billing.household import CorrectionApart
from projections.billing.partruns import BUDGET_RUNS
from projections.engine import ViewStalled, collector_paused
from projections.stores import OlderState, ViewStore
from projections.tables import Changes, Row, Table

from replay.audit.facts import fold

READ_VIEWS = ("billing", "budget")  # the views whose rows the audit reads (Billing's facts, Budget's parts)


@dataclass(frozen=True)
class ActualBudget:
    """The audit's actual side at a log position: its parts month by month, the corrections apart,
    and the Billing view's clock (the last month it has seen: the budget's horizon follows it)."""

    position: int
    parts: list[Row]
    corrections: list[CorrectionApart]
    clock: str | None


class StoredBillingFacts(BillingFacts):
    """The live Billing view's facts, read from its table: a household's months derived again as
    the budget audit counts them (months apart). Writes nothing."""

    name = "billing"
    state = BILLING_STATE
    tables = (BILLING_STATE,)

    def __init__(self) -> None:
        super().__init__()
        self.months_apart = True

    def audit_months(self, household: str, since: str | None) -> tuple[list[Row], list[CorrectionApart]]:
        """The household's budget parts (month rows) of the months from `since` on (None: all) and
        its corrections, as the audit counts them: derived from that month on, as the live view
        derives a household whose earlier months did not change (its statements from then read)."""
        result = self.household_result(household, since)
        return household_parts(household, result), self.corrections_apart.get(household, [])


def actual_budget(ledger: Ledger) -> ActualBudget:
    """The live views brought up to date, then the audit's actual side read from them in one
    consistent read; folded from the log where the views cannot be read whole (`_folded`): the
    Billing or Budget view did not take every page, the views are stored in an older layout, or
    one of them stalled."""
    try:
        projector = Projector(ledger, all_views())
    except OlderState:
        return _folded(ledger, ledger.max_position())
    try:
        projector.catch_up()
        store = projector.store
        with store.snapshot():
            position = store.position(projector.name)
            if store.views_current(projector.name, READ_VIEWS):
                return _read(store, position)
    except ViewStalled:
        position = ledger.max_position()
    finally:
        projector.close()
    return _folded(ledger, position)


def _read(store: ViewStore, position: int) -> ActualBudget:
    # Per household with correction lines, the earliest month they correct (None: one names none).
    # Its months before that carry no correction (one is billed after the month it corrects): the
    # stored parts stand; the months from there on are derived again.
    since: dict[str, str | None] = {
        f"household/{h}": None if unnamed else first for h, first, unnamed in store.query(
            f"SELECT household_id, MIN(corrects_month), COUNT(*) - COUNT(corrects_month) "
            f"FROM {STATEMENT_LINE_RUNS.name} WHERE kind = 'correction' GROUP BY household_id")}
    facts = StoredBillingFacts()
    with collector_paused():
        facts.start(store)
        parts = [p for p in BUDGET_RUNS.parts_of(store.load(BUDGET_PART_RUNS)).values()
                 if p["owner"] not in since or p["month"] < (since[p["owner"]] or "")]
        corrections: list[CorrectionApart] = []
        for owner, first in sorted(since.items()):
            own, apart = facts.audit_months(owner.split("/", 1)[1], first)
            parts += own
            corrections += apart
    return ActualBudget(position, parts, corrections, facts.last_month)


class AuditBudget(Budget):
    """The Budget folded for one audit, in memory: its working state is never stored, so its
    changes are not taken page by page (nor its facts serialised as the live view's are)."""

    def changes(self) -> dict[Table, Changes]:
        return {}


def _folded(ledger: Ledger, position: int) -> ActualBudget:
    """The actual side folded from the log to `position`, in memory, and derived household by
    household: where the Billing and Budget views did not take every page under the projection
    (their own positions, `ViewStore.views_current`: projected without one of them for a while, or
    by a plads that did not keep them, until a `plads rebuild`)."""
    view = AuditBudget(months_apart=True)
    fold(ledger, [view], until=position)
    parts = list(BUDGET_RUNS.parts_of(view.t["budget_part_runs"].values()).values())
    corrections = [x for apart in view.corrections_apart.values() for x in apart]
    return ActualBudget(position, parts, corrections, view.last_month)
