"""Rebuilding views from the log into fresh tables (in this process or several), and verifying the
live views against such a rebuild."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ledger import Ledger
from projections.engine import LogReader, View, by_topic, collector_paused, open_store, reader_for
from projections.stores import ViewStore
from projections.tables import Row, Table

SCRATCH = "scratch_"
REBUILD = "rebuild_"


def fold_log(reader: LogReader, views: Sequence[View], start: int, until: int, *, page_size: int = 20_000,
             on_appends: Callable[[Table, list[Row]], None] | None = None,
             progress: Callable[[int, int], None] | None = None) -> int:
    """Fold the log from `start` to `until` into the views' memory, page by page; derivations run
    once at the end (`finish_page(final=True)`). Append-only rows go to `on_appends` as they come
    (dropped without it); keyed state stays in the views. Returns the position folded to."""
    with collector_paused():
        return _fold_log(reader, views, start, until, page_size, on_appends, progress)


def _fold_log(reader: LogReader, views: Sequence[View], start: int, until: int, page_size: int,
              on_appends: Callable[[Table, list[Row]], None] | None,
              progress: Callable[[int, int], None] | None) -> int:
    position = start
    routes = by_topic(views)
    while position < until:
        events, last = reader.page(position, page_size, until)
        if last == position:
            break
        for e in events:
            for _, handle in routes.get(e.kind, ()):
                handle(e)
        for v in views:
            v.finish_page(final=False)
            _hand_on(v, on_appends)
        position = last
        if progress:
            progress(position, until)
    for v in views:
        v.finish_page(final=True)
        _hand_on(v, on_appends)
    return position


def _hand_on(view: View, on_appends: Callable[[Table, list[Row]], None] | None) -> None:
    for table, ch in view.changes().items():
        if on_appends and table.append_only and ch.appends:
            on_appends(table, ch.appends)


def fold_into(ledger: Ledger, views: Sequence[View], store: ViewStore, prefix: str, *,
              until: int | None = None, page_size: int = 20_000,
              progress: Callable[[int, int], None] | None = None, fresh_tables: bool = True) -> int:
    """Fold the log from position 0 (to `until`) in memory into fresh prefixed tables (made here,
    unless `fresh_tables` is False: the caller made them, for several processes to share).

    Append-only logs stream out page by page; keyed state is written in bulk at the
    end (COPY on PostgreSQL). Returns the position folded to.
    """
    tables = [t for v in views for t in v.tables]
    if fresh_tables:
        store.drop(tables, prefix)
        store.ensure(tables, prefix)
    reader = reader_for(ledger, views)
    end = ledger.max_position() if until is None else until
    return fold_to_store(reader, views, store, prefix, 0, end, page_size=page_size, progress=progress)


def fold_to_store(reader: LogReader, views: Sequence[View], store: ViewStore, prefix: str, start: int, until: int, *,
                  page_size: int = 20_000, progress: Callable[[int, int], None] | None = None) -> int:
    """Fold the log from `start` to `until` into the views and write their rows to `store` (tables
    named with `prefix`): append-only logs and rows derived at the end stream out as they come
    (millions at city scale), keyed state is written in bulk at the end. Returns the position."""
    sink = BufferedSink(lambda table, rows: store.bulk_insert(table, rows, prefix))
    for v in views:
        v.sink = sink
    try:
        position = fold_log(reader, views, start, until, page_size=page_size, progress=progress,
                            on_appends=lambda table, rows: store.bulk_insert(table, rows, prefix))
        sink.flush()
    finally:
        for v in views:
            v.sink = None
    for v in views:
        for keyed in v.t.values():
            if not keyed.table.append_only:
                store.bulk_insert(keyed.table, list(keyed.values()), prefix)
    return position


class BufferedSink:
    """Rows streamed out of a rebuild, written in batches (one COPY or executemany each)."""

    def __init__(self, write: Callable[[Table, list[Row]], None], batch: int = 20_000) -> None:
        self.write, self.batch = write, batch
        self.pending: dict[Table, list[Row]] = {}

    def __call__(self, table: Table, rows: list[Row]) -> None:
        pending = self.pending.setdefault(table, [])
        pending.extend(rows)
        if len(pending) >= self.batch:
            self.write(table, pending)
            self.pending[table] = []

    def flush(self) -> None:
        for table, rows in self.pending.items():
            if rows:
                self.write(table, rows)
        self.pending = {}


def rebuild(ledger: Ledger, views: Sequence[View], *, name: str = "views", page_size: int = 20_000,
            progress: Callable[[int, int], None] | None = None, workers: int | None = None,
            until: int | None = None) -> int:
    """Rebuild the views from position 0 (to `until`, default the end) and swap the result in atomically.

    With more than one worker (default: one per core, from PARALLEL_FROM events, where the views
    split and the store is not in memory) the views are folded in parallel processes, each
    reading the log itself and writing its own scratch tables; the swap stays one transaction."""
    store = open_store(ledger)
    try:
        end = ledger.max_position() if until is None else until
        position = _fold_fresh(ledger, views, store, REBUILD, end, page_size, progress, workers)
        store.swap_in([t for v in views for t in v.tables], REBUILD, name, position)
        store.set_views(name, {v.name for v in views}, position)
        return position
    finally:
        store.close()


def _fold_fresh(ledger: Ledger, views: Sequence[View], store: ViewStore, prefix: str, end: int, page_size: int,
                progress: Callable[[int, int], None] | None, workers: int | None) -> int:
    """Fold the log to `end` into fresh `prefix` tables: in this process, or in parallel ones."""
    if workers is None and end < PARALLEL_FROM:
        workers = 1  # starting processes costs more than it saves on a short log
    groups, sharded = _balanced(views, _workers(ledger, workers))
    if len(groups) == 1:
        return fold_into(ledger, views, store, prefix, until=end, page_size=page_size, progress=progress)
    # The scratch tables are made here: processes folding shares of one view write into the same ones.
    tables = [t for v in views for t in v.tables]
    store.drop(tables, prefix)
    store.ensure(tables, prefix)
    position = _fold_in_processes(ledger, groups, prefix, end, page_size, progress)
    for v in sharded:
        v.finish_shards(store, prefix)
    return position


PARALLEL_FROM = 50_000  # events; a shorter log is rebuilt in this process
# Peak RSS (MB) of each process of the last parallel rebuild in this process: for benchmarks.
last_worker_peaks: list[float] = []


def _workers(ledger: Ledger, asked: int | None) -> int:
    if ledger.store.kind == "sqlite" and "mode=memory" in (ledger.store.sqlite_path or ""):
        return 1  # another process cannot see an in-memory database
    import os

    return max(1, asked if asked is not None else (os.cpu_count() or 1))


def _balanced(views: Sequence[View], workers: int) -> tuple[list[list[View]], list[View]]:
    """Views in at most `workers` groups of similar weight; companions stay together. With more
    than one worker, the heaviest unit that can be sharded is split into one share per worker
    (each folds all its events and derives 1/workers of the rows). Returns the groups and the
    views whose `finish_shards` completes the shares (empty when nothing was split)."""
    units: list[list[View]] = []
    for v in views:
        home = next((u for u in units if any(c in u for c in v.companions())), None)
        if home is None:
            units.append([v])
        else:
            home.append(v)
    weighted = [(unit, sum(v.rebuild_weight for v in unit)) for unit in units]
    sharded: list[View] = []
    if workers > 1:
        for i, (unit, weight) in sorted(enumerate(weighted), key=lambda x: -x[1][1]):
            shares = [unit[0].shard(k, workers) for k in range(workers)]
            if all(shares):
                # Each share still folds every event of the unit: about a tenth of its cost (billing).
                weighted[i:i + 1] = [(share, weight / workers + weight / 10) for share in shares]  # type: ignore[misc]
                sharded = shares[0]  # type: ignore[assignment]
                break
    groups: list[list[View]] = [[] for _ in range(min(workers, len(weighted)))]
    loads = [0.0] * len(groups)
    for unit, weight in sorted(weighted, key=lambda x: -x[1]):
        i = loads.index(min(loads))
        groups[i].extend(unit)
        loads[i] += weight
    return [g for g in groups if g], sharded


def _fold_in_processes(ledger: Ledger, groups: list[list[View]], prefix: str, end: int, page_size: int,
                       progress: Callable[[int, int], None] | None) -> int:
    import multiprocessing
    import time

    # spawn, not fork: the parent holds connection pools and their threads.
    ctx = multiprocessing.get_context("spawn")
    cipher_key = ledger.store.env.get("CIPHER_KEY") or ""
    workers = []
    for group in groups:
        done = ctx.Value("q", 0)
        receive, send = ctx.Pipe(duplex=False)
        proc = ctx.Process(target=_fold_worker, args=(ledger.store.url, cipher_key, group, prefix, end, page_size,
                                                      done, send), daemon=True)
        proc.start()
        send.close()
        workers.append((proc, done, receive))
    try:
        while any(p.is_alive() for p, _, _ in workers):
            if progress:
                progress(min(d.value for _, d, _ in workers), end)
            time.sleep(0.2)
        results = []
        for proc, _, receive in workers:
            proc.join()
            try:
                results.append(receive.recv() if receive.poll() else None)
            except EOFError:  # it died before sending (it could not even start, say)
                results.append(None)
            if results[-1] is None:
                raise RuntimeError(f"a rebuild process ended without a result (exit code {proc.exitcode})")
    finally:
        for proc, _, receive in workers:
            if proc.is_alive():
                proc.kill()
            receive.close()
    failed = [r[1] for r in results if r[0] == "error"]
    if failed:
        raise RuntimeError(f"a rebuild process failed: {failed[0]}")
    positions = {r[1] for r in results}
    if len(positions) != 1:
        raise RuntimeError(f"the rebuild processes folded to different positions: {sorted(positions)}")
    last_worker_peaks[:] = [r[2] for r in results]
    if progress:
        progress(end, end)
    return positions.pop()


def rss_mb(field: str = "VmRSS") -> float | None:
    """This process's resident set (VmRSS) or its peak (VmHWM) in MB, from /proc (Linux); None elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def peak_rss_mb() -> float:
    """This process's peak resident set (MB): VmHWM where /proc has it. ru_maxrss is not the process's
    own after fork + exec on Linux: it starts at the parent's high-water mark (a 2.6 GB benchmark
    process made its 200 MB children report 2.6 GB)."""
    import resource

    peak = rss_mb("VmHWM")
    return peak if peak is not None else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _fold_worker(url: str, cipher_key: str, views: list[View], prefix: str, until: int, page_size: int,
                 done: Any, send: Any) -> None:
    import traceback

    try:
        for v in views:
            v.reset()  # fresh state after the trip through pickle (sentinels compare by identity)
        with Ledger(url, cipher_key=cipher_key) as ledger:
            store = open_store(ledger)
            try:
                def report(position: int, _end: int) -> None:
                    done.value = position

                position = fold_into(ledger, views, store, prefix, until=until, page_size=page_size, progress=report,
                                     fresh_tables=False)
            finally:
                store.close()
        send.send(("ok", position, peak_rss_mb()))
    except BaseException as e:  # noqa: BLE001 - reported to the parent, which raises
        send.send(("error", f"{type(e).__name__}: {e}", traceback.format_exc()))
    finally:
        send.close()


class ViewsMoved(RuntimeError):
    """The live views moved on while `verify` rebuilt its copy: the two cannot be compared."""


@dataclass
class Drift:
    """One table's differences between the live views and a fresh rebuild: how many rows of each
    kind, and the keys of the first few (sorted)."""

    table: str
    missing: list[tuple]  # in the rebuild, not live
    extra: list[tuple]  # live, not in the rebuild
    different: list[tuple]
    counts: dict[str, int] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return any(self.counts.values()) or bool(self.missing or self.extra or self.different)


def verify(ledger: Ledger, views: Sequence[View], *, name: str = "views", sample: int = 20,
           workers: int | None = None, page_size: int = 20_000,
           progress: Callable[[int, int], None] | None = None) -> list[Drift]:
    """Rebuild into scratch tables up to the live position (folded as `rebuild` folds: in
    parallel processes on a long log) and compare them with the live tables row by row, in the
    database, within one snapshot. Raises ViewsMoved when the live views moved meanwhile."""
    store = open_store(ledger)
    tables = [t for v in views for t in v.tables]
    try:
        store.ensure(tables)  # views never projected: empty tables, compared with an empty fold
        position = store.position(name)
        _fold_fresh(ledger, views, store, SCRATCH, position, page_size, progress, workers)
        store.analyze(tables, SCRATCH)
        drifts = []
        with store.snapshot():
            now = store.position(name)
            if now != position:
                raise ViewsMoved(f"the live views moved from position {position} to {now} while verify "
                                 "rebuilt its copy; run it again while no follower or command is writing")
            for t in tables:
                counts, samples = store.compare(t, SCRATCH, sample)
                d = Drift(t.name, samples["missing"], samples["extra"], samples.get("different", []), counts)
                if d:
                    drifts.append(d)
        return drifts
    finally:
        try:
            store.drop(tables, SCRATCH)
        finally:
            store.close()
