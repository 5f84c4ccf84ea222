"""The reports' charts, drawn by matplotlib as inline SVG (text kept as text, nothing fetched).

Every chart has a title, axis labels with their unit and a legend where there is more than one
series. The output is deterministic (a fixed SVG id salt, no date), so the same audit gives the
same page byte for byte.
"""

from __future__ import annotations

import io
from typing import Sequence

import matplotlib

matplotlib.use("Agg")  # no display: the reports are written to files

import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.colors import LinearSegmentedColormap  # noqa: E402
from matplotlib.ticker import FuncFormatter, MaxNLocator  # noqa: E402

plt.rcParams.update({
    "svg.hashsalt": "plads",  # stable ids: the same report byte for byte
    "svg.fonttype": "none",  # text stays text: readable, searchable, small
    "font.size": 10, "axes.titlesize": 12, "axes.titleweight": "bold", "axes.spines.top": False,
    "axes.spines.right": False, "axes.grid": True, "grid.alpha": 0.3, "legend.frameon": False,
})
# Colour-blind safe pair (Okabe-Ito) for A/B and actual/scenario, and a sequential map for occupancy.
SIDE_COLOURS = ("#0072B2", "#E69F00")
NEGATIVE, POSITIVE = "#009E73", "#D55E00"  # saving, extra cost
OCCUPANCY = LinearSegmentedColormap.from_list("occupancy", ["#fff7bc", "#fec44f", "#d95f0e", "#7f2704"])


def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight", metadata={"Date": None, "Creator": None})
    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]  # inline: without the XML prolog and doctype


def _kr(value: float, _pos=None) -> str:
    return f"{value:,.0f} kr"


def no_data(title: str) -> str:
    fig, ax = plt.subplots(figsize=(6, 0.8))
    ax.axis("off")
    ax.text(0, 0.5, f"{title}: no data", va="center")
    return _svg(fig)


def waiting_bars(groups: dict[str, dict], title: str, sides: Sequence[str] = ()) -> str:
    """Median, mean and 90th-percentile waiting days per group, as horizontal bars (a zero median is a
    labelled 0, not a hairline). `groups`: name -> {"median", "p90", "n"}; with `sides`, name ->
    side -> that dict (the comparison report)."""
    names = list(groups)
    if not names:
        return no_data(title)
    series = sides or ("",)
    height = max(2.2, 0.55 * len(names) * len(series) + 1.4)
    fig, ax = plt.subplots(figsize=(9, height))
    measures = (("median", "median", 1.0), ("mean", "mean", 0.7), ("p90", "90th percentile", 0.4))
    bar = 0.8 / (len(measures) * len(series))
    top = 1.0
    for s, side in enumerate(series):
        for k, (measure, label, alpha) in enumerate(measures):
            offset = (s * len(measures) + k) * bar - 0.4 + bar / 2
            values = [((groups[n].get(side) if side else groups[n]) or {}).get(measure) or 0 for n in names]
            top = max([top, *values])
            bars = ax.barh([i + offset for i in range(len(names))], values, height=bar, color=SIDE_COLOURS[s % 2],
                           alpha=alpha, label=f"{side + ': ' if side else ''}{label}")
            ax.bar_label(bars, labels=[f"{v:g}" for v in values], padding=3, fontsize=8)
    ax.set_xlim(0, top * 1.12)  # days start at 0, also when every wait was 0
    ax.set_yticks(range(len(names)), [_group_label(n, groups[n], sides) for n in names])
    ax.invert_yaxis()
    ax.set_xlabel("waiting days (need date to start of the place)")
    ax.set_title(title, loc="left")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1), fontsize=8)
    return _svg(fig)


def _group_label(name: str, data: dict, sides: Sequence[str]) -> str:
    if sides:
        return name + "\n" + ", ".join(f"{s}: n={(data.get(s) or {}).get('n', 0)}" for s in sides)
    return f"{name} (n={data.get('n', 0)})"


def occupancy_map(districts: list[str], months: list[str], percent: list[list[float | None]], title: str) -> str:
    """District x month occupancy of the general pool in %, with a graded colour bar."""
    if not districts or not months:
        return no_data(title)
    import numpy as np

    grid = np.array([[np.nan if v is None else v for v in row] for row in percent], dtype=float)
    fig, ax = plt.subplots(figsize=(min(14, 2.5 + 0.32 * len(months)), 1.2 + 0.4 * len(districts)))
    cmap = OCCUPANCY.with_extremes(bad="#dddddd", over="#b2182b")
    image = ax.imshow(grid, aspect="auto", cmap=cmap, vmin=0, vmax=100, interpolation="nearest")
    ax.set_yticks(range(len(districts)), districts)
    step = max(1, len(months) // 18)
    ax.set_xticks(range(0, len(months), step), months[::step], rotation=45, ha="right")
    ax.set_xlabel("month")
    ax.grid(False)
    bar = fig.colorbar(image, ax=ax, extend="max", pad=0.01)
    bar.set_label("occupancy, % of capacity (red: over 100 %, grey: no capacity)")
    ax.set_title(title, loc="left")
    return _svg(fig)


def month_bars(points: list[tuple[str, float]], title: str, ylabel: str, *, money: bool = False,
               signed: bool = False) -> str:
    """One bar per month; `signed` colours savings and extra costs apart (with a legend)."""
    if not points:
        return no_data(title)
    fig, ax = plt.subplots(figsize=(min(14, 3 + 0.3 * len(points)), 3.6))
    months, values = [m for m, _ in points], [v for _, v in points]
    if signed:
        colours = [POSITIVE if v > 0 else NEGATIVE for v in values]
        ax.bar(months, values, color=colours)
        from matplotlib.patches import Patch

        ax.legend(handles=[Patch(color=POSITIVE, label="scenario costs more"),
                           Patch(color=NEGATIVE, label="scenario costs less")], fontsize=8,
                  loc="upper left", bbox_to_anchor=(1.01, 1))
        ax.axhline(0, color="#333", linewidth=0.8)
    else:
        ax.bar(months, values, color=SIDE_COLOURS[0])
    step = max(1, len(months) // 18)
    ax.set_xticks(range(0, len(months), step), months[::step], rotation=45, ha="right")
    ax.set_xlabel("month")
    ax.set_ylabel(ylabel)
    if money:
        ax.yaxis.set_major_formatter(FuncFormatter(_kr))
    else:
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(title, loc="left")
    return _svg(fig)


def side_by_side(measures: list[tuple[str, float, float]], sides: tuple[str, str], title: str) -> str:
    """The comparison's headline measures, A next to B, one panel per measure (their units differ)."""
    if not measures:
        return no_data(title)
    fig, axes = plt.subplots(1, len(measures), figsize=(2.3 * len(measures) + 1, 3.2))
    for ax, (label, a, b) in zip(axes if len(measures) > 1 else [axes], measures):
        bars = ax.bar([0, 1], [a or 0, b or 0], color=SIDE_COLOURS, tick_label=["A", "B"])
        ax.bar_label(bars, labels=[f"{v:g}" if v is not None else "–" for v in (a, b)], fontsize=8)
        ax.set_title(label, fontsize=9, loc="center", wrap=True)
        ax.yaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_ylim(0, max(1, a or 0, b or 0) * 1.15)  # counts and days start at 0
    from matplotlib.patches import Patch

    fig.legend(handles=[Patch(color=SIDE_COLOURS[0], label=f"A = {sides[0]}"),
                        Patch(color=SIDE_COLOURS[1], label=f"B = {sides[1]}")],
               loc="lower center", ncol=2, bbox_to_anchor=(0.5, -0.08))
    fig.suptitle(title, x=0.01, ha="left", fontweight="bold")
    fig.tight_layout()
    return _svg(fig)
