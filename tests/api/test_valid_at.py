"""Issue 22 item 5: `valid_at` beside `as_of` on the views' reads — the facts in force on a day, as the
ledger knew them at a recorded time (SQLite and PostgreSQL). A backdated cancellation is the case
that tells the two times apart: recorded in April, in force from 1 March."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import SimulatedClock

from .conftest import TOKEN_ENV, Api
from .test_hostile import problem

BEFORE_CORRECTION = "2025-04-01"  # recorded time: the cancellation is not known yet
MID_MARCH = "2025-03-15"


@pytest.fixture
def corrected(store):
    """A nursery booking from 1 February, cancelled on 10 April with effect from 1 March."""
    clock = SimulatedClock(date(2025, 1, 6))
    ledger = store.ledger(clock=clock)
    with TestClient(create_app(tokens=TOKEN_ENV, ledger=ledger)) as client:
        api = Api(client)
        api.activate()
        inst = api.institution()
        household = api.household(income_kr=300_000)
        child = api.child(household)
        booking = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst,
                                                        "start_date": "2025-02-01"}))["id"]
        clock.set(date(2025, 3, 5))
        api.household()  # an event in March: the billing horizon reaches April
        clock.set(date(2025, 4, 10))
        api.ok(api.post(f"/v1/bookings/{booking}/cancel",
                        json={"effective_date": "2025-03-01", "reason": "the family moved away"}), 200)
        yield api, inst, household, child
    ledger.close()


def _booked(api, inst, **params):
    rows = api.ok(api.get("/v1/occupancy", params={"institution_id": inst, "age_group": "nursery",
                                                   "pool": "general", **params}), 200)["items"]
    return {r["month"]: r["booked"] for r in rows}


def test_occupancy_in_force_on_a_day_as_known_then_and_now(corrected):
    api, inst, _, _ = corrected
    # as the ledger knew it before the correction: every month of the booking, March booked
    then = _booked(api, inst, as_of=BEFORE_CORRECTION)
    assert then["2025-02"] == 1 and then["2025-03"] == 1 and len(then) > 1
    # valid at mid-March, as known then: March only, still booked
    assert _booked(api, inst, as_of=BEFORE_CORRECTION, valid_at=MID_MARCH) == {"2025-03": 1}
    # valid at mid-March, as known now: the backdated cancellation is in force
    assert _booked(api, inst, valid_at=MID_MARCH) == {"2025-03": 0}
    assert _booked(api, inst, valid_at="2025-02-10") == {"2025-02": 1}
    # the per-institution read takes it too
    rows = api.ok(api.get(f"/v1/institutions/{inst}/availability",
                          params={"age_group": "nursery", "valid_at": MID_MARCH, "as_of": BEFORE_CORRECTION}),
                  200)["items"]
    assert [(r["month"], r["pool"], r["booked"]) for r in rows] == [("2025-03", "general", 1)]


def test_a_childs_history_in_force_on_a_day(corrected):
    api, _, _, child = corrected
    def events(**params):
        rows = api.ok(api.get(f"/v1/children/{child}/history", params=params), 200)
        assert rows["total"] == len(rows["items"])
        return [r["event"] for r in rows["items"]]
    everything = events()
    assert everything[-1] == "BookingCancelled"
    # in force on 15 March as known now: the cancellation (from 1 March) is; as known on 1 April: not yet
    assert events(valid_at=MID_MARCH) == everything
    known_then = events(valid_at=MID_MARCH, as_of=BEFORE_CORRECTION)
    assert known_then == [e for e in everything if "Cancel" not in e]
    # on 15 January the booking (from 1 February) was not yet in force
    assert not any("Booked" in e for e in events(valid_at="2025-01-15"))


def test_budget_and_statement_in_force_on_a_day(corrected):
    api, _, household, _ = corrected
    def budget(**params):
        rows = api.ok(api.get("/v1/budget", params=params), 200)["items"]
        return {r["month"]: r["place_months_milli"] for r in rows}
    assert budget(valid_at=MID_MARCH, as_of=BEFORE_CORRECTION) == {"2025-03": 1000}
    assert budget(valid_at=MID_MARCH).get("2025-03", 0) == 0
    assert len(budget(as_of=BEFORE_CORRECTION)) > 1  # the plain read: every month
    march = f"/v1/households/{household}/statements/2025-03"
    then = api.ok(api.get(march, params={"valid_at": MID_MARCH, "as_of": BEFORE_CORRECTION}), 200)
    now = api.get(march, params={"valid_at": MID_MARCH})
    assert then["total_ore"] > 0 and (now.status_code == 404 or now.json()["total_ore"] == 0)
    # a statement is in force in its own month only
    assert "2025-04" in problem(api.get(march, params={"valid_at": "2025-04-02"}), 422)["detail"]


def test_where_valid_at_cannot_be_served_it_is_422(corrected):
    api, inst, _, _ = corrected
    for path, params in ((f"/v1/waiting-lists/{inst}", {}), ("/v1/guarantee-watch", {}),
                         ("/v1/availability", {"age_group": "nursery", "start": "2025-03-01"}),
                         ("/v1/occupancy", {"month": "2025-04"}),
                         ("/v1/budget", {"from_month": "2025-04"})):
        body = problem(api.get(path, params={**params, "valid_at": MID_MARCH}), 422)
        assert "valid_at" in body["detail"], path
        assert api.get(path, params=params).status_code == 200, path
    for outside in ("1989-12-31", "2101-01-01", "2025-02-30", "march"):
        problem(api.get("/v1/occupancy", params={"valid_at": outside}), 422)


def test_every_read_that_takes_as_of_takes_valid_at(api):
    schema = api.client.get("/openapi.json").json()
    reads = {(path, name) for path, ops in schema["paths"].items() for p in ops.get("get", {}).get("parameters", [])
             for name in [p["name"]] if name in ("as_of", "valid_at")}
    # The forecast reads as of a recorded time too, but its months are its own (`from`, `months`): the
    # months ahead have no facts in force yet, so valid time does not apply to it.
    as_of = {path for path, name in reads if name == "as_of"} - {"/v1/forecast"}
    assert len(as_of) >= 8 and as_of == {path for path, name in reads if name == "valid_at"}
