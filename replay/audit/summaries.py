"""The fairness audit's summaries: the measures of a set of registrations and findings, their
breakdowns by group, the waiting-day distributions, the occupancy heat map, breaches by month."""

from __future__ import annotations

import statistics
from collections import defaultdict
from datetime import date
from typing import Any

from replay.audit.facts import Demand, months

def stats(values: list[int]) -> dict[str, Any]:
    if not values:
        return {"n": 0, "mean": None, "median": None, "p90": None, "max": None}
    ordered = sorted(values)
    return {"n": len(values), "mean": round(statistics.fmean(values), 1), "median": statistics.median(ordered),
            "p90": ordered[min(len(ordered) - 1, (9 * len(ordered)) // 10)], "max": ordered[-1]}


def share(hits: int, n: int) -> float | None:
    return round(hits / n, 4) if n else None


def measures(rows: list[dict], envy: list[dict], breaches: list[dict]) -> dict[str, Any]:
    placed = [r for r in rows if r["placed"]]
    with_sibling = [r for r in placed if r.get("sibling_in_daycare")]
    return {
        "registrations": len(rows),
        "placed": len(placed),
        "still_waiting": len(rows) - len(placed),
        "waiting_days": stats([r["waiting_days"] for r in placed]),
        "first_choice_share": share(sum(1 for r in placed if r["first_choice"]), len(placed)),
        "sibling_colocation_share": share(sum(1 for r in with_sibling if r["with_sibling"]), len(with_sibling)),
        "children_with_sibling_in_daycare": len(with_sibling),
        "justified_envy": len(envy),
        # A finding is the system's when any seat it was passed over for came from the rules or the run.
        "justified_envy_in_system_decisions": sum(1 for e in envy if e["decided_by"] == "system"),
        "justified_envy_in_caseworker_decisions": sum(1 for e in envy if e["decided_by"] == "caseworker"),
        "children_with_justified_envy": len({e["child_id"] for e in envy}),
        "guarantee_breaches": len(breaches),
        "guarantee_days_late": sum(b["days_late"] for b in breaches),
    }


def summarise(rows, envy, wasted, breaches) -> dict[str, Any]:
    out = measures(rows, envy, breaches)
    out["wasted_seat_months"] = sum(w["wasted_seat_months"] for w in wasted)
    return out


def breakdown(dim: str, rows, envy, breaches) -> dict[str, dict]:
    values = sorted({r[dim] for r in rows} | {e[dim] for e in envy} | {b[dim] for b in breaches})
    return {v: measures([r for r in rows if r[dim] == v], [e for e in envy if e[dim] == v],
                        [b for b in breaches if b[dim] == v]) for v in values}


def distributions(dim: str, rows) -> dict[str, list[int]]:
    out: dict[str, list[int]] = defaultdict(list)
    for r in rows:
        if r["placed"]:
            out[r[dim]].append(r["waiting_days"])
    return {k: sorted(v) for k, v in sorted(out.items())}


def heatmap(demand: Demand, occupancy_rows: list[dict], start: date | None, until: date) -> dict[str, Any]:
    """District x month: seat-days used / capacity-days of the general pool, in percent."""
    used: dict[tuple[str, str], list[int]] = defaultdict(lambda: [0, 0])
    lo = start.replace(day=1).isoformat()[:7] if start else "0000-00"
    hi = until.isoformat()[:7]
    for row in occupancy_rows:
        if row["pool"] != "general" or not lo <= row["month"] <= hi:
            continue
        cell = used[(row["district"], row["month"])]
        cell[0] += row["seat_days"]
        cell[1] += row["capacity_days"]
    districts = sorted({d for d, _ in used})
    all_months = sorted({m for _, m in used})
    return {"districts": districts, "months": all_months,
            "percent": [[round(100 * used[(d, m)][0] / used[(d, m)][1], 1) if (d, m) in used and used[(d, m)][1]
                         else None for m in all_months] for d in districts]}


def by_month(breaches: list[dict]) -> dict[str, int]:
    out: dict[str, int] = defaultdict(int)
    for b in breaches:
        out[b["guarantee_date"][:7]] += 1
    if out:  # every month between the first and the last, so the chart has no gaps
        first, last = min(out), max(out)
        for m in months(date.fromisoformat(first + "-01"), date.fromisoformat(last + "-01")):
            out.setdefault(m.isoformat()[:7], 0)
    return dict(sorted(out.items()))
