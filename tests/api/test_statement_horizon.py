"""Issue 20: a statement beyond the billing horizon says so (and when its month is charged), rather
than answering as if the household owed nothing (SQLite and PostgreSQL)."""

from __future__ import annotations

from .test_hostile import problem


def test_a_month_beyond_the_billing_horizon_says_so(api):
    api.activate()
    inst = api.institution()
    household = api.household()
    api.ok(api.post("/v1/bookings", json={"child_id": api.child(household), "institution_id": inst,
                                          "start_date": "2025-02-01"}))
    # the clock stands on 6 January 2025: months run to February
    assert api.ok(api.get(f"/v1/households/{household}/statements/2025-02"), 200)["total_ore"] > 0
    body = problem(api.get(f"/v1/households/{household}/statements/2025-06"), 404)
    assert body["title"] == "Beyond the billing horizon"
    assert body["type"].endswith("/beyond-the-billing-horizon")
    assert "2025-06 is beyond the billing horizon" in body["detail"]
    assert "statements run to 2025-02" in body["detail"] and "charged from 2025-05-01" in body["detail"]
    # a month within the horizon without a place is a plain "no statement", not the horizon
    before = problem(api.get(f"/v1/households/{household}/statements/2024-12"), 404)
    assert before["title"] == "Not found" and "no statement for 2024-12" in before["detail"]
    # as of a time before anything was recorded, every month is beyond the horizon
    early = problem(api.get(f"/v1/households/{household}/statements/2025-02", params={"as_of": "2020-01-01"}), 404)
    assert early["title"] == "Beyond the billing horizon" and "recorded nothing yet" in early["detail"]
