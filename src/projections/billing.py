"""Billing and budget: statements per household and month, intermunicipal settlement, budget.

Both views fold the same facts (bookings, children, institutions, households, friplads
decisions, payment adjustments, issued statements, billing runs) into working state kept in a
`*_state` table, and derive their rows in `finish_page(final=True)` for the households (and,
for the budget, institutions) whose facts changed. All money comes from `rules`:
`household_month_charges` for the lines, `gross_cost_per_place_ore` and `prorate_ore` for
costs, `round_half_up` for every division. Integer øre throughout.

Horizon: months run up to and including the month after the month of the latest recorded
time the view has seen (so a rebuild reproduces the rows exactly).

Issued months never change (invariant 4): their lines are the issued ones; what a recomputation
of an issued month gives beyond what was billed for it shows as `correction` lines on the
household's next statement (the month after the latest issued month).

See docs/views-billing.md for the tables.
"""

from __future__ import annotations

import itertools
import json
import sys
import zlib
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Callable, Iterable

import rules

from ledger import events

from projections.engine import Envelope, View, on
from projections.intermunicipal import add_netting, difference_ore, fold_gross_cost, gross_monthly
from projections.tables import BOOL, INT, TEXT, Changes, Keyed, Row, Table

DEFAULT_RULE_SET = "copenhagen-book-en-plads@1"
ONE_DAY = timedelta(days=1)
DETAIL_MAX = 300  # what an issued statement line can carry (ledger.commands.StatementLine)
_UNSET = object()
OWNER_BATCH = 2_000  # households derived (and their stored rows held) at a time


def _state_table(name: str) -> Table:
    return Table(
        name, (("entity", TEXT), ("id", TEXT), ("data", TEXT)), key=("entity", "id"),
        doc="Working state (JSON per fact): bookings, children, institutions, households, friplads "
            "decisions, adjustments, issued statements, billing runs, basis capacity, the horizon.",
    )


BILLING_STATE = _state_table("billing_state")
BUDGET_STATE = _state_table("budget_state")

STATEMENT_LINES = Table(
    "statement_lines",
    (("household_id", TEXT), ("month", TEXT), ("line_no", INT), ("kind", TEXT), ("amount_ore", INT),
     ("child_id", TEXT), ("booking_id", TEXT), ("corrects_month", TEXT), ("detail", TEXT), ("events", TEXT),
     ("issued", BOOL)),
    key=("household_id", "month", "line_no"),
    partition="household_id",
    indexes=(("month",),),
    doc="A household's statement lines per month: fee, lunch, friplads, sibling, adjustment, correction "
        "(of corrects_month). events: the notification positions behind the line. Issued months show "
        "exactly the issued lines.",
)
STATEMENTS = Table(
    "statements",
    (("household_id", TEXT), ("month", TEXT), ("total_ore", INT), ("issued", BOOL)),
    key=("household_id", "month"),
    partition="household_id",
    indexes=(("month",),),
    doc="A household's statement total per month; issued = the issued (immutable) statement.",
)
SETTLEMENT_PARTS = Table(
    "billing_settlement_parts",
    (("household_id", TEXT), ("month", TEXT), ("payer_municipality", TEXT), ("institution_municipality", TEXT),
     ("children", INT), ("place_days", INT), ("gross_cost_ore", INT), ("parent_payment_ore", INT)),
    key=("household_id", "month", "payer_municipality", "institution_municipality"),
    partition="household_id",
    doc="Working rows: each household's share of the intermunicipal settlement.",
)
SETTLEMENT = Table(
    "intermunicipal_settlement",
    (("month", TEXT), ("payer_municipality", TEXT), ("institution_municipality", TEXT), ("children", INT),
     ("place_days", INT), ("gross_cost_ore", INT), ("parent_payment_ore", INT), ("subsidy_ore", INT)),
    key=("month", "payer_municipality", "institution_municipality"),
    derived=True,
    doc="Per month and pair of municipalities: children from payer_municipality placed in institutions of "
        "institution_municipality; subsidy = gross cost - parent payment, owed by the payer.",
    analyst=True,
)
BUDGET_PARTS = Table(
    "budget_parts",
    (("owner", TEXT), ("month", TEXT), ("district", TEXT), ("seat_days", INT), ("gross_cost_ore", INT),
     ("empty_basis_cost_ore", INT), ("parent_payments_ore", INT), ("friplads_ore", INT), ("sibling_ore", INT),
     ("intermunicipal_in_ore", INT), ("intermunicipal_out_ore", INT)),
    key=("owner", "month", "district"),
    partition="owner",
    doc="Working rows: each household's (owner household/ID) or institution's (institution/ID, empty basis "
        "seats) share of the budget.",
)
BUDGET = Table(
    "budget",
    (("month", TEXT), ("district", TEXT), ("seat_days", INT), ("place_months_milli", INT),
     ("gross_cost_ore", INT), ("empty_basis_cost_ore", INT), ("parent_payments_ore", INT),
     ("friplads_cost_ore", INT), ("sibling_cost_ore", INT), ("intermunicipal_in_ore", INT),
     ("intermunicipal_out_ore", INT), ("net_municipal_cost_ore", INT)),
    key=("month", "district"),
    derived=True,
    doc="Per month and district (of the institution): place-months (thousandths), gross operating cost "
        "(booked places plus empty basis seats), parent payments, friplads and sibling cost, intermunicipal "
        "money in (other municipalities' payments for their children here) and out (the home subsidy for our "
        "children elsewhere), net municipal cost (gross - parent payments - money in).",
    analyst=True,
)


# -- small helpers ---------------------------------------------------------------------------


def _month(d: date) -> str:
    return f"{d.year:04d}-{d.month:02d}"


_FIRSTS: dict[str, date] = {}


def _first(month: str) -> date:
    found = _FIRSTS.get(month)
    if found is None:  # a few hundred months, asked millions of times
        found = _FIRSTS[month] = date(int(month[:4]), int(month[5:7]), 1)
    return found


def _next_month(month: str) -> str:
    return _month(rules.add_months(_first(month), 1))


def billing_horizon_of(last_month: str | None) -> str | None:
    """The last month charged when `last_month` is the latest month recorded in: the month after it."""
    return _next_month(last_month) if last_month else None


def _iso(value: Any) -> Any:
    # Interned: the facts hold hundreds of thousands of dates, most of them the 1st of a month.
    return sys.intern(value.isoformat()) if isinstance(value, date) else value


def _d(value: str | date) -> date:
    return value if isinstance(value, date) else date.fromisoformat(value)


def _events_text(positions: Iterable[int]) -> str:
    return ",".join(str(p) for p in sorted(set(positions)))


def _events_behind(booking: dict[str, Any], month: str) -> list[int]:
    """The booking's events behind its lines of `month`: its booking, and each cancellation or
    transfer from the month it made the booking end in ("events_from"; absent: every month)."""
    since = booking.get("events_from")
    if since is None:
        return booking["events"]
    return [pos for pos, first in zip(booking["events"], since) if first <= month]


_rule_sets: dict[str | None, rules.RuleSet] = {}


def _rule_set(rule_set_id: str | None) -> rules.RuleSet:
    """The rule set an event was decided under; the default when absent or not packaged."""
    rs = _rule_sets.get(rule_set_id)
    if rs is None:
        try:
            rs = rules.load_rule_set(rule_set_id or DEFAULT_RULE_SET)
        except rules.RuleError:
            rs = rules.load_rule_set(DEFAULT_RULE_SET)
        _rule_sets[rule_set_id] = rs
    return rs


@dataclass
class _Span:
    """The days a booking holds in one month."""

    booking_id: str
    child_id: str
    institution_id: str
    kind: str
    birth: date
    first: date
    last: date
    lunch: bool
    gross_ore: int

    @property
    def days(self) -> int:
        return (self.last - self.first).days + 1


@dataclass
class _Place:
    """A child's place in a month for the charge rules: contiguous bookings of one price class merged."""

    spans: list[_Span]

    @property
    def place_id(self) -> str:
        return self.spans[0].booking_id

    @property
    def first(self) -> date:
        return self.spans[0].first

    @property
    def last(self) -> date:
        return self.spans[-1].last


@dataclass
class _Due:
    lines: list[dict[str, Any]] = field(default_factory=list)
    spans: list[_Span] = field(default_factory=list)
    place_of: dict[str, _Place] = field(default_factory=dict)


@dataclass
class _Result:
    shown: dict[str, tuple[list[dict[str, Any]], bool, int | None]] = field(default_factory=dict)
    settlement: dict[tuple[str, str, str], list] = field(default_factory=dict)
    budget: dict[tuple[str, str], list[int]] = field(default_factory=dict)
    # The earliest issued month (of those derived) whose billed amounts differ from what is due now.
    corrected_from: str | None = None


def _marker(kind: str, detail: str, events: set[int]) -> dict[str, Any]:
    """A zero line that marks a month: "gap" (no published numbers: not billable) or "provisional"
    (the last published year's numbers: drafts and forecasts only). The ledger issues neither."""
    return {"kind": kind, "amount_ore": 0, "child_id": None, "booking_id": None, "corrects_month": None,
            "detail": detail[:DETAIL_MAX], "events": set(events)}


# -- the shared fold ---------------------------------------------------------------------------


class _BillingFacts(View):
    """Folds the facts both views need and tells which households/institutions changed."""

    state: Table

    def __init__(self, scenario: rules.RuleSet | None = None) -> None:
        super().__init__()
        # A counterfactual fold (replay.audit): every money rule comes from `scenario`, and each
        # friplads decision is taken again from its recorded inputs (income, children, single
        # parent) under the scenario's scale. Never set for the live views.
        self.scenario = scenario
        self.months_apart = False  # Budget(months_apart=True): the budget audit's months (_budget_lines)
        self.corrections_apart: dict[str, list[dict[str, Any]]] = {}  # household -> its corrections, then
        self.friplads_inputs: dict[str, list[list[Any]]] = {}  # household -> [[effective, income, children, single]]
        self.bookings: dict[str, dict[str, Any]] = {}
        self.children: dict[str, dict[str, Any]] = {}
        self.institutions: dict[str, dict[str, Any]] = {}
        self.households: dict[str, dict[str, Any]] = {}
        self.friplads: dict[str, list[list[Any]]] = {}  # household -> [[effective_from, share, position]]
        self.settled: dict[str, dict[str, list[Any]]] = {}  # household -> year -> [12 shares or None, position]
        self.adjustments: dict[str, list[dict[str, Any]]] = {}
        self.issued: dict[str, dict[str, dict[str, Any]]] = {}  # household -> month -> statement
        self.runs: dict[str, int] = {}  # month -> position
        self.capacity: dict[str, dict[str, list[list[Any]]]] = {}  # basis: inst -> group -> entries
        self.last_month: str | None = None
        self._by_household: dict[str, set[str]] = defaultdict(set)
        self._by_institution: dict[str, set[str]] = defaultdict(set)
        self._dirty_h: set[str] = set()  # households to derive again, all months
        # Households whose changes reach back only to a month (a booking's months, a friplads
        # decision's, an adjustment's, or months the horizon just took in): only the months from
        # there on are derived again, where that is all that can change (_new_months_only).
        self._changed_from: dict[str, str] = {}
        self._dirty_i: set[str] = set()
        # Per household derived by this process: the earliest issued month that needed a correction
        # (None: none did). Months before it are settled — billed as due — and stay so until a fact
        # of theirs changes, so a billing run or a new month derives only the months from there on
        # (households not derived yet by this process are derived whole).
        self._corrected_from: dict[str, str | None] = {}
        self._all_households = False
        self._old_horizon: Any = _UNSET
        self._run_from: str | None = None  # the earliest month issued by a billing run in this page
        self._unsaved: dict[tuple[str, str], Any] = {}
        self.linked: list[_BillingFacts] = []  # views deriving from these facts (a linked Budget)
        # (k, n) in a sharded rebuild: derive only the households and institutions of share k of n.
        self.share: tuple[int, int] | None = None

    def _init_kwargs(self) -> dict[str, Any]:
        return {"scenario": self.scenario}

    def companions(self) -> list[View]:
        return list(self.linked)

    def reset(self) -> None:
        linked, share = self.linked, self.share
        self.__init__(**self._init_kwargs())  # type: ignore[misc]
        self.linked, self.share = linked, share

    # -- state persistence ----------------------------------------------------------------

    def _save(self, entity: str, key: str, data: Any) -> None:
        # Serialised when the changes are taken: a fact touched many times in a page
        # (a booking, then its cancellation) is written as JSON once.
        self._unsaved[(entity, key)] = data

    def changes(self) -> dict[Table, Changes]:
        if self.sink is not None:
            return super().changes()  # a rebuild: the state goes to the sink once, after the derivation
        state = self.t[self.state.name]
        for (entity, key), data in self._unsaved.items():
            state.put({"entity": entity, "id": key, "data": json.dumps(data, sort_keys=True, separators=(",", ":"))})
        self._unsaved = {}
        return super().changes()

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        for row in self.t[self.state.name].values():
            entity, key, data = row["entity"], row["id"], json.loads(row["data"])
            if entity == "booking":
                self._index_booking(key, data)
            elif entity == "child":
                self.children[key] = data
            elif entity == "institution":
                self.institutions[key] = data
            elif entity == "household":
                self.households[key] = data
            elif entity == "friplads":
                self.friplads[key] = data
            elif entity == "settled":
                self.settled[key] = data
            elif entity == "adjustments":
                self.adjustments[key] = data
            elif entity == "issued":
                household, month = key.split("/", 1)
                self.issued.setdefault(household, {})[month] = data
            elif entity == "run":
                self.runs[key] = data
            elif entity == "capacity":
                self.capacity[key] = data
            elif entity == "clock":
                self.last_month = data

    def _index_booking(self, booking_id: str, b: dict[str, Any]) -> None:
        self.bookings[booking_id] = b
        self._by_household[b["household"]].add(booking_id)
        self._by_institution[b["institution"]].add(booking_id)

    # -- folding ----------------------------------------------------------------------------

    def horizon(self) -> str | None:
        return billing_horizon_of(self.last_month)

    def apply(self, e: Envelope) -> None:
        seen = _month(e.recorded_at.date())
        if self.last_month is None or seen > self.last_month:
            if self._old_horizon is _UNSET:
                self._old_horizon = self.horizon()
            self.last_month = seen
            self._save("clock", "last_month", seen)
        if self.share is not None and not self._folds(e):
            return
        super().apply(e)

    @on(events.BillingCalendar.MonthOpened)
    def _month_opened(self, e: Envelope) -> None:
        """Only its recorded time: the asking command's clock moves the horizon (taken in `apply`)."""

    @on(events.Booking.PlaceBooked)
    def _place_booked(self, e: Envelope) -> None:
        d, oid, pos, meta = e.data, e.originator_id, e.position, e.meta
        b = {"child": d["child_id"], "household": d["household_id"], "institution": d["institution_id"],
             "pool": d["pool"], "start": _iso(d["start_date"]), "end": _iso(d["end_date"]),
             "lunch": bool(d["lunch"]), "segments": [[g, _iso(a), _iso(z)] for g, a, z in d["segments"]],
             "rule_set": meta.get("rule_set") or (d.get("basis") or {}).get("rule_set"), "events": [pos]}
        self._index_booking(oid, b)
        self._save("booking", oid, b)
        self._booking_changed(b)

    @on(events.Booking.BookingCancelled, events.Booking.ChildTransferred)
    def _booking_ended(self, e: Envelope) -> None:
        d, oid, pos = e.data, e.originator_id, e.position
        b = self.bookings.get(oid)
        if b is None:
            return
        b["end"] = min(b["end"], _iso(_d(d["effective_date"]) - ONE_DAY))
        # The change reaches the months from the one the booking now ends in: the lines of
        # earlier months stay as they were, so they do not list it (nor need deriving again).
        since = max(b["start"], b["end"])[:7]
        b.setdefault("events_from", [""] * len(b["events"])).append(since)
        b["events"].append(pos)
        self._save("booking", oid, b)
        self._booking_changed(b, since)

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        d, oid, pos = e.data, e.originator_id, e.position
        self.children[oid] = {"household": d["household_id"], "birth": _iso(d["birth_date"]),
                              "municipality": d["municipality_code"], "position": pos}
        self._save("child", oid, self.children[oid])
        for booking_id in self._by_household.get(d["household_id"], ()):  # bookings before the child (an import)
            if self.bookings[booking_id]["child"] == oid:
                self._booking_changed(self.bookings[booking_id])

    @on(events.Institution.InstitutionRegistered)
    def _institution_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.institutions[oid] = {"kind": d["kind"], "municipality": d["municipality_code"],
                                  "district": d["district"]}
        self._save("institution", oid, self.institutions[oid])
        self._dirty_i.add(oid)
        self._dirty_h.update(self.bookings[b]["household"] for b in self._by_institution.get(oid, ()))

    @on(events.Institution.CapacityChanged)
    def _capacity_changed(self, e: Envelope) -> None:
        d, oid, meta = e.data, e.originator_id, e.meta
        if d["pool"] != "basis":
            return
        groups = self.capacity.setdefault(oid, {})
        effective = _iso(d["effective_from"])
        entries = [x for x in groups.get(d["age_group"], []) if x[0] != effective]
        entries.append([effective, d["seats"], meta.get("rule_set")])
        groups[d["age_group"]] = sorted(entries, key=lambda x: x[0])
        self._save("capacity", oid, groups)
        self._dirty_i.add(oid)

    @on(events.Institution.GrossCostSet)
    def _gross_cost_set(self, e: Envelope) -> None:
        fold_gross_cost(self, e.originator_id, e.data)

    @on(events.Household.HouseholdRegistered)
    def _household_registered(self, e: Envelope) -> None:
        d, oid = e.data, e.originator_id
        self.households[oid] = {"municipality": d["municipality_code"], "district": d["district"], "facts": []}
        self._save("household", oid, self.households[oid])
        self._dirty_h.add(oid)

    @on(events.Household.HouseholdFactsChanged)
    def _household_facts_changed(self, e: Envelope) -> None:
        d, oid, pos, meta = e.data, e.originator_id, e.position, e.meta
        h = self.households.setdefault(oid, {"municipality": d["municipality_code"], "district": d["district"],
                                             "facts": []})
        effective = _iso(meta.get("effective_date") or e.recorded_at.date())
        h["facts"] = sorted(h["facts"] + [[effective, d["municipality_code"], d["district"], pos]],
                            key=lambda x: (x[0], x[3]))
        self._save("household", oid, h)
        # The facts are effective-dated (municipality and district as of each month's 1st):
        # months before the change bill and count as they did.
        self._changed(oid, effective[:7])

    @on(events.Household.FripladsDecided)
    def _friplads_decided(self, e: Envelope) -> None:
        d, oid, pos = e.data, e.originator_id, e.position
        effective = _iso(d["effective_from"])
        entries = [x for x in self.friplads.get(oid, []) if x[0] != effective]
        entries.append([effective, d["pay_share_percent"], pos])
        self.friplads[oid] = sorted(entries, key=lambda x: x[0])
        self._save("friplads", oid, self.friplads[oid])
        if self.scenario is not None:
            scale = d.get("scale") or {}
            inputs = [x for x in self.friplads_inputs.get(oid, []) if x[0] != effective]
            inputs.append([effective, d["annual_income_ore"], scale.get("children_under_18", 1),
                           bool(scale.get("single_parent", False))])
            self.friplads_inputs[oid] = sorted(inputs, key=lambda x: x[0])
        self._changed(oid, effective[:7])  # a share applies from the 1st of a month on or after

    @on(events.Household.FripladsSettled)
    def _friplads_settled(self, e: Envelope) -> None:
        d, oid, pos = e.data, e.originator_id, e.position
        # Efterregulering: the year's shares decided again on the final income; issued months
        # whose share changes are corrected on the next statement.
        self.settled.setdefault(oid, {})[str(d["year"])] = [list(d["shares"]), pos]
        self._save("settled", oid, self.settled[oid])
        self._changed(oid, f"{d['year']:04d}-01")

    @on(events.Household.PaymentAdjusted)
    def _payment_adjusted(self, e: Envelope) -> None:
        d, oid, pos, meta = e.data, e.originator_id, e.position, e.meta
        self.adjustments.setdefault(oid, []).append({
            "id": d["adjustment_id"], "kind": d["kind"], "from_month": d["from_month"],
            "to_month": d["to_month"], "amount_ore": d["amount_ore"],
            "pay_share_percent": d["pay_share_percent"], "child_id": d["child_id"],
            "reason": meta.get("reason"), "position": pos})
        self._save("adjustments", oid, self.adjustments[oid])
        self._changed(oid, d["from_month"])

    @on(events.Statement.StatementIssued)
    def _statement_issued(self, e: Envelope) -> None:
        d, pos = e.data, e.position
        household, month = d["household_id"], d["month"]
        statement = {"total": d["total_ore"], "lines": d["lines"], "position": pos}
        self.issued.setdefault(household, {})[month] = statement
        self._save("issued", f"{household}/{month}", statement)
        # The month, and any month its correction lines bill again (normally unsettled already).
        corrected = [line["month"] for line in d["lines"] if line.get("kind") == "correction" and line.get("month")]
        self._changed(household, min([month, *corrected]))

    @on(events.BillingRun.BillingRunIssued)
    def _billing_run_issued(self, e: Envelope) -> None:
        d, pos = e.data, e.position
        self.runs[d["month"]] = pos
        self._save("run", d["month"], pos)
        # The month is issued for everyone (billed or not) and the next statement moved.
        self._run_from = min(self._run_from or d["month"], d["month"])

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

    def _booking_changed(self, b: dict[str, Any], since: str | None = None) -> None:
        """A booking's months from `since` (default: its first) may bill differently."""
        self._changed(b["household"], since or b["start"][:7])
        if b["pool"] == "basis":
            self._dirty_i.add(b["institution"])

    def _changed(self, household: str, month: str) -> None:
        """The household's months from `month` on may have changed (earlier ones did not)."""
        known = self._changed_from.get(household)
        if known is None or month < known:
            self._changed_from[household] = month

    def rederive(self) -> None:
        self._all_households = True
        self._dirty_i.update(self.capacity)

    def finish_page(self, final: bool = True) -> None:
        if not final or not self.deriving:
            return  # a rebuild derives once, at the end; a checkpoint needs no derived rows
        horizon = self.horizon()
        if self._old_horizon is not _UNSET and self._old_horizon != horizon:
            self._horizon_moved(self._old_horizon, horizon)
        self._old_horizon = _UNSET
        if self._all_households:
            self._dirty_h.update(self._every_household())
            self._all_households = False
        if self._run_from is not None:
            for household in self._every_household():
                self._changed(household, self._run_from)
            self._run_from = None
        full = {h for h in self._dirty_h if self._mine(h)}
        partial: dict[str, list[str]] = defaultdict(list)  # from month -> households
        for household, since in self._changed_from.items():
            if household not in full and self._mine(household):
                start = self._derive_from(household, since)
                if start is None:
                    full.add(household)
                else:
                    partial[start].append(household)
        institutions = sorted(i for i in self._dirty_i if self._mine(i))
        self._dirty_h, self._dirty_i, self._changed_from = set(), set(), {}
        # Each household's months are computed once and handed to every view that reads these
        # facts (a Budget linked to this Billing derives from the same result).
        consumers = [self, *self.linked]
        groups = [(sorted(full), None)] + [(sorted(hs), since) for since, hs in sorted(partial.items())]
        for group, months_from in groups:
            # In batches, so that a live projector holds the stored rows of a batch of households
            # at a time (all of them are dirty after a billing run).
            for i in range(0, len(group), OWNER_BATCH):
                batch = group[i:i + OWNER_BATCH]
                for view in consumers:
                    view.load_households(batch, months_from)
                for household in batch:
                    result = self.household_result(household, months_from)
                    self._note_corrections(household, months_from, result)
                    for view in consumers:
                        view.derive_household(household, result, months_from)
                for view in consumers:
                    view.release_households(batch)
        for view in consumers:
            view.derive_end(institutions)
        if self.sink is not None:
            self._stream_state()

    def _every_household(self) -> Iterable[str]:
        """Every household the facts know (registered, booked for, or billed)."""
        return itertools.chain(self.households, self._by_household, self.issued)

    def _mine(self, owner: str) -> bool:
        """Whether this view derives the owner's rows (always, unless it is one share of a rebuild)."""
        return self.share is None or zlib.crc32(owner.encode()) % self.share[1] == self.share[0]

    def shard(self, k: int, n: int) -> list[View] | None:
        if self.scenario is not None:
            return None  # counterfactual folds stay in memory, whole
        views = self._with_linked()
        views[0].share = (k, n)
        return views

    def _with_linked(self) -> list[View]:
        """A fresh copy of this view and of the views linked to it."""
        clone = type(self)(**self._init_kwargs())
        for view in self.linked:
            type(view)(facts=clone)  # type: ignore[call-arg]  # links itself
        return [clone, *clone.linked]

    def _stream_state(self) -> None:
        """A rebuild's working state, written once (it was never serialised page by page)."""
        sink, batch = self.sink, []
        assert sink is not None
        restored = self.t[self.state.name].rows  # from a checkpoint: replaced by the newer facts
        for (entity, key), data in self._unsaved.items():
            if self.share is not None and not self._writes(entity, key, data):
                continue  # another share's household, or everyone's facts (the first share writes those)
            restored.pop((entity, key), None)
            batch.append({"entity": entity, "id": key, "data": json.dumps(data, sort_keys=True, separators=(",", ":"))})
            if len(batch) >= 10_000:
                sink(self.state, batch)
                batch = []
        sink(self.state, batch)
        self._unsaved = {}

    def _writes(self, entity: str, key: str, data: Any) -> bool:
        """Whether this share of a rebuild writes a fact of the working state: its households'
        facts; everyone's (institutions, capacity, runs, the clock) the first share writes."""
        if entity in ("booking", "child"):
            return self._mine(data["household"])
        if entity in ("household", "friplads", "settled", "adjustments"):
            return self._mine(key)
        if entity == "issued":
            return self._mine(key.split("/", 1)[0])
        return self.share is None or self.share[0] == 0

    def _horizon_moved(self, old: str | None, new: str | None) -> None:
        """Months (old, new] joined the horizon: what holds days in them is dirty."""
        self._dirty_i.update(self.capacity)
        if new is None:
            return
        lo = _iso(_first(_next_month(old))) if old else "0000-00-00"
        hi = _iso(rules.last_of_month(_first(new)))
        for b in self.bookings.values():
            if b["start"] <= hi and b["end"] >= lo and b["end"] >= b["start"]:
                self._changed(b["household"], _next_month(old) if old else b["start"][:7])
                if b["pool"] == "basis":
                    self._dirty_i.add(b["institution"])

    def _note_corrections(self, household: str, since: str | None, result: _Result) -> None:
        if since is not None:
            if household not in self._corrected_from:
                return  # the months before `since` were not derived here: still unknown
            earlier = self._corrected_from[household]
            if earlier is not None and earlier < since:
                return  # that month was not derived again: it still needs its correction
        self._corrected_from[household] = result.corrected_from

    def _derive_from(self, household: str, since: str) -> str | None:
        """The month to derive a household's rows from when its months from `since` on may have
        changed; None: all its months."""
        if self._new_months_only(household, since):
            return since
        if household not in self._corrected_from:
            return None  # not derived by this process yet: earlier corrections unknown
        # Issued months before the first correction are settled and their facts did not change:
        # they stay settled, and the corrections of the later ones are derived again.
        corrected = self._corrected_from[household]
        return since if corrected is None else min(since, corrected)

    def _new_months_only(self, household: str, since: str) -> bool:
        """Whether deriving the months from `since` on gives all that changed for a household whose
        earlier months did not: so unless an issued month, or the statement carrying corrections
        (the month after the latest issued), falls in those months."""
        # Runs over the hot path (every active household at each horizon move): no sets built.
        latest = max(max(self.runs, default=""), max(self.issued.get(household, ()), default=""))
        return not latest or _next_month(latest) < since

    def derive_household(self, household: str, result: _Result, since: str | None = None) -> None:
        """Make the household's rows (of the months from `since` on, given) those of `result`."""
        raise NotImplementedError

    def load_households(self, households: list[str], since: str | None = None) -> None:
        """Load the stored rows the households' derivation replaces (a live projector)."""

    def release_households(self, households: list[str]) -> None:
        """Forget the households' unchanged rows again."""

    def derive_end(self, institutions: list[str]) -> None:
        raise NotImplementedError

    # -- one household's months ------------------------------------------------------------

    def household_result(self, household: str, since: str | None = None) -> _Result:
        """The household's rows (lines, statements, settlement and budget shares) per month; given
        `since`, of the months from `since` on only (see _derive_from for when that is all)."""
        res = _Result()
        horizon = self.horizon()
        if horizon is None:
            return res
        statements = self.issued.get(household, {})
        issued_months = set(self.runs) | set(statements)
        latest = max(issued_months) if issued_months else None
        until = max(horizon, latest) if latest else horizon

        raw: dict[str, list[tuple[str, date, date]]] = defaultdict(list)
        for booking_id in sorted(self._by_household.get(household, ())):
            b = self.bookings[booking_id]
            first, last = _d(b["start"]), _d(b["end"])
            if last < first:
                continue  # cancelled before it began: holds no day
            m = first.replace(day=1) if since is None else max(first.replace(day=1), _first(since))
            while m <= last and _month(m) <= until:
                raw[_month(m)].append((booking_id, max(first, m), min(last, rules.last_of_month(m))))
                m = rules.add_months(m, 1)

        corrected: dict[str, list[dict[str, Any]]] = defaultdict(list)
        for statement in statements.values():
            for line in statement["lines"]:
                if line.get("kind") == "correction" and line.get("month"):
                    corrected[line["month"]].append(line)

        months = sorted(m for m in set(raw) | set(statements) | (set(corrected) & issued_months)
                        if since is None or m >= since)
        due = {m: self._due(household, m, raw.get(m, [])) for m in months}
        corrections: list[dict[str, Any]] = []
        for m in months:
            if m in issued_months:
                statement = statements.get(m)
                of_month = self._corrections(m, statement, corrected.get(m, []), due[m])
                if of_month and res.corrected_from is None:
                    res.corrected_from = m
                corrections += of_month
                if statement is not None:
                    lines = [{"kind": line.get("kind"), "amount_ore": line.get("amount_ore", 0),
                              "child_id": line.get("child_id"), "booking_id": line.get("booking_id"),
                              "corrects_month": line.get("month"), "detail": line.get("detail") or "",
                              "events": {statement["position"]}} for line in statement["lines"]]
                    res.shown[m] = (lines, True, statement["total"])
            elif m <= horizon:
                res.shown[m] = (list(due[m].lines), False, None)
        if corrections:
            target = _next_month(latest)
            lines, _, _ = res.shown.get(target, ([], False, None))
            res.shown[target] = (lines + corrections, False, None)

        # Settlement and budget shares of this household: months within the horizon.
        for m, dm in due.items():
            if m > horizon:
                continue
            children: dict[tuple[str, str, str], set[str]] = defaultdict(set)
            for s in dm.spans:
                inst = self.institutions.get(s.institution_id, {})
                district = inst.get("district") or self._household_district(household, m)
                part = res.budget.setdefault((m, district), [0] * 6)
                part[0] += s.days
                part[1] += s.gross_ore
                home, there = self._home_municipality(s.child_id, m), inst.get("municipality")
                if home and there and home != there:
                    key = (m, home, there)
                    children[key].add(s.child_id)
                    settle = res.settlement.setdefault(key, [0, 0, 0, 0])
                    settle[1] += s.days
                    settle[2] += s.gross_ore
            for line in dm.lines:
                place = dm.place_of.get(line["booking_id"] or "")
                if place is None or line["child_id"] is None:
                    continue
                inst = self.institutions.get(place.spans[0].institution_id, {})
                home, there = self._home_municipality(line["child_id"], m), inst.get("municipality")
                if home and there and home != there:
                    res.settlement.setdefault((m, home, there), [0, 0, 0, 0])[3] += line["amount_ore"]
            for key, kids in children.items():
                res.settlement[key][0] = len(kids)
        for m, lines in self._budget_lines(household, res, due, horizon, since).items():
            dm = due.get(m)
            for line in lines:
                part = res.budget.setdefault((m, self._line_district(household, line, dm, m)), [0] * 6)
                part[3] += line["amount_ore"]
                if line["kind"] == "friplads":
                    part[4] += line["amount_ore"]
                elif line["kind"] == "sibling":
                    part[5] += line["amount_ore"]
        add_netting(self, res, due, horizon)
        return res

    def _budget_lines(self, household: str, res: _Result, due: dict[str, _Due], horizon: str,
                      since: str | None) -> dict[str, list[dict[str, Any]]]:
        """The parent payments the budget counts per month: the statements' lines (the live view).
        Kept apart (`months_apart`, the budget audit) each month counts its own charges — an issued
        month its issued lines, an open month what is due, a scenario what its rules charge every
        month — and the corrections of issued months go to `corrections_apart`, not to the month
        whose statement carries them."""
        if not self.months_apart:
            return {m: lines for m, (lines, _, _) in res.shown.items()}
        if self.scenario is not None:
            return {m: list(dm.lines) for m, dm in due.items() if m <= horizon}
        # months before `since` were not derived again: their corrections stand
        apart = [x for x in self.corrections_apart.get(household, []) if since is not None and x["billed_month"] < since]
        for m, (lines, _, _) in res.shown.items():
            for line in lines:
                if line["kind"] == "correction":
                    dm = due.get(m)
                    apart.append({"billed_month": m, "corrects_month": line.get("corrects_month"),
                                  "district": self._line_district(household, line, dm, m),
                                  "amount_ore": line["amount_ore"]})
        self.corrections_apart[household] = apart
        return {m: [x for x in lines if x["kind"] != "correction"] for m, (lines, _, _) in res.shown.items()}

    def _corrections(self, month: str, statement: dict[str, Any] | None, corrections_of_month: list[dict],
                     due: _Due) -> list[dict[str, Any]]:
        """due - billed for an issued month, per (child, booking); billed = the month's issued lines
        plus the corrections of it already issued on later statements."""
        billed: dict[tuple, int] = defaultdict(int)
        billed_kind: dict[tuple, int] = defaultdict(int)
        if any(line["kind"] == "gap" for line in due.lines):
            return []  # no published numbers for the month now: what was billed cannot be recomputed
        issued_lines = [x for x in (statement or {}).get("lines", []) if x.get("kind") != "correction"]
        for line in issued_lines + corrections_of_month:
            key = (line.get("child_id"), line.get("booking_id"))
            billed[key] += line.get("amount_ore", 0)
            billed_kind[key + (line.get("kind"),)] += line.get("amount_ore", 0)
        owed: dict[tuple, int] = defaultdict(int)
        owed_kind: dict[tuple, int] = defaultdict(int)
        events: dict[tuple, set[int]] = defaultdict(set)
        for line in due.lines:
            key = (line["child_id"], line["booking_id"])
            owed[key] += line["amount_ore"]
            owed_kind[key + (line["kind"],)] += line["amount_ore"]
            events[key] |= line["events"]
        out = []
        for key in sorted(set(billed) | set(owed), key=lambda k: (k[0] or "", k[1] or "")):
            diff = owed[key] - billed[key]
            if not diff:
                continue
            kinds = sorted({k[2] for k in list(billed_kind) + list(owed_kind) if k[:2] == key})
            changes = ", ".join(f"{kind} {owed_kind[key + (kind,)] - billed_kind[key + (kind,)]:+d}"
                                for kind in kinds if owed_kind[key + (kind,)] != billed_kind[key + (kind,)])
            detail = (f"correction of {month}: billed {billed[key]} øre, due now {owed[key]} øre "
                      f"({changes})")
            positions = set(events[key])
            if statement is not None:
                positions.add(statement["position"])
            out.append({"kind": "correction", "amount_ore": diff, "child_id": key[0], "booking_id": key[1],
                        "corrects_month": month, "detail": detail, "events": positions})
        return out

    def _due(self, household: str, month: str, raw: list[tuple[str, date, date]]) -> _Due:
        """What the month costs the household by today's knowledge (rules.household_month_charges)."""
        out = _Due()
        m_first, m_day = _first(month), f"{month}-01"
        for booking_id, first, last in raw:
            b = self.bookings[booking_id]
            child, inst = self.children.get(b["child"]), self.institutions.get(b["institution"])
            if child is None or inst is None:
                continue
            birth = _d(child["birth"])
            try:
                gross = rules.prorate_ore(
                    gross_monthly(inst, birth, m_first, self.rules_for(b["rule_set"])),
                    first, last)
            except rules.RuleError:
                gross = 0  # no tariff in force (before 2023): not costed
            out.spans.append(_Span(booking_id, b["child"], b["institution"], inst["kind"], birth, first, last,
                                   b["lunch"], gross))
        if not out.spans:
            return out

        # One place per child and price class: a mid-month transfer continues the same place.
        places: list[_Place] = []
        for child_id in sorted({s.child_id for s in out.spans}):
            current: _Place | None = None
            for s in sorted((s for s in out.spans if s.child_id == child_id), key=lambda s: s.first):
                prev = current.spans[-1] if current else None
                if (prev is not None and prev.last + ONE_DAY == s.first and prev.lunch == s.lunch
                        and (prev.kind == "dagpleje") == (s.kind == "dagpleje")):
                    current.spans.append(s)
                else:
                    current = _Place([s])
                    places.append(current)
        out.place_of = {p.place_id: p for p in places}
        place_events = {p.place_id: {pos for s in p.spans for pos in _events_behind(self.bookings[s.booking_id], month)}
                        for p in places}
        all_events = set().union(*place_events.values())

        newest = max(out.spans, key=lambda s: self.bookings[s.booking_id]["events"][0])
        rs = self.rules_for(self.bookings[newest.booking_id]["rule_set"])
        share, share_position = 100, None
        for effective, pct, position in self.friplads.get(household, []):
            if effective <= m_day:
                share, share_position = pct, position
        settled = self.settled.get(household, {}).get(month[:4])
        if settled is not None and settled[0][m_first.month - 1] is not None:
            share, share_position = settled[0][m_first.month - 1], settled[1]
        if self.scenario is not None:
            share = self._scenario_share(household, m_first, share)

        adjustments, adjustment_events = [], {}
        for a in self.adjustments.get(household, []):
            if not (a["from_month"] <= month and (a["to_month"] is None or month <= a["to_month"])):
                continue
            place_id = None
            if a["child_id"]:
                mine = [p for p in places if p.spans[0].child_id == a["child_id"]]
                if not mine:
                    continue  # the child holds no place this month
                place_id = mine[0].place_id
            how = f"{a['amount_ore']} øre" if a["amount_ore"] is not None else f"pays {a['pay_share_percent']} %"
            detail = f"{how}; {a['reason'] or 'no reason given'} [{a['id'][:8]}]"
            adjustments.append(rules.Adjustment(kind=a["kind"], amount_ore=a["amount_ore"],
                                                pay_share_percent=a["pay_share_percent"], place_id=place_id,
                                                detail=detail))
            adjustment_events[f"{a['kind']}: {detail}"] = {a["position"]} | place_events.get(place_id, set())

        try:
            if share_position is not None:
                rs.in_force("friplads", m_first)  # the month's scale: a gap refuses the month by name
            charges = rules.household_month_charges(
                [rules.PlaceMonth(p.place_id, p.spans[0].kind, p.spans[0].birth, p.first, p.last, p.spans[0].lunch,
                                  difference_ore(self, p, month, rs)) for p in places],
                share, m_first, rs, adjustments)
        except rules.RuleError as e:
            # No published numbers for the month (a gap, or before the rule set): one zero "gap" line
            # that names month and rule set; the ledger refuses to issue it (never another year's prices).
            out.lines.append(_marker("gap", str(e), all_events))
            return out
        provisional = rs.provisional("tariffs", m_first) or (
            rs.provisional("friplads", m_first) if share_position is not None else None)
        for c in charges:
            place = out.place_of.get(c.place_id) if c.place_id else None
            if c.kind in ("fee", "lunch"):
                events = place_events[c.place_id]
            elif c.kind == "friplads":
                events = place_events[c.place_id] | ({share_position} if share_position else set())
            elif c.kind == "sibling":
                events = all_events | ({share_position} if share_position else set())
            else:
                events = adjustment_events.get(c.detail) or all_events
            detail = c.detail
            if place is not None and len(place.spans) > 1:
                detail += f" (continued in booking {', '.join(s.booking_id for s in place.spans[1:])})"
            if provisional:
                detail = f"[provisional] {detail}"
            out.lines.append({"kind": c.kind, "amount_ore": c.amount_ore,
                              "child_id": place.spans[0].child_id if place else None,
                              "booking_id": c.place_id, "corrects_month": None, "detail": detail,
                              "events": set(events)})
        if provisional:
            out.lines.append(_marker("provisional", provisional, all_events))
        return out

    def rules_for(self, rule_set_id: str | None) -> rules.RuleSet:
        """The rule set money is computed under: the event's, or the scenario's in a counterfactual."""
        return self.scenario if self.scenario is not None else _rule_set(rule_set_id)

    def _scenario_share(self, household: str, m_first: date, recorded: int) -> int:
        """The pay share on the month's 1st under the scenario's friplads scale, from the inputs of the
        decision in force then (the recorded share when the scenario has no scale for that day)."""
        inputs = None
        for entry in self.friplads_inputs.get(household, []):
            if entry[0] <= _iso(m_first):
                inputs = entry
        if inputs is None:
            return recorded
        try:
            return rules.friplads_pay_share_percent(inputs[1], inputs[2], inputs[3], m_first, self.scenario)
        except rules.RuleError:
            return recorded

    def _home_municipality(self, child_id: str, month: str) -> str | None:
        """The child's home municipality on the month's 1st: the household's (effective-dated
        facts) once it changed, else the one the child was registered with."""
        child = self.children.get(child_id)
        if child is None:
            return None
        code = child["municipality"]
        household = self.households.get(child["household"])
        if household:
            day = f"{month}-01"
            for effective, municipality, _, _ in household["facts"]:
                if effective <= day:
                    code = municipality
        return code

    def _household_district(self, household: str, month: str) -> str:
        """The household's district on the month's 1st (effective-dated facts, else as registered)."""
        h = self.households.get(household)
        if h is None:
            return ""
        district, day = h["district"], f"{month}-01"
        for effective, _, moved_to, _ in h["facts"]:
            if effective <= day:
                district = moved_to
        return district or ""

    def _line_district(self, household: str, line: dict[str, Any], due: _Due | None, month: str) -> str:
        """A line counts in its institution's district (the household's when it names none)."""
        b = self.bookings.get(line.get("booking_id") or "")
        if b is None and due is not None and due.spans:
            mine = [s for s in due.spans if s.child_id == line.get("child_id")] or due.spans
            b = self.bookings.get(mine[0].booking_id)
        if b is not None:
            inst = self.institutions.get(b["institution"])
            if inst:
                return inst["district"]
        return self._household_district(household, month)

    def empty_basis_cost(self, institution: str) -> dict[tuple[str, str], int]:
        """The institution's empty basis seat-days per month, costed at the gross cost of a place:
        basis seats are funded in full even when empty."""
        groups, inst, horizon = self.capacity.get(institution), self.institutions.get(institution), self.horizon()
        if not groups or inst is None or horizon is None:
            return {}
        out: dict[tuple[str, str], int] = defaultdict(int)
        for group, entries in sorted(groups.items()):
            spans = []
            for booking_id in self._by_institution.get(institution, ()):
                b = self.bookings[booking_id]
                if b["pool"] != "basis":
                    continue
                for g, a, z in b["segments"]:
                    z = min(z, b["end"])
                    if g == group and a <= z:
                        spans.append((_d(a), _d(z)))
            start = _d(entries[0][0]).replace(day=1)
            in_use = sum(1 for a, z in spans if a <= start <= z)
            delta: dict[date, int] = defaultdict(int)
            for a, z in spans:
                if a > start:
                    delta[a] += 1
                if z + ONE_DAY > start:
                    delta[z + ONE_DAY] -= 1
            caps = {_d(e[0]): (e[1], e[2]) for e in entries}
            seats, rule_set_id = 0, entries[0][2]
            m = start
            while _month(m) <= horizon:
                nxt = rules.add_months(m, 1)
                empty, day = 0, m
                while day < nxt:
                    in_use += delta.get(day, 0)
                    if day in caps:
                        seats, rule_set_id = caps[day]
                    empty += max(0, seats - in_use)
                    day += ONE_DAY
                if empty:
                    birth = rules.add_months(m, -12 if group == "nursery" else -48)
                    try:
                        monthly = gross_monthly(inst, birth, m, self.rules_for(rule_set_id))
                        out[(_month(m), inst["district"])] += rules.round_half_up(
                            monthly * empty, rules.days_in_month(m))
                    except rules.RuleError:
                        pass  # no tariff in force (before 2023): not costed
                m = nxt
        return {k: v for k, v in out.items() if v}

    # -- writing rows -----------------------------------------------------------------------

    def _replace(self, table: Keyed, owner: str, rows: dict[tuple, Row], totals: _Totals | None = None,
                 since: str | None = None) -> None:
        """Make `owner`'s rows exactly `rows` (keeping the group totals of parts in step). In a
        rebuild (a sink is set) every owner comes once into fresh tables: the rows stream out."""
        if self.sink is not None:
            self.sink(table.table, list(rows.values()))
            if totals is not None:
                for key, row in rows.items():
                    totals.add(key[1:], row)
            return
        old = table.owned(owner)
        if since is not None:  # keys are (owner, month, ...): only the months from `since` are replaced
            old = {key for key in old if key[1] >= since}
        for key in old - set(rows):
            if totals is not None:
                totals.add(key[1:], table.get(*key), -1)
            table.delete(*key)
        for key, row in rows.items():
            before = table.get(*key)
            if before != row:
                if totals is not None:
                    if before is not None:
                        totals.add(key[1:], before, -1)
                    totals.add(key[1:], row)
                table.put(row)


class _Totals:
    """Running sums of parts per group: a summary row (settlement, budget) is the sum of its
    group's parts, so a changed part moves its group's totals instead of re-summing the group."""

    def __init__(self, measures: tuple[str, ...]) -> None:
        self.measures = measures
        self.sums: dict[tuple, dict[str, int]] = {}
        self.counts: dict[tuple, int] = {}
        self.touched: set[tuple] = set()

    def add(self, group: tuple, part: Row, sign: int = 1) -> None:
        total = self.sums.get(group)
        if total is None:
            total = self.sums[group] = dict.fromkeys(self.measures, 0)
            self.counts[group] = 0
        for m in self.measures:
            total[m] += sign * part[m]
        self.counts[group] += sign
        if not self.counts[group]:
            del self.sums[group], self.counts[group]
        self.touched.add(group)

    def load(self, groups: Iterable[tuple[tuple, int, dict[str, int]]]) -> None:
        """Start from stored totals: (group, number of parts, sums)."""
        for group, count, sums in groups:
            self.sums[group] = {m: sums[m] for m in self.measures}
            self.counts[group] = count

    def write(self, out: Keyed, make: Callable[[tuple, list[Row]], Row]) -> None:
        """Bring the summary rows of the groups touched since the last write up to date."""
        for group in sorted(self.touched):
            total = self.sums.get(group)
            if total is None:
                if out.get(*group) is not None:
                    out.delete(*group)
            else:
                row = make(group, [total])
                if out.get(*group) != row:
                    out.put(row)
        self.touched = set()


# -- the views -----------------------------------------------------------------------------------


class Billing(_BillingFacts):
    """Statement lines and totals per household and month; intermunicipal settlement."""

    name = "billing"
    rebuild_weight = 30  # seconds per 300k events of the synthetic city (the budget linked to it: 10 more)
    state = BILLING_STATE
    tables = (BILLING_STATE, STATEMENT_LINES, STATEMENTS, SETTLEMENT_PARTS, SETTLEMENT)

    OWNED = ("statement_lines", "statements", "billing_settlement_parts")

    def __init__(self) -> None:
        super().__init__()
        self._settle_totals = _Totals(SETTLEMENT_MEASURES)

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        # The summary rows were stored with these totals (summed by the store: the parts stay there).
        self._settle_totals.load(store.group_totals(SETTLEMENT_PARTS, SETTLEMENT.key, SETTLEMENT_MEASURES, prefix))

    def load_households(self, households: list[str], since: str | None = None) -> None:
        for table in self.OWNED:
            self.load_owned(table, households, ("month", since) if since else None)

    def release_households(self, households: list[str]) -> None:
        for table in self.OWNED:
            self.release_owned(table, households)

    def _init_kwargs(self) -> dict[str, Any]:
        return {}

    def derive_household(self, household: str, res: _Result, since: str | None = None) -> None:
        lines, statements = {}, {}
        for month, (shown, issued, issued_total) in sorted(res.shown.items()):
            for no, line in enumerate(shown, 1):
                lines[(household, month, no)] = {
                    "household_id": household, "month": month, "line_no": no, "kind": line["kind"],
                    "amount_ore": line["amount_ore"], "child_id": line["child_id"],
                    "booking_id": line["booking_id"], "corrects_month": line["corrects_month"],
                    "detail": line["detail"][:DETAIL_MAX], "events": _events_text(line["events"]),
                    "issued": issued}
            total = issued_total if issued else sum(line["amount_ore"] for line in shown)
            statements[(household, month)] = {"household_id": household, "month": month,
                                              "total_ore": total, "issued": issued}
        parts = {(household,) + key: {
            "household_id": household, "month": key[0], "payer_municipality": key[1],
            "institution_municipality": key[2], "children": v[0], "place_days": v[1],
            "gross_cost_ore": v[2], "parent_payment_ore": v[3]} for key, v in res.settlement.items()}
        self._replace(self.t["statement_lines"], household, lines, since=since)
        self._replace(self.t["statements"], household, statements, since=since)
        self._replace(self.t["billing_settlement_parts"], household, parts, self._settle_totals, since)

    def derive_end(self, institutions: list[str]) -> None:
        if self.share is None:  # a share holds part of the totals: finish_shards sums them all
            self._settle_totals.write(self.t["intermunicipal_settlement"], _settlement_row)

    def finish_shards(self, store, prefix: str) -> None:
        _write_summary(store, prefix, SETTLEMENT_PARTS, SETTLEMENT, SETTLEMENT_MEASURES, _settlement_row)


def _settlement_row(group: tuple, parts: list[Row]) -> Row:
    gross = sum(p["gross_cost_ore"] for p in parts)
    parent = sum(p["parent_payment_ore"] for p in parts)
    return {"month": group[0], "payer_municipality": group[1], "institution_municipality": group[2],
            "children": sum(p["children"] for p in parts), "place_days": sum(p["place_days"] for p in parts),
            "gross_cost_ore": gross, "parent_payment_ore": parent, "subsidy_ore": gross - parent}


class Budget(_BillingFacts):
    """Per month and district: place-months, gross cost, parent payments, subsidies, net cost.

    `Budget(facts=billing)` derives from the Billing view's facts and household months (the live
    views: one fold and one computation of each household's months for both). `Budget()` folds
    the facts itself (keeping them in `budget_state`); `Budget(scenario=rule_set)` folds the same
    facts under another rule set (another friplads scale or tariff) for the budget audit — in
    memory, never stored as a live view.
    """

    name = "budget"
    rebuild_weight = 10
    state = BUDGET_STATE
    tables = (BUDGET_STATE, BUDGET_PARTS, BUDGET)

    def __init__(self, scenario: rules.RuleSet | None = None, facts: Billing | None = None,
                 months_apart: bool = False) -> None:
        if facts is not None:
            if scenario is not None or months_apart:
                raise ValueError("a Budget linked to the Billing view's facts cannot take a scenario")
            self.tables = (BUDGET_PARTS, BUDGET)
            self.handles = frozenset()  # the Billing view folds the facts
            if self not in facts.linked:
                facts.linked.append(self)
        self.facts: _BillingFacts = facts if facts is not None else self
        super().__init__(scenario)
        # The budget audit's reading (see _budget_lines); set after the facts' __init__, which sets
        # the live views' default.
        self.months_apart = months_apart
        self._totals = _Totals(BUDGET_MEASURES)

    def _init_kwargs(self) -> dict[str, Any]:
        return {"scenario": self.scenario, "facts": None if self.facts is self else self.facts,
                "months_apart": self.months_apart}

    def companions(self) -> list[View]:
        return [] if self.facts is self else [self.facts]

    def shard(self, k: int, n: int) -> list[View] | None:
        return super().shard(k, n) if self.facts is self else None  # a linked one is split with its facts

    @property
    def checkpoint_name(self) -> str:
        # A self-folding Budget's checkpoint holds the facts too; a linked one's only its rows.
        return self.name if self.facts is not self else f"{self.name}+facts"

    def start(self, store, prefix: str = "") -> None:
        if self.facts is self:
            super().start(store, prefix)
        else:
            View.start(self, store, prefix)
        # The summary rows were stored with these totals (summed by the store: the parts stay there).
        self._totals.load(store.group_totals(BUDGET_PARTS, BUDGET.key, BUDGET_MEASURES, prefix))

    def rederive(self) -> None:
        if self.facts is self:
            super().rederive()
        # else: the Billing view it is linked to derives everything again, for both

    def load_households(self, households: list[str], since: str | None = None) -> None:
        self.load_owned("budget_parts", [f"household/{h}" for h in households], ("month", since) if since else None)

    def release_households(self, households: list[str]) -> None:
        self.release_owned("budget_parts", [f"household/{h}" for h in households])

    def finish_page(self, final: bool = True) -> None:
        if self.facts is self:
            super().finish_page(final)
        # else: the Billing view derives, handing each household's result to this view

    def changes(self) -> dict[Table, Changes]:
        return super().changes() if self.facts is self else View.changes(self)

    def derive_household(self, household: str, res: _Result, since: str | None = None) -> None:
        owner = f"household/{household}"
        rows = {(owner,) + key: _part_row(owner, key, seat_days=v[0], gross=v[1], parent=v[3],
                                          friplads=v[4], sibling=v[5], money_in=v[6] if len(v) > 6 else 0,
                                          money_out=v[7] if len(v) > 7 else 0)
                for key, v in res.budget.items()}
        self._replace(self.t["budget_parts"], owner, rows, self._totals, since)

    def derive_end(self, institutions: list[str]) -> None:
        owners = [f"institution/{institution}" for institution in institutions]
        self.load_owned("budget_parts", owners)
        for institution, owner in zip(institutions, owners):
            rows = {(owner,) + key: _part_row(owner, key, empty=cost)
                    for key, cost in self.facts.empty_basis_cost(institution).items()}
            self._replace(self.t["budget_parts"], owner, rows, self._totals)
        self.release_owned("budget_parts", owners)
        if self.facts.share is None:  # a share holds part of the totals: finish_shards sums them all
            self._totals.write(self.t["budget"], _budget_row)

    def finish_shards(self, store, prefix: str) -> None:
        _write_summary(store, prefix, BUDGET_PARTS, BUDGET, BUDGET_MEASURES, _budget_row)


def _write_summary(store, prefix: str, parts: Table, summary: Table, measures: tuple[str, ...],
                   make: Callable[[tuple, list[Row]], Row]) -> None:
    """A sharded rebuild's summary rows, from all shares' parts (what _Totals gives one process)."""
    store.bulk_insert(summary, [make(group, [sums]) for group, _, sums in
                                store.group_totals(parts, summary.key, measures, prefix)], prefix)


SETTLEMENT_MEASURES = ("children", "place_days", "gross_cost_ore", "parent_payment_ore")
BUDGET_MEASURES = ("seat_days", "gross_cost_ore", "empty_basis_cost_ore", "parent_payments_ore", "friplads_ore",
                   "sibling_ore", "intermunicipal_in_ore", "intermunicipal_out_ore")


def _part_row(owner: str, key: tuple[str, str], *, seat_days: int = 0, gross: int = 0, empty: int = 0,
              parent: int = 0, friplads: int = 0, sibling: int = 0, money_in: int = 0, money_out: int = 0) -> Row:
    return {"owner": owner, "month": key[0], "district": key[1], "seat_days": seat_days, "gross_cost_ore": gross,
            "empty_basis_cost_ore": empty, "parent_payments_ore": parent, "friplads_ore": friplads,
            "sibling_ore": sibling, "intermunicipal_in_ore": money_in, "intermunicipal_out_ore": money_out}


def _budget_row(group: tuple, parts: list[Row]) -> Row:
    month, district = group
    seat_days = sum(p["seat_days"] for p in parts)
    empty = sum(p["empty_basis_cost_ore"] for p in parts)
    gross = sum(p["gross_cost_ore"] for p in parts) + empty
    parent = sum(p["parent_payments_ore"] for p in parts)
    money_in = sum(p["intermunicipal_in_ore"] for p in parts)
    return {"month": month, "district": district, "seat_days": seat_days,
            "place_months_milli": rules.round_half_up(seat_days * 1000, rules.days_in_month(_first(month))),
            "gross_cost_ore": gross, "empty_basis_cost_ore": empty, "parent_payments_ore": parent,
            "friplads_cost_ore": -sum(p["friplads_ore"] for p in parts),
            "sibling_cost_ore": -sum(p["sibling_ore"] for p in parts),
            "intermunicipal_in_ore": money_in,
            "intermunicipal_out_ore": sum(p["intermunicipal_out_ore"] for p in parts),
            # Another municipality pays for its children here: not this municipality's cost. The
            # subsidy paid out for ours elsewhere is their places' gross cost less the parents' payment.
            "net_municipal_cost_ore": gross - parent - money_in}
