"""SIGKILL the projection follower at random moments while commands run; restart it; the views
must equal a fresh rebuild (row checksums). `make test`: 5 kills; `make soak`: 100."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import pytest

from ledger import Ledger, SimulatedClock
from ledger import commands as c
from projections import Projector, all_views, verify

from .checks import trials, version_gaps

pytestmark = pytest.mark.postgres


def _commands(ledger: Ledger, stop: threading.Event, done: list[object]) -> None:
    try:
        _caseworker(ledger, stop, done)
    except Exception as e:  # noqa: BLE001 - reported by the test
        done.append(e)
        stop.set()


def _caseworker(ledger: Ledger, stop: threading.Event, done: list[object]) -> None:
    """A caseworker's day on repeat: families, incomes, children, bookings, cancellations."""
    rng = random.Random(7)
    inst = ledger.execute(c.RegisterInstitution(name="Solsikken", district="Valby", kind="integreret"),
                          actor="t", channel="system").result["id"]
    for group in ("nursery", "kindergarten"):
        ledger.execute(c.ChangeCapacity(institution_id=inst, age_group=group, seats=10_000,
                                        effective_from=date(2024, 1, 1)), actor="t", channel="system")
    while not stop.is_set():
        hh = ledger.execute(c.RegisterHousehold(district="Valby"), actor="t", channel="caseworker").result["id"]
        ledger.execute(c.DeclareIncome(household_id=hh, annual_income_ore=rng.randrange(0, 800_000_00),
                                       effective_from=date(2025, 1, 1)), actor="t", channel="caseworker")
        child = ledger.execute(c.RegisterChild(household_id=hh, birth_date=date(2024, rng.randint(1, 9), 1)),
                               actor="t", channel="caseworker").result["id"]
        booking = ledger.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=date(2025, 6, 1)),
                                 actor="t", channel="caseworker").result["id"]
        if rng.random() < 0.3:
            ledger.execute(c.CancelBooking(booking_id=booking, effective_date=date(2025, 9, 1), reason="moved"),
                           actor="t", channel="caseworker")
        done.append(1)


def test_a_follower_killed_at_random_moments_resumes_without_loss_or_doubles(pg_store, views_position):
    ledger = Ledger(pg_store.url, clock=SimulatedClock(date(2025, 1, 6)))
    ledger.execute(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=date(2020, 1, 1)),
                   actor="t", channel="system")
    env = dict(os.environ, PLADS_DATABASE_URL=pg_store.url)
    rng = random.Random(int(os.environ.get("PLADS_SOAK_SEED", "11")))
    stop, done = threading.Event(), []
    writer = threading.Thread(target=_commands, args=(ledger, stop, done))
    writer.start()
    kills = trials(5, 100)
    mid_way = 0
    try:
        for _ in range(kills):
            before = views_position(ledger)
            proc = subprocess.Popen(
                [sys.executable, "-m", "replay.cli", "project", "--follow", "--poll", "0.05",
                 "--page-size", str(rng.choice([1, 7, 50, 500]))],
                env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            # Wait for the follower to get going, then kill it at a random moment.
            deadline = time.monotonic() + 60
            while views_position(ledger) == before and time.monotonic() < deadline and not stop.is_set():
                time.sleep(0.02)
            time.sleep(rng.uniform(0, 0.4))
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            after = views_position(ledger)
            assert after > before, "the follower made no progress"
            mid_way += after < ledger.max_position()
    finally:
        stop.set()
        writer.join(timeout=60)
    try:
        assert done, "no commands ran"
        assert not [e for e in done if isinstance(e, Exception)]
        assert mid_way > 0, "never killed behind the head of the log: this run proved nothing"
        projector = Projector(ledger, all_views())
        projector.catch_up()
        assert projector.position == ledger.max_position()
        projector.close()
        assert verify(ledger, all_views()) == []
        assert version_gaps(ledger) == {}
    finally:
        ledger.close()
