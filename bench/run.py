"""`make bench`: read-side throughput on SQLite and PostgreSQL, as ratios from one run.

For each store: build a synthetic history through the bulk path, then measure
- raw floor: read the events table and decode the JSON (no domain objects);
- rebuild: all views from position 0 into fresh tables, swapped in;
- catch-up: the live projector from 0, committing the position with every page.
Prints a Markdown table for BENCHMARKS.md. Size: --children (default 5,000 ≈ 28k events).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid

sys.path.insert(0, os.path.dirname(__file__))

from commands import booking_latency, booking_rate  # noqa: E402
from growth import measure as measure_growth  # noqa: E402
from history import build_history  # noqa: E402

from projections import Projector, all_views, open_store, rebuild, verify  # noqa: E402


def raw_floor(ledger) -> tuple[int, float]:
    """SELECT every stored event and decode its JSON; nothing else."""
    cfg = ledger.store
    started = time.perf_counter()
    n = 0
    if cfg.kind == "sqlite":
        import sqlite3

        conn = sqlite3.connect(cfg.sqlite_path)
        for (state,) in conn.execute("SELECT state FROM stored_events ORDER BY rowid"):
            json.loads(state)
            n += 1
        conn.close()
    else:
        import psycopg

        with psycopg.connect(cfg.postgres_conninfo) as conn, conn.cursor(name="floor") as cur:
            cur.itersize = 20_000
            cur.execute(f'SELECT state FROM "{cfg.schema or "public"}".ledger_events ORDER BY notification_id')
            for (state,) in cur:
                json.loads(bytes(state))
                n += 1
    return n, time.perf_counter() - started


def measure(url: str, children: int, stock_seconds: float = 15.0, commands: int = 300) -> dict:
    started = time.perf_counter()
    ledger = build_history(url, children=children, institutions=max(12, children // 125))
    write_s = time.perf_counter() - started
    events = ledger.max_position()
    n, floor_s = raw_floor(ledger)
    started = time.perf_counter()
    rebuild(ledger, all_views())
    rebuild_s = time.perf_counter() - started
    drifts = verify(ledger, all_views())  # the rebuilt views must equal a second, independent fold
    if drifts:
        raise SystemExit(f"verify found drift after the rebuild: {[d.table for d in drifts]}")
    views = all_views()
    store = open_store(ledger)
    store.reset("views", [t for v in views for t in v.tables])
    store.close()
    projector = Projector(ledger, views)
    started = time.perf_counter()
    projector.catch_up()
    catch_s = time.perf_counter() - started
    projector.close()
    # Commands on the full history, and sequential latency on a tenth of it (a fresh ledger).
    sequential = booking_latency(ledger, n=commands, tag="full")
    threaded = booking_rate(ledger, n=commands * 2, threads=8, tag="threads")
    small_url = url.replace("bench.db", "bench-small.db") if url.startswith("sqlite") else url + "_small"
    small = build_history(small_url, children=max(10, children // 10), institutions=12)
    small_events = small.max_position()
    small_latency = booking_latency(small, n=commands, tag="small")
    small.close()
    growth = measure_growth(url)
    stock = None
    if url.startswith("postgresql"):
        from stock_runner import stock_runner_rate

        stock = stock_runner_rate(ledger, seconds=stock_seconds)[1]
    ledger.close()
    floor = n / floor_s
    return {"store": url.split(":", 1)[0], "events": events, "write_eps": events / write_s, "floor_eps": floor,
            "rebuild_eps": events / rebuild_s, "rebuild_ratio": (events / rebuild_s) / floor,
            "catch_up_eps": events / catch_s, "stock_eps": stock, "sequential": sequential, "threaded": threaded,
            "small_latency": small_latency, "small_events": small_events, "growth": growth}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=5_000)
    parser.add_argument("--stock-seconds", type=float, default=15.0, help="how long the stock runner runs")
    parser.add_argument("--commands", type=int, default=300, help="bookings per command measurement")
    args = parser.parse_args()
    urls = [f"sqlite:///{tempfile.mkdtemp()}/bench.db"]
    pg = os.environ.get("PLADS_TEST_DATABASE_URL")
    if pg:
        urls.append(f"{pg}{'&' if '?' in pg else '?'}schema=bench_{uuid.uuid4().hex[:8]}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    print(f"date {time.strftime('%Y-%m-%d')}, commit {commit}, {os.cpu_count()} cores, "
          f"{platform.python_implementation()} {platform.python_version()}, children {args.children}")
    print("| store | events | bulk write ev/s | raw floor ev/s | rebuild ev/s | rebuild ÷ floor | catch-up ev/s "
          "| stock ProjectionRunner ev/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    results = []
    for url in urls:
        r = measure(url, args.children, args.stock_seconds, args.commands)
        results.append(r)
        stock = f"{r['stock_eps']:,.0f}" if r["stock_eps"] is not None else "n/a (cannot subscribe)"
        print(f"| {r['store']} | {r['events']:,} | {r['write_eps']:,.0f} | {r['floor_eps']:,.0f} | "
              f"{r['rebuild_eps']:,.0f} | {r['rebuild_ratio']:.2f} | {r['catch_up_eps']:,.0f} | {stock} |")
        if url.startswith("postgresql"):
            import psycopg

            schema = url.rsplit("schema=", 1)[1]
            with psycopg.connect(pg, autocommit=True) as conn:
                conn.execute(f'DROP SCHEMA "{schema}" CASCADE')
                conn.execute(f'DROP SCHEMA "{schema}_small" CASCADE')
    print()
    print("| store | rebuild time per event, 100 % ÷ 25 % of the history | peak RSS at 25 / 50 / 100 % (MB) |")
    print("|---|---:|---:|")
    for r in results:
        g = r["growth"]
        ratio = (g[-1]["seconds"] / g[-1]["events"]) / (g[0]["seconds"] / g[0]["events"])
        rss = " / ".join(f"{x['peak_rss_mb']:,.0f}" for x in g)
        print(f"| {r['store']} | {ratio:.2f} | {rss} |")
    print()
    print("| store | bookings/s, 1 thread | p50 / p99 ms | bookings/s, 8 threads | p50 / p99 ms "
          "| p50 / p99 ms at 10 % of the history (events) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        s, t, m = r["sequential"], r["threaded"], r["small_latency"]
        print(f"| {r['store']} | {s['rate']:,.0f} | {s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {t['rate']:,.0f} | "
              f"{t['p50_ms']:.1f} / {t['p99_ms']:.1f} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} "
              f"({r['small_events']:,} vs {r['events']:,}) |")


if __name__ == "__main__":
    main()
