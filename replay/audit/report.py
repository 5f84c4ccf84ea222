"""Audit reports: JSON for machines, one self-contained HTML page for people.

Each page opens with its findings in sentences (replay.audit.findings) — for a comparison, the
differences first — and gives a definition beside every measure. Its charts are matplotlib's,
inline SVG (replay.audit.charts: no script, nothing fetched), and the CSS is print-friendly.
Charts: median and p90 waiting days per group, the occupancy heat map (district x month) and
guarantee breaches per month for the fairness audit; the difference per month and the actual
budget per month for the budget audit. Each finding table names the child (its full id), the
institution, the dates and the notification positions of the events behind it.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any

from replay.audit import charts
from replay.audit.findings import DEFINITIONS, budget_sentences, comparison_sentences, fairness_sentences

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;color:#222;
line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
h3{font-size:1.05rem}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}td.l{text-align:left}
.meta{color:#555;font-size:.9rem}.chart{margin:.5rem 0 1.2rem}svg text{font-family:inherit}
.ids{font-family:ui-monospace,monospace;font-size:.72rem;word-break:break-all}
.findings{background:#f4f8fb;border-left:4px solid #0072B2;padding:.6rem 1rem;margin:1rem 0}
.findings li{margin:.25rem 0}th.def{text-align:left}td.def{color:#444;font-size:.8rem;text-align:left;max-width:34rem}
.chart svg{max-width:100%;height:auto}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}
.chart,table{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""
MAX_ROWS = 200  # finding rows shown per table; the JSON has them all


def write_json(result: dict, path: str | Path) -> None:
    Path(path).write_text(json.dumps(result, indent=2, ensure_ascii=False, sort_keys=False) + "\n", encoding="utf-8")


def write_html(result: dict, path: str | Path) -> None:
    """Write the audit `result` (from fairness_audit or budget_audit) as one self-contained HTML file."""
    Path(path).write_text(render_html(result), encoding="utf-8")


def render_html(result: dict) -> str:
    kind = result.get("audit")
    if kind == "fairness":
        title, body = "Fairness audit", _fairness(result)
    elif kind == "budget":
        title, body = "Budget audit", _budget(result)
    else:
        raise ValueError(f"not an audit result: {kind!r}")
    period = result.get("period", {})
    meta = (f"Period {escape(str(period.get('from') or 'start of history'))} to "
            f"{escape(str(period.get('to') or 'end of history'))}; ledger as of {escape(str(result.get('as_of')))} "
            f"(log position {escape(str(result.get('position')))}).")
    if result.get("synthetic"):  # a simulated city whose money is synthetic past the published years
        meta += f" <strong>{escape(str(result['synthetic']))}</strong>"
    return (f"<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">"
            f"<title>plads: {title}</title><style>{CSS}</style></head><body>"
            f"<h1>plads: {title}</h1><p class=\"meta\">{meta}</p>{body}</body></html>\n")


# -- fairness --------------------------------------------------------------------------------------


def _fairness(r: dict) -> str:
    s = r["summary"]
    w = s["waiting_days"]
    out = []
    if "vs" in r:  # a comparison leads with the differences
        out.append(_vs_section(r))
        out.append("<h2>This ledger on its own</h2>")
    out.append(_findings(fairness_sentences(r), "Findings" if "vs" not in r else "Findings for this ledger"))
    out.append(f"<p class=\"meta\">Priority order judged under: {escape(str(r['policy']))}.</p>")
    out.append("<h2>Measures and what they mean</h2>")
    out.append(_kv_table([
        ("Registrations (need date in the period)", s["registrations"], DEFINITIONS["registrations"]),
        ("Placed", s["placed"], DEFINITIONS["placed"]),
        ("Still waiting", s["still_waiting"], DEFINITIONS["still_waiting"]),
        ("Waiting days: median", _days(w["median"]), DEFINITIONS["waiting_days"] + " " + DEFINITIONS["median"]),
        ("Waiting days: 90th percentile (p90)", _days(w["p90"]), DEFINITIONS["p90"]),
        ("Waiting days: mean / longest", f"{_days(w['mean'])} / {_days(w['max'])}", "Of the placed children."),
        ("First-choice share", _pct(s["first_choice_share"]), DEFINITIONS["first_choice_share"]),
        ("Sibling co-location share", _pct(s["sibling_colocation_share"]), DEFINITIONS["sibling_colocation_share"]),
        ("Justified envy (child, institution) cases", s["justified_envy"], DEFINITIONS["justified_envy"]),
        ("… of them by the system's decisions / by caseworkers' own bookings",
         f"{s['justified_envy_in_system_decisions']} / {s['justified_envy_in_caseworker_decisions']}",
         "The system: an allocation run's offer or a booking the rules accepted (self-service); a caseworker: "
         "a booking a caseworker made."),
        ("Children with justified envy", s["children_with_justified_envy"], "Children passed over at least once."),
        ("Wasted seat-months", s["wasted_seat_months"], DEFINITIONS["wasted_seat_months"]),
        ("Guarantee breaches / days late", f"{s['guarantee_breaches']} children / {s['guarantee_days_late']} days",
         DEFINITIONS["guarantee_breaches"]),
        ("Guarantees met by an offer the family declined or let expire", s.get("guarantee_met_by_refused_offer", 0),
         "The municipality offered a place in time; the family did not take it."),
        ("Capacity overrides by caseworkers", s.get("capacity_overrides", 0), DEFINITIONS["capacity_overrides"]),
    ]))
    out.append("<h2>Waiting days per group</h2>")
    out.append(f"<p class=\"meta\">{escape(DEFINITIONS['waiting_days'])} {escape(DEFINITIONS['median'])} "
               f"{escape(DEFINITIONS['p90'])}</p>")
    for dim in ("registration_age", "channel", "district"):
        groups = r["breakdowns"].get(dim, {})
        stats = {g: m["waiting_days"] for g, m in groups.items()}
        out.append(_chart(charts.waiting_bars(stats, f"Waiting days by {_dim(dim)}")))
    out.append("<h2>Breakdowns</h2>")
    for dim, groups in r["breakdowns"].items():
        out.append(f"<h3>By {escape(_dim(dim))}</h3>")
        cols = ("registrations", "placed", "still_waiting", "first_choice_share", "justified_envy",
                "guarantee_breaches", "guarantee_days_late")
        rows = [[g] + [_pct(m[c]) if c.endswith("share") else m[c] for c in cols]
                + [m["waiting_days"]["median"], m["waiting_days"]["p90"]] for g, m in groups.items()]
        out.append(_table([_dim(dim)] + [c.replace("_", " ") for c in cols]
                          + ["median waiting days", "p90 waiting days"], rows))
    heat = r["occupancy_heatmap"]
    out.append("<h2>Occupancy of the general pool, district × month</h2>")
    out.append("<p class=\"meta\">Seat-days booked as a share of capacity-days, per district and month.</p>")
    out.append(_chart(charts.occupancy_map(heat["districts"], heat["months"], heat["percent"],
                                           "Occupancy of the general pool (%)")))
    out.append("<h2>Guarantee breaches per month</h2>")
    out.append(f"<p class=\"meta\">{escape(DEFINITIONS['guarantee_breaches'])} Counted in the month of the "
               f"guarantee date.</p>")
    out.append(_chart(charts.month_bars(list(r["breaches_by_month"].items()), "Guarantee breaches per month",
                                        "children (by guarantee date)")))
    out.append(_finding_tables(r["findings"]))
    return "".join(out)


def _finding_tables(f: dict) -> str:
    out = [f"<h2>Justified envy ({len(f['justified_envy'])})</h2>",
           f"<p class=\"meta\">{escape(DEFINITIONS['justified_envy'])}</p>"]
    out.append(_table(
        ["child", "institution", "age group", "wish", "need date", "registered", "priority basis",
         "passed over by (child, start, channel, decided by, reason)", "events"],
        [[_id(e["child_id"]), escape(e["institution"]), e["age_group"], e["wish_no"], e["need_date"],
          e["registered_on"], escape(e["priority_basis"]),
          _passed_over(e["passed_over_by"]), _events(e["events"])] for e in f["justified_envy"]],
        raw=True))
    out.append(f"<h2>Wasted seat-months ({sum(w['wasted_seat_months'] for w in f['wasted_seats'])})</h2>")
    out.append(f"<p class=\"meta\">{escape(DEFINITIONS['wasted_seat_months'])}</p>")
    out.append(_table(
        ["institution", "district", "age group", "month", "capacity", "booked", "free", "wasted", "waiting children",
         "events"],
        [[escape(w["institution"]), escape(w["district"]), w["age_group"], w["month"], w["capacity"], w["booked"],
          w["free"], w["wasted_seat_months"], "<br>".join(_id(c) for c in w["waiting_children"][:10]),
          _events(w["events"])] for w in f["wasted_seats"]], raw=True))
    out.append(f"<h2>Guarantee breaches ({len(f['guarantee_breaches'])})</h2>")
    out.append(_table(
        ["child", "district", "channel", "registered", "need date", "guarantee date", "start", "days late", "events"],
        [[_id(b["child_id"]), escape(b["district"]), b["channel"], b["registered_on"], b["need_date"],
          b["guarantee_date"], b["start"] or "still waiting", b["days_late"], _events(b["events"])]
         for b in f["guarantee_breaches"]], raw=True))
    overrides = f.get("capacity_overrides", [])
    out.append(f"<h2>Capacity overrides ({len(overrides)})</h2>")
    out.append(_table(
        ["institution", "age group", "pool", "child", "short from", "short to", "days short", "by", "reason",
         "events"],
        [[escape(o["institution"]), o["age_group"], o["pool"], _id(o["child_id"] or ""), o["short_from"], o["short_to"],
          o["short_days"], escape(str(o["actor"])), escape(str(o["reason"])), _events(o["events"])]
         for o in overrides], raw=True))
    return "".join(out)


def _vs_section(r: dict) -> str:
    vs = r["vs"]
    a_name, b_name = str(vs["policy"]), str(vs["vs"])
    title = "Two ledgers" if vs.get("kind") == "ledgers" else "Counterfactual"
    out = [f"<h2>{title}: {escape(a_name)} vs {escape(b_name)}</h2>",
           _findings(comparison_sentences(vs), "The differences"),
           f"<p class=\"meta\">{escape(vs.get('note', ''))}. A = {escape(a_name)}; B = {escape(b_name)}.</p>"]
    a, b = vs["actual"], vs["alternative"]
    out.append(_chart(charts.side_by_side(
        [("children placed", a["placed"], b["placed"]), ("still waiting", a["still_waiting"], b["still_waiting"]),
         ("median waiting days", a["waiting_days_median"], b["waiting_days_median"]),
         ("p90 waiting days", a["waiting_days_p90"], b["waiting_days_p90"]),
         ("guarantee breaches", a["guarantee_breaches"], b["guarantee_breaches"]),
         ("children passed over", a["children_with_justified_envy"], b["children_with_justified_envy"])],
        (a_name, b_name), "A against B")))
    for dim in ("registration_age", "channel"):
        ga, gb = vs["actual_breakdowns"].get(dim, {}), vs["alternative_breakdowns"].get(dim, {})
        stats = {g: {"A": (ga.get(g) or {}).get("waiting_days"), "B": (gb.get(g) or {}).get("waiting_days")}
                 for g in sorted(set(ga) | set(gb))}
        out.append(_chart(charts.waiting_bars(stats, f"Waiting days by {_dim(dim)}, A and B", sides=("A", "B"))))
    rows = [[k.replace("_", " "), a.get(k), b.get(k)] for k in a if not isinstance(a[k], dict)]
    out.append("<h3>Every measure, A and B</h3>")
    out.append(_table(["measure", f"A: {a_name}", f"B: {b_name}"], rows))
    cols = (("placed", "placed"), ("still_waiting", "still waiting"), ("median", "median waiting days"),
            ("p90", "p90 waiting days"), ("guarantee_breaches", "guarantee breaches"),
            ("justified_envy", "justified envy"))

    def cell(m: dict | None, col: str):
        if not m:
            return None
        return m["waiting_days"][col] if col in ("median", "p90") else m[col]

    for dim in ("registration_age", "channel", "district"):
        ga, gb = vs["actual_breakdowns"].get(dim, {}), vs["alternative_breakdowns"].get(dim, {})
        out.append(f"<h3>By {_dim(dim)}</h3>")
        heads = [_dim(dim)] + [f"{label}<br>{side}" for _, label in cols for side in ("A", "B")]
        rows = [[escape(g)] + [escape(str(v)) if v is not None else "" for col, _ in cols
                               for v in (cell(ga.get(g), col), cell(gb.get(g), col))] for g in sorted(set(ga) | set(gb))]
        out.append(_table(heads, rows, raw=True))
    return "".join(out)


# -- budget ------------------------------------------------------------------------------------------


def _budget(r: dict) -> str:
    actual = r["actual"]
    out = [_findings(budget_sentences(r), "Findings")]
    cols = ("place_months_milli", "gross_cost_ore", "parent_payments_ore", "friplads_cost_ore", "sibling_cost_ore",
            "net_municipal_cost_ore")
    heads = ["place-months", "gross cost (kr)", "parent payments (kr)", "friplads cost (kr)", "sibling cost (kr)",
             "net municipal cost (kr)"]
    out.append("<table><thead><tr><th>term</th><th class=\"def\">what it means</th></tr></thead><tbody>"
               + "".join(f"<tr><td class=\"l\">{escape(k.replace('_', ' ').capitalize())}</td>"
                         f"<td class=\"def\">{escape(DEFINITIONS[k])}</td></tr>"
                         for k in ("net_municipal_cost", "parent_payments", "place_months", "corrections"))
               + "</tbody></table>")

    def money_row(label, m):
        return [label, f"{m['place_months_milli'] / 1000:,.1f}"] + [_kr(m[c]) for c in cols[1:]]

    if "difference" in r:
        diff = r["difference"]
        out.append(f"<h2>Scenario {escape(str(r['rule_sets']['vs']))} against the actual budget</h2>")
        out.append(_table(["", *heads], [money_row("actual", actual["total"]), money_row("scenario", r["vs"]["total"]),
                                         money_row("difference (scenario - actual)", diff["total"])]))
        out.append("<p class=\"meta\">Each month compares the scenario's charges for that month with the actual "
                   "charges for that month, issued or not.</p>")
        out.append(_chart(charts.month_bars(
            [(m, v["net_municipal_cost_ore"] / 100) for m, v in diff["by_month"].items()],
            "Difference in net municipal cost per month (scenario - actual)", "kr per month", money=True,
            signed=True)))
        for name, label in (("by_month", "month"), ("by_district", "district"), ("by_income_band", "income band")):
            out.append(f"<h3>Difference by {label}</h3>")
            out.append(_table([label, *heads], [money_row(k, v) for k, v in diff[name].items()]))
    out.append("<h2>Net municipal cost per month (actual)</h2>")
    out.append(_chart(charts.month_bars([(m, v["net_municipal_cost_ore"] / 100) for m, v in actual["by_month"].items()],
                                        "Net municipal cost per month (actual)", "kr per month", money=True)))
    for name, label in (("by_month", "month"), ("by_district", "district"), ("by_income_band", "income band")):
        out.append(f"<h3>Actual budget by {label}</h3>")
        out.append(_table([label, *heads], [money_row(k, v) for k, v in actual[name].items()]))
    corrections = r.get("corrections", {})
    out.append("<h2>Corrections of issued months (apart)</h2>")
    out.append(f"<p class=\"meta\">{escape(DEFINITIONS['corrections'])}</p>")
    out.append(_table(["corrected month", "correction (kr)"],
                      [[m, _kr(v)] for m, v in corrections.get("by_corrected_month", {}).items()]))
    return "".join(out)


# -- html bits ---------------------------------------------------------------------------------------------


def _chart(svg: str) -> str:
    return f"<div class=\"chart\">{svg}</div>"


def _table(heads: list[str], rows: list[list[Any]], raw: bool = False) -> str:
    shown = rows[:MAX_ROWS]
    head = "".join(f"<th>{escape(str(h)) if not raw else h}</th>" for h in heads)
    body = "".join("<tr>" + "".join(f"<td>{c if raw else escape(str(c))}</td>" if c is not None else "<td></td>"
                                    for c in row) + "</tr>" for row in shown)
    more = f"<p class=\"meta\">{len(rows) - MAX_ROWS} more rows in the JSON.</p>" if len(rows) > MAX_ROWS else ""
    if not rows:
        return "<p class=\"meta\">None.</p>"
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{more}"


def _kv_table(pairs: list[tuple[str, Any, str]]) -> str:
    """Measure, value and what it means."""
    return ("<table><thead><tr><th>measure</th><th>value</th><th class=\"def\">what it means</th></tr></thead><tbody>"
            + "".join(f"<tr><td class=\"l\">{escape(k)}</td><td>{escape(str(v))}</td>"
                      f"<td class=\"def\">{escape(d)}</td></tr>" for k, v, d in pairs) + "</tbody></table>")


def _findings(sentences: list[str], title: str) -> str:
    items = "".join(f"<li>{escape(x)}</li>" for x in sentences)
    return f"<section class=\"findings\"><h2>{escape(title)}</h2><ul>{items}</ul></section>"


def _dim(dim: str) -> str:
    return {"registration_age": "how early the family registered (child's age)",
            "channel": "channel (how the family registered)"}.get(dim, dim.replace("_", " "))


def _days(v) -> str:
    return "–" if v is None else f"{v:g} days"


def _passed_over(bookings: list[dict], shown: int = 5) -> str:
    lines = [f"{_id(p['child_id'])} {escape(p['start'])} {escape(p['channel'])}, "
             f"{escape(p.get('decided_by', ''))}{': ' + escape(p['reason']) if p.get('reason') else ''} "
             f"(#{escape(','.join(map(str, p['events'])))})" for p in bookings[:shown]]
    if len(bookings) > shown:
        lines.append(f"and {len(bookings) - shown} more (in the JSON)")
    return "<br>".join(lines)


def _id(value: str) -> str:
    return f"<span class=\"ids\">{escape(value)}</span>"


def _events(positions: list[int]) -> str:
    return f"<span class=\"ids\">#{escape(', #'.join(str(p) for p in positions[:12]))}" \
           f"{' …' if len(positions) > 12 else ''}</span>"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _kr(ore: int) -> str:
    return f"{ore / 100:,.0f}"
