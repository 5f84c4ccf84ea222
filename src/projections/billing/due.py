"""One household-month by today's knowledge: its places, pay share and adjustments, and the lines
`rules.household_month_charges` gives them (docs/views-billing.md, "A household-month")."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import TYPE_CHECKING, Iterable

import rules

from projections.billing.intermunicipal import difference_ore, gross_monthly
from projections.billing.months import ONE_DAY, first_of
from projections.billing.tables import DETAIL_MAX

if TYPE_CHECKING:
    from projections.billing.fold import FactsFold
    from projections.billing.working import HouseholdFacts


@dataclass(frozen=True, slots=True)
class Line:
    """A statement line as the view shows it (see the `statement_lines` table)."""

    kind: str
    amount_ore: int
    child_id: str | None
    booking_id: str | None
    corrects_month: str | None
    detail: str
    events: frozenset[int]  # the notification positions behind the line


@dataclass(frozen=True, slots=True)
class Span:
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


@dataclass(slots=True)
class Place:
    """A child's place in a month for the charge rules: contiguous bookings of one price class merged."""

    spans: list[Span]

    @property
    def place_id(self) -> str:
        return self.spans[0].booking_id

    @property
    def first(self) -> date:
        return self.spans[0].first

    @property
    def last(self) -> date:
        return self.spans[-1].last

    def continues(self, s: Span) -> bool:
        """Whether the span continues this place: the next day, the same lunch and price class."""
        prev = self.spans[-1]
        return (prev.last + ONE_DAY == s.first and prev.lunch == s.lunch
                and (prev.kind == "dagpleje") == (s.kind == "dagpleje"))


@dataclass(slots=True)
class Due:
    lines: list[Line] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    place_of: dict[str, Place] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class _Context:
    """What a month's lines are told apart by: the events behind each place and the pay share."""

    place_events: dict[str, frozenset[int]]
    all_events: frozenset[int]
    share_position: int | None
    adjustment_events: dict[str, frozenset[int]]


def marker(kind: str, detail: str, events: Iterable[int]) -> Line:
    """A zero line that marks a month: "gap" (no published numbers: not billable) or "provisional"
    (the last published year's numbers: drafts and forecasts only). The ledger issues neither."""
    return Line(kind, 0, None, None, None, detail[:DETAIL_MAX], frozenset(events))


def due(facts: FactsFold, hf: HouseholdFacts, month: str, raw: list[tuple[str, date, date]]) -> Due:
    """What the month costs the household by today's knowledge (rules.household_month_charges)."""
    out = Due(spans=_spans(facts, hf, month, raw))
    if not out.spans:
        return out
    places = _places(out.spans)
    out.place_of = {p.place_id: p for p in places}
    place_events = {p.place_id: frozenset(pos for s in p.spans
                                          for pos in hf.bookings[s.booking_id].events_behind(month))
                    for p in places}
    all_events = frozenset().union(*place_events.values())
    newest = max(out.spans, key=lambda s: hf.bookings[s.booking_id].events[0])
    rs = facts.rules_for(hf.bookings[newest.booking_id].rule_set)
    m_first = first_of(month)
    share, share_position, decided_on = pay_share(facts, hf, month)
    adjustments, adjustment_events = _adjustments(hf, month, places, place_events)
    try:
        if share_position is not None:
            scale = rs.in_force("friplads", m_first)  # the month's scale: a gap refuses the month by name
            if decided_on is not None and decided_on < scale.effective_from:
                # The ledger decides each scale year; a share from before the month's scale was
                # decided before the data carried that year: never bill another year's scale.
                raise rules.RuleError(f"{month}: the friplads share in force was decided on {decided_on}, "
                                      f"before the {scale.effective_from.year} scale published in {rs.id}; "
                                      f"declare the income again from {scale.effective_from}")
        charges = rules.household_month_charges(
            [rules.PlaceMonth(p.place_id, p.spans[0].kind, p.spans[0].birth, p.first, p.last, p.spans[0].lunch,
                              difference_ore(facts, hf, p, month, rs)) for p in places],
            share, m_first, rs, adjustments)
    except rules.RuleError as e:
        # No published numbers for the month (a gap, or before the rule set): one zero "gap" line
        # that names month and rule set; the ledger refuses to issue it (never another year's prices).
        out.lines.append(marker("gap", str(e), all_events))
        return out
    provisional = rs.provisional("tariffs", m_first) or (
        rs.provisional("friplads", m_first) if share_position is not None else None)
    context = _Context(place_events, all_events, share_position, adjustment_events)
    out.lines.extend(_line(c, out.place_of, context, provisional) for c in charges)
    if provisional:
        out.lines.append(marker("provisional", provisional, all_events))
    return out


def _spans(facts: FactsFold, hf: HouseholdFacts, month: str, raw: list[tuple[str, date, date]]) -> list[Span]:
    """The bookings' days in the month, with the gross cost of each (0 where no tariff is in force)."""
    m_first, spans = first_of(month), []
    for booking_id, first, last in raw:
        b = hf.bookings[booking_id]
        child, inst = hf.children.get(b.child), facts.institutions.get(b.institution)
        if child is None or inst is None:
            continue
        try:
            monthly = gross_monthly(inst, child.birth, m_first, facts.rules_for(b.rule_set))
            gross = rules.prorate_ore(monthly, first, last)
        except rules.RuleError:
            gross = 0  # no tariff in force (before 2023): not costed
        spans.append(Span(booking_id, b.child, b.institution, inst.kind, child.birth, first, last, b.lunch, gross))
    return spans


def _places(spans: list[Span]) -> list[Place]:
    """One place per child and price class: a mid-month transfer continues the same place."""
    places: list[Place] = []
    for child_id in sorted({s.child_id for s in spans}):
        current: Place | None = None
        for s in sorted((s for s in spans if s.child_id == child_id), key=lambda s: s.first):
            if current is not None and current.continues(s):
                current.spans.append(s)
            else:
                current = Place([s])
                places.append(current)
    return places


def pay_share(facts: FactsFold, hf: HouseholdFacts, month: str) -> tuple[int, int | None, date | None]:
    """The pay share in force on the month's 1st, the position of the event that set it (the
    friplads decision, or the year's settlement where it names the month; 100 % without either)
    and the day the decision took effect (None for a settled or a counterfactual share)."""
    m_first = first_of(month)
    share, position, decided_on = 100, None, None
    for decision in hf.friplads:
        if decision.effective <= m_first:
            share, position, decided_on = decision.share, decision.position, decision.effective
    settled = hf.settled.get(month[:4])
    if settled is not None and settled.shares[m_first.month - 1] is not None:
        share, position, decided_on = settled.shares[m_first.month - 1], settled.position, None
    if facts.scenario is not None:
        share, decided_on = facts.scenario_share(hf.id, m_first, share), None
    return share, position, decided_on


def _adjustments(hf: HouseholdFacts, month: str, places: list[Place],
                 place_events: dict[str, frozenset[int]]) -> tuple[list[rules.Adjustment], dict[str, frozenset[int]]]:
    """The adjustments covering the month, and the events behind each (by the line detail it gives)."""
    adjustments, events = [], {}
    for a in hf.adjustments:
        if not a.covers(month):
            continue
        place_id = None
        if a.child_id:
            mine = [p for p in places if p.spans[0].child_id == a.child_id]
            if not mine:
                continue  # the child holds no place this month
            place_id = mine[0].place_id
        how = f"{a.amount_ore} øre" if a.amount_ore is not None else f"pays {a.pay_share_percent} %"
        detail = f"{how}; {a.reason or 'no reason given'} [{a.id[:8]}]"
        adjustments.append(rules.Adjustment(kind=a.kind, amount_ore=a.amount_ore, pay_share_percent=a.pay_share_percent,
                                            place_id=place_id, detail=detail))
        events[f"{a.kind}: {detail}"] = frozenset({a.position}) | place_events.get(place_id, frozenset())
    return adjustments, events


def _line(c: rules.ChargeLine, place_of: dict[str, Place], context: _Context, provisional: str | None) -> Line:
    place = place_of.get(c.place_id) if c.place_id else None
    share = frozenset({context.share_position}) if context.share_position else frozenset()
    if c.kind in ("fee", "lunch"):
        events = context.place_events[c.place_id]
    elif c.kind == "friplads":
        events = context.place_events[c.place_id] | share
    elif c.kind == "sibling":
        events = context.all_events | share
    else:
        events = context.adjustment_events.get(c.detail) or context.all_events
    detail = c.detail
    if place is not None and len(place.spans) > 1:
        detail += f" (continued in booking {', '.join(s.booking_id for s in place.spans[1:])})"
    if provisional:
        detail = f"[provisional] {detail}"
    return Line(c.kind, c.amount_ore, place.spans[0].child_id if place else None, c.place_id, None, detail, events)
