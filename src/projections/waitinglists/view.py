"""The waiting-list view: the tables, and the events folded into the working state (see the
package's docstring for who waits and in which order)."""

from __future__ import annotations

import json
from collections import defaultdict
from functools import wraps
from datetime import date
from typing import Any, Callable

import rules

from ledger import events

from projections.engine import Envelope, View, on
from projections.guarantee import GUARANTEE_UNPLACED, unplaced_row
from projections.tables import Table
from projections.waitinglists.schema import WAITING_LIST, WAITING_LIST_DISTRICT, WAITINGLIST_STATE
from projections.waitinglists.order import Waiting, dates, district_rows, guarantee_met_by, institution_rows
from projections.waitinglists.state import ListedChild, Placement, Registration, decode, encode, iso, to_date

DEFAULT_RULE_SET = "copenhagen-2025-waitinglist@1"
AGE_GROUPS = ("nursery", "kindergarten")

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


class WaitingLists(View):
    name = "waitinglists"
    rebuild_weight = 13  # seconds per 300k events of the synthetic city, folded alone
    tables = (WAITING_LIST, WAITING_LIST_DISTRICT, GUARANTEE_UNPLACED, WAITINGLIST_STATE)

    def __init__(self) -> None:
        super().__init__()
        self.children: dict[str, ListedChild] = {}
        self.households: dict[str, set[str]] = defaultdict(set)
        self.activations: dict[date, str] = {}  # effective_from -> rule set id
        self.seen_on: date | None = None  # the list date: latest recorded day seen
        self.computed_for: tuple[date, str] | None = None  # (list date, rule set) the rows hold
        # (institution, age group) -> children with an active registration wishing it
        self._wishers: dict[tuple[str, str], set[str]] = defaultdict(set)
        # (district, age group) -> children with an active registration
        self._members: dict[tuple[str, str], set[str]] = defaultdict(set)
        # which rows each list holds now
        self._rows: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._district_rows: dict[tuple[str, str], set[str]] = defaultdict(set)
        self._dirty_lists: set[tuple[str, str]] = set()
        self._dirty_districts: set[tuple[str, str]] = set()
        self._dirty_children: set[str] = set()
        self._dirty_meta = False
        # (child, age group) -> (rule set id, seniority, guarantee, outgrown on): the dates that do not
        # depend on the list date, kept while the child and the rule set stay the same
        self._facts: dict[tuple[str, str], tuple[str, date, date | None, date | None]] = {}

    # -- state persistence --------------------------------------------------------------------

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        for row in self.t[WAITINGLIST_STATE.name].values():
            entity, key, data = row["entity"], row["id"], row["data"]
            if entity == "child":
                child = decode(data)
                self.children[key] = child
                self.households[child.household].add(key)
                self._index(key, mark=False)
            elif entity == "rulebook":
                self.activations = {date.fromisoformat(k): v for k, v in json.loads(data).items()}
            elif entity == "clock":
                self.seen_on = to_date(json.loads(data))
            elif entity == "computed":
                on, rs_id = json.loads(data)
                self.computed_for = (date.fromisoformat(on), rs_id)
        for inst, group, child_id in self.t[WAITING_LIST.name].rows:
            self._rows[(inst, group)].add(child_id)
        for district, group, child_id in self.t[WAITING_LIST_DISTRICT.name].rows:
            self._district_rows[(district, group)].add(child_id)

    def _save(self, entity: str, key: str, data: str) -> None:
        self.t[WAITINGLIST_STATE.name].put({"entity": entity, "id": key, "data": data})

    def _save_meta(self) -> None:
        self._save("rulebook", "activations",
                   json.dumps({k.isoformat(): v for k, v in sorted(self.activations.items())}, sort_keys=True))
        self._save("clock", "list_date", json.dumps(iso(self.seen_on)))
        if self.computed_for is not None:
            on, rs_id = self.computed_for
            self._save("computed", "for", json.dumps([on.isoformat(), rs_id]))

    # -- indexes ----------------------------------------------------------------------------------

    def _index(self, child_id: str, *, mark: bool = True, remove: bool = False) -> None:
        """Add (or remove) the child's active registrations to the list indexes; mark those lists."""
        child = self.children[child_id]
        if child.erased:
            return
        for group, reg in child.registrations.items():
            if not reg.active:
                continue
            lists = [(self._wishers, self._dirty_lists, (inst, group)) for inst in reg.wishes]
            if child.district is not None:
                lists.append((self._members, self._dirty_districts, (child.district, group)))
            for index, dirty, key in lists:
                if remove:
                    index[key].discard(child_id)
                else:
                    index[key].add(child_id)
                if mark:
                    dirty.add(key)

    def _changing(self, child_id: str) -> ListedChild | None:
        """Take a child out of the indexes before a change (put it back with `_changed`)."""
        child = self.children.get(child_id)
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

    @on(*CLOCK_EVENTS)
    def _clock(self, e: Envelope) -> None:
        """Only the recorded time matters (taken in `apply`)."""

    @on(events.RuleBook.RuleSetActivated)
    def _rule_set_activated(self, e: Envelope) -> None:
        self.activations[to_date(e.data["effective_from"])] = e.data["rule_set_id"]
        self._dirty_meta = True

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d, child_id = e.data, e.originator_id
        self.children[child_id] = ListedChild(household=d["household_id"], birth=to_date(d["birth_date"]),
                                         district=d.get("district"), registrations={}, placements={}, offers={})
        self.households[d["household_id"]].add(child_id)
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
            on = self.seen_on
            rs = self.rule_set_on(on)
            # The guarantee dates follow the rule set, not the list date.
            rs_moved = self.computed_for is None or self.computed_for[1] != rs.id
            if self.computed_for != (on, rs.id):
                # The list date or the rule set moved: days waiting, ages and siblings change everywhere.
                self._dirty_lists = set(self._wishers) | set(self._rows)
                self._dirty_districts = set(self._members) | set(self._district_rows)
                self.computed_for = (on, rs.id)
                self._dirty_meta = True
            self._derive(on, rs)
            self._derive_unplaced(list(self.children) if rs_moved else self._dirty_children, rs)
        for child_id in self._dirty_children:
            self._save("child", child_id, encode(self.children[child_id]))
        if self._dirty_meta:
            self._save_meta()
        self._dirty_lists, self._dirty_districts, self._dirty_children = set(), set(), set()
        self._dirty_meta = False

    def _derive(self, on: date, rs: rules.RuleSet) -> None:
        cache: dict[tuple[str, str], Waiting | None] = {}

        def waiting(child_id: str, group: str) -> Waiting | None:
            key = (child_id, group)
            if key not in cache:
                cache[key] = self._waiting(child_id, group, on, rs)
            return cache[key]

        for inst, group in sorted(self._dirty_lists):
            self._derive_list(inst, group, on, rs, waiting)
        for district, group in sorted(self._dirty_districts):
            self._derive_district(district, group, on, rs, waiting)

    def _derive_unplaced(self, child_ids, rs: rules.RuleSet) -> None:
        table = self.t[GUARANTEE_UNPLACED.name]
        for child_id in child_ids:
            child = self.children.get(child_id)
            for group in AGE_GROUPS:
                reg = child.registrations.get(group) if child is not None else None
                row = None
                if reg is not None and child.birth is not None:
                    row = unplaced_row(child_id, child, group, reg, dates(child.birth, reg, group, rs)[1], rs)
                if row is None:
                    if table.get(child_id, group) is not None:
                        table.delete(child_id, group)
                elif table.get(child_id, group) != row:
                    table.put(row)

    def _waiting(self, child_id: str, group: str, on: date, rs: rules.RuleSet) -> Waiting | None:
        child = self.children.get(child_id)
        if child is None or child.erased or child.birth is None:
            return None
        reg = child.registrations.get(group)
        if reg is None or not reg.active:
            return None
        birth = child.birth
        facts = self._facts.get((child_id, group))
        if facts is None or facts[0] != rs.id:
            facts = (rs.id, *dates(birth, reg, group, rs))
            self._facts[(child_id, group)] = facts
        _, seniority, guarantee, outgrown = facts
        if outgrown is not None and on >= outgrown:
            return None
        entry = rules.WaitingEntry(child_id=child_id, birth=birth, registered_on=reg.registered_on,
                                   need_date=reg.need_date, age_group=group, sibling_in_institution=False,
                                   seniority=seniority, newcomer=reg.newcomer)
        return Waiting(entry, reg, guarantee, max(0, (on - reg.need_date).days), child.district,
                        guarantee_met_by(child, group, reg, guarantee))

    def _sibling_in(self, child_id: str, inst: str, on: date) -> bool:
        child = self.children[child_id]
        return any(other != child_id and self.children[other].attends(inst, on)
                   for other in self.households.get(child.household, ()))

    def _derive_list(self, inst: str, group: str, on: date, rs: rules.RuleSet, waiting) -> None:
        candidates = []
        for child_id in self._wishers.get((inst, group), ()):
            w = waiting(child_id, group)
            if w is not None and not self.children[child_id].holds(inst, on):
                candidates.append((w, self._sibling_in(child_id, inst, on)))
        self._write(WAITING_LIST, self._rows, (inst, group), institution_rows(inst, group, candidates, on, rs))
        if not self._wishers.get((inst, group)):
            self._wishers.pop((inst, group), None)

    def _derive_district(self, district: str, group: str, on: date, rs: rules.RuleSet, waiting) -> None:
        candidates = []
        for child_id in self._members.get((district, group), ()):
            w = waiting(child_id, group)
            # on no institution's list when it holds a place at every wish
            if w is not None and not all(self.children[child_id].holds(inst, on) for inst in w.registration.wishes):
                candidates.append(w)
        self._write(WAITING_LIST_DISTRICT, self._district_rows, (district, group),
                    district_rows(district, group, candidates, on, rs))
        if not self._members.get((district, group)):
            self._members.pop((district, group), None)

    def _write(self, declared: Table, held: dict[tuple[str, str], set[str]], key: tuple[str, str],
               rows: list[dict[str, Any]]) -> None:
        """Put the list's rows that changed and delete those of children no longer on it."""
        table = self.t[declared.name]
        now: set[str] = set()
        for row in rows:
            now.add(row["child_id"])
            if table.get(*key, row["child_id"]) != row:
                table.put(row)
        for child_id in held.pop(key, set()) - now:
            table.delete(*key, child_id)
        if now:
            held[key] = now
