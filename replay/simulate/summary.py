"""What a simulated ledger shows: outcomes read back from the ledger and its views.

Waiting days and guarantee breaches are computed from the events themselves (each
registration's need date and guarantee date against the first booking that placed the
child in that age group); occupancy and budget come from the views (projections).
"""

from __future__ import annotations

import statistics
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import date
from typing import Any

import rules
from ledger import Ledger, events
from projections.engine import Envelope, View, on

from replay.audit.facts import fold


@dataclass
class Outcomes:
    """Per registration channel: children placed, their waiting days, guarantee breaches."""

    waiting_days: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    breaches: Counter = field(default_factory=Counter)
    days_late: dict[str, list[int]] = field(default_factory=lambda: defaultdict(list))
    registrations: Counter = field(default_factory=Counter)
    unplaced_past_guarantee: Counter = field(default_factory=Counter)
    friplads_shares: list[int] = field(default_factory=list)  # latest pay share per household with a place

    def row(self, channel: str) -> dict[str, Any]:
        days = self.waiting_days.get(channel, [])
        late = self.days_late.get(channel, [])
        return {"channel": channel, "registrations": self.registrations[channel], "placed": len(days),
                "median_waiting_days": statistics.median(days) if days else None,
                "mean_waiting_days": round(statistics.fmean(days), 1) if days else None,
                "p90_waiting_days": _quantile(days, 0.9),
                "guarantee_breaches": self.breaches[channel] + self.unplaced_past_guarantee[channel],
                "mean_days_late": round(statistics.fmean(late), 1) if late else None}


def _quantile(values: list[int], q: float) -> int | None:
    if not values:
        return None
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))]


class _Registrations(View):
    """The facts the outcomes are computed from (no tables: read after the fold)."""

    name = "simulation_outcomes"

    def __init__(self) -> None:
        super().__init__()
        self.births: dict[str, date] = {}
        self.regs: dict[tuple[str, str], tuple[date, date, str]] = {}  # (child, group) -> registered_on, need, channel
        self.placed: dict[tuple[str, str], date] = {}
        self.households_placed: set[str] = set()
        self.share: dict[str, int] = {}
        self.rule_set: rules.RuleSet | None = None  # the first activated

    @on(events.RuleBook.RuleSetActivated)
    def _rule_set_activated(self, e: Envelope) -> None:
        if self.rule_set is None:
            self.rule_set = rules.load_rule_set(e.data["rule_set_id"])

    @on(events.Child.ChildRegistered)
    def _child_registered(self, e: Envelope) -> None:
        self.births[e.originator_id] = e.data["birth_date"]

    @on(events.Child.Opskrevet)
    def _registered(self, e: Envelope) -> None:
        d = e.data
        self.regs.setdefault((e.originator_id, d["age_group"]),
                             (d["registered_on"], d["need_date"], e.meta.get("channel") or "?"))

    @on(events.Booking.PlaceBooked)
    def _booked(self, e: Envelope) -> None:
        self.placed.setdefault((e.data["child_id"], e.data["age_group"]), e.data["start_date"])
        self.households_placed.add(e.data["household_id"])

    @on(events.Household.FripladsDecided)
    def _friplads_decided(self, e: Envelope) -> None:
        self.share[e.originator_id] = e.data["pay_share_percent"]


def outcomes(ledger: Ledger, *, until: date) -> Outcomes:
    """Fold the ledger's registrations and bookings into waiting days and guarantee breaches."""
    facts = _Registrations()
    fold(ledger, [facts])
    births, regs, placed, share, rule_set = facts.births, facts.regs, facts.placed, facts.share, facts.rule_set
    households_placed = facts.households_placed
    out = Outcomes()
    for (child, group), (registered_on, need, channel) in regs.items():
        out.registrations[channel] += 1
        due = rules.guarantee_date(births[child], registered_on, need, rule_set) if rule_set else None
        start = placed.get((child, group))
        if start is None:
            if due is not None and due < until:
                out.unplaced_past_guarantee[channel] += 1
            continue
        out.waiting_days[channel].append(max(0, (start - need).days))
        if due is not None and start > due:
            out.breaches[channel] += 1
            out.days_late[channel].append((start - due).days)
    out.friplads_shares = [share[h] for h in households_placed if h in share]
    return out


def friplads_figures(out: Outcomes) -> dict[str, float]:
    shares = out.friplads_shares
    n = len(shares) or 1
    return {"households_with_a_place": len(shares),
            "share_on_some_friplads": round(sum(1 for s in shares if s < 100) / n, 3),
            "share_free": round(sum(1 for s in shares if s == 0) / n, 3)}
