"""The billing views' follower on a simulated city: its start, its memory and a rebuild's CPU.

On a copy of a simulated ledger (`plads simulate`, every month's statements issued): the billing
views (Billing and the budget linked to it) rebuilt in one process up to a share of the log, then
a follower started on them (its working state read back) that catches up the rest, page by page.
Each step runs in a process of its own, so its peak RSS (VmHWM) is its own. Run it with another
checkout's `src` first on PYTHONPATH to measure that code on the same ledger. `--per-view`: every
view rebuilt, then one follower per view (billing with its budget) and one of them all, each
started on its own copy of the rebuilt views.

    python bench/follower_state.py --ledger sqlite:///city.db --share 0.9 [--all | --per-view]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time


def _cpu() -> float:
    t = os.times()
    return t.user + t.system


# A follower of one view per --per-view step (billing with the budget it feeds), then all of them.
PER_VIEW = ("occupancy", "timeline", "billing", "waitinglists", "forecast", "all")


def _views(every: bool, only: str | None = None) -> list:
    from projections import all_views, billing_views

    if only == "billing" or not (every or only):
        return billing_views()
    views = all_views()
    return views if only in (None, "all") else [v for v in views if v.name == only]


def _rebuild(url: str, share: float, every: bool) -> dict:
    from ledger import Ledger
    from projections import rebuild
    from projections.rebuilding import peak_rss_mb

    with Ledger(url) as ledger:
        until = int(ledger.max_position() * share)
        cpu, wall = _cpu(), time.monotonic()
        rebuild(ledger, _views(every), workers=1, until=until)
        return {"events": until, "rebuild_cpu_s": round(_cpu() - cpu, 1),
                "rebuild_wall_s": round(time.monotonic() - wall, 1), "rebuild_peak_mb": round(peak_rss_mb())}


def _follow(url: str, bound: int | None, every: bool, only: str | None = None) -> dict:
    from ledger import Ledger
    from projections import Billing, Projector
    from projections.rebuilding import peak_rss_mb, rss_mb

    views = _views(every, only)
    billing = next((v for v in views if isinstance(v, Billing)), None)
    if bound is not None:
        for v in views:
            if hasattr(v, "cache_bound"):
                v.cache_bound = bound  # this code: owners (households, children, ...) held beyond the page's
    with Ledger(url) as ledger:
        before = rss_mb()
        cpu, wall = _cpu(), time.monotonic()
        projector = Projector(ledger, views)
        start = {"start_cpu_s": round(_cpu() - cpu, 2), "start_wall_s": round(time.monotonic() - wall, 2),
                 "rss_before_mb": round(before or 0), "rss_after_start_mb": round(rss_mb() or 0)}
        position = projector.position
        cpu, wall = _cpu(), time.monotonic()
        projector.catch_up()
        caught = {"caught_up_events": projector.position - position, "catch_up_cpu_s": round(_cpu() - cpu, 1),
                  "catch_up_wall_s": round(time.monotonic() - wall, 1), "rss_after_catch_up_mb": round(rss_mb() or 0),
                  "follower_peak_mb": round(peak_rss_mb())}
        held = getattr(billing, "held", None)
        if held is not None:
            caught["households_held"] = len(held.held)
        projector.close()
        return {**start, **caught}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ledger", required=True, help="a SQLite ledger URL (copied; the copy gets the views)")
    parser.add_argument("--share", type=float, default=0.9, help="rebuild to this share of the log, follow the rest")
    parser.add_argument("--bound", type=int, help="households the follower holds (this code; default its own)")
    parser.add_argument("--steps", default="rebuild,follow", help="rebuild (to the share), follow (the rest)")
    parser.add_argument("--keep", help="the rebuilt copy (a file): kept, so `--steps follow` can start on it again")
    parser.add_argument("--postgres", action="store_true", help="copy the ledger into a scratch PostgreSQL schema")
    parser.add_argument("--all", action="store_true", help="every view (default: billing and its budget)")
    parser.add_argument("--per-view", action="store_true", help="every view rebuilt, then a follower per view")
    parser.add_argument("--step", choices=("rebuild", "follow"), help=argparse.SUPPRESS)
    parser.add_argument("--only", choices=PER_VIEW, help=argparse.SUPPRESS)
    args = parser.parse_args()
    args.all = args.all or args.per_view
    if args.step == "rebuild":
        print(json.dumps(_rebuild(args.ledger, args.share, args.all)))
        return
    if args.step == "follow":
        print(json.dumps(_follow(args.ledger, args.bound, args.all, args.only)))
        return
    if args.postgres:
        if args.per_view:  # one schema: the first follower's position would be the next one's start
            parser.error("--per-view runs on SQLite copies only")
        print(json.dumps(_on_postgres(args), indent=1))
        return
    source = args.ledger.removeprefix("sqlite:///")
    with tempfile.TemporaryDirectory(prefix="plads-bench-") as tmp:
        rebuilt = args.keep or os.path.join(tmp, "rebuilt.db")
        out: dict = {}
        for step, only in _steps(args):
            # The rebuild writes its views into a copy of the ledger; each follower starts on a copy of that.
            target = rebuilt if step == "rebuild" else os.path.join(tmp, "follow.db")
            _copy(source if step == "rebuild" else rebuilt, target)
            extra = ["--bound", str(args.bound)] if args.bound is not None and step == "follow" else []
            extra += ["--all"] if args.all else []
            extra += ["--only", only] if only else []
            done = subprocess.run([sys.executable, __file__, "--ledger", f"sqlite:///{target}", "--share",
                                   str(args.share), "--step", step, *extra], check=True, capture_output=True, text=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            if only:
                out[only] = figures
            else:
                out.update(figures)
            print(json.dumps({only or step: figures}), file=sys.stderr, flush=True)  # progress
        print(json.dumps(out, indent=1))


def _steps(args: argparse.Namespace) -> list[tuple[str, str | None]]:
    """(step, the view a follower runs alone, if one) in order."""
    out: list[tuple[str, str | None]] = []
    for step in args.steps.split(","):
        out += [(step, only) for only in PER_VIEW] if step == "follow" and args.per_view else [(step, None)]
    return out


def _on_postgres(args: argparse.Namespace) -> dict:
    """The ledger copied into a scratch PostgreSQL schema (PLADS_TEST_DATABASE_URL), rebuilt and
    followed there once."""
    sys.path.insert(0, os.path.dirname(__file__))
    from pathlib import Path

    from city import City, copy_to  # noqa: E402
    from scratch import scratch_database  # noqa: E402

    source = Path(args.ledger.removeprefix("sqlite:///"))
    events = sqlite3.connect(f"file:{source}?mode=ro", uri=True).execute("SELECT MAX(rowid) FROM stored_events")
    with scratch_database("follower", "postgresql") as url:
        copy_to(City(source, events.fetchone()[0], None, {}), url)  # type: ignore[arg-type]
        out: dict = {}
        for step, only in _steps(args):
            extra = ["--bound", str(args.bound)] if args.bound is not None and step == "follow" else []
            extra += ["--all"] if args.all else []
            extra += ["--only", only] if only else []
            done = subprocess.run([sys.executable, __file__, "--ledger", url, "--share", str(args.share), "--step", step,
                                   *extra], check=True, capture_output=True, text=True)
            figures = json.loads(done.stdout.strip().splitlines()[-1])
            out.update({only: figures} if only else figures)
        return out


def _copy(source: str, target: str) -> None:
    """A SQLite ledger and its person keys (ledger.keystore: `<file>.keys`)."""
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)  # consistent even with a write-ahead log beside it
    if os.path.exists(source + ".keys"):
        shutil.copy(source + ".keys", target + ".keys")


if __name__ == "__main__":
    main()
