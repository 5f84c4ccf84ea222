"""Counterfactual replay: the same demand under another rule set, in a scratch ledger.

The demand of a ledger is what families and the municipality asked for, not what the rules gave
them: institutions and their capacity, households (facts, incomes), children, registrations
(wishes, need dates), changes of wishes, and cancellations (a family leaving on a date). Replayed
in the order and at the recorded times of the original (a SimulatedClock, the bulk path, a
an in-memory SQLite database), with one `RuleSetActivated` of the alternative rule set in place of the
original activations. Then the allocation:

- book-en-plads: the families' bookings themselves. Every original booking (self-service or
  caseworker, or the acceptance of a waiting-list offer) is booked again at the time it was
  recorded, same child, institution, start, pool and channel; the alternative rules may refuse
  it (no seat in the self-service share), and then the child stays registered and waits.
- waiting list: `processes.allocation.run_allocation(ledger, month, seed=seed)` on the 1st of
  each month for the month two months later (the allocation module), and every family accepts
  the offers it gets (through the placement office: there is no self-service there); caseworker bookings of
  basis and special seats, and placements imported from the old system, are kept as they were.

Deterministic: the same ledger, rule set and seed give the same scratch ledger event for event.
"""

from __future__ import annotations

from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any, Callable, Iterator

import rules
from eventsourcing.persistence import PersistenceError

from ledger import Ledger, LedgerError, SimulatedClock
from ledger import commands as c
from ledger import events
from ledger.errors import StaleState
from processes.allocation import run_allocation
from projections.engine import Envelope, LogReader, View, on

from replay.audit.facts import fold
from replay.audit.scenarios import AuditError, resolve_rule_set

KEPT_POOLS = ("basis", "special")  # assigned by caseworkers on need under every policy
# Copenhagen's office allocates on the 1st of a month the seats from two months later (the
# simulator's allocation_months_ahead), so an offer comes before the need date, not after it.
ALLOCATE_AHEAD = 2


@dataclass
class Script(View):
    """The demand of a ledger as commands at their recorded times (no tables)."""

    name = "counterfactual_script"
    tables = ()
    # (when, what, command, channel, the original id of the booking a transfer creates)
    steps: list[tuple[datetime, str, Any, str, str | None]] = field(default_factory=list)
    first_activation: date | None = None  # the earliest rule-set activation of the original

    def __post_init__(self) -> None:
        View.__init__(self)

    def _step(self, e: Envelope, what: str, command: Any, *, channel: str | None = None,
              creates: str | None = None) -> None:
        self.steps.append((e.recorded_at, what, command, channel or _channel(e), creates))

    @on(events.Child.PersonErased, events.Household.PersonErased)
    def _erased(self, e: Envelope) -> None:
        self._step(e, "demand", c.ErasePerson(person_id=e.originator_id,
                                              reason=e.meta.get("reason") or "erased in the original"))

    @on(events.RuleBook.RuleSetActivated)
    def _rule_set_activated(self, e: Envelope) -> None:
        if self.first_activation is None or e.data["effective_from"] < self.first_activation:
            self.first_activation = e.data["effective_from"]

    @on(events.Institution.InstitutionRegistered)
    def _institution_registered(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.RegisterInstitution(
            institution_id=e.originator_id, name=d["name"], district=d["district"], kind=d["kind"],
            ownership=d["ownership"], municipality_code=d["municipality_code"], location=d.get("location")))

    @on(events.Institution.CapacityChanged)
    def _capacity_changed(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.ChangeCapacity(institution_id=e.originator_id, age_group=d["age_group"],
                                                 pool=d["pool"], seats=d["seats"], effective_from=d["effective_from"]))

    @on(events.Institution.GrossCostSet)
    def _gross_cost_set(self, e: Envelope) -> None:  # a fact of the other municipality: the same in any policy
        d = e.data
        self._step(e, "demand", c.SetGrossCost(institution_id=e.originator_id, age_group=d["age_group"],
                                               gross_cost_ore=d["gross_cost_ore"], effective_from=d["effective_from"]))

    @on(events.Institution.ClusterAssigned)
    def _cluster_assigned(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.AssignCluster(institution_id=e.originator_id, cluster=d["cluster"],
                                                effective_from=d["effective_from"], reason=e.meta.get("reason")))

    @on(events.Household.HouseholdRegistered)
    def _household_registered(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.RegisterHousehold(
            household_id=e.originator_id, municipality_code=d["municipality_code"], district=d["district"],
            single_parent=d["single_parent"], children_under_18=d["children_under_18"], location=d.get("location")))

    @on(events.Household.HouseholdFactsChanged)
    def _household_facts_changed(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.ChangeHouseholdFacts(
            household_id=e.originator_id, effective_from=d.get("effective_from") or e.meta.get("effective_date")
            or e.recorded_at.date(), single_parent=d["single_parent"], children_under_18=d["children_under_18"],
            municipality_code=d["municipality_code"], district=d["district"], location=d.get("location")))

    @on(events.Household.IncomeDeclared)
    def _income_declared(self, e: Envelope) -> None:
        self._step(e, "demand", c.DeclareIncome(household_id=e.originator_id,
                                                annual_income_ore=e.data["annual_income_ore"],
                                                effective_from=e.data["effective_from"]))

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.RegisterChild(
            child_id=e.originator_id, household_id=d["household_id"], birth_date=d["birth_date"],
            district=d.get("district"), municipality_code=d.get("municipality_code"),
            support_needs=list(d.get("support_needs") or [])))

    @on(events.Child.Opskrevet)
    def _registered(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "register", c.Register(child_id=e.originator_id, age_group=d["age_group"],
                                             wishes=list(d["wishes"]), need_date=d["need_date"],
                                             newcomer=bool(d.get("newcomer"))))

    @on(events.Child.WishesChanged)
    def _wishes_changed(self, e: Envelope) -> None:
        d = e.data
        self._step(e, "demand", c.ChangeWishes(child_id=e.originator_id, age_group=d["age_group"],
                                               wishes=list(d["wishes"]), need_date=d["need_date"]))

    @on(events.Booking.PlaceBooked)
    def _booked(self, e: Envelope) -> None:
        d = e.data
        basis = d.get("basis") or {}
        source = basis.get("source")
        if source == "transfer":
            return  # a continuation of a place: not new demand
        override = bool(basis.get("override"))  # a caseworker's decision to book beyond capacity: kept
        self._step(e, "book", c.BookPlace(child_id=d["child_id"], institution_id=d["institution_id"],
                                          start_date=d["start_date"], pool=d["pool"], lunch=bool(d["lunch"]),
                                          booking_id=e.originator_id, override=override,
                                          reason=(e.meta.get("reason") or "override in the original ledger")
                                          if override else None),
                   channel="caseworker" if source == "offer" else None)  # an offer accepted: the office's

    @on(events.Booking.BookingCancelled)
    def _cancelled(self, e: Envelope) -> None:
        self._step(e, "cancel", c.CancelBooking(booking_id=e.originator_id, effective_date=e.data["effective_date"],
                                                reason=e.meta.get("reason") or "cancelled in the original ledger"))

    @on(events.Booking.ChildTransferred)
    def _transferred(self, e: Envelope) -> None:
        """The family moves the place (or the age roll does)."""
        d = e.data
        self._step(e, "transfer", c.TransferChild(booking_id=e.originator_id, institution_id=d["to_institution_id"],
                                                  effective_date=d["effective_date"], kind=d["kind"],
                                                  reason=e.meta.get("reason") or "transferred in the original ledger"),
                   creates=d["to_booking_id"])


def _channel(e: Envelope) -> str:
    """The channel a step is replayed through: the original's (a person's channel unknown here: a caseworker)."""
    channel = e.meta.get("channel") or "system"
    return channel if channel in ("self_service", "caseworker", "system", "import") else "caseworker"


@dataclass
class Replayed:
    """What a counterfactual replay did: the scratch ledger and the commands the rules refused."""

    ledger: Ledger
    rule_set: str
    policy: str
    refused: list[dict[str, Any]] = field(default_factory=list)


@contextmanager
def replay_demand(source: Ledger, rule_set: str, *, seed: int = 0,
                  script: Script | None = None) -> Iterator[Replayed]:
    """A scratch ledger (an in-memory SQLite database) holding the source's demand under `rule_set`
    (`script`: the source's demand, folded already: both sides of a comparison replay one)."""
    rs = resolve_rule_set(rule_set)
    if rs.id not in rules.list_rule_sets():
        raise AuditError(f"{rs.id} is a scenario, not a packaged rule set a ledger can activate; a counterfactual "
                         f"allocation runs under one of: {', '.join(rules.list_rule_sets())}")
    if script is None:
        script = Script()
        fold(source, [script])
    if not script.steps:
        raise AuditError("the ledger has no demand to replay")
    allocate = None if rs.policy == "book-en-plads" else run_allocation
    clock = SimulatedClock(script.steps[0][0])
    # In memory: nothing else reads or writes the scratch ledger, and it is dropped at the end, so
    # a file would only add a disk sync to every commit (each allocation offer is one).
    ledger = Ledger("sqlite:///:memory:", clock=clock, private=True)
    try:
        out = Replayed(ledger, rs.id, rs.policy)
        try:
            _run(ledger, clock, script, rs, out, allocate, seed)
        except (LedgerError, RuntimeError, PersistenceError) as e:
            raise ReplayFailed(rs.id, clock.now(), e) from e
        yield out
    finally:
        ledger.close()


class ReplayFailed(AuditError):
    """The replay broke inside its own scratch ledger: a fault of plads, not of the audited ledger
    (nobody else writes to the scratch ledger, so no error there is another writer's)."""

    exit_code = 1  # not the auditor's mistake (2)

    def __init__(self, rule_set: str, when: datetime, error: Exception) -> None:
        cause = error.__cause__ if isinstance(error, StaleState) and error.__cause__ else error
        detail = getattr(cause, "detail", None) or str(cause) or type(cause).__name__
        super().__init__(f"internal error: the counterfactual replay under {rule_set} failed in its private "
                         f"scratch ledger at the step recorded {when:%Y-%m-%d %H:%M} UTC ({type(cause).__name__}: "
                         f"{detail}); the audited ledger is unchanged — please report this")


class _Batches:
    """Bulk batches into the scratch ledger, closed around every write that goes past them.

    The allocation run writes through the ledger itself (offers on the children); a batch that
    lived across it would still hold those children at their versions before the offers, and its
    next save would write a version the log already has. So the batch is saved and dropped before
    such a write, and a fresh one (reading the aggregates anew) starts after it."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._stack = ExitStack()
        self.batch = self._open()

    def _open(self):
        return self._stack.enter_context(self.ledger.bulk(actor="counterfactual", channel="system"))

    def outside(self, write: Callable[[], Any]) -> Any:
        self.close()
        self._stack = ExitStack()
        try:
            return write()
        finally:
            self.batch = self._open()

    def close(self) -> None:
        self._stack.close()


def _run(ledger: Ledger, clock: SimulatedClock, script: Script, rs, out: Replayed, allocate, seed: int) -> None:
    ids: dict[str, str] = {}  # original booking id -> the replayed booking's (absent: never given here)
    next_month: date | None = None
    clock.set(script.steps[0][0])
    batches = _Batches(ledger)
    batch = batches.batch
    effective = max(rs.first_day, script.first_activation or script.steps[0][0].date())
    batch.execute(c.ActivateRuleSet(rule_set_id=rs.id, effective_from=effective,
                                    reason="counterfactual replay"), channel="system")
    for when, what, command, channel, creates in script.steps:
        if allocate is not None:
            month = when.date().replace(day=1)
            next_month = next_month or month
            while next_month <= rules.add_months(month, ALLOCATE_AHEAD):
                # on entering a month, the office allocates the months up to ALLOCATE_AHEAD later
                entered = datetime.combine(month, datetime.min.time(), tzinfo=when.tzinfo)
                if entered > clock.now():
                    clock.set(entered)
                label = f"{next_month.year:04d}-{next_month.month:02d}"
                batches.outside(lambda: _allocate_and_accept(ledger, allocate, label, seed, out))
                next_month = rules.add_months(next_month, 1)
            batch = batches.batch
        if when > clock.now():  # the clock ticks on each event: never set it back
            clock.set(when)
        if what == "book":
            if allocate is not None and command.pool not in KEPT_POOLS and channel != "import":
                continue  # the allocation decides (an imported placement predates either policy: kept)
            if batch.execute(command, channel=channel) is None:
                _refused(out, batch, command, when)
            else:
                ids[str(command.booking_id)] = str(command.booking_id)
            continue
        if what in ("cancel", "transfer"):
            mine = ids.get(str(command.booking_id))
            if mine is None:
                continue  # that place was never given in this history
            command = command.model_copy(update={"booking_id": mine})
            result = batch.execute(command, channel=channel)
            if result is None:
                _refused(out, batch, command, when)
            elif creates is not None:
                ids[creates] = result["id"]
            continue
        if batch.execute(command, channel=channel) is None:
            _refused(out, batch, command, when)
    batches.close()


def _allocate_and_accept(ledger: Ledger, allocate, month: str, seed: int, out: Replayed) -> None:
    """The month's allocation run, then every family accepts the offers it just made (they registered
    to get a place), through the placement office as under the waiting list (no self-service there)."""
    start = ledger.max_position()
    allocate(ledger, month, seed=seed, actor="counterfactual", channel="system")
    reader = LogReader(ledger, {events.Child.PlaceOffered.topic})
    end = ledger.max_position()
    position = start
    with ledger.bulk(actor="counterfactual", channel="caseworker") as batch:
        while position < end:
            offered, last = reader.page(position, 10_000)
            if last == position:
                break
            for e in offered:
                command = c.AcceptOffer(child_id=e.originator_id, offer_id=e.data["offer_id"])
                if batch.execute(command) is None:
                    _refused(out, batch, command, e.recorded_at)
            position = last


def _refused(out: Replayed, batch, command, when: datetime) -> None:
    _, _, error = batch.rejected[-1]
    out.refused.append({"command": type(command).__name__, "recorded": when.isoformat(),
                        "child_id": str(getattr(command, "child_id", "") or ""),
                        "institution_id": str(getattr(command, "institution_id", "") or ""),
                        "reason": getattr(error, "detail", str(error))})
