"""The waiting-list view: the tables, and the events folded into the working state (see the
package's docstring for who waits and in which order)."""

from __future__ import annotations

import json
from functools import wraps
from datetime import date
from typing import Any, Callable

import rules

from ledger import events

from projections.engine import Envelope, View, on
from projections.guarantee import GUARANTEE_UNPLACED
from projections.tables import Changes, Table
from projections.waitinglists.derive import AGE_GROUPS, ListsDerivation
from projections.waitinglists.schema import WAITING_LIST, WAITING_LIST_DISTRICT, WAITINGLIST_STATE
from projections.waitinglists.state import ListedChild, Placement, Registration, decode, encode, iso, to_date
from projections.waitinglists.working import ListKey, Working, read_rows_by

DEFAULT_RULE_SET = "copenhagen-2025-waitinglist@1"
DEFAULT_BOUND = 5_000  # children a live projector holds once a page's changes are taken

# Read for their recorded time only, so the list date moves as the ledger moves. Left out: events
# that are always recorded together with one of these (RuleBook.Opened, Household.IncomeDeclared,
# Institution.CapacityOverridden) and idempotency receipts.
CLOCK_EVENTS = (
    events.Institution.InstitutionRegistered, events.Institution.CapacityChanged, events.Institution.SeatsReserved,
    events.Institution.SeatsReleased,
    events.Household.HouseholdRegistered, events.Household.HouseholdFactsChanged, events.Household.FripladsDecided,
    events.Household.PaymentAdjusted, events.Household.PersonErased,
    events.Booking.PlaceBooked, events.Booking.BookingCancelled, events.Booking.ChildTransferred,
    events.Statement.StatementIssued, events.BillingRun.BillingRunIssued,
)

_rule_sets: dict[str, rules.RuleSet] = {}


def _load_rule_set(rule_set_id: str) -> rules.RuleSet:
    rs = _rule_sets.get(rule_set_id)
    if rs is None:
        try:
            rs = rules.load_rule_set(rule_set_id)
        except rules.RuleError:  # not packaged here (e.g. a scenario's): the default decides
            rs = rules.load_rule_set(DEFAULT_RULE_SET)
        _rule_sets[rule_set_id] = rs
    return rs


def _child_change(method: Callable[[Any, ListedChild, Envelope], None]) -> Callable[[Any, Envelope], None]:
    """A handler of a change to a child the view knows (others: nothing to place on a list): the
    child leaves the list indexes while it changes and returns to those it belongs on after."""

    @wraps(method)
    def handler(view: "WaitingLists", e: Envelope) -> None:
        child = view._changing(e.originator_id)
        if child is not None:
            method(view, child, e)
            view._changed(e.originator_id)

    return handler


# -- the view ----------------------------------------------------------------------------------


class WaitingLists(ListsDerivation, View):
    name = "waitinglists"
    rebuild_weight = 13  # seconds per 300k events of the synthetic city, folded alone
    tables = (WAITING_LIST, WAITING_LIST_DISTRICT, GUARANTEE_UNPLACED, WAITINGLIST_STATE)
    cache_bound = DEFAULT_BOUND

    def __init__(self) -> None:
        super().__init__()
        self.working = Working()  # children, households and the lists' members (working.py)
        self.activations: dict[date, str] = {}  # effective_from -> rule set id
        self.seen_on: date | None = None  # the list date: latest recorded day seen
        self.computed_for: tuple[date, str] | None = None  # (list date, rule set) the rows hold
        self._dirty_lists: set[ListKey] = set()
        self._dirty_districts: set[ListKey] = set()
        self._dirty_children: set[str] = set()
        self._dirty_meta = False
        # (child, age group) -> (rule set id, seniority, guarantee, outgrown on): the dates that do not
        # depend on the list date, kept while the child is held and the rule set stays the same
        self._facts: dict[tuple[str, str], tuple[str, date, date | None, date | None]] = {}

    @property
    def children(self) -> dict[str, ListedChild]:
        """The children held (every one in a fold in memory)."""
        return self.working.children.entries

    # -- state persistence --------------------------------------------------------------------

    def loads(self, table: Table) -> bool:
        return table is not WAITINGLIST_STATE  # (the lists' rows: per list, while derived again)

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        whole = self.owned_store is None
        if whole:  # a checkpoint: everything in memory
            rows = list(store.load(WAITINGLIST_STATE, prefix))
            self.t[WAITINGLIST_STATE.name].load(rows)
        else:
            self.working.attach(read_rows_by(self, WAITINGLIST_STATE), self.cache_bound)
            rows = list(self.working.read_meta())
            if not any(row["entity"] == "index" for row in rows):
                # Written before the lists' members were kept as rows: every child read once, and
                # the members and households written with the next page.
                rows += self.read_rows(WAITINGLIST_STATE, "entity", ["child"])
                whole = self._dirty_meta = True
        for row in rows:
            entity, key, data = row["entity"], row["id"], row["data"]
            if entity == "child":
                self.working.children[key] = decode(data)
            elif entity == "household":
                self.working.households[key] = set(json.loads(data))
            elif entity == "rulebook":
                self.activations = {date.fromisoformat(k): v for k, v in json.loads(data).items()}
            elif entity == "clock":
                self.seen_on = to_date(json.loads(data))
            elif entity == "computed":
                on, rs_id = json.loads(data)
                self.computed_for = (date.fromisoformat(on), rs_id)
        if whole:
            self._index_held()

    def _index_held(self) -> None:
        """The lists' members and the households, from every child held (a fold in memory restored,
        or a store written before they were kept)."""
        households = self.working.households.entries
        for child_id, child in self.working.children.entries.items():
            households.setdefault(child.household, set()).add(child_id)
            self._index(child_id, mark=False)
        if self.owned_store is None:
            self.working.changed_index = set()
        else:
            self.working.changed_households = set(households)

    def _save(self, entity: str, key: str, data: str) -> None:
        self.t[WAITINGLIST_STATE.name].put({"entity": entity, "id": key, "data": data})

    def _save_meta(self) -> None:
        self._save("rulebook", "activations",
                   json.dumps({k.isoformat(): v for k, v in sorted(self.activations.items())}, sort_keys=True))
        self._save("clock", "list_date", json.dumps(iso(self.seen_on)))
        if self.computed_for is not None:
            on, rs_id = self.computed_for
            self._save("computed", "for", json.dumps([on.isoformat(), rs_id]))
        self._save("index", "members", json.dumps(1))

    def prefetch(self, page: list[Envelope]) -> None:
        """The page's children, and the households children join."""
        self.working.hold([e.originator_id for e in page if e.aggregate == "Child"])
        self.working.hold_households([e.data["household_id"] for e in page
                                      if e.kind == events.Child.ChildRegistered.topic])

    def listed(self, table: Table) -> set[ListKey]:
        """The lists that have rows."""
        if self.owned_store is None:
            return {key[:2] for key in self.t[table.name].rows}
        return {(a, g) for a, g in self.owned_store.query(
            f"SELECT DISTINCT {table.key[0]}, age_group FROM {self._owned_prefix}{table.name}")}

    def changes(self) -> dict[Table, Changes]:
        out = super().changes()
        if self.owned_store is not None:
            self.t[WAITINGLIST_STATE.name].evict()  # the store holds it; the children are in `working`
            for child_id in self.working.trim():
                for group in AGE_GROUPS:
                    self._facts.pop((child_id, group), None)
        return out

    def rederive(self) -> None:
        self.computed_for = None  # every list, and every registration off them, derived again

    # -- indexes ----------------------------------------------------------------------------------

    def _index(self, child_id: str, *, mark: bool = True, remove: bool = False) -> None:
        """Add (or remove) the child's active registrations to the list indexes; mark those lists."""
        child = self.working.children.entries[child_id]
        if child.erased:
            return
        for group, reg in child.registrations.items():
            if not reg.active:
                continue
            lists = [("wishers", self._dirty_lists, (inst, group)) for inst in reg.wishes]
            if child.district is not None:
                lists.append(("members", self._dirty_districts, (child.district, group)))
            for index, dirty, key in lists:
                if remove:
                    self.working.leave(index, key, child_id)
                else:
                    self.working.enter(index, key, child_id)
                if mark:
                    dirty.add(key)

    def _changing(self, child_id: str) -> ListedChild | None:
        """Take a child out of the indexes before a change (put it back with `_changed`)."""
        child = self.working.children.get(child_id)
        if child is not None:
            self._index(child_id, remove=True)
            self._dirty_children.add(child_id)
            for group in AGE_GROUPS:
                self._facts.pop((child_id, group), None)
        return child

    def _changed(self, child_id: str) -> None:
        self._index(child_id)

    # -- folding ----------------------------------------------------------------------------------

    def apply(self, e: Envelope) -> None:
        day = e.recorded_at.date()
        if self.seen_on is None or day > self.seen_on:
            self.seen_on = day
            self._dirty_meta = True
        super().apply(e)

    @on(*CLOCK_EVENTS, time_only=True)
    def _clock(self, e: Envelope) -> None:
        """Only the recorded time matters (taken in `apply`)."""

    @on(events.RuleBook.RuleSetActivated)
    def _rule_set_activated(self, e: Envelope) -> None:
        self.activations[to_date(e.data["effective_from"])] = e.data["rule_set_id"]
        self._dirty_meta = True

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d, child_id = e.data, e.originator_id
        self.working.children[child_id] = ListedChild(
            household=d["household_id"], birth=to_date(d["birth_date"]), district=d.get("district"),
            registrations={}, placements={}, offers={})
        self.working.hold_households([d["household_id"]])
        self.working.households.entries.setdefault(d["household_id"], set()).add(child_id)
        self.working.changed_households.add(d["household_id"])
        self._dirty_children.add(child_id)

    @on(events.Child.Opskrevet)
    @_child_change
    def _registered(self, child: ListedChild, e: Envelope) -> None:
        d = e.data
        child.registrations[d["age_group"]] = Registration(
            wishes=list(d["wishes"]), need_date=to_date(d["need_date"]), registered_on=to_date(d["registered_on"]),
            channel=e.meta.get("channel"), newcomer=bool(d.get("newcomer")),
            guarantee_list=bool(d.get("guarantee_list")))
        child.refused.pop(d["age_group"], None)  # a new registration: only later offers count

    @on(events.Child.WishesChanged)
    @_child_change
    def _wishes_changed(self, child: ListedChild, e: Envelope) -> None:
        reg = child.registrations.get(e.data["age_group"])
        if reg is not None:
            reg.wishes, reg.need_date = list(e.data["wishes"]), to_date(e.data["need_date"])

    @on(events.Child.PlaceOffered)
    @_child_change
    def _offered(self, child: ListedChild, e: Envelope) -> None:
        child.offers[e.data["offer_id"]] = e.data["age_group"]
        child.offer_starts[e.data["offer_id"]] = to_date(e.data["start_date"])

    @on(events.Child.OfferAccepted)
    @_child_change
    def _offer_accepted(self, child: ListedChild, e: Envelope) -> None:
        child.offers.pop(e.data["offer_id"], None)
        child.offer_starts.pop(e.data["offer_id"], None)

    @on(events.Child.OfferDeclined)
    @_child_change
    def _offer_declined(self, child: ListedChild, e: Envelope) -> None:
        reg = self._offer_refused(child, e.data["offer_id"])
        if reg is not None:
            reg.need_date = to_date(e.data["need_date"])

    @on(events.Child.OfferExpired)
    @_child_change
    def _offer_expired(self, child: ListedChild, e: Envelope) -> None:
        self._offer_refused(child, e.data["offer_id"])

    def _offer_refused(self, child: ListedChild, offer_id: str) -> Registration | None:
        """An offer declined or let expire; returns the registration it was made for (if any)."""
        group = child.offers.pop(offer_id, None)
        start = child.offer_starts.pop(offer_id, None)
        if group is not None and start is not None:
            child.refused.setdefault(group, []).append(start)
        return child.registrations.get(group) if group else None

    @on(events.Child.Placed)
    @_child_change
    def _placed(self, child: ListedChild, e: Envelope) -> None:
        d = e.data
        inst = d["institution_id"]
        child.placements[d["booking_id"]] = Placement(inst, to_date(d["first"]), to_date(d["last"]))
        for reg in child.registrations.values():
            if inst in reg.wishes:
                reg.active = False
        self._placement_changed(child, inst)

    @on(events.Child.PlacementEnded)
    @_child_change
    def _placement_ended(self, child: ListedChild, e: Envelope) -> None:
        placement = child.placements.get(e.data["booking_id"])
        if placement is not None:
            placement.last = to_date(e.data["last"])
            self._placement_changed(child, placement.institution_id)

    @on(events.Child.PersonErased)
    @_child_change
    def _erased(self, child: ListedChild, e: Envelope) -> None:
        child.erased = True
        # Keep only what siblings need (household and placements); forget the rest.
        child.birth, child.district, child.registrations, child.offers = None, None, {}, {}

    def _placement_changed(self, child: ListedChild, inst: str) -> None:
        # The child's own lists (a booking at a wished institution, or one it now holds; whether it
        # has a place shows on every wished list) and its siblings' places on this institution's lists.
        for group in AGE_GROUPS:
            self._dirty_lists.add((inst, group))
        for group, reg in child.registrations.items():
            self._dirty_lists.update((wish, group) for wish in reg.wishes)
        if child.district is not None:
            for group in child.registrations:
                self._dirty_districts.add((child.district, group))

    # -- deriving the lists ---------------------------------------------------------------------

    def rule_set_on(self, day: date) -> rules.RuleSet:
        current = None
        for effective_from in sorted(self.activations):
            if effective_from <= day:
                current = self.activations[effective_from]
        return _load_rule_set(current or DEFAULT_RULE_SET)

    def finish_page(self, final: bool = True) -> None:
        if not final:
            return
        if self.seen_on is not None:
            self.derive(self.seen_on, self.rule_set_on(self.seen_on))
        for child_id in self._dirty_children:
            self._save("child", child_id, encode(self.working.children.entries[child_id]))
        for row in self.working.rows():
            self._save(row["entity"], row["id"], row["data"])
        if self._dirty_meta:
            self._save_meta()
        self._dirty_lists, self._dirty_districts, self._dirty_children = set(), set(), set()
        self._dirty_meta = False
