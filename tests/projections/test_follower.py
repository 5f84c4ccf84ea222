"""The one follower (`projections.follower.Follower`), run by `plads project --follow` and by the API:
a view that cannot take an event does not end it; it says so, gives up the lead, tries again now
and then, and follows on once the views are past the event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

from ledger import commands as c
from projections import Follower, Projector, all_views
from projections import follower as follower_module


def _unfit_capacity(city) -> int:
    """An event no view can hold (a capacity beyond any integer column), past the commands' validation."""
    inst = city.institution()
    return city.ledger.execute(c.ChangeCapacity.model_construct(
        institution_id=inst, age_group="nursery", pool="general", seats=10**20, effective_from=date(2025, 2, 1),
        reason=None), actor="intruder", channel="system").position


def _move_views_past(ledger, position: int) -> None:
    """What a mended view would do: the views get past the event (here the position, by hand)."""
    probe = Projector(ledger, [], name="views")
    try:
        probe.store.query_write(f"UPDATE projection_positions SET position = {position} WHERE name = 'views'")
    finally:
        probe.close()


def test_a_stall_gives_up_the_lead_and_the_follower_tries_again_until_the_views_get_past(city, monkeypatch, wait_for,
                                                                                       views_position):
    monkeypatch.setattr(follower_module, "STALL_RETRY_SECONDS", 0.1)
    ledger = city.ledger
    bad = _unfit_capacity(city)
    stalls, leads = [], []
    follower = Follower(ledger, lambda: Projector(ledger, all_views()), poll_seconds=0.05,
                        on_stall=stalls.append, on_lead=leads.append)
    stop = threading.Event()
    thread = threading.Thread(target=follower.run, args=(stop,))
    thread.start()
    try:
        assert wait_for(lambda: len(stalls) >= 2), "the follower did not try again after the stall"
        assert {(s.position, s.view) for s in stalls} == {(bad, "occupancy")}
        assert views_position(ledger) == bad - 1
        _move_views_past(ledger, bad)
        city.household()
        assert wait_for(lambda: views_position(ledger) == ledger.max_position()), "it did not follow on"
        assert len(leads) >= 3  # it took the lead again after each stall
    finally:
        stop.set()
        thread.join(timeout=30)
        follower.close()
    assert not thread.is_alive() and follower.projector is None


def test_plads_project_follow_outlives_a_stall_and_says_so(store, city_class, wait_for):
    """It used to end there (exit 1): the one follower keeps running, as the API's always did."""
    ledger = store.ledger()
    city = city_class(ledger)
    bad = _unfit_capacity(city)
    proc = subprocess.Popen([sys.executable, "-m", "replay.cli", "project", "--follow", "--poll", "0.1"],
                            env=dict(os.environ, PLADS_DATABASE_URL=store.url),
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stderr.readline, "")), daemon=True).start()
    try:
        assert wait_for(lambda: any("trying again in a minute" in line for line in lines), 60), lines
        assert any(f"before log position {bad}" in line for line in lines), lines
        time.sleep(0.5)
        assert proc.poll() is None, lines
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        ledger.close()
    assert proc.returncode == 0, lines
