"""Erasure of a person (a child or a household): the registry entry and its key go, the event stays."""

from __future__ import annotations

from ledger import commands as c
from ledger.aggregates import Child, Household
from ledger.errors import NotFound
from ledger.handlers.context import Context
from ledger.unit_of_work import UnitOfWork


def erase_person(uow: UnitOfWork, cmd: c.ErasePerson, ctx: Context) -> dict:
    person = uow.find(Child, cmd.person_id) or uow.find(Household, cmd.person_id)
    if person is None:
        raise NotFound(f"no child or household with id {cmd.person_id}")
    registry = ctx.registry
    if registry is not None:
        registry.check_erasable(cmd.person_id)
        # Before the event is saved: an acknowledged erasure has destroyed the key. (Sent again,
        # the command destroys whatever a failure left, and records no second event.)
        ctx.before_commit.append(lambda: registry.erase(cmd.person_id))
    if not person.erased:
        person.erase(person_id=str(cmd.person_id), meta=ctx.meta(uow, ctx.today, cmd.reason))
    return {"person_id": str(cmd.person_id), "erased": True}
