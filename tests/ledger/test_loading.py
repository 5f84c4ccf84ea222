"""How a command reads its aggregates (Ledger.load): fresh across processes, from the latest
snapshot, never sharing state with the cache, and in one query (PostgreSQL) or one per few
hundred aggregates (SQLite)."""

from __future__ import annotations

import threading
import uuid
from datetime import date

import psycopg
import pytest

from ledger import commands as c
from ledger import sqlitestore
from ledger.aggregates import Child, Household, Institution, RuleBook

D = date


def test_a_cached_aggregate_sees_what_another_process_wrote_since(store, city_class):
    first = city_class(store.ledger())
    hh = first.household()
    child = first.child(hh)
    inst = first.institution(kind="vuggestue", nursery=5, kindergarten=None)
    cached = first.ledger.load([uuid.UUID(child)])[uuid.UUID(child)]
    # Another process (its own ledger, its own cache) books the child.
    with store.ledger() as other:
        other.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 9, 1)),
                      actor="bo", channel="caseworker")
    fresh = first.ledger.load([uuid.UUID(child)])[uuid.UUID(child)]
    assert fresh.version > cached.version and fresh.placements and not cached.placements
    # ... so the first ledger refuses a second booking instead of double-booking the child.
    second = first.institution(kind="vuggestue", nursery=5, kindergarten=None, name="Mælkebøtten")
    try:
        first.book(child, second, D(2025, 9, 1))
        raise AssertionError("the child was booked twice")
    except Exception as e:  # noqa: BLE001
        assert "already holds booking" in str(e)
    first.ledger.close()


@pytest.mark.parametrize("chunk", [sqlitestore.CHUNK, 1])  # SQLite: one query per chunk of ids
def test_load_mixes_cached_uncached_snapshotted_and_unknown_ids(store, city_class, chunk, monkeypatch):
    monkeypatch.setattr(sqlitestore, "CHUNK", chunk)
    city = city_class(store.ledger())
    inst = city.institution(kind="vuggestue", nursery=60, kindergarten=None)
    for _ in range(55):  # > 50 events: the institution is snapshotted
        city.book(city.child(city.household()), inst, D(2025, 9, 1))
    inst_id = uuid.UUID(inst)
    assert list(city.ledger.snapshots.get(inst_id)), "no snapshot taken"
    hh = uuid.UUID(city.household())
    unknown = uuid.uuid4()
    with store.ledger() as cold:  # an empty cache: snapshot + events after it
        loaded = cold.load([inst_id, hh, unknown, RuleBook.create_id()])
    assert set(loaded) == {inst_id, hh, RuleBook.create_id()}
    warm = city.ledger.load([inst_id, hh, unknown])
    for agg in (loaded[inst_id], warm[inst_id]):
        assert isinstance(agg, Institution)
        assert len(agg.reservations) == 55 and agg.version == city.ledger.load([inst_id])[inst_id].version
    assert isinstance(loaded[hh], Household) and loaded[hh].version == warm[hh].version
    city.ledger.close()


def test_loaded_aggregates_are_copies_a_refused_command_cannot_spoil(store, city_class):
    city = city_class(store.ledger())
    child = uuid.UUID(city.child(city.household()))
    first = city.ledger.load([child])[child]
    first.birth_date = D(1900, 1, 1)  # a command's copy, changed and thrown away
    again = city.ledger.load([child])[child]
    assert again is not first and isinstance(again, Child) and again.birth_date == D(2024, 3, 15)
    city.ledger.close()


def test_on_postgresql_a_booking_reads_its_aggregates_in_one_query(pg_store, city_class, monkeypatch):
    city = city_class(pg_store.ledger())
    inst = city.institution(kind="vuggestue", nursery=5, kindergarten=None)
    hh = city.household()
    child = city.child(hh)
    with pg_store.ledger() as fresh:  # nothing cached: every aggregate from the database
        selects: list[str] = []
        execute = psycopg.Cursor.execute
        me = threading.get_ident()  # other tests' threads may still be closing their connections

        def counting(self, query, params=None, **kw):
            text = query if isinstance(query, str) else query.as_string(self)
            if threading.get_ident() == me and text.lstrip().upper().startswith(("SELECT", "WITH")):
                selects.append(text)
            return execute(self, query, params, **kw)

        monkeypatch.setattr(psycopg.Cursor, "execute", counting)
        fresh.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 9, 1)),
                      actor="anna", channel="caseworker")
        monkeypatch.undo()
    # The rule book, the child and the institution together (the household is not read).
    assert len(selects) == 1, selects
    city.ledger.close()


def test_a_snapshot_is_taken_from_the_saved_aggregate_and_reloads_the_same(store, city_class):
    """A bulk batch that carries an institution past version 50 snapshots it as saved (at its
    latest version); a ledger with an empty cache rebuilds the same state from that snapshot."""
    city = city_class(store.ledger())
    inst = city.institution(kind="vuggestue", nursery=100, kindergarten=None)
    with city.ledger.bulk(actor="import", channel="import", batch_size=100) as bulk:
        for i in range(60):
            bulk.execute(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=100 + i,
                                          effective_from=D(2025, 1, 1) + (D(2025, 2, 1) - D(2025, 1, 1)) * (i % 7)))
    inst_id = uuid.UUID(inst)
    warm = city.ledger.load([inst_id])[inst_id]
    snapshots = list(city.ledger.snapshots.get(inst_id))
    assert [s.originator_version for s in snapshots] == [warm.version] and warm.version > 50
    with store.ledger() as cold:
        again = cold.load([inst_id])[inst_id]
    assert again.__dict__ == warm.__dict__
    city.ledger.close()


def test_a_private_ledger_reads_what_its_batches_saved_without_asking_the_store(store, city_class, monkeypatch):
    """A scratch ledger no one else writes (Ledger(private=True), the counterfactual's): the cache
    takes what each bulk batch saved, so a later command reads it current without a query."""
    city = city_class(store.ledger(private=True))
    ledger = city.ledger
    inst = city.institution(kind="vuggestue", nursery=5, kindergarten=None)
    child = city.child(city.household())
    with ledger.bulk(actor="anna", channel="caseworker", batch_size=1) as batch:
        assert batch.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 9, 1)))
        assert batch.execute(c.ChangeCapacity(institution_id=inst, age_group="nursery", pool="general", seats=6,
                                              effective_from=D(2025, 1, 1)))

    def asked(*args):
        raise AssertionError("a private ledger asked the store for an aggregate it holds")

    monkeypatch.setattr(ledger, "_events_since", asked)
    loaded = ledger.load([uuid.UUID(child), uuid.UUID(inst)])
    assert list(loaded[uuid.UUID(child)].placements.values())[0][1] == D(2025, 9, 1)
    assert loaded[uuid.UUID(inst)].capacity_on("nursery", "general", D(2025, 9, 1)) == 6
    second = city.institution(kind="vuggestue", nursery=5, kindergarten=None, name="Mælkebøtten")
    refused = None
    try:
        city.book(child, second, D(2025, 9, 1))
    except Exception as e:  # noqa: BLE001
        refused = e
    assert refused is not None and "already holds booking" in str(refused)
    ledger.close()


def test_a_ledger_that_is_not_private_asks_the_store_for_what_others_wrote(store, city_class, monkeypatch):
    city = city_class(store.ledger())
    child = uuid.UUID(city.child(city.household()))
    city.ledger.load([child])
    calls = []
    if store.kind == "postgres":
        import ledger.pgstore as module
    else:
        import ledger.sqlitestore as module
    real = module.select_since
    monkeypatch.setattr(module, "select_since", lambda *a: calls.append(a) or real(*a))
    city.ledger.load([child])
    assert calls
    city.ledger.close()
