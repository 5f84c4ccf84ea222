"""Audit reports: JSON for machines, one self-contained HTML page for people.

The page carries its charts as inline SVG drawn here (no plotting library, no script, nothing
fetched), and print-friendly CSS. Charts: waiting-days distributions per group, the occupancy
heat map (district x month) and guarantee breaches per month for the fairness audit; the
budget difference per month (or the budget per month without a scenario) for the budget audit.
Each finding table names the child, the institution, the dates and the notification
positions of the events behind it.
"""

from __future__ import annotations

import json
from html import escape
from pathlib import Path
from typing import Any, Iterable

CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",sans-serif;margin:2rem auto;max-width:70rem;color:#222;
line-height:1.4;padding:0 1rem}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.25rem;margin-top:2rem;border-bottom:1px solid #ccc}
h3{font-size:1.05rem}table{border-collapse:collapse;margin:.5rem 0 1rem;font-size:.85rem}
th,td{border:1px solid #ccc;padding:.2rem .45rem;text-align:right;vertical-align:top}
th:first-child,td:first-child{text-align:left}td.l{text-align:left}
.meta{color:#555;font-size:.9rem}.chart{margin:.5rem 0 1.2rem}svg text{font-family:inherit}
.ids{font-family:ui-monospace,monospace;font-size:.75rem}
@media print{body{margin:0;max-width:none;font-size:10pt}h2{break-after:avoid}
.chart,table{break-inside:avoid}a{color:inherit;text-decoration:none}}
"""
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
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
    out = [f"<p class=\"meta\">Priority order judged under: {escape(str(r['policy']))}.</p>", "<h2>Summary</h2>",
           _kv_table([
               ("Registrations (need date in the period)", s["registrations"]), ("Placed", s["placed"]),
               ("Still waiting", s["still_waiting"]),
               ("Waiting days: median / mean / 90th percentile / max",
                " / ".join(str(s["waiting_days"][k]) for k in ("median", "mean", "p90", "max"))),
               ("First-choice share", _pct(s["first_choice_share"])),
               ("Sibling co-location share", _pct(s["sibling_colocation_share"])),
               ("Justified envy (child, institution) pairs", s["justified_envy"]),
               ("… in the system's decisions (allocation run, rules) / in caseworkers' own bookings",
                f"{s['justified_envy_in_system_decisions']} / {s['justified_envy_in_caseworker_decisions']}"),
               ("Children with justified envy", s["children_with_justified_envy"]),
               ("Wasted seat-months", s["wasted_seat_months"]),
               ("Guarantee breaches / days late", f"{s['guarantee_breaches']} / {s['guarantee_days_late']}"),
               ("Guarantees met by an offer the family declined or let expire",
                s.get("guarantee_met_by_refused_offer", 0)),
               ("Capacity overrides by caseworkers", s.get("capacity_overrides", 0)),
           ])]
    if "vs" in r:
        out.append(_vs_section(r))
    out.append("<h2>Breakdowns</h2>")
    for dim, groups in r["breakdowns"].items():
        out.append(f"<h3>By {escape(dim.replace('_', ' '))}</h3>")
        cols = ("registrations", "placed", "still_waiting", "first_choice_share", "justified_envy",
                "guarantee_breaches", "guarantee_days_late")
        rows = [[g] + [_pct(m[c]) if c.endswith("share") else m[c] for c in cols]
                + [m["waiting_days"]["median"], m["waiting_days"]["p90"]] for g, m in groups.items()]
        out.append(_table([dim.replace("_", " ")] + [c.replace("_", " ") for c in cols]
                          + ["median waiting days", "p90 waiting days"], rows))
    out.append("<h2>Waiting days (need date to start), per group</h2>")
    for dim, groups in r["waiting_days"].items():
        out.append(f"<h3>By {escape(dim.replace('_', ' '))}</h3>")
        out.append(_chart(box_plot(groups, f"Waiting days by {dim.replace('_', ' ')}")))
    heat = r["occupancy_heatmap"]
    out.append("<h2>Occupancy of the general pool (seat-days / capacity-days), district × month</h2>")
    out.append(_chart(heat_map(heat["districts"], heat["months"], heat["percent"], "Occupancy %")))
    out.append("<h2>Guarantee breaches per month (by guarantee date)</h2>")
    out.append(_chart(bar_chart(list(r["breaches_by_month"].items()), "Breaches")))
    f = r["findings"]
    out.append(f"<h2>Justified envy ({len(f['justified_envy'])})</h2>")
    out.append(_table(
        ["child", "institution", "age group", "wish", "need date", "registered", "priority basis",
         "passed over by (child, start, channel, decided by, reason)", "events"],
        [[_id(e["child_id"]), escape(e["institution"]), e["age_group"], e["wish_no"], e["need_date"],
          e["registered_on"], escape(e["priority_basis"]),
          _passed_over(e["passed_over_by"]), _events(e["events"])] for e in f["justified_envy"]],
        raw=True))
    out.append(f"<h2>Wasted seat-months ({sum(w['wasted_seat_months'] for w in f['wasted_seats'])})</h2>")
    out.append(_table(
        ["institution", "district", "age group", "month", "capacity", "booked", "free", "wasted", "waiting children",
         "events"],
        [[escape(w["institution"]), escape(w["district"]), w["age_group"], w["month"], w["capacity"], w["booked"],
          w["free"], w["wasted_seat_months"], " ".join(_id(c) for c in w["waiting_children"][:10]),
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
    rows = [[k.replace("_", " "), vs["actual"].get(k), vs["alternative"].get(k)] for k in vs["actual"]
            if not isinstance(vs["actual"][k], dict)]
    title = "Two ledgers" if vs.get("kind") == "ledgers" else "Counterfactual"
    out = [f"<h2>{title}: {escape(str(vs['policy']))} vs {escape(str(vs['vs']))}</h2>",
           f"<p class=\"meta\">{escape(vs.get('note', ''))}</p>",
           _table(["measure", escape(str(vs["policy"])), escape(str(vs["vs"]))], rows)]
    a_name, b_name = "A", "B"  # short column labels; the legend names them
    out.append(f"<p class=\"meta\">A = {escape(str(vs['policy']))}; B = {escape(str(vs['vs']))}.</p>")
    cols = (("placed", "placed"), ("still_waiting", "still waiting"), ("median", "median waiting days"),
            ("p90", "p90 waiting days"), ("guarantee_breaches", "guarantee breaches"),
            ("justified_envy", "justified envy"))

    def cell(m: dict | None, col: str):
        if not m:
            return None
        return m["waiting_days"][col] if col in ("median", "p90") else m[col]

    for dim in ("registration_age", "channel", "district"):
        a, b = vs["actual_breakdowns"].get(dim, {}), vs["alternative_breakdowns"].get(dim, {})
        groups = sorted(set(a) | set(b))
        out.append(f"<h3>By {dim.replace('_', ' ')}</h3>")
        heads = [dim.replace("_", " ")] + [f"{label}<br>{side}" for _, label in cols for side in (a_name, b_name)]
        rows = [[escape(g)] + [escape(str(v)) if v is not None else "" for col, _ in cols
                               for v in (cell(a.get(g), col), cell(b.get(g), col))] for g in groups]
        out.append(_table(heads, rows, raw=True))
    a_days = vs.get("actual_waiting_days", {}).get("registration_age", {})
    b_days = vs.get("alternative_waiting_days", {}).get("registration_age", {})
    paired = {f"{g} ({side})": days.get(g, []) for g in sorted(set(a_days) | set(b_days))
              for side, days in (("A", a_days), ("B", b_days))}
    out.append("<h3>Waiting days by registration age, both sides</h3>")
    out.append(_chart(box_plot(paired, "Waiting days by registration age, both sides")))
    return "".join(out)


# -- budget ------------------------------------------------------------------------------------------


def _budget(r: dict) -> str:
    actual = r["actual"]
    out = []
    cols = ("place_months_milli", "gross_cost_ore", "parent_payments_ore", "friplads_cost_ore", "sibling_cost_ore",
            "net_municipal_cost_ore")
    heads = ["place-months", "gross cost (kr)", "parent payments (kr)", "friplads cost (kr)", "sibling cost (kr)",
             "net municipal cost (kr)"]

    def money_row(label, m):
        return [label, f"{m['place_months_milli'] / 1000:,.1f}"] + [_kr(m[c]) for c in cols[1:]]

    if "difference" in r:
        diff = r["difference"]
        out.append(f"<h2>Scenario {escape(str(r['rule_sets']['vs']))} against the actual budget</h2>")
        out.append(_table(["", *heads], [money_row("actual", actual["total"]), money_row("scenario", r["vs"]["total"]),
                                         money_row("difference (scenario - actual)", diff["total"])]))
        out.append("<h2>Difference in net municipal cost per month</h2>")
        out.append(_chart(bar_chart([(m, v["net_municipal_cost_ore"] / 100) for m, v in diff["by_month"].items()],
                                    "kr")))
        for name, label in (("by_month", "month"), ("by_district", "district"), ("by_income_band", "income band")):
            out.append(f"<h3>Difference by {label}</h3>")
            out.append(_table([label, *heads], [money_row(k, v) for k, v in diff[name].items()]))
    out.append("<h2>Net municipal cost per month (actual)</h2>")
    out.append(_chart(bar_chart([(m, v["net_municipal_cost_ore"] / 100) for m, v in actual["by_month"].items()],
                                "kr")))
    for name, label in (("by_month", "month"), ("by_district", "district"), ("by_income_band", "income band")):
        out.append(f"<h3>Actual budget by {label}</h3>")
        out.append(_table([label, *heads], [money_row(k, v) for k, v in actual[name].items()]))
    return "".join(out)


# -- charts (inline SVG) ---------------------------------------------------------------------------------


def _svg(width: int, height: int, label: str, body: Iterable[str]) -> str:
    return (f"<svg xmlns=\"http://www.w3.org/2000/svg\" role=\"img\" aria-label=\"{escape(label)}\" "
            f"width=\"{width}\" height=\"{height}\" viewBox=\"0 0 {width} {height}\">"
            f"<title>{escape(label)}</title>{''.join(body)}</svg>")


def box_plot(groups: dict[str, list[int]], label: str) -> str:
    """One horizontal box per group: whiskers min-max, box p25-p75, a line at the median, n."""
    if not groups:
        return _empty(label)
    left, right, row_h = 230, 60, 28
    width = 820
    height = 40 + row_h * len(groups)
    top = max(max(v) for v in groups.values() if v) if any(groups.values()) else 1
    top = max(top, 1)
    x = lambda v: left + (width - left - right) * v / top  # noqa: E731
    parts = [_axis_x(left, width - right, height - 20, top, x)]
    for n, (name, values) in enumerate(groups.items()):
        y = 12 + n * row_h
        color = PALETTE[n % len(PALETTE)]
        parts.append(f"<text x=\"{left - 8}\" y=\"{y + 14}\" text-anchor=\"end\" font-size=\"12\">"
                     f"{escape(_short(name, 34))}<title>{escape(name)}</title></text>")
        if not values:
            continue
        q = _quartiles(values)
        parts.append(f"<line x1=\"{x(values[0]):.1f}\" x2=\"{x(values[-1]):.1f}\" y1=\"{y + 10}\" y2=\"{y + 10}\" "
                     f"stroke=\"{color}\"/>")
        parts.append(f"<rect x=\"{x(q[0]):.1f}\" y=\"{y + 2}\" width=\"{max(1.0, x(q[2]) - x(q[0])):.1f}\" "
                     f"height=\"16\" fill=\"{color}\" fill-opacity=\"0.35\" stroke=\"{color}\"/>")
        parts.append(f"<line x1=\"{x(q[1]):.1f}\" x2=\"{x(q[1]):.1f}\" y1=\"{y + 2}\" y2=\"{y + 18}\" "
                     f"stroke=\"#000\" stroke-width=\"2\"/>")
        parts.append(f"<text x=\"{width - right + 6}\" y=\"{y + 14}\" font-size=\"11\">n={len(values)}</text>")
    return _svg(width, height, label, parts)


def heat_map(rows: list[str], cols: list[str], values: list[list[float | None]], label: str) -> str:
    if not rows or not cols:
        return _empty(label)
    left, top, cell_w, cell_h = 150, 60, max(14, min(40, 640 // len(cols))), 22
    width, height = left + cell_w * len(cols) + 20, top + cell_h * len(rows) + 30
    parts = []
    for j, col in enumerate(cols):
        if len(cols) <= 24 or j % max(1, len(cols) // 12) == 0:
            cx = left + j * cell_w + cell_w / 2
            parts.append(f"<text x=\"{cx:.1f}\" y=\"{top - 6}\" font-size=\"10\" text-anchor=\"start\" "
                         f"transform=\"rotate(-45 {cx:.1f} {top - 6})\">{escape(col)}</text>")
    for i, row in enumerate(rows):
        y = top + i * cell_h
        parts.append(f"<text x=\"{left - 6}\" y=\"{y + 15}\" text-anchor=\"end\" font-size=\"12\">"
                     f"{escape(_short(row, 22))}</text>")
        for j, v in enumerate(values[i]):
            fill = "#eee" if v is None else _heat(v)
            tip = f"{row} {cols[j]}: " + ("no capacity" if v is None else f"{v} %")
            parts.append(f"<rect x=\"{left + j * cell_w}\" y=\"{y}\" width=\"{cell_w - 1}\" height=\"{cell_h - 1}\" "
                         f"fill=\"{fill}\"><title>{escape(tip)}</title></rect>")
    ly = top + cell_h * len(rows) + 18
    parts.append(f"<text x=\"{left}\" y=\"{ly}\" font-size=\"11\">0 %</text>"
                 f"<rect x=\"{left + 28}\" y=\"{ly - 10}\" width=\"12\" height=\"12\" fill=\"{_heat(0)}\"/>"
                 f"<rect x=\"{left + 42}\" y=\"{ly - 10}\" width=\"12\" height=\"12\" fill=\"{_heat(50)}\"/>"
                 f"<rect x=\"{left + 56}\" y=\"{ly - 10}\" width=\"12\" height=\"12\" fill=\"{_heat(100)}\"/>"
                 f"<text x=\"{left + 72}\" y=\"{ly}\" font-size=\"11\">100 %</text>")
    return _svg(width, height, label, parts)


def bar_chart(points: list[tuple[str, float]], label: str) -> str:
    """Vertical bars per category (months), negative values below the zero line."""
    if not points:
        return _empty(label)
    left, right, top, bottom = 90, 20, 15, 60
    bar_w = max(4, min(36, 680 // len(points)))
    width = left + right + bar_w * len(points)
    height = 260
    hi = max(0.0, max(v for _, v in points))
    lo = min(0.0, min(v for _, v in points))
    span = (hi - lo) or 1.0
    y = lambda v: top + (height - top - bottom) * (hi - v) / span  # noqa: E731
    parts = [f"<line x1=\"{left}\" x2=\"{width - right}\" y1=\"{y(0):.1f}\" y2=\"{y(0):.1f}\" stroke=\"#444\"/>",
             f"<text x=\"{left - 6}\" y=\"{y(hi) + 4:.1f}\" text-anchor=\"end\" font-size=\"10\">{_num(hi)}</text>",
             f"<text x=\"{left - 6}\" y=\"{y(lo) + 4:.1f}\" text-anchor=\"end\" font-size=\"10\">{_num(lo)}</text>",
             f"<text x=\"{left - 6}\" y=\"{y(0) + 4:.1f}\" text-anchor=\"end\" font-size=\"10\">0</text>"]
    step = max(1, len(points) // 12)
    for n, (name, v) in enumerate(points):
        x0 = left + n * bar_w
        y0, y1 = sorted((y(0), y(v)))
        color = PALETTE[0] if v >= 0 else PALETTE[3]
        parts.append(f"<rect x=\"{x0 + 1}\" y=\"{y0:.1f}\" width=\"{bar_w - 2}\" height=\"{max(0.5, y1 - y0):.1f}\" "
                     f"fill=\"{color}\"><title>{escape(name)}: {_num(v)} {escape(label)}</title></rect>")
        if n % step == 0:
            cx, cy = x0 + bar_w / 2, height - bottom + 12
            parts.append(f"<text x=\"{cx:.1f}\" y=\"{cy}\" font-size=\"10\" text-anchor=\"end\" "
                         f"transform=\"rotate(-45 {cx:.1f} {cy})\">{escape(name)}</text>")
    return _svg(width, height, label, parts)


def _empty(label: str) -> str:
    return _svg(400, 40, label, [f"<text x=\"10\" y=\"25\" font-size=\"12\">{escape(label)}: no data</text>"])


def _axis_x(x0: float, x1: float, y: float, top: float, x) -> str:
    ticks = "".join(f"<line x1=\"{x(t):.1f}\" x2=\"{x(t):.1f}\" y1=\"{y}\" y2=\"{y + 4}\" stroke=\"#444\"/>"
                    f"<text x=\"{x(t):.1f}\" y=\"{y + 15}\" font-size=\"10\" text-anchor=\"middle\">{t:g}</text>"
                    for t in _ticks(top))
    return f"<line x1=\"{x0}\" x2=\"{x1}\" y1=\"{y}\" y2=\"{y}\" stroke=\"#444\"/>{ticks}"


def _ticks(top: float) -> list[float]:
    raw = top / 5
    magnitude = 10 ** (len(str(int(raw))) - 1) if raw >= 1 else 1
    step = max(1, round(raw / magnitude) * magnitude)
    return [t * step for t in range(int(top // step) + 1)]


def _quartiles(values: list[int]) -> tuple[float, float, float]:
    v = sorted(values)

    def q(p: float) -> float:
        k = (len(v) - 1) * p
        f = int(k)
        return v[f] + (v[min(f + 1, len(v) - 1)] - v[f]) * (k - f)

    return q(0.25), q(0.5), q(0.75)


def _heat(v: float) -> str:
    """White (0 %) to dark blue (100 %); above 100 % (an override) red."""
    if v > 100:
        return "#c0392b"
    t = max(0.0, min(1.0, v / 100))
    r, g, b = (int(255 + (c - 255) * t) for c in (8, 69, 148))
    return f"#{r:02x}{g:02x}{b:02x}"


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


def _kv_table(pairs: list[tuple[str, Any]]) -> str:
    return "<table><tbody>" + "".join(f"<tr><td class=\"l\">{escape(k)}</td><td>{escape(str(v))}</td></tr>"
                                      for k, v in pairs) + "</tbody></table>"


def _passed_over(bookings: list[dict], shown: int = 5) -> str:
    lines = [f"{_id(p['child_id'])} {escape(p['start'])} {escape(p['channel'])}, "
             f"{escape(p.get('decided_by', ''))}{': ' + escape(p['reason']) if p.get('reason') else ''} "
             f"(#{escape(','.join(map(str, p['events'])))})" for p in bookings[:shown]]
    if len(bookings) > shown:
        lines.append(f"and {len(bookings) - shown} more (in the JSON)")
    return "<br>".join(lines)


def _id(value: str) -> str:
    return f"<span class=\"ids\" title=\"{escape(value)}\">{escape(value[:8])}</span>"


def _events(positions: list[int]) -> str:
    return f"<span class=\"ids\">#{escape(', #'.join(str(p) for p in positions[:12]))}" \
           f"{' …' if len(positions) > 12 else ''}</span>"


def _pct(v: float | None) -> str:
    return "–" if v is None else f"{100 * v:.1f} %"


def _kr(ore: int) -> str:
    return f"{ore / 100:,.0f}"


def _num(v: float) -> str:
    return f"{v:,.0f}"


def _short(text: str, n: int) -> str:
    return text if len(text) <= n else text[: n - 1] + "…"
