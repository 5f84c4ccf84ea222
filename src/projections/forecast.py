"""The occupancy forecast: demand for seats that is known but not yet booked.

Bookings already known are in the occupancy view (a booking runs to the end of its
age band, so the months ahead already hold them). What occupancy cannot see is
the demand still to come:

- **waiting**: a child on a waiting list (an active opskrivning) from its need date,
  for every day it holds no place, until it outgrows the age group;
- **age roll**: a child whose nursery booking ends at the kindergarten age (the last
  day of the month before it turns 2 y 10 m) and who holds no kindergarten place
  yet and is not on a kindergarten list — it will need one from the kindergarten
  age until school start (an integrated institution's own children are already
  booked through, so they never appear here).

The view keeps one row per stretch of unmet demand (`forecast_demand`);
`occupancy_forecast()` adds them up per district (or institution), age group and
month for the next months and sets them against capacity and bookings from the
occupancy view.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import wraps
from typing import Any, Callable

import rules

from ledger import events

from projections.engine import Envelope, View, on
from projections.held import Held
from projections.occupancy import CAPACITY, INSTITUTIONS, OCCUPANCY
from projections.stores import ViewStore
from projections.tables import DATE, INT, TEXT, Changes, Row, Table

ONE_DAY = timedelta(days=1)

DEMAND = Table(
    "forecast_demand",
    (("child_id", TEXT), ("source", TEXT), ("seq", INT), ("age_group", TEXT), ("district", TEXT),
     ("institution_id", TEXT), ("first_day", DATE), ("last_day", DATE)),
    key=("child_id", "source", "seq"),
    partition="child_id",  # derived per child: a live projector reads a child's rows while deriving them
    indexes=(("district", "age_group"), ("institution_id",)),
    doc="Unmet demand for seats: one row per stretch of days on which a child needs a place it does not hold. "
        "source = waiting (on a waiting list; institution_id = first wish) or age_roll (a nursery booking ends "
        "at the kindergarten age with no kindergarten place or registration yet; institution_id = the nursery).",
)
STATE = Table(
    "forecast_state",
    (("child_id", TEXT), ("data", TEXT)),
    key=("child_id",),
    doc="Working state (JSON): each child's birth date, district, registrations and placements.",
)
DEFAULT_BOUND = 5_000  # children a live projector holds once a page's changes are taken


def _child_change(method: Callable[[Any, dict[str, Any], dict[str, Any]], None]) -> Callable[[Any, Envelope], None]:
    """A handler of a change to a child the view knows (of others it has nothing to forecast)."""

    @wraps(method)
    def handler(view: "Forecast", e: Envelope) -> None:
        child = view.children.get(e.originator_id)
        if child is None:
            return
        method(view, child, e.data)
        if child.get("rule_set") is None:
            child["rule_set"] = e.meta.get("rule_set")
        view._dirty.add(e.originator_id)

    return handler


class Forecast(View):
    name = "forecast"
    rebuild_weight = 7  # seconds per 300k events of the synthetic city, folded alone
    tables = (DEMAND, STATE)
    cache_bound = DEFAULT_BOUND

    def __init__(self) -> None:
        super().__init__()
        # Every child in a fold in memory; a live projector reads a page's children from
        # forecast_state (prefetch) and holds at most `cache_bound` of them between pages.
        self.children: Held[str, dict[str, Any]] = Held()
        self._dirty: set[str] = set()

    def loads(self, table: Table) -> bool:
        return table is not STATE

    def start(self, store: ViewStore, prefix: str = "") -> None:
        super().start(store, prefix)
        if self.owned_store is not None:
            self.children.bound = self.cache_bound
            return
        rows = list(store.load(STATE, prefix))  # a checkpoint: every child in memory
        self.t[STATE.name].load(rows)
        for row in rows:
            self.children[row["child_id"]] = json.loads(row["data"])

    def prefetch(self, page: list[Envelope]) -> None:
        """The page's children, read in one go."""
        named = self.children.missing([e.originator_id for e in page if e.aggregate == "Child"])
        for row in self.read_rows(STATE, "child_id", named):
            self.children[row["child_id"]] = json.loads(row["data"])

    def changes(self) -> dict[Table, Changes]:
        out = super().changes()
        if self.owned_store is not None:
            self.t[STATE.name].evict()  # the store holds the rows; the children are in `children`
            self.children.trim()
        return out

    def rederive(self) -> None:
        self._dirty = set(self.children)

    @on(events.Child.ChildRegistered)
    def _registered(self, e: Envelope) -> None:
        d, cid = e.data, e.originator_id
        self.children[cid] = {"birth": d["birth_date"].isoformat(), "district": d["district"],
                              "rule_set": e.meta.get("rule_set"), "regs": {}, "places": {}}
        self._dirty.add(cid)

    @on(events.Child.Opskrevet)
    @_child_change
    def _opskrevet(self, child: dict[str, Any], d: dict[str, Any]) -> None:
        child["regs"][d["age_group"]] = {"wishes": list(d["wishes"]), "need": d["need_date"].isoformat(),
                                         "active": True}

    @on(events.Child.WishesChanged)
    @_child_change
    def _wishes_changed(self, child: dict[str, Any], d: dict[str, Any]) -> None:
        reg = child["regs"].get(d["age_group"])
        if reg is not None:
            reg["wishes"] = list(d["wishes"])
            reg["need"] = d["need_date"].isoformat()

    @on(events.Child.OfferDeclined)
    @_child_change
    def _offer_declined(self, child: dict[str, Any], d: dict[str, Any]) -> None:
        # Declining may move the need date (the waiting-list rules); which list is
        # not in the event, so move it on every active registration that had it earlier.
        for reg in child["regs"].values():
            if reg["active"] and reg["need"] < d["need_date"].isoformat():
                reg["need"] = d["need_date"].isoformat()

    @on(events.Child.Placed)
    @_child_change
    def _placed(self, child: dict[str, Any], d: dict[str, Any]) -> None:
        child["places"][d["booking_id"]] = [d["institution_id"], d["first"].isoformat(),
                                            d["last"].isoformat(), d["last"].isoformat()]
        # As in the ledger: a place in a wished institution takes the child off that list.
        for reg in child["regs"].values():
            if d["institution_id"] in reg["wishes"]:
                reg["active"] = False

    @on(events.Child.PlacementEnded)
    @_child_change
    def _placement_ended(self, child: dict[str, Any], d: dict[str, Any]) -> None:
        place = child["places"].get(d["booking_id"])
        if place is not None:
            place[2] = d["last"].isoformat()

    @on(events.Child.PersonErased)
    @_child_change
    def _erased(self, child: dict[str, Any], d: dict[str, Any]) -> None:
        child["erased"] = True

    def finish_page(self, final: bool = True) -> None:
        demand = self.t[DEMAND.name]
        state = self.t[STATE.name]
        dirty = sorted(self._dirty)
        self.load_owned(DEMAND.name, dirty)
        for cid in dirty:
            child = self.children.entries[cid]
            state.put({"child_id": cid, "data": json.dumps(child, sort_keys=True)})
            new = {(cid, r["source"], r["seq"]): r for r in _demand(cid, child)}
            for key in demand.owned(cid) - set(new):
                demand.delete(*key)
            for key, row in new.items():
                if demand.get(*key) != row:
                    demand.put(row)
        self._dirty.clear()


def _rule_set(child: dict[str, Any]):
    rule_set_id = child.get("rule_set") or rules.list_rule_sets()[0]
    try:
        return rules.load_rule_set(rule_set_id)
    except rules.RuleError:
        return rules.load_rule_set(rules.list_rule_sets()[0])


def _demand(cid: str, child: dict[str, Any]) -> list[Row]:
    """The stretches of days on which the child needs a place it does not hold."""
    if child.get("erased"):
        return []  # erased on request: the family has left the ledger
    birth = date.fromisoformat(child["birth"])
    rs = _rule_set(child)
    try:
        kindergarten_from = rules.kindergarten_from(birth, rs)
        school = rules.school_start(birth, rs)
    except rules.RuleError:
        return []
    held = sorted((date.fromisoformat(p[1]), date.fromisoformat(p[2])) for p in child["places"].values()
                  if p[1] <= p[2])
    rows: list[Row] = []

    def add(source: str, group: str, institution: str | None, first: date, last: date) -> None:
        for a, z in _minus(first, last, held):
            rows.append({"child_id": cid, "source": source, "seq": len(rows), "age_group": group,
                         "district": child["district"], "institution_id": institution, "first_day": a,
                         "last_day": z})

    regs = child["regs"]
    for group in ("nursery", "kindergarten"):
        reg = regs.get(group)
        if reg and reg["active"]:
            end = kindergarten_from - ONE_DAY if group == "nursery" else school - ONE_DAY
            add("waiting", group, reg["wishes"][0] if reg["wishes"] else None, date.fromisoformat(reg["need"]), end)
    kg = regs.get("kindergarten")
    if not (kg and kg["active"]):
        for institution, _first, last, booked_last in child["places"].values():
            # A nursery booking that ran (uncut) to the kindergarten age.
            if last == booked_last and date.fromisoformat(last) == kindergarten_from - ONE_DAY:
                add("age_roll", "kindergarten", institution, kindergarten_from, school - ONE_DAY)
                break
    for i, row in enumerate(rows):
        row["seq"] = i
    return rows


def _minus(first: date, last: date, held: list[tuple[date, date]]) -> list[tuple[date, date]]:
    """[first, last] without the held (sorted) spans."""
    out, cursor = [], first
    for a, z in held:
        if z < cursor or a > last:
            continue
        if a > cursor:
            out.append((cursor, a - ONE_DAY))
        cursor = max(cursor, z + ONE_DAY)
        if cursor > last:
            break
    if cursor <= last:
        out.append((cursor, last))
    return out


# -- the query --------------------------------------------------------------------------------


def _month_span(month: str) -> tuple[date, date]:
    first = date.fromisoformat(month + "-01")
    nxt = rules.add_months(first, 1)
    return first, nxt - ONE_DAY


def occupancy_forecast(store: ViewStore, *, from_month: str, months: int = 12, district: str | None = None,
                       institution_id: str | None = None, pool: str = "general") -> list[Row]:
    """Per district (or one institution), age group and month from `from_month`: capacity,
    booked, free, waiting and age-roll demand, and projected_free = free - demand.

    Demand is counted in a month when the child needs a place on any day of it.
    """
    scope = _Scope(store, [_month_span(m) for m in _months(from_month, months)], district, institution_id, pool)
    scope.add_capacity()
    scope.add_booked()
    for r in scope.rows.values():
        r["free"] = r["capacity"] - r["booked"]
    scope.add_demand()
    for r in scope.rows.values():
        r["projected_free"] = r["free"] - r["waiting"] - r["age_roll"]
    return [scope.rows[k] for k in sorted(scope.rows)]


@dataclass
class _Scope:
    """The forecast's rows (per district or institution, age group and month) and the filter they share."""

    store: ViewStore
    spans: list[tuple[date, date]]
    district: str | None
    institution_id: str | None
    pool: str
    rows: dict[tuple[str, str, str], Row] = field(default_factory=dict)

    @property
    def by(self) -> str:
        return "institution_id" if self.institution_id else "district"

    def row(self, who: str, group: str, month: str) -> Row:
        return self.rows.setdefault((who, group, month), {
            self.by: who, "age_group": group, "month": month, "capacity": 0, "booked": 0, "free": 0,
            "waiting": 0, "age_roll": 0, "projected_free": 0})

    def where(self, conditions: list[str], params: list[Any], prefix: str = "") -> tuple[str, tuple]:
        """`conditions` and the district or institution asked for, with their parameters."""
        ph = self.store.placeholder
        if self.district:
            conditions, params = conditions + [f"{prefix}district = {ph}"], params + [self.district]
        if self.institution_id:
            conditions, params = conditions + [f"{prefix}institution_id = {ph}"], params + [self.institution_id]
        return " AND ".join(conditions), tuple(params)

    def add_capacity(self) -> None:
        # From the decisions (occupancy rows stop after the last booked day).
        ph, by = self.store.placeholder, self.by
        where, params = self.where([f"c.pool = {ph}"], [self.pool], prefix="i.")
        schedules: dict[tuple[str, str, str], list[tuple[date, int]]] = defaultdict(list)
        for inst, who, group, effective_from, seats in self.store.query(
                f"SELECT c.institution_id, i.{by}, c.age_group, c.effective_from, c.seats "
                f"FROM {CAPACITY.name} c JOIN {INSTITUTIONS.name} i ON i.institution_id = c.institution_id "
                f"WHERE {where}", params):
            schedules[(inst, who, group)].append((_as_date(effective_from), int(seats)))
        for (_inst, who, group), schedule in schedules.items():
            schedule.sort()
            for a, z in self.spans:
                seats = _fewest(schedule, a, z)
                if seats is not None:
                    self.row(who, group, a.isoformat()[:7])["capacity"] += seats

    def add_booked(self) -> None:
        ph, by = self.store.placeholder, self.by
        lo, hi = self.spans[0][0].isoformat()[:7], self.spans[-1][1].isoformat()[:7]
        where, params = self.where([f"month >= {ph}", f"month <= {ph}", f"pool = {ph}"], [lo, hi, self.pool])
        for who, group, month, booked in self.store.query(
                f"SELECT {by}, age_group, month, SUM(booked) FROM {OCCUPANCY.name} "
                f"WHERE {where} GROUP BY {by}, age_group, month", params):
            self.row(who, group, month)["booked"] = int(booked or 0)

    def add_demand(self) -> None:
        ph = self.store.placeholder
        where, params = self.where([f"last_day >= {ph}", f"first_day <= {ph}"],
                                   [self.spans[0][0], self.spans[-1][1]])
        demand = self.store.query(
            f"SELECT {self.by}, age_group, source, first_day, last_day FROM {DEMAND.name} WHERE {where}",
            tuple(_param(p) for p in params))
        for who, group, source, first, last in demand:
            if who is None:
                continue
            first, last = _as_date(first), _as_date(last)
            for a, z in self.spans:
                if first <= z and last >= a:
                    self.row(who, group, a.isoformat()[:7])["waiting" if source == "waiting" else "age_roll"] += 1


def _fewest(schedule: list[tuple[date, int]], first: date, last: date) -> int | None:
    """The fewest seats in force on a day of [first, last] (None before the first decision)."""
    in_force = None
    for effective_from, seats in schedule:
        if effective_from <= first:
            in_force = seats
    if in_force is None and not any(first <= d <= last for d, _ in schedule):
        return None
    within = [seats for d, seats in schedule if first < d <= last]
    candidates = ([in_force] if in_force is not None else [0]) + within
    return min(candidates)


def _months(first: str, n: int) -> list[str]:
    day = date.fromisoformat(first + "-01")
    return [rules.add_months(day, i).isoformat()[:7] for i in range(n)]


def _param(value: Any) -> Any:
    return value.isoformat() if isinstance(value, date) else value


def _as_date(value: Any) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value))
