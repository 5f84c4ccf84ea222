"""The facts the billing views fold, typed, and their JSON in the `*_state` tables.

One row per fact (entity, id, data): a restarted projector reads them back. The JSON is the
views' stored format (a checkpoint or a state table written before holds it too), so each fact
writes exactly the fields it reads, dates as ISO days.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import date
from typing import Any, Callable

from projections.billing.months import ONE_DAY, day

Json = Any


@dataclass(frozen=True, slots=True)
class Booking:
    """A booking's place for billing: who, where, from when to when, and the events behind it."""

    child: str
    household: str
    institution: str
    pool: str
    start: date
    end: date
    lunch: bool
    segments: tuple[tuple[str, date, date], ...]  # (age group, first day, last day)
    rule_set: str | None
    events: tuple[int, ...]
    # Per event, the first month whose lines list it ("": every month); None: every event, every month.
    events_from: tuple[str, ...] | None = None

    def holds_days(self) -> bool:
        return self.end >= self.start

    def ended(self, first_day_without: date, position: int) -> tuple[Booking, str]:
        """The booking cancelled or transferred from `first_day_without`, and the month the change
        reaches from: the one the booking now ends in (its first month if it holds no day)."""
        end = min(self.end, first_day_without - ONE_DAY)
        since = max(self.start, end).isoformat()[:7]
        events_from = self.events_from if self.events_from is not None else ("",) * len(self.events)
        return replace(self, end=end, events=self.events + (position,), events_from=events_from + (since,)), since

    def events_behind(self, month: str) -> tuple[int, ...]:
        """The events behind the booking's lines of `month`: its booking, and each cancellation or
        transfer from the month it made the booking end in on."""
        if self.events_from is None:
            return self.events
        return tuple(pos for pos, first in zip(self.events, self.events_from) if first <= month)

    def to_json(self) -> Json:
        out = {"child": self.child, "household": self.household, "institution": self.institution,
               "pool": self.pool, "start": self.start.isoformat(), "end": self.end.isoformat(),
               "lunch": self.lunch, "segments": [[g, a.isoformat(), z.isoformat()] for g, a, z in self.segments],
               "rule_set": self.rule_set, "events": list(self.events)}
        if self.events_from is not None:
            out["events_from"] = list(self.events_from)
        return out

    @classmethod
    def from_json(cls, d: Json) -> Booking:
        since = d.get("events_from")
        return cls(d["child"], d["household"], d["institution"], d["pool"], day(d["start"]), day(d["end"]),
                   bool(d["lunch"]), tuple((g, day(a), day(z)) for g, a, z in d["segments"]), d["rule_set"],
                   tuple(d["events"]), tuple(since) if since is not None else None)


@dataclass(frozen=True, slots=True)
class Child:
    household: str
    birth: date
    municipality: str  # registered with; the household's facts take over once they change
    position: int

    def to_json(self) -> Json:
        return {"household": self.household, "birth": self.birth.isoformat(), "municipality": self.municipality,
                "position": self.position}

    @classmethod
    def from_json(cls, d: Json) -> Child:
        return cls(d["household"], day(d["birth"]), d["municipality"], d["position"])


@dataclass(frozen=True, slots=True)
class Institution:
    kind: str
    municipality: str
    district: str
    # Age group -> (effective from, gross cost per place a month) as its municipality calculates it;
    # None until a GrossCostSet.
    gross_cost: dict[str, tuple[tuple[date, int], ...]] | None = None

    def with_gross_cost(self, age_group: str, effective: date, ore: int) -> Institution:
        """An entry with the same date replaces the earlier one."""
        costs = dict(self.gross_cost or {})
        entries = [x for x in costs.get(age_group, ()) if x[0] != effective]
        costs[age_group] = tuple(sorted(entries + [(effective, ore)]))
        return replace(self, gross_cost=costs)

    def to_json(self) -> Json:
        out = {"kind": self.kind, "municipality": self.municipality, "district": self.district}
        if self.gross_cost is not None:
            out["gross_cost"] = {g: [[e.isoformat(), ore] for e, ore in xs] for g, xs in self.gross_cost.items()}
        return out

    @classmethod
    def from_json(cls, d: Json) -> Institution:
        costs = d.get("gross_cost")
        return cls(d["kind"], d["municipality"], d["district"],
                   {g: tuple((day(e), ore) for e, ore in xs) for g, xs in costs.items()} if costs is not None else None)


@dataclass(frozen=True, slots=True)
class HouseholdFact:
    """The household's home from a day on (HouseholdFactsChanged)."""

    effective: date
    municipality: str | None
    district: str | None
    position: int


@dataclass(frozen=True, slots=True)
class Household:
    municipality: str  # as registered
    district: str
    facts: tuple[HouseholdFact, ...] = ()

    def with_fact(self, fact: HouseholdFact) -> Household:
        return replace(self, facts=tuple(sorted(self.facts + (fact,), key=lambda x: (x.effective, x.position))))

    def municipality_on(self, first: date, registered: str | None) -> str | None:
        """The home municipality on a month's 1st: `registered` (the child's) until the facts change."""
        code = registered
        for f in self.facts:
            if f.effective <= first:
                code = f.municipality
        return code

    def district_on(self, first: date) -> str:
        district: str | None = self.district
        for f in self.facts:
            if f.effective <= first:
                district = f.district
        return district or ""

    def to_json(self) -> Json:
        return {"municipality": self.municipality, "district": self.district,
                "facts": [[f.effective.isoformat(), f.municipality, f.district, f.position] for f in self.facts]}

    @classmethod
    def from_json(cls, d: Json) -> Household:
        facts = tuple(HouseholdFact(day(e), m, dis, p) for e, m, dis, p in d["facts"])
        return cls(d["municipality"], d["district"], facts)


@dataclass(frozen=True, slots=True)
class FripladsDecision:
    effective: date
    share: int  # pay share, percent
    position: int


@dataclass(frozen=True, slots=True)
class FripladsInputs:
    """What a friplads decision was taken on (a counterfactual takes it again under its own scale)."""

    effective: date
    income_ore: int
    children: int
    single_parent: bool


@dataclass(frozen=True, slots=True)
class SettledYear:
    """Efterregulering: the year's pay share per month (None: the decision's share stands)."""

    shares: tuple[int | None, ...]
    position: int


@dataclass(frozen=True, slots=True)
class Adjustment:
    id: str
    kind: str
    from_month: str
    to_month: str | None
    amount_ore: int | None
    pay_share_percent: int | None
    child_id: str | None
    reason: str | None
    position: int

    def covers(self, month: str) -> bool:
        return self.from_month <= month and (self.to_month is None or month <= self.to_month)

    def to_json(self) -> Json:
        return {"id": self.id, "kind": self.kind, "from_month": self.from_month, "to_month": self.to_month,
                "amount_ore": self.amount_ore, "pay_share_percent": self.pay_share_percent,
                "child_id": self.child_id, "reason": self.reason, "position": self.position}

    @classmethod
    def from_json(cls, d: Json) -> Adjustment:
        return cls(d["id"], d["kind"], d["from_month"], d["to_month"], d["amount_ore"], d["pay_share_percent"],
                   d["child_id"], d["reason"], d["position"])


@dataclass(frozen=True, slots=True)
class IssuedLine:
    """A line of an issued statement, as the StatementIssued event holds it."""

    kind: str | None
    amount_ore: int
    child_id: str | None
    booking_id: str | None
    month: str | None  # the month a correction corrects
    detail: str | None

    def to_json(self) -> Json:
        return {"kind": self.kind, "amount_ore": self.amount_ore, "child_id": self.child_id,
                "booking_id": self.booking_id, "month": self.month, "detail": self.detail}

    @classmethod
    def from_json(cls, d: Json) -> IssuedLine:
        return cls(d.get("kind"), d.get("amount_ore", 0), d.get("child_id"), d.get("booking_id"), d.get("month"),
                   d.get("detail"))


@dataclass(frozen=True, slots=True)
class IssuedStatement:
    total: int
    lines: tuple[IssuedLine, ...]
    position: int

    def corrected_months(self) -> list[str]:
        """The earlier months its correction lines bill again."""
        return [x.month for x in self.lines if x.kind == "correction" and x.month]

    def to_json(self) -> Json:
        return {"total": self.total, "lines": [x.to_json() for x in self.lines], "position": self.position}

    @classmethod
    def from_json(cls, d: Json) -> IssuedStatement:
        return cls(d["total"], tuple(IssuedLine.from_json(x) for x in d["lines"]), d["position"])


@dataclass(frozen=True, slots=True)
class Capacity:
    """Basis seats of an age group from a day on."""

    effective: date
    seats: int
    rule_set: str | None


# The working state's entities: how each fact is written and read back.
Codec = tuple[Callable[[Any], Json], Callable[[Json], Any]]
CODECS: dict[str, Codec] = {
    "booking": (Booking.to_json, Booking.from_json),
    "basis": (Booking.to_json, Booking.from_json),  # a basis booking again, among everyone's facts
    "child": (Child.to_json, Child.from_json),
    "institution": (Institution.to_json, Institution.from_json),
    "household": (Household.to_json, Household.from_json),
    "friplads": (lambda xs: [[x.effective.isoformat(), x.share, x.position] for x in xs],
                 lambda d: tuple(FripladsDecision(day(e), s, p) for e, s, p in d)),
    "settled": (lambda years: {y: [list(s.shares), s.position] for y, s in years.items()},
                lambda d: {y: SettledYear(tuple(s), p) for y, (s, p) in d.items()}),
    "adjustments": (lambda xs: [x.to_json() for x in xs], lambda d: tuple(Adjustment.from_json(x) for x in d)),
    "issued": (IssuedStatement.to_json, IssuedStatement.from_json),
    "run": (int, int),
    "capacity": (lambda groups: {g: [[x.effective.isoformat(), x.seats, x.rule_set] for x in xs]
                                 for g, xs in groups.items()},
                 lambda d: {g: tuple(Capacity(day(e), s, r) for e, s, r in xs) for g, xs in d.items()}),
    "clock": (str, str),
}
