"""The budget audit: the Budget view under the actual rules and under a scenario, and the difference.

Each month counts its own charges: an issued month what was issued for it, an open month what is
due, and under the scenario what its rules charge for that month, issued or not. The corrections
the ledger owes for issued months (due now less billed) are reported apart (`corrections`), not in
the month whose statement carries them.

The actual side is read from the live views, brought up to date first (`livebudget`): each booking
under the rule set it was decided under, each friplads share as decided. The alternative is
`projections.billing.Budget(scenario=rule_set)` folded over the log to the same position, in
memory (money rules and friplads shares from the scenario). Differences are alternative - actual,
per month, per district (of the institution) and per income band (the household's declared income
on the month's 1st).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import date
from typing import Any, Iterable

import rules
from ledger import Ledger, events
from projections.billing.household import CorrectionApart
from projections.engine import View, collector_paused
from projections.tables import Row

from replay.audit.facts import DemandAndIncomes, fold
from replay.audit.livebudget import ActualBudget, AuditBudget, actual_budget
from replay.audit.scenarios import AuditError, resolve_rule_set

MEASURES = ("place_months_milli", "gross_cost_ore", "parent_payments_ore", "friplads_cost_ore",
            "sibling_cost_ore", "intermunicipal_in_ore", "intermunicipal_out_ore", "net_municipal_cost_ore")
# Annual household income bands, kr (lower bound inclusive).
INCOME_BANDS = ((0, "under 200,000 kr"), (200_000, "200,000-299,999 kr"), (300_000, "300,000-399,999 kr"),
                (400_000, "400,000-499,999 kr"), (500_000, "500,000-649,999 kr"), (650_000, "650,000 kr and more"))
NO_INCOME = "no income declared"
BAND_OWNERLESS = "institutions (empty basis seats)"


def budget_audit(ledger: Ledger, *, start: date | None = None, end: date | None = None,
                 vs: str | None = None) -> dict:
    """The budget (and, with `vs`, the scenario's budget and the difference) as a JSON-able dict."""
    if start is not None and end is not None and end < start:
        raise AuditError(f"the period ends ({end}) before it starts ({start})")
    scenario = resolve_rule_set(vs) if vs else None
    if ledger.max_position() == 0:
        raise AuditError("the ledger is empty: nothing to audit")
    actual, demand = actual_budget(ledger), DemandAndIncomes()
    views: list[View] = [demand]
    alternative = None
    if scenario is not None:
        alternative = ScenarioBudget(scenario=scenario, clock=actual.clock)
        views.append(alternative)
    position = fold(ledger, views, until=actual.position)
    if demand.last_recorded is None:
        raise AuditError("the ledger is empty: nothing to audit")
    with collector_paused():  # summing walks the folded facts: the cyclic collector would too, again and again
        return _result(actual, alternative, demand, position, start, end)


def _result(actual: ActualBudget, alternative: ScenarioBudget | None, demand: DemandAndIncomes, position: int,
            start: date | None, end: date | None) -> dict[str, Any]:
    lo = start.isoformat()[:7] if start else "0000-00"
    hi = end.isoformat()[:7] if end else "9999-12"

    def within(parts: Iterable[Row]) -> list[Row]:
        return [p for p in parts if lo <= p["month"] <= hi]

    result: dict[str, Any] = {
        "audit": "budget",
        "period": {"from": start.isoformat() if start else None, "to": end.isoformat() if end else None},
        "as_of": demand.last_recorded.isoformat() if demand.last_recorded else None,
        "position": position,
        "actual": _tables(within(actual.parts), demand),
        "corrections": _corrections(actual.corrections, lo, hi),
        "rule_sets": {"actual": "as recorded (each booking under its own rule set)",
                      "vs": alternative.scenario.id if alternative is not None and alternative.scenario else None},
    }
    if alternative is not None:
        alt = _tables(within(p for parts in alternative.parts.values() for p in parts), demand)
        result["vs"] = alt
        result["difference"] = {name: _diff(result["actual"][name], alt[name]) for name in ("by_month", "by_district",
                                                                                            "by_income_band")}
        result["difference"]["total"] = {k: alt["total"][k] - result["actual"]["total"][k] for k in MEASURES}
    return result


class ScenarioBudget(AuditBudget):
    """The Budget under a scenario, folded for one audit in memory: its working state is never
    stored, so its changes are not taken page by page (nor its facts serialised as the live view's
    are). It reads no issued statement — the scenario charges each month under its own rules, issued
    or not — so the months the statements were recorded in reach its horizon through `clock`: the
    live Billing view's, at the position folded to."""

    def __init__(self, scenario: rules.RuleSet | None = None, months_apart: bool = True,
                 clock: str | None = None) -> None:
        super().__init__(scenario, months_apart)
        self.clock = clock
        self.parts: dict[str, list[Row]] = {}  # owner -> its month rows
        self.handles = type(self).handles - {events.Statement.StatementIssued.topic}

    def _init_kwargs(self) -> dict[str, Any]:
        return {**super()._init_kwargs(), "clock": self.clock}

    def finish_page(self, final: bool = True) -> None:
        if final and self.clock is not None and (self.last_month is None or self.clock > self.last_month):
            self.last_month = self.clock
        super().finish_page(final)

    def _replace_parts(self, owner: str, parts: list[Row], since: str | None = None) -> None:
        # The audit sums month rows: kept as they are, not made runs to be expanded again.
        kept = [p for p in self.parts.get(owner, ()) if since is not None and p["month"] < since]
        self.parts[owner] = kept + parts


def _corrections(apart: Iterable[CorrectionApart], lo: str, hi: str) -> dict[str, Any]:
    """The ledger's corrections of issued months (what is due now less what was billed), by the month
    they correct and by the month whose statement carries them: apart from the months' charges."""
    lines = [x for x in apart if lo <= (x.corrects_month or "") <= hi]
    by_corrected: dict[str, int] = defaultdict(int)
    by_billed: dict[str, int] = defaultdict(int)
    for x in lines:
        by_corrected[x.corrects_month] += x.amount_ore
        by_billed[x.billed_month] += x.amount_ore
    return {"by_corrected_month": dict(sorted(by_corrected.items())),
            "by_billed_month": dict(sorted(by_billed.items())),
            "total_ore": sum(x.amount_ore for x in lines)}


def _band(demand: DemandAndIncomes, household_id: str, month: str) -> str:
    income = demand.income_on(household_id, date.fromisoformat(month + "-01"))
    if income is None:
        return NO_INCOME
    kr = income // 100
    label = INCOME_BANDS[0][1]
    for lower, name in INCOME_BANDS:
        if kr >= lower:
            label = name
    return label


def _tables(parts: list[dict], demand: DemandAndIncomes) -> dict[str, Any]:
    by_month: dict[str, list[dict]] = defaultdict(list)
    by_district: dict[str, list[dict]] = defaultdict(list)
    by_band: dict[str, list[dict]] = defaultdict(list)
    for p in parts:
        by_month[p["month"]].append(p)
        by_district[p["district"]].append(p)
        owner = p["owner"]
        band = _band(demand, owner.split("/", 1)[1], p["month"]) if owner.startswith("household/") else BAND_OWNERLESS
        by_band[band].append(p)
    order = [name for _, name in INCOME_BANDS] + [NO_INCOME, BAND_OWNERLESS]
    return {
        "by_month": {m: _sum(v, m) for m, v in sorted(by_month.items())},
        "by_district": {d: _sum(v) for d, v in sorted(by_district.items())},
        "by_income_band": {b: _sum(by_band[b]) for b in order if b in by_band},
        "total": _sum(parts),
    }


def _sum(parts: list[dict], month: str | None = None) -> dict[str, int]:
    """Budget measures of a set of parts, as the Budget view sums them (projections.billing.tables.budget_row)."""
    seat_days = sum(p["seat_days"] for p in parts)
    empty = sum(p["empty_basis_cost_ore"] for p in parts)
    gross = sum(p["gross_cost_ore"] for p in parts) + empty
    parent = sum(p["parent_payments_ore"] for p in parts)
    money_in = sum(p["intermunicipal_in_ore"] for p in parts)
    if month is not None:
        milli = rules.round_half_up(seat_days * 1000, rules.days_in_month(date.fromisoformat(month + "-01")))
    else:  # across months: the sum of each month's place-months
        per_month: dict[str, int] = defaultdict(int)
        for p in parts:
            per_month[p["month"]] += p["seat_days"]
        milli = sum(rules.round_half_up(d * 1000, rules.days_in_month(date.fromisoformat(m + "-01")))
                    for m, d in per_month.items())
    return {"seat_days": seat_days, "place_months_milli": milli, "gross_cost_ore": gross,
            "empty_basis_cost_ore": empty, "parent_payments_ore": parent,
            "friplads_cost_ore": -sum(p["friplads_ore"] for p in parts),
            "sibling_cost_ore": -sum(p["sibling_ore"] for p in parts),
            "intermunicipal_in_ore": money_in,
            "intermunicipal_out_ore": sum(p["intermunicipal_out_ore"] for p in parts),
            "net_municipal_cost_ore": gross - parent - money_in}


def _diff(actual: dict[str, dict], alt: dict[str, dict]) -> dict[str, dict[str, int]]:
    zero = dict.fromkeys(MEASURES, 0)
    keys = list(actual) + [k for k in alt if k not in actual]  # the tables' own order (months, bands)
    if all(len(k) == 7 and k[4] == "-" for k in keys):
        keys.sort()  # months
    return {k: {m: alt.get(k, zero).get(m, 0) - actual.get(k, zero).get(m, 0) for m in MEASURES} for k in keys}
