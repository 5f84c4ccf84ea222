"""Households: registration, facts, income and the friplads decided from it, payment adjustments."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import rules
from ledger import commands as c
from ledger.aggregates import Child, Household
from ledger.errors import InvalidCommand
from ledger.handlers.context import Context, coarse, derived_id, keep_identifiers, not_erased, rule_error
from ledger.unit_of_work import UnitOfWork


def register_household(uow: UnitOfWork, cmd: c.RegisterHousehold, ctx: Context) -> dict:
    if cmd.household_id:
        uow.ensure_unused(cmd.household_id, "household")
    household = Household(
        municipality_code=cmd.municipality_code,
        district=cmd.district,
        single_parent=cmd.single_parent,
        children_under_18=cmd.children_under_18,
        location=coarse(cmd.location),
        meta=ctx.meta(uow, None),
        id=cmd.household_id or uuid4(),
    )
    uow.add(household)
    if cmd.payer and ctx.registry is not None:
        keep_identifiers(ctx, household.id, cmd.payer)
    return {"id": str(household.id)}


def change_household_facts(uow: UnitOfWork, cmd: c.ChangeHouseholdFacts, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    not_erased(household)
    was_single, had_children = household.facts_on(cmd.effective_from)
    single = was_single if cmd.single_parent is None else cmd.single_parent
    children = had_children if cmd.children_under_18 is None else cmd.children_under_18
    meta = ctx.meta(uow, cmd.effective_from, cmd.reason)
    household.change_facts(
        single_parent=single,
        children_under_18=children,
        municipality_code=cmd.municipality_code or household.municipality_code,
        district=cmd.district or household.district,
        meta=meta,
        effective_from=cmd.effective_from,
        location=coarse(cmd.location),
    )
    share = _redecide_friplads(uow, ctx, household, cmd.effective_from, meta)
    return {"id": str(household.id), "pay_share_percent": share}


def declare_income(uow: UnitOfWork, cmd: c.DeclareIncome, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    not_erased(household)
    single, children = household.facts_on(cmd.effective_from)
    decision = _friplads_decision(uow, ctx, cmd.annual_income_ore, children, single, cmd.effective_from)
    meta = ctx.meta(uow, cmd.effective_from)
    household.declare_income(
        annual_income_ore=cmd.annual_income_ore, effective_from=cmd.effective_from, meta=meta
    )
    granted = household.granted_income_on(cmd.effective_from)
    if (granted is not None and stale_friplads(household, cmd.effective_from, ctx.rule_set(uow)) is None
            and not rules.friplads_recalculation_due(granted, cmd.annual_income_ore, cmd.effective_from,
                                                     ctx.rule_set(uow))):
        # Less than 5 steps from the income the share in force was decided on: the share stays
        # (the annual settlement takes the final income); later scale years use the new income.
        decision["pay_share_percent"] = household.pay_share_on(cmd.effective_from)
        _redecide_friplads(uow, ctx, household, cmd.effective_from, meta, keep_first=True)
    else:
        _redecide_friplads(uow, ctx, household, cmd.effective_from, meta)
    return {
        "household_id": str(household.id),
        "effective_from": cmd.effective_from.isoformat(),
        "pay_share_percent": decision["pay_share_percent"],
        "scale": decision["scale"],
    }


def settle_friplads(uow: UnitOfWork, cmd: c.SettleFriplads, ctx: Context) -> dict:
    """Efterregulering: each month of a past year decided again on the final income (where the
    household had a friplads decision that month), with the facts and the scale of the month."""
    household = uow.get(Household, cmd.household_id)
    not_erased(household)
    rule_set = ctx.rule_set(uow)
    if not rule_set.in_force("subsidies", ctx.today).friplads_annual_settlement:
        raise InvalidCommand(f"{rule_set.id} has no annual friplads settlement")
    if cmd.year >= ctx.today.year:
        raise InvalidCommand(f"{cmd.year} has not ended on {ctx.today}; a year is settled after it")
    provisional = rule_set.provisional("friplads", date(cmd.year, 1, 1))
    if provisional:
        raise InvalidCommand(f"{cmd.year} cannot be settled: {provisional}")
    shares: list[int | None] = []
    for month in range(1, 13):
        day = date(cmd.year, month, 1)
        if not household.has_friplads_on(day):
            shares.append(None)  # no friplads decision that month: nothing to settle
            continue
        single, children = household.facts_on(day)
        try:
            shares.append(rules.friplads_pay_share_percent(cmd.annual_income_ore, children, single, day, rule_set))
        except rules.RuleError as e:
            raise rule_error(e) from None
    if all(share is None for share in shares):
        raise InvalidCommand(f"household {household.id} had no friplads in {cmd.year}: nothing to settle")
    household.settle_friplads(year=cmd.year, annual_income_ore=cmd.annual_income_ore, shares=shares,
                              meta=ctx.meta(uow, date(cmd.year, 12, 31)))
    return {"household_id": str(household.id), "year": cmd.year, "pay_share_percent": shares}


def stale_friplads(household: Household, day: date, rule_set: rules.RuleSet) -> str | None:
    """Why the pay share in force on `day` cannot be billed: it was decided on an older friplads
    scale than the one the rule data publishes for `day` (the data gained that year after the
    decision); None when it was decided on that scale, is settled, or there is nothing to check."""
    decided = household.decided_scale_on(day)
    if decided is None or household.settled_share_on(day) is not None:
        return None
    try:
        published = rules.friplads_scale_on(day, rule_set).effective_from
    except rules.RuleError:
        return None  # a gap: the month is refused by name as such
    if decided >= published:
        return None
    return (f"{day:%Y-%m}: the friplads share of household {household.id} was decided on the "
            f"{decided.year} scale, not on the {published.year} scale published in {rule_set.id}; "
            f"declare the income again from {published.isoformat()}")


def _redecide_friplads(uow: UnitOfWork, ctx: Context, household: Household, since: date,
                       meta: dict[str, Any], keep_first: bool = False) -> int | None:
    """Decide the pay share again from `since` on, wherever income, household facts or the
    published scale change later: a backdated fact must not leave later decisions stale. Each
    scale year gets its own decision, even with an unchanged share: the share in force always
    names the scale it was decided on (`stale_friplads`).

    Returns the share decided for `since` (None without a declared income)."""
    rule_set = ctx.rule_set(uow)
    scale_days = {s.effective_from for s in rule_set.friplads}
    later = sorted({d for d in household.fact_dates() + list(scale_days) if d > since})
    first = None
    for day in [since, *later]:
        income = household.income_on(day)
        if income is None or rule_set.gap("friplads", day) or (keep_first and day == since):
            continue  # no scale published for the day (billing refuses its months), or the share stays
        single, children = household.facts_on(day)
        decision = _friplads_decision(uow, ctx, income, children, single, day)
        if day == since:
            first = decision["pay_share_percent"]
        elif (decision["pay_share_percent"] == household.pay_share_on(day)
              and (day not in scale_days or household.decided_scale_on(day) == day)):
            continue
        household.decide_friplads(effective_from=day, meta={**meta, "effective_date": day}, **decision)
    return first


def _friplads_decision(
    uow: UnitOfWork, ctx: Context, income_ore: int, children: int, single: bool, on: date
) -> dict[str, Any]:
    rule_set = ctx.rule_set(uow)
    try:
        share = rules.friplads_pay_share_percent(income_ore, children, single, on, rule_set)
        scale = rules.friplads_scale_on(on, rule_set)
    except rules.RuleError as e:
        raise rule_error(e) from None
    return {
        "pay_share_percent": share,
        "annual_income_ore": income_ore,
        "scale": {
            "effective_from": scale.effective_from.isoformat(),
            "lower_ore": scale.lower_ore,
            "upper_ore": scale.upper_ore,
            "step_ore": scale.step_ore,
            "single_parent_addition_ore": scale.single_parent_addition_ore,
            "per_child_addition_ore": scale.per_child_addition_ore,
            "children_under_18": children,
            "single_parent": single,
        },
    }


def adjust_payment(uow: UnitOfWork, cmd: c.AdjustPayment, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    not_erased(household)
    if cmd.child_id is not None:
        child = uow.get(Child, cmd.child_id)
        if child.household_id != str(household.id):
            raise InvalidCommand(f"child {cmd.child_id} does not belong to household {household.id}")
    if cmd.kind in ("socialpaedagogisk_friplads", "manual_correction") and ctx.channel == "self_service":
        raise InvalidCommand(f"a {cmd.kind} is decided by a caseworker")
    adjustment_id = str(derived_id("adjustment", household.id, household.version))
    first_day = date.fromisoformat(cmd.from_month + "-01")
    household.adjust_payment(
        adjustment_id=adjustment_id,
        kind=cmd.kind,
        from_month=cmd.from_month,
        to_month=cmd.to_month,
        amount_ore=cmd.amount_ore,
        pay_share_percent=cmd.pay_share_percent,
        child_id=str(cmd.child_id) if cmd.child_id else None,
        meta=ctx.meta(uow, first_day, cmd.reason),
    )
    return {"id": adjustment_id, "household_id": str(household.id)}
