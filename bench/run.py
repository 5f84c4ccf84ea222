"""`make bench`: the read side, commands and memory on SQLite and PostgreSQL, as ratios from one run.

The history (default): the synthetic Copenhagen (`bench/city.py`: 10 years of the whole city
through the real commands, simulated once and cached), copied into each store. `--history
synthetic --children N` uses `bench/history.py`'s smaller mix instead (written through the bulk
path; its write rate is reported). For each store:
- raw floor: read the events table and decode the JSON (no domain objects);
- rebuild: all views from position 0 to 90 % of the log into fresh tables, swapped in — one
  process per core (the growth columns are one-process folds);
- catch-up: then the live projector over the last 10 %, committing the position with every
  page (loading its working state is timed apart);
- write floor (PostgreSQL): the rows the rebuild wrote, COPYed alone into empty twins of their
  tables (`bench/write_floor.py`) — the fastest any rebuild writing these rows could be;
- verify: the views against a second, independent fold (no drift allowed; --no-verify skips it);
- commands: bookings through the application, sequential and 8 threads, and sequential
  latency on the first 10 % of the history (snapshots: it must not grow with the history), each
  after a CHECKPOINT, so that the server is not still writing out the rebuild and verify;
- growth and memory: one-process folds of 25 %, 50 %, 100 % of the log, each in its own
  process (peak RSS);
- API: `plads serve` on loopback under 1, 8 and 32 concurrent clients in a closed loop, and 32 users
  who think 1 s between requests (`bench/api_load.py`: a load generator in its own process, bounded
  in time), on a fresh ledger of the same store;
- PostgreSQL only: eventsourcing's stock ProjectionRunner on the same history, for comparison.
Every figure is printed as soon as it is measured and appended to a JSON-lines log (`--log`), so
a run stopped late keeps what it measured; the Markdown tables for BENCHMARKS.md come at the end.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

sys.path.insert(0, os.path.dirname(__file__))

import api_load  # noqa: E402
from city import city, copy_to  # noqa: E402
from commands import booking_latency, booking_rate  # noqa: E402
from growth import measure as measure_growth  # noqa: E402
from history import build_history  # noqa: E402
from write_floor import copy_floor  # noqa: E402

from projections import Projector, all_views, rebuild, verify  # noqa: E402
from projections import rebuilding  # noqa: E402


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


class Log:
    """Figures as they are measured: one line on stdout and one JSON line in the log file."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        if path is not None:
            path.parent.mkdir(parents=True, exist_ok=True)

    def __call__(self, store: str, step: str, **figures) -> None:
        shown = ", ".join(f"{k} {_shown(v)}" for k, v in figures.items())
        print(f"[{time.strftime('%H:%M:%S')} {store}] {step}: {shown}", flush=True)
        if self.path is not None:
            with self.path.open("a") as f:
                f.write(json.dumps({"at": time.strftime("%Y-%m-%dT%H:%M:%S"), "store": store, "step": step,
                                    **figures}, default=str) + "\n")


def _shown(value) -> str:
    if isinstance(value, float):
        return f"{value:,.1f}" if abs(value) >= 1 else f"{value:.3g}"  # 0.05 of the history, not 0.1
    return str(value)


def _sibling(url: str, name: str) -> str:
    """Another database of the same store: a file beside the SQLite one, or a schema beside the PostgreSQL one."""
    return url.replace("bench.db", f"bench-{name}.db") if url.startswith("sqlite") else f"{url}_{name}"


def measure(url: str, source, stock_seconds: float = 15.0, commands: int = 300, verify_rebuild: bool = True,
            children: int = 5_000, fractions: tuple[float, ...] = (0.25, 0.5, 1.0), log: Log = Log(None),
            api_seconds: float = 30.0,
            api_levels: tuple[tuple[int, float], ...] = ((1, 0), (8, 0), (32, 0), (32, 1000)),
            api_children: int = 4_000) -> dict:
    """`source`: a cached city (bench/city.py) to copy in, or None for bench/history.py's history."""
    from ledger import Ledger, SimulatedClock

    store = url.split(":", 1)[0]

    def note(step: str, **figures) -> None:
        log(store, step, **figures)

    small_url = _sibling(url, "small")
    started = time.perf_counter()
    if source is not None:
        copy_to(source, url)
        ledger = Ledger(url, clock=SimulatedClock(source.day_after()))
        write_label = "copied"
    else:
        ledger = build_history(url, children=children, institutions=max(12, children // 125))
        write_label = "bulk write"
    write_s = time.perf_counter() - started
    events = ledger.max_position()
    note("history", events=events, how=write_label, seconds=write_s)
    n, floor_s = raw_floor(ledger)
    note("raw floor", events=n, seconds=floor_s, events_per_s=n / floor_s)
    # The rebuild folds the first 90 % of the log; a follower then catches up the last 10 %,
    # committing every page (one rebuild serves both measurements).
    rebuilt = int(events * 0.9)
    behind = events - rebuilt
    started = time.perf_counter()
    rebuild(ledger, all_views(), until=rebuilt)
    rebuild_s = time.perf_counter() - started
    worker_peaks = list(rebuilding.last_worker_peaks)
    note("rebuild (first 90 %)", events=rebuilt, seconds=rebuild_s, events_per_s=rebuilt / rebuild_s,
         ratio_to_floor=(rebuilt / rebuild_s) / (n / floor_s), peak_rss_mb=worker_peaks)
    # The write floor: the rebuilt rows alone, COPYed into empty twins of their tables (PostgreSQL).
    wrote = copy_floor(url, [t for v in all_views() for t in v.tables]) if url.startswith("postgresql") else None
    if wrote:
        note("write floor", rows=wrote["rows"], rows_per_event=wrote["rows"] / rebuilt, mb=wrote["mb"],
             seconds=wrote["seconds"], fastest_rebuild_events_per_s=rebuilt / wrote["seconds"])
        settle(url)  # its 4 GB (at city scale) written out before the catch-up is timed
    # The follower: starts on the rebuilt views (its working state; derived rows stay in the store)
    # and catches up the last 10 %, committing every page.
    rss_before = rebuilding.rss_mb()
    started = time.perf_counter()
    projector = Projector(ledger, all_views())
    load_s = time.perf_counter() - started
    rss_loaded = rebuilding.rss_mb()
    started = time.perf_counter()
    projector.catch_up()
    catch_s = time.perf_counter() - started
    rss_caught_up = rebuilding.rss_mb()
    projector.close()
    del projector  # its working state (GBs on the city) must not sit under the command measurements
    gc.unfreeze()  # the projector froze its loaded state out of the collector's sight
    gc.collect()
    note("follower", start_s=load_s, catch_up_events=behind, catch_up_s=catch_s,
         events_per_s=behind / catch_s if catch_s else None, rss_mb=(rss_before, rss_loaded, rss_caught_up))
    verify_s = None
    if verify_rebuild:
        started = time.perf_counter()
        drifts = verify(ledger, all_views())  # rebuild + catch-up must equal a second, independent fold
        verify_s = time.perf_counter() - started
        note("verify", seconds=verify_s, drifted_tables=[d.table for d in drifts])
        if drifts:
            raise SystemExit(f"verify found drift after the rebuild and catch-up: "
                             f"{[(d.table, d.counts) for d in drifts]}")
    # Commands on the full history, and sequential latency on a tenth of it (a fresh ledger) —
    # on a settled server: without a checkpoint PostgreSQL is still writing out the rebuild and
    # verify (GBs at city scale), and each booking's commit queues behind that I/O.
    settle(url)
    sequential = booking_latency(ledger, n=commands, tag="full")
    note("bookings, 1 thread", **sequential)
    threaded = booking_rate(ledger, n=commands * 2, threads=8, tag="threads")
    note("bookings, 8 threads", **threaded)
    if source is not None:
        small_events = copy_to(source, small_url, until=events // 10)
        small = Ledger(small_url, clock=SimulatedClock(source.day_after()))
    else:
        small = build_history(small_url, children=max(10, children // 10), institutions=12)
        small_events = small.max_position()
    settle(url)
    small_latency = booking_latency(small, n=commands, tag="small")
    small.close()
    note("bookings at 10 % of the history", events=small_events, **small_latency)
    stock = None
    if url.startswith("postgresql"):
        from stock_runner import stock_runner_rate

        stock = stock_runner_rate(ledger, seconds=stock_seconds)[1]
        note("stock ProjectionRunner", events_per_s=stock)
    ledger.close()
    api = []
    if api_levels:
        for level in api_load.run(_sibling(url, "api"), api_seconds, list(api_levels), api_children):
            note(f"HTTP, clients: {api_load.level_name(level)}", **level)
            api.append(level)
    growth = []
    for g in measure_growth(url, fractions):
        note(f"one-process fold of {g['events']:,} events", **g)
        growth.append(g)
    floor = n / floor_s
    return {"store": url.split(":", 1)[0], "events": events, "write_label": write_label, "write_s": write_s,
            "floor_eps": floor, "rebuild_eps": rebuilt / rebuild_s, "rebuild_ratio": (rebuilt / rebuild_s) / floor,
            "rebuild_s": rebuild_s, "worker_peaks": worker_peaks, "verify_s": verify_s, "wrote": wrote,
            "rebuilt": rebuilt,
            "catch_up_eps": behind / catch_s if catch_s else None, "catch_up_events": behind, "load_s": load_s,
            "follower_rss_mb": (rss_before, rss_loaded, rss_caught_up),
            "stock_eps": stock, "sequential": sequential, "threaded": threaded,
            "small_latency": small_latency, "small_events": small_events, "growth": growth,
            "growth_fractions": fractions, "api": api}


def settle(url: str) -> None:
    """Let PostgreSQL write out what earlier steps left in its buffers (CHECKPOINT), so that
    command latencies measure the commands; a role that may not checkpoint measures without."""
    if not url.startswith("postgresql"):
        return
    import psycopg

    from ledger.storage import parse_database_url

    try:
        with psycopg.connect(parse_database_url(url).postgres_conninfo, autocommit=True) as conn:
            conn.execute("CHECKPOINT")
    except psycopg.errors.InsufficientPrivilege:
        print("bench: not allowed to CHECKPOINT; command latencies may include the server's write-out",
              file=sys.stderr)


def _num(value, otherwise: str, fmt: str = ",.0f") -> str:
    return otherwise if value is None else format(value, fmt)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--history", choices=("city", "synthetic"), default="city")
    parser.add_argument("--years", type=float, default=10, help="city: simulated years")
    parser.add_argument("--scale", type=float, default=1.0, help="city: share of Copenhagen")
    parser.add_argument("--cache-dir", default=None, help="city: where the simulated city is kept")
    parser.add_argument("--children", type=int, default=5_000, help="synthetic: children in the history")
    parser.add_argument("--stock-seconds", type=float, default=15.0, help="how long the stock runner runs")
    parser.add_argument("--commands", type=int, default=300, help="bookings per command measurement")
    parser.add_argument("--no-verify", action="store_true", help="skip the verify fold after the rebuild")
    parser.add_argument("--stores", default="sqlite,postgresql", help="which stores to measure")
    parser.add_argument("--growth", default="0.25,0.5,1", help="shares of the history the one-process folds take")
    parser.add_argument("--api-seconds", type=float, default=30.0,
                        help="how long each API load level runs (30 s: some 900 requests for the p99 of 32 "
                             "users who think 1 s)")
    parser.add_argument("--api-levels", default="1,8,32,32@1000",
                        help="concurrent HTTP clients per level, N (closed loop) or N@THINK_MS ('' skips the API)")
    parser.add_argument("--api-children", type=int, default=4_000, help="children seeded per API level")
    parser.add_argument("--log", default=None, help="JSON-lines file the figures are appended to as they are "
                                                    "measured (default: bench/.cache/run-DATE-TIME.jsonl)")
    args = parser.parse_args()
    log = Log(Path(args.log) if args.log else Path(__file__).parent / ".cache" / f"run-{time.strftime('%Y%m%d-%H%M%S')}.jsonl")
    api_levels = tuple(api_load.parse_levels(args.api_levels))
    stores = args.stores.split(",")
    urls = [f"sqlite:///{tempfile.mkdtemp()}/bench.db"] if "sqlite" in stores else []
    pg = os.environ.get("PLADS_TEST_DATABASE_URL")
    if "postgresql" in stores and not pg:
        # (`make bench` sets it: scripts/with-postgres finds or starts a server)
        raise SystemExit("bench: --stores postgresql needs PLADS_TEST_DATABASE_URL (run it with `make bench`)")
    source = city(args.years, args.scale, cache_dir=args.cache_dir) if args.history == "city" else None
    if pg and "postgresql" in stores:
        urls.append(f"{pg}{'&' if '?' in pg else '?'}schema=bench_{uuid.uuid4().hex[:8]}")
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                           text=True).stdout.strip()
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    what = (f"the synthetic city, {args.years:g} years at scale {args.scale:g} ({source.events:,} events, "
            f"simulated in {source.meta['simulated_seconds']:,} s on commit {source.meta['commit']})"
            if source else f"bench/history.py, {args.children:,} children")
    print(f"date {time.strftime('%Y-%m-%d')}, commit {commit}{' (with uncommitted changes)' if dirty else ''}, "
          f"{os.cpu_count()} cores, {memory:.0f} GiB, {platform.python_implementation()} "
          f"{platform.python_version()}; history: {what}")
    print()
    results = []
    for url in urls:
        try:
            results.append(measure(url, source, args.stock_seconds, args.commands, not args.no_verify,
                                   args.children, tuple(float(x) for x in args.growth.split(",")), log,
                                   args.api_seconds, api_levels, args.api_children))
        finally:
            if url.startswith("postgresql"):
                import psycopg

                schema = url.rsplit("schema=", 1)[1]
                with psycopg.connect(pg, autocommit=True) as conn:
                    for suffix in ("", "_small", "_api"):
                        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}{suffix}" CASCADE')
    if log.path is not None:
        print(f"\n(the figures are also in {log.path})")
    print("| store | events | history in (s) | raw floor ev/s | rebuild (first 90 %) ev/s | rebuild ÷ floor "
          "| rebuild s | catch-up (last 10 %) ev/s | stock ProjectionRunner ev/s |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        stock = f"{r['stock_eps']:,.0f}" if r["stock_eps"] is not None else "n/a (cannot subscribe)"
        print(f"| {r['store']} | {r['events']:,} | {r['write_label']} {_shown(r['write_s'])} | {r['floor_eps']:,.0f} | "
              f"{r['rebuild_eps']:,.0f} | {r['rebuild_ratio']:.2f} | {_shown(r['rebuild_s'])} | "
              f"{r['catch_up_eps']:,.0f} | {stock} |")
    print()
    print("| store | rebuild processes' peak RSS MB | verify (fold + in-database compare) s "
          "| follower start (load working state) s | RSS MB before / after start / after catch-up "
          "| rows the rebuild wrote (per event) | their COPY alone s (fastest rebuild ev/s) |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for r in results:
        peaks = " + ".join(f"{p:,.0f}" for p in r["worker_peaks"]) or "one process"
        verify_s = f"{r['verify_s']:,.1f}" if r["verify_s"] is not None else "skipped"
        rss = " / ".join(_num(x, "n/a") for x in r["follower_rss_mb"])
        w = r["wrote"]
        rows = f"{w['rows']:,} ({w['rows'] / r['rebuilt']:.1f})" if w else "n/a"
        floor = f"{w['seconds']:,.1f} ({r['rebuilt'] / w['seconds']:,.0f})" if w else "n/a"
        print(f"| {r['store']} | {peaks} | {verify_s} | {r['load_s']:,.1f} | {rss} | {rows} | {floor} |")
    print()
    shares = " / ".join(f"{f:.0%}".replace("%", " %") for f in results[0]["growth_fractions"]) if results else ""
    print(f"| store | one-process fold ev/s at {shares} | time per event, last ÷ first "
          f"| peak RSS at {shares} (MB) | rows written per event at {shares} | time per row written, last ÷ first |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        g = r["growth"]
        ratio = (g[-1]["seconds"] / g[-1]["events"]) / (g[0]["seconds"] / g[0]["events"])
        rates = " / ".join(f"{x['events'] / x['seconds']:,.0f}" for x in g)
        rss = " / ".join(f"{x['peak_rss_mb']:,.0f}" for x in g)
        per_event = " / ".join(f"{x['rows'] / x['events']:.1f}" for x in g)
        per_row = (g[-1]["seconds"] / g[-1]["rows"]) / (g[0]["seconds"] / g[0]["rows"])
        print(f"| {r['store']} | {rates} | {ratio:.2f} | {rss} | {per_event} | {per_row:.2f} |")
    print()
    print("| store | bookings/s, 1 thread | p50 / p99 ms | bookings/s, 8 threads | p50 / p99 ms "
          "| p50 / p99 ms at 10 % of the history (events) |")
    print("|---|---:|---:|---:|---:|---:|")
    for r in results:
        s, t, m = r["sequential"], r["threaded"], r["small_latency"]
        print(f"| {r['store']} | {s['rate']:,.0f} | {s['p50_ms']:.1f} / {s['p99_ms']:.1f} | {t['rate']:,.0f} | "
              f"{t['p50_ms']:.1f} / {t['p99_ms']:.1f} | {m['p50_ms']:.1f} / {m['p99_ms']:.1f} "
              f"({r['small_events']:,} vs {r['events']:,}) |")
    if any(r["api"] for r in results):
        print()
        print(f"| store | HTTP clients | requests | requests/s | p50 ms | p99 ms | unexpected answers "
              f"| {api_load.CPU_COLUMNS} |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        for r in results:
            for a in r["api"]:
                print(f"| {r['store']} | {api_load.level_name(a)} | {a['requests']:,} | {a['rps']:,.0f} | "
                      f"{a['p50_ms']:.1f} | {a['p99_ms']:.1f} | {a['unexpected']} {a['unexpected_codes'] or ''} | "
                      f"{api_load.cpu_cells(a)} |")


if __name__ == "__main__":
    main()
