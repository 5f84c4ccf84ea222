"""Where a rebuild of every view spends its CPU, and its CPU against the raw floor of the same run.

On a copy of a simulated ledger (the bench city, `bench/city.py`; PostgreSQL: copied into a
scratch schema as `make bench` copies it):
- `cpu`: the raw floor (`bench/run.py`'s: SELECT of the events table + JSON decode) and a rebuild
  of every view (fresh tables, swapped in), CPU seconds (user + sys) of this process and of the
  rebuild's processes; the ratio rebuild ÷ floor is taken from CPU per event. Run it with another
  checkout's `src` first on PYTHONPATH to measure that code on the same copy.
- `breakdown`: a one-process fold of every view into fresh tables, timed by section (reading,
  decoding per event type, each view's handler per event type, each view's derivations, the
  writing per table): a Markdown table. The timers cost ≈ 0.1 µs per event and handler.
- `cprofile FILE`: the same fold under cProfile, its statistics dumped to FILE.

    python bench/rebuild_profile.py --ledger sqlite:///city.db [--postgres] [--share 0.9] cpu breakdown
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator

sys.path.insert(0, os.path.dirname(__file__))


def _cpu(children: bool = False) -> float:
    t = os.times()
    return t.user + t.system + ((t.children_user + t.children_system) if children else 0.0)


def floor_cpu(url: str) -> dict:
    """bench/run.py's raw floor, in CPU seconds of this process (the server's not counted)."""
    from ledger import Ledger
    from run import raw_floor  # noqa: E402

    with Ledger(url) as ledger:
        cpu = _cpu()
        n, wall = raw_floor(ledger)
        cpu = _cpu() - cpu
    return {"events": n, "floor_cpu_s": round(cpu, 2), "floor_wall_s": round(wall, 2),
            "floor_cpu_ev_s": round(n / cpu) if cpu else None}  # (a tiny ledger: under a clock tick)


def rebuild_cpu(url: str, share: float, workers: int | None, views: str = "all") -> dict:
    """A rebuild of every view (`views` "others": all but billing and its budget) to `share` of the
    log, CPU seconds of every process it ran."""
    from ledger import Ledger
    from projections import all_views, rebuild

    chosen = [v for v in all_views() if views == "all" or v.name not in ("billing", "budget")]
    with Ledger(url) as ledger:
        until = int(ledger.max_position() * share)
        cpu, wall = _cpu(children=True), time.perf_counter()
        rebuild(ledger, chosen, until=until, workers=workers)
        cpu, wall = _cpu(children=True) - cpu, time.perf_counter() - wall
    return {"events": until, "rebuild_cpu_s": round(cpu, 2), "rebuild_wall_s": round(wall, 2),
            "rebuild_cpu_ev_s": round(until / cpu) if cpu else None}


class Sections:
    """Exclusive CPU time per section (this thread's): a section's time less that of the sections
    timed within it, less what reading the clock costs inside a section (calibrated)."""

    def __init__(self) -> None:
        self.seconds: dict[tuple, float] = defaultdict(float)
        self.calls: dict[tuple, int] = defaultdict(int)
        self._inner = [0.0]
        self.per_call = 0.0
        noop = self.timed(("calibration",), lambda: None)
        for _ in range(20_000):
            noop()
        self.per_call = self.seconds.pop(("calibration",)) / self.calls.pop(("calibration",))

    def timed(self, key: tuple, fn: Callable[..., Any]) -> Callable[..., Any]:
        clock, seconds, calls, inner = time.thread_time, self.seconds, self.calls, self._inner

        def run(*args: Any, **kwargs: Any) -> Any:
            inner.append(0.0)
            started = clock()
            try:
                return fn(*args, **kwargs)
            finally:
                spent = clock() - started
                within = inner.pop()
                seconds[key] += spent - within
                calls[key] += 1
                inner[-1] += spent

        return run


def _instrument(sections: Sections) -> Callable[[], None]:
    """Time the reader, the views' handlers and derivations and the writes; returns the undo."""
    from projections import engine, rebuilding
    from projections.logreader import LogReader

    saved = [(LogReader, "_rows", LogReader._rows), (LogReader, "_envelope", LogReader._envelope),
             (LogReader, "page", LogReader.page), (rebuilding, "by_topic", rebuilding.by_topic)]
    rows, envelope, page = LogReader._rows, LogReader._envelope, LogReader.page
    LogReader._rows = sections.timed(("read", "SELECT + fetch", ""), rows)  # type: ignore[method-assign]
    LogReader.page = sections.timed(("read", "page loop", ""), page)  # type: ignore[method-assign]

    def timed_envelope(self: Any, row: tuple, kind: str) -> Any:
        return decoders[kind](self, row, kind)

    decoders = _PerKind(lambda kind: sections.timed(("decode", "", kind), envelope))
    LogReader._envelope = timed_envelope  # type: ignore[method-assign]

    def timed_routes(views: Any) -> dict:
        routes = engine.by_topic(views)
        return {topic: [(v, sections.timed(("fold", v.name, topic), handle)) for v, handle in pairs]
                for topic, pairs in routes.items()}

    rebuilding.by_topic = timed_routes  # type: ignore[assignment]

    def undo() -> None:
        for owner, name, value in saved:
            setattr(owner, name, value)

    return undo


class _PerKind(dict):
    def __init__(self, make: Callable[[str], Any]) -> None:
        super().__init__()
        self.make = make

    def __missing__(self, kind: str) -> Any:
        self[kind] = value = self.make(kind)
        return value


def _time_views(sections: Sections, views: list, store: Any) -> None:
    for v in views:
        finish = v.finish_page

        def finish_page(final: bool = True, _finish: Any = finish, _name: str = v.name) -> None:
            key = ("derive", _name, "final" if final else "between pages")
            sections.timed(key, _finish)(final)

        v.finish_page = finish_page
        v.changes = sections.timed(("derive", v.name, "changes taken"), v.changes)
    insert = store.bulk_insert
    written: dict[str, int] = defaultdict(int)

    def bulk_insert(table: Any, rows: Any, prefix: str) -> None:
        rows = list(rows)
        written[table.name] += len(rows)
        sections.timed(("write", table.name, ""), insert)(table, rows, prefix)

    store.bulk_insert = bulk_insert
    store.written = written


def fold_sections(url: str, share: float, profile_to: str | None = None) -> tuple[Sections, dict]:
    """A one-process fold of every view into fresh tables, timed by section (or under cProfile)."""
    from ledger import Ledger
    from projections import all_views, open_store
    from projections.rebuilding import fold_into

    sections = Sections()
    with Ledger(url) as ledger:
        until = int(ledger.max_position() * share)
        kinds = _kinds(ledger, until)
        store = open_store(ledger)
        views = all_views()
        undo = (lambda: None) if profile_to else _instrument(sections)
        if not profile_to:
            _time_views(sections, views, store)
        cpu, wall = _cpu(), time.perf_counter()
        try:
            with _profiled(profile_to):
                fold_into(ledger, views, store, "profile_", until=until)
        finally:
            undo()
        cpu, wall = _cpu() - cpu, time.perf_counter() - wall
        written = dict(getattr(store, "written", {}))
        store.drop([t for v in views for t in v.tables], "profile_")
        store.close()
    return sections, {"events": until, "cpu_s": cpu, "wall_s": wall, "kinds": kinds, "written": written}


@contextmanager
def _profiled(path: str | None) -> Iterator[None]:
    if path is None:
        yield
        return
    import cProfile

    profiler = cProfile.Profile()
    profiler.enable()
    try:
        yield
    finally:
        profiler.disable()
        profiler.dump_stats(path)


def _kinds(ledger: Any, until: int) -> dict[str, int]:
    """Events per type up to `until`."""
    table = ledger.recorder.events_table_name
    if ledger.store.kind == "sqlite":
        conn = sqlite3.connect(ledger.store.sqlite_path)
        rows = conn.execute(f"SELECT topic, count(*) FROM {table} WHERE rowid <= ? GROUP BY topic", (until,)).fetchall()
        conn.close()
    else:
        import psycopg

        with psycopg.connect(ledger.store.postgres_conninfo) as conn:
            rows = conn.execute(f'SELECT topic, count(*) FROM "{ledger.store.schema}".{table} '
                                'WHERE notification_id <= %s GROUP BY topic', (until,)).fetchall()
    return {topic.rsplit(":", 1)[-1]: n for topic, n in rows}


def breakdown_table(sections: Sections, figures: dict) -> str:
    """The sections as Markdown: CPU seconds, µs per event of the type, share of the fold's CPU."""
    kinds, total = figures["kinds"], figures["cpu_s"]
    lines = [f"one-process fold of {figures['events']:,} events: {total:.1f} s CPU ({figures['wall_s']:.1f} s wall)",
             "", "| section | view | event type / step | s | µs per event of the type | share |",
             "|---|---|---|---:|---:|---:|"]
    timed = 0.0
    seconds = {key: s - sections.calls[key] * sections.per_call for key, s in sections.seconds.items()}
    for key, s in sorted(seconds.items(), key=lambda kv: -kv[1]):
        timed += s
        if s < 0.05:
            continue
        section, view, what = key
        n = kinds.get(what)
        per = f"{s / n * 1e6:.1f}" if n else ""
        if section == "write":
            per = f"{figures['written'].get(view, 0):,} rows"
        lines.append(f"| {section} | {view} | {what} | {s:.2f} | {per} | {s / total:.1%} |")
    lines.append(f"| untimed (engine loop, the timers' own cost, {sections.per_call * 1e6:.2f} µs a call inside "
                 f"a section) | | | {total - timed:.2f} | | {(total - timed) / total:.1%} |")
    by_section: dict[str, float] = defaultdict(float)
    by_view: dict[str, float] = defaultdict(float)
    for (section, view, _), s in seconds.items():
        by_section[section] += s
        if section in ("fold", "derive"):
            by_view[view] += s
    lines += ["", "by section: " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(by_section.items(), key=lambda x: -x[1])),
              "by view (fold + derive): " + ", ".join(f"{k} {v:.1f} s" for k, v in sorted(by_view.items(),
                                                                                           key=lambda x: -x[1]))]
    return "\n".join(lines)


def _step(args: argparse.Namespace, url: str) -> None:
    """One measurement, in this process (a fresh one per step: the peak and the caches are its own)."""
    if args.step == "floor":
        print(json.dumps(floor_cpu(url)))
    elif args.step == "rebuild":
        print(json.dumps(rebuild_cpu(url, args.share, args.workers, args.views)))
    elif args.step == "breakdown":
        sections, figures = fold_sections(url, args.share)
        print(breakdown_table(sections, figures))
    elif args.step == "cprofile":
        _, figures = fold_sections(url, args.share, args.profile_to)
        print(json.dumps({k: v for k, v in figures.items() if k != "kinds"}))


@contextmanager
def _copy(ledger: str, postgres: bool) -> Iterator[str]:
    """A copy of the SQLite ledger: a file beside it, or a scratch PostgreSQL schema."""
    from city import City, copy_to
    from scratch import scratch_database

    source = Path(ledger.removeprefix("sqlite:///"))
    conn = sqlite3.connect(f"file:{source}?mode=ro", uri=True)
    events = conn.execute("SELECT MAX(rowid) FROM stored_events").fetchone()[0]
    conn.close()
    with scratch_database("profile", "postgresql" if postgres else "sqlite") as url:
        copy_to(City(source, events, None, {}), url)  # type: ignore[arg-type]
        if os.path.exists(f"{source}.keys") and url.startswith("sqlite"):
            import shutil

            shutil.copy(f"{source}.keys", url.removeprefix("sqlite:///") + ".keys")
        yield url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--ledger", required=True, help="a SQLite ledger URL (copied; the copy gets the views)")
    parser.add_argument("--postgres", action="store_true", help="copy it into a scratch PostgreSQL schema")
    parser.add_argument("--share", type=float, default=1.0, help="rebuild up to this share of the log")
    parser.add_argument("--workers", type=int, default=None, help="rebuild processes (default: one per core)")
    parser.add_argument("--views", choices=("all", "others"), default="all",
                        help="cpu: every view, or all but billing and its budget")
    parser.add_argument("--profile-to", default="rebuild.prof", help="cprofile: where the statistics go")
    parser.add_argument("--src", action="append", default=[],
                        help="cpu: also measure the rebuild with this checkout's src first on PYTHONPATH")
    parser.add_argument("--step", help=argparse.SUPPRESS)
    parser.add_argument("--url", help=argparse.SUPPRESS)
    parser.add_argument("what", nargs="*", default=["cpu"], help="cpu, breakdown, cprofile")
    args = parser.parse_args()
    if args.step:
        _step(args, args.url)
        return
    with _copy(args.ledger, args.postgres) as url:
        for what in args.what:
            steps = ["floor", *[("rebuild", src) for src in [None, *args.src]], "floor"] if what == "cpu" else [what]
            for step in steps:
                step, src = step if isinstance(step, tuple) else (step, None)
                env = dict(os.environ)
                if src:
                    env["PYTHONPATH"] = os.pathsep.join([src, env.get("PYTHONPATH", "")])
                extra = ["--workers", str(args.workers)] if args.workers is not None else []
                extra += ["--views", args.views]
                done = subprocess.run([sys.executable, __file__, "--ledger", args.ledger, "--url", url, "--step", step,
                                       "--share", str(args.share), "--profile-to", args.profile_to, *extra],
                                      env=env, capture_output=True, text=True)
                if done.returncode != 0:
                    raise SystemExit(f"{step} failed: {done.stderr[-2000:]}")
                print(f"## {step}{f' ({src})' if src else ''}\n{done.stdout.strip()}", flush=True)


if __name__ == "__main__":
    main()
