"""Billing and budget: statements per household and month, intermunicipal settlement, budget.

Both views fold the same facts (bookings, children, institutions, households, friplads
decisions, payment adjustments, issued statements, billing runs) into working state kept in a
`*_state` table, and derive their rows in `finish_page(final=True)` for the households (and,
for the budget, institutions) whose facts changed. All money comes from `rules`:
`household_month_charges` for the lines, `gross_cost_per_place_ore` and `prorate_ore` for
costs, `round_half_up` for every division. Integer øre throughout.

Horizon: months run up to and including the month after the month of the latest recorded
time the view has seen (so a rebuild reproduces the rows exactly).

The modules: `facts` (the typed facts and their JSON), `fold` (folding them), `derivation`
(what is derived again after a page), `issued` (statements issued as drafted), `extend` (a month
joining the horizon: a steady household's runs extended), `due` (one
household-month), `household` (a household's months: issued, corrected, shares), `intermunicipal`
(money across municipal borders),
`statements` (the Billing view), `budget` (the Budget views), `runs` and `partruns` (rows stored as
runs of months, shown month by month by SQL views), `tables`, `months`.
See docs/views-billing.md for the tables.
"""

from projections.billing.budget import Budget, LinkedBudget
from projections.billing.months import DEFAULT_RULE_SET, billing_horizon_of
from projections.billing.statements import Billing
from projections.billing.tables import (BILLING_STATE, BUDGET, BUDGET_MEASURES, BUDGET_PART_RUNS, BUDGET_PARTS,
                                        BUDGET_STATE, DETAIL_MAX, SETTLEMENT, SETTLEMENT_MEASURES, SETTLEMENT_PART_RUNS,
                                        SETTLEMENT_PARTS, STATEMENT_LINE_RUNS, STATEMENT_LINES, STATEMENT_RUNS, STATEMENTS)

__all__ = ["BILLING_STATE", "BUDGET", "BUDGET_MEASURES", "BUDGET_PARTS", "BUDGET_PART_RUNS", "BUDGET_STATE",
           "DEFAULT_RULE_SET", "DETAIL_MAX", "SETTLEMENT", "SETTLEMENT_MEASURES", "SETTLEMENT_PARTS",
           "SETTLEMENT_PART_RUNS", "STATEMENTS", "STATEMENT_LINES", "STATEMENT_LINE_RUNS", "STATEMENT_RUNS",
           "Billing", "Budget", "LinkedBudget", "billing_horizon_of"]
