"""Command throughput and latency through the application (one process).

Fresh children, spread over fresh institutions with room, are booked by a pool of
threads through `Ledger.execute` (the caseworkers' path: one transaction per command,
optimistic concurrency, the capacity sweep). Reports bookings/s and latency percentiles.
"""

from __future__ import annotations

import statistics
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

import rules
from ledger import Ledger
from ledger import commands as c


def start_date(ledger: Ledger) -> date:
    """A start two months or so after the ledger's today (a history may end years from now)."""
    day = ledger.clock.today() + timedelta(days=62)
    return max(date(2025, 6, 1), day.replace(day=1))


def _prepare(ledger: Ledger, n: int, institutions: int, tag: str) -> list[tuple[str, str]]:
    pairs = []
    start = start_date(ledger)
    capacity_from = date(start.year, 1, 1) if start.year > 2025 else date(2025, 1, 1)
    with ledger.bulk(actor="bench", channel="system", batch_size=500) as bulk:
        insts = []
        for i in range(institutions):
            inst = bulk.execute(c.RegisterInstitution(name=f"Bench {tag} {i}", district="Valby", kind="integreret"))["id"]
            for group in ("nursery", "kindergarten"):
                bulk.execute(c.ChangeCapacity(institution_id=inst, age_group=group, seats=n,
                                              effective_from=capacity_from))
            insts.append(inst)
        for k in range(n):
            hh = bulk.execute(c.RegisterHousehold(district="Valby"))["id"]
            birth = rules.add_months(start, -(10 + k % 6)).replace(day=10)  # 10-15 months old: a nursery place
            child = bulk.execute(c.RegisterChild(household_id=hh, birth_date=birth))["id"]
            pairs.append((child, insts[k % institutions]))
    return pairs


def booking_rate(ledger: Ledger, n: int = 600, threads: int = 8, institutions: int = 50,
                 tag: str = "rate") -> dict[str, float]:
    """Book `n` fresh children from `threads` threads; bookings/s and latency (ms)."""
    pairs = _prepare(ledger, n, institutions, tag)
    start = start_date(ledger)
    latencies: list[float] = []

    def book(pair: tuple[str, str]) -> None:
        t = time.perf_counter()
        ledger.execute(c.BookPlace(child_id=pair[0], institution_id=pair[1], start_date=start),
                       actor="bench", channel="caseworker")
        latencies.append(time.perf_counter() - t)

    started = time.perf_counter()
    with ThreadPoolExecutor(threads) as pool:
        list(pool.map(book, pairs))
    elapsed = time.perf_counter() - started
    return {"bookings": n, "threads": threads, "rate": n / elapsed, **_percentiles(latencies)}


def booking_latency(ledger: Ledger, n: int = 200, tag: str = "latency") -> dict[str, float]:
    """Sequential bookings (one thread): latency percentiles in ms."""
    return booking_rate(ledger, n=n, threads=1, institutions=10, tag=tag)


def _percentiles(seconds: list[float]) -> dict[str, float]:
    ms = sorted(s * 1000 for s in seconds)
    q = statistics.quantiles(ms, n=100) if len(ms) > 1 else [ms[0]] * 99
    return {"p50_ms": q[49], "p99_ms": q[98]}


def main() -> None:
    """Bookings on a fresh ledger (PLADS_TEST_DATABASE_URL, a schema of its own; else SQLite): empty —
    what a booking costs without a history behind it — or, with --city F, holding the first F of
    the cached city's events (bench/city.py), after the raw floor of that copy (the machine's
    speed at that moment) and a CHECKPOINT."""
    import argparse
    import os
    import sys

    from ledger import SimulatedClock

    sys.path.insert(0, os.path.dirname(__file__))
    from scratch import scratch_database

    parser = argparse.ArgumentParser()
    parser.add_argument("--bookings", type=int, default=400, help="per measurement (8 threads book twice as many)")
    parser.add_argument("--city", type=float, metavar="FRACTION", help="book on a copy of this share of the city")
    parser.add_argument("--years", type=float, default=10, help="the city's years (with --city)")
    parser.add_argument("--scale", type=float, default=1.0, help="the city's scale (with --city)")
    parser.add_argument("--cache-dir", default=None, help="where the city is cached (with --city)")
    args = parser.parse_args()
    store = "postgresql" if os.environ.get("PLADS_TEST_DATABASE_URL") else "sqlite"
    with scratch_database("commands", store) as url:
        if args.city:
            from city import city, copy_to
            from run import raw_floor, settle

            source = city(args.years, args.scale, cache_dir=args.cache_dir, quiet=True)
            copied = copy_to(source, url, until=int(source.events * args.city))
            ledger = Ledger(url, clock=SimulatedClock(source.day_after()))
            n, seconds = raw_floor(ledger)
            print(f"{store}: {copied:,} events of the city; raw floor {n / seconds:,.0f} events/s")
            settle(url)
        else:
            ledger = Ledger(url, clock=SimulatedClock(date(2026, 1, 1)))
            with ledger.bulk(actor="bench", channel="system") as bulk:
                bulk.execute(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1",
                                               effective_from=date(2025, 1, 1)))
        with ledger:
            for threads, n, institutions in ((1, args.bookings, 10), (8, 2 * args.bookings, 50)):
                r = booking_rate(ledger, n=n, threads=threads, institutions=institutions, tag=f"t{threads}")
                print(f"{store}: {n} bookings from {threads} thread(s): {r['rate']:,.0f} /s, "
                      f"p50 {r['p50_ms']:.1f} ms, p99 {r['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
