"""The follower on PostgreSQL: keeps up while commands run; survives kill -9."""

import os
import signal
import subprocess
import sys
import threading
import time
from datetime import date

import pytest

from ledger import commands as c
from projections import Projector, all_views, verify

pytestmark = pytest.mark.postgres


def test_notify_wakes_the_follower_with_polling_switched_off(pg_city, wait_for):
    """The follower polls once an hour here, so only LISTEN/NOTIFY can wake it: it must keep up
    with the commands (the 60 s wait is a hang guard, not a speed limit)."""
    city = pg_city
    inst = city.institution(kind="integreret", nursery=200, kindergarten=200)
    follower = Projector(city.ledger, all_views(), page_size=50)
    stop = threading.Event()
    thread = threading.Thread(target=follower.follow, args=(stop,), kwargs={"poll_seconds": 3600.0})
    thread.start()
    try:
        # Its first catch-up done, it is asleep until a NOTIFY (or an hour) wakes it.
        assert wait_for(lambda: follower.position == city.ledger.max_position(), 60)
        for i in range(40):
            child = city.child(city.household(), birth=date(2024, 1 + i % 8, 1))
            city.book(child, inst, date(2025, 3, 1))
        assert wait_for(lambda: follower.position == city.ledger.max_position(), 60), \
            "the follower slept through the commands: NOTIFY did not wake it"
    finally:
        stop.set()
        city.household()  # one more NOTIFY, so that the sleeping follower sees the stop
        thread.join(timeout=60)
        follower.close()
    assert not thread.is_alive()
    assert verify(city.ledger, all_views()) == []


def test_a_follower_killed_with_sigkill_resumes_without_loss_or_doubles(pg_store, wait_for, views_position):
    import sys as _sys

    _sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..", "bench"))
    from history import build_history  # noqa: PLC0415

    ledger = build_history(pg_store.url, children=600, institutions=12)
    try:
        env = dict(os.environ, PLADS_DATABASE_URL=pg_store.url)
        positions = []
        for _round in range(5):
            # More history each round, so every follower has work to be killed in.
            with ledger.bulk(actor="t", channel="caseworker") as bulk:
                for _ in range(60):
                    hh = bulk.execute(c.RegisterHousehold(district="Valby"))["id"]
                    bulk.execute(c.RegisterChild(household_id=hh, birth_date=date(2024, 2, 1)))
            before = views_position(ledger)
            proc = subprocess.Popen([sys.executable, "-m", "replay.cli", "project", "--follow", "--poll", "0.2",
                                     "--page-size", "37"],
                                    env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            assert wait_for(lambda: views_position(ledger) > before, 60), "the follower made no progress"
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait(timeout=30)
            positions.append(views_position(ledger))
        # Killed part-way at least once (otherwise this test proves nothing).
        assert any(0 < p < ledger.max_position() for p in positions), positions
        projector = Projector(ledger, all_views())
        projector.catch_up()
        assert projector.position == ledger.max_position()
        projector.close()
        assert verify(ledger, all_views()) == []
    finally:
        ledger.close()


def test_the_analyst_role_reads_aggregates_but_no_person_level_rows(pg_city):
    import psycopg

    inst = pg_city.institution()
    pg_city.book(pg_city.child(pg_city.household()), inst, date(2025, 3, 1))
    projector = Projector(pg_city.ledger, all_views())
    projector.catch_up()
    schema = projector.store.schema
    projector.close()
    with psycopg.connect(os.environ["PLADS_TEST_DATABASE_URL"], autocommit=True) as conn:
        conn.execute(f'SET search_path TO "{schema}"')
        conn.execute("SET ROLE plads_analyst")
        assert conn.execute("SELECT count(*) FROM occupancy").fetchone()[0] > 0
        for forbidden in ("child_timeline", "seat_spans", "ledger_events", "plads_persons"):
            with pytest.raises(psycopg.errors.InsufficientPrivilege):
                conn.execute(f"SELECT * FROM {forbidden}")


def test_a_second_follower_waits_for_the_first_and_takes_over(pg_store, city_class, wait_for, views_position):
    """One follower per database: `plads project --follow` started while another holds the lead
    says so and applies nothing; when the lead is given up it takes over and catches up."""
    from projections import Leadership

    ledger = pg_store.ledger()
    city_class(ledger).household()
    lead = Leadership(ledger)
    assert lead.try_acquire()
    proc = subprocess.Popen([sys.executable, "-m", "replay.cli", "project", "--follow", "--poll", "0.1"],
                            env=dict(os.environ, PLADS_DATABASE_URL=pg_store.url),
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    threading.Thread(target=lambda: lines.extend(iter(proc.stdout.readline, "")), daemon=True).start()
    try:
        assert wait_for(lambda: any("waiting to take over" in line for line in lines), 30), lines
        time.sleep(0.5)
        assert views_position(ledger) == 0  # it applied nothing while the other led
        lead.release()
        assert wait_for(lambda: views_position(ledger) == ledger.max_position(), 30), "it did not take over"
        assert any("following the ledger" in line for line in lines)
    finally:
        lead.release()
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
        ledger.close()
