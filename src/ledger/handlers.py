"""Command handlers: plain functions (uow, command, ctx) -> outcome.

Each handler checks everything first and changes aggregates only at its end, so
a refused command leaves no trace in the unit of work (the bulk path relies on
this). Outcomes are small JSON-able dicts (ids, dates, decisions).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable
from uuid import UUID, uuid4, uuid5

import rules
from ledger import commands as c
from ledger.aggregates import (
    NS,
    BillingCalendar,
    BillingRun,
    Booking,
    Child,
    Household,
    Institution,
    RuleBook,
    Statement,
    billing_run_id,
    statement_id,
)
from ledger.errors import (
    AlreadyIssued,
    ChildAlreadyBooked,
    Conflict,
    InvalidCommand,
    NoRuleSetInForce,
    NoSeat,
    NotFound,
)
from ledger.registry import PersonRegistry
from ledger.seats import month_starts, most_in_use, shortfall_days
from ledger.unit_of_work import UnitOfWork

ONE_DAY = timedelta(days=1)
# How far back capacity is checked: seats held only before it are forgotten by the
# institution (flat snapshots), so no booking, cancellation or capacity change may
# take effect before it.
CHECK_HORIZON = timedelta(days=3 * 366)


def _not_erased(person) -> None:
    if person.erased:
        kind = "household" if isinstance(person, Household) else "child"
        raise Conflict(f"{kind} {person.id} was erased; register the family again if it returns")


def _within_horizon(day: date, ctx: "Context", what: str) -> None:
    if day < ctx.today - CHECK_HORIZON:
        raise InvalidCommand(
            f"{what} {day} is more than three years back ({ctx.today - CHECK_HORIZON}); capacity "
            "is no longer checked that far back"
        )


@dataclass
class Context:
    """Who asks, through which channel, and on which day (recorded time)."""

    actor: str
    channel: str
    today: date
    registry: PersonRegistry | None = None
    before_commit: list[Callable[[], None]] = field(default_factory=list)
    after_commit: list[Callable[[], None]] = field(default_factory=list)
    # A re-run after a conflicting save: derived ids are then checked against the store (one
    # read a booking does not pay on its first try).
    retried: bool = False
    _rule_set: Any = None

    def rule_set(self, uow: UnitOfWork, required: bool = True) -> Any:
        if self._rule_set is None:
            book = uow.find(RuleBook, RuleBook.create_id())
            rule_set_id = book.in_force(self.today) if book else None
            if rule_set_id is None:
                if not required:
                    return None
                raise NoRuleSetInForce(
                    f"no rule set is in force on {self.today}; activate one first "
                    "(plads rules activate NAME@VERSION --from DATE)"
                )
            self._rule_set = rules.load_rule_set(rule_set_id)
        return self._rule_set

    def meta(
        self, uow: UnitOfWork, effective_date: date | None, reason: str | None = None
    ) -> dict[str, Any]:
        rule_set = self.rule_set(uow, required=False)
        return {
            "actor": self.actor,
            "channel": self.channel,
            "reason": reason,
            "rule_set": rule_set.id if rule_set else None,
            "effective_date": effective_date or self.today,
        }


def _derived_id(*parts: object) -> UUID:
    """An id derived from what the command acts on (never random), so the same history gives
    the same ids: `plads simulate --seed` writes the same ledger event for event."""
    return uuid5(NS, "/".join(str(p) for p in parts))


def _new_booking_id(uow: UnitOfWork, ctx: Context, *parts: object) -> UUID:
    """A derived booking id; should a caller have chosen it for something else, the next one.

    Only a re-run looks in the store: a first try that meets a caller's id fails to save as a
    conflict and is re-run (a uuid5 of a child's id and version is not guessed by chance).
    """
    n = 0
    while True:
        booking_id = _derived_id("booking", *parts, *((n,) if n else ()))
        if booking_id not in uow.seen and (not ctx.retried or _unused(uow, booking_id)):
            return booking_id
        n += 1


def _unused(uow: UnitOfWork, aggregate_id: UUID) -> bool:
    try:
        uow.ensure_unused(aggregate_id, "booking")
    except Conflict:
        return False
    return True


def _rule_error(e: rules.RuleError) -> InvalidCommand:
    return InvalidCommand(str(e))


# -- administration -------------------------------------------------------------------------


def activate_rule_set(uow: UnitOfWork, cmd: c.ActivateRuleSet, ctx: Context) -> dict:
    try:
        rule_set = rules.load_rule_set(cmd.rule_set_id)
    except rules.RuleError as e:
        raise _rule_error(e) from None
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
    _within_horizon(cmd.effective_from, ctx, "a capacity change from")
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


# -- households -------------------------------------------------------------------------------


def register_household(uow: UnitOfWork, cmd: c.RegisterHousehold, ctx: Context) -> dict:
    if cmd.household_id:
        uow.ensure_unused(cmd.household_id, "household")
    household = Household(
        municipality_code=cmd.municipality_code,
        district=cmd.district,
        single_parent=cmd.single_parent,
        children_under_18=cmd.children_under_18,
        location=_coarse(cmd.location),
        meta=ctx.meta(uow, None),
        id=cmd.household_id or uuid4(),
    )
    uow.add(household)
    if cmd.payer and ctx.registry is not None:
        _keep_identifiers(ctx, household.id, cmd.payer)
    return {"id": str(household.id)}


def change_household_facts(uow: UnitOfWork, cmd: c.ChangeHouseholdFacts, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    _not_erased(household)
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
        location=_coarse(cmd.location),
    )
    share = _redecide_friplads(uow, ctx, household, cmd.effective_from, meta)
    return {"id": str(household.id), "pay_share_percent": share}


def declare_income(uow: UnitOfWork, cmd: c.DeclareIncome, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    _not_erased(household)
    single, children = household.facts_on(cmd.effective_from)
    decision = _friplads_decision(uow, ctx, cmd.annual_income_ore, children, single, cmd.effective_from)
    meta = ctx.meta(uow, cmd.effective_from)
    household.declare_income(
        annual_income_ore=cmd.annual_income_ore, effective_from=cmd.effective_from, meta=meta
    )
    granted = household.granted_income_on(cmd.effective_from)
    if granted is not None and not rules.friplads_recalculation_due(granted, cmd.annual_income_ore,
                                                                     cmd.effective_from, ctx.rule_set(uow)):
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
    _not_erased(household)
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
            raise _rule_error(e) from None
    if all(share is None for share in shares):
        raise InvalidCommand(f"household {household.id} had no friplads in {cmd.year}: nothing to settle")
    household.settle_friplads(year=cmd.year, annual_income_ore=cmd.annual_income_ore, shares=shares,
                              meta=ctx.meta(uow, date(cmd.year, 12, 31)))
    return {"household_id": str(household.id), "year": cmd.year, "pay_share_percent": shares}


def _redecide_friplads(uow: UnitOfWork, ctx: Context, household: Household, since: date,
                       meta: dict[str, Any], keep_first: bool = False) -> int | None:
    """Decide the pay share again from `since` on, wherever income, household facts or the
    published scale change later: a backdated fact must not leave later decisions stale.

    Returns the share decided for `since` (None without a declared income)."""
    rule_set = ctx.rule_set(uow)
    scale_days = [s.effective_from for s in rule_set.friplads]
    later = sorted({d for d in household.fact_dates() + scale_days if d > since})
    first = None
    for day in [since, *later]:
        income = household.income_on(day)
        if income is None or rule_set.gap("friplads", day) or (keep_first and day == since):
            continue  # no scale published for the day (billing refuses its months), or the share stays
        single, children = household.facts_on(day)
        decision = _friplads_decision(uow, ctx, income, children, single, day)
        if day == since:
            first = decision["pay_share_percent"]
        elif decision["pay_share_percent"] == household.pay_share_on(day):
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
        raise _rule_error(e) from None
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
    _not_erased(household)
    if cmd.child_id is not None:
        child = uow.get(Child, cmd.child_id)
        if child.household_id != str(household.id):
            raise InvalidCommand(f"child {cmd.child_id} does not belong to household {household.id}")
    if cmd.kind in ("socialpaedagogisk_friplads", "manual_correction") and ctx.channel == "self_service":
        raise InvalidCommand(f"a {cmd.kind} is decided by a caseworker")
    adjustment_id = str(_derived_id("adjustment", household.id, household.version))
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


# -- children ---------------------------------------------------------------------------------


def register_child(uow: UnitOfWork, cmd: c.RegisterChild, ctx: Context) -> dict:
    household = uow.get(Household, cmd.household_id)
    _not_erased(household)
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
        _keep_identifiers(ctx, child.id, cmd.identifiers)
    return {"id": str(child.id), "household_id": str(household.id)}


def _coarse(location: c.Location | None) -> dict[str, float] | None:
    """A home's position to about a kilometre (two decimals: ~1.1 km north-south, ~0.6 km
    east-west here): enough for the 4 km rule, too coarse to be an address — events outlive
    an erasure, so they must not carry one."""
    if location is None:
        return None
    return {"lat": round(location.lat, 2), "lon": round(location.lon, 2)}


def _keep_identifiers(ctx: Context, person_id: UUID, identifiers: c.PersonIdentifiers) -> None:
    data = identifiers.model_dump(exclude_none=True)
    if data:
        registry = ctx.registry
        # Stored before the event is saved: if the save fails we keep an unused
        # registry row (no identifier is ever lost); a retry overwrites it.
        ctx.before_commit.append(lambda: registry.put(person_id, data))


def register(uow: UnitOfWork, cmd: c.Register, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    if child.erased:
        raise Conflict(f"child {child.id} was erased")
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
    if child.erased:
        raise Conflict(f"child {child.id} was erased")
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
        raise _rule_error(e) from None
    if len(wishes) > most:
        raise InvalidCommand(f"at most {most} wishes for {age_group} under {rule_set.id}")
    for wish in wishes:
        inst = uow.get(Institution, wish)
        if age_group not in rules.age_groups_for_kind(inst.kind):
            raise InvalidCommand(f"institution {wish} ({inst.kind}) takes no {age_group} children")
    try:
        school = rules.school_start(child.birth_date, rule_set)
    except rules.RuleError as e:
        raise _rule_error(e) from None
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
        raise _rule_error(e) from None
    return {
        "child_id": str(child.id),
        "age_group": age_group,
        "wishes": reg["wishes"],
        "need_date": reg["need_date"].isoformat(),
        "registered_on": reg["registered_on"].isoformat(),
        "seniority_date": seniority.isoformat(),
        "guarantee_date": guarantee.isoformat(),
    }


# -- offers -------------------------------------------------------------------------------------


def offer_place(uow: UnitOfWork, cmd: c.OfferPlace, ctx: Context) -> dict:
    child = uow.get(Child, cmd.child_id)
    if child.erased:
        raise Conflict(f"child {child.id} was erased")
    inst = uow.get(Institution, cmd.institution_id)
    ctx.rule_set(uow)
    if cmd.age_group not in child.registrations or not child.registrations[cmd.age_group]["active"]:
        raise Conflict(f"child {child.id} is not waiting for a {cmd.age_group} place")
    if cmd.expires_on < ctx.today:
        raise InvalidCommand("the offer would expire before it is made")
    if not rules.pool_allowed(cmd.pool, ctx.channel, ctx.rule_set(uow)):
        raise InvalidCommand(f"{cmd.pool} seats are assigned only by caseworkers")
    offer_id = str(_derived_id("offer", child.id, child.version))
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
    booking_id = _new_booking_id(uow, ctx, "offer", cmd.offer_id)
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
        booking_id=cmd.booking_id or _new_booking_id(uow, ctx, child.id, child.version),
        basis={"source": "booking"},
        override=cmd.override,
        reason=cmd.reason,
        need_date=cmd.need_date,
    )


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
    rule_set = ctx.rule_set(uow)
    today = ctx.today
    if child.erased:
        raise Conflict(f"child {child.id} was erased")
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
    _within_horizon(start, ctx, "a start date")
    try:
        end = rules.booking_end(child.birth_date, start, inst.kind, rule_set)
        segments = rules.seat_segments(child.birth_date, start, end, inst.kind, rule_set)
    except rules.RuleError as e:
        raise _rule_error(e) from None
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

    # -- all checks passed: record the facts --------------------------------------------------
    if mutate_first is not None:
        mutate_first()
    start_group = segments[0][0]
    meta = ctx.meta(uow, start, reason)
    registration = child.registrations.get(start_group)
    if registration is None:
        # A booking made without an earlier registration records the registration with it, from
        # the day the family asked a place from (its start unless it says it asked earlier).
        child.register(
            age_group=start_group,
            wishes=[str(inst.id)],
            need_date=min(need_date or start, start),
            registered_on=today,
            newcomer=False,
            meta=meta,
        )
    seg_data = [[g, a, b] for g, a, b in segments]
    booking = Booking(
        id=booking_id,
        child_id=str(child.id),
        household_id=str(child.household_id),
        institution_id=str(inst.id),
        pool=pool,
        age_group=start_group,
        start_date=start,
        end_date=end,
        segments=seg_data,
        lunch=lunch,
        basis={
            **basis,
            "rule_set": rule_set.id,
            "policy": rule_set.policy,
            "channel": ctx.channel,
            "override": bool(shortages),
        },
        meta=meta,
    )
    uow.add(booking)
    for age_group, short in shortages:
        inst.record_override(
            booking_id=str(booking_id),
            age_group=age_group,
            pool=pool,
            short_days=[[a, b] for a, b in short],
            meta=meta,
        )
    inst.reserve(
        booking_id=str(booking_id), child_id=str(child.id), pool=pool, segments=seg_data, meta=meta,
        forget_before=today - CHECK_HORIZON, self_service=self_service,
    )
    child.place(booking_id=str(booking_id), institution_id=str(inst.id), first=start, last=end, meta=meta)
    return {
        "id": str(booking_id),
        "child_id": str(child.id),
        "institution_id": str(inst.id),
        "pool": pool,
        "start_date": start.isoformat(),
        "end_date": end.isoformat(),
        "override": bool(shortages),
    }


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
    _within_horizon(max(cmd.effective_date, booking.start_date), ctx, "a cancellation from")
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
    new_id = _new_booking_id(uow, ctx, "transfer", booking.id)
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


# -- billing and erasure ------------------------------------------------------------------------


# Statement lines the billing view marks as not billable (projections.billing._marker).
UNBILLABLE_LINES = ("gap", "provisional")


def issue_statements(uow: UnitOfWork, cmd: c.IssueStatements, ctx: Context) -> dict:
    if not cmd.statements:
        raise InvalidCommand(f"no statements to issue for {cmd.month}; an empty run would lock the month")
    if uow.find(BillingRun, billing_run_id(cmd.month)):
        raise AlreadyIssued(f"the statements for {cmd.month} were already issued")
    # A run names every household of the city: read them and their statements together (one round
    # trip on PostgreSQL, not two per household).
    uow.prefetch([s.household_id for s in cmd.statements]
                 + [statement_id(str(s.household_id), cmd.month) for s in cmd.statements])
    seen = set()
    for s in cmd.statements:
        if s.household_id in seen:
            raise InvalidCommand(f"household {s.household_id} has two statements for {cmd.month}")
        seen.add(s.household_id)
        uow.get(Household, s.household_id)
        unpublished = next((line for line in s.lines if line.kind in UNBILLABLE_LINES), None)
        if unpublished is not None:
            # A month without its year's published numbers (a gap, or after the last published
            # year) is never issued: the rule data needs that year first (a new rule-set version).
            raise InvalidCommand(f"{cmd.month} cannot be issued for household {s.household_id}: "
                                 f"{unpublished.detail or unpublished.kind}")
        if uow.find(Statement, statement_id(str(s.household_id), cmd.month)):
            raise AlreadyIssued(f"household {s.household_id} already has a statement for {cmd.month}")
    meta = ctx.meta(uow, date.fromisoformat(cmd.month + "-01"))
    total = 0
    for s in cmd.statements:
        lines = [line.model_dump(mode="json") for line in s.lines]
        uow.add(
            Statement(
                household_id=str(s.household_id), month=cmd.month, lines=lines, total_ore=s.total_ore, meta=meta
            )
        )
        total += s.total_ore
    uow.add(BillingRun(month=cmd.month, statements=len(cmd.statements), total_ore=total, meta=meta))
    skipped = {"skipped": [s.model_dump(mode="json") for s in cmd.skipped]} if cmd.skipped else {}
    return {"month": cmd.month, "statements": len(cmd.statements), "total_ore": total, **skipped}


def open_billing_month(uow: UnitOfWork, cmd: c.OpenBillingMonth, ctx: Context) -> dict:
    """The horizon follows the clock of the command that asks: up to the month after today's."""
    today = f"{ctx.today:%Y-%m}"
    horizon = f"{rules.add_months(ctx.today.replace(day=1), 1):%Y-%m}"
    if cmd.month > horizon:
        raise InvalidCommand(f"{cmd.month} is not yet within the billing horizon: on {ctx.today} it reaches {horizon}")
    calendar = uow.find(BillingCalendar, BillingCalendar.create_id())
    if calendar is None:
        calendar = BillingCalendar()
        uow.add(calendar)
    if today not in calendar.opened:  # one event per calendar month is enough: its recorded time is the clock
        calendar.open_month(month=today, meta=ctx.meta(uow, None))
    return {"month": cmd.month, "horizon": horizon}


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


HANDLERS: dict[type, Callable[[UnitOfWork, Any, Context], dict]] = {
    c.ActivateRuleSet: activate_rule_set,
    c.RegisterInstitution: register_institution,
    c.ChangeCapacity: change_capacity,
    c.SetGrossCost: set_gross_cost,
    c.AssignCluster: assign_cluster,
    c.RegisterHousehold: register_household,
    c.ChangeHouseholdFacts: change_household_facts,
    c.DeclareIncome: declare_income,
    c.SettleFriplads: settle_friplads,
    c.AdjustPayment: adjust_payment,
    c.RegisterChild: register_child,
    c.Register: register,
    c.ChangeWishes: change_wishes,
    c.OfferPlace: offer_place,
    c.AcceptOffer: accept_offer,
    c.DeclineOffer: decline_offer,
    c.ExpireOffer: expire_offer,
    c.BookPlace: book_place,
    c.CancelBooking: cancel_booking,
    c.TransferChild: transfer_child,
    c.IssueStatements: issue_statements,
    c.OpenBillingMonth: open_billing_month,
    c.ErasePerson: erase_person,
}
