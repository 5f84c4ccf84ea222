"""Offers and bookings: an offer's answer, booking a seat (the capacity check), cancellation and transfer."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any, Callable
from uuid import UUID

import rules
from ledger import commands as c
from ledger.aggregates import Booking, Child, Institution
from ledger.errors import ChildAlreadyBooked, Conflict, InvalidCommand, NoSeat, NotFound
from ledger.handlers.context import (
    CHECK_HORIZON,
    ONE_DAY,
    Context,
    derived_id,
    new_booking_id,
    not_erased,
    rule_error,
    within_horizon,
)
from ledger.seats import month_starts, shortfall_days
from ledger.unit_of_work import UnitOfWork


def offer_place(uow: UnitOfWork, cmd: c.OfferPlace, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    not_erased(child)
    inst = uow.get(Institution, cmd.institution_id)
    ctx.rule_set(uow)
    if cmd.age_group not in child.registrations or not child.registrations[cmd.age_group]["active"]:
        raise Conflict(f"child {child.id} is not waiting for a {cmd.age_group} place")
    if cmd.expires_on < ctx.today:
        raise InvalidCommand("the offer would expire before it is made")
    if not rules.pool_allowed(cmd.pool, ctx.channel, ctx.rule_set(uow)):
        raise InvalidCommand(f"{cmd.pool} seats are assigned only by caseworkers")
    offer_id = str(derived_id("offer", child.id, child.version))
    child.offer(
        offer_id=offer_id,
        institution_id=str(inst.id),
        age_group=cmd.age_group,
        pool=cmd.pool,
        start_date=cmd.start_date,
        expires_on=cmd.expires_on,
        rank=cmd.rank,
        priority_basis=cmd.priority_basis,
        seed=cmd.seed,
        meta=ctx.meta(uow, cmd.start_date),
    )
    return {"id": offer_id, "child_id": str(child.id), "institution_id": str(inst.id)}


def _open_offer(child: Child, offer_id: UUID) -> dict:
    offer = child.offers.get(str(offer_id))
    if offer is None:
        raise NotFound(f"child {child.id} has no offer {offer_id}")
    if offer["state"] != "open":
        raise Conflict(f"offer {offer_id} is already {offer['state']}")
    return offer


def accept_offer(uow: UnitOfWork, cmd: c.AcceptOffer, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    offer = _open_offer(child, cmd.offer_id)
    if ctx.today > offer["expires_on"]:
        raise Conflict(f"offer {cmd.offer_id} expired on {offer['expires_on']}")
    booking_id = new_booking_id(uow, ctx, "offer", cmd.offer_id)
    outcome = _book(
        uow,
        ctx,
        child=child,
        inst=uow.get(Institution, offer["institution_id"]),
        start=offer["start_date"],
        pool=offer["pool"],
        lunch=cmd.lunch,
        booking_id=booking_id,
        basis={"source": "offer", "offer_id": str(cmd.offer_id)},
        mutate_first=lambda: child.accept_offer(
            offer_id=str(cmd.offer_id), booking_id=str(booking_id), meta=ctx.meta(uow, offer["start_date"])
        ),
    )
    return outcome


def decline_offer(uow: UnitOfWork, cmd: c.DeclineOffer, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    offer = _open_offer(child, cmd.offer_id)
    rule_set = ctx.rule_set(uow)
    registration = child.registrations.get(offer["age_group"])
    need_date = registration["need_date"] if registration else offer["start_date"]
    new_need = rules.decline_need_date(need_date, rule_set, ctx.today, offered_start=offer["start_date"])
    child.decline_offer(
        offer_id=str(cmd.offer_id), need_date=new_need, meta=ctx.meta(uow, ctx.today, cmd.reason)
    )
    return {"offer_id": str(cmd.offer_id), "need_date": new_need.isoformat()}


def expire_offer(uow: UnitOfWork, cmd: c.ExpireOffer, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    offer = _open_offer(child, cmd.offer_id)
    if ctx.today <= offer["expires_on"]:
        raise Conflict(f"offer {cmd.offer_id} is open until {offer['expires_on']}")
    child.expire_offer(offer_id=str(cmd.offer_id), meta=ctx.meta(uow, offer["expires_on"]))
    return {"offer_id": str(cmd.offer_id), "state": "expired"}


# -- bookings -----------------------------------------------------------------------------------


def book_place(uow: UnitOfWork, cmd: c.BookPlace, ctx: Context) -> dict:
    if cmd.booking_id:
        uow.ensure_unused(cmd.booking_id, "booking")
    child = uow.get(Child, cmd.child_id)
    return _book(
        uow,
        ctx,
        child=child,
        inst=uow.get(Institution, cmd.institution_id),
        start=cmd.start_date,
        pool=cmd.pool,
        lunch=cmd.lunch,
        booking_id=cmd.booking_id or new_booking_id(uow, ctx, child.id, child.version),
        basis={"source": "booking"},
        override=cmd.override,
        reason=cmd.reason,
        need_date=cmd.need_date,
    )


@dataclass(frozen=True)
class _Checked:
    """A booking that passed the checks: what recording it needs."""

    rule_set: Any
    end: date
    segments: list[tuple[str, date, date]]  # (age group, first, last) of the seats it holds
    self_service: bool  # counted against the self-service share (general seats only)
    shortages: list[tuple[str, list]]  # per age group the days beyond capacity (an override)


def _book(
    uow: UnitOfWork,
    ctx: Context,
    *,
    child: Child,
    inst: Institution,
    start: date,
    pool: str,
    lunch: bool,
    booking_id: UUID,
    basis: dict[str, Any],
    override: bool = False,
    reason: str | None = None,
    mutate_first: Callable[[], None] | None = None,
    ending: dict[str, date] | None = None,
    need_date: date | None = None,
) -> dict:
    """Check invariants 1 and 2 for a new booking, then record it."""
    checked = _check_booking(uow, ctx, child, inst, start, pool, basis, override, ending)
    if mutate_first is not None:
        mutate_first()
    _record_booking(uow, ctx, checked, child=child, inst=inst, start=start, pool=pool, lunch=lunch,
                    booking_id=booking_id, basis=basis, reason=reason, need_date=need_date)
    return {
        "id": str(booking_id),
        "child_id": str(child.id),
        "institution_id": str(inst.id),
        "pool": pool,
        "start_date": start.isoformat(),
        "end_date": checked.end.isoformat(),
        "override": bool(checked.shortages),
    }


def _check_booking(uow: UnitOfWork, ctx: Context, child: Child, inst: Institution, start: date, pool: str,
                   basis: dict[str, Any], override: bool, ending: dict[str, date] | None) -> _Checked:
    """Everything a booking must pass before anything is recorded; raises the first refusal."""
    rule_set = ctx.rule_set(uow)
    today = ctx.today
    not_erased(child)
    # (the household is not read: a child's is there since its registration, and only its id is needed)
    # An accepted offer is the placement office's decision even when the family answers it: it
    # is checked (and its seat counted) as a caseworker placement.
    self_service = ctx.channel == "self_service" and basis["source"] != "offer"
    if self_service and not rules.self_service_allowed(rule_set, today):
        raise Conflict(f"self-service booking is not offered under {rule_set.id}; ask a caseworker")
    if not rules.pool_allowed(pool, "caseworker" if basis["source"] == "offer" else ctx.channel, rule_set):
        raise InvalidCommand(f"{pool} seats are assigned only by caseworkers")
    if override and ctx.channel != "caseworker":
        raise InvalidCommand("only a caseworker can book beyond capacity")
    if self_service and start < today:
        raise InvalidCommand(f"a start date in the past ({start}) can only be recorded by a caseworker")
    within_horizon(start, ctx, "a start date")
    try:
        end = rules.booking_end(child.birth_date, start, inst.kind, rule_set)
        segments = rules.seat_segments(child.birth_date, start, end, inst.kind, rule_set)
    except rules.RuleError as e:
        raise rule_error(e) from None
    clash = child.overlapping_placement(start, end, ending=ending)
    if clash is not None:
        _, first, last = child.placements[clash]
        raise ChildAlreadyBooked(
            f"child {child.id} already holds booking {clash} from {first} to {last}"
        )
    self_service = self_service and pool == "general"
    shortages = _shortages(inst, pool, segments, start, today, rule_set, self_service)
    if shortages and not override:
        raise NoSeat(_no_seat_detail(inst, pool, shortages[0], start, today, rule_set, self_service))
    return _Checked(rule_set, end, segments, self_service, shortages)


def _record_booking(uow: UnitOfWork, ctx: Context, checked: _Checked, *, child: Child, inst: Institution,
                    start: date, pool: str, lunch: bool, booking_id: UUID, basis: dict[str, Any],
                    reason: str | None, need_date: date | None) -> None:
    """The booking, its registration when it had none, the override, the seats and the child's place."""
    rule_set, end, segments, shortages = checked.rule_set, checked.end, checked.segments, checked.shortages
    start_group = segments[0][0]
    meta = ctx.meta(uow, start, reason)
    if child.registrations.get(start_group) is None:
        # A booking made without an earlier registration records the registration with it, from
        # the day the family asked a place from (its start unless it says it asked earlier).
        child.register(age_group=start_group, wishes=[str(inst.id)], need_date=min(need_date or start, start),
                       registered_on=ctx.today, newcomer=False, meta=meta)
    seg_data = [[g, a, b] for g, a, b in segments]
    uow.add(Booking(
        id=booking_id, child_id=str(child.id), household_id=str(child.household_id), institution_id=str(inst.id),
        pool=pool, age_group=start_group, start_date=start, end_date=end, segments=seg_data, lunch=lunch,
        basis={**basis, "rule_set": rule_set.id, "policy": rule_set.policy, "channel": ctx.channel,
               "override": bool(shortages)},
        meta=meta,
    ))
    for age_group, short in shortages:
        inst.record_override(booking_id=str(booking_id), age_group=age_group, pool=pool,
                             short_days=[[a, b] for a, b in short], meta=meta)
    inst.reserve(
        booking_id=str(booking_id), child_id=str(child.id), pool=pool, segments=seg_data, meta=meta,
        forget_before=ctx.today - CHECK_HORIZON, self_service=checked.self_service,
    )
    child.place(booking_id=str(booking_id), institution_id=str(inst.id), first=start, last=end, meta=meta)


def _shortages(inst, pool, segments, start, today, rule_set, self_service) -> list[tuple[str, list]]:
    """Per age group of the booking, the days on which its pool has no seat for it (invariant 1).

    A self-service booking must fit `rules.self_service_limit`: in its start month a seat beyond
    the held seats still kept for caseworker placements, later any free general seat.
    """
    def limit(day: date, capacity: int, caseworker_seats: int) -> int:
        if self_service:
            return rules.self_service_limit(capacity, caseworker_seats, day, start, today, rule_set)
        return capacity

    out = []
    for age_group, first, last in segments:
        short = shortfall_days(
            first,
            last,
            inst.schedule(age_group, pool),
            inst.seats_held(age_group, pool),
            limit=limit,
            extra_breaks=month_starts(first, last)[:1] if self_service else (),
            caseworker_in_use=inst.seats_held(age_group, pool, caseworkers_only=True) if self_service else (),
        )
        if short:
            out.append((age_group, short))
    return out


def _no_seat_detail(inst, pool, shortage, start, today, rule_set, self_service) -> str:
    """Why a booking found no seat, naming the month: the pool is full, or (a self-service
    booking's start month) its free seats are held for caseworker placements."""
    age_group, short = shortage
    first, last = short[0]
    if self_service:
        full = _shortages(inst, pool, [(age_group, first, last)], start, today, rule_set, False)
        if not full:
            return (
                f"{inst.name} has no {age_group} seat open to self-service in {first:%Y-%m}: the self-service "
                f"share is full, the free general seats are held for caseworker placements until "
                f"{rules.release_day(first, rule_set, today)}"
            )
        first, last = full[0][1][0]
    return f"{inst.name} has no free {age_group} seat in the {pool} pool in {first:%Y-%m} (from {first} to {last})"


def _active_booking(uow: UnitOfWork, booking_id: UUID) -> Booking:
    booking = uow.get(Booking, booking_id)
    if booking.status != "booked":
        raise Conflict(f"booking {booking_id} is already {booking.status}")
    return booking


def cancel_booking(uow: UnitOfWork, cmd: c.CancelBooking, ctx: Context) -> dict:
    booking = _active_booking(uow, cmd.booking_id)
    if ctx.channel == "self_service" and cmd.effective_date < ctx.today:
        raise InvalidCommand(f"a cancellation in the past ({cmd.effective_date}) can only be recorded by a caseworker")
    if cmd.effective_date > booking.end_date:
        raise InvalidCommand(f"booking {booking.id} already ends on {booking.end_date}")
    within_horizon(max(cmd.effective_date, booking.start_date), ctx, "a cancellation from")
    inst = uow.get(Institution, booking.institution_id)
    child = uow.get(Child, booking.child_id)
    effective = max(cmd.effective_date, booking.start_date)
    meta = ctx.meta(uow, effective, cmd.reason)
    booking.cancel(effective_date=effective, meta=meta)
    inst.release(booking_id=str(booking.id), from_date=effective, meta=meta)
    child.end_placement(booking_id=str(booking.id), last=effective - ONE_DAY, meta=meta)
    return {
        "id": str(booking.id),
        "effective_date": effective.isoformat(),
        "last_day": (effective - ONE_DAY).isoformat(),
    }


def transfer_child(uow: UnitOfWork, cmd: c.TransferChild, ctx: Context) -> dict:
    booking = _active_booking(uow, cmd.booking_id)
    if str(cmd.institution_id) == booking.institution_id:
        raise InvalidCommand("the child is already in that institution")
    # The day after the last day is allowed: that is the age roll from a nursery
    # booking (it ends the day before kindergarten age) to a kindergarten.
    if not booking.start_date < cmd.effective_date <= booking.end_date + ONE_DAY:
        raise InvalidCommand(
            f"a transfer must take effect after the booking starts ({booking.start_date}) "
            f"and by the day after its last day ({booking.end_date + ONE_DAY})"
        )
    if ctx.channel == "self_service" and cmd.effective_date < ctx.today:
        raise InvalidCommand(f"a transfer in the past ({cmd.effective_date}) can only be recorded by a caseworker")
    old_inst = uow.get(Institution, booking.institution_id)
    new_inst = uow.get(Institution, cmd.institution_id)
    child = uow.get(Child, booking.child_id)
    new_id = new_booking_id(uow, ctx, "transfer", booking.id)
    meta = ctx.meta(uow, cmd.effective_date, cmd.reason)

    def end_old_booking() -> None:
        booking.transfer(
            effective_date=cmd.effective_date,
            kind=cmd.kind,
            to_institution_id=str(new_inst.id),
            to_booking_id=str(new_id),
            meta=meta,
        )
        old_inst.release(booking_id=str(booking.id), from_date=cmd.effective_date, meta=meta)
        child.end_placement(booking_id=str(booking.id), last=cmd.effective_date - ONE_DAY, meta=meta)

    outcome = _book(
        uow,
        ctx,
        child=child,
        inst=new_inst,
        start=cmd.effective_date,
        pool=cmd.pool or booking.pool,
        lunch=booking.lunch if cmd.lunch is None else cmd.lunch,
        booking_id=new_id,
        basis={"source": "transfer", "from_booking_id": str(booking.id), "kind": cmd.kind},
        reason=cmd.reason,
        mutate_first=end_old_booking,
        # The old booking's days from the transfer on must not clash with the new one.
        ending={str(booking.id): cmd.effective_date - ONE_DAY},
    )
    return outcome | {"from_booking_id": str(booking.id)}
