"""The auditor's measurements of `bench/audits.py`, each run in a child process of its own
(`bench/audits.py --one NAME`), so that its peak RSS is its own: what each one times and returns."""

from __future__ import annotations

import json
import tempfile
import threading
import time
from datetime import datetime
from pathlib import Path

SCENARIO = "friplads-2024-scale@1"
OTHER_POLICY = "copenhagen-2025-waitinglist@1"
CHECKPOINT_EVERY = 100_000
TARGETS = {"fairness": 60.0, "budget": 120.0, "counterfactual": 600.0, "as_of": 2.0}


# --- the measurements, each run in a child process (`--one NAME`) -------------------------------

def _peak() -> float:
    from projections.rebuilding import peak_rss_mb

    return round(peak_rss_mb(), 1)


def _cpu() -> float:
    """CPU seconds (user + system) of this process and its finished children (a rebuild's workers):
    on a shared machine the wall-clock seconds also hold the time other processes had the cores."""
    import resource

    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def fairness(url: str) -> dict:
    from ledger import Ledger
    from replay.audit import fairness_audit
    from replay.audit.report import write_html

    with Ledger(url) as ledger:
        started, cpu = time.perf_counter(), _cpu()
        result = fairness_audit(ledger)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_html(result, Path(tmp) / "fairness.html")
    s = result["summary"]
    return {"seconds": seconds, "cpu_s": cpu, "report_s": time.perf_counter() - started, "registrations": s["registrations"],
            "placed": s["placed"], "justified_envy": s["justified_envy"], "peak_rss_mb": _peak()}


def budget(url: str, scenario: str = SCENARIO) -> dict:
    from ledger import Ledger
    from replay.audit import budget_audit
    from replay.audit.report import write_html

    with Ledger(url) as ledger:
        started, cpu = time.perf_counter(), _cpu()
        result = budget_audit(ledger, vs=scenario)
        seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        write_html(result, Path(tmp) / "budget.html")
    return {"seconds": seconds, "cpu_s": cpu, "report_s": time.perf_counter() - started, "scenario": scenario,
            "months": len(result["actual"]["by_month"]),
            "difference_kr": result["difference"]["total"]["net_municipal_cost_ore"] // 100, "peak_rss_mb": _peak()}


def prepare_as_of(url: str, every: int = CHECKPOINT_EVERY) -> dict:
    """What a point-in-time read needs: the live views (rebuilt) and the views' checkpoints."""
    from ledger import Ledger
    from projections import all_views, rebuild
    from projections.pointintime import take_checkpoints

    with Ledger(url) as ledger:
        started, cpu = time.perf_counter(), _cpu()
        rebuild(ledger, all_views())
        rebuild_s, rebuild_cpu = time.perf_counter() - started, _cpu() - cpu
        started, cpu = time.perf_counter(), _cpu()
        added = take_checkpoints(ledger, every=every)
        checkpoint_s, checkpoint_cpu = time.perf_counter() - started, _cpu() - cpu
        return {"seconds": rebuild_s + checkpoint_s, "cpu_s": rebuild_cpu + checkpoint_cpu, "rebuild_s": rebuild_s,
                "rebuild_cpu_s": rebuild_cpu, "checkpoint_s": checkpoint_s, "checkpoint_cpu_s": checkpoint_cpu,
                "checkpoints": len(added), "events": ledger.max_position(), "peak_rss_mb": _peak()}


def view_groups() -> dict[str, list]:
    """The views as the API reads them as of a time: one each (the budget with the billing facts it derives from)."""
    from projections import ChildTimeline, Forecast, Occupancy, WaitingLists, billing_views

    return {"occupancy": [Occupancy()], "timeline": [ChildTimeline()], "billing": billing_views()[:1],
            "budget": billing_views(), "waiting lists": [WaitingLists()], "forecast": [Forecast()]}


def as_of_reads(url: str, view: str, instants: list[str]) -> dict:
    """One view read as of each instant (a recorded time), as `GET …?as_of=T` reads it: the
    point-in-time store made (replay from the nearest checkpoint), then its tables counted."""
    from ledger import Ledger
    from projections.pointintime import views_as_of

    reads = []
    with Ledger(url) as ledger:
        for text in instants:
            views = view_groups()[view] if view != "all (plads replay)" else None
            started, cpu = time.perf_counter(), _cpu()
            with views_as_of(ledger, datetime.fromisoformat(text), views) as store:
                tables = [t for v in (views or _all()) for t in v.tables]
                rows = sum(store.query(f"SELECT count(*) FROM {t.name}")[0][0] for t in tables)
                position = store.position("views")
            reads.append({"as_of": text, "position": position, "rows": rows,
                          "seconds": time.perf_counter() - started, "cpu_s": _cpu() - cpu})
    return {"reads": reads, "seconds": max(r["seconds"] for r in reads), "cpu_s": max(r["cpu_s"] for r in reads),
            "peak_rss_mb": _peak()}


def _all() -> list:
    from projections import all_views

    return all_views()


def counterfactual(url: str, vs: str = OTHER_POLICY, progress_path: str | None = None) -> dict:
    """`plads audit fairness --vs VS`: both sides replayed. Progress (side, steps done of the
    demand's steps) goes to `progress_path` every few seconds, so a stopped run says how far it got."""
    import replay.audit.counterfactual as cf
    from ledger import Ledger
    from replay.audit import fairness_audit

    state = {"side": 0, "done": 0, "steps": 0, "phase": "reading the demand", "cpu_s": 0.0}
    real_run = cf._run

    class Counted(list):
        def __iter__(self):
            for i, step in enumerate(list.__iter__(self)):
                state["done"] = i
                yield step

    def counted_run(ledger, clock, script, rs, out, allocate, seed):
        state.update(side=state["side"] + 1, done=0, steps=len(script.steps), phase=f"replay under {rs.id}")
        script.steps = Counted(script.steps)
        try:
            return real_run(ledger, clock, script, rs, out, allocate, seed)
        finally:
            state.update(done=state["steps"], phase=f"judging the replay under {rs.id}")
            script.steps = list(list.__iter__(script.steps))  # both sides replay the one script

    stop = threading.Event()
    started, cpu = time.perf_counter(), _cpu()

    def report() -> None:
        while not stop.wait(5.0):
            if progress_path:
                with open(progress_path, "a") as f:
                    state["cpu_s"] = round(_cpu() - cpu, 1)
                    f.write(json.dumps({"elapsed_s": round(time.perf_counter() - started, 1), **state,
                                        "rss_mb": _peak()}) + "\n")

    threading.Thread(target=report, daemon=True).start()
    cf._run = counted_run
    with Ledger(url) as ledger:
        result = fairness_audit(ledger, vs=vs)
    seconds, cpu = time.perf_counter() - started, _cpu() - cpu
    stop.set()
    v = result["vs"]
    return {"seconds": seconds, "cpu_s": cpu, "policy": v["policy"], "vs": v["vs"], "steps": state["steps"],
            "placed": (v["actual"]["placed"], v["alternative"]["placed"]),
            "refused": (len(v["refused"]["actual"]), len(v["refused"]["alternative"])), "peak_rss_mb": _peak()}


def views_rebuilt(url: str) -> dict:
    """The live views rebuilt from the log (`plads rebuild`), as a ledger in use has them current."""
    from ledger import Ledger
    from projections import all_views, rebuild

    with Ledger(url) as ledger:
        started, cpu = time.perf_counter(), _cpu()
        rebuild(ledger, all_views())
        return {"seconds": time.perf_counter() - started, "cpu_s": _cpu() - cpu, "peak_rss_mb": _peak()}


def views_dropped(url: str) -> dict:
    from ledger import Ledger
    from projections import Projector, all_views

    with Ledger(url) as ledger:
        probe = Projector(ledger, [])
        probe.store.reset(probe.name, [t for v in all_views() for t in v.tables])
        probe.close()
    return {}


ONE = {"fairness": fairness, "budget": budget, "prepare_as_of": prepare_as_of, "as_of": as_of_reads,
       "counterfactual": counterfactual, "views_rebuilt": views_rebuilt, "views_dropped": views_dropped}
