"""The reports' opening findings, in sentences (children, days, kroner), and what each measure means.

Pure functions of an audit result (fairness_audit, budget_audit): the HTML report opens with
them, so a reader who has never seen plads can say from the first screen who fared better.
"""

from __future__ import annotations

from typing import Any

DEFINITIONS = {
    "registrations": "Children whose need date falls in the period: a registration, or a booking "
                     "(which records the registration with it).",
    "placed": "Registered children who got a place (at any institution).",
    "still_waiting": "Registered children without a place on the audit date.",
    "waiting_days": "Days from the need date (the first day the family asked a place from) to the start "
                    "of the child's first place; 0 when the place started on or before the need date.",
    "median": "Median: half of the placed children waited this many days or fewer.",
    "p90": "90th percentile (p90): nine in ten placed children waited this many days or fewer; "
           "one in ten waited longer.",
    "first_choice_share": "Of the placed children, the share placed at their first wish.",
    "sibling_colocation_share": "Of the placed children with a sibling in daycare, the share placed where a "
                                "sibling is.",
    "justified_envy": "A child was passed over: it wished an institution, was due and registered first, held "
                      "no place there or at a better wish, and a child with lower priority under the "
                      "waiting-list rules (siblings, age, registration date) got a seat there from that day. "
                      "Counted once per child and institution.",
    "wasted_seat_months": "A seat of an institution's general pool stood free a whole month while a child "
                          "who wished that institution, was due and had registered before the month had no "
                          "place there or at a better wish; per month the smaller of free seats and such "
                          "children.",
    "guarantee_breaches": "Children without a place on their guarantee date (pasningsgaranti: the "
                          "municipality must offer a place by then); days late = start (or the audit date) "
                          "less the guarantee date.",
    "capacity_overrides": "Places a caseworker booked beyond an institution's capacity, with a reason.",
    "net_municipal_cost": "What the municipality pays: the gross cost of the places (and of empty basis "
                          "seats) less the parents' payments and less what other municipalities pay for "
                          "their children here.",
    "parent_payments": "What households pay: fees and lunch, less friplads (income-based discount) and "
                       "sibling discount.",
    "place_months": "Place-months: seat-days divided by the days of the month (one child all month = 1).",
    "corrections": "Corrections: what is due now for an already issued month less what was billed for it "
                   "(after a fact changed back in time); billed on the next statement, shown apart.",
}
LATE, EARLY = "registered after 12 months", "registered before 4 months"


def _days(stats: dict | None) -> str:
    if not stats or not stats.get("n"):
        return "no placed children"
    return (f"a median of {_n(stats['median'])} days (mean {_n(stats.get('mean'))}, p90 {_n(stats['p90'])}, "
            f"n = {stats['n']})")


def _n(v: Any) -> str:
    if v is None:
        return "–"
    return f"{v:,.0f}" if float(v).is_integer() else f"{v:,.1f}"


def _longer(a: dict | None, b: dict | None) -> int:
    """+1 when group a waited longer than b (median, then p90, then mean by more than a day), -1
    shorter, 0 the same."""
    if not a or not b or not a.get("n") or not b.get("n"):
        return 0
    for k, least in (("median", 0), ("p90", 0), ("mean", 1)):  # a mean within a day is no difference
        x, y = a.get(k) or 0, b.get(k) or 0
        if abs(x - y) > least:
            return 1 if x > y else -1
    return 0


def fairness_sentences(r: dict) -> list[str]:
    s = r["summary"]
    w = s["waiting_days"]
    out = [f"{s['placed']:,} of the {s['registrations']:,} registered children got a place; "
           f"{s['still_waiting']:,} are still waiting.",
           f"The placed children waited {_days(w)} from their need date to their start"
           + (f"; the longest wait was {_n(w['max'])} days." if w.get("n") else ".")]
    out.append(f"{s['guarantee_breaches']:,} children had no place on their guarantee date "
               f"({s['guarantee_days_late']:,} days late in all).")
    out.append(f"{s['children_with_justified_envy']:,} children were passed over by a child with lower priority "
               f"({s['justified_envy']:,} cases; {s['justified_envy_in_system_decisions']:,} by the system's "
               f"decisions, {s['justified_envy_in_caseworker_decisions']:,} by caseworkers' own bookings).")
    out.append(f"{s['wasted_seat_months']:,} seat-months stood empty while a child who wanted that institution "
               f"waited.")
    out += group_sentences(r["breakdowns"])
    return out


def group_sentences(breakdowns: dict, where: str = "") -> list[str]:
    """Whether late registrants and caseworker-channel families waited longer, in words."""
    out = []
    ages = breakdowns.get("registration_age", {})
    late, early = ages.get(LATE, {}).get("waiting_days"), ages.get(EARLY, {}).get("waiting_days")
    if late and early and late.get("n") and early.get("n"):
        verdict = {1: "waited longer", -1: "waited less", 0: "waited as long"}[_longer(late, early)]
        out.append(f"{where}Families who registered late (child over 12 months) waited {_days(late)}; those who "
                   f"registered early (under 4 months) {_days(early)}: late registrants {verdict}.")
    channels = breakdowns.get("channel", {})
    case, self_ = channels.get("caseworker", {}).get("waiting_days"), channels.get("self_service", {}).get(
        "waiting_days")
    if case and self_ and case.get("n") and self_.get("n"):
        verdict = {1: "waited longer", -1: "waited less", 0: "waited as long"}[_longer(case, self_)]
        out.append(f"{where}Families who went through a caseworker waited {_days(case)}; self-service families "
                   f"{_days(self_)}: caseworker-channel families {verdict}.")
    return out


def comparison_sentences(vs: dict) -> list[str]:
    """The differences first: A (the ledger or its replay) against B."""
    a, b = vs["actual"], vs["alternative"]
    an, bn = vs["policy"], vs["vs"]
    out = [f"Under {bn}, {_diff(b['placed'] - a['placed'], 'more', 'fewer')} children got a place than under "
           f"{an} ({b['placed']:,} against {a['placed']:,}).",
           f"Median waiting: {_n(b['waiting_days_median'])} days under {bn} against {_n(a['waiting_days_median'])} "
           f"under {an}; p90 {_n(b['waiting_days_p90'])} against {_n(a['waiting_days_p90'])} days.",
           f"Guarantee breaches: {b['guarantee_breaches']:,} under {bn} against {a['guarantee_breaches']:,} under {an}; "
           f"children passed over by a lower priority: {b['children_with_justified_envy']:,} against "
           f"{a['children_with_justified_envy']:,}."]
    late_a = vs["actual_breakdowns"].get("registration_age", {}).get(LATE, {}).get("waiting_days")
    late_b = vs["alternative_breakdowns"].get("registration_age", {}).get(LATE, {}).get("waiting_days")
    if late_a and late_b and late_a.get("n") and late_b.get("n"):
        better = {1: bn, -1: an, 0: None}[_longer(late_a, late_b)]
        out.append(f"Late registrants (child over 12 months) waited {_days(late_a)} under {an} and {_days(late_b)} "
                   f"under {bn}: " + (f"{better} served late registrants better." if better else
                                      "both served them alike."))
    case_a = vs["actual_breakdowns"].get("channel", {}).get("caseworker", {}).get("waiting_days")
    case_b = vs["alternative_breakdowns"].get("channel", {}).get("caseworker", {}).get("waiting_days")
    if case_a and case_b and case_a.get("n") and case_b.get("n"):
        better = {1: bn, -1: an, 0: None}[_longer(case_a, case_b)]
        out.append(f"Caseworker-channel families waited {_days(case_a)} under {an} and {_days(case_b)} under {bn}: "
                   + (f"{better} served them better." if better else "both served them alike."))
    refused = len(vs.get("refused", {}).get("alternative", []))
    if refused:
        out.append(f"{refused:,} of the original steps were refused by the rules of {bn} in the replay "
                   f"(listed in the JSON).")
    return out


def _diff(d: int, more: str, fewer: str) -> str:
    return f"{abs(d):,} {more if d > 0 else fewer}" if d else "as many"


def budget_sentences(r: dict) -> list[str]:
    total = r["actual"]["total"]
    months = r["actual"]["by_month"]
    out = [f"The municipality's net cost was {_kr(total['net_municipal_cost_ore'])} over {len(months)} months "
           f"(gross {_kr(total['gross_cost_ore'])}; parents paid {_kr(total['parent_payments_ore'])}, after "
           f"{_kr(total['friplads_cost_ore'])} friplads and {_kr(total['sibling_cost_ore'])} sibling discounts), "
           f"for {total['place_months_milli'] / 1000:,.0f} place-months."]
    if "difference" in r:
        d = r["difference"]["total"]
        name = r["rule_sets"]["vs"]
        out.append(f"Under {name} the net municipal cost would be "
                   f"{_change(d['net_municipal_cost_ore'], 'higher', 'lower')} and parents would pay "
                   f"{_change(d['parent_payments_ore'], 'more', 'less')}.")
        by_month = r["difference"]["by_month"]
        if any(v["net_municipal_cost_ore"] for v in by_month.values()):
            peak = max(by_month, key=lambda m: abs(by_month[m]["net_municipal_cost_ore"]))
            out.append(f"The largest monthly difference was in {peak}: "
                       f"{_kr(by_month[peak]['net_municipal_cost_ore'], signed=True)}.")
        bands = {k: v for k, v in r["difference"]["by_income_band"].items() if v["parent_payments_ore"]}
        if bands:
            most = max(bands, key=lambda k: abs(bands[k]["parent_payments_ore"]))
            out.append(f"The households most affected earn {most}: they would pay "
                       f"{_kr(bands[most]['parent_payments_ore'], signed=True)} in all.")
    corrections = r.get("corrections", {})
    if corrections.get("total_ore"):
        out.append(f"Corrections of issued months came to {_kr(corrections['total_ore'], signed=True)} "
                   f"(shown apart, by the month they correct).")
    return out


def _change(ore: int, up: str, down: str) -> str:
    return f"{_kr(abs(ore))} {up if ore > 0 else down}" if ore else "the same"


def _kr(ore: int, signed: bool = False) -> str:
    return f"{ore / 100:+,.0f} kr" if signed else f"{ore / 100:,.0f} kr"
