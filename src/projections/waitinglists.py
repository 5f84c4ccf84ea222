"""Waiting lists: per institution and age group, and per district, children in offer order.

Who waits (on the *list date*, see below): a child with an active registration (`Opskrevet`)
for an age group, on the list of every institution it wishes for that age group — except
- once it is `Placed` at an institution among that registration's wishes: the registration is
  no longer active (as in the ledger's `Child` aggregate) and the child leaves every list of
  that age group; a later cancellation or transfer does not put it back (it would register
  again). A booking elsewhere keeps it waiting (DTL § 27 c: a wish to move);
- on the list of an institution where it already holds a booking that has not ended by the
  list date (it cannot wait for a place it has);
- once it has outgrown the age group: nursery from `rules.kindergarten_from`, kindergarten
  from `rules.school_start`;
- once the child is erased (`PersonErased`).

`WishesChanged` replaces wishes and need date; `OfferDeclined` carries the moved need date.

Order: `rules.priority_key(entry, rule_set, seed=0, on=list date)`; the priority basis is
`rules.priority_basis(...)` on the same day. `sibling`: another child of the same household
holds a booking in the institution on the list date (whether it counts for the order is the
rule set's business: kindergarten siblings count from 2 y 6 m). The district list orders the
district's waiting children by the same key without the institution-specific sibling priority.

The list date is the date (UTC) of the latest recorded time among the events this view reads,
and the rule set is the one in force on it (`RuleBook.RuleSetActivated`; default
`copenhagen-2025-waitinglist@1`). Both come from the events alone, so a rebuild reproduces the
tables exactly. `finish_page(final=True)` recomputes the lists whose inputs changed, and every
list when the list date or the rule set moved; a row is written only when it changed.

See docs/views-waitinglists.md for the tables.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field, replace
from functools import wraps
from datetime import date
from typing import Any, Callable

import rules

from ledger import events

from projections.engine import Envelope, View, on
from projections.guarantee import GUARANTEE_UNPLACED, unplaced_row
from projections.tables import BOOL, DATE, INT, TEXT, Table

DEFAULT_RULE_SET = "copenhagen-2025-waitinglist@1"
SEED = 0
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

WAITING_LIST = Table(
    "waiting_list",
    (("institution_id", TEXT), ("age_group", TEXT), ("child_id", TEXT), ("rank", INT), ("priority_basis", TEXT),
     ("sibling", BOOL), ("seniority_date", DATE), ("need_date", DATE), ("registered_on", DATE),
     ("guarantee_date", DATE), ("days_waiting", INT), ("channel", TEXT), ("wish_no", INT), ("district", TEXT),
     ("rule_set", TEXT), ("guarantee_met_by", TEXT)),
    key=("institution_id", "age_group", "child_id"),
    indexes=(("institution_id", "age_group", "rank"), ("child_id",)),
    doc="Per institution and age group, the waiting children in offer order on the list date: rank "
        "(1 = offered first), priority basis, sibling in the institution, seniority, need, registration and "
        "guarantee dates, days waiting (list date - need date, never negative), registration channel, wish "
        "number (1 = first wish), the child's district, the rule set in force, and guarantee_met_by: "
        "'place' when the child holds a place outside its wishes that meets its guarantee "
        "(rules.place_meets_guarantee), 'refused_offer' when the family declined or let expire an offer "
        "starting by the guarantee date (rules.offer_meets_guarantee), else empty.",
)
WAITING_LIST_DISTRICT = Table(
    "waiting_list_district",
    (("district", TEXT), ("age_group", TEXT), ("child_id", TEXT), ("rank", INT), ("seniority_date", DATE),
     ("need_date", DATE), ("guarantee_date", DATE), ("days_waiting", INT)),
    key=("district", "age_group", "child_id"),
    indexes=(("district", "age_group", "rank"),),
    doc="Per district of the child's home and age group, one row per waiting child, ranked by the waiting-list "
        "order without the institution-specific sibling priority.",
)
WAITINGLIST_STATE = Table(
    "waitinglist_state",
    (("entity", TEXT), ("id", TEXT), ("data", TEXT)),
    key=("entity", "id"),
    doc="Working state (JSON): children (household, birth, district, registrations, placements, open "
        "offers), rule-set activations, the list date and what the rows were computed for.",
)


# -- working state -----------------------------------------------------------------------------


@dataclass
class _Registration:
    wishes: list[str]
    need_date: date
    registered_on: date
    channel: str | None
    newcomer: bool
    active: bool = True
    guarantee_list: bool = False  # on Copenhagen's guarantee list (a resident): a place within 2 months


@dataclass
class _Child:
    household: str
    birth: date | None
    district: str | None
    registrations: dict[str, _Registration]
    placements: dict[str, list[Any]]  # booking_id -> [institution_id, first, last]
    offers: dict[str, str]  # open offer_id -> age group
    erased: bool = False
    # age group -> start dates of offers made since the registration that the family declined or let expire
    refused: dict[str, list[date]] = field(default_factory=dict)
    offer_starts: dict[str, date] = field(default_factory=dict)  # open offer_id -> start date

    def holds(self, institution_id: str, on: date) -> bool:
        """A booking at the institution that has not ended by `on` (current or future)."""
        return any(inst == institution_id and first <= last and last >= on
                   for inst, first, last in self.placements.values())

    def attends(self, institution_id: str, on: date) -> bool:
        """A booking at the institution covering `on`."""
        return any(inst == institution_id and first <= on <= last
                   for inst, first, last in self.placements.values())


def _iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def _date(s: str | date | None) -> date | None:
    if s is None or isinstance(s, date):
        return s
    return date.fromisoformat(s)


def _encode(child: _Child) -> str:
    data = {
        "household": child.household,
        "birth": _iso(child.birth),
        "district": child.district,
        "registrations": {
            g: {"wishes": r.wishes, "need_date": _iso(r.need_date), "registered_on": _iso(r.registered_on),
                "channel": r.channel, "newcomer": r.newcomer, "active": r.active,
                "guarantee_list": r.guarantee_list}
            for g, r in child.registrations.items()},
        "placements": {b: [p[0], _iso(p[1]), _iso(p[2])] for b, p in child.placements.items()},
        "offers": child.offers,
        "erased": child.erased,
        "refused": {g: [d.isoformat() for d in days] for g, days in child.refused.items()},
        "offer_starts": {o: d.isoformat() for o, d in child.offer_starts.items()},
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _decode(text: str) -> _Child:
    d = json.loads(text)
    return _Child(
        household=d["household"], birth=_date(d["birth"]), district=d["district"],
        registrations={g: _Registration(r["wishes"], _date(r["need_date"]), _date(r["registered_on"]),
                                        r["channel"], r["newcomer"], r["active"], r.get("guarantee_list", False))
                       for g, r in d["registrations"].items()},
        placements={b: [p[0], _date(p[1]), _date(p[2])] for b, p in d["placements"].items()},
        offers=d["offers"], erased=d["erased"],
        # absent in state saved before they were kept
        refused={g: [date.fromisoformat(x) for x in days] for g, days in d.get("refused", {}).items()},
        offer_starts={o: date.fromisoformat(x) for o, x in d.get("offer_starts", {}).items()},
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


@dataclass(frozen=True)
class _Waiting:
    """A child's registration for an age group as the lists see it on the list date."""

    entry: rules.WaitingEntry  # sibling_in_institution=False
    registration: _Registration
    guarantee: date | None
    days_waiting: int
    district: str | None
    guarantee_met_by: str | None  # "place" (outside its wishes) or "refused_offer": the child may still wait


def _child_change(method: Callable[[Any, _Child, Envelope], None]) -> Callable[[Any, Envelope], None]:
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
        self.children: dict[str, _Child] = {}
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
                child = _decode(data)
                self.children[key] = child
                self.households[child.household].add(key)
                self._index(key, mark=False)
            elif entity == "rulebook":
                self.activations = {date.fromisoformat(k): v for k, v in json.loads(data).items()}
            elif entity == "clock":
                self.seen_on = _date(json.loads(data))
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
        self._save("clock", "list_date", json.dumps(_iso(self.seen_on)))
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

    def _changing(self, child_id: str) -> _Child | None:
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
        self.activations[_date(e.data["effective_from"])] = e.data["rule_set_id"]
        self._dirty_meta = True

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d, child_id = e.data, e.originator_id
        self.children[child_id] = _Child(household=d["household_id"], birth=_date(d["birth_date"]),
                                         district=d.get("district"), registrations={}, placements={}, offers={})
        self.households[d["household_id"]].add(child_id)
        self._dirty_children.add(child_id)

    @on(events.Child.Opskrevet)
    @_child_change
    def _registered(self, child: _Child, e: Envelope) -> None:
        d = e.data
        child.registrations[d["age_group"]] = _Registration(
            wishes=list(d["wishes"]), need_date=_date(d["need_date"]), registered_on=_date(d["registered_on"]),
            channel=e.meta.get("channel"), newcomer=bool(d.get("newcomer")),
            guarantee_list=bool(d.get("guarantee_list")))
        child.refused.pop(d["age_group"], None)  # a new registration: only later offers count

    @on(events.Child.WishesChanged)
    @_child_change
    def _wishes_changed(self, child: _Child, e: Envelope) -> None:
        reg = child.registrations.get(e.data["age_group"])
        if reg is not None:
            reg.wishes, reg.need_date = list(e.data["wishes"]), _date(e.data["need_date"])

    @on(events.Child.PlaceOffered)
    @_child_change
    def _offered(self, child: _Child, e: Envelope) -> None:
        child.offers[e.data["offer_id"]] = e.data["age_group"]
        child.offer_starts[e.data["offer_id"]] = _date(e.data["start_date"])

    @on(events.Child.OfferAccepted)
    @_child_change
    def _offer_accepted(self, child: _Child, e: Envelope) -> None:
        child.offers.pop(e.data["offer_id"], None)
        child.offer_starts.pop(e.data["offer_id"], None)

    @on(events.Child.OfferDeclined)
    @_child_change
    def _offer_declined(self, child: _Child, e: Envelope) -> None:
        reg = self._offer_refused(child, e.data["offer_id"])
        if reg is not None:
            reg.need_date = _date(e.data["need_date"])

    @on(events.Child.OfferExpired)
    @_child_change
    def _offer_expired(self, child: _Child, e: Envelope) -> None:
        self._offer_refused(child, e.data["offer_id"])

    def _offer_refused(self, child: _Child, offer_id: str) -> _Registration | None:
        """An offer declined or let expire; returns the registration it was made for (if any)."""
        group = child.offers.pop(offer_id, None)
        start = child.offer_starts.pop(offer_id, None)
        if group is not None and start is not None:
            child.refused.setdefault(group, []).append(start)
        return child.registrations.get(group) if group else None

    @on(events.Child.Placed)
    @_child_change
    def _placed(self, child: _Child, e: Envelope) -> None:
        d = e.data
        inst = d["institution_id"]
        child.placements[d["booking_id"]] = [inst, _date(d["first"]), _date(d["last"])]
        for reg in child.registrations.values():
            if inst in reg.wishes:
                reg.active = False
        self._placement_changed(child, inst)

    @on(events.Child.PlacementEnded)
    @_child_change
    def _placement_ended(self, child: _Child, e: Envelope) -> None:
        placement = child.placements.get(e.data["booking_id"])
        if placement is not None:
            placement[2] = _date(e.data["last"])
            self._placement_changed(child, placement[0])

    @on(events.Child.PersonErased)
    @_child_change
    def _erased(self, child: _Child, e: Envelope) -> None:
        child.erased = True
        # Keep only what siblings need (household and placements); forget the rest.
        child.birth, child.district, child.registrations, child.offers = None, None, {}, {}

    def _placement_changed(self, child: _Child, inst: str) -> None:
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
            self._save("child", child_id, _encode(self.children[child_id]))
        if self._dirty_meta:
            self._save_meta()
        self._dirty_lists, self._dirty_districts, self._dirty_children = set(), set(), set()
        self._dirty_meta = False

    def _derive(self, on: date, rs: rules.RuleSet) -> None:
        cache: dict[tuple[str, str], _Waiting | None] = {}

        def waiting(child_id: str, group: str) -> _Waiting | None:
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
                    row = unplaced_row(child_id, child, group, reg, _dates(child.birth, reg, group, rs)[1], rs)
                if row is None:
                    if table.get(child_id, group) is not None:
                        table.delete(child_id, group)
                elif table.get(child_id, group) != row:
                    table.put(row)

    def _waiting(self, child_id: str, group: str, on: date, rs: rules.RuleSet) -> _Waiting | None:
        child = self.children.get(child_id)
        if child is None or child.erased or child.birth is None:
            return None
        reg = child.registrations.get(group)
        if reg is None or not reg.active:
            return None
        birth = child.birth
        facts = self._facts.get((child_id, group))
        if facts is None or facts[0] != rs.id:
            facts = (rs.id, *_dates(birth, reg, group, rs))
            self._facts[(child_id, group)] = facts
        _, seniority, guarantee, outgrown = facts
        if outgrown is not None and on >= outgrown:
            return None
        entry = rules.WaitingEntry(child_id=child_id, birth=birth, registered_on=reg.registered_on,
                                   need_date=reg.need_date, age_group=group, sibling_in_institution=False,
                                   seniority=seniority, newcomer=reg.newcomer)
        return _Waiting(entry, reg, guarantee, max(0, (on - reg.need_date).days), child.district,
                        _guarantee_met_by(child, group, reg, guarantee))

    def _sibling_in(self, child_id: str, inst: str, on: date) -> bool:
        child = self.children[child_id]
        return any(other != child_id and self.children[other].attends(inst, on)
                   for other in self.households.get(child.household, ()))

    def _derive_list(self, inst: str, group: str, on: date, rs: rules.RuleSet, waiting) -> None:
        keyed = []
        for child_id in self._wishers.get((inst, group), ()):
            w = waiting(child_id, group)
            if w is None or self.children[child_id].holds(inst, on):
                continue
            entry = w.entry
            if self._sibling_in(child_id, inst, on):
                entry = replace(entry, sibling_in_institution=True)
            key, basis = _order(entry, rs, on)
            keyed.append((key, entry, basis, w))
        keyed.sort(key=lambda x: x[0])
        table = self.t[WAITING_LIST.name]
        now: set[str] = set()
        for rank, (_, entry, basis, w) in enumerate(keyed, start=1):
            reg = w.registration
            row = {"institution_id": inst, "age_group": group, "child_id": entry.child_id, "rank": rank,
                   "priority_basis": basis, "sibling": entry.sibling_in_institution,
                   "seniority_date": entry.seniority, "need_date": entry.need_date,
                   "registered_on": entry.registered_on, "guarantee_date": w.guarantee,
                   "days_waiting": w.days_waiting, "channel": reg.channel, "wish_no": reg.wishes.index(inst) + 1,
                   "district": w.district, "rule_set": rs.id, "guarantee_met_by": w.guarantee_met_by}
            now.add(entry.child_id)
            if table.get(inst, group, entry.child_id) != row:
                table.put(row)
        for child_id in self._rows.pop((inst, group), set()) - now:
            table.delete(inst, group, child_id)
        if now:
            self._rows[(inst, group)] = now
        if not self._wishers.get((inst, group)):
            self._wishers.pop((inst, group), None)

    def _derive_district(self, district: str, group: str, on: date, rs: rules.RuleSet, waiting) -> None:
        keyed = []
        for child_id in self._members.get((district, group), ()):
            w = waiting(child_id, group)
            if w is None:
                continue
            child = self.children[child_id]
            if all(child.holds(inst, on) for inst in w.registration.wishes):
                continue  # on no institution's list
            keyed.append((_key(w.entry, rs, on), w))
        keyed.sort(key=lambda x: x[0])
        table = self.t[WAITING_LIST_DISTRICT.name]
        now: set[str] = set()
        for rank, (_, w) in enumerate(keyed, start=1):
            entry = w.entry
            row = {"district": district, "age_group": group, "child_id": entry.child_id, "rank": rank,
                   "seniority_date": entry.seniority, "need_date": entry.need_date,
                   "guarantee_date": w.guarantee, "days_waiting": w.days_waiting}
            now.add(entry.child_id)
            if table.get(district, group, entry.child_id) != row:
                table.put(row)
        for child_id in self._district_rows.pop((district, group), set()) - now:
            table.delete(district, group, child_id)
        if now:
            self._district_rows[(district, group)] = now
        if not self._members.get((district, group)):
            self._members.pop((district, group), None)


def _guarantee_met_by(child: _Child, group: str, reg: _Registration, guarantee: date | None) -> str | None:
    """Whether the child's guarantee is met though it still waits: by a place outside its wishes, or by
    an offer the family refused (the same rules the allocation run and the fairness audit apply)."""
    if guarantee is None:
        return None
    if rules.place_meets_guarantee(guarantee, reg.registered_on,
                                   [(first, last) for _, first, last in child.placements.values()]):
        return "place"
    if rules.offer_meets_guarantee(guarantee, child.refused.get(group, ())):
        return "refused_offer"
    return None


def _dates(birth: date, reg: _Registration, group: str, rs: rules.RuleSet) -> tuple[date, date | None, date | None]:
    """Seniority, guarantee date and the day the child outgrows the age group."""
    try:
        seniority = rules.seniority_date(birth, reg.registered_on, group, rs)
    except rules.RuleError:  # registered before the first waiting-list rule the data models
        seniority = reg.registered_on
    try:
        guarantee = rules.registration_guarantee_date(birth, reg.registered_on, reg.need_date, rs, reg.guarantee_list)
    except rules.RuleError:
        guarantee = None
    try:
        outgrown = rules.kindergarten_from(birth, rs) if group == "nursery" else rules.school_start(birth, rs)
    except rules.RuleError:
        outgrown = None
    return seniority, guarantee, outgrown


def _fallback_key(entry: rules.WaitingEntry) -> tuple:
    # A list date before the first waiting-list rule the data models: siblings (nursery), seniority, need date.
    sibling = entry.sibling_in_institution and entry.age_group == "nursery"
    return (0 if sibling else 1, date.min, entry.seniority, entry.need_date,
            rules.tie_break(SEED, entry.child_id), entry.child_id)


def _key(entry: rules.WaitingEntry, rs: rules.RuleSet, on: date) -> tuple:
    """The waiting-list order key on the list date (ascending = offered first)."""
    try:
        return rules.priority_key(entry, rs, SEED, on)
    except rules.RuleError:
        return _fallback_key(entry)


def _order(entry: rules.WaitingEntry, rs: rules.RuleSet, on: date) -> tuple[tuple, str]:
    """The waiting-list order key and its basis text on the list date."""
    try:
        return rules.priority_key(entry, rs, SEED, on), rules.priority_basis(entry, rs, on)
    except rules.RuleError:
        key = _fallback_key(entry)
        basis = ", ".join((["sibling"] if key[0] == 0 else [])
                          + [f"seniority {entry.seniority.isoformat()}", f"need date {entry.need_date.isoformat()}"])
        return key, basis
