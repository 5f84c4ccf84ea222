"""The projection engine on SQLite and PostgreSQL: pages, exactly once, rebuild, verify."""

from datetime import date

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ledger import NoSeat
from ledger import commands as c
from projections import Occupancy, Projector, all_views, attach_inline, open_store, rebuild, verify
from projections.engine import LogReader
from projections.occupancy import OCCUPANCY
from projections.timeline import TIMELINE

D = date


class Crash(Exception):
    pass


def _crash():
    raise Crash()


def small_history(city):
    """A history with bookings, a refusal, a cancellation, a transfer and a capacity change.

    Six children born 10 January-10 June 2024; the even ones book A (3 nursery seats), the odd
    ones B (2 nursery seats): the sixth finds B's nursery full, and that refusal is asserted."""
    a = city.institution(kind="vuggestue", nursery=3, kindergarten=None, name="A", district="Valby")
    b = city.institution(kind="integreret", nursery=2, kindergarten=3, name="B", district="Amager Vest")
    bookings = []
    for i in range(6):
        child = city.child(city.household(district="Valby"), birth=D(2024, 1 + i, 10))
        inst, start = (a if i % 2 == 0 else b), D(2025, 2 + i % 3, 1)
        if i == 5:
            with pytest.raises(NoSeat):
                city.book(child, inst, start)
        else:
            bookings.append(city.book(child, inst, start))
    city.run(c.CancelBooking(booking_id=bookings[0]["id"], effective_date=D(2025, 3, 15), reason="moved"))
    city.run(c.TransferChild(booking_id=bookings[1]["id"], institution_id=a, effective_date=D(2025, 6, 1),
                             reason="closer to home"))
    city.run(c.ChangeCapacity(institution_id=b, age_group="kindergarten", seats=4, effective_from=D(2025, 8, 1)))
    return a, b, bookings


def rows(store, table, prefix=""):
    return sorted(store.load(table, prefix), key=table.key_of)


def test_occupancy_matches_a_hand_computed_month(city):
    inst = city.institution(kind="vuggestue", nursery=2, kindergarten=None, effective_from=D(2025, 1, 1))
    first = city.book(city.child(city.household()), inst, D(2025, 2, 1))
    city.run(c.CancelBooking(booking_id=first["id"], effective_date=D(2025, 3, 15), reason="moved"))
    city.book(city.child(city.household()), inst, D(2025, 3, 15))
    city.book(city.child(city.household()), inst, D(2025, 3, 20))
    projector = Projector(city.ledger, [Occupancy()])
    projector.catch_up()
    march = next(r for r in projector.store.load(OCCUPANCY) if r["month"] == "2025-03")
    # 1-14 March: 1 child; 15-19: 1 (the seat passed on); 20-31: 2.
    assert (march["capacity"], march["booked"], march["free"]) == (2, 2, 0)
    assert march["seat_days"] == 14 + 5 + 12 * 2
    assert march["capacity_days"] == 2 * 31
    feb = next(r for r in projector.store.load(OCCUPANCY) if r["month"] == "2025-02")
    assert (feb["booked"], feb["seat_days"]) == (1, 28)
    projector.close()


def test_a_reader_that_selects_its_kinds_in_the_database_reads_what_one_filtering_every_row_reads(city):
    """LogReader(selected=True) (the audits' whole-log folds): the same events, and each page ends
    where the reader of every row ends it — `until`, once the rows of other kinds are passed over."""
    small_history(city)
    end = city.ledger.max_position()
    kinds = {"Booking.PlaceBooked", "Booking.BookingCancelled", "Institution.CapacityChanged"}
    every, selected = LogReader(city.ledger, kinds), LogReader(city.ledger, kinds, selected=True)
    for size in (1, 3, 10_000):
        pages = {}
        for reader in (every, selected):
            position, read = 0, []
            while position < end:
                page, last = reader.page(position, size, end)
                if last == position:
                    break
                read += [(e.position, e.kind, e.originator_id, e.data) for e in page]
                position = last
            pages[reader] = (read, position)
        assert pages[every] == pages[selected] and pages[selected][1] == end
    assert {k for _, k, _, _ in pages[selected][0]} == kinds
    assert selected.page(0, 10_000, 3)[1] == 3  # a page to `until` ends there, however few rows it selected


def test_events_every_reading_view_takes_for_their_time_alone_are_read_without_their_json(city):
    """The waiting lists take a statement, a friplads decision or a booking only for its recorded
    time (their clock): read for them alone, such an event carries its time and no data — the
    same time a whole decode gives — while a view that reads the data (billing) gets it whole."""
    from projections import Billing, WaitingLists
    from projections.engine import reader_for

    small_history(city)
    end = city.ledger.max_position()
    lists, billing = WaitingLists(), Billing()
    assert "Booking.PlaceBooked" in lists.time_only and "Booking.PlaceBooked" not in billing.time_only
    whole = {e.position: e for e in LogReader(city.ledger, lists.handles).page(0, 10_000, end)[0]}
    clock = {e.position: e for e in reader_for(city.ledger, [lists]).page(0, 10_000, end)[0]}
    both = {e.position: e for e in reader_for(city.ledger, [lists, billing]).page(0, 10_000, end)[0]}
    booked = [p for p, e in whole.items() if e.kind == "Booking.PlaceBooked"]
    assert booked and set(clock) == set(whole) == set(both) - {p for p, e in both.items() if e.kind not in lists.handles}
    for p in booked:
        assert clock[p].data == {} and clock[p].recorded_at == whole[p].recorded_at
        assert (clock[p].originator_id, clock[p].version, clock[p].kind) == (whole[p].originator_id, whole[p].version,
                                                                              whole[p].kind)
        assert both[p].data == whole[p].data and both[p].data["child_id"]
    children = [p for p, e in whole.items() if e.kind == "Child.ChildRegistered"]
    assert children and all(clock[p].data == whole[p].data for p in children)  # read for more than the clock


def test_the_timeline_lists_a_childs_events_in_order(city):
    a, b = city.institution(name="A"), city.institution(name="B")
    child = city.child(city.household())
    booking = city.book(child, a, D(2025, 2, 1))
    city.run(c.TransferChild(booking_id=booking["id"], institution_id=b, effective_date=D(2025, 5, 1),
                             reason="parents asked"))
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    events = [r for r in rows(projector.store, TIMELINE) if r["child_id"] == child]
    assert [r["event"] for r in events] == [
        "ChildRegistered", "Opskrevet", "PlaceBooked", "ChildTransferred", "PlaceBooked"]
    assert events[3]["reason"] == "parents asked" and events[3]["institution_id"] == b
    assert [r["position"] for r in events] == sorted(r["position"] for r in events)
    projector.close()


def test_inline_projection_gives_read_your_writes(city):
    projector = Projector(city.ledger, all_views())
    attach_inline(city.ledger, projector)
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None)
    city.book(city.child(city.household()), inst, D(2025, 2, 1))
    assert projector.position == city.ledger.max_position()
    feb = next(r for r in projector.store.load(OCCUPANCY) if r["month"] == "2025-02")
    assert feb["booked"] == 1 and feb["free"] == 0
    city.ledger.after_commit.clear()
    projector.close()


def test_a_crash_before_commit_leaves_nothing_and_resumes(city):
    small_history(city)
    projector = Projector(city.ledger, all_views(), page_size=7)
    projector.run_page()
    at = projector.position

    with pytest.raises(Crash):
        projector.run_page(crash_before_commit=_crash)
    assert projector.store.position("views") == at == projector.position
    projector.catch_up()
    assert projector.position == city.ledger.max_position()
    assert verify(city.ledger, all_views()) == []
    projector.close()


def test_rebuild_twice_gives_identical_checksums_and_equals_live(city):
    """Once in this process, once in two (billing and budget in one, the other views in the other)."""
    small_history(city)
    live = Projector(city.ledger, all_views(), page_size=5)
    live.catch_up()
    live.close()
    store = open_store(city.ledger)
    before = {t.name: store.checksums(t) for v in all_views() for t in v.tables}
    rebuild(city.ledger, all_views())
    once = {t.name: store.checksums(t) for v in all_views() for t in v.tables}
    rebuild(city.ledger, all_views(), workers=2)  # the views folded in two processes
    twice = {t.name: store.checksums(t) for v in all_views() for t in v.tables}
    assert before == once == twice
    assert store.position("views") == city.ledger.max_position()
    store.close()


def test_a_rebuild_splits_billing_into_shares_and_sums_them_as_one_process_would(city):
    """With several processes the billing view (and its linked budget) is folded by each and derived
    by share of households; the summary rows are summed from all shares' parts afterwards."""
    from projections import Billing, Budget, LinkedBudget, billing_views
    from projections.rebuilding import _balanced

    groups, sharded = _balanced(all_views(), 2)
    shares = sorted(v.share for g in groups for v in g if isinstance(v, Billing))
    assert shares == [(0, 2), (1, 2)] and [type(v) for v in sharded] == [Billing, LinkedBudget]
    assert sorted(type(v).__name__ for g in groups for v in g).count("Occupancy") == 1
    small_history(city)
    store = open_store(city.ledger)
    for make, workers in ((billing_views, 3), (lambda: [Billing(), Budget()], 2)):
        rebuild(city.ledger, make(), workers=1)
        one = {t.name: store.checksums(t) for v in make() for table in v.tables for t in (table, *table.views)}
        assert one["statement_line_runs"] and one["budget"] and one["budget_parts"] and one["budget_part_runs"]
        rebuild(city.ledger, make(), workers=workers)
        assert {t.name: store.checksums(t) for v in make() for table in v.tables for t in (table, *table.views)} == one
    store.close()


def test_verify_catches_an_injected_drift(city):
    small_history(city)
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    store = projector.store
    sql = "UPDATE occupancy SET booked = booked + 1 WHERE month = '2025-04'"
    if store.dialect == "sqlite":
        store.conn.execute(sql)
    else:
        store.conn.execute(sql)
    drifts = verify(city.ledger, all_views())
    assert [d.table for d in drifts] == ["occupancy"]
    assert drifts[0].different and all(k[3] == "2025-04" for k in drifts[0].different)
    projector.close()


def test_a_projector_whose_page_starts_behind_the_stored_position_applies_nothing(city):
    """Two projectors of one name with different pages: the second page overlaps what the first
    committed, so it is refused whole (it would apply events 1-5 twice) and the projector goes on."""
    from projections.stores import PositionMoved

    small_history(city)
    first = Projector(city.ledger, all_views(), page_size=5)
    second = Projector(city.ledger, all_views(), page_size=12)
    assert first.run_page() == 5
    with pytest.raises(PositionMoved, match="at 5, not 0"):
        second.run_page()
    assert second.position == 5  # reloaded from the store
    second.catch_up()
    first.catch_up()  # the other one moved on meanwhile: it reloads and finds nothing left
    assert first.position == second.position == city.ledger.max_position()
    assert verify(city.ledger, all_views()) == []
    first.close()
    second.close()


def test_two_projectors_committing_their_first_page_at_once(city):
    """Fresh views, no stored position yet: both fold the first page and commit together; one wins,
    the other is refused (before, neither found a position row to lock and both wrote the page)."""
    import threading

    from projections.stores import PositionMoved

    small_history(city)
    together = threading.Barrier(2, timeout=30)
    outcomes = []

    def project():
        projector = None
        try:
            projector = Projector(city.ledger, all_views(), page_size=10)
            projector.run_page(crash_before_commit=together.wait)
            outcomes.append("committed")
        except PositionMoved:
            outcomes.append("refused")
        except Exception as e:  # noqa: BLE001 - the test reports it
            outcomes.append(repr(e))
        finally:
            if projector is not None:
                projector.close()

    threads = [threading.Thread(target=project) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(outcomes) == ["committed", "refused"]
    projector = Projector(city.ledger, all_views())
    assert projector.position == 10
    projector.catch_up()
    assert verify(city.ledger, all_views()) == []
    projector.close()


def _scratch_tables(store):
    if store.dialect == "sqlite":
        sql = "SELECT name FROM sqlite_master WHERE type = 'table' AND name LIKE 'scratch%'"
    else:
        sql = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() " \
              "AND table_name LIKE 'scratch%%'"
    return store.query(sql)


@pytest.mark.parametrize("workers", [1, 2])
def test_verify_counts_every_drifted_row_and_names_the_first_keys(city, workers):
    """The copies are compared in the database: every row is counted, only a sample of keys comes back;
    a NULL where the rebuild has a value is a difference too. In one process or in two."""
    small_history(city)
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    store = projector.store
    p = store.placeholder
    occupancy = rows(store, OCCUPANCY)
    assert len(occupancy) > 8
    first, second = occupancy[0], occupancy[1]
    where = " AND ".join(f"{k} = {p}" for k in OCCUPANCY.key)
    store.query_write(f"DELETE FROM occupancy WHERE {where}", OCCUPANCY.key_of(first))
    store.query_write(f"UPDATE occupancy SET capacity = NULL WHERE {where}", OCCUPANCY.key_of(second))
    store.query_write("UPDATE occupancy SET booked = booked + 1 WHERE month = '2025-04'")
    april = [r for r in occupancy[2:] if r["month"] == "2025-04"]
    extra = dict(first, month="1999-01")
    names = OCCUPANCY.column_names
    store.query_write(f"INSERT INTO occupancy ({', '.join(names)}) VALUES ({', '.join(p for _ in names)})",
                      tuple(extra[n] for n in names))
    drifts = verify(city.ledger, all_views(), sample=2, workers=workers)
    assert [d.table for d in drifts] == ["occupancy"]
    d = drifts[0]
    assert d.counts == {"missing": 1, "extra": 1, "different": 1 + len(april)}
    assert d.missing == [OCCUPANCY.key_of(first)] and d.extra == [OCCUPANCY.key_of(extra)]
    assert len(d.different) == 2
    assert set(d.different) <= {OCCUPANCY.key_of(r) for r in [second, *april]}
    assert _scratch_tables(store) == []
    projector.close()


def test_verify_refuses_views_that_moved_while_it_rebuilt(city):
    from projections import ViewsMoved

    small_history(city)
    projector = Projector(city.ledger, all_views(), page_size=5)
    projector.run_page()

    def a_follower_commits(done, total):
        if projector.position < city.ledger.max_position():
            projector.run_page()

    with pytest.raises(ViewsMoved, match="moved from position 5 to "):
        verify(city.ledger, all_views(), page_size=3, workers=1, progress=a_follower_commits)
    assert _scratch_tables(projector.store) == []
    projector.catch_up()
    assert verify(city.ledger, all_views()) == []
    projector.close()


@settings(max_examples=8, deadline=None, suppress_health_check=list(HealthCheck))
@given(page_sizes=st.lists(st.integers(1, 40), min_size=1, max_size=6),
       crashes=st.lists(st.booleans(), min_size=1, max_size=12))
def test_page_by_page_with_crashes_equals_one_rebuild(histories, page_sizes, crashes):
    ledger = histories
    store = open_store(ledger)
    tables = [t for v in all_views() for t in v.tables]
    store.drop(tables, "")
    store.conn.execute("DELETE FROM projection_positions")
    step = 0
    while True:
        # A fresh projector after every crash, like a process restarted after kill -9.
        projector = Projector(ledger, all_views(), page_size=page_sizes[step % len(page_sizes)], store=store)
        try:
            while True:
                # Crash at the drawn points, then run clean so the loop ends.
                crash = step < len(crashes) and crashes[step]
                step += 1
                if projector.run_page(crash_before_commit=_crash if crash else None) == 0:
                    break
            break
        except Crash:
            continue
    paged = {t.name: store.checksums(t) for t in tables}
    assert store.position("views") == ledger.max_position()
    rebuild(ledger, all_views())
    assert {t.name: store.checksums(t) for t in tables} == paged
    store.close()


@pytest.fixture
def histories(store, city_class):
    """One history per store, shared by the examples of the property test."""
    with store.ledger() as ledger:
        small_history(city_class(ledger))
        yield ledger


def test_queries_filter_and_roll_up_by_district(city):
    from projections import queries

    a, b, _ = small_history(city)
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    store = projector.store
    only_a = queries.occupancy(store, institution_id=a, month="2025-04")
    assert only_a and all(r["institution_id"] == a and r["month"] == "2025-04" for r in only_a)
    valby = [r for r in queries.occupancy_by_district(store, month="2025-04") if r["district"] == "Valby"]
    assert sum(r["booked"] for r in valby) == sum(r["booked"] for r in only_a)
    assert queries.institution(store, a)["name"] == "A"
    child = next(iter(queries.child_history(store, r["child_id"]) for r in store.load(TIMELINE)))
    assert child[0]["event"] == "ChildRegistered" and isinstance(child[0]["effective_date"], date)
    projector.close()


@settings(max_examples=200, deadline=None)
@given(spans=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 120)), max_size=12),
       caps=st.dictionaries(st.integers(0, 400), st.integers(0, 30), max_size=5))
def test_occupancy_sweep_equals_counting_every_day(spans, caps):
    """The month figures from the change-day sweep equal a count of every single day."""
    from datetime import timedelta

    from projections.occupancy import monthly_use

    base = date(2025, 1, 1)
    spans = [(base + timedelta(days=a), base + timedelta(days=a + n)) for a, n in spans]
    caps = {base + timedelta(days=d): n for d, n in caps.items()}
    last = base + timedelta(days=600)
    expected = {}
    day = base
    while day <= last.replace(day=28) or day.month == last.month:
        month = day.replace(day=1)
        in_use = sum(1 for a, z in spans if a <= day <= z)
        capacity = max(((d, n) for d, n in caps.items() if d <= day), default=(day, 0))[1]
        most, fewest, seat_days, capacity_days = expected.get(month, (0, None, 0, 0))
        expected[month] = (max(most, in_use), capacity if fewest is None else min(fewest, capacity),
                           seat_days + in_use, capacity_days + capacity)
        day += timedelta(days=1)
    got = {m: (most, fewest, sd, cd) for m, most, fewest, sd, cd in monthly_use(spans, caps, base, last)}
    assert got == expected


def test_big_pages_upsert_and_delete_through_staging_tables(city, monkeypatch):
    """On PostgreSQL a page with many changed rows goes through COPY into a staging table."""
    from projections.stores import postgres as stores

    if city.ledger.store.kind != "postgres":
        pytest.skip("PostgreSQL's staging path")
    monkeypatch.setattr(stores, "_COPY_FROM", 1)  # every upsert and delete takes the staging path
    small_history(city)
    projector = Projector(city.ledger, all_views(), page_size=3)
    projector.catch_up()
    projector.close()
    assert verify(city.ledger, all_views()) == []



def _occupancy_events(draws):
    """Envelopes of one institution's nursery seats: capacity changes, reservations (each booking
    its own) and releases of one of the bookings reserved so far."""
    from datetime import datetime, timedelta, timezone

    from projections.engine import Envelope

    base, at = date(2025, 1, 1), datetime(2025, 1, 1, tzinfo=timezone.utc)
    events = [Envelope(1, at, "Institution", "InstitutionRegistered", "inst", 1, {
        "name": "A", "district": "Valby", "kind": "integreret", "ownership": "kommunal", "municipality_code": "101"})]
    booked: list[str] = []
    for what, a, b, c in draws:
        n = len(events) + 1
        if what == "capacity":
            name, data = "CapacityChanged", {"age_group": "nursery", "pool": "general",
                                             "effective_from": base + timedelta(days=a), "seats": c}
        elif what == "reserve" or not booked:
            booked.append(f"b{n}")
            name, data = "SeatsReserved", {"booking_id": f"b{n}", "child_id": f"c{n}", "pool": "general",
                                           "segments": [("nursery", base + timedelta(days=a),
                                                         base + timedelta(days=a + b))]}
        else:
            name, data = "SeatsReleased", {"booking_id": booked[c % len(booked)], "from_date": base + timedelta(days=a)}
        events.append(Envelope(n, at, "Institution", name, "inst", n, data))
    return events


@settings(max_examples=300, deadline=None)
@given(draws=st.lists(st.tuples(st.sampled_from(["capacity", "reserve", "release"]), st.integers(0, 900),
                                st.integers(0, 500), st.integers(0, 6)), max_size=14))
def test_occupancy_event_by_event_equals_all_at_once(draws):
    """Occupancy derives only the months from the first day a page's changes reach: page by page
    (one event each) it ends with the rows one derivation of the whole history gives — spans
    released to nothing at either end, capacity before the first month or after the last, a
    booking long after the months derived so far."""
    paged, whole = Occupancy(), Occupancy()
    for e in _occupancy_events(draws):
        paged.apply(e)
        paged.finish_page()
        paged.changes()
        whole.apply(e)
    whole.finish_page()
    assert paged.t["occupancy"].rows == whole.t["occupancy"].rows
