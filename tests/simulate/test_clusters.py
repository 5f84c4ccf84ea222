"""The synthetic city's clusters (klynger): each district's municipal institutions in clusters of
4–8 neighbours, about 40 city-wide as Copenhagen's 40 cluster leaders (seed 000, § 4), recorded
through AssignCluster and fixed by the seed."""

from __future__ import annotations

import itertools
import random
import uuid
from collections import Counter
from datetime import date

import projections
from projections import lookups
from replay.simulate import load_params, simulate
from replay.simulate.city import near, plan_city, plan_clusters


def _city(seed: int, scale: float = 1.0):
    params = load_params()
    counter = itertools.count()
    plans = plan_city(params, scale, random.Random(f"{seed}:city"), lambda: str(uuid.UUID(int=next(counter))))
    centres = {d.name: d.centre for d in params.districts}
    geo = random.Random(f"{seed}:geo")
    for p in plans:
        p.location = near(centres[p.district], params.city.location_jitter_km, geo)
    plan_clusters(plans, centres, params.city.cluster_size)
    return plans


def test_each_districts_municipal_institutions_form_clusters_of_4_to_8():
    plans = _city(seed=1)
    assert all((p.cluster is None) == (p.ownership != "kommunal") for p in plans)
    sizes = Counter(p.cluster for p in plans if p.cluster)
    assert 35 <= len(sizes) <= 45, len(sizes)  # Copenhagen: 40 cluster leaders
    assert all(4 <= n <= 8 for n in sizes.values()), sizes
    for p in plans:
        if p.cluster:
            assert p.cluster.startswith(f"{p.district} Klynge "), (p.cluster, p.district)
    assert [p.cluster for p in _city(seed=1)] == [p.cluster for p in plans]  # the seed fixes them


def test_a_small_city_still_clusters_every_district():
    plans = _city(seed=3, scale=0.1)
    for district in {p.district for p in plans}:
        municipal = [p for p in plans if p.district == district and p.ownership == "kommunal"]
        assert all(p.cluster == f"{district} Klynge 1" for p in municipal) or len(municipal) > 8


def test_the_simulated_ledger_holds_the_clusters(store):
    ledger = store.ledger(date(2025, 1, 1))
    try:
        simulate(ledger, years=0.1, scale=0.05, seed=5, policy="book-en-plads")
        projections.rebuild(ledger, projections.all_views())
        views = projections.open_store(ledger)
        try:
            found = lookups.institution_clusters(views, date(2025, 1, 1))
            institutions = {r["institution_id"]: r for r in projections.queries.institutions(views)}
            rows = projections.queries.occupancy(views, month="2025-01")
        finally:
            views.close()
    finally:
        ledger.close()
    assert found and set(found) <= set(institutions)
    assert all(found[i].startswith(institutions[i]["district"]) for i in found)
    assert all(r["cluster"] == found.get(r["institution_id"]) for r in rows)
    assert len(found) == sum(1 for r in institutions.values() if r["ownership"] == "kommunal")
