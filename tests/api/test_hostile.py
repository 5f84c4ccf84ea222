"""Hostile and broken input gets a 4xx problem+json, never a 500 and never a traceback."""

from __future__ import annotations

import uuid

import pytest

from .conftest import auth

PROBLEM = "application/problem+json"


def problem(response, status):
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert set(body) >= {"type", "title", "status", "detail"} and body["status"] == status
    assert "Traceback" not in response.text
    return body


@pytest.fixture
def world(api):
    api.activate()
    inst = api.institution()
    child = api.child(api.household())
    return api, inst, child


def test_oversized_bodies_are_refused(world):
    api, inst, child = world
    huge = {"child_id": child, "institution_id": inst, "start_date": "2025-03-01", "reason": "x" * 300_000}
    problem(api.post("/v1/bookings", json=huge), 413)


def test_wrong_types_and_malformed_json_are_422(world):
    api, inst, child = world
    body = problem(api.post("/v1/bookings", json={"child_id": 7, "institution_id": [], "start_date": "soon"}), 422)
    assert {e["field"] for e in body["errors"]} >= {"child_id", "institution_id", "start_date"}
    problem(api.post("/v1/bookings", content=b"{not json", headers={"Content-Type": "application/json"}), 400)
    problem(api.post("/v1/households", json={"district": "Valby", "children_under_18": "many"}), 422)
    problem(api.post("/v1/households", json=["a", "list"]), 422)
    problem(api.post("/v1/households", json={"district": "Valby", "unexpected": 1}), 422)
    problem(api.get("/v1/occupancy", params={"limit": 0}), 422)
    problem(api.get("/v1/occupancy", params={"month": "2025-13"}), 422)
    problem(api.get("/v1/occupancy", params={"as_of": "yesterday"}), 422)
    problem(api.get("/v1/waiting-lists/not-a-uuid"), 422)


def test_unknown_ids_are_404(world):
    api, inst, child = world
    problem(api.post("/v1/bookings", json={"child_id": str(uuid.uuid4()), "institution_id": inst,
                                           "start_date": "2025-03-01"}), 404)
    problem(api.post(f"/v1/bookings/{uuid.uuid4()}/cancel", json={"effective_date": "2025-03-01",
                                                                   "reason": "moved"}), 404)
    problem(api.get(f"/v1/children/{uuid.uuid4()}/history"), 404)
    problem(api.get(f"/v1/households/{uuid.uuid4()}/statements/2025-03"), 404)
    problem(api.get(f"/v1/institutions/{uuid.uuid4()}/availability"), 404)
    problem(api.get("/v1/no/such/route"), 404)


def test_dates_out_of_range_are_422(world):
    api, inst, child = world
    for day in ("0001-01-01", "9999-12-31", "2025-02-30"):
        problem(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": day}), 422)
    problem(api.post("/v1/children", json={"household_id": str(uuid.uuid4()), "birth_date": "1800-01-01"}), 422)
    problem(api.get("/v1/availability", params={"age_group": "nursery", "start": "3000-01-01"}), 422)


def test_injection_strings_are_data_not_code(world):
    api, inst, child = world
    nasty = "Valby'; DROP TABLE occupancy; --"
    hh = api.ok(api.post("/v1/households", json={"district": nasty}))
    assert hh["id"]
    rows = api.ok(api.get("/v1/occupancy", params={"district": nasty}), 200)
    assert rows["items"] == []
    assert api.ok(api.get("/v1/occupancy"), 200)["items"]  # the table is still there
    problem(api.post("/v1/institutions", role="admin",
                     json={"name": "<script>alert(1)</script>" * 20, "district": "Valby", "kind": "robot"}), 422)
    problem(api.post("/v1/households", json={"district": "Valby\x00", "children_under_18": -1}), 422)


def test_cpr_numbers_in_free_text_are_refused(world):
    api, inst, child = world
    booked = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst,
                                                    "start_date": "2025-03-01"}))
    body = problem(api.post(f"/v1/bookings/{booked['id']}/cancel",
                            json={"effective_date": "2025-04-01", "reason": "mother 010190-1234 asked"}), 422)
    assert "CPR" in body["detail"]


@pytest.mark.parametrize("path", ["/v1/waiting-lists?district=%00", "/v1/institutions?cluster=%00",
                                  "/v1/institutions?district=%00", "/v1/institutions?q=a%00",
                                  "/v1/occupancy?cluster=K%0A1", "/v1/availability?age_group=nursery&start=2025-03-01&cluster=%00"])
def test_control_characters_in_query_text_are_422(world, path):
    """Schemathesis found `GET /v1/waiting-lists?district=%00` a 500 on PostgreSQL (text cannot hold NUL)."""
    api, _, _ = world
    problem(api.get(path), 422)


def test_a_method_the_resource_lacks_is_405_with_every_method_it_has(world):
    """RFC 9110 § 15.5.6: Allow lists the methods the resource supports — all of them, also when two
    routers serve one path (GET and POST /v1/institutions; found by schemathesis as a family)."""
    api, inst, _ = world
    for method, path, allowed in (("OPTIONS", "/v1/institutions", {"GET", "POST"}),
                                  ("DELETE", "/v1/institutions", {"GET", "POST"}),
                                  ("DELETE", f"/v1/institutions/{inst}", {"GET"}),
                                  ("GET", f"/v1/institutions/{inst}/capacity", {"PUT"})):
        answer = api.client.request(method, path, headers=auth("family"))
        problem(answer, 405)
        assert set(answer.headers["allow"].split(", ")) == allowed, (method, path, answer.headers["allow"])
