"""Issue 23 item 5 through the API (both stores): an institution's gross cost as its municipality
calculates it, the excess it costs a Copenhagen family, and the settlement and budget that carry
the money across the border."""

from __future__ import annotations


def test_a_place_in_another_municipality_through_the_api(api):
    api.activate()
    inst = api.ok(api.post("/v1/institutions", role="admin", json={
        "name": "Mælkebøtten", "district": "Frederiksberg", "kind": "vuggestue", "municipality_code": "147"}))["id"]
    api.ok(api.put(f"/v1/institutions/{inst}/capacity",
                   json={"age_group": "nursery", "seats": 5, "effective_from": "2025-01-01"}), 200)
    cost = api.ok(api.put(f"/v1/institutions/{inst}/gross-cost",
                          json={"age_group": "nursery", "gross_cost_ore": 2_000_000, "effective_from": "2025-01-01"}),
                  200)
    assert (cost["gross_cost_ore"], cost["effective_from"]) == (2_000_000, "2025-01-01")
    wrong = api.put(f"/v1/institutions/{inst}/gross-cost",
                    json={"age_group": "kindergarten", "gross_cost_ore": 1, "effective_from": "2025-01-01"})
    assert wrong.status_code == 422 and "has no kindergarten places" in wrong.json()["detail"]
    assert api.put(f"/v1/institutions/{inst}/gross-cost", role="caseworker",
                   json={"age_group": "nursery", "gross_cost_ore": 1, "effective_from": "2025-01-01"}).status_code == 403

    hh = api.household()
    child = api.child(hh)
    api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst, "start_date": "2025-02-01"}))
    statement = api.ok(api.get(f"/v1/households/{hh}/statements/2025-02"), 200)
    # 2,000,000 there less Copenhagen's subsidy 1,198,800 = 801,200: the tariff 399,600 and an excess
    # of 401,600, plus lunch 71,200.
    assert [(l["kind"], l["amount_ore"]) for l in statement["lines"]] == [
        ("fee", 399_600), ("lunch", 71_200), ("excess", 401_600)]
    settlement = api.ok(api.get("/v1/settlement?month=2025-02", role="analyst"), 200)
    assert [(r["payer_municipality"], r["institution_municipality"], r["subsidy_ore"]) for r in settlement] == [
        ("101", "147", 2_000_000 - 872_400)]
    budget = api.ok(api.get("/v1/budget?district=Frederiksberg&from_month=2025-02&to_month=2025-02",
                            role="analyst"), 200)["items"]
    assert [(r["intermunicipal_out_ore"], r["intermunicipal_in_ore"], r["net_municipal_cost_ore"]) for r in budget] == [
        (1_127_600, 0, 1_127_600)]
