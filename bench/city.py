"""The Copenhagen-scale history for `make bench`: the synthetic city, simulated once and cached.

The simulator (`plads simulate`, book-en-plads) writes 10 years of the whole city (scale 1,
~9,500 births a year) through the real commands into a SQLite ledger, every month's statements
issued as a real ledger holds them (docs/simulator.md). That takes a while, so the ledger is kept
in a cache directory and reused while the simulation's inputs (years, scale, seed, parameters file
and CACHE_VERSION) stay the same.
Each benchmark run gets its own copy: a SQLite file copy, or the stored events and snapshots
copied into a fresh PostgreSQL schema with COPY (the rows as the ledger stored them, so the
copy is the same ledger — nothing re-encoded).

    python bench/city.py                         # build (or find) the cached city; print where and its size
    python bench/city.py --years 0.2 --scale 0.02 --cache-dir /tmp/c   # a small one
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CACHE = ROOT / "bench" / ".cache"
# Bump when the ledger's stored events change shape in a way the cached city cannot be read with.
CACHE_VERSION = 1
PARAMS = ROOT / "replay" / "simulate" / "params.toml"


@dataclass(frozen=True)
class City:
    path: Path  # the cached SQLite ledger (read it, never write to it)
    events: int
    last_recorded: datetime  # recorded time of the last event: a clock for later commands starts after it
    meta: dict

    def day_after(self) -> date:
        return (self.last_recorded + timedelta(days=1)).date()


def cache_key(years: float, scale: float, seed: int, policy: str) -> str:
    digest = hashlib.sha256(PARAMS.read_bytes() + f"{CACHE_VERSION}".encode()).hexdigest()[:10]
    return f"city-{years:g}y-scale{scale:g}-seed{seed}-{policy}-{digest}"


def city(years: float = 10, scale: float = 1.0, seed: int = 1, policy: str = "book-en-plads",
         cache_dir: Path | str | None = None, quiet: bool = False) -> City:
    """The cached city ledger for these inputs, simulated first if it is not there yet."""
    cache = Path(cache_dir or os.environ.get("PLADS_BENCH_CACHE") or DEFAULT_CACHE)
    cache.mkdir(parents=True, exist_ok=True)
    key = cache_key(years, scale, seed, policy)
    path, meta_path = cache / f"{key}.db", cache / f"{key}.json"
    if not (path.exists() and meta_path.exists()):
        partial = cache / f"{key}.partial.db"
        for leftover in cache.glob(f"{key}.partial.db*"):
            leftover.unlink()
        if not quiet:
            print(f"simulating the city once ({years:g} years at scale {scale:g}); cached as {path.name}",
                  file=sys.stderr)
        started = time.perf_counter()
        plads = Path(sys.executable).with_name("plads")
        command = [str(plads) if plads.exists() else "plads", "simulate", "--years", str(years), "--scale", str(scale),
                   "--seed", str(seed), "--policy", policy, "--database", f"sqlite:///{partial}"]
        run = subprocess.run(command, capture_output=quiet, text=True)
        if run.returncode != 0:
            raise SystemExit(f"the simulation failed: {(run.stderr or '')[-1000:]}")
        seconds = time.perf_counter() - started
        conn = sqlite3.connect(partial)
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()
        partial.rename(path)
        meta = {"years": years, "scale": scale, "seed": seed, "policy": policy, "simulated_seconds": round(seconds),
                "built": time.strftime("%Y-%m-%d"), "commit": _commit()}
        meta_path.write_text(json.dumps(meta, indent=2))
    meta = json.loads(meta_path.read_text())
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        (events,) = conn.execute("SELECT max(rowid) FROM stored_events").fetchone()
    finally:
        conn.close()
    return City(path, events or 0, _last_recorded(path), meta)


def _last_recorded(path: Path) -> datetime:
    from ledger import Ledger
    from projections.engine import LogReader

    with Ledger(f"sqlite:///{path}") as ledger:
        found = LogReader(ledger, ()).recorded_at(ledger.max_position())
    assert found is not None, f"{path} holds no events"
    return found[1]


def _commit() -> str:
    run = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
    return run.stdout.strip()


def copy_to(source: City, database_url: str, until: int | None = None) -> int:
    """Copy the cached ledger (its first `until` events) into an empty ledger at `database_url`.

    Snapshots go along where the event they were taken at is copied. Returns the events copied."""
    until = source.events if until is None else min(until, source.events)
    if database_url.startswith("sqlite:///"):
        target = database_url[len("sqlite:///"):]
        if until == source.events:
            shutil.copyfile(source.path, target)
            return until
        from ledger import Ledger

        Ledger(database_url).close()  # the ledger's own tables, empty
        conn = sqlite3.connect(target)
        conn.execute("ATTACH DATABASE ? AS city", (f"file:{source.path}?mode=ro",))
        conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                     "SELECT rowid, originator_id, originator_version, topic, state FROM city.stored_events "
                     "WHERE rowid <= ? ORDER BY rowid", (until,))
        conn.execute("INSERT INTO stored_snapshots SELECT s.* FROM city.stored_snapshots s JOIN city.stored_events e "
                     "ON e.originator_id = s.originator_id AND e.originator_version = s.originator_version "
                     "WHERE e.rowid <= ?", (until,))
        conn.commit()
        conn.close()
        return until
    return _copy_to_postgres(source, database_url, until)


def _copy_to_postgres(source: City, database_url: str, until: int) -> int:
    import psycopg
    from psycopg import sql

    from ledger import Ledger

    with Ledger(database_url) as ledger:  # creates the schema and the ledger's tables
        if ledger.max_position():
            raise SystemExit("copy the city into an empty ledger only")
        cfg = ledger.store
        events, snapshots = ledger.recorder.events_table_name, "ledger_snapshots"
    schema = cfg.schema or "public"
    lite = sqlite3.connect(f"file:{source.path}?mode=ro", uri=True)
    try:
        with psycopg.connect(cfg.postgres_conninfo) as conn:
            with conn.cursor() as cur:
                target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(events))
                with cur.copy(sql.SQL("COPY {} (notification_id, originator_id, originator_version, topic, state) "
                                      "FROM STDIN").format(target)) as copy:
                    for row in lite.execute("SELECT rowid, originator_id, originator_version, topic, state "
                                            "FROM stored_events WHERE rowid <= ? ORDER BY rowid", (until,)):
                        copy.write_row(row)
                target = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(snapshots))
                with cur.copy(sql.SQL("COPY {} (originator_id, originator_version, topic, state) FROM STDIN")
                              .format(target)) as copy:
                    for row in lite.execute(
                            "SELECT s.originator_id, s.originator_version, s.topic, s.state FROM stored_snapshots s "
                            "JOIN stored_events e ON e.originator_id = s.originator_id "
                            "AND e.originator_version = s.originator_version WHERE e.rowid <= ?", (until,)):
                        copy.write_row(row)
                # New events go on after the copied ones.
                cur.execute(sql.SQL("SELECT setval(pg_get_serial_sequence({}, 'notification_id'), %s)").format(
                    sql.Literal(f'"{schema}".{events}')), (max(until, 1),))
                cur.execute(sql.SQL("ANALYZE {}.{}").format(sql.Identifier(schema), sql.Identifier(events)))
    finally:
        lite.close()
    return until


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--years", type=float, default=10)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--cache-dir", default=None)
    args = parser.parse_args()
    c = city(args.years, args.scale, args.seed, cache_dir=args.cache_dir)
    print(f"{c.path}: {c.events:,} events, last recorded {c.last_recorded:%Y-%m-%d}, "
          f"simulated in {c.meta['simulated_seconds']:,} s on commit {c.meta['commit']}")


if __name__ == "__main__":
    main()
