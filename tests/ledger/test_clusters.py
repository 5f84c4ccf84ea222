"""An institution's cluster (klynge): an effective-dated fact set by an administrator (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest
from pydantic import ValidationError

from ledger import NotFound
from ledger import commands as c
from ledger.aggregates import Institution

D = date


def test_a_cluster_is_in_force_from_its_date_until_the_next(city):
    inst = city.institution()
    city.run(c.AssignCluster(institution_id=inst, cluster="Nørrebro Klynge 1", effective_from=D(2025, 2, 1)),
             actor="root", channel="system")
    city.run(c.AssignCluster(institution_id=inst, cluster="Nørrebro Klynge 2", effective_from=D(2025, 8, 1),
                             reason="the clusters of Nørrebro were redrawn"), actor="root", channel="system")
    found = city.ledger.get(Institution, inst)
    assert found.cluster_on(D(2025, 1, 31)) is None
    assert found.cluster_on(D(2025, 2, 1)) == "Nørrebro Klynge 1"
    assert found.cluster_on(D(2025, 7, 31)) == "Nørrebro Klynge 1"
    assert found.cluster_on(D(2026, 1, 1)) == "Nørrebro Klynge 2"
    # A correction with the same date replaces the fact; null takes the institution out of its cluster.
    city.run(c.AssignCluster(institution_id=inst, cluster=None, effective_from=D(2025, 8, 1)),
             actor="root", channel="system")
    assert city.ledger.get(Institution, inst).cluster_on(D(2026, 1, 1)) is None


def test_the_event_carries_who_decided_and_why(city):
    inst = city.institution()
    city.run(c.AssignCluster(institution_id=inst, cluster="Valby Klynge 3", effective_from=D(2025, 2, 1),
                             reason="new cluster"), actor="root", channel="system")
    notes = city.ledger.recorder.select_notifications(1, 10_000)
    events = [city.ledger.mapper.to_domain_event(n) for n in notes]
    assigned = [e for e in events if type(e).__name__ == "ClusterAssigned"]
    assert len(assigned) == 1
    meta = assigned[0].meta
    assert (meta["actor"], meta["channel"], meta["reason"]) == ("root", "system", "new cluster")
    assert meta["effective_date"] == D(2025, 2, 1)


def test_an_unknown_institution_is_not_found(city):
    with pytest.raises(NotFound):
        city.run(c.AssignCluster(institution_id="6f1d1f5e-0000-4000-8000-000000000001", cluster="X",
                                 effective_from=D(2025, 2, 1)), channel="system")


@pytest.mark.parametrize("name", ["", "   ", "Klynge\u00001", "Klynge\n2", "Nord, Syd", "Klynge: Nord",
                                  "x" * 101, "Klynge 010203-1234", "\u202eKlynge"])
def test_a_cluster_name_is_one_line_of_printable_text_without_separators(name):
    with pytest.raises(ValidationError):
        c.AssignCluster(institution_id="6f1d1f5e-0000-4000-8000-000000000001", cluster=name,
                        effective_from=D(2025, 2, 1))


def test_a_cluster_name_is_trimmed_and_normalised():
    cmd = c.AssignCluster(institution_id="6f1d1f5e-0000-4000-8000-000000000001", cluster="  Sundby Vo\u0308lund Klynge 1 ",
                          effective_from=D(2025, 2, 1))
    assert cmd.cluster == "Sundby Völund Klynge 1"
