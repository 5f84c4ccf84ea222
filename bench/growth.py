"""Rebuild growth and memory: fold all views over the first 25 %, 50 % and 100 % of a history.

Each fold runs in its own process, so its peak RSS is the fold's own (VmHWM of the child).
Linear growth means time(100 %) ≈ 4 × time(25 %); memory should stay well under 1 GB.

    python bench/growth.py --database URL        # prints a Markdown table
    python bench/growth.py --database URL --rebuild 2   # the whole rebuild in 2 processes: time, peaks
    python bench/growth.py --database URL --catch-up    # rebuild 90 %, then time a follower over the rest
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from typing import Iterator


def fold(database_url: str, fraction: float) -> dict:
    from ledger import Ledger
    from projections import all_views, open_store
    from projections.rebuilding import fold_into, peak_rss_mb

    with Ledger(database_url) as ledger:
        until = int(ledger.max_position() * fraction)
        store = open_store(ledger)
        views = all_views()
        started = time.perf_counter()
        fold_into(ledger, views, store, "growth_", until=until)
        seconds = time.perf_counter() - started
        tables = [t for v in views for t in v.tables]
        # What the fold wrote: billing's rows grow with the children in care, not with the events.
        rows = sum(store.query(f"SELECT count(*) FROM growth_{t.name}")[0][0] for t in tables)
        store.drop(tables, "growth_")
        store.close()
    return {"fraction": fraction, "events": until, "seconds": seconds, "rows": rows,
            "peak_rss_mb": peak_rss_mb()}


def rebuild_peaks(database_url: str, workers: int) -> dict:
    """A rebuild of every view over the whole log (into fresh tables, swapped in) in `workers`
    processes: its time and each process's peak RSS."""
    from ledger import Ledger
    from projections import all_views, rebuild, rebuilding

    with Ledger(database_url) as ledger:
        events = ledger.max_position()
        started = time.perf_counter()
        rebuild(ledger, all_views(), workers=workers)
        seconds = time.perf_counter() - started
    return {"events": events, "seconds": seconds, "peak_rss_mb": list(rebuilding.last_worker_peaks)}


def catch_up(database_url: str, share: float = 0.1) -> dict:
    """Rebuild all but the last `share` of the log (one process), then time a live projector
    catching up that share, committing every page (its start — loading working state — apart)."""
    from ledger import Ledger
    from projections import Projector, all_views, rebuild

    with Ledger(database_url) as ledger:
        events = ledger.max_position()
        rebuilt = int(events * (1 - share))
        rebuild(ledger, all_views(), until=rebuilt, workers=1)
        projector = Projector(ledger, all_views())
        started = time.perf_counter()
        projector.catch_up()
        seconds = time.perf_counter() - started
        projector.close()
    return {"events": events - rebuilt, "seconds": seconds}


def measure(database_url: str, fractions=(0.25, 0.5, 1.0)) -> Iterator[dict]:
    """Each fold's figures as soon as it is done."""
    for f in fractions:
        run = subprocess.run([sys.executable, __file__, "--database", database_url, "--one", str(f)],
                             capture_output=True, text=True, timeout=3600)
        if run.returncode != 0:
            raise SystemExit(f"growth fold failed: {run.stderr[-1000:]}")
        yield json.loads(run.stdout)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database", required=True)
    parser.add_argument("--one", type=float, help=argparse.SUPPRESS)
    parser.add_argument("--rebuild", type=int, metavar="WORKERS", help="rebuild the whole log in WORKERS processes")
    parser.add_argument("--catch-up", action="store_true", help="rebuild 90 %% of the log, time catching up the rest")
    args = parser.parse_args()
    if args.catch_up:
        r = catch_up(args.database)
        print(f"caught up {r['events']:,} events in {r['seconds']:.1f} s: {r['events'] / r['seconds']:,.0f} events/s")
        return
    if args.rebuild:
        r = rebuild_peaks(args.database, args.rebuild)
        peaks = " + ".join(f"{p:,.0f}" for p in r["peak_rss_mb"]) or "one process"
        print(f"rebuild of {r['events']:,} events in {args.rebuild} process(es): {r['seconds']:.1f} s, "
              f"{r['events'] / r['seconds']:,.0f} events/s, peak RSS {peaks} MB")
        return
    if args.one:
        print(json.dumps(fold(args.database, args.one)))
        return
    rows = list(measure(args.database))
    print("| share of the history | events | rebuild s | events/s | peak RSS MB |")
    print("|---:|---:|---:|---:|---:|")
    for r in rows:
        print(f"| {r['fraction']:.0%} | {r['events']:,} | {r['seconds']:.1f} | {r['events'] / r['seconds']:,.0f} | "
              f"{r['peak_rss_mb']:,.0f} |")
    base = rows[0]["seconds"] / rows[0]["events"]
    print(f"\ntime per event at 100 % ÷ at 25 %: {rows[-1]['seconds'] / rows[-1]['events'] / base:.2f} (1.00 = linear)")


if __name__ == "__main__":
    main()
