"""Deriving the waiting lists from the working state on the list date: the lists whose inputs changed,
every list when the list date or the rule set moved; a row is written only when it changed."""

from __future__ import annotations

from datetime import date
from typing import Any, Callable

import rules

from projections.guarantee import GUARANTEE_UNPLACED, unplaced_row
from projections.tables import Keyed, Table
from projections.waitinglists.order import Waiting, dates, district_rows, guarantee_met_by, institution_rows
from projections.waitinglists.schema import WAITING_LIST, WAITING_LIST_DISTRICT
from projections.waitinglists.working import ListKey, Working

AGE_GROUPS = ("nursery", "kindergarten")


class ListsDerivation:
    """The derivation half of `WaitingLists` (which supplies the state, the tables and the store)."""

    t: dict[str, Keyed]
    working: Working
    computed_for: tuple[date, str] | None
    _dirty_lists: set[ListKey]
    _dirty_districts: set[ListKey]
    _dirty_children: set[str]
    _dirty_meta: bool
    _facts: dict[tuple[str, str], tuple[str, date, date | None, date | None]]
    load_owned: Callable[..., None]
    listed: Callable[[Table], set[ListKey]]

    def derive(self, on: date, rs: rules.RuleSet) -> None:
        """The lists (and the registrations off them) as of the list date `on` under rule set `rs`."""
        # The guarantee dates follow the rule set, not the list date.
        rs_moved = self.computed_for is None or self.computed_for[1] != rs.id
        if self.computed_for != (on, rs.id):
            # The list date or the rule set moved: days waiting, ages and siblings change everywhere.
            self._dirty_lists = set(self.working.wishers) | self.listed(WAITING_LIST)
            self._dirty_districts = set(self.working.members) | self.listed(WAITING_LIST_DISTRICT)
            self.computed_for = (on, rs.id)
            self._dirty_meta = True
        self._derive_lists(on, rs)
        if rs_moved:
            for batch in self.working.every_child():
                # (a live projector reads every child for this, a batch at a time, rarely: a new rule set)
                fresh = self.working.children.missing(batch)
                self._derive_unplaced(batch, rs)
                self.working.children.forget([c for c in fresh if c not in self._dirty_children])
        else:
            self._derive_unplaced(sorted(self._dirty_children), rs)

    def _derive_lists(self, on: date, rs: rules.RuleSet) -> None:
        w = self.working
        lists, districts = sorted(self._dirty_lists), sorted(self._dirty_districts)
        needed = {c for key in lists for c in w.wishers.get(key, ())} | {
            c for key in districts for c in w.members.get(key, ())}
        w.hold(sorted(needed), siblings=True)
        self.load_owned(WAITING_LIST.name, sorted({inst for inst, _ in lists}))
        self.load_owned(WAITING_LIST_DISTRICT.name, sorted({d for d, _ in districts}))
        cache: dict[tuple[str, str], Waiting | None] = {}

        def waiting(child_id: str, group: str) -> Waiting | None:
            key = (child_id, group)
            if key not in cache:
                cache[key] = self._waiting(child_id, group, on, rs)
            return cache[key]

        for inst, group in lists:
            self._derive_list(inst, group, on, rs, waiting)
        for district, group in districts:
            self._derive_district(district, group, on, rs, waiting)

    def _derive_unplaced(self, child_ids: list[str], rs: rules.RuleSet) -> None:
        self.working.hold(child_ids)
        self.load_owned(GUARANTEE_UNPLACED.name, child_ids)
        table = self.t[GUARANTEE_UNPLACED.name]
        for child_id in child_ids:
            child = self.working.children.entries.get(child_id)
            for group in AGE_GROUPS:
                reg = child.registrations.get(group) if child is not None else None
                row = None
                if reg is not None and child is not None and child.birth is not None:
                    row = unplaced_row(child_id, child, group, reg, dates(child.birth, reg, group, rs)[1], rs)
                if row is None:
                    if table.get(child_id, group) is not None:
                        table.delete(child_id, group)
                elif table.get(child_id, group) != row:
                    table.put(row)

    def _waiting(self, child_id: str, group: str, on: date, rs: rules.RuleSet) -> Waiting | None:
        child = self.working.children.entries.get(child_id)
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
        children = self.working.children.entries
        household = self.working.households.entries.get(children[child_id].household, ())
        return any(other != child_id and other in children and children[other].attends(inst, on)
                   for other in household)

    def _derive_list(self, inst: str, group: str, on: date, rs: rules.RuleSet, waiting) -> None:
        candidates = []
        for child_id in self.working.wishers.get((inst, group), ()):
            w = waiting(child_id, group)
            if w is not None and not self.working.children.entries[child_id].holds(inst, on):
                candidates.append((w, self._sibling_in(child_id, inst, on)))
        self._write(WAITING_LIST, (inst, group), institution_rows(inst, group, candidates, on, rs))

    def _derive_district(self, district: str, group: str, on: date, rs: rules.RuleSet, waiting) -> None:
        candidates = []
        for child_id in self.working.members.get((district, group), ()):
            w = waiting(child_id, group)
            # on no institution's list when it holds a place at every wish
            child = self.working.children.entries[child_id]
            if w is not None and not all(child.holds(inst, on) for inst in w.registration.wishes):
                candidates.append(w)
        self._write(WAITING_LIST_DISTRICT, (district, group), district_rows(district, group, candidates, on, rs))

    def _write(self, declared: Table, key: ListKey, rows: list[dict[str, Any]]) -> None:
        """Put the list's rows that changed and delete those of children no longer on it."""
        table = self.t[declared.name]
        now: set[str] = set()
        for row in rows:
            now.add(row["child_id"])
            if table.get(*key, row["child_id"]) != row:
                table.put(row)
        for held in table.owned(key[0]):
            if held[1] == key[1] and held[2] not in now:
                table.delete(*held)
