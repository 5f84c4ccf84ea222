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
import time
import uuid
from contextlib import ExitStack
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

from city import City, _last_recorded, city, copy_to  # noqa: E402
from audit_steps import CHECKPOINT_EVERY, ONE, OTHER_POLICY, SCENARIO, TARGETS, view_groups  # noqa: E402


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
