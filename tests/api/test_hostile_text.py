"""Hostile text into every text field of every POST (and PUT), on both stores: each is refused with
a 422 that names the field, nothing of it reaches an event, and the views still follow afterwards.

The character classes: NUL and the other C0 controls (tab and line breaks included: free text is one
line), DEL, C1 controls, the line and paragraph separators, lone surrogates (sent as the JSON escape
"\\ud800", as a broken client would), bidirectional overrides and isolates, and CPR numbers spelled
with dashes, spaces, dots, full-width digits or invisible characters among the digits.
"""

from __future__ import annotations

import json

PROBLEM = "application/problem+json"

CONTROL = ["a\x00b", "moved\x00", "a\x01b", "a\x1bb", "a\tb", "first line\nsecond", "a\rb", "a\x7fb", "a\x85b",
           "a\x9bb", "a\u2028b", "a\u2029b"]
SURROGATES = ["a\ud800b", "\udfff", "a\udbff\udbffb"]
BIDI = ["a\u202eb", "a\u202ab", "\u202dabc", "a\u2066b", "a\u2067b", "a\u2068b", "a\u2069b"]
CPR = ["010203-1234", "0102031234", "010203\u20131234", "010203\u20141234", "010203 1234", "01.02.03-1234",
       "\uff10\uff11\uff10\uff12\uff10\uff13-\uff11\uff12\uff13\uff14", "0102\u200b031234", "010203\u200d1234",
       "01 02 03 12 34", "mother 150324 - 1234 called", "010203\u00ad1234", "010203\u22121234"]
HOSTILE = CONTROL + SURROGATES + BIDI + CPR


def _world(api):
    api.activate()
    inst = api.institution()
    other = api.institution(name="Mælkebøtten", district="Valby")
    hh = api.household()
    child = api.child(hh)
    booking = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst,
                                                     "start_date": "2025-03-01"}))["id"]
    return inst, other, hh, child, booking


def _cases(inst, other, hh, child, booking):
    """(method, role, path, body, field as the 422 names it, where in the body the text goes)."""
    return [
        ("post", "admin", "/v1/institutions", {"name": "Solsikken", "district": "Nørrebro", "kind": "integreret"},
         ["name", "district"]),
        ("put", "admin", f"/v1/institutions/{inst}/capacity",
         {"age_group": "nursery", "seats": 10, "effective_from": "2025-06-01", "reason": "ok"}, ["reason"]),
        ("post", "admin", "/v1/rule-sets/copenhagen-book-en-plads@1/activate",
         {"effective_from": "2021-01-01", "reason": "ok"}, ["reason"]),
        ("post", "caseworker", "/v1/households",
         {"district": "Valby", "payer": {"name": "Ole", "address": "Testvej 1"}},
         ["district", "payer.name", "payer.address"]),
        ("post", "caseworker", f"/v1/households/{hh}/facts",
         {"effective_from": "2025-06-01", "district": "Valby", "reason": "ok"}, ["district", "reason"]),
        ("post", "caseworker", f"/v1/households/{hh}/adjustments",
         {"kind": "manual_correction", "from_month": "2025-03", "amount_ore": -100, "reason": "ok"}, ["reason"]),
        ("post", "caseworker", "/v1/children",
         {"household_id": hh, "birth_date": "2024-05-01", "district": "Valby", "support_needs": ["ok"],
          "identifiers": {"name": "Freja", "address": "Testvej 1"}},
         ["district", "support_needs.0", "identifiers.name", "identifiers.address"]),
        ("post", "caseworker", "/v1/bookings",
         {"child_id": child, "institution_id": other, "start_date": "2026-03-01", "override": True, "reason": "ok"},
         ["reason"]),
        ("post", "caseworker", f"/v1/bookings/{booking}/cancel", {"effective_date": "2025-09-01", "reason": "ok"},
         ["reason"]),
        ("post", "caseworker", f"/v1/bookings/{booking}/transfer",
         {"institution_id": other, "effective_date": "2025-10-01", "reason": "ok"}, ["reason"]),
    ]


def _with(body: dict, field: str, value: str) -> dict:
    body = json.loads(json.dumps(body))
    *parents, last = field.split(".")
    target = body
    for p in parents:
        target = target[p]
    if isinstance(target, list):
        target[int(last)] = value
    else:
        target[last] = value
    return body


def _send(api, method, role, path, body, headers=None):
    # json.dumps escapes a lone surrogate as "\ud800" (an encoder of UTF-8 would refuse it)
    return getattr(api, method)(path, role=role, content=json.dumps(body).encode("ascii"),
                                headers={"Content-Type": "application/json", **(headers or {})})


def test_hostile_text_in_every_field_is_422_naming_the_field_and_the_views_still_follow(api):
    world = _world(api)
    before = api.ok(api.get("/health"), 200)["position"]
    wrong = []
    for method, role, path, body, fields in _cases(*world):
        for field in fields:
            for value in HOSTILE:
                r = _send(api, method, role, path, _with(body, field, value))
                named = r.status_code == 422 and r.headers["content-type"].startswith(PROBLEM) and \
                    field in {e["field"] for e in r.json().get("errors", [])}
                if not named:
                    wrong.append(f"{method.upper()} {path} {field}={value!r}: {r.status_code} {r.text[:160]}")
    assert not wrong, f"{len(wrong)} hostile values not refused by field:\n" + "\n".join(wrong[:20])
    # Nothing of it reached the ledger, and the views still follow a normal command.
    assert api.ok(api.get("/health"), 200)["position"] == before
    inst = api.ok(api.post("/v1/institutions", role="admin",
                           json={"name": "Efterår", "district": "Amager", "kind": "integreret"}))["id"]
    capacity = {"age_group": "nursery", "seats": 12, "effective_from": "2025-01-01"}
    position = api.ok(api.put(f"/v1/institutions/{inst}/capacity", json=capacity), 200)["position"]
    rows = api.ok(api.get("/v1/occupancy", params={"district": "Amager", "min_position": position}), 200)["items"]
    assert {r["institution_id"] for r in rows} == {inst} and rows[0]["capacity"] == 12
    health = api.ok(api.get("/health"), 200)
    assert health["views_position"] == health["position"] == position


def test_hostile_rule_set_ids_are_422_naming_the_field(api):
    api.activate()
    for value in ["a%00b", "a%0Ab", "copenhagen%E2%80%AE@1", "010203-1234@1", "secrets@1%20"]:
        r = api.post(f"/v1/rule-sets/{value}/activate", role="admin", json={"effective_from": "2021-01-01"})
        assert r.status_code == 422, (value, r.text)
        assert any(e["field"].endswith("rule_set_id") for e in r.json().get("errors", [])), (value, r.text)


def test_cpr_numbers_and_odd_characters_in_the_idempotency_key_are_422(api):
    inst, other, hh, child, booking = _world(api)
    before = api.ok(api.get("/health"), 200)["position"]
    body = {"district": "Valby"}
    for key in ["010203-1234", "0102031234", "010203 1234", "01.02.03-1234", "retry-010203-1234-1",
                b"\xe9t\xe9"]:  # (a header is bytes: these are Latin-1)
        r = api.post("/v1/households", json=body, headers={"Idempotency-Key": key})
        assert r.status_code == 422, (key, r.text)
        assert r.headers["content-type"].startswith(PROBLEM)
        assert "Idempotency-Key" in r.text, r.text
    assert api.ok(api.get("/health"), 200)["position"] == before
    # A UUID is a fine key even where its digits happen to look like a date and a serial.
    key = "3f2a9c1e-7b4d-4e8a-9c3b-a0102031234b"
    first = api.ok(api.post("/v1/households", json=body, headers={"Idempotency-Key": key}))
    again = api.post("/v1/households", json=body, headers={"Idempotency-Key": key})
    assert again.status_code == 201 and again.json()["id"] == first["id"]
    assert again.headers.get("Idempotent-Replayed") == "true"
