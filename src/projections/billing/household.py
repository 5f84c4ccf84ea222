"""One household's rows, month by month: the lines each statement shows (issued months as issued,
corrections on the next statement), and its shares of the settlement and the budget.

Issued months never change (invariant 4): what a recomputation of an issued month gives beyond
what was billed for it shows as `correction` lines on the household's next statement (the month
after the latest issued month).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING

from projections.billing.due import Due, Line, due
from projections.billing.facts import IssuedLine, IssuedStatement
from projections.billing.intermunicipal import add_netting
from projections.billing.months import first_of, last_of, month_of, next_month

if TYPE_CHECKING:
    from projections.billing.fold import FactsFold
    from projections.billing.working import HouseholdFacts


@dataclass(slots=True)
class Shown:
    """A month's statement as the view shows it."""

    lines: list[Line]
    issued: bool = False
    issued_total: int | None = None


@dataclass(slots=True)
class SettlementShare:
    """The household's part of a settlement row (month, payer, institution's municipality)."""

    children: set[str] = field(default_factory=set)
    place_days: int = 0
    gross_cost_ore: int = 0
    parent_payment_ore: int = 0


@dataclass(slots=True)
class BudgetShare:
    """The household's part of a budget row (month, district)."""

    seat_days: int = 0
    gross_cost_ore: int = 0
    parent_payments_ore: int = 0
    friplads_ore: int = 0
    sibling_ore: int = 0
    money_in_ore: int = 0
    money_out_ore: int = 0

    def net(self, flow: str, ore: int) -> None:
        """Intermunicipal money: "in" from other municipalities, "out" to them."""
        if flow == "in":
            self.money_in_ore += ore
        else:
            self.money_out_ore += ore


@dataclass(frozen=True, slots=True)
class CorrectionApart:
    """A correction as the budget audit counts it: apart from the month whose statement carries it."""

    billed_month: str
    corrects_month: str | None
    district: str
    amount_ore: int


@dataclass(slots=True)
class Result:
    shown: dict[str, Shown] = field(default_factory=dict)
    settlement: dict[tuple[str, str, str], SettlementShare] = field(default_factory=dict)
    budget: dict[tuple[str, str], BudgetShare] = field(default_factory=dict)
    # The earliest issued month (of those derived) whose billed amounts differ from what is due now.
    corrected_from: str | None = None

    def budget_share(self, month: str, district: str) -> BudgetShare:
        share = self.budget.get((month, district))
        if share is None:
            share = self.budget[(month, district)] = BudgetShare()
        return share

    def settlement_share(self, key: tuple[str, str, str]) -> SettlementShare:
        share = self.settlement.get(key)
        if share is None:
            share = self.settlement[key] = SettlementShare()
        return share


def household_result(facts: FactsFold, hf: HouseholdFacts, since: str | None = None) -> Result:
    """The household's rows (lines, statements, settlement and budget shares) per month; given
    `since`, of the months from `since` on only (see BillingFacts._derive_from for when that is all)."""
    res = Result()
    horizon = facts.horizon()
    if horizon is None:
        return res
    if facts.scenario is not None and facts.months_apart:
        return _charged_months(facts, hf, res, horizon, since)
    # The statements of the months from `since` on (hf.issued_from ≤ since): those whose lines show,
    # and those carrying corrections of these months (always of a later month).
    statements = hf.issued
    issued_months = set(facts.runs) | set(statements)
    latest = max(issued_months | ({hf.latest_issued} if hf.latest_issued else set()), default=None)
    raw = _booked_days(hf, since, max(horizon, latest) if latest else horizon)
    corrected: dict[str, list[IssuedLine]] = defaultdict(list)
    for statement in statements.values():
        for line in statement.lines:
            if line.kind == "correction" and line.month:
                corrected[line.month].append(line)
    months = sorted(m for m in set(raw) | set(statements) | (set(corrected) & issued_months)
                    if since is None or m >= since)
    dues = {m: due(facts, hf, m, raw.get(m, [])) for m in months}
    corrections: list[Line] = []
    for m in months:
        if m in issued_months:
            of_month = corrections_of(m, statements.get(m), corrected.get(m, []), dues[m])
            if of_month and res.corrected_from is None:
                res.corrected_from = m
            corrections += of_month
            if m in statements:
                res.shown[m] = as_issued(statements[m])
        elif m <= horizon:
            res.shown[m] = Shown(list(dues[m].lines))
    if corrections:
        target = next_month(latest)  # type: ignore[arg-type]  # a correction is of an issued month
        res.shown[target] = Shown(res.shown.get(target, Shown([])).lines + corrections)
    for m, dm in dues.items():
        if m <= horizon:
            _shares(facts, hf, res, m, dm)
    _parent_payments(facts, hf, res, dues, horizon, since)
    add_netting(facts, hf, res, dues, horizon)
    return res


def _charged_months(facts: FactsFold, hf: HouseholdFacts, res: Result, horizon: str, since: str | None) -> Result:
    """A scenario's months as the budget audit counts them (`months_apart`): what its rules charge
    for each month up to the horizon, issued or not. No statement is shown and nothing corrected,
    so the statements are not needed: a month without booked days charges nothing."""
    dues = {m: due(facts, hf, m, days) for m, days in sorted(_booked_days(hf, since, horizon).items())}
    for m, dm in dues.items():
        _shares(facts, hf, res, m, dm)
    _parent_payments(facts, hf, res, dues, horizon, since)
    add_netting(facts, hf, res, dues, horizon)
    return res


def _booked_days(hf: HouseholdFacts, since: str | None, until: str) -> dict[str, list[tuple[str, date, date]]]:
    """Month -> (booking, first day, last day) of each booking's days in it, up to `until`."""
    raw: dict[str, list[tuple[str, date, date]]] = defaultdict(list)
    for booking_id in sorted(hf.bookings):
        b = hf.bookings[booking_id]
        if not b.holds_days():
            continue  # cancelled before it began: holds no day
        month = month_of(b.start) if since is None else max(month_of(b.start), since)
        while month <= until and (m := first_of(month)) <= b.end:
            raw[month].append((booking_id, max(b.start, m), min(b.end, last_of(month))))
            month = next_month(month)
    return raw


def as_issued(statement: IssuedStatement) -> Shown:
    events = frozenset({statement.position})
    # An issued line's kind as issued (the ledger requires one).
    lines = [Line(x.kind, x.amount_ore, x.child_id, x.booking_id, x.month,  # type: ignore[arg-type]
                  x.detail or "", events) for x in statement.lines]
    return Shown(lines, True, statement.total)


def corrections_of(month: str, statement: IssuedStatement | None, corrections_of_month: list[IssuedLine],
                   dm: Due) -> list[Line]:
    """due - billed for an issued month, per (child, booking); billed = the month's issued lines
    plus the corrections of it already issued on later statements."""
    if any(line.kind == "gap" for line in dm.lines):
        return []  # no published numbers for the month now: what was billed cannot be recomputed
    billed: dict[tuple, int] = defaultdict(int)
    billed_kind: dict[tuple, int] = defaultdict(int)
    issued_lines = [x for x in (statement.lines if statement else ()) if x.kind != "correction"]
    for x in issued_lines + corrections_of_month:
        billed[(x.child_id, x.booking_id)] += x.amount_ore
        billed_kind[(x.child_id, x.booking_id, x.kind)] += x.amount_ore
    owed: dict[tuple, int] = defaultdict(int)
    owed_kind: dict[tuple, int] = defaultdict(int)
    events: dict[tuple, set[int]] = defaultdict(set)
    for line in dm.lines:
        key = (line.child_id, line.booking_id)
        owed[key] += line.amount_ore
        owed_kind[key + (line.kind,)] += line.amount_ore
        events[key] |= line.events
    out = []
    for key in sorted(set(billed) | set(owed), key=lambda k: (k[0] or "", k[1] or "")):
        diff = owed[key] - billed[key]
        if not diff:
            continue
        kinds = sorted({k[2] for k in list(billed_kind) + list(owed_kind) if k[:2] == key})
        changes = ", ".join(f"{kind} {owed_kind[key + (kind,)] - billed_kind[key + (kind,)]:+d}"
                            for kind in kinds if owed_kind[key + (kind,)] != billed_kind[key + (kind,)])
        detail = f"correction of {month}: billed {billed[key]} øre, due now {owed[key]} øre ({changes})"
        positions = set(events[key]) | ({statement.position} if statement is not None else set())
        out.append(Line("correction", diff, key[0], key[1], month, detail, frozenset(positions)))
    return out


def _shares(facts: FactsFold, hf: HouseholdFacts, res: Result, m: str, dm: Due) -> None:
    """The month's settlement shares (places whose home and institution municipality differ) and
    budget shares (seat-days and gross cost per institution district)."""
    children: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for s in dm.spans:
        inst = facts.institutions.get(s.institution_id)
        part = res.budget_share(m, (inst.district if inst else None) or facts.household_district(hf, m))
        part.seat_days += s.days
        part.gross_cost_ore += s.gross_ore
        home, there = facts.home_municipality(hf, s.child_id, m), inst.municipality if inst else None
        if home and there and home != there:
            key = (m, home, there)
            children[key].add(s.child_id)
            settle = res.settlement_share(key)
            settle.place_days += s.days
            settle.gross_cost_ore += s.gross_ore
    for line in dm.lines:
        place = dm.place_of.get(line.booking_id or "")
        if place is None or line.child_id is None:
            continue
        inst = facts.institutions.get(place.spans[0].institution_id)
        home, there = facts.home_municipality(hf, line.child_id, m), inst.municipality if inst else None
        if home and there and home != there:
            res.settlement_share((m, home, there)).parent_payment_ore += line.amount_ore
    for key, kids in children.items():
        res.settlement[key].children = kids


def _parent_payments(facts: FactsFold, hf: HouseholdFacts, res: Result, dues: dict[str, Due], horizon: str,
                     since: str | None) -> None:
    for m, lines in _budget_lines(facts, hf, res, dues, horizon, since).items():
        dm = dues.get(m)
        for line in lines:
            part = res.budget_share(m, line_district(facts, hf, line, dm, m))
            part.parent_payments_ore += line.amount_ore
            if line.kind == "friplads":
                part.friplads_ore += line.amount_ore
            elif line.kind == "sibling":
                part.sibling_ore += line.amount_ore


def _budget_lines(facts: FactsFold, hf: HouseholdFacts, res: Result, dues: dict[str, Due], horizon: str,
                  since: str | None) -> dict[str, list[Line]]:
    """The parent payments the budget counts per month: the statements' lines (the live view).
    Kept apart (`months_apart`, the budget audit) each month counts its own charges — an issued
    month its issued lines, an open month what is due, a scenario what its rules charge every
    month — and the corrections of issued months go to `corrections_apart`, not to the month
    whose statement carries them."""
    if not facts.months_apart:
        return {m: shown.lines for m, shown in res.shown.items()}
    if facts.scenario is not None:
        return {m: list(dm.lines) for m, dm in dues.items() if m <= horizon}
    # months before `since` were not derived again: their corrections stand
    apart = [x for x in facts.corrections_apart.get(hf.id, []) if since is not None and x.billed_month < since]
    for m, shown in res.shown.items():
        for line in shown.lines:
            if line.kind == "correction":
                apart.append(CorrectionApart(m, line.corrects_month,
                                             line_district(facts, hf, line, dues.get(m), m), line.amount_ore))
    facts.corrections_apart[hf.id] = apart
    return {m: [x for x in shown.lines if x.kind != "correction"] for m, shown in res.shown.items()}


def line_district(facts: FactsFold, hf: HouseholdFacts, line: Line, dm: Due | None, month: str) -> str:
    """A line counts in its institution's district (the household's when it names none)."""
    b = hf.bookings.get(line.booking_id or "")
    if b is None and dm is not None and dm.spans:
        mine = [s for s in dm.spans if s.child_id == line.child_id] or dm.spans
        b = hf.bookings.get(mine[0].booking_id)
    if b is not None:
        inst = facts.institutions.get(b.institution)
        if inst:
            return inst.district
    return facts.household_district(hf, month)
