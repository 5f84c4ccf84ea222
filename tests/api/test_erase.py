"""Issue 21, finding 2: erasure through the API (`POST /v1/people/{id}/erase`, admin only). It
destroys the person's identifiers, leaves an event naming who erased whom and when (no
identifier), and changes no total or history row; unknown ids are 404, a repeat changes nothing."""

from __future__ import annotations

import uuid

from .conftest import auth

CHILD = {"cpr": "020324-4567", "name": "Viggo Slettemand", "address": "Glemmevej 9, 2500 Valby"}
PAYER = {"cpr": "110385-2468", "name": "Lise Slettemand", "address": "Glemmevej 9, 2500 Valby"}


def _family(api):
    api.activate()
    inst = api.institution()
    hh = api.ok(api.post("/v1/households", json={"district": "Valby", "payer": PAYER}))["id"]
    api.ok(api.post(f"/v1/households/{hh}/income", json={"annual_income_ore": 400_000_00,
                                                         "effective_from": "2025-01-01"}))
    child = api.ok(api.post("/v1/children", json={"household_id": hh, "birth_date": "2024-03-15",
                                                  "identifiers": CHILD}))["id"]
    api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": "2025-03-01"}))
    return hh, child


def _events(ledger):
    return [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(1, 10_000)]


def test_an_admin_erases_a_child_and_a_household(api):
    hh, child = _family(api)
    ledger = api.client.app.state.ledger
    assert ledger.registry.get(child) == CHILD and ledger.registry.get(hh) == PAYER
    history = api.ok(api.get(f"/v1/children/{child}/history"), 200)["items"]
    budget = api.ok(api.get("/v1/budget"), 200)

    assert api.post(f"/v1/people/{child}/erase", role="caseworker").status_code == 403
    unknown = api.post(f"/v1/people/{uuid.uuid4()}/erase", role="admin")
    assert unknown.status_code == 404 and unknown.headers["content-type"] == "application/problem+json"
    assert api.post("/v1/people/not-an-id/erase", role="admin").status_code == 422
    assert api.post(f"/v1/people/{child}/erase", role="admin", json={"ground": "because I say so"}).status_code == 422

    erased = api.ok(api.post(f"/v1/people/{child}/erase", role="admin", json={"ground": "consent_withdrawn"}), 200)
    assert erased["person_id"] == child and erased["erased"] is True and erased["position"] > 0
    assert ledger.registry.get(child) is None and ledger.registry.get(hh) == PAYER
    again = api.ok(api.post(f"/v1/people/{child}/erase", role="admin"), 200)  # idempotent: no second event
    assert again["erased"] is True and again["position"] is None
    api.ok(api.post(f"/v1/people/{hh}/erase", role="admin"), 200)  # without a body: the data subject's request
    assert ledger.registry.get(hh) is None

    erasures = [e for e in _events(ledger) if type(e).__name__ == "PersonErased"]
    assert [(str(e.originator_id), e.person_id, e.meta["actor"], e.meta["channel"], e.meta["reason"])
            for e in erasures] == [
        (child, child, "admin-actor", "system", "GDPR art. 17(1)(b): consent withdrawn"),
        (hh, hh, "admin-actor", "system", "GDPR art. 17: the data subject's request"),
    ]
    assert all(e.timestamp.tzinfo is not None for e in erasures)  # when: the recorded time, UTC
    # No identifier anywhere the API shows, and the history and totals read as before (plus the erasure).
    shown = api.get(f"/v1/children/{child}/history").text + api.get("/v1/budget").text
    stored = b"".join(n.state for n in ledger.recorder.select_notifications(1, 10_000))
    for value in (*CHILD.values(), *PAYER.values(), "Slettemand", "0203244567"):
        assert value not in shown and value.encode() not in stored
    after = api.ok(api.get(f"/v1/children/{child}/history"), 200)["items"]
    assert after[:len(history)] == history and [r["event"] for r in after[len(history):]] == ["PersonErased"]
    assert api.ok(api.get("/v1/budget"), 200)["items"] == budget["items"]


def test_the_erase_endpoint_is_in_the_schema_for_admins(api):
    schema = api.client.get("/openapi.json", headers=auth("admin")).json()
    operation = schema["paths"]["/v1/people/{person_id}/erase"]["post"]
    assert operation["operationId"] == "erase_person"
    assert {"403", "404", "422"} <= set(operation["responses"])
