"""GET /v1/forecast: who may read it, what it answers, and the errors a user can cause."""

from __future__ import annotations

import pytest

from tests.api.conftest import Api, api  # noqa: F401 - the api fixture (both stores)


def _a_booked_child(api: Api) -> str:
    api.activate()
    inst = api.institution(district="Nørrebro", nursery=4, kindergarten=6)
    hh = api.household()
    child = api.child(hh, birth="2024-03-15")
    api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": "2025-02-01"}))
    return inst


@pytest.mark.parametrize("role, status", [("caseworker", 200), ("admin", 200), ("auditor", 200),
                                          ("analyst", 403), ("family", 403)])
def test_staff_who_see_persons_read_the_forecast(api, role, status):
    _a_booked_child(api)
    assert api.get("/v1/forecast", role=role).status_code == status
    assert api.client.get("/v1/forecast").status_code == 401


def test_rows_per_institution_and_district_with_the_agreed_fields(api):
    inst = _a_booked_child(api)
    rows = api.ok(api.get("/v1/forecast", params={"by": "institution", "from": "2025-03", "months": 3,
                                                  "as_of": "2025-01-31"}), 200)
    nursery = [r for r in rows if r["age_group"] == "nursery"]
    assert [r["month"] for r in nursery] == ["2025-03", "2025-04", "2025-05"]
    assert set(nursery[0]) == {"institution_id", "age_group", "month", "children", "low", "high", "capacity"}
    assert nursery[0]["institution_id"] == inst and nursery[0]["capacity"] == 4
    assert nursery[0]["children"] >= 1.0  # the booked child, from February on
    assert nursery[0]["low"] <= nursery[0]["children"] <= nursery[0]["high"]
    by_district = api.ok(api.get("/v1/forecast", params={"by": "district", "key": "Nørrebro", "from": "2025-03",
                                                         "months": 1}), 200)
    assert {r["district"] for r in by_district} == {"Nørrebro"}


@pytest.mark.parametrize("params, status, words", [
    ({"by": "cluster"}, 422, "no clusters are known"),
    ({"by": "district", "key": "Atlantis"}, 404, "no district 'Atlantis'"),
    ({"by": "school"}, 422, ""),
    ({"from": "2025-13"}, 422, ""),
    ({"from": "0000-01"}, 422, "is outside 1990-01 to 2100-12"),
    ({"months": 0}, 422, ""),
    ({"as_of": "yesterday"}, 422, ""),
])
def test_a_wrong_request_is_a_problem_not_a_crash(api, params, status, words):
    _a_booked_child(api)
    r = api.get("/v1/forecast", params=params)
    assert r.status_code == status, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    assert words in r.json()["detail"]


def test_a_read_from_memory_answers_as_a_fresh_learn(api):
    """The learned outlook is kept per log position: a second read answers from memory what a fresh
    learn answers, and a booking recorded in between is not missed."""
    from ledger.clock import copenhagen_date
    from projections.outlook import Outlook, read_history
    from projections.outlook.model import month_of

    _a_booked_child(api)
    ledger = api.client.app.state.ledger
    params = {"by": "institution", "from": "2025-03", "months": 3}

    def fresh():
        history = read_history(ledger, copenhagen_date(ledger.clock.now()))
        return [r.as_json() for r in Outlook.learn(history).rows("institution", month_of("2025-03"), 3)]

    first = api.ok(api.get("/v1/forecast", params=params), 200)
    assert api.ok(api.get("/v1/forecast", params=params), 200) == first == fresh()
    child = api.child(api.household(), birth="2024-04-01")
    inst = first[0]["institution_id"]
    api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": "2025-03-01"}))
    after = api.ok(api.get("/v1/forecast", params=params), 200)
    assert after == fresh() and after != first
