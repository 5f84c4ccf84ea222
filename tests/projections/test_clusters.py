"""Clusters (klynger) on the read side: the occupancy view's cluster column and roll-up, the
institutions' clusters on a day, the booked children of an institution (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

from ledger import commands as c
from projections import Projector, all_views, lookups, queries, verify
from projections.pointintime import views_as_of

D = date


def _assign(city, inst, cluster, day):
    city.run(c.AssignCluster(institution_id=inst, cluster=cluster, effective_from=day), actor="root", channel="system")


def test_occupancy_rows_name_the_cluster_in_force_at_the_end_of_each_month(city):
    inst = city.institution(kind="vuggestue", nursery=3, kindergarten=None, effective_from=D(2025, 1, 1))
    city.book(city.child(city.household()), inst, D(2025, 2, 1))
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    assert {r["cluster"] for r in queries.occupancy(projector.store, institution_id=inst)} == {None}
    _assign(city, inst, "Nørrebro Klynge 1", D(2025, 1, 15))   # mid-January: January's last day is in it
    _assign(city, inst, "Nørrebro Klynge 2", D(2025, 6, 2))    # June belongs to the new one
    projector.catch_up()
    by_month = {r["month"]: r["cluster"] for r in queries.occupancy(projector.store, institution_id=inst)}
    assert by_month["2025-01"] == by_month["2025-05"] == "Nørrebro Klynge 1"
    assert by_month["2025-06"] == by_month["2025-12"] == "Nørrebro Klynge 2"
    projector.close()
    assert verify(city.ledger, all_views()) == []


def test_institution_clusters_on_a_day_and_the_cluster_roll_up(city):
    a = city.institution(kind="vuggestue", nursery=3, kindergarten=None, name="A", effective_from=D(2025, 1, 1))
    b = city.institution(kind="vuggestue", nursery=4, kindergarten=None, name="B", effective_from=D(2025, 1, 1))
    lone = city.institution(kind="vuggestue", nursery=5, kindergarten=None, name="C", effective_from=D(2025, 1, 1))
    _assign(city, a, "Nørrebro Klynge 1", D(2025, 1, 1))
    _assign(city, b, "Nørrebro Klynge 1", D(2025, 1, 1))
    _assign(city, b, "Nørrebro Klynge 2", D(2025, 9, 1))
    _assign(city, a, None, D(2026, 1, 1))  # a leaves its cluster (it became self-owned, say)
    city.book(city.child(city.household()), a, D(2025, 3, 1))
    city.book(city.child(city.household(), birth=D(2024, 4, 1)), b, D(2025, 3, 1))
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    store = projector.store
    assert lookups.institution_clusters(store, D(2024, 12, 31)) == {}
    assert lookups.institution_clusters(store, D(2025, 4, 1)) == {a: "Nørrebro Klynge 1", b: "Nørrebro Klynge 1"}
    assert lookups.institution_clusters(store, D(2025, 9, 1)) == {a: "Nørrebro Klynge 1", b: "Nørrebro Klynge 2"}
    assert lookups.institution_clusters(store, D(2026, 1, 1)) == {b: "Nørrebro Klynge 2"}
    assert lone not in lookups.institution_clusters(store, D(2025, 4, 1))
    april = {r["cluster"]: r for r in queries.occupancy_by_cluster(store, month="2025-04")}
    assert set(april) == {"Nørrebro Klynge 1"}  # C is in no cluster: left out
    assert (april["Nørrebro Klynge 1"]["capacity"], april["Nørrebro Klynge 1"]["booked"]) == (7, 2)
    october = {r["cluster"]: r["capacity"] for r in queries.occupancy_by_cluster(store, month="2025-10")}
    assert october == {"Nørrebro Klynge 1": 3, "Nørrebro Klynge 2": 4}
    projector.close()
    # As the ledger knew it before b's move was recorded: b was still in cluster 1 in October.
    with views_as_of(city.ledger, _position_of_event(city.ledger, "ClusterAssigned", 3) - 1) as past:
        assert lookups.institution_clusters(past, D(2025, 10, 1)) == {a: "Nørrebro Klynge 1", b: "Nørrebro Klynge 1"}


def _position_of_event(ledger, name, nth):
    """The log position of the nth event called `name`."""
    seen = 0
    for n in ledger.recorder.select_notifications(1, 10_000):
        if n.topic.endswith("." + name):
            seen += 1
            if seen == nth:
                return n.id
    raise AssertionError(f"no {nth}th {name}")


def test_booked_children_are_counted_without_person_data(city):
    inst = city.institution(kind="integreret", nursery=5, kindergarten=5, effective_from=D(2025, 1, 1))
    first = city.book(city.child(city.household(), birth=D(2024, 3, 15)), inst, D(2025, 2, 1))
    city.book(city.child(city.household(), birth=D(2024, 3, 20)), inst, D(2025, 2, 1))
    gone = city.book(city.child(city.household(), birth=D(2024, 5, 1)), inst, D(2025, 4, 1))
    city.run(c.CancelBooking(booking_id=gone["id"], effective_date=D(2025, 3, 1), reason="moved away"))
    del first
    projector = Projector(city.ledger, all_views())
    projector.catch_up()
    rows = lookups.booked_children(projector.store, inst)
    assert all(set(r) == {"age_group", "pool", "start_month", "end_month", "children"} for r in rows)
    nursery = [r for r in rows if r["age_group"] == "nursery"]
    # Two children born in March 2024: nursery February 2025 to the month before 2 y 10 m (December 2026).
    assert nursery == [{"age_group": "nursery", "pool": "general", "start_month": "2025-02", "end_month": "2026-12",
                        "children": 2}]  # the cancelled booking never held a day
    kindergarten = [r for r in rows if r["age_group"] == "kindergarten"]
    assert [(r["start_month"], r["children"]) for r in kindergarten] == [("2027-01", 2)]
    assert lookups.booked_children(projector.store, inst, to_month="2026-12") == nursery
    assert lookups.booked_children(projector.store, inst, from_month="2027-01") == kindergarten
    projector.close()
