"""The billing views' follower on a simulated city: its start, its memory and a rebuild's CPU.

On a copy of a simulated ledger (`plads simulate`, every month's statements issued): the billing
views (Billing and the budget linked to it) rebuilt in one process up to a share of the log, then
a follower started on them (its working state read back) that catches up the rest, page by page.
Each step runs in a process of its own, so its peak RSS (VmHWM) is its own. Run it with another
checkout's `src` first on PYTHONPATH to measure that code on the same ledger.

    python bench/follower_state.py --ledger sqlite:///city.db --share 0.9
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


def _views(every: bool) -> list:
    from projections import all_views, billing_views

    return all_views() if every else billing_views()


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


def _follow(url: str, bound: int | None, every: bool) -> dict:
    from ledger import Ledger
    from projections import Billing, Projector
    from projections.rebuilding import peak_rss_mb, rss_mb

    views = _views(every)
    billing = next(v for v in views if isinstance(v, Billing))
    if bound is not None:
        billing.cache_bound = bound  # this code: households held beyond the page's
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
    parser.add_argument("--step", choices=("rebuild", "follow"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.step == "rebuild":
        print(json.dumps(_rebuild(args.ledger, args.share, args.all)))
        return
    if args.step == "follow":
        print(json.dumps(_follow(args.ledger, args.bound, args.all)))
        return
    if args.postgres:
        print(json.dumps(_on_postgres(args), indent=1))
        return
    source = args.ledger.removeprefix("sqlite:///")
    with tempfile.TemporaryDirectory(prefix="plads-bench-") as tmp:
        rebuilt = args.keep or os.path.join(tmp, "rebuilt.db")
        out = {}
        for step in args.steps.split(","):
            # The rebuild writes its views into a copy of the ledger; each follower starts on a copy of that.
            target = rebuilt if step == "rebuild" else os.path.join(tmp, "follow.db")
            _copy(source if step == "rebuild" else rebuilt, target)
            extra = ["--bound", str(args.bound)] if args.bound is not None and step == "follow" else []
            extra += ["--all"] if args.all else []
            done = subprocess.run([sys.executable, __file__, "--ledger", f"sqlite:///{target}", "--share",
                                   str(args.share), "--step", step, *extra], check=True, capture_output=True, text=True)
            out.update(json.loads(done.stdout.strip().splitlines()[-1]))
        print(json.dumps(out, indent=1))


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
        for step in args.steps.split(","):
            extra = ["--bound", str(args.bound)] if args.bound is not None and step == "follow" else []
            extra += ["--all"] if args.all else []
            done = subprocess.run([sys.executable, __file__, "--ledger", url, "--share", str(args.share), "--step", step,
                                   *extra], check=True, capture_output=True, text=True)
            out.update(json.loads(done.stdout.strip().splitlines()[-1]))
        return out


def _copy(source: str, target: str) -> None:
    """A SQLite ledger and its person keys (ledger.keystore: `<file>.keys`)."""
    with sqlite3.connect(source) as a, sqlite3.connect(target) as b:
        a.backup(b)  # consistent even with a write-ahead log beside it
    if os.path.exists(source + ".keys"):
        shutil.copy(source + ".keys", target + ".keys")


if __name__ == "__main__":
    main()
