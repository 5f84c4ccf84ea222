"""Clusters over HTTP and the cluster leader's bounds (SQLite and PostgreSQL).

An administrator puts institutions in clusters (PUT /v1/institutions/{id}/cluster); the look-ups
and the occupancy name them; a cluster leader (token bound to "Nørrebro Klynge 1") sees its
cluster's institutions only — another cluster's institution answers 404 exactly as an unknown id —
and the children booked there as counts, without child or household ids."""

from __future__ import annotations

import uuid

import pytest

from api.auth import parse_tokens

from .conftest import LEADER_CLUSTER

OTHER = "Nørrebro Klynge 2"


def _put_cluster(api, inst, cluster, day="2025-01-01", role="admin"):
    return api.put(f"/v1/institutions/{inst}/cluster", role=role, json={"cluster": cluster, "effective_from": day})


@pytest.fixture
def town(api):
    """A and B in the leader's cluster, C in another, D in none; a child booked in A and one in C."""
    api.activate()
    ids = {}
    for name in "ABCD":
        ids[name] = api.institution(name=f"Børnehuset {name}")
    for name, cluster in (("A", LEADER_CLUSTER), ("B", LEADER_CLUSTER), ("C", OTHER)):
        api.ok(_put_cluster(api, ids[name], cluster), 200)
    for name in "AC":
        child = api.child(api.household(), birth="2024-03-15")
        api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": ids[name],
                                               "start_date": "2025-03-01"}))
        ids[f"child {name}"] = child
    return ids


def test_an_admin_assigns_a_cluster_and_the_look_ups_name_it(api, town):
    answer = api.ok(_put_cluster(api, town["D"], "Nørrebro Klynge 3", day="2025-02-01"), 200)
    assert (answer["id"], answer["cluster"], answer["effective_from"]) == (town["D"], "Nørrebro Klynge 3", "2025-02-01")
    assert _put_cluster(api, town["D"], "X", role="caseworker").status_code == 403
    refused = _put_cluster(api, town["D"], "Nord, Syd")
    assert refused.status_code == 422 and refused.headers["content-type"].startswith("application/problem+json")
    assert _put_cluster(api, str(uuid.uuid4()), "X").status_code == 404
    rows = {r["name"]: r["cluster"] for r in api.ok(api.get("/v1/institutions"), 200)["items"]}
    # Today is 6 January 2025: D joins its cluster on 1 February.
    assert rows == {"Børnehuset A": LEADER_CLUSTER, "Børnehuset B": LEADER_CLUSTER, "Børnehuset C": OTHER,
                    "Børnehuset D": None}
    only = api.ok(api.get("/v1/institutions", params={"cluster": OTHER}), 200)
    assert [r["name"] for r in only["items"]] == ["Børnehuset C"] and only["total"] == 1
    one = api.ok(api.get(f"/v1/institutions/{town['D']}"), 200)
    assert one["cluster"] is None and one["clusters"] == [{"effective_from": "2025-02-01",
                                                           "cluster": "Nørrebro Klynge 3"}]
    occupancy = api.ok(api.get("/v1/occupancy", params={"institution_id": town["C"], "month": "2025-03"}), 200)
    assert {r["cluster"] for r in occupancy["items"]} == {OTHER}
    clusters = api.ok(api.get("/v1/clusters", params={"on": "2025-02-01"}), 200)["items"]
    assert [(c["cluster"], len(c["institutions"])) for c in clusters] == \
        [(LEADER_CLUSTER, 2), (OTHER, 1), ("Nørrebro Klynge 3", 1)]


def test_a_cluster_leader_sees_its_cluster_only(api, town):
    lead = dict(role="cluster_leader")
    listed = api.ok(api.get("/v1/institutions", **lead), 200)
    assert sorted(r["name"] for r in listed["items"]) == ["Børnehuset A", "Børnehuset B"] and listed["total"] == 2
    assert api.get("/v1/institutions", params={"cluster": OTHER}, **lead).status_code == 404
    unknown = api.get(f"/v1/institutions/{uuid.uuid4()}", **lead)
    for name in "CD":
        for path in (f"/v1/institutions/{town[name]}", f"/v1/institutions/{town[name]}/availability",
                     f"/v1/institutions/{town[name]}/booked-children"):
            hidden = api.get(path, **lead)
            assert hidden.status_code == 404, (path, hidden.text)
            assert hidden.json()["detail"].replace(town[name], "ID") == \
                unknown.json()["detail"].replace(unknown.json()["detail"].split()[-1], "ID")
    assert api.ok(api.get(f"/v1/institutions/{town['A']}", **lead), 200)["cluster"] == LEADER_CLUSTER
    assert api.ok(api.get(f"/v1/institutions/{town['A']}/availability", **lead), 200)["items"]
    free = api.ok(api.get("/v1/availability", params={"age_group": "nursery", "start": "2025-03-01"}, **lead), 200)
    assert sorted(r["name"] for r in free["items"]) == ["Børnehuset A", "Børnehuset B"]
    everyone = api.ok(api.get("/v1/availability", params={"age_group": "nursery", "start": "2025-03-01"}), 200)
    assert len(everyone["items"]) == 4
    occupancy = api.ok(api.get("/v1/occupancy", params={"limit": 1000}, **lead), 200)
    assert occupancy["items"] and {r["institution_id"] for r in occupancy["items"]} == {town["A"], town["B"]}
    assert {r["cluster"] for r in occupancy["items"]} == {LEADER_CLUSTER}
    assert api.ok(api.get("/v1/occupancy", params={"institution_id": town["C"]}, **lead), 200)["items"] == []
    clusters = api.ok(api.get("/v1/clusters", **lead), 200)["items"]
    assert clusters == [{"cluster": LEADER_CLUSTER, "institutions": sorted([town["A"], town["B"]])}]


def test_a_cluster_leader_sees_booked_children_as_counts_only(api, town):
    answer = api.get(f"/v1/institutions/{town['A']}/booked-children", role="cluster_leader")
    body = api.ok(answer, 200)
    assert body["items"] == [
        {"age_group": "nursery", "pool": "general", "start_month": "2025-03", "end_month": "2026-12", "children": 1},
        {"age_group": "kindergarten", "pool": "general", "start_month": "2027-01", "end_month": "2030-07",
         "children": 1}]
    household = api.ok(api.get(f"/v1/children/{town['child A']}"), 200)["household_id"]
    assert town["child A"] not in answer.text and household not in answer.text
    later = api.ok(api.get(f"/v1/institutions/{town['A']}/booked-children", role="cluster_leader",
                           params={"from_month": "2027-01"}), 200)["items"]
    assert [r["age_group"] for r in later] == ["kindergarten"]
    assert api.get(f"/v1/institutions/{town['A']}/booked-children", role="cluster_leader",
                   params={"from_month": "2026-01", "to_month": "2025-12"}).status_code == 422
    # Person data stays out of reach: the child, its history, the waiting list, money.
    for path in (f"/v1/children/{town['child A']}", f"/v1/children/{town['child A']}/history",
                 f"/v1/waiting-lists/{town['A']}", "/v1/budget", f"/v1/households/{household}"):
        assert api.get(path, role="cluster_leader").status_code == 403, path


def test_an_institution_moved_out_of_the_cluster_is_hidden_from_then_on(api, town):
    api.ok(_put_cluster(api, town["B"], OTHER, day="2025-01-06"), 200)  # from today
    assert api.get(f"/v1/institutions/{town['B']}", role="cluster_leader").status_code == 404
    api.ok(_put_cluster(api, town["B"], LEADER_CLUSTER, day="2025-01-06"), 200)  # the same day corrected
    assert api.get(f"/v1/institutions/{town['B']}", role="cluster_leader").status_code == 200


@pytest.mark.parametrize("entry", ["x:cluster_leader:secret-token-1", "x:cluster_leader:secret-token-1:",
                                   "x:cluster_leader:secret-token-1:Klynge\u202e1", "x:cluster_leader:short:K1"])
def test_a_cluster_leaders_token_names_a_cluster(entry):
    with pytest.raises(ValueError, match="entry 1"):
        parse_tokens(entry)


def test_a_cluster_leaders_token_binds_the_cluster_as_the_ledger_keeps_it():
    [(_, principal)] = parse_tokens("leila:cluster_leader:secret-token-1:Valby Klynge 2")
    assert (principal.role, principal.cluster, principal.household_id) == ("cluster_leader", "Valby Klynge 2", None)


def test_a_cluster_leader_reads_its_own_clusters_forecast(api, town):
    """GET /v1/forecast for a cluster leader: its cluster (whatever `key` it names) and its cluster's
    institutions; another cluster's institution answers 404, districts (which span clusters) 403."""
    lead = dict(role="cluster_leader")
    params = {"from": "2025-03", "months": 3}
    staff = api.ok(api.get("/v1/forecast", params={**params, "by": "cluster"}), 200)
    assert {r["cluster"] for r in staff} == {LEADER_CLUSTER, OTHER}
    own = api.ok(api.get("/v1/forecast", params={**params, "by": "cluster"}, **lead), 200)
    assert own and {r["cluster"] for r in own} == {LEADER_CLUSTER}
    assert own == [r for r in staff if r["cluster"] == LEADER_CLUSTER]
    assert api.get("/v1/forecast", params={**params, "by": "cluster", "key": OTHER}, **lead).status_code == 404
    per_institution = api.ok(api.get("/v1/forecast", params={**params, "by": "institution"}, **lead), 200)
    assert {r["institution_id"] for r in per_institution} == {town["A"], town["B"]}
    assert api.get("/v1/forecast", params={**params, "by": "institution", "key": town["C"]}, **lead).status_code == 404
    assert api.ok(api.get("/v1/forecast", params={**params, "by": "institution", "key": town["A"]}, **lead), 200)
    assert api.get("/v1/forecast", params={**params, "by": "district"}, **lead).status_code == 403
