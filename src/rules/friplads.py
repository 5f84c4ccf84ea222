"""Økonomisk friplads: the income-based pay share (DTL § 43 stk. 1 nr. 1; bek. nr. 2058)."""

from __future__ import annotations

from datetime import date

from .errors import RuleError
from .model import FripladsScale, RuleSet


def friplads_scale_on(on: date, rs: RuleSet) -> FripladsScale:
    """The scale in force on a day (each year's scale from 1 January until the next one)."""
    return rs.in_force("friplads", on)


def friplads_limits_ore(children_under_18: int, single_parent: bool, on: date, rs: RuleSet) -> tuple[int, int]:
    """The household's limits (L', U'): both raised by 7,000 kr per child under 18 beyond the
    first and, for a single parent, by the year's single-parent addition."""
    if isinstance(children_under_18, bool) or not isinstance(children_under_18, int) or children_under_18 < 0:
        raise RuleError(f"children under 18 must be a count, not {children_under_18!r}")
    scale = friplads_scale_on(on, rs)
    raise_by = scale.per_child_addition_ore * max(0, children_under_18 - 1)
    if single_parent:
        raise_by += scale.single_parent_addition_ore
    return scale.lower_ore + raise_by, scale.upper_ore + raise_by


def friplads_recalculation_due(granted_income_ore: int, new_income_ore: int, on: date, rs: RuleSet) -> bool:
    """Whether a newly declared income changes the pay share decided on `granted_income_ore`: only
    if it moves by at least the rule set's number of steps (5) of the scale in force on `on`;
    smaller changes wait for the annual settlement (efterregulering)."""
    steps = rs.in_force("subsidies", on).friplads_recalculation_steps
    if steps is None:
        return True
    return abs(new_income_ore - granted_income_ore) >= steps * friplads_scale_on(on, rs).step_ore


def friplads_pay_share_percent(
    annual_income_ore: int, children_under_18: int, single_parent: bool, on: date, rs: RuleSet
) -> int:
    """The percentage of the payment the household pays, 0-100.

    0 below L'; 100 at or above U'; in between min(99, 5 + floor((I - L') / step)): 5 % from
    L', one percentage point more per step (the year's published step, else (U - L) / 95 in
    whole kroner). Income is the household's annual income in øre (a deficit counts as 0).
    """
    if isinstance(annual_income_ore, bool) or not isinstance(annual_income_ore, int):
        raise RuleError(f"income is integer øre, not {annual_income_ore!r}")
    scale = friplads_scale_on(on, rs)
    lower, upper = friplads_limits_ore(children_under_18, single_parent, on, rs)
    if annual_income_ore < lower:
        return 0
    if annual_income_ore >= upper:
        return 100
    return min(99, scale.first_share_percent + (annual_income_ore - lower) // scale.step_ore)
