"""Bounds on what a client sends (issue 21, findings 5 and 9): no accepted number breaks a later
step — a billing run issues every household it can and names the ones it cannot — and the OpenAPI
schema states every constraint the server enforces, so schema and server agree."""

from __future__ import annotations

import uuid

import jsonschema_rs
import pytest

from ledger import commands as c

from .test_hostile import problem


def _booked_household(api, inst, birth="2024-03-15"):
    hh = api.household(income_kr=900_000)
    child = api.child(hh, birth=birth)
    api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": "2025-02-01"}))
    return hh


def test_an_adjustment_beyond_any_plausible_bill_is_refused(api):
    api.activate()
    hh = api.household()
    body = {"kind": "manual_correction", "from_month": "2025-02", "reason": "correction"}
    for amount in (10**12, -(10**12), 10**8 + 1):
        problem(api.post(f"/v1/households/{hh}/adjustments", json={**body, "amount_ore": amount}), 422)
    for amount in (10**8, -(10**8)):  # 1,000,000 kr a month either way is still taken
        api.ok(api.post(f"/v1/households/{hh}/adjustments", json={**body, "amount_ore": amount}))


def test_a_billing_run_issues_every_household_it_can_and_names_the_one_it_cannot(api):
    api.activate()
    inst = api.institution(nursery=5)
    good, bad = _booked_household(api, inst), _booked_household(api, inst)
    # An adjustment accepted before amounts were bounded (a ledger's old event): written through the
    # ledger without the command's validation, as the API used to accept it.
    ledger = api.client.app.state.ledger
    ledger.execute(c.AdjustPayment.model_construct(
        household_id=uuid.UUID(bad), kind="manual_correction", from_month="2025-02", to_month="2025-02",
        amount_ore=10**12, pay_share_percent=None, child_id=None, reason="entered in error"),
        actor="old-api", channel="caseworker")
    run = api.ok(api.post("/v1/billing/2025-02/issue", role="admin"), 200)
    assert run["statements"] == 1
    assert [s["household_id"] for s in run["skipped"]] == [bad]
    assert "total_ore" in run["skipped"][0]["reason"]
    statement = api.ok(api.get(f"/v1/households/{good}/statements/2025-02"), 200)
    assert statement["issued"] and run["total_ore"] == statement["total_ore"] > 0
    # The skipped household's February comes back as a correction on its next statement.
    march = api.ok(api.get(f"/v1/households/{bad}/statements/2025-03"), 200)
    assert {line["corrects_month"] for line in march["lines"] if line["kind"] == "correction"} == {"2025-02"}


def _schema(api) -> dict:
    return api.client.get("/openapi.json").json()


def _valid(openapi: dict, component: str, body: dict) -> bool:
    schema = {"$ref": f"#/components/schemas/{component}", "components": openapi["components"]}
    return jsonschema_rs.Draft202012Validator(schema, validate_formats=True).is_valid(body)


def test_the_schema_states_what_the_server_refuses(api):
    api.activate()
    inst = api.institution()
    hh = api.household()
    child = api.child(hh)
    openapi = _schema(api)
    adjustment = {"kind": "manual_correction", "from_month": "2025-02", "reason": "correction"}
    refused = [  # (component, path, body): each 422 from the server, each invalid under the schema
        ("CancelBody", f"/v1/bookings/{uuid.uuid4()}/cancel", {"effective_date": "2101-01-01", "reason": "moved"}),
        ("CancelBody", f"/v1/bookings/{uuid.uuid4()}/cancel", {"effective_date": "1989-12-31", "reason": "moved"}),
        ("CancelBody", f"/v1/bookings/{uuid.uuid4()}/cancel", {"effective_date": 1740787200, "reason": "moved"}),
        ("CancelBody", f"/v1/bookings/{uuid.uuid4()}/cancel", {"effective_date": "2025-03-01T00:00:00",
                                                                "reason": "moved"}),
        ("AdjustmentBody", f"/v1/households/{hh}/adjustments", {**adjustment, "amount_ore": 5, "pay_share_percent": 5}),
        ("AdjustmentBody", f"/v1/households/{hh}/adjustments", adjustment),
        ("AdjustmentBody", f"/v1/households/{hh}/adjustments", {**adjustment, "amount_ore": 10**12}),
        ("AdjustmentBody", f"/v1/households/{hh}/adjustments", {**adjustment, "amount_ore": None,
                                                                "pay_share_percent": 5}),
        ("AdjustmentBody", f"/v1/households/{hh}/adjustments", {**adjustment, "from_month": "0000-01",
                                                                "amount_ore": 5}),
        ("BookPlace", "/v1/bookings", {"child_id": child, "institution_id": inst, "start_date": "2025-03-01",
                                       "override": True}),
        ("BookPlace", "/v1/bookings", {"child_id": child, "institution_id": inst, "start_date": "2101-03-01"}),
        ("RegistrationBody", f"/v1/children/{child}/registrations",
         {"age_group": "nursery", "wishes": [inst, inst], "need_date": "2025-08-01"}),
    ]
    for component, path, body in refused:
        assert not _valid(openapi, component, body), (component, body)
        problem(api.post(path, json=body), 422)
    key = next(p for p in openapi["paths"]["/v1/households"]["post"]["parameters"] if p["name"] == "Idempotency-Key")
    for blank in (" ", "\t", ""):
        assert not jsonschema_rs.Draft202012Validator(key["schema"]).is_valid(blank)
        problem(api.post("/v1/households", json={"district": "Valby"}, headers={"Idempotency-Key": blank}), 422)
    for start in ("1740787200", "2025-03-01T00:00:00", "2101-01-01"):  # query dates: the same form and range
        problem(api.get("/v1/availability", params={"age_group": "nursery", "start": start}), 422)
    as_of = next(p for p in openapi["paths"]["/v1/budget"]["get"]["parameters"] if p["name"] == "as_of")
    for text, valid in (("2076-11-31", False), ("2025-04-31", False), ("2101-01-01", False),
                        ("2024-02-29T10:00", True), ("2100-12-31T23:59:59+01:00", True)):
        assert jsonschema_rs.Draft202012Validator(as_of["schema"]).is_valid(text) == valid, text
        assert (api.get("/v1/budget", params={"as_of": text}).status_code == 200) == valid, text
    rule_set = next(p for p in openapi["paths"]["/v1/rule-sets/{rule_set_id}/activate"]["post"]["parameters"]
                    if p["name"] == "rule_set_id")
    for bad in ("Copenhagen@1", "x@0", "plain"):
        assert not jsonschema_rs.Draft202012Validator(rule_set["schema"]).is_valid(bad)
        problem(api.post(f"/v1/rule-sets/{bad}/activate", role="admin", json={"effective_from": "2025-01-01"}), 422)
    accepted = [("AdjustmentBody", {**adjustment, "amount_ore": -5}),
                ("AdjustmentBody", {**adjustment, "pay_share_percent": 0}),
                ("BookPlace", {"child_id": child, "institution_id": inst, "start_date": "2025-03-01",
                               "override": True, "reason": "a sibling is there"}),
                ("CancelBody", {"effective_date": "2100-12-31", "reason": "moved"})]
    for component, body in accepted:
        assert _valid(openapi, component, body), (component, body)


@pytest.mark.parametrize("month", ["0000-01", "0001-01", "9999-12", "1989-12", "2101-01"])
def test_a_month_outside_the_supported_range_is_422_not_500(api, month):
    problem(api.post(f"/v1/allocation/{month}/run", role="admin"), 422)
    problem(api.post(f"/v1/billing/{month}/issue", role="admin"), 422)
    problem(api.get("/v1/budget", params={"from_month": month}), 422)
    parameter = next(p for p in _schema(api)["paths"]["/v1/allocation/{month}/run"]["post"]["parameters"]
                     if p["name"] == "month")
    assert not jsonschema_rs.Draft202012Validator(parameter["schema"]).is_valid(month)


def test_as_of_and_min_position_together_are_one_read(api):
    """Both are in the schema for every read: together, `min_position` must have been recorded by `as_of`."""
    api.activate()
    position = api.ok(api.post("/v1/households", json={"district": "Valby"}))["position"]
    assert api.get("/v1/budget", params={"as_of": "2100-12-31", "min_position": position}).status_code == 200
    problem(api.get("/v1/budget", params={"as_of": "2000-01-01", "min_position": position}), 422)
