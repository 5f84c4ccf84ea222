"""The fold both billing views share: the facts of the log, typed, kept in a `*_facts` table (each
household's read back as needed: `working`), and which households and institutions they changed
(derived again at the end of the page)."""

from __future__ import annotations

import zlib
from datetime import date
from typing import Any

import rules

from ledger import events

from projections.billing import stored
from projections.billing.facts import (CODECS, Adjustment, Booking, Capacity, Child, FripladsDecision, FripladsInputs,
                                       Household, HouseholdFact, Institution, IssuedLine, IssuedStatement, SettledYear)
from projections.billing.months import billing_horizon_of, day, first_of, month_of, rule_set_named
from projections.billing.working import (DEFAULT_BOUND, PER_HOUSEHOLD, HouseholdFacts, Households, fact_of, named_by,
                                         owner_of, state_row)
from projections.engine import Envelope, View, on
from projections.stores import ViewStore
from projections.tables import Changes, Table

UNSET = object()

# Everyone's facts kept in a plain mapping of the fold, by attribute.
_MAPPED = {"institution": "institutions", "run": "runs", "capacity": "capacity"}


class FactsFold(View):
    """Folds the facts both views need and notes which households/institutions changed.

    Everyone's facts (institutions, capacity, billing runs, basis bookings, the clock) are held in
    memory; each household's are in `held` (working.Households): all of them in a fold in memory,
    at most a bound of them in a live projector, read from the `*_facts` table as needed."""

    state: Table
    cache_bound = DEFAULT_BOUND  # households a live projector holds beyond those of its page

    def __init__(self, scenario: rules.RuleSet | None = None) -> None:
        super().__init__()
        # A counterfactual fold (replay.audit): every money rule comes from `scenario`, and each
        # friplads decision is taken again from its recorded inputs (income, children, single
        # parent) under the scenario's scale. Never set for the live views.
        self.scenario = scenario
        self.friplads_inputs: dict[str, tuple[FripladsInputs, ...]] = {}
        self.held = Households()
        self.institutions: dict[str, Institution] = {}
        self.runs: dict[str, int] = {}  # month -> position
        self.capacity: dict[str, dict[str, tuple[Capacity, ...]]] = {}  # basis: institution -> age group
        self.basis: dict[str, dict[str, Booking]] = {}  # institution -> its basis bookings
        self.last_month: str | None = None
        self._unsaved: dict[tuple[str, str], Any] = {}
        # What changed in this page (see BillingFacts.finish_page).
        self._dirty_h: set[str] = set()  # households to derive again, all months
        # Households whose changes reach back only to a month: only the months from there on are
        # derived again, where that is all that can change (BillingFacts._new_months_only).
        self._changed_from: dict[str, str] = {}
        self._dirty_i: set[str] = set()
        self._old_horizon: Any = UNSET
        self._run_from: str | None = None  # the earliest month issued by a billing run in this page
        self.linked: list[FactsFold] = []  # views deriving from these facts (a linked Budget)
        # (k, n) in a sharded rebuild: derive only the households and institutions of share k of n.
        self.share: tuple[int, int] | None = None

    def _init_kwargs(self) -> dict[str, Any]:
        return {"scenario": self.scenario}

    def reset(self) -> None:
        linked, share = self.linked, self.share
        self.__init__(**self._init_kwargs())  # type: ignore[misc]
        self.linked, self.share = linked, share

    # -- the working state ------------------------------------------------------------------

    def _save(self, entity: str, key: str, fact: Any) -> None:
        # Serialised when the changes are taken: a fact touched many times in a page
        # (a booking, then its cancellation) is written as JSON once.
        self._unsaved[(entity, key)] = fact
        if entity in PER_HOUSEHOLD and self.held.bounded:
            self.held.pinned.add(owner_of(entity, key, fact))

    def household_facts(self, household: str) -> HouseholdFacts:
        return self.held.get(household)
    def changes(self) -> dict[Table, Changes]:
        if self.sink is not None:
            return super().changes()  # a rebuild: the state goes to the sink once, after the derivation
        state = self.t[self.state.name]
        for (entity, key), fact in self._unsaved.items():
            state.put(state_row(entity, key, fact))
        self._unsaved = {}
        out = super().changes()
        if self.held.bounded:
            state.evict()  # the store holds the rows; the facts are in `held`, as many as its bound
            self.held.settle()
        return out

    def loads(self, table: Table) -> bool:
        return table is not self.state  # read by `start`: per household, or whole into `held`

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        if isinstance(store, ViewStore):
            stored.refuse_older_state(store, self.state, prefix)
            self.held.attach(store, self.state, prefix, self.cache_bound)
            rows = stored.everyones(store, self.state, prefix)
        else:  # a checkpoint: everything in memory
            rows = list(store.load(self.state, prefix))
            self.t[self.state.name].load(rows)
        for row in rows:
            if row["entity"] in CODECS:
                self._restore(row["entity"], row["id"], fact_of(row))

    def held_in_store(self, table: Table) -> str | None:
        return f"{self.held.prefix}{table.name}" if table is self.state and self.held.bounded else None

    def _restore(self, entity: str, key: str, fact: Any) -> None:
        if entity in PER_HOUSEHOLD:
            self.held.restore(entity, key, fact, owner_of(entity, key, fact))
        elif entity == "basis":
            self.basis.setdefault(fact.institution, {})[key] = fact
        elif entity in _MAPPED:
            getattr(self, _MAPPED[entity])[key] = fact
        else:  # the clock
            self.last_month = fact

    def _stream_state(self) -> None:
        """A rebuild's working state, written once (it was never serialised page by page)."""
        sink, batch = self.sink, []
        assert sink is not None
        restored = self.t[self.state.name].rows  # from a checkpoint: replaced by the newer facts
        for (entity, key), fact in self._unsaved.items():
            if self.share is not None and not self._writes(entity, key, fact):
                continue  # another share's household, or everyone's facts (the first share writes those)
            restored.pop((entity, key), None)
            batch.append(state_row(entity, key, fact))
            if len(batch) >= 10_000:
                sink(self.state, batch)
                batch = []
        sink(self.state, batch)
        self._unsaved = {}

    def _writes(self, entity: str, key: str, fact: Any) -> bool:
        """Whether this share of a rebuild writes a fact of the working state."""
        if entity in PER_HOUSEHOLD:
            return self._mine(owner_of(entity, key, fact))
        if entity == "basis":  # folded by the share of its household and that of its institution
            return self._mine(fact.institution)
        return self.share is None or self.share[0] == 0

    def _mine(self, owner: str) -> bool:
        """Whether this view derives the owner's rows (always, unless it is one share of a rebuild)."""
        return self.share is None or zlib.crc32(owner.encode()) % self.share[1] == self.share[0]

    def prefetch(self, events: list[Envelope]) -> None:
        """A live projector's page: read the households its events name in one go."""
        if self.held.bounded:
            households, bookings = named_by(events, self.handles)
            self.held.read(households + self.held.prefetch_bookings(bookings))

    @property
    def checkpoint_name(self) -> str:
        # "@2": the facts as `*_facts` rows; a checkpoint of the older `*_state` rows is not restored.
        return f"{super().checkpoint_name}@2"

    # -- what the facts say ---------------------------------------------------------------------

    def horizon(self) -> str | None:
        return billing_horizon_of(self.last_month)

    def rules_for(self, rule_set_id: str | None) -> rules.RuleSet:
        """The rule set money is computed under: the event's, or the scenario's in a counterfactual."""
        return self.scenario if self.scenario is not None else rule_set_named(rule_set_id)

    def home_municipality(self, hf: HouseholdFacts, child_id: str, month: str) -> str | None:
        """The child's home municipality on the month's 1st: the household's (effective-dated
        facts) once it changed, else the one the child was registered with."""
        child = hf.children.get(child_id)
        if child is None:
            return None
        household = hf.household
        return child.municipality if household is None else household.municipality_on(first_of(month),
                                                                                        child.municipality)

    @staticmethod
    def household_district(hf: HouseholdFacts, month: str) -> str:
        """The household's district on the month's 1st (effective-dated facts, else as registered)."""
        return "" if hf.household is None else hf.household.district_on(first_of(month))

    def scenario_share(self, household: str, m_first: date, recorded: int) -> int:
        """The pay share on the month's 1st under the scenario's friplads scale, from the inputs of the
        decision in force then (the recorded share when the scenario has no scale for that day)."""
        inputs = None
        for entry in self.friplads_inputs.get(household, ()):
            if entry.effective <= m_first:
                inputs = entry
        if inputs is None or self.scenario is None:
            return recorded
        try:
            return rules.friplads_pay_share_percent(inputs.income_ore, inputs.children, inputs.single_parent,
                                                    m_first, self.scenario)
        except rules.RuleError:
            return recorded

    # -- folding ----------------------------------------------------------------------------

    def apply(self, e: Envelope) -> None:
        seen = month_of(e.recorded_at.date())
        if self.last_month is None or seen > self.last_month:
            if self._old_horizon is UNSET:
                self._old_horizon = self.horizon()
            self.last_month = seen
            self._save("clock", "last_month", seen)
        if self.share is not None and not self._folds(e):
            return
        super().apply(e)

    def _folds(self, e: Envelope) -> bool:
        """In one share of a rebuild: whether an event is a fact this share needs — of its own
        households, a basis booking at one of its institutions (empty basis seats are costed per
        institution), or everyone's (institutions, capacity, billing runs). Each share holds only
        its households' facts, so the processes of a rebuild do not each hold them all."""
        kind, d = e.kind, e.data
        if kind == events.Booking.PlaceBooked.topic:
            return self._mine(d["household_id"]) or (d["pool"] == "basis" and self._mine(d["institution_id"]))
        if kind in (events.Child.ChildRegistered.topic, events.Statement.StatementIssued.topic):
            return self._mine(d["household_id"])
        if e.aggregate == events.Household.__name__:
            return self._mine(e.originator_id)
        return True

    def _booking_changed(self, b: Booking, since: str | None = None) -> None:
        """A booking's months from `since` (default: its first) may bill differently."""
        self._changed(b.household, since or month_of(b.start))
        if b.pool == "basis":
            self._dirty_i.add(b.institution)

    def _changed(self, household: str, month: str) -> None:
        """The household's months from `month` on may have changed (earlier ones did not)."""
        known = self._changed_from.get(household)
        if known is None or month < known:
            self._changed_from[household] = month

    @on(events.BillingCalendar.MonthOpened, time_only=True)
    def _month_opened(self, e: Envelope) -> None:
        """Only its recorded time: the asking command's clock moves the horizon (taken in `apply`)."""

    @on(events.Booking.PlaceBooked)
    def _place_booked(self, e: Envelope) -> None:
        d = e.data
        rule_set = e.meta.get("rule_set") or (d.get("basis") or {}).get("rule_set")
        b = Booking(d["child_id"], d["household_id"], d["institution_id"], d["pool"], day(d["start_date"]),
                    day(d["end_date"]), bool(d["lunch"]), tuple((g, day(a), day(z)) for g, a, z in d["segments"]),
                    rule_set, (e.position,))
        self._booking_is(e.originator_id, b)
        self._booking_changed(b)

    def _booking_is(self, booking_id: str, b: Booking) -> None:
        self.held.get(b.household).bookings[booking_id] = b
        self.held.booking_owner[booking_id] = b.household
        self._save("booking", booking_id, b)
        if b.pool == "basis":  # empty basis seats are costed per institution: its basis bookings are everyone's
            self.basis.setdefault(b.institution, {})[booking_id] = b
            self._save("basis", booking_id, b)

    @on(events.Booking.BookingCancelled, events.Booking.ChildTransferred)
    def _booking_ended(self, e: Envelope) -> None:
        household = self.held.owner_of_booking(e.originator_id)
        b = self.held.get(household).bookings.get(e.originator_id) if household is not None else None
        if b is None:
            return
        # The change reaches the months from the one the booking now ends in: the lines of
        # earlier months stay as they were, so they do not list it (nor need deriving again).
        b, since = b.ended(day(e.data["effective_date"]), e.position)
        self._booking_is(e.originator_id, b)
        self._booking_changed(b, since)

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        hf = self.held.get(d["household_id"])
        hf.children[oid] = Child(d["household_id"], day(d["birth_date"]), d["municipality_code"], e.position)
        self._save("child", oid, hf.children[oid])
        for b in hf.bookings.values():  # bookings before the child (an import)
            if b.child == oid:
                self._booking_changed(b)

    @on(events.Institution.InstitutionRegistered)
    def _institution_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.institutions[oid] = Institution(d["kind"], d["municipality_code"], d["district"])
        self._save("institution", oid, self.institutions[oid])
        self._dirty_i.add(oid)
        self._dirty_h.update(self.held.at_institution(oid))

    @on(events.Institution.CapacityChanged)
    def _capacity_changed(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        if d["pool"] != "basis":
            return
        groups = self.capacity.setdefault(oid, {})
        effective = day(d["effective_from"])
        entries = [x for x in groups.get(d["age_group"], ()) if x.effective != effective]
        entries.append(Capacity(effective, d["seats"], e.meta.get("rule_set")))
        groups[d["age_group"]] = tuple(sorted(entries, key=lambda x: x.effective))
        self._save("capacity", oid, groups)
        self._dirty_i.add(oid)

    @on(events.Institution.GrossCostSet)
    def _gross_cost_set(self, e: Envelope) -> None:
        """Effective-dated per age group; the months from then on are costed again for the
        institution's bookings (and its empty basis seats)."""
        d, oid = e.data, e.originator_id
        inst = self.institutions.get(oid)
        if inst is None:
            return
        effective = day(d["effective_from"])
        self.institutions[oid] = inst.with_gross_cost(d["age_group"], effective, d["gross_cost_ore"])
        self._save("institution", oid, self.institutions[oid])
        self._dirty_i.add(oid)
        for household in self.held.at_institution(oid):
            self._changed(household, month_of(effective))

    @on(events.Household.HouseholdRegistered)
    def _household_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        hf = self.held.get(oid)
        hf.household = Household(d["municipality_code"], d["district"])
        self._save("household", oid, hf.household)
        self._dirty_h.add(oid)

    @on(events.Household.HouseholdFactsChanged)
    def _household_facts_changed(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        hf = self.held.get(oid)
        h = hf.household or Household(d["municipality_code"], d["district"])
        effective = day(e.meta.get("effective_date") or e.recorded_at.date())
        hf.household = h.with_fact(HouseholdFact(effective, d["municipality_code"], d["district"], e.position))
        self._save("household", oid, hf.household)
        # The facts are effective-dated (municipality and district as of each month's 1st):
        # months before the change bill and count as they did.
        self._changed(oid, month_of(effective))

    @on(events.Household.FripladsDecided)
    def _friplads_decided(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        effective = day(d["effective_from"])
        hf = self.held.get(oid)
        entries = [x for x in hf.friplads if x.effective != effective]
        entries.append(FripladsDecision(effective, d["pay_share_percent"], e.position))
        hf.friplads = tuple(sorted(entries, key=lambda x: x.effective))
        self._save("friplads", oid, hf.friplads)
        if self.scenario is not None:
            scale = d.get("scale") or {}
            inputs = [x for x in self.friplads_inputs.get(oid, ()) if x.effective != effective]
            inputs.append(FripladsInputs(effective, d["annual_income_ore"], scale.get("children_under_18", 1),
                                         bool(scale.get("single_parent", False))))
            self.friplads_inputs[oid] = tuple(sorted(inputs, key=lambda x: x.effective))
        self._changed(oid, month_of(effective))  # a share applies from the 1st of a month on or after

    @on(events.Household.FripladsSettled)
    def _friplads_settled(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        # Efterregulering: the year's shares decided again on the final income; issued months
        # whose share changes are corrected on the next statement.
        hf = self.held.get(oid)
        hf.settled = {**hf.settled, str(d["year"]): SettledYear(tuple(d["shares"]), e.position)}
        self._save("settled", oid, hf.settled)
        self._changed(oid, f"{d['year']:04d}-01")

    @on(events.Household.PaymentAdjusted)
    def _payment_adjusted(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        adjustment = Adjustment(d["adjustment_id"], d["kind"], d["from_month"], d["to_month"], d["amount_ore"],
                                d["pay_share_percent"], d["child_id"], e.meta.get("reason"), e.position)
        hf = self.held.get(oid)
        hf.adjustments = hf.adjustments + (adjustment,)
        self._save("adjustments", oid, hf.adjustments)
        self._changed(oid, d["from_month"])

    @on(events.Statement.StatementIssued)
    def _statement_issued(self, e: Envelope) -> None:
        d = e.data
        household, month = d["household_id"], d["month"]
        statement = IssuedStatement(d["total_ore"], tuple(IssuedLine.from_json(x) for x in d["lines"]), e.position)
        self.held.get(household).add("issued", f"{household}/{month}", statement)
        self._save("issued", f"{household}/{month}", statement)
        # The month, and any month its correction lines bill again (normally unsettled already).
        self._changed(household, min([month, *statement.corrected_months()]))

    @on(events.BillingRun.BillingRunIssued)
    def _billing_run_issued(self, e: Envelope) -> None:
        month = e.data["month"]
        self.runs[month] = e.position
        self._save("run", month, e.position)
        # The month is issued for everyone (billed or not) and the next statement moved.
        self._run_from = min(self._run_from or month, month)
