"""Families book themselves: a `family` principal reads and acts for its own household only.

Its commands carry the self_service channel; another household's ids answer 404 exactly as
unknown ids do; the held share refuses it with a clear problem; it answers offers and reads
its statement. A caseworker sees a child's ranks, bookings and offers in one request.
"""

from __future__ import annotations

import uuid
from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import SimulatedClock
from ledger import commands as c

from .conftest import FAMILY_HOUSEHOLD, TOKEN_ENV, Api

NURSERY_START = "2025-08-01"


@pytest.fixture
def world(store):
    clock = SimulatedClock(date(2025, 1, 6))
    ledger = store.ledger(clock=clock)
    app = create_app(tokens=TOKEN_ENV, ledger=ledger)
    with TestClient(app) as client:
        api = Api(client)
        api.activate()
        yield api, ledger, clock
    ledger.close()


def _family_child(api: Api, birth="2024-03-15") -> str:
    return api.child(FAMILY_HOUSEHOLD, birth=birth)


def _fill_self_service(ledger, inst: str, n: int) -> None:
    """n self-service bookings of other households' children (as families would make them)."""
    for _ in range(n):
        hh = ledger.execute(c.RegisterHousehold(district="Nørrebro"), actor="other", channel="caseworker").result["id"]
        child = ledger.execute(c.RegisterChild(household_id=hh, birth_date=date(2024, 3, 15)), actor="other",
                               channel="caseworker").result["id"]
        ledger.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=date(2025, 8, 1)),
                       actor="other-family", channel="self_service")


def test_a_family_books_its_own_child_through_the_self_service_channel(world):
    api, _, _ = world
    api.household(household_id=FAMILY_HOUSEHOLD)
    inst = api.institution(nursery=10)
    child = _family_child(api)
    booking = api.ok(api.post("/v1/bookings", role="family",
                              json={"child_id": child, "institution_id": inst, "start_date": NURSERY_START}))
    history = api.ok(api.get(f"/v1/children/{child}/history", role="family"), 200)["items"]
    booked = [row for row in history if row["event"] == "PlaceBooked"]
    assert [(row["channel"], row["actor"]) for row in booked] == [("self_service", "family-actor")]
    seen = api.ok(api.get(f"/v1/bookings/{booking['id']}", role="family"), 200)
    assert seen["child_id"] == child and seen["status"] == "booked"


def test_another_households_ids_answer_exactly_as_unknown_ones(world):
    api, _, _ = world
    api.household(household_id=FAMILY_HOUSEHOLD)
    inst = api.institution(nursery=10)
    other_hh = api.household()
    other_child = api.child(other_hh)
    other_booking = api.ok(api.post("/v1/bookings", json={"child_id": other_child, "institution_id": inst,
                                                          "start_date": NURSERY_START}))["id"]
    unknown = str(uuid.uuid4())
    pairs = [
        (f"/v1/children/{other_child}", f"/v1/children/{unknown}"),
        (f"/v1/children/{other_child}/history", f"/v1/children/{unknown}/history"),
        (f"/v1/households/{other_hh}", f"/v1/households/{unknown}"),
        (f"/v1/households/{other_hh}/statements/2025-08", f"/v1/households/{unknown}/statements/2025-08"),
        (f"/v1/bookings/{other_booking}", f"/v1/bookings/{unknown}"),
        (f"/v1/offers?child_id={other_child}", f"/v1/offers?child_id={unknown}"),
    ]
    for theirs, nobodys in pairs:
        a, b = api.get(theirs, role="family"), api.get(nobodys, role="family")
        assert a.status_code == b.status_code == 404, (theirs, a.text)
        assert a.json()["detail"].replace(other_child, "X").replace(other_hh, "X").replace(other_booking, "X") \
            == b.json()["detail"].replace(unknown, "X")
    commands = [
        ("/v1/bookings", {"child_id": other_child, "institution_id": inst, "start_date": "2025-09-01"}),
        (f"/v1/bookings/{other_booking}/cancel", {"effective_date": "2025-09-01", "reason": "not ours"}),
        (f"/v1/bookings/{other_booking}/transfer", {"institution_id": inst, "effective_date": "2025-09-01",
                                                    "reason": "not ours"}),
        (f"/v1/children/{other_child}/registrations", {"age_group": "nursery", "wishes": [inst],
                                                       "need_date": NURSERY_START}),
    ]
    for path, body in commands:
        answer = api.post(path, role="family", json=body)
        assert answer.status_code == 404, (path, answer.text)
    # nothing happened to the other household's booking
    assert api.ok(api.get(f"/v1/bookings/{other_booking}"), 200)["status"] == "booked"


def test_a_full_self_service_share_refuses_the_family_with_a_clear_problem(world):
    api, ledger, _ = world
    api.household(household_id=FAMILY_HOUSEHOLD)
    inst = api.institution(nursery=5)  # 20 % held for caseworkers: floor(5 * 20 / 100) = 1 seat
    _fill_self_service(ledger, inst, 3)
    first, second = _family_child(api), _family_child(api, birth="2024-04-02")
    api.ok(api.post("/v1/bookings", role="family",
                    json={"child_id": first, "institution_id": inst, "start_date": NURSERY_START}))
    refused = api.post("/v1/bookings", role="family",
                       json={"child_id": second, "institution_id": inst, "start_date": NURSERY_START})
    assert refused.status_code == 409, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    problem = refused.json()
    assert problem["title"] == "No free seat"
    # the month, why, and when the held seat is released (4 weeks before 1 August)
    assert "2025-08" in problem["detail"] and "self-service share is full" in problem["detail"]
    assert "2025-07-04" in problem["detail"]
    # the held seat is still there for a caseworker
    api.ok(api.post("/v1/bookings", json={"child_id": second, "institution_id": inst, "start_date": NURSERY_START}))


def test_a_family_cannot_decide_what_a_caseworker_decides(world):
    api, _, _ = world
    api.household(household_id=FAMILY_HOUSEHOLD)
    inst = api.institution(nursery=10)
    child = _family_child(api)
    override = api.post("/v1/bookings", role="family", json={"child_id": child, "institution_id": inst,
                                                              "start_date": NURSERY_START, "override": True,
                                                              "reason": "we want it"})
    assert override.status_code == 422 and "caseworker" in override.json()["detail"]
    basis = api.post("/v1/bookings", role="family", json={"child_id": child, "institution_id": inst,
                                                           "start_date": NURSERY_START, "pool": "basis"})
    assert basis.status_code == 422 and "caseworker" in basis.json()["detail"]
    assert api.post("/v1/children", role="family", json={"household_id": FAMILY_HOUSEHOLD,
                                                          "birth_date": "2024-05-01"}).status_code == 403
    assert api.get("/v1/waiting-lists", role="family", params={"district": "Nørrebro"}).status_code == 403


def _offer(ledger, child: str, inst: str, start=date(2025, 8, 1)) -> str:
    return ledger.execute(c.OfferPlace(child_id=child, institution_id=inst, age_group="nursery", start_date=start,
                                       expires_on=date(2025, 2, 1), rank=1, priority_basis="seniority"),
                          actor="allocation", channel="system").result["id"]


def test_a_family_answers_its_offers_and_reads_its_statement(world):
    api, ledger, clock = world
    api.household(household_id=FAMILY_HOUSEHOLD, income_kr=300_000)
    first_choice, second_choice = api.institution(nursery=10), api.institution(name="Mælkebøtten", nursery=10)
    child = _family_child(api)
    api.ok(api.post(f"/v1/children/{child}/registrations", role="family",
                    json={"age_group": "nursery", "wishes": [first_choice, second_choice],
                          "need_date": NURSERY_START}))
    declined_offer = _offer(ledger, child, second_choice)
    offers = api.ok(api.get("/v1/offers", role="family", params={"child_id": child}), 200)
    assert [(o["offer_id"], o["state"]) for o in offers] == [(declined_offer, "open")]
    declined = api.ok(api.post(f"/v1/offers/{declined_offer}/decline", role="family",
                               json={"reason": "we wait for our first wish"}), 200)
    assert declined["offer_id"] == declined_offer
    taken_offer = _offer(ledger, child, first_choice)
    booking = api.ok(api.post(f"/v1/offers/{taken_offer}/accept", role="family", json={"lunch": True}))
    assert booking["institution_id"] == first_choice and booking["start_date"] == NURSERY_START
    states = {o["offer_id"]: o["state"]
              for o in api.ok(api.get("/v1/offers", role="family", params={"child_id": child}), 200)}
    assert states == {declined_offer: "declined", taken_offer: "accepted"}
    again = api.post(f"/v1/offers/{taken_offer}/accept", role="family", json={"lunch": True})
    assert again.status_code == 409, again.text

    clock.set(date(2025, 9, 1))
    api.household()  # the billing horizon follows the ledger's latest event: one in September opens August
    api.ok(api.post("/v1/billing/2025-08/issue", role="admin"), 200)
    statement = api.ok(api.get(f"/v1/households/{FAMILY_HOUSEHOLD}/statements/2025-08", role="family"), 200)
    assert statement["issued"] is True
    # Nursery 3,996 kr + lunch 712 kr (Copenhagen 2025); income 300,000 kr: the household pays 24 %
    # (2025 scale: L = 208,101, step (646,500 - 208,101) / 95 = 4,614.7 kr; 5 % + 19 whole steps), so
    # friplads takes 76 % of 4,708 kr = 3,578.08 kr.
    lines = sorted((line["kind"], line["amount_ore"]) for line in statement["lines"] if line["child_id"] == child)
    assert lines == [("fee", 399_600), ("friplads", -357_808), ("lunch", 71_200)]
    assert statement["total_ore"] == 112_992


def test_a_caseworker_sees_a_childs_ranks_bookings_and_offers_in_one_request(world):
    api, ledger, _ = world
    hh = api.household()
    wished, placed = api.institution(nursery=10), api.institution(name="Mælkebøtten", nursery=10)
    child = api.child(hh)
    api.ok(api.post(f"/v1/children/{child}/registrations",
                    json={"age_group": "nursery", "wishes": [wished], "need_date": NURSERY_START}))
    offer = _offer(ledger, child, wished)
    booking = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": placed,
                                                    "start_date": NURSERY_START}))["id"]
    seen = api.ok(api.get(f"/v1/children/{child}"), 200)
    assert seen["household_id"] == hh and seen["birth_date"] == "2024-03-15"
    [registration] = seen["registrations"]
    assert registration["wishes"] == [wished] and registration["active"] is True
    assert [(x["institution_id"], x["rank"], x["wish_no"]) for x in registration["lists"]] == [(wished, 1, 1)]
    assert registration["guarantee_date"] is not None
    assert [(b["booking_id"], b["institution_id"], b["first_day"]) for b in seen["bookings"]] == \
        [(booking, placed, NURSERY_START)]
    assert [(o["offer_id"], o["state"]) for o in seen["offers"]] == [(offer, "open")]


def test_the_booking_answers_its_first_full_months_expected_fee(world):
    api, _, _ = world
    hh = api.household()
    inst = api.institution(nursery=10)
    child = api.child(hh)
    booking = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": inst,
                                                    "start_date": "2025-08-15", "lunch": True}))["id"]
    fee = api.ok(api.get(f"/v1/bookings/{booking}"), 200)["expected_fee"]
    # First full month September 2025; nursery with lunch 4,708 kr (Copenhagen 2025), no income declared: 100 %.
    assert fee["month"] == "2025-09" and fee["amount_ore"] == 470_800 and fee["pay_share_percent"] == 100


def test_institutions_are_found_by_a_part_of_their_name(world):
    api, _, _ = world
    a = api.institution(name="Solsikken")
    api.institution(name="Mælkebøtten", district="Valby")
    found = api.ok(api.get("/v1/institutions", role="family", params={"q": "SOLSIK"}), 200)
    assert [(i["institution_id"], i["name"]) for i in found["items"]] == [(a, "Solsikken")]
    assert found["total"] == 1
    literal = api.ok(api.get("/v1/institutions", params={"q": "%"}), 200)
    assert literal["total"] == 0
    one = api.ok(api.get(f"/v1/institutions/{a}", role="analyst"), 200)
    assert one["name"] == "Solsikken" and {(s["age_group"], s["seats"]) for s in one["capacity"]} == \
        {("nursery", 10), ("kindergarten", 20)}


def test_a_caseworker_finds_a_child_by_cpr_and_the_lookup_is_recorded_without_it(world):
    api, ledger, _ = world
    hh = api.ok(api.post("/v1/households", json={"district": "Nørrebro",
                                                 "payer": {"cpr": "121285-4321", "name": "Bo Jensen"}}))["id"]
    child = api.ok(api.post("/v1/children", json={"household_id": hh, "birth_date": "2024-03-15",
                                                  "identifiers": {"cpr": "1503241234"}}))["id"]
    found = api.ok(api.post("/v1/people/lookup", json={"cpr": "150324-1234"}), 200)
    assert found == {"kind": "child", "id": child, "household_id": hh}
    payer = api.ok(api.post("/v1/people/lookup", role="admin", json={"cpr": "1212854321"}), 200)
    assert payer == {"kind": "household", "id": hh, "household_id": hh}
    missing = api.post("/v1/people/lookup", json={"cpr": "010101-0101"})
    assert missing.status_code == 404 and "0101" not in missing.json()["detail"]
    assert api.post("/v1/people/lookup", role="family", json={"cpr": "150324-1234"}).status_code == 403
    assert api.post("/v1/people/lookup", role="analyst", json={"cpr": "150324-1234"}).status_code == 403
    # the child in one request after the look-up
    assert api.ok(api.get(f"/v1/children/{found['id']}"), 200)["household_id"] == hh
    log = ledger.registry.lookups()
    assert [(actor, person) for _, actor, person in log] == [
        ("caseworker-actor", child), ("admin-actor", hh), ("caseworker-actor", None)]
    assert not any("1503241234" in str(row) or "150324" in str(row) for row in log)
    # after the child's erasure its number finds nothing
    api.ok(api.post(f"/v1/people/{child}/erase", role="admin", json={}), 200)
    assert api.post("/v1/people/lookup", json={"cpr": "150324-1234"}).status_code == 404


def _waiting_list_city(api: Api) -> tuple[str, str]:
    """A waiting-list city (offers come from the monthly run): two nurseries of one seat each."""
    api.activate("copenhagen-2025-waitinglist@1")
    wished = api.institution(name="Ønsket", kind="vuggestue", nursery=1, kindergarten=None)
    other = api.institution(name="Andet", kind="vuggestue", nursery=1, kindergarten=None)
    return wished, other


def test_a_family_answers_the_runs_offer_and_reads_its_statement_all_through_the_api(world):
    """The Done-when's family part, as an outsider meets it: nothing reaches the ledger but HTTP."""
    api, _, clock = world
    wished, other = _waiting_list_city(api)
    api.household(household_id=FAMILY_HOUSEHOLD, income_kr=300_000)
    child = _family_child(api)
    api.ok(api.post(f"/v1/children/{child}/registrations", role="family",
                    json={"age_group": "nursery", "wishes": [wished, other], "need_date": "2025-03-01"}))
    run = api.ok(api.post("/v1/allocation/2025-03/run", role="caseworker", params={"seed": 3}), 200)
    [made] = run["offers"]
    assert (made["child_id"], made["institution_id"], made["rank"]) == (child, wished, 1)
    [offer] = api.ok(api.get("/v1/offers", role="family", params={"child_id": child, "state": "open"}), 200)
    assert offer["offer_id"] == made["offer_id"] and offer["start_date"] == "2025-03-01"
    booking = api.ok(api.post(f"/v1/offers/{offer['offer_id']}/accept", role="family", json={"lunch": True}))
    assert (booking["child_id"], booking["institution_id"], booking["start_date"]) == (child, wished, "2025-03-01")
    history = api.ok(api.get(f"/v1/children/{child}/history", role="family"), 200)["items"]
    assert [(r["event"], r["actor"]) for r in history if r["event"] == "OfferAccepted"] == \
        [("OfferAccepted", "family-actor")]
    seen = api.ok(api.get(f"/v1/bookings/{booking['id']}", role="family"), 200)
    assert seen["status"] == "booked" and seen["lunch"] is True

    clock.set(date(2025, 4, 2))
    api.household()  # the billing horizon follows the ledger's latest event
    api.ok(api.post("/v1/billing/2025-03/issue", role="admin"), 200)
    statement = api.ok(api.get(f"/v1/households/{FAMILY_HOUSEHOLD}/statements/2025-03", role="family"), 200)
    # Nursery 3,996 kr + lunch 712 kr (Copenhagen 2025); the household pays 24 % of 4,708 kr (see above).
    assert statement["issued"] is True and statement["total_ore"] == 112_992
    assert {line["booking_id"] for line in statement["lines"]} == {booking["id"]}


def test_a_caseworker_finds_a_child_by_cpr_and_sees_its_ranks_bookings_and_offers_in_one_request(world):
    """The Done-when's caseworker part: from a CPR number to everything about the child, in two requests,
    each figure the same as the endpoint that owns it answers."""
    api, _, clock = world
    wished, other = _waiting_list_city(api)
    elsewhere = api.institution(name="Midlertidig", kind="vuggestue", nursery=1, kindergarten=None)
    hh = api.household()
    child = api.ok(api.post("/v1/children", json={"household_id": hh, "birth_date": "2024-03-15",
                                                  "identifiers": {"cpr": "150324-1234"}}))["id"]
    ahead = api.child(api.household(), birth="2024-02-01")  # first on the second wish's list
    api.ok(api.post(f"/v1/children/{ahead}/registrations",
                    json={"age_group": "nursery", "wishes": [other], "need_date": "2025-03-01"}))
    clock.set(date(2025, 1, 7))  # a day's less seniority than the child ahead
    api.ok(api.post(f"/v1/children/{child}/registrations",
                    json={"age_group": "nursery", "wishes": [other, wished], "need_date": "2025-03-01"}))
    interim = api.ok(api.post("/v1/bookings", json={"child_id": child, "institution_id": elsewhere,
                                                     "start_date": "2025-02-01"}))["id"]  # a place outside its wishes
    run = api.ok(api.post("/v1/allocation/2025-03/run", params={"seed": 3}), 200)
    offered = {o["child_id"]: (o["offer_id"], o["institution_id"]) for o in run["offers"]}
    assert offered[child][1] == wished and offered[ahead][1] == other

    found = api.ok(api.post("/v1/people/lookup", json={"cpr": "1503241234"}), 200)
    assert found == {"kind": "child", "id": child, "household_id": hh}
    seen = api.ok(api.get(f"/v1/children/{found['id']}"), 200)
    [registration] = seen["registrations"]
    ranks = {x["institution_id"]: (x["rank"], x["wish_no"]) for x in registration["lists"]}
    assert ranks == {other: (2, 1), wished: (1, 2)}
    for inst, (rank, _) in ranks.items():
        listed = api.ok(api.get(f"/v1/waiting-lists/{inst}"), 200)["items"]
        assert next(r["rank"] for r in listed if r["child_id"] == child) == rank
    assert [(b["booking_id"], b["institution_id"]) for b in seen["bookings"]] == [(interim, elsewhere)]
    assert [(o["offer_id"], o["institution_id"], o["state"]) for o in seen["offers"]] == \
        [(*offered[child], "open")]
    assert seen["offers"] == api.ok(api.get("/v1/offers", params={"child_id": child}), 200)
