"""Every route refuses the wrong role: a table over all routes of the app, checked both ways
(the table matches the routes' own requirements, and requests get 403 / not 403).

A cluster leader is allowed where it sees counts of its own cluster's institutions — occupancy,
availability, the institution look-ups, booked children as counts, the clusters — and another
cluster's institution answers 404 there (tests/api/test_cluster_leader.py); everything with
person data, money or a command is refused (403)."""

from __future__ import annotations

import uuid

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from api.app import create_app

from .conftest import TOKEN_ENV, auth

ALL = {"caseworker", "auditor", "analyst", "admin"}
PERSON = {"caseworker", "auditor", "admin"}
ACTING = {"caseworker", "family"}  # a family for its own children only (else 404)
READER = PERSON | {"family"}
ANYONE = ALL | {"family", "cluster_leader"}  # public facts; a cluster leader: its cluster's institutions
COUNTS = ALL | {"cluster_leader"}  # counts without person data; a cluster leader: its cluster's
EVERY_ROLE = ALL | {"family", "cluster_leader"}
# The role table (docs/api.md). Analysts never see person-level data.
ROLES = {
    ("POST", "/v1/institutions"): {"admin"},
    ("PUT", "/v1/institutions/{institution_id}/capacity"): {"admin"},
    ("PUT", "/v1/institutions/{institution_id}/gross-cost"): {"admin"},
    ("POST", "/v1/rule-sets/{rule_set_id}/activate"): {"admin"},
    ("POST", "/v1/households"): {"caseworker"},
    ("POST", "/v1/households/{household_id}/income"): {"caseworker"},
    ("POST", "/v1/households/{household_id}/adjustments"): {"caseworker"},
    ("POST", "/v1/children"): {"caseworker"},
    ("POST", "/v1/children/{child_id}/registrations"): ACTING,
    ("POST", "/v1/children/{child_id}/wishes"): ACTING,
    ("POST", "/v1/bookings"): ACTING,
    ("POST", "/v1/bookings/{booking_id}/cancel"): ACTING,
    ("POST", "/v1/bookings/{booking_id}/transfer"): ACTING,
    ("POST", "/v1/offers/{offer_id}/accept"): ACTING,
    ("POST", "/v1/offers/{offer_id}/decline"): ACTING,
    ("POST", "/v1/households/{household_id}/facts"): {"caseworker"},
    ("POST", "/v1/people/lookup"): {"caseworker", "admin"},
    ("POST", "/v1/billing/{month}/issue"): {"admin"},
    ("POST", "/v1/people/{person_id}/erase"): {"admin"},
    ("POST", "/v1/allocation/{month}/run"): {"admin", "caseworker"},
    ("PUT", "/v1/institutions/{institution_id}/cluster"): {"admin"},
    ("GET", "/v1/occupancy"): COUNTS,
    ("GET", "/v1/clusters"): COUNTS,
    ("GET", "/v1/institutions/{institution_id}/booked-children"): COUNTS,
    ("GET", "/v1/institutions/{institution_id}/availability"): ANYONE,
    ("GET", "/v1/availability"): ANYONE,
    ("GET", "/v1/institutions"): ANYONE,
    ("GET", "/v1/institutions/{institution_id}"): ANYONE,
    ("GET", "/v1/settlement"): ALL,
    ("GET", "/v1/waiting-lists"): PERSON,
    ("GET", "/v1/children/{child_id}"): READER,
    ("GET", "/v1/households/{household_id}"): READER,
    ("GET", "/v1/bookings/{booking_id}"): READER,
    ("GET", "/v1/offers"): READER,
    ("GET", "/v1/budget"): ALL,
    ("GET", "/v1/forecast"): PERSON | {"cluster_leader"},  # a cluster leader: its own cluster's units
    ("GET", "/v1/waiting-lists/{institution_id}"): PERSON,
    ("GET", "/v1/guarantee-watch"): PERSON,
    ("GET", "/v1/households/{household_id}/statements/{month}"): READER,
    ("GET", "/v1/children/{child_id}/history"): READER,
}
PUBLIC = {("GET", "/health")}


def _flatten(items):
    for route in items:
        included = getattr(route, "original_router", None)  # FastAPI keeps included routers whole
        if included is not None:
            yield from _flatten(included.routes)
        elif isinstance(route, APIRoute):
            yield route


def routes():
    app = create_app(tokens=TOKEN_ENV, database_url="sqlite:///:memory:")
    for route in _flatten(app.routes):
        for method in route.methods:
            yield method, route.path, route


def test_the_table_covers_every_route_and_matches_its_requirement():
    seen = set()
    for method, path, route in routes():
        seen.add((method, path))
        if (method, path) in PUBLIC:
            continue
        assert (method, path) in ROLES, f"{method} {path} is not in the role table"
        required = [d.call for d in route.dependant.dependencies if hasattr(d.call, "roles")]
        assert len(required) == 1, f"{method} {path} has no role requirement"
        assert required[0].roles == ROLES[(method, path)], f"{method} {path}"
    assert set(ROLES) == seen - PUBLIC, set(ROLES) ^ (seen - PUBLIC)


def _fill(path: str) -> str:
    return (path.replace("{month}", "2025-03").replace("{rule_set_id}", "copenhagen-book-en-plads@1")
            .replace("{institution_id}", str(uuid.uuid4())).replace("{household_id}", str(uuid.uuid4()))
            .replace("{child_id}", str(uuid.uuid4())).replace("{booking_id}", str(uuid.uuid4()))
            .replace("{offer_id}", str(uuid.uuid4())))


@pytest.mark.parametrize("role", sorted(EVERY_ROLE))
def test_each_role_is_refused_exactly_where_the_table_says(store, role):
    app = create_app(store.url, tokens=TOKEN_ENV)
    with TestClient(app) as client:
        for method, path, _ in routes():
            if (method, path) in PUBLIC:
                continue
            url = _fill(path)
            answer = client.request(method, url, headers=auth(role), json={})
            allowed = role in ROLES[(method, path)]
            assert (answer.status_code == 403) == (not allowed), (role, method, path, answer.status_code)
            assert answer.status_code != 401 and answer.status_code < 500, (role, method, path, answer.text)
            anonymous = client.request(method, url, json={})
            assert anonymous.status_code == 401, (method, path)
