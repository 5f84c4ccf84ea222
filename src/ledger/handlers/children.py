"""Children: registration, opskrivning on the waiting lists and changed wishes."""

from __future__ import annotations

from datetime import timedelta
from uuid import uuid4

import rules
from ledger import commands as c
from ledger.aggregates import Child, Household, Institution
from ledger.errors import Conflict, InvalidCommand
from ledger.handlers.context import Context, keep_identifiers, not_erased, rule_error
from ledger.unit_of_work import UnitOfWork


def register_child(uow: UnitOfWork, cmd: c.RegisterChild, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    not_erased(household)
    if cmd.child_id:
        uow.ensure_unused(cmd.child_id, "child")
    if cmd.birth_date > ctx.today + timedelta(days=300):
        raise InvalidCommand(f"birth date {cmd.birth_date} is too far in the future")
    child = Child(
        household_id=str(household.id),
        birth_date=cmd.birth_date,
        district=cmd.district or household.district,
        municipality_code=cmd.municipality_code or household.municipality_code,
        support_needs=list(cmd.support_needs),
        meta=ctx.meta(uow, cmd.birth_date),
        id=cmd.child_id or uuid4(),
    )
    uow.add(child)
    if cmd.identifiers and ctx.registry is not None:
        keep_identifiers(ctx, child.id, cmd.identifiers)
    return {"id": str(child.id), "household_id": str(household.id)}


def register(uow: UnitOfWork, cmd: c.Register, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    not_erased(child)
    rule_set = ctx.rule_set(uow)
    current = child.registrations.get(cmd.age_group)
    if current and current["active"]:
        raise Conflict(
            f"child {child.id} is already registered for {cmd.age_group}; change the wishes instead"
        )
    _check_wishes(uow, child, cmd.age_group, cmd.wishes, cmd.need_date, rule_set, ctx.today)
    if cmd.guarantee_list and not rules.guarantee_list_open_to(child.municipality_code, ctx.today, rule_set):
        raise InvalidCommand(f"the guarantee list of {rule_set.id} is for residents only; child {child.id} "
                             f"lives in municipality {child.municipality_code}")
    child.register(
        age_group=cmd.age_group,
        wishes=[str(w) for w in cmd.wishes],
        need_date=cmd.need_date,
        registered_on=ctx.today,
        newcomer=cmd.newcomer,
        meta=ctx.meta(uow, ctx.today),
        # Only set when signed up: registrations without it record the event as before.
        **({"guarantee_list": True} if cmd.guarantee_list else {}),
    )
    return _registration_outcome(child, cmd.age_group, rule_set)


def change_wishes(uow: UnitOfWork, cmd: c.ChangeWishes, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    not_erased(child)
    rule_set = ctx.rule_set(uow)
    current = child.registrations.get(cmd.age_group)
    if not current or not current["active"]:
        raise Conflict(f"child {child.id} is not on a {cmd.age_group} waiting list")
    need_date = cmd.need_date or current["need_date"]
    _check_wishes(uow, child, cmd.age_group, cmd.wishes, need_date, rule_set, ctx.today)
    child.change_wishes(
        age_group=cmd.age_group,
        wishes=[str(w) for w in cmd.wishes],
        need_date=need_date,
        meta=ctx.meta(uow, ctx.today),
    )
    return _registration_outcome(child, cmd.age_group, rule_set)


def _check_wishes(uow, child, age_group, wishes, need_date, rule_set, today) -> None:
    try:
        most = rules.max_wishes(age_group, rule_set, today)
    except rules.RuleError as e:
        raise rule_error(e) from None
    if len(wishes) > most:
        raise InvalidCommand(f"at most {most} wishes for {age_group} under {rule_set.id}")
    for wish in wishes:
        inst = uow.get(Institution, wish)
        if age_group not in rules.age_groups_for_kind(inst.kind):
            raise InvalidCommand(f"institution {wish} ({inst.kind}) takes no {age_group} children")
    try:
        school = rules.school_start(child.birth_date, rule_set)
    except rules.RuleError as e:
        raise rule_error(e) from None
    if need_date >= school:
        raise InvalidCommand(f"need date {need_date} is on or after school start {school}")
    kindergarten_from = rules.kindergarten_from(child.birth_date, rule_set)
    if age_group == "nursery" and need_date >= kindergarten_from:
        raise InvalidCommand(f"need date {need_date} is past the nursery age; register for kindergarten")
    if age_group == "kindergarten" and need_date < kindergarten_from:
        raise InvalidCommand(
            f"need date {need_date} is before the kindergarten age ({kindergarten_from}); register for nursery"
        )


def _registration_outcome(child: Child, age_group: str, rule_set) -> dict:
    reg = child.registrations[age_group]
    try:
        seniority = rules.seniority_date(child.birth_date, reg["registered_on"], age_group, rule_set)
        guarantee = rules.registration_guarantee_date(
            child.birth_date, reg["registered_on"], reg["need_date"], rule_set, bool(reg.get("guarantee_list"))
        )
    except rules.RuleError as e:
        raise rule_error(e) from None
    return {
        "child_id": str(child.id),
        "age_group": age_group,
        "wishes": reg["wishes"],
        "need_date": reg["need_date"].isoformat(),
        "registered_on": reg["registered_on"].isoformat(),
        "seniority_date": seniority.isoformat(),
        "guarantee_date": guarantee.isoformat(),
    }
