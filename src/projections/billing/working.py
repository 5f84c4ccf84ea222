"""The billing views' working state per household, read from the `*_facts` table as needed.

A household's facts (its children, bookings, home, friplads decisions, settled years, payment
adjustments and issued statements) are one `HouseholdFacts`. A live projector reads them when an
event names the household or its months are derived again, and keeps them in a cache of at most
`bound` households, the least recently used going first. Households changed in the page stay
until their rows are written with it. A fold in memory (a rebuild, a counterfactual, a restore from
a checkpoint) keeps every household: no bound, no store.

Issued statements are most of a household's facts (one a month, 3–4 KB each): only those of the
months a derivation needs (from the month it derives from) are read; the month of the latest is
kept for what needs it (where corrections go).
"""

from __future__ import annotations

import json
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Iterable

from projections.billing import stored
from projections.billing.facts import (CODECS, Adjustment, Booking, Child, FripladsDecision, Household,
                                       IssuedStatement, SettledYear)
from projections.tables import Row, Table

DEFAULT_BOUND = 5_000  # households held by a live projector beyond those of the page
NONE_READ = "~"  # sorts after every month: no issued statement read yet
# The entities of a household, each kept under its household's id as `owner`; the others are
# everyone's (owner "": institutions, capacity, billing runs, basis bookings, the clock).
PER_HOUSEHOLD = ("booking", "child", "household", "friplads", "settled", "adjustments", "issued")


@dataclass(frozen=True, slots=True)
class Drafted:
    """A month's lines as drafted (billing.runs.line_content), kept when the month was issued as drafted."""

    month: str
    lines: tuple


@dataclass(slots=True)
class HouseholdFacts:
    """One household's facts. `issued` holds every statement of the months from `issued_from` on
    (and maybe some before); `latest_issued` is the latest month issued, read or not."""

    id: str
    household: Household | None = None
    children: dict[str, Child] = field(default_factory=dict)
    bookings: dict[str, Booking] = field(default_factory=dict)
    friplads: tuple[FripladsDecision, ...] = ()
    settled: dict[str, SettledYear] = field(default_factory=dict)
    adjustments: tuple[Adjustment, ...] = ()
    issued: dict[str, IssuedStatement] = field(default_factory=dict)
    issued_from: str = ""  # "": every month's
    latest_issued: str | None = None
    # The month last issued as drafted and its draft's lines (as a run holds them), until the
    # household is derived again: the next month's rows when nothing changes (billing.extend).
    drafted: Drafted | None = None

    def add(self, entity: str, key: str, fact: Any) -> None:
        """Take a fact of the household (folded, or read back)."""
        if entity == "booking":
            self.bookings[key] = fact
        elif entity == "child":
            self.children[key] = fact
        elif entity == "issued":
            month = key.split("/", 1)[1]
            self.issued[month] = fact
            if self.latest_issued is None or month > self.latest_issued:
                self.latest_issued = month
        elif entity in ("household", "friplads", "settled", "adjustments"):
            setattr(self, entity, fact)
        else:
            raise ValueError(f"{entity} is not a fact of a household")

    def forget_issued_before(self, month: str) -> None:
        """Drop the statements of months before `month` (read again when a derivation needs them)."""
        if month > self.issued_from:
            self.issued = {m: s for m, s in self.issued.items() if m >= month}
            self.issued_from = month


def owner_of(entity: str, key: str, fact: Any) -> str:
    """The household a fact belongs to ("" for everyone's facts)."""
    if entity in ("booking", "child"):
        return fact.household
    if entity == "issued":
        return key.split("/", 1)[0]
    return key if entity in PER_HOUSEHOLD else ""


# json.dumps with arguments makes a new encoder at every call (a rebuild writes every fact: half a
# million at the city at 0.1); one kept encoder writes the same text.
_encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode


def state_row(entity: str, key: str, fact: Any) -> Row:
    """The fact's row: `month` is an issued statement's month, or the last month a booking holds
    (what a month joining the horizon asks of the store)."""
    data = _encode(CODECS[entity][0](fact))
    month = key.split("/", 1)[1] if entity == "issued" else f"{fact.end:%Y-%m}" if entity == "booking" else None
    return {"entity": entity, "id": key, "owner": owner_of(entity, key, fact), "month": month, "data": data}


def fact_of(row: Row) -> Any:
    return CODECS[row["entity"]][1](json.loads(row["data"]))


def named_by(events: Iterable[Any], handles: Iterable[str]) -> tuple[list[str], list[str]]:
    """The households (and the bookings, by id) a page's events name."""
    households, bookings = [], []
    for e in events:
        if e.kind not in handles:
            continue
        if e.aggregate == "Household":
            households.append(e.originator_id)
        elif "household_id" in e.data:
            households.append(e.data["household_id"])
        elif e.aggregate == "Booking":
            bookings.append(e.originator_id)
    return households, bookings


class Households:
    """The households' facts held in memory: all of them (a fold in memory), or, once `attach`ed to
    a store, at most `bound` beyond those changed in the page, read from the store as needed."""

    def __init__(self) -> None:
        self.held: OrderedDict[str, HouseholdFacts] = OrderedDict()
        self.booking_owner: dict[str, str] = {}  # the bookings of the held households
        self.pinned: set[str] = set()  # changed in this page: held until written
        self.bound: int | None = None
        self.store: Any = None
        self.table: Table | None = None
        self.prefix = ""
        self._known: set[str] | None = set()  # every household's id (None: not read from the store yet)

    def attach(self, store: Any, table: Table, prefix: str, bound: int) -> None:
        self.store, self.table, self.prefix, self.bound = store, table, prefix, bound
        self._known = None

    @property
    def bounded(self) -> bool:
        return self.store is not None

    def get(self, household: str) -> HouseholdFacts:
        """The household's facts (new ones for a household not seen before)."""
        hf = self.held.get(household)
        if hf is not None:
            self.held.move_to_end(household)
            return hf
        self.read([household])
        return self.held[household]

    def read(self, households: Iterable[str], since: str | None = NONE_READ) -> None:
        """Hold the households, with their statements of the months from `since` on (None: all)."""
        since = since or ""
        missing, earlier = [], {}
        for h in dict.fromkeys(households):
            hf = self.held.get(h)
            if hf is None:
                missing.append(h)
            elif hf.issued_from > since:
                earlier[h] = hf.issued_from
        if not self.bounded:
            for h in missing:
                self._hold(HouseholdFacts(h))
            return
        if missing:
            self._read_new(missing, since)
        if earlier:
            self._read_issued(earlier, since)

    def _read_new(self, households: list[str], since: str) -> None:
        fresh = {h: HouseholdFacts(h, issued_from=since) for h in households}
        for row in stored.rows_of(self.store, self.table, self.prefix, households, since):
            fresh[row["owner"]].add(row["entity"], row["id"], fact_of(row))
        for h, latest in stored.latest_issued(self.store, self.table, self.prefix, households):
            fresh[h].latest_issued = latest
        for hf in fresh.values():
            self._hold(hf)

    def _read_issued(self, households: dict[str, str], since: str) -> None:
        """Statements of months from `since` up to where each household's held ones begin."""
        for row in stored.issued_between(self.store, self.table, self.prefix, list(households), since):
            hf = self.held[row["owner"]]
            if row["month"] < households[hf.id] and row["month"] not in hf.issued:
                hf.issued[row["month"]] = fact_of(row)
        for h in households:
            self.held[h].issued_from = since

    def _hold(self, hf: HouseholdFacts) -> None:
        self.held[hf.id] = hf
        for booking_id in hf.bookings:
            self.booking_owner[booking_id] = hf.id
        if self._known is not None:
            self._known.add(hf.id)

    def restore(self, entity: str, key: str, fact: Any, owner: str) -> None:
        """A fact read back whole (a fold in memory restored from a checkpoint)."""
        hf = self.held.get(owner)
        if hf is None:
            hf = HouseholdFacts(owner)
            self._hold(hf)
        hf.add(entity, key, fact)
        if entity == "booking":
            self.booking_owner[key] = owner

    def owner_of_booking(self, booking_id: str) -> str | None:
        found = self.booking_owner.get(booking_id)
        if found is None and self.bounded:
            found = stored.booking_owner(self.store, self.table, self.prefix, booking_id)
        return found

    def prefetch_bookings(self, booking_ids: list[str]) -> list[str]:
        """The households of the bookings not held (read from the store in one go)."""
        unknown = [b for b in booking_ids if b not in self.booking_owner]
        return stored.booking_owners(self.store, self.table, self.prefix, unknown) if unknown else []

    def latest_issued_of(self, households: list[str]) -> dict[str, str | None]:
        """Each household's latest issued month (None: none), without reading the others' facts."""
        out: dict[str, str | None] = {}
        unread = []
        for h in households:
            hf = self.held.get(h)
            if hf is not None:
                out[h] = hf.latest_issued
            else:
                out[h] = None
                unread.append(h)
        if self.bounded and unread:
            out.update(stored.latest_issued(self.store, self.table, self.prefix, unread))
        return out

    def every(self) -> list[str]:
        """Every household with a fact."""
        if self._known is None:
            self._known = set(stored.owners(self.store, self.table, self.prefix))
        return sorted(self._known.union(self.held))

    def holding_days(self, first: date, last: date) -> set[str]:
        """The households with a booking holding days from `first` to `last` (from the store: those
        with a booking holding days in `first`'s month or later)."""
        found = {h for h, hf in self.held.items()
                 if any(b.start <= last and b.end >= first and b.holds_days() for b in hf.bookings.values())}
        if self.bounded:
            found.update(stored.booked_from(self.store, self.table, self.prefix, f"{first:%Y-%m}"))
        return found

    def at_institution(self, institution: str) -> set[str]:
        """The households with a booking at the institution."""
        found = {h for h, hf in self.held.items() if any(b.institution == institution for b in hf.bookings.values())}
        if self.bounded:
            found.update(stored.booked_at(self.store, self.table, self.prefix, institution))
        return found

    def settle(self) -> None:
        """The page's changes were taken: nothing is pinned; hold no more than the bound."""
        self.pinned = set()
        self.trim()

    def trim(self) -> None:
        """Forget the least recently used households beyond the bound (not those changed in the page)."""
        if self.bound is None:
            return
        over = len(self.held) - self.bound
        if over <= 0:
            return  # (called after every batch: copying the held keys each time cost 3 % of a server's CPU)
        for h in list(self.held):
            if over <= 0:
                break
            if h not in self.pinned:
                hf = self.held.pop(h)
                for booking_id in hf.bookings:
                    self.booking_owner.pop(booking_id, None)
                over -= 1
