"""The cluster leader's page: each institution's months ahead against its capacity.

One self-contained HTML file (matplotlib SVG inline, as the audit reports; nothing fetched): per
institution a chart of children in care by age group with the 80 % interval and the capacity,
and in words the months in which the forecast is over capacity or well under it.
"""

from __future__ import annotations

from collections import defaultdict
from html import escape
from pathlib import Path

from projections.outlook import ForecastRow
from replay.audit import charts
from replay.audit.charts import SIDE_COLOURS, _svg, plt
from replay.audit.report import CSS

UNDER = 0.9  # a month is "under capacity" when the forecast fills less than 90 % of the seats
LABELS = {"nursery": "nursery (0–2 y)", "kindergarten": "kindergarten (3–5 y)"}


def institution_chart(name: str, rows: list[ForecastRow]) -> str:
    """Children in care per age group (line, 80 % band) and capacity (dashed), month by month."""
    groups: dict[str, list[ForecastRow]] = defaultdict(list)
    for r in rows:
        groups[r.age_group].append(r)
    if not groups:
        return charts.no_data(name)
    fig, ax = plt.subplots(figsize=(8, 2.8))
    for i, (group, series) in enumerate(sorted(groups.items())):
        series.sort(key=lambda r: r.month)
        x = list(range(len(series)))
        colour = SIDE_COLOURS[i % 2]
        ax.fill_between(x, [r.low for r in series], [r.high for r in series], color=colour, alpha=0.18, linewidth=0)
        ax.plot(x, [r.children for r in series], color=colour, marker="o", markersize=3,
                label=f"{LABELS.get(group, group)}: children (80 % interval)")
        ax.step(x, [r.capacity for r in series], where="mid", color=colour, linestyle="--", linewidth=1,
                label=f"{LABELS.get(group, group)}: capacity")
        ax.set_xticks(x, [r.month for r in series], rotation=45, fontsize=8)
    ax.set_ylim(bottom=0)
    ax.set_ylabel("children in care (average over the month)")
    ax.set_title(name, loc="left")
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _svg(fig)


def sentences(rows: list[ForecastRow]) -> list[str]:
    """The months over capacity and well under it, per age group, in words."""
    out = []
    by_group: dict[str, list[ForecastRow]] = defaultdict(list)
    for r in rows:
        by_group[r.age_group].append(r)
    for group, series in sorted(by_group.items()):
        series.sort(key=lambda r: r.month)
        label = LABELS.get(group, group)
        over = [r for r in series if r.children > r.capacity]
        under = [r for r in series if r.capacity and r.children < UNDER * r.capacity]
        if not any(r.capacity for r in series):
            out.append(f"{label}: no seats, {_span(series)} {max(r.children for r in series):.0f} children at most.")
            continue
        if over:
            out.append(f"{label}: over capacity in {_months(over)} (at most {max(r.children - r.capacity for r in over):.1f} "
                       f"children more than seats).")
        if under:
            out.append(f"{label}: under capacity (below {UNDER:.0%} of the seats) in {_months(under)} "
                       f"(at least {max(r.capacity - r.children for r in under):.1f} seats empty in the emptiest month).")
        if not over and not under:
            out.append(f"{label}: within capacity in every month ({_span(series)}).")
    return out


def _months(rows: list[ForecastRow]) -> str:
    return ", ".join(r.month for r in rows)


def _span(rows: list[ForecastRow]) -> str:
    return f"{rows[0].month} to {rows[-1].month}"


def render(title: str, meta: str, institutions: dict[str, tuple[str, list[ForecastRow]]],
           summary: list[ForecastRow]) -> str:
    """The page: a summary table of the asked level, then one section per institution (by name)."""
    parts = [f"<h1>{escape(title)}</h1>", f"<p class='meta'>{escape(meta)}</p>", _table(summary)]
    for inst, (name, rows) in sorted(institutions.items(), key=lambda kv: kv[1][0]):
        words = "".join(f"<li>{escape(s)}</li>" for s in sentences(rows))
        parts.append(f"<h2>{escape(name)}</h2><p class='ids'>{escape(inst)}</p>"
                     f"<ul class='findings'>{words}</ul><div class='chart'>{institution_chart(name, rows)}</div>")
    return (f"<!doctype html><html lang='en'><head><meta charset='utf-8'><title>{escape(title)}</title>"
            f"<style>{CSS}</style></head><body>{''.join(parts)}</body></html>\n")


def _table(rows: list[ForecastRow]) -> str:
    if not rows:
        return "<p>No forecast rows.</p>"
    head = "<tr><th>unit</th><th>age group</th><th>month</th><th>children</th><th>80 % interval</th><th>capacity</th></tr>"
    body = "".join(f"<tr><td>{escape(r.unit)}</td><td class='l'>{escape(r.age_group)}</td><td>{r.month}</td>"
                   f"<td>{r.children:.1f}</td><td>{r.low:.1f}–{r.high:.1f}</td><td>{r.capacity}</td></tr>" for r in rows)
    return f"<table>{head}{body}</table>"


def write(path: str | Path, html: str) -> None:
    Path(path).write_text(html, encoding="utf-8")
