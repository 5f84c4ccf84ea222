"""Administration: rule sets, institutions, their capacity, gross cost and cluster."""

from __future__ import annotations

from datetime import date
from typing import Any
from uuid import uuid4

import rules
from ledger import commands as c
from ledger.aggregates import Institution, RuleBook
from ledger.errors import Conflict, InvalidCommand
from ledger.handlers.context import ONE_DAY, Context, rule_error, within_horizon
from ledger.seats import most_in_use
from ledger.unit_of_work import UnitOfWork


def activate_rule_set(uow: UnitOfWork, cmd: c.ActivateRuleSet, ctx: Context) -> dict:
    try:
        rule_set = rules.load_rule_set(cmd.rule_set_id)
    except rules.RuleError as e:
        raise rule_error(e) from None
    begins = rule_set.first_day
    if cmd.effective_from < begins:
        raise InvalidCommand(
            f"{rule_set.id} has rules in force only from {begins}; it cannot take effect on {cmd.effective_from}"
        )
    book = uow.find(RuleBook, RuleBook.create_id())
    meta = ctx.meta(uow, cmd.effective_from, cmd.reason) | {"rule_set": rule_set.id}
    if book is None:
        book = RuleBook()
        uow.add(book)
    book.activate(rule_set_id=rule_set.id, effective_from=cmd.effective_from, meta=meta)
    return {"rule_set_id": rule_set.id, "effective_from": cmd.effective_from.isoformat()}


def register_institution(uow: UnitOfWork, cmd: c.RegisterInstitution, ctx: Context) -> dict:
    if cmd.institution_id:
        uow.ensure_unused(cmd.institution_id, "institution")
    inst = Institution(
        name=cmd.name,
        district=cmd.district,
        kind=cmd.kind,
        ownership=cmd.ownership,
        municipality_code=cmd.municipality_code,
        location=cmd.location.model_dump() if cmd.location else None,
        meta=ctx.meta(uow, None),
        id=cmd.institution_id or uuid4(),
    )
    uow.add(inst)
    return {"id": str(inst.id)}


def change_capacity(uow: UnitOfWork, cmd: c.ChangeCapacity, ctx: Context) -> dict:
    inst = uow.get(Institution, cmd.institution_id)
    if cmd.age_group not in rules.age_groups_for_kind(inst.kind):
        raise InvalidCommand(f"a {inst.kind} has no {cmd.age_group} seats")
    within_horizon(cmd.effective_from, ctx, "a capacity change from")
    if cmd.pool == "basis":
        _check_basis_minimum(inst, cmd, ctx.rule_set(uow, required=False))
    # Invariant 1 holds for capacity cuts too: seats already booked stay covered
    # until the next capacity change, or the cut waits for the bookings to end.
    later = [d for d, _ in inst.schedule(cmd.age_group, cmd.pool) if d > cmd.effective_from]
    until = min(later) - ONE_DAY if later else date.max - ONE_DAY
    booked, day = most_in_use(cmd.effective_from, until, inst.seats_held(cmd.age_group, cmd.pool))
    # Overrides may hold more seats than capacity; only a cut below what is in force
    # on the fullest day can strand a booking, so a rise is always allowed.
    if booked > cmd.seats and cmd.seats < inst.capacity_on(cmd.age_group, cmd.pool, day):
        raise Conflict(
            f"{inst.name} has {booked} {cmd.age_group} seats booked in the {cmd.pool} pool on {day}; "
            f"capacity cannot drop to {cmd.seats} from {cmd.effective_from}"
        )
    inst.change_capacity(
        age_group=cmd.age_group,
        pool=cmd.pool,
        seats=cmd.seats,
        effective_from=cmd.effective_from,
        meta=ctx.meta(uow, cmd.effective_from, cmd.reason),
    )
    return {"id": str(inst.id), "age_group": cmd.age_group, "pool": cmd.pool, "seats": cmd.seats}


def set_gross_cost(uow: UnitOfWork, cmd: c.SetGrossCost, ctx: Context) -> dict:
    inst = uow.get(Institution, cmd.institution_id)
    if cmd.age_group not in rules.age_groups_for_kind(inst.kind):
        raise InvalidCommand(f"a {inst.kind} has no {cmd.age_group} places")
    inst.set_gross_cost(age_group=cmd.age_group, gross_cost_ore=cmd.gross_cost_ore,
                        effective_from=cmd.effective_from, meta=ctx.meta(uow, cmd.effective_from, cmd.reason))
    return {"id": str(inst.id), "age_group": cmd.age_group, "gross_cost_ore": cmd.gross_cost_ore,
            "effective_from": cmd.effective_from.isoformat()}


def assign_cluster(uow: UnitOfWork, cmd: c.AssignCluster, ctx: Context) -> dict:
    inst = uow.get(Institution, cmd.institution_id)
    inst.assign_cluster(cluster=cmd.cluster, effective_from=cmd.effective_from,
                        meta=ctx.meta(uow, cmd.effective_from, cmd.reason))
    return {"id": str(inst.id), "cluster": cmd.cluster, "effective_from": cmd.effective_from.isoformat()}


def _check_basis_minimum(inst: Institution, cmd: c.ChangeCapacity, rule_set: Any) -> None:
    """A basis institution has at least the rule set's minimum of basis seats (6 in Copenhagen:
    'Model for basispladser', seed 003), counted over its age groups on the day the change takes
    effect; 0 closes the pool (the institution is then no basis institution)."""
    minimum = rules.basis_seats_min_per_institution(rule_set, cmd.effective_from) if rule_set else None
    if not minimum:
        return
    total = cmd.seats + sum(inst.capacity_on(g, "basis", cmd.effective_from)
                            for g in rules.age_groups_for_kind(inst.kind) if g != cmd.age_group)
    if 0 < total < minimum:
        raise InvalidCommand(
            f"{inst.name} would have {total} basis seats from {cmd.effective_from}; a basis institution has at "
            f"least {minimum} ({rule_set.id}), or 0 to close its basis pool"
        )
