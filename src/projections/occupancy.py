"""Occupancy: institution × age group × pool × month — capacity, booked, free, seat-days.

Each row names the institution's district and the cluster (klynge) it belongs to on the month's
last day (`institution_clusters` keeps the effective-dated assignments).

`booked` is the most seats in use on any day of the month (invariant 1 holds per
day, so a seat can pass from one child to the next mid-month); `capacity` the
fewest seats in force on any day of the month; `seat_days` and `capacity_days`
sum over the month's days. Months run from the first capacity or booking to the
last booked day, and at least 12 months from the first capacity (a forecast
horizon that follows from the events alone, so rebuilds are reproducible).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from typing import Iterator

import rules

from ledger import events

from projections.engine import Envelope, View, on
from projections.held import Held
from projections.tables import DATE, INT, TEXT, Changes, Table

Key = tuple[str, str, str]  # institution, age group, pool
DEFAULT_BOUND = 100  # institutions whose spans a live projector holds once a page's changes are taken
_SEATS = frozenset({events.Institution.SeatsReserved.topic, events.Institution.SeatsReleased.topic})

ONE_DAY = timedelta(days=1)

INSTITUTIONS = Table(
    "institutions",
    (("institution_id", TEXT), ("name", TEXT), ("district", TEXT), ("kind", TEXT), ("ownership", TEXT),
     ("municipality_code", TEXT), ("registered_on", DATE)),
    key=("institution_id",),
    doc="Every institution: name, district, kind, ownership, municipality.",
    analyst=True,
)
CAPACITY = Table(
    "institution_capacity",
    (("institution_id", TEXT), ("age_group", TEXT), ("pool", TEXT), ("effective_from", DATE), ("seats", INT)),
    key=("institution_id", "age_group", "pool", "effective_from"),
    doc="Capacity changes as decided (effective-dated).",
    analyst=True,
)
CLUSTERS = Table(
    "institution_clusters",
    (("institution_id", TEXT), ("effective_from", DATE), ("cluster", TEXT)),
    key=("institution_id", "effective_from"),
    doc="The cluster (klynge) each institution belongs to, effective-dated; cluster null: none from that day.",
    analyst=True,
)
SPANS = Table(
    "seat_spans",
    (("booking_id", TEXT), ("segment", INT), ("institution_id", TEXT), ("age_group", TEXT), ("pool", TEXT),
     ("child_id", TEXT), ("first_day", DATE), ("last_day", DATE)),
    key=("booking_id", "segment"),
    indexes=(("institution_id", "age_group", "pool"),),
    doc="The seats each booking holds: one row per age-group segment; last_day moves on release.",
)
OCCUPANCY = Table(
    "occupancy",
    (("institution_id", TEXT), ("age_group", TEXT), ("pool", TEXT), ("month", TEXT), ("district", TEXT),
     ("cluster", TEXT), ("capacity", INT), ("booked", INT), ("free", INT), ("seat_days", INT), ("capacity_days", INT)),
    key=("institution_id", "age_group", "pool", "month"),
    partition="institution_id",  # derived per institution: a live projector reads its rows while deriving them
    indexes=(("district", "month"), ("month",), ("cluster", "month")),
    doc="Per institution, age group, pool and month: district, cluster (in force on the month's last day), capacity (fewest seats in force on a day), booked "
        "(most seats in use on a day), free = capacity - booked (negative only under a recorded override), "
        "seat-days and capacity-days.",
    analyst=True,
)


def monthly_use(spans: list[tuple[date, date]], caps: dict[date, int], first: date, last: date
                ) -> Iterator[tuple[date, int, int, int, int]]:
    """Per month from `first` (a 1st) through the month of `last`: (its 1st, most seats in use on
    a day, least capacity on a day, seat-days, capacity-days), from seat spans (first and last day
    held) and the capacity from each day in `caps` (0 before the first).

    A sweep over the days on which something changes (a span starts or ends, the capacity
    changes), not over every day: between two such days nothing moves."""
    delta: dict[date, int] = defaultdict(int)
    for a, z in spans:
        delta[a] += 1
        delta[z + ONE_DAY] -= 1
    changes = sorted(d for d in set(delta) | set(caps) if d >= first)
    in_use = sum(n for d, n in delta.items() if d < first)
    capacity = max(((d, n) for d, n in caps.items() if d < first), default=(first, 0))[1]
    i = 0
    month_start = first
    while month_start <= last:
        nxt = _next_month(month_start)
        most, fewest, seat_days, capacity_days = 0, None, 0, 0
        day = month_start
        while day < nxt:
            if i < len(changes) and changes[i] == day:
                in_use += delta.get(day, 0)
                capacity = caps.get(day, capacity)
                i += 1
            upto = changes[i] if i < len(changes) and changes[i] < nxt else nxt
            days = (upto - day).days
            most = max(most, in_use)
            fewest = capacity if fewest is None else min(fewest, capacity)
            seat_days += in_use * days
            capacity_days += capacity * days
            day = upto
        assert fewest is not None
        yield month_start, most, fewest, seat_days, capacity_days
        month_start = nxt


def cluster_on(assignments: list[tuple[date, str | None]], day: date) -> str | None:
    """The cluster in force on `day`, from (effective_from, cluster) in date order."""
    current = None
    for effective_from, cluster in assignments:
        if effective_from > day:
            break
        current = cluster
    return current


def _month(day: date) -> str:
    return f"{day.year:04d}-{day.month:02d}"


def _first_of(month: str) -> date:
    return date(int(month[:4]), int(month[5:7]), 1)


def _next_month(day: date) -> date:
    return (day.replace(day=28) + timedelta(days=4)).replace(day=1)


def _months(first: str, last: str) -> Iterator[str]:
    """The months from `first` through `last` ("YYYY-MM")."""
    day, end = _first_of(first), _first_of(last)
    while day <= end:
        yield _month(day)
        day = _next_month(day)


class Occupancy(View):
    name = "occupancy"
    rebuild_weight = 4  # seconds per 300k events of the synthetic city, folded alone
    tables = (INSTITUTIONS, CAPACITY, CLUSTERS, SPANS, OCCUPANCY)
    cache_bound = DEFAULT_BOUND

    def __init__(self) -> None:
        super().__init__()
        # Per institution, age group and pool: the first day a change of this page reaches — months
        # before it keep their rows (a recompute of the whole history per booking grew with it).
        self._dirty: dict[Key, date] = {}
        self._ranges: dict[Key, tuple[str, str]] = {}  # the first and last month of the key's rows
        # Per institution, per (age group, pool): the days each span holds (first, last), beside its
        # row, so a recompute reads no rows. Every institution in a fold in memory; a live
        # projector reads them from seat_spans as needed and holds at most `cache_bound`.
        self._spans: Held[str, dict[tuple[str, str], dict[tuple, tuple[date, date]]]] = Held()
        self._caps_by_key: dict[Key, dict[date, int]] = defaultdict(dict)
        self._clusters: dict[str, dict[date, str | None]] = defaultdict(dict)  # institution -> {from: cluster}

    def loads(self, table: Table) -> bool:
        return table is not SPANS  # (the occupancy rows: per institution, while derived again)

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        if self.owned_store is not None:
            self._spans.bound = self.cache_bound
            self._ranges = {(i, g, p): (lo, hi) for i, g, p, lo, hi in store.query(
                f"SELECT institution_id, age_group, pool, MIN(month), MAX(month) FROM {prefix}{OCCUPANCY.name} "
                "GROUP BY institution_id, age_group, pool")}
        else:  # a checkpoint: every span in memory (the occupancy rows are derived again)
            self.t[SPANS.name].load(store.load(SPANS, prefix))
            for key, row in self.t[SPANS.name].rows.items():
                self._spans_of(row["institution_id"]).setdefault((row["age_group"], row["pool"]), {})[key] = (
                    row["first_day"], row["last_day"])
        for row in self.t["institution_capacity"].values():
            key = (row["institution_id"], row["age_group"], row["pool"])
            self._caps_by_key[key][row["effective_from"]] = row["seats"]
        for row in self.t["institution_clusters"].values():
            self._clusters[row["institution_id"]][row["effective_from"]] = row["cluster"]

    def rederive(self) -> None:
        for key in set(self._caps_by_key) | {(i, *gp) for i in self._spans for gp in self._spans.entries[i]}:
            self._dirty[key] = date.min

    # -- the spans, read per institution --------------------------------------------------------

    def _spans_of(self, institution: str) -> dict[tuple[str, str], dict[tuple, tuple[date, date]]]:
        held = self._spans.get(institution)
        if held is None:
            self._read_spans([institution])
            held = self._spans.entries[institution]
        return held

    def _read_spans(self, institutions: list[str]) -> None:
        missing = self._spans.missing(institutions)
        for inst in missing:
            self._spans[inst] = {}
        for row in self.read_rows(SPANS, "institution_id", missing):
            self._spans.entries[row["institution_id"]].setdefault((row["age_group"], row["pool"]), {})[
                (row["booking_id"], row["segment"])] = (row["first_day"], row["last_day"])

    def prefetch(self, page: list[Envelope]) -> None:
        """The institutions whose seats the page's events change, and the spans they release."""
        self._read_spans([e.originator_id for e in page if e.kind in _SEATS])
        spans = self.t[SPANS.name]
        released = {e.data["booking_id"] for e in page if e.kind == events.Institution.SeatsReleased.topic}
        spans.load(self.read_rows(SPANS, "booking_id", sorted(b for b in released if spans.get(b, 0) is None)))

    def changes(self) -> dict[Table, Changes]:
        out = super().changes()
        if self.owned_store is not None:
            self.t[SPANS.name].evict()  # the store holds them
            self._spans.trim()
        return out

    # -- folding --------------------------------------------------------------------------------

    def _changed(self, key: Key, day: date) -> None:
        if key not in self._dirty or day < self._dirty[key]:
            self._dirty[key] = day

    @on(events.Institution.InstitutionRegistered)
    def _registered(self, e: Envelope) -> None:
        d = e.data
        self.t["institutions"].put({
            "institution_id": e.originator_id, "name": d["name"], "district": d["district"], "kind": d["kind"],
            "ownership": d["ownership"], "municipality_code": d["municipality_code"],
            "registered_on": e.recorded_at.date(),
        })

    @on(events.Institution.CapacityChanged)
    def _capacity_changed(self, e: Envelope) -> None:
        d, inst = e.data, e.originator_id
        self.t["institution_capacity"].put({
            "institution_id": inst, "age_group": d["age_group"], "pool": d["pool"],
            "effective_from": d["effective_from"], "seats": d["seats"]})
        key = (inst, d["age_group"], d["pool"])
        self._caps_by_key[key][d["effective_from"]] = d["seats"]
        self._changed(key, d["effective_from"])

    @on(events.Institution.ClusterAssigned)
    def _cluster(self, e: Envelope) -> None:
        d, inst = e.data, e.originator_id
        self.t["institution_clusters"].put({"institution_id": inst, "effective_from": d["effective_from"],
                                            "cluster": d["cluster"]})
        self._clusters[inst][d["effective_from"]] = d["cluster"]
        # (a key without rows or capacity holds no day: nothing to name a cluster on)
        for key in set(self._ranges) | set(self._caps_by_key) | {(inst, *gp) for gp in self._spans_of(inst)}:
            if key[0] == inst:
                self._changed(key, d["effective_from"])

    @on(events.Institution.SeatsReserved)
    def _reserved(self, e: Envelope) -> None:
        d, inst = e.data, e.originator_id
        held = self._spans_of(inst)
        for i, (group, first, last) in enumerate(d["segments"]):
            row = {"booking_id": d["booking_id"], "segment": i, "institution_id": inst, "age_group": group,
                   "pool": d["pool"], "child_id": d["child_id"], "first_day": first, "last_day": last}
            self.t["seat_spans"].put(row)
            held.setdefault((group, d["pool"]), {})[(d["booking_id"], i)] = (first, last)
            self._changed((inst, group, d["pool"]), first)

    @on(events.Institution.SeatsReleased)
    def _released(self, e: Envelope) -> None:
        d, spans = e.data, self.t["seat_spans"]
        i = 0
        while (row := spans.get(d["booking_id"], i)) is not None:
            if row["first_day"] >= d["from_date"]:
                row["last_day"] = row["first_day"] - ONE_DAY  # holds no day any more
            else:
                row["last_day"] = min(row["last_day"], d["from_date"] - ONE_DAY)
            spans.touch(row)
            key = (row["institution_id"], row["age_group"], row["pool"])
            self._spans_of(key[0]).setdefault(key[1:], {})[(d["booking_id"], i)] = (row["first_day"], row["last_day"])
            self._changed(key, max(row["first_day"], d["from_date"]))  # days before it hold as they did
            i += 1

    def finish_page(self, final: bool = True) -> None:
        if not final or not self._dirty:
            return
        self._read_spans(sorted({key[0] for key in self._dirty}))
        # The rows from the earliest month a change reaches (months before it keep theirs).
        self.load_owned(OCCUPANCY.name, sorted({key[0] for key in self._dirty}),
                        since=("month", _month(min(self._dirty.values()))))
        for key in sorted(self._dirty):
            self._recompute(key, self._dirty[key])
        self._dirty.clear()

    def _recompute(self, key: Key, since: date) -> None:
        """The months of `key` from the month of `since` on (a change reaches no earlier day, and the
        months' range only grows or shrinks from there: it starts at the earliest capacity or span)."""
        inst, group, pool = key
        schedule = sorted(self._caps_by_key.get(key, {}).items())
        spans = [(a, z) for a, z in self._spans_of(inst).get((group, pool), {}).values() if a <= z]
        starts = [d for d, _ in schedule] + [a for a, _ in spans]
        held = self._ranges.pop(key, None)
        old_months = set(_months(*held)) if held else set()
        kept: set[str] = set()
        new_rows = {}
        if starts:
            first = min(starts).replace(day=1)
            last = max([z for _, z in spans] + ([rules.add_months(schedule[0][0], 12) - ONE_DAY] if schedule else []))
            # Months before `since` stay as they are where they were derived already (not past the
            # old range's end) and the range still holds them (a span removed at the end can
            # shorten it to before `since`).
            start = since.replace(day=1)
            if not old_months or min(old_months) > _month(first):
                start = first
            else:
                start = min(start, _next_month(_first_of(max(old_months))))
            kept = {m for m in old_months if _month(first) <= m < _month(start) and m <= _month(last)}
            first = max(first, start)
            inst_row = self.t["institutions"].get(inst)
            district = inst_row["district"] if inst_row else None
            clusters = sorted(self._clusters.get(inst, {}).items())
            for month_start, most, fewest, seat_days, capacity_days in monthly_use(spans, dict(schedule), first, last):
                month = _month(month_start)
                new_rows[month] = {"institution_id": inst, "age_group": group, "pool": pool, "month": month,
                                   "district": district, "cluster": cluster_on(clusters, _next_month(month_start) - ONE_DAY),
                                   "capacity": fewest, "booked": most,
                                   "free": fewest - most, "seat_days": seat_days, "capacity_days": capacity_days}
        table = self.t["occupancy"]
        for month in old_months - kept - set(new_rows):
            table.delete_stored(inst, group, pool, month)
        for month, row in new_rows.items():
            if table.get(inst, group, pool, month) != row:
                table.put(row)
        months = kept | set(new_rows)
        if months:
            self._ranges[key] = (min(months), max(months))
