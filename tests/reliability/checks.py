"""Checks over a whole ledger that any reliability test can run at the end."""

from __future__ import annotations

import os
from collections import defaultdict

# `make soak` sets PLADS_SOAK=1: the same tests with the soak's trial counts.
SOAK = os.environ.get("PLADS_SOAK", "").lower() in ("1", "true", "yes")


def trials(in_test: int, in_soak: int) -> int:
    return in_soak if SOAK else in_test


def notifications(ledger, page: int = 5_000):
    start = 1
    while True:
        items = ledger.recorder.select_notifications(start, page)
        if not items:
            return
        yield from items
        start = items[-1].id + 1


def version_gaps(ledger) -> dict[str, list[int]]:
    """Aggregates whose versions in the log are not 1, 2, ..., n (a lost or doubled event)."""
    versions: dict[str, list[int]] = defaultdict(list)
    for n in notifications(ledger):
        versions[str(n.originator_id)].append(n.originator_version)
    return {k: v for k, v in versions.items() if sorted(v) != list(range(1, len(v) + 1))}


def wait_until(predicate, seconds: float = 90.0) -> None:
    """Poll until `predicate()` holds; fail the test after `seconds`."""
    import time

    deadline = time.monotonic() + seconds
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.05)


def outage_drill(cluster, load, acknowledged: list, failed: list, workers: int = 4) -> list:
    """Run `load` (a loop until the stop event given to it is set) in `workers` threads; once 20
    commands are acknowledged, stop the database until 4 have failed, start it again and wait for
    20 more. Returns the threads, ended (a join's 60 s is a hang guard), for the caller to check."""
    import threading
    import time

    stop = threading.Event()
    threads = [threading.Thread(target=load, args=(stop,)) for _ in range(workers)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: len(acknowledged) >= 20)
        cluster.stop()
        wait_until(lambda: len(failed) >= 4)
        during = len(acknowledged)
        time.sleep(0.5)
        cluster.start()
        wait_until(lambda: len(acknowledged) >= during + 20)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    return threads
