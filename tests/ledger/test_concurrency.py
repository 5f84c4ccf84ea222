"""Invariant 5 on PostgreSQL: concurrent commands never overbook and never vanish."""

import threading
from datetime import date

import pytest

from ledger import ChildAlreadyBooked, NoSeat
from ledger import commands as c
from ledger.aggregates import Institution

pytestmark = pytest.mark.postgres

RACERS = 16
TRIALS = 50


def race(attempt, arguments, expected_error):
    """Start one thread per argument at the same instant; collect results and expected errors."""
    barrier = threading.Barrier(len(arguments))
    outcomes, unexpected = [], []

    def run(arg):
        barrier.wait()
        try:
            outcomes.append(attempt(arg))
        except expected_error as e:
            outcomes.append(e)
        except Exception as e:  # noqa: BLE001 - anything else is a failure we report
            unexpected.append(repr(e))

    threads = [threading.Thread(target=run, args=(a,)) for a in arguments]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert unexpected == []
    return outcomes


def test_sixteen_threads_race_for_the_last_seat(pg_city):
    city = pg_city
    ledger = city.ledger
    households = [city.household() for _ in range(RACERS)]
    overbooked = 0
    for trial in range(TRIALS):
        inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name=f"Trial {trial}")
        kids = [city.child(h) for h in households]
        outcomes = race(lambda child: city.book(child, inst, date(2025, 2, 1)), kids, NoSeat)
        winners = [o for o in outcomes if isinstance(o, dict)]
        losers = [o for o in outcomes if isinstance(o, NoSeat)]
        assert len(winners) == 1, f"trial {trial}: {len(winners)} bookings for one seat"
        assert len(losers) == RACERS - 1
        held = ledger.get(Institution, inst).seats_held("nursery", "general")
        overbooked += len(held) > 1
    assert overbooked == 0
    booked = sum(1 for n in ledger.recorder.select_notifications(1, 10**6) if n.topic.endswith(".PlaceBooked"))
    assert booked == TRIALS


def test_one_child_raced_into_two_institutions_gets_one_booking(pg_city):
    city = pg_city
    insts = [city.institution(name=f"I{i}") for i in range(8)]
    for trial in range(10):
        child = city.child(city.household())
        outcomes = race(lambda inst: city.book(child, inst, date(2025, 2, 1)), insts, ChildAlreadyBooked)
        assert sum(isinstance(o, dict) for o in outcomes) == 1
        assert sum(isinstance(o, ChildAlreadyBooked) for o in outcomes) == len(insts) - 1
