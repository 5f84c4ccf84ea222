"""The Budget view: per month and district, place-months, gross cost (empty basis seats included),
parent payments, friplads and sibling cost, intermunicipal money and the net municipal cost.

`LinkedBudget(billing)` derives from the Billing view's facts and household months (the live
views: one fold and one computation of each household's months for both). `Budget()` folds the
facts itself (keeping them in `budget_facts`); `Budget(scenario=rule_set)` folds the same facts
under another rule set (another friplads scale or tariff) for the budget audit — in memory, never
stored as a live view.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any

import rules

from projections.billing.derivation import BillingFacts
from projections.billing.extend import Extension, ending_at
from projections.billing.household import Result
from projections.billing.intermunicipal import gross_monthly
from projections.billing.months import ONE_DAY, month_of
from projections.billing.partruns import BUDGET_RUNS, replace_runs
from projections.billing.runs import month_before
from projections.billing.tables import (BUDGET, BUDGET_MEASURES, BUDGET_PART_RUNS, BUDGET_PARTS, BUDGET_STATE, Totals,
                                        budget_row, part_row, write_summary)
from projections.engine import View
from projections.tables import Row


class _BudgetRows:
    """The budget's rows from the household months of `facts` and the institutions' empty basis seats."""

    facts: BillingFacts
    t: dict
    sink: Any
    _totals: Totals

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)  # type: ignore[misc]
        # The summary rows were stored with these totals (summed by the store: the parts stay there).
        self._totals.start(store, BUDGET_RUNS, prefix)

    def load_households(self, households: list[str], since: str | None = None) -> None:
        # Of the runs, those holding the month before `since` too: the months from `since` may continue them.
        self.load_owned("budget_part_runs", [f"household/{h}" for h in households],  # type: ignore[attr-defined]
                        ("to_month", month_before(since)) if since else None)

    def release_households(self, households: list[str]) -> None:
        self.release_owned("budget_part_runs", [f"household/{h}" for h in households])  # type: ignore[attr-defined]

    def derive_household(self, household: str, res: Result, since: str | None = None) -> None:
        self._replace_parts(f"household/{household}", household_parts(household, res), since)

    def runs_ending(self, household: str, old: str) -> list[Extension] | None:
        parts = ending_at(self.t["budget_part_runs"], f"household/{household}", old)
        return None if parts is None else [Extension(self.t["budget_part_runs"], parts, BUDGET_RUNS, self._totals)]

    def _replace_parts(self, owner: str, parts: list[Row], since: str | None = None) -> None:
        """Make the owner's runs those of its parts (month rows; given `since`, of the months from it on)."""
        replace_runs(self.sink, self.t["budget_part_runs"], BUDGET_RUNS, owner, parts, self._totals, since)

    def derive_end(self, institutions: list[str]) -> None:
        owners = [f"institution/{institution}" for institution in institutions]
        self.load_owned("budget_part_runs", owners)  # type: ignore[attr-defined]
        for institution, owner in zip(institutions, owners):
            self._replace_parts(owner, institution_parts(self.facts, institution))
        self.release_owned("budget_part_runs", owners)  # type: ignore[attr-defined]
        if self.facts.share is None:  # a share holds part of the totals: finish_shards sums them all
            self._totals.write(self.t["budget"], budget_row)

    def finish_shards(self, store, prefix: str) -> None:
        write_summary(store, prefix, BUDGET_PARTS, BUDGET, BUDGET_MEASURES, budget_row)


class Budget(_BudgetRows, BillingFacts):
    """The budget folding its own facts (kept in `budget_facts`), or a scenario's in memory."""

    name = "budget"
    rebuild_weight = 10
    state = BUDGET_STATE
    tables = (BUDGET_STATE, BUDGET_PART_RUNS, BUDGET)

    def __init__(self, scenario: rules.RuleSet | None = None, months_apart: bool = False) -> None:
        super().__init__(scenario)
        self.facts = self
        # The budget audit's reading (see household._budget_lines); set after the facts' __init__,
        # which sets the live views' default.
        self.months_apart = months_apart
        self._totals = Totals(BUDGET_MEASURES)

    def _init_kwargs(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "months_apart": self.months_apart}

    @property
    def checkpoint_name(self) -> str:
        return f"{self.name}+facts@2"  # the checkpoint holds the facts too (a linked budget's: only its rows)


class LinkedBudget(_BudgetRows, View):
    """The budget derived from the Billing view's facts: it folds nothing itself, and the Billing
    view hands it each household's months as it derives them."""

    name = "budget"
    rebuild_weight = 10
    tables = (BUDGET_PART_RUNS, BUDGET)

    def __init__(self, facts: BillingFacts) -> None:
        super().__init__()
        self.facts = facts
        self._totals = Totals(BUDGET_MEASURES)
        if self not in facts.linked:
            facts.linked.append(self)  # type: ignore[arg-type]

    def reset(self) -> None:
        self.__init__(self.facts)  # type: ignore[misc]

    def companions(self) -> list[View]:
        return [self.facts]


def household_parts(household: str, res: Result) -> list[Row]:
    """The household's shares of the budget month by month (the rows the SQL view shows)."""
    owner = f"household/{household}"
    return [part_row(owner, key, seat_days=v.seat_days, gross=v.gross_cost_ore, parent=v.parent_payments_ore,
                     friplads=v.friplads_ore, sibling=v.sibling_ore, money_in=v.money_in_ore,
                     money_out=v.money_out_ore) for key, v in res.budget.items()]


def institution_parts(facts: BillingFacts, institution: str) -> list[Row]:
    """The institution's empty basis seats' shares of the budget month by month."""
    owner = f"institution/{institution}"
    return [part_row(owner, key, empty=cost) for key, cost in empty_basis_cost(facts, institution).items()]


def empty_basis_cost(facts: BillingFacts, institution: str) -> dict[tuple[str, str], int]:
    """The institution's empty basis seat-days per month, costed at the gross cost of a place:
    basis seats are funded in full even when empty."""
    groups, inst, horizon = facts.capacity.get(institution), facts.institutions.get(institution), facts.horizon()
    if not groups or inst is None or horizon is None:
        return {}
    out: dict[tuple[str, str], int] = defaultdict(int)
    for group, entries in sorted(groups.items()):
        spans = _basis_spans(facts, institution, group)
        start = entries[0].effective.replace(day=1)
        in_use = sum(1 for a, z in spans if a <= start <= z)
        delta: dict[date, int] = defaultdict(int)
        for a, z in spans:
            if a > start:
                delta[a] += 1
            if z + ONE_DAY > start:
                delta[z + ONE_DAY] -= 1
        caps = {e.effective: (e.seats, e.rule_set) for e in entries}
        seats, rule_set_id = 0, entries[0].rule_set
        m = start
        while month_of(m) <= horizon:
            nxt = rules.add_months(m, 1)
            empty, day = 0, m
            while day < nxt:
                in_use += delta.get(day, 0)
                if day in caps:
                    seats, rule_set_id = caps[day]
                empty += max(0, seats - in_use)
                day += ONE_DAY
            if empty:
                birth = rules.add_months(m, -12 if group == "nursery" else -48)
                try:
                    monthly = gross_monthly(inst, birth, m, facts.rules_for(rule_set_id))
                    out[(month_of(m), inst.district)] += rules.round_half_up(monthly * empty, rules.days_in_month(m))
                except rules.RuleError:
                    pass  # no tariff in force (before 2023): not costed
            m = nxt
    return {k: v for k, v in out.items() if v}


def _basis_spans(facts: BillingFacts, institution: str, group: str) -> list[tuple[date, date]]:
    """The days of the age group's basis seats the institution's bookings hold."""
    spans = []
    for b in facts.basis.get(institution, {}).values():
        for g, a, z in b.segments:
            z = min(z, b.end)
            if g == group and a <= z:
                spans.append((a, z))
    return spans
