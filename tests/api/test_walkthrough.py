"""The README's walk-through, and every endpoint, end to end through HTTP on both stores."""

from __future__ import annotations

from datetime import date, timedelta

from .conftest import auth


def test_from_an_institution_to_a_statement(api):
    api.activate()
    inst = api.institution(nursery=1, kindergarten=2)
    hh = api.household(income_kr=400_000, children=2)
    decision = api.ok(api.post(f"/v1/households/{hh}/income",
                               json={"annual_income_ore": 40_000_000, "effective_from": "2025-01-01"}))
    # Two children under 18: L' = 208,101 + 7,000 = 215,101 kr; step 4,615 kr (2025):
    # 5 + floor((400,000 - 215,101) / 4,615) = 5 + 40 = 45 %.
    assert decision["pay_share_percent"] == 45 and decision["scale"]["lower_ore"] == 20_810_100
    child = api.child(hh)
    booking = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst,
                                                     "start_date": "2025-02-01"}))
    assert booking["start_date"] == "2025-02-01" and booking["end_date"] == "2030-07-31"
    # The last nursery seat is taken: a second child gets 409 problem+json.
    other = api.child(api.household())
    refused = api.post("/v1/bookings", json={"child_id": other, "institution_id": inst, "start_date": "2025-02-01"})
    assert refused.status_code == 409
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert refused.json()["title"] == "No free seat"
    # The views include the booking at once (SQLite inline; PostgreSQL via min_position).
    occ = api.ok(api.get("/v1/occupancy", params={"institution_id": inst, "month": "2025-02", "age_group": "nursery",
                                                  "min_position": booking["position"]}), 200)
    assert [(r["capacity"], r["booked"], r["free"]) for r in occ["items"]] == [(1, 1, 0)]
    avail = api.ok(api.get(f"/v1/institutions/{inst}/availability",
                           params={"from": "2025-02-01", "to": "2025-03-31", "age_group": "nursery"}), 200)
    assert [r["month"] for r in avail["items"]] == ["2025-02", "2025-03"]
    # February's statement: issue the month, then read it.
    issued = api.ok(api.post("/v1/billing/2025-02/issue", role="admin"), 200)
    # A whole nursery month with lunch, 4,708 kr (2025); the household pays 45 %: 2,118.60 kr.
    assert issued["statements"] == 1 and issued["total_ore"] == 211_860
    again = api.post("/v1/billing/2025-02/issue", role="admin")
    assert again.status_code == 409
    statement = api.ok(api.get(f"/v1/households/{hh}/statements/2025-02"), 200)
    assert statement["issued"] and statement["total_ore"] == issued["total_ore"]
    assert sum(line["amount_ore"] for line in statement["lines"]) == statement["total_ore"]
    assert [(line["kind"], line["amount_ore"]) for line in statement["lines"]] == [
        ("fee", 399_600), ("lunch", 71_200), ("friplads", 211_860 - 470_800)]
    history = api.ok(api.get(f"/v1/children/{child}/history"), 200)
    assert [r["event"] for r in history["items"]][-1] == "PlaceBooked"


def test_cancel_transfer_register_adjust_and_the_reads(api):
    api.activate()
    # Billing and budget run to the month after the ledger's latest recorded time: be in May.
    api.client.app.state.ledger.clock.set(date(2025, 5, 15))
    a = api.institution(name="A", nursery=5, kindergarten=5)
    b = api.institution(name="B", nursery=5, kindergarten=5, district="Valby")
    hh = api.household(income_kr=300_000)
    child = api.child(hh)
    reg = api.ok(api.post(f"/v1/children/{child}/registrations",
                          json={"age_group": "nursery", "wishes": [a, b], "need_date": "2025-06-01"}))
    assert reg["wishes"] == [a, b] and reg["guarantee_date"]
    waiting = api.ok(api.get(f"/v1/waiting-lists/{a}", params={"min_position": reg["position"]}), 200)
    assert [r["child_id"] for r in waiting["items"]] == [child] and waiting["items"][0]["rank"] == 1
    due = date.fromisoformat(reg["guarantee_date"])
    watch = api.ok(api.get("/v1/guarantee-watch", params={"on": (due - timedelta(days=10)).isoformat(),
                                                          "within_days": 30}), 200)
    assert [(r["child_id"], r["days_left"]) for r in watch["items"]] == [(child, 10)]
    calm = api.ok(api.get("/v1/guarantee-watch", params={"on": (due - timedelta(days=40)).isoformat()}), 200)
    assert calm["items"] == []
    booked = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": a,
                                                    "start_date": "2025-06-01"}))
    moved = api.ok(api.post(f"/v1/bookings/{booked['id']}/transfer",
                            json={"institution_id": b, "effective_date": "2025-09-01", "reason": "closer to home"}))
    assert moved["institution_id"] == b and moved["from_booking_id"] == booked["id"]
    cancelled = api.ok(api.post(f"/v1/bookings/{moved['id']}/cancel",
                                json={"effective_date": "2025-12-01", "reason": "moved to Aarhus"}), 200)
    assert cancelled["last_day"] == "2025-11-30"
    adj = api.ok(api.post(f"/v1/households/{hh}/adjustments",
                          json={"kind": "socialpaedagogisk_friplads", "from_month": "2025-07", "to_month": "2025-08",
                                "pay_share_percent": 0, "reason": "decided by the family's caseworker"}))
    assert adj["household_id"] == hh
    budget = api.ok(api.get("/v1/budget", role="analyst", params={"from_month": "2025-06", "to_month": "2025-06",
                                                                  "min_position": adj["position"]}), 200)
    assert budget["items"] and all(r["month"] == "2025-06" for r in budget["items"])
    search = api.ok(api.get("/v1/availability", role="analyst",
                            params={"age_group": "nursery", "start": "2025-02-01", "district": "Valby"}), 200)
    assert [r["institution_id"] for r in search["items"]] == [b]
    # As the ledger knew it before anything happened: nothing.
    past = api.ok(api.get("/v1/occupancy", params={"as_of": "2000-01-01"}), 200)
    assert past["items"] == [] and past["position"] == 0


def test_a_retry_with_the_same_key_gets_the_first_answer(api):
    api.activate()
    inst = api.institution()
    child = api.child(api.household())
    body = {"child_id": child, "institution_id": inst, "start_date": "2025-03-01"}
    first = api.post("/v1/bookings", json=body, headers={"Idempotency-Key": "k-1"})
    again = api.post("/v1/bookings", json=body, headers={"Idempotency-Key": "k-1"})
    assert first.status_code == again.status_code == 201
    assert again.json()["id"] == first.json()["id"] and again.headers["Idempotent-Replayed"] == "true"
    other = api.post("/v1/bookings", json={**body, "start_date": "2025-04-01"}, headers={"Idempotency-Key": "k-1"})
    assert other.status_code == 409 and "Idempotency" in other.json()["title"]


def test_health_needs_no_token_and_everything_else_does(api):
    assert api.client.get("/health").json()["status"] == "ok"
    missing = api.client.get("/v1/occupancy")
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    wrong = api.client.get("/v1/occupancy", headers={"Authorization": "Bearer not-a-token"})
    assert wrong.status_code == 401
    assert api.client.get("/v1/occupancy", headers=auth("analyst")).status_code == 200


def test_the_allocation_run_offers_from_the_waiting_list(api):
    api.activate("copenhagen-2025-waitinglist@1")
    inst = api.institution(kind="vuggestue", nursery=1, kindergarten=None)
    child = api.child(api.household())
    api.ok(api.post(f"/v1/children/{child}/registrations",
                    json={"age_group": "nursery", "wishes": [inst], "need_date": "2025-03-01"}))
    run = api.ok(api.post("/v1/allocation/2025-03/run", role="caseworker", params={"seed": 7}), 200)
    assert [(o["child_id"], o["institution_id"], o["rank"]) for o in run["offers"]] == [(child, inst, 1)]
    assert run["seed"] == 7 and run["rule_set"] == "copenhagen-2025-waitinglist@1"
    assert api.ok(api.post("/v1/allocation/2025-03/run", role="admin"), 200)["offers"] == []
    assert api.post("/v1/allocation/2025-03/run", role="analyst").status_code == 403


def test_a_read_sees_the_commands_this_server_answered_without_min_position(store, monkeypatch):
    """On PostgreSQL the follower is a thread; here it starts late, so only the wait for this
    process's own writes makes the read see the booking (SQLite is inline anyway)."""
    import time

    from fastapi.testclient import TestClient

    from api.app import create_app
    from api.views import Views

    from .conftest import TOKEN_ENV, Api

    follow = Views._follow

    def late_follower(self):
        time.sleep(0.5)
        follow(self)

    monkeypatch.setattr(Views, "_follow", late_follower)
    ledger = store.ledger(date(2025, 1, 6))
    try:
        with TestClient(create_app(tokens=TOKEN_ENV, ledger=ledger)) as client:
            api = Api(client)
            api.activate()
            inst = api.institution(nursery=1, kindergarten=2)
            child = api.child(api.household())
            booking = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst,
                                                             "start_date": "2025-02-01"}))
            occ = api.ok(api.get("/v1/occupancy", params={"institution_id": inst, "month": "2025-02",
                                                          "age_group": "nursery"}), 200)
            assert occ["position"] >= booking["position"]
            assert [(r["booked"], r["free"]) for r in occ["items"]] == [(1, 0)]
    finally:
        ledger.close()


def test_one_follower_per_database_and_another_takes_over_when_it_goes(pg_store):
    """API workers on one database: the first leads (follows the ledger), the second only reads and
    waits; when the leader closes, the second takes over and keeps the views current."""
    import time

    from api.views import Views
    from ledger import commands as c

    ledger = pg_store.ledger(date(2025, 1, 6))

    def register() -> int:
        return ledger.execute(c.RegisterHousehold(district="Valby"), actor="t", channel="caseworker").position

    first = Views(ledger, poll_seconds=0.05)
    second = Views(ledger, poll_seconds=0.05)
    try:
        assert first.projector is not None and second.projector is None
        position = register()
        with second.current(min_position=position) as store:  # the leader applies it; the other sees it
            assert store.position("views") >= position
        assert second.projector is None
        first.close()
        deadline = time.monotonic() + 10
        while second.projector is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert second.projector is not None, "the second worker did not take over"
        position = register()
        with second.current(min_position=position) as store:
            assert store.position("views") >= position
    finally:
        first.close()
        second.close()
        ledger.close()
