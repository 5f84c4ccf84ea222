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
