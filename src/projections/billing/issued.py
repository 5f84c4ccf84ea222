"""Issuing what was drafted: a live view's shortcut past deriving every household after a billing run.

A billing run issues what the Billing view drafted (processes.billing). When a household's
StatementIssued for month M is the only change to it in a page, and its lines are those the view
stored for M, a derivation would give the same rows but M's: M shown as issued (the issued lines,
naming the StatementIssued). Other changes in the page reaching only months after M are derived
from their month, as after any issued month. What holds for that:

- the corrections M's draft carried are billed by it (each issued month's due equals its billed
  amounts again), so no later month carries any and none of the household's months needs one —
  provided corrections went to M, the month after the latest issued before (else they were drafted
  on another month, which changes too: derived);
- the other months, the settlement and the budget parts come from the same facts and dues (the
  budget counts M's lines by kind, amount and booking: the same).

And the run of M changes nothing for a household whose statement for M is issued (M was an issued
month already), nor for one with no rows for M when M follows its latest issued month (M is within
the horizon, so the household holds no day in M and carries no correction: the run only moves
where corrections would go, and there are none). Any other household, or a page holding another
change to it, is derived as before. Only the live Billing view (and the budget linked to it)
takes the shortcut: a rebuild derives once at the end, a counterfactual keeps deriving.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from projections.billing import runs
from projections.billing.months import next_month
from projections.billing.runs import LINE_FIELDS, month_before
from projections.billing.working import Drafted
from projections.tables import Row

if TYPE_CHECKING:
    from projections.billing.derivation import BillingFacts
    from projections.billing.statements import Billing

DRAFTED = LINE_FIELDS.index("events")  # a drafted line's fields compared with the issued one's: those before
UNKNOWN = object()


@dataclass(slots=True)
class IssuedPage:
    """A page's statements and billing runs, and what else of those households changed in it."""

    statements: dict[str, tuple[str, str | None]] = field(default_factory=dict)  # household -> (month, latest before)
    later: dict[str, str] = field(default_factory=dict)  # household -> the first month its other changes reach
    spoiled: set[str] = field(default_factory=set)  # households with a second statement in the page
    runs: set[str] = field(default_factory=set)  # the months whose billing run is in the page
    rerun: bool = False  # a run of a month issued before (none is: one run a month)
    taken: int = 0  # households written as issued without a derivation of that month (since the view started)
    spared: int = 0  # households a billing run left as they were

    def statement(self, household: str, month: str, latest_before: str | None, changed_from: str | None) -> None:
        """A statement folded; `changed_from`: the month the household's earlier changes in the page reach."""
        if household in self.statements:
            self.spoiled.add(household)
            return
        self.statements[household] = (month, latest_before)
        if changed_from is not None:
            self.later[household] = changed_from

    def changed(self, household: str, month: str) -> None:
        """Another change of a household with a statement in the page, from `month` on."""
        known = self.later.get(household)
        if known is None or month < known:
            self.later[household] = month

    def next_page(self) -> None:
        self.statements, self.later, self.spoiled, self.runs, self.rerun = {}, {}, set(), set(), False


def take_issued(facts: BillingFacts, batch: int) -> set[str]:
    """Write the rows of the page's households whose statement is issued as drafted, and whose other
    changes in the page (if any) reach only months after it: those months are derived then
    (`batch` households' stored rows held at a time). The households done."""
    page = facts.issued_page
    horizon = facts.horizon()
    if not facts.takes_issued() or page.rerun or not page.statements or horizon is None:
        return set()
    by_month: dict[str, list[str]] = {}
    for household, (month, latest) in page.statements.items():
        if household in page.spoiled or household in facts._dirty_h or (month in facts.runs and month not in page.runs):
            continue  # a second statement, all months changed, or its month's run issued before
        if any(run not in (month, latest) for run in page.runs):
            continue  # the page's run of a month it has no statement for
        if household in page.later and page.later[household] <= month:
            continue  # other changes reaching the month (or earlier)
        latest = max(latest or "", max(set(facts.runs) - {month}, default=""))
        if latest >= month or month > horizon:
            continue  # an issued month after it (or beyond the horizon): derived
        if latest and next_month(latest) != month and facts._corrected_from.get(household, UNKNOWN) is not None:
            continue  # corrections may be drafted on another month
        by_month.setdefault(month, []).append(household)
    done: set[str] = set()
    for month, group in sorted(by_month.items()):
        for households in (group[i:i + batch] for i in range(0, len(group), batch)):
            done |= _take_batch(facts, month, households)
    page.taken += len(done)
    return done


def _take_batch(facts: BillingFacts, month: str, households: list[str]) -> set[str]:
    billing: Billing = facts  # type: ignore[assignment]  # takes_issued: a Billing view
    consumers: list[BillingFacts] = [facts, *facts.linked]  # type: ignore[list-item]
    later = facts.issued_page.later
    deriving = [h for h in households if h in later]
    billing.load_households(households, month)
    for view in consumers[1:]:
        view.load_households(deriving, month)
    done = set()
    for household in households:
        hf = facts.held.get(household)
        statement = hf.issued.get(month)
        if statement is None or not billing.issue_as_drafted(household, month, statement):
            continue  # derived
        done.add(household)
        del facts._changed_from[household]
        facts._corrected_from[household] = None  # the corrections it carried are billed
        if household in later:
            # Its other changes reach only later months: those alone are derived (no month needs a
            # correction now: BillingFacts._derive_from), from the rows just written — or, the
            # month joining the horizon the only one, its runs extended by it (billing.extend).
            if not facts._extended(consumers, hf, later[household]):
                facts._derive(consumers, hf, later[household])
        elif facts.held.bound is not None:
            hf.forget_issued_before(month)
    for view in consumers:
        view.release_households(households)
    return done


def write_as_issued(billing: Billing, household: str, month: str, rows: list[Row], head: Row) -> bool:
    """Whether the month's rows as issued (`rows`: its lines, `head`: its statement, as a derivation
    makes them) have the lines stored as the month's draft; if so, they are written, the later
    months kept as stored."""
    line_runs = billing.t["statement_line_runs"].owned_rows(household)
    heads = billing.t["statement_runs"].owned_rows(household)
    if not any(r["from_month"] <= month <= r["to_month"] and not r["issued"] for r in heads):
        return False  # no draft of the month
    issued, drafted = runs.line_content(month, rows), _stored_lines(line_runs, month)
    if tuple(x[:DRAFTED] for x in issued) != tuple(x[:DRAFTED] for x in drafted):
        return False
    later = [(m, r) for r in sorted(heads, key=lambda r: r["from_month"]) for m in _months(r, next_month(month))]
    months = [(month, issued)] + [(m, _stored_lines(line_runs, m)) for m, _ in later]
    heads_of = [(month, runs.statement_content(head["total_ore"], head["issued"]))]
    heads_of += [(m, runs.statement_content(r["total_ore"], r["issued"])) for m, r in later]
    events = runs.events_row(household, month, rows)
    billing.write_months(household, months, heads_of, {(household, month): events} if events else {}, month)
    billing.held.get(household).drafted = Drafted(month, drafted)  # the next month's, if nothing changes
    return True


def _stored_lines(line_runs: list, month: str) -> tuple:
    """A month's lines as its stored run holds them."""
    held = sorted((r for r in line_runs if r["from_month"] <= month <= r["to_month"]), key=lambda r: r["line_no"])
    return tuple(tuple(r[f] for f in LINE_FIELDS) for r in held)


def _months(run: dict, first: str) -> list[str]:
    """The months of a stored run from `first` on."""
    out, month = [], max(run["from_month"], first)
    while month <= run["to_month"]:
        out.append(month)
        month = next_month(month)
    return out


def unchanged_by_run(facts: BillingFacts, done: set[str]) -> set[str]:
    """The households the page's billing run leaves as they are (with those `done`): nothing else
    of theirs changed, and their statement for the month is issued, or they have no rows for it
    and it follows their latest issued month."""
    page = facts.issued_page
    if not facts.takes_issued() or page.rerun or len(page.runs) != 1:
        return done
    (month,) = page.runs
    horizon = facts.horizon()
    if horizon is None or month > horizon:
        return done
    before = max(set(facts.runs) - page.runs, default="")
    households = [h for h in facts._every_household()
                  if h not in done and h not in facts._changed_from and h not in facts._dirty_h]
    latest = facts.held.latest_issued_of(households)
    billing: Billing = facts  # type: ignore[assignment]
    billed = billing.billed_in(month)
    spared = set(done)
    for household in households:
        last = latest[household]
        if last == month:
            spared.add(household)
        elif household not in billed and max(last or "", before) in ("", month_before(month)):
            spared.add(household)
    page.spared += len(spared) - len(done)
    return spared
