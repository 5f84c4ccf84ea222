"""`make bench`, the auditor's part: the audits and point-in-time reads on the city, timed.

On a copy of the cached city (`bench/city.py`) in each store, measured against SPEC §10's targets
on 2 cores (fairness audit ≤ 60 s, budget scenario ≤ 120 s, cross-policy counterfactual ≤ 10 min,
any view `as_of` any T ≤ 2 s):
- fairness: `fairness_audit(ledger)` (what `plads audit fairness` runs), then its HTML report;
- budget: `budget_audit(ledger, vs=SCENARIO)` (`plads audit budget --vs …`), then its report. It
  reads its actual side from the live views, which a ledger in use keeps current (the follower, or
  inline on SQLite): so the views are first rebuilt (`plads rebuild`, timed apart; the copy holds
  only the log), then the audit is timed — and once more on the same copy with its views dropped
  (`budget audit, views absent`: the audit projects them all itself first);
- as_of: first what a point-in-time read needs (the views rebuilt, checkpoints every 100,000
  events, as `plads rebuild` and `plads checkpoint` make them), then each view read as the API's
  `?as_of=T` reads it (`views_as_of(ledger, T, [view])`, its tables counted) at an early T, a
  mid-history T just before a checkpoint (the most events to fold: the worst T) and the last T;
  and `plads replay TABLE --as-of T`, which folds every view, at the mid-history T;
- counterfactual: `fairness_audit(ledger, vs=POLICY)` (`plads audit fairness --vs …`): the
  city's demand replayed under its own rules and under the other policy. It is stopped after
  `--counterfactual-limit` seconds; then the share of the replay it reached and its rate are
  reported (progress: the replay's steps, sampled every few seconds).
Each measurement runs in a process of its own, so its peak RSS (VmHWM) is its own. Figures are
printed as measured and appended to a JSON-lines log; the Markdown table comes at the end.

    python bench/audits.py                                   # the 10-year city, SQLite and PostgreSQL
    python bench/audits.py --years 0.5 --scale 0.05 --stores sqlite   # a small city, a minute
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from city import City, _last_recorded, city, copy_to  # noqa: E402

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


# --- the parent: copies the city, runs each measurement in its own process ----------------------

def _child(name: str, url: str, *args, timeout: float | None = None, env: dict | None = None) -> dict:
    command = [sys.executable, __file__, "--one", name, "--database", url, "--args", json.dumps(list(args))]
    run = subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=env)
    if run.returncode != 0:
        raise SystemExit(f"bench/audits.py: {name} failed: {run.stderr[-2000:]}")
    return json.loads(run.stdout.strip().splitlines()[-1])


def instants(url: str, every: int = CHECKPOINT_EVERY) -> dict[str, str]:
    """Recorded times to read at: early (10 % of the log), mid-history just before a checkpoint
    (the most events a read folds) and the last event."""
    from ledger import Ledger
    from projections.engine import LogReader

    with Ledger(url) as ledger:
        end = ledger.max_position()
        reader = LogReader(ledger, ())
        mid = max(1, ((end // 2) // every + 1) * every - 1) if end > every else max(1, end // 2)
        picks = {"early": max(1, end // 10), "mid": min(mid, end), "last": end}
        out = {}
        for label, position in picks.items():
            found = reader.recorded_at(position)
            # the last event recorded at that instant may lie a little beyond `position`
            out[label] = found[1].isoformat()
    return out


def counterfactual_stopped(url: str, vs: str, limit: float) -> dict:
    """The counterfactual in its own process, stopped after `limit` seconds; its last progress then."""
    with tempfile.TemporaryDirectory(prefix="audits-bench-") as tmp:
        progress = Path(tmp) / "progress.jsonl"
        # the replay's scratch ledgers go in here too: a stopped child leaves them behind
        env = {**os.environ, "TMPDIR": tmp}
        try:
            return {"finished": True, **_child("counterfactual", url, vs, str(progress), timeout=limit, env=env)}
        except subprocess.TimeoutExpired:  # subprocess.run killed the child
            lines = progress.read_text().splitlines() if progress.exists() else []
            last = json.loads(lines[-1]) if lines else {"side": 0, "done": 0, "steps": 0, "elapsed_s": limit}
            # two replays (the city's own rules, then the other policy) of the same demand's steps
            share = (max(last["side"] - 1, 0) + (last["done"] / last["steps"] if last["steps"] else 0)) / 2
            return {"finished": False, "seconds": limit, "share_of_steps": round(share, 4), **last, "peak_rss_mb": max(
                (json.loads(x)["rss_mb"] for x in lines), default=None), "progress": [json.loads(x) for x in lines[::12]]}


def snapshot(path: str, into: Path) -> City:
    """A consistent copy of a SQLite ledger (SQLite's backup: a writer may go on meanwhile) and its key store."""
    import shutil
    import sqlite3

    target = into / "ledger.db"
    source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    copy = sqlite3.connect(target)
    source.backup(copy)
    copy.close()
    source.close()
    if Path(path + ".keys").exists():
        shutil.copyfile(path + ".keys", str(target) + ".keys")
    conn = sqlite3.connect(target)
    (events,) = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()
    conn.close()
    return City(target, events, _last_recorded(target), {"source": path})


def measure(url: str, source, only: set[str], vs: str, scenario: str, limit: float, every: int, log,
            until: int | None = None) -> list[dict]:
    store = url.split(":", 1)[0]
    out = []

    def note(step: str, figures: dict) -> None:
        log(store, step, **figures)
        out.append({"store": store, "step": step, **figures})

    started = time.perf_counter()
    events = copy_to(source, url, until)
    note("copy of the city", {"events": events, "seconds": time.perf_counter() - started})
    if "fairness" in only:
        note("fairness audit", _child("fairness", url))
    if "budget" in only:
        note("budget: the views rebuilt first", _child("views_rebuilt", url))
        note(f"budget audit --vs {scenario}", _child("budget", url, scenario))
        _child("views_dropped", url)
        note(f"budget audit --vs {scenario}, views absent", _child("budget", url, scenario))
    if "as_of" in only:
        note("as_of: rebuild + checkpoints", _child("prepare_as_of", url, every))
        at = instants(url, every)
        for view in view_groups():
            note(f"as_of: {view}", _child("as_of", url, view, list(at.values())))
        note("as_of: all (plads replay)", _child("as_of", url, "all (plads replay)", [at["mid"]]))
    if "counterfactual" in only:
        note(f"counterfactual --vs {vs}", counterfactual_stopped(url, vs, limit))
    return out


class Log:
    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, store: str, step: str, **figures) -> None:
        shown = ", ".join(f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in figures.items()
                          if k != "progress")
        print(f"[{time.strftime('%H:%M:%S')} {store}] {step}: {shown}", flush=True)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "store": store, "step": step,
                                    **figures}, default=str) + "\n")


def table(results: list[dict]) -> list[str]:
    """The Markdown rows for BENCHMARKS.md: each measurement against its target."""
    lines = ["| store | measurement | seconds | CPU s | target s | met? | peak RSS MB | detail |",
             "|---|---|---:|---:|---:|---|---:|---|"]
    for r in results:
        step = r["step"]
        key = next((k for k in TARGETS if step.startswith(k)), None)
        if step.startswith(("as_of: rebuild", "budget: the views")):
            key = None
        seconds = r.get("seconds")
        target = TARGETS.get(key) if key else None
        met = "" if target is None or seconds is None else ("yes" if seconds <= target else "no")
        if r.get("finished") is False:
            met = "no (stopped)"
        detail = {k: v for k, v in r.items() if k not in ("at", "store", "step", "seconds", "cpu_s", "peak_rss_mb", "progress")}
        if "reads" in r:
            detail = {"reads (position: s, CPU s)": ", ".join(f"{x['position']:,}: {x['seconds']:.2f}, {x['cpu_s']:.2f}"
                                                              for x in r["reads"])}
        shown = "; ".join(f"{k} {v:,.1f}" if isinstance(v, float) else f"{k} {v}" for k, v in detail.items())
        rss = r.get("peak_rss_mb")
        cpu = r.get("cpu_s")
        lines.append(f"| {r['store']} | {step} | {'' if seconds is None else f'{seconds:,.2f}'} | "
                     f"{'' if cpu is None else f'{cpu:,.2f}'} | "
                     f"{'' if target is None else f'{target:,.0f}'} | {met} | {'' if rss is None else f'{rss:,.0f}'} | "
                     f"{shown} |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, default=10, help="the city's simulated years")
    parser.add_argument("--scale", type=float, default=1.0, help="the city's share of Copenhagen")
    parser.add_argument("--cache-dir", default=None, help="where the simulated city is kept")
    parser.add_argument("--stores", default="sqlite,postgresql", help="which stores to measure on")
    parser.add_argument("--only", default="fairness,budget,as_of,counterfactual", help="which measurements")
    parser.add_argument("--vs", default=OTHER_POLICY, help="the counterfactual's other policy")
    parser.add_argument("--scenario", default=SCENARIO, help="the budget audit's scenario")
    parser.add_argument("--counterfactual-limit", type=float, default=1500.0,
                        help="seconds after which the counterfactual is stopped and its progress reported")
    parser.add_argument("--ledger", default=None,
                        help="a SQLite ledger to measure instead of the cached city (copied first: it may be "
                             "one still being written, e.g. the city's .partial.db while it is simulated)")
    parser.add_argument("--until", type=int, default=None, help="measure the first N events of the history only")
    parser.add_argument("--checkpoint-every", type=int, default=CHECKPOINT_EVERY)
    parser.add_argument("--log", default=None, help="JSON-lines file the figures are appended to "
                                                    "(default: bench/.cache/audits-DATE-TIME.jsonl)")
    parser.add_argument("--one", choices=sorted(ONE), help=argparse.SUPPRESS)
    parser.add_argument("--database", help=argparse.SUPPRESS)
    parser.add_argument("--args", default="[]", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(ONE[args.one](args.database, *json.loads(args.args)), default=str))
        return
    log = Log(Path(args.log) if args.log else Path(__file__).parent / ".cache"
              / f"audits-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    stores = args.stores.split(",")
    pg = os.environ.get("PLADS_TEST_DATABASE_URL")
    if "postgresql" in stores and not pg:
        raise SystemExit("bench: --stores postgresql needs PLADS_TEST_DATABASE_URL (run it with `make bench`)")
    workdir = tempfile.TemporaryDirectory(prefix="audits-bench-")
    source = snapshot(args.ledger, Path(workdir.name)) if args.ledger else city(args.years, args.scale,
                                                                                cache_dir=args.cache_dir)
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"date {time.strftime('%Y-%m-%d')}, commit {commit}, {os.cpu_count()} cores, load average "
          f"{' / '.join(f'{x:.1f}' for x in os.getloadavg())}, {_cpu_pressure()}; "
          + ("the ledger" if args.ledger else f"the city: {args.years:g} years at scale {args.scale:g}")
          + f", {source.events:,} events, last recorded {source.last_recorded:%Y-%m-%d}" + (f", the first {args.until:,} of them" if args.until else "")
          + (f" (from {args.ledger})" if args.ledger else "") + "\n", flush=True)
    only = set(args.only.split(","))
    results = []
    with ExitStack() as cleanup:
        for store in stores:
            if store == "sqlite":
                url = f"sqlite:///{cleanup.enter_context(tempfile.TemporaryDirectory())}/audits.db"
            else:
                schema = f"bench_audits_{uuid.uuid4().hex[:8]}"
                url = f"{pg}{'&' if '?' in pg else '?'}schema={schema}"
                cleanup.callback(_drop_schema, pg, schema)
            results += measure(url, source, only, args.vs, args.scenario, args.counterfactual_limit,
                               args.checkpoint_every, log, args.until)
    print(f"\nload average after the run {' / '.join(f'{x:.1f}' for x in os.getloadavg())}; {_cpu_pressure()}")
    if log.path is not None:
        print(f"(the figures are also in {log.path})")
    print("\n".join(table(results)))


def _cpu_pressure() -> str:
    """How much of the last 5 minutes some runnable process waited for a core (Linux PSI): on a
    shared machine, why the wall-clock seconds exceed the CPU seconds."""
    try:
        some = Path("/proc/pressure/cpu").read_text().split("\n")[0]
        return f"CPU pressure {float(some.split('avg300=')[1].split()[0]):.0f} % (5 min)"
    except (OSError, IndexError, ValueError):
        return "CPU pressure unknown"


def _drop_schema(pg: str, schema: str) -> None:
    import psycopg

    with psycopg.connect(pg, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


if __name__ == "__main__":
    main()
