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
from ledger import Ledger

TOPICS = ("ledger.aggregates:Child.ChildRegistered", "ledger.aggregates:Child.Opskrevet",
          "ledger.aggregates:Booking.PlaceBooked", "ledger.aggregates:Household.FripladsDecided",
          "ledger.aggregates:RuleBook.RuleSetActivated")


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


def outcomes(ledger: Ledger, *, until: date, page: int = 10_000) -> Outcomes:
    """Fold the ledger's registrations and bookings into waiting days and guarantee breaches."""
    births: dict[str, date] = {}
    regs: dict[tuple[str, str], tuple[date, date, str]] = {}  # (child, group) -> registered_on, need, channel
    placed: dict[tuple[str, str], date] = {}
    households_placed: set[str] = set()
    share: dict[str, int] = {}
    rule_set = None
    position = 0
    while True:
        notes = ledger.recorder.select_notifications(position + 1, page, topics=TOPICS)
        if not notes:
            break
        for n in notes:
            e = ledger.mapper.to_domain_event(n)
            kind = n.topic.rsplit(".", 1)[1]
            if kind == "RuleSetActivated" and rule_set is None:
                rule_set = rules.load_rule_set(e.rule_set_id)
            elif kind == "ChildRegistered":
                births[str(e.originator_id)] = e.birth_date
            elif kind == "Opskrevet":
                key = (str(e.originator_id), e.age_group)
                if key not in regs:
                    regs[key] = (e.registered_on, e.need_date, e.meta.get("channel") or "?")
            elif kind == "PlaceBooked":
                key = (e.child_id, e.age_group)
                placed.setdefault(key, e.start_date)
                households_placed.add(e.household_id)
            elif kind == "FripladsDecided":
                share[str(e.originator_id)] = e.pay_share_percent
        position = notes[-1].id
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
