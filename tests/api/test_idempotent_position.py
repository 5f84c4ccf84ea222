"""Issue 20: an idempotent retry answers the first answer, `position` included (SQLite and PostgreSQL)."""

from __future__ import annotations


def test_a_retry_answers_the_first_position(api):
    api.activate()
    inst = api.institution()
    child = api.child(api.household())
    body = {"child_id": child, "institution_id": inst, "start_date": "2025-08-01"}
    key = {"Idempotency-Key": "3b6f0c1e-6d1a-4f7e-9c55-0d2a8f1b7e10"}
    first = api.ok(api.post("/v1/bookings", json=body, headers=key))
    api.child(api.household())  # the log moves on
    retry = api.post("/v1/bookings", json=body, headers=key)
    assert retry.headers.get("Idempotent-Replayed") == "true"
    assert api.ok(retry) == first and isinstance(first["position"], int)
    # the position still serves as min_position: the booking is in the views at it
    rows = api.ok(api.get("/v1/occupancy", params={"institution_id": inst, "month": "2025-08",
                                                   "age_group": "nursery", "min_position": first["position"]}), 200)
    assert rows["items"][0]["booked"] == 1
