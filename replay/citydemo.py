"""`make demo`: the synthetic Copenhagen under both policies, its views, audits and a summary.

Two SQLite ledgers (one per policy) are simulated through the real commands, their views
rebuilt, the fairness and budget audits run (replay.audit) and written as HTML, and a short
summary printed: occupancy by district, waiting days, guarantee breaches, budget.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn
from rich.table import Table

import projections
from ledger import Ledger, SimulatedClock
from projections import queries
from replay.audit import budget_audit, fairness_audit
from replay.audit.report import write_html
from replay.simulate import load_params, simulate
from replay.simulate.summary import friplads_figures, outcomes

POLICIES = ("book-en-plads", "waitinglist")


@dataclass
class PolicyRun:
    policy: str
    url: str
    report: Any = None
    outcomes: Any = None
    fairness: dict[str, Any] = field(default_factory=dict)
    occupancy: list[dict] = field(default_factory=list)
    budget: list[dict] = field(default_factory=list)
    reports: list[str] = field(default_factory=list)
    timings: dict[str, float] = field(default_factory=dict)


def _bar(console: Console) -> Progress:
    return Progress("[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


def _fresh_sqlite(path: Path) -> str:
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(f"{path}{suffix}"):
            os.remove(f"{path}{suffix}")
    return f"sqlite:///{path}"


def run_city_demo(directory: str = ".", *, years: float = 3, scale: float = 0.1, seed: int = 1,
                  policies: tuple[str, ...] = POLICIES, console: Console | None = None) -> list[PolicyRun]:
    # Piped into a log, rich would wrap the tables at 80 columns.
    console = console or Console(width=None if sys.stdout.isatty() else 130)
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    params = load_params()
    console.rule(f"[bold]plads demo: a synthetic Copenhagen, {years:g} years at scale {scale:g} (seed {seed})")
    runs = []
    for policy in policies:
        run = PolicyRun(policy, _fresh_sqlite(out / f"plads-demo-{policy}.db"))
        runs.append(run)
        with Ledger(run.url, clock=SimulatedClock(params.city.start)) as ledger:
            t = time.perf_counter()
            with _bar(console) as bar:
                task = bar.add_task(f"simulating {policy}", total=1)
                run.report = simulate(ledger, years=years, scale=scale, seed=seed, policy=policy, params=params,
                                      progress=lambda d, n: bar.update(task, completed=d, total=n))
            run.timings["simulate"] = time.perf_counter() - t
            t = time.perf_counter()
            with _bar(console) as bar:
                task = bar.add_task(f"building the views of {policy}", total=ledger.max_position())
                projections.rebuild(ledger, projections.all_views(),
                                    progress=lambda d, n: bar.update(task, completed=d, total=n))
            run.timings["views"] = time.perf_counter() - t
            end = run.report.end
            t = time.perf_counter()
            run.outcomes = outcomes(ledger, until=end)
            store = projections.open_store(ledger)
            try:
                month = f"{end.year:04d}-{end.month:02d}"
                run.occupancy = queries.occupancy_by_district(store, peak_month(run.report.start, end))
                run.budget = queries.budget(store, from_month=f"{end.year:04d}-01", to_month=month)
            finally:
                store.close()
            run.timings["summary"] = time.perf_counter() - t
            t = time.perf_counter()
            run.reports = run_audits(ledger, out, policy, console, run)
            run.timings["audits"] = time.perf_counter() - t
        console.print(f"{policy}: {run.report.events:,} events; simulated in {run.timings['simulate']:.0f} s, "
                      f"views in {run.timings['views']:.0f} s, audits in {run.timings['audits']:.0f} s")
        if run.report.synthetic_note():
            console.print(run.report.synthetic_note())
    done = runs
    if len(done) == 2:
        compared = compare_policies(done[0], done[1], out, console)
        if compared:
            done[0].reports.append(compared)
    print_summary(runs, console)
    if done:
        console.print()
        for r in done:
            for path in r.reports:
                console.print(f"Report: open [bold]{path}[/bold] in a browser")
        console.print(f"Start the API on a demo ledger: [bold]PLADS_DATABASE_URL={done[0].url} plads serve[/bold] "
                      "(tokens in PLADS_API_TOKENS=actor:role:token; OpenAPI at http://127.0.0.1:8000/docs)")
    return runs


def run_audits(ledger: Ledger, out: Path, policy: str, console: Console, run: PolicyRun) -> list[str]:
    """The auditor's workbench on the demo ledger: the fairness and budget audits, written as HTML;
    the summary's waiting and guarantee figures are the fairness audit's."""
    written = []
    with _bar(console) as bar:
        task = bar.add_task(f"auditing {policy}", total=2)
        run.fairness = fairness_audit(ledger)
        for name, result in (("fairness", lambda: run.fairness),
                             ("budget", lambda: budget_audit(ledger, vs="friplads-2024-scale@1"))):
            path = out / f"plads-demo-{policy}-{name}.html"
            audit = result()
            if run.report.synthetic_note():  # a simulated city on synthetic money says so in its reports
                audit["synthetic"] = run.report.synthetic_note()
            write_html(audit, path)
            written.append(str(path))
            bar.advance(task)
    return written


def compare_policies(a: PolicyRun, b: PolicyRun, out: Path, console: Console) -> str | None:
    """The fairness audit of one policy's ledger with the other's beside it (same city, same families)."""
    path = out / f"plads-demo-{a.policy}-vs-{b.policy}.html"
    with Ledger(a.url) as ledger:
        write_html(fairness_audit(ledger, vs=b.url), path)
    return str(path)


def print_summary(runs: list[PolicyRun], console: Console) -> None:
    if not runs:
        return
    for table in (_city_table(runs), _occupancy_table(runs), _waiting_table(runs), _budget_table(runs)):
        console.print(table)


def _city_table(runs: list[PolicyRun]) -> Table:
    t = Table(title="The simulated city")
    t.add_column("")
    for r in runs:
        t.add_column(r.policy, justify="right")
    rows = [("institutions", lambda r: f"{r.report.institutions}"),
            ("general seats (nursery / kindergarten)",
             lambda r: f"{r.report.seats.get('nursery/general', 0):,} / {r.report.seats.get('kindergarten/general', 0):,}"),
            ("basis + special seats", lambda r: f"{sum(v for k, v in r.report.seats.items() if not k.endswith('general')):,}"),
            ("births simulated", lambda r: f"{r.report.counts.get('births', 0):,}"),
            ("newcomer children", lambda r: f"{r.report.counts.get('newcomers', 0):,}"),
            ("events in the ledger", lambda r: f"{r.report.events:,}"),
            ("households with a place on some friplads",
             lambda r: f"{100 * friplads_figures(r.outcomes)['share_on_some_friplads']:.0f} %"),
            ("  of them free (0 %)", lambda r: f"{100 * friplads_figures(r.outcomes)['share_free']:.0f} %")]
    for label, f in rows:
        t.add_row(label, *[f(r) for r in runs])
    return t


def _occupancy_table(runs: list[PolicyRun]) -> Table:
    peak = peak_month(runs[0].report.start, runs[0].report.end)
    occ = Table(title=f"Occupancy by district, {peak} (most seats in use on a day / capacity, all pools; "
                      "June is the fullest month, before the August school start)")
    occ.add_column("district")
    for r in runs:
        occ.add_column(f"{r.policy}\nnursery", justify="right")
        occ.add_column(f"{r.policy}\nkindergarten", justify="right")
    districts = sorted({row["district"] for r in runs for row in r.occupancy})
    for d in districts + ["city"]:
        cells = []
        for r in runs:
            for g in ("nursery", "kindergarten"):
                rows_ = [x for x in r.occupancy if x["age_group"] == g and (d == "city" or x["district"] == d)]
                cap, booked = sum(x["capacity"] for x in rows_), sum(x["booked"] for x in rows_)
                cells.append(f"{booked:,}/{cap:,} {100 * booked / cap:.0f} %" if cap else "-")
        occ.add_row(d, *cells)
    return occ


def _waiting_table(runs: list[PolicyRun]) -> Table:
    w = Table(title="Waiting days (need date → start), guarantee breaches and justified envy, by registration "
                    "channel (the fairness audit's figures)")
    for col in ("policy", "channel", "registrations", "placed", "median", "p90", "breaches", "mean days late",
                "envy: system / caseworker"):
        w.add_column(col, justify="right" if col not in ("policy", "channel") else "left")
    for r in runs:
        for ch, row in sorted(r.fairness["breakdowns"]["channel"].items()):
            if not row["registrations"]:
                continue
            late = row["guarantee_days_late"] / row["guarantee_breaches"] if row["guarantee_breaches"] else None
            w.add_row(r.policy, ch, f"{row['registrations']:,}", f"{row['placed']:,}",
                      _n(row["waiting_days"]["median"]), _n(row["waiting_days"]["p90"]),
                      f"{row['guarantee_breaches']:,}", _n(late),
                      f"{row['justified_envy_in_system_decisions']} / {row['justified_envy_in_caseworker_decisions']}")
    return w


def _budget_table(runs: list[PolicyRun]) -> Table:
    month = f"{runs[0].report.end:%Y-%m}"
    b = Table(title=f"Budget {runs[0].report.end.year} to {month} (million kr)")
    for col in ("policy", "place-months", "gross cost", "parent payments", "friplads", "sibling", "net municipal cost"):
        b.add_column(col, justify="right" if col != "policy" else "left")
    for r in runs:
        s = {k: sum(x[k] for x in r.budget) for k in ("place_months_milli", "gross_cost_ore", "parent_payments_ore",
                                                       "friplads_cost_ore", "sibling_cost_ore", "net_municipal_cost_ore")}
        b.add_row(r.policy, f"{s['place_months_milli'] / 1000:,.0f}", _mkr(s["gross_cost_ore"]),
                  _mkr(s["parent_payments_ore"]), _mkr(s["friplads_cost_ore"]), _mkr(s["sibling_cost_ore"]),
                  _mkr(s["net_municipal_cost_ore"]))
    return b


def peak_month(start: date, end: date) -> str:
    """The last June of the period (kindergartens are fullest before school start), else its last month."""
    june = date(end.year if end.month >= 6 else end.year - 1, 6, 1)
    day = june if june >= start else end
    return f"{day.year:04d}-{day.month:02d}"


def _n(v) -> str:
    return "-" if v is None else f"{v:g}"


def _mkr(ore: int) -> str:
    return f"{ore / 100 / 1e6:,.1f}"
