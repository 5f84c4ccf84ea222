"""The database restarts under load: commands fail cleanly (StoreUnavailable, HTTP 503) while it
is down, work again afterwards, and every acknowledged command is in the ledger."""

from __future__ import annotations

import threading
import time
from datetime import date

import pytest

from ledger import Ledger, SimulatedClock, StoreUnavailable
from ledger import commands as c

from .checks import outage_drill

pytestmark = pytest.mark.postgres




def test_commands_fail_cleanly_while_the_database_is_down_and_no_acknowledged_one_is_lost(cluster):
    ledger = Ledger(cluster.url, clock=SimulatedClock(date(2025, 1, 6)))
    acknowledged: list[str] = []
    failures: list[str] = []
    unexpected: list[str] = []

    def load(stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                outcome = ledger.execute(c.RegisterHousehold(district="Valby"), actor="load", channel="caseworker")
                acknowledged.append(outcome.result["id"])
            except StoreUnavailable as e:
                failures.append(str(e))
                time.sleep(0.05)
            except Exception as e:  # noqa: BLE001 - anything else is a failure we report
                unexpected.append(repr(e))

    workers = outage_drill(cluster, load, acknowledged, failures)
    assert unexpected == []
    assert failures, "the outage was not noticed"
    assert all("unavailable" in f for f in failures)
    # No command hung: every worker saw the stop and ended (the join's 60 s is a hang guard).
    assert not any(w.is_alive() for w in workers)
    recorded = {str(n.originator_id) for n in ledger.recorder.select_notifications(1, 100_000)
                if n.topic.endswith("Household.HouseholdRegistered") or "HouseholdRegistered" in n.topic}
    assert set(acknowledged) <= recorded
    ledger.close()


def test_a_restart_while_idle_costs_the_next_command_nothing(cluster):
    """Pooled connections die in a restart; the first command afterwards still succeeds."""
    with Ledger(cluster.url, clock=SimulatedClock(date(2025, 1, 6))) as ledger:
        for _ in range(6):  # fill the pool with connections
            ledger.execute(c.RegisterHousehold(district="Valby"), actor="a", channel="caseworker")
        cluster.stop()
        cluster.start()
        after = ledger.execute(c.RegisterHousehold(district="Valby"), actor="a", channel="caseworker")
        assert after.result["id"]

