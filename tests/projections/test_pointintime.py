"""Point-in-time replay: the views as the ledger knew them at a recorded time equal the
live views captured at that time — with and without checkpoints, on both stores."""

from datetime import date, datetime, timedelta, timezone

import pytest

from ledger import commands as c
from projections import Projector, all_views
from projections.checkpoints import checkpoints
from projections.pointintime import position_at, take_checkpoints, views_as_of
from projections.stores import SQLiteViewStore

D = date


def snapshot(store, views):
    return {t.name: store.checksums(t) for v in views for t in v.tables}


def grow(city, day, district, n=3):
    """A few days' work: institutions, families, bookings, a cancellation."""
    city.ledger.clock.set(day)
    inst = city.institution(kind="integreret", nursery=4, kindergarten=6, district=district, name=f"I{day}")
    booked = []
    for i in range(n):
        hh = city.household(district=district, income_kr=300_000 + 50_000 * i)
        child = city.child(hh, birth=D(2024, 1 + i, 5))
        booked.append(city.book(child, inst, day + timedelta(days=30)))
    city.run(c.CancelBooking(booking_id=booked[0]["id"], effective_date=day + timedelta(days=60), reason="moved"))
    return inst


@pytest.mark.parametrize("every", [None, 7])
def test_replay_at_t_equals_the_live_views_captured_at_t(city, every):
    ledger = city.ledger
    live = Projector(ledger, all_views(), page_size=5, checkpoint_every=every)
    captured = []
    for i, day in enumerate([D(2025, 1, 13), D(2025, 2, 3), D(2025, 3, 3)]):
        grow(city, day, ["Valby", "Vesterbro", "Amager Vest"][i])
        live.catch_up()
        captured.append((ledger.clock.now(), live.position, snapshot(live.store, live.views)))
    if every:
        # The live projector saves one at the end of each page that crosses a multiple of `every`.
        taken = sorted({p for _, p in checkpoints(live.store)})
        assert len(taken) >= live.position // every // 2
        assert all(b // every > a // every for a, b in zip([0, *taken], taken))
    for instant, position, expected in captured:
        assert position_at(ledger, instant) == position
        with views_as_of(ledger, instant) as past:
            assert past.position("views") == position
            assert snapshot(past, all_views()) == expected
    live.close()


def test_checkpoints_taken_afterwards_give_the_same_replay(city):
    ledger = city.ledger
    grow(city, D(2025, 1, 13), "Valby")
    middle = ledger.clock.now()
    grow(city, D(2025, 2, 3), "Valby")
    live = Projector(ledger, all_views())
    live.catch_up()
    with views_as_of(ledger, middle) as past:
        from_zero = snapshot(past, all_views())
    added = take_checkpoints(ledger, every=4)
    assert added and added == list(range(4, ledger.max_position() + 1, 4))
    assert take_checkpoints(ledger, every=4) == []  # nothing new to checkpoint
    with views_as_of(ledger, middle) as past:
        assert snapshot(past, all_views()) == from_zero
    live.close()


def test_a_date_means_the_end_of_that_day_in_copenhagen(city):
    ledger = city.ledger
    # 23:30 UTC on 12 January is already 13 January in Copenhagen.
    ledger.clock.set(datetime(2025, 1, 12, 23, 30, tzinfo=timezone.utc))
    city.institution(name="Late")
    late = ledger.max_position()
    assert position_at(ledger, D(2025, 1, 12)) < late
    assert position_at(ledger, D(2025, 1, 13)) == late
    assert position_at(ledger, datetime(2000, 1, 1, tzinfo=timezone.utc)) == 0


def test_before_the_first_event_the_views_are_empty(city):
    grow(city, D(2025, 1, 13), "Valby")
    with views_as_of(city.ledger, datetime(2000, 1, 1, tzinfo=timezone.utc)) as past:
        assert isinstance(past, SQLiteViewStore)
        assert past.position("views") == 0
        assert all(not rows for rows in snapshot(past, all_views()).values())


def test_valid_time_beside_recorded_time(city, tmp_path):
    """A has 10 nursery seats from 2024; on 2025-02-03 a change to 12 from 2025-06-01 is recorded,
    and a child is booked from 2025-03-01. The capacity in force on 2025-07-01 is 10 as the ledger
    knew it on 2025-01-31 and 12 as it knows it now; on 2025-04-01 it is 10 either way."""
    from projections.export import exportable
    from projections.validtime import NoValidTime, in_force_on

    ledger = city.ledger
    a = city.institution(kind="vuggestue", nursery=10, kindergarten=None, name="A")
    ledger.clock.set(D(2025, 2, 3))
    city.run(c.ChangeCapacity(institution_id=a, age_group="nursery", pool="general", seats=12,
                              effective_from=D(2025, 6, 1)), channel="system")
    child = city.child(city.household(), birth=D(2024, 3, 15))
    city.book(child, a, D(2025, 3, 1))
    tables = exportable(all_views())

    def rows(as_of, table, day):
        with views_as_of(ledger, as_of) as past:
            return in_force_on(tables[table], list(past.load(tables[table])), day)

    def seats(as_of, day):
        return [(r["age_group"], r["seats"]) for r in rows(as_of, "institution_capacity", day)]

    assert seats(D(2025, 1, 31), D(2025, 7, 1)) == [("nursery", 10)]
    assert seats(D(2025, 2, 28), D(2025, 7, 1)) == [("nursery", 12)]
    assert seats(D(2025, 2, 28), D(2025, 4, 1)) == [("nursery", 10)]
    assert rows(D(2025, 2, 28), "seat_spans", D(2025, 2, 15)) == []
    assert [r["child_id"] for r in rows(D(2025, 2, 28), "seat_spans", D(2025, 4, 1))] == [child]
    assert rows(D(2025, 1, 31), "seat_spans", D(2025, 4, 1)) == []  # not booked yet as known then
    april = rows(D(2025, 2, 28), "occupancy", D(2025, 4, 10))
    assert {(r["month"], r["pool"], r["capacity"], r["booked"]) for r in april} == {("2025-04", "general", 10, 1)}
    with pytest.raises(NoValidTime, match="waiting_list has no valid time"):
        in_force_on(tables["waiting_list"], [], D(2025, 4, 1))
