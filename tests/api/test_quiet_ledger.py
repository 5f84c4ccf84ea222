"""Issue 23: a quiet ledger bills on — the billing horizon follows the clock of the request that
issues a month, not the latest recorded event (both stores)."""

from __future__ import annotations

from datetime import date


def test_a_month_is_issued_with_no_event_recorded_since_two_months_before(api):
    api.activate()
    inst = api.institution(nursery=2, kindergarten=2)
    hh = api.household()
    child = api.child(hh)
    api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": "2025-02-01"}))
    # Nothing more is recorded (a holiday, a small municipality); the clock moves on to April.
    api.client.app.state.ledger.clock.set(date(2025, 4, 3))
    issued = api.ok(api.post("/v1/billing/2025-04/issue", role="admin"), 200)
    # April in full: 3,996 kr + 712 kr lunch (2025 prices, a child born 2024-03-15 is under 3 y 1 m).
    assert issued["month"] == "2025-04" and issued["total_ore"] == 470_800
    # The clock decides how far: never beyond the month after today's.
    later = api.post("/v1/billing/2025-06/issue", role="admin")
    assert later.status_code == 422 and "not yet within the billing horizon" in later.json()["detail"]
