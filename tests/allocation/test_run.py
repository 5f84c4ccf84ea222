"""The allocation run on a ledger, both stores: the rule set's order, no overbooking, the seed,
idempotent re-runs, the guarantee within reach, expiring offers, the age roll, book-en-plads."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone

import pytest

import rules
from ledger import commands as c
from ledger.aggregates import Child
from processes.ageroll import age_roll, expire_offers
from processes.allocation import run_allocation
from projections.engine import LogReader

WAITINGLIST = "copenhagen-2025-waitinglist@1"
D = date
RS = rules.load_rule_set("copenhagen-book-en-plads@1")


@pytest.fixture
def city(new_city):
    return new_city(rule_set=WAITINGLIST)


def waiting_child(city, wishes, birth=D(2024, 3, 15), need=D(2025, 3, 1), household=None, group="nursery"):
    child = city.child(household or city.household(), birth=birth)
    city.run(c.Register(child_id=child, age_group=group, wishes=wishes, need_date=need))
    return child


def test_siblings_first_then_seniority(city):
    a = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="A")
    family = city.household()
    big = city.child(family, birth=D(2023, 9, 1))
    city.book(big, a, D(2025, 1, 1))  # the older sibling holds one of A's two seats (on the list date)
    senior = waiting_child(city, [a], birth=D(2024, 1, 10))
    sibling = waiting_child(city, [a], birth=D(2024, 6, 1), household=family, need=D(2025, 3, 1))
    run = run_allocation(city.ledger, "2025-03", seed=7)
    assert [(o["child_id"], o["institution_id"]) for o in run["offers"]] == [(sibling, a)]
    assert "sibling" in run["offers"][0]["priority_basis"]
    assert run["seed"] == 7 and run["rule_set"] == WAITINGLIST
    assert senior in {case["child_id"] for case in run["unplaced_cases"]}
    (event,), _ = LogReader(city.ledger, {"Child.PlaceOffered"}).page(0, 10_000)
    assert (event.originator_id, event.data["rank"], event.data["seed"]) == (sibling, 1, 7)
    assert event.meta["rule_set"] == WAITINGLIST and event.meta["actor"] == "system"


def test_free_seats_are_never_overbooked_and_a_rerun_offers_nothing_new(city):
    a = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="A")
    kids = [waiting_child(city, [a], birth=D(2024, 1 + i, 5)) for i in range(5)]
    first = run_allocation(city.ledger, "2025-03")
    assert len(first["offers"]) == 2 and {o["child_id"] for o in first["offers"]} <= set(kids)
    again = run_allocation(city.ledger, "2025-03")
    assert again["offers"] == []  # open offers hold their seats
    for o in first["offers"]:
        city.run(c.AcceptOffer(child_id=o["child_id"], offer_id=o["offer_id"]))
    later = run_allocation(city.ledger, "2025-04")
    assert later["offers"] == []  # no seat left


def test_the_earlier_seniority_comes_first(city):
    a = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="A")
    # Registered on 6 January 2025, before their 4-month birthdays: seniority is the birthday.
    kids = [waiting_child(city, [a], birth=D(2024, m, 15), need=D(2025, 6, 1)) for m in (11, 9, 10)]
    run = run_allocation(city.ledger, "2025-06")
    assert [o["child_id"] for o in run["offers"]] == [kids[1]]
    assert "seniority 2025-01-15" in run["offers"][0]["priority_basis"]


def test_each_child_gets_its_best_wish_that_has_room(city):
    a = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="A")
    b = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="B")
    first = waiting_child(city, [a, b], birth=D(2024, 9, 15), need=D(2025, 6, 1))
    second = waiting_child(city, [a, b], birth=D(2024, 10, 15), need=D(2025, 6, 1))
    run = run_allocation(city.ledger, "2025-06")
    assert {(o["child_id"], o["institution_id"], o["wish_no"]) for o in run["offers"]} == {(first, a, 1),
                                                                                            (second, b, 2)}


def test_children_not_due_this_month_wait(city):
    a = city.institution(kind="vuggestue", nursery=3, kindergarten=None, name="A")
    waiting_child(city, [a], need=D(2025, 6, 1))
    assert run_allocation(city.ledger, "2025-03")["offers"] == []
    assert len(run_allocation(city.ledger, "2025-06")["offers"]) == 1


def test_ties_are_broken_by_the_recorded_seed_reproducibly(store, city_class):
    ids = [str(uuid.UUID(int=n + 1, version=4)) for n in range(6)]

    def run(seed):
        city = city_class(store.ledger(url=store.new_url()), rule_set=WAITINGLIST)
        a = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="A")
        for child_id in ids:  # equal seniority and need date: only the seed orders them
            city.run(c.RegisterChild(household_id=city.household(), birth_date=D(2024, 3, 15), child_id=child_id))
            city.run(c.Register(child_id=child_id, age_group="nursery", wishes=[a], need_date=D(2025, 3, 1)))
        outcome = run_allocation(city.ledger, "2025-03", seed=seed)
        city.ledger.close()
        return sorted(o["child_id"] for o in outcome["offers"])

    assert run(42) == run(42) and len(run(42)) == 2
    assert len({tuple(run(seed)) for seed in range(6)}) > 1  # another seed, another draw


def test_a_due_guarantee_gets_the_nearest_free_seat_within_reach(city):
    def institution(name, lat, lon, seats):
        inst = city.run(c.RegisterInstitution(name=name, district="Valby", kind="vuggestue",
                                              location=c.Location(lat=lat, lon=lon)), channel="system")["id"]
        city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=seats,
                                  effective_from=D(2024, 1, 1)), channel="system")
        return inst

    full = institution("Full", 55.66, 12.51, 0)
    near = institution("Near", 55.67, 12.51, 1)  # about 1 km
    institution("Far", 55.76, 12.51, 1)  # about 11 km
    home = city.run(c.RegisterHousehold(district="Valby", location=c.Location(lat=55.66, lon=12.51)))["id"]
    child = waiting_child(city, [full], household=home, need=D(2025, 1, 20))
    run = run_allocation(city.ledger, "2025-04")
    assert [(o["child_id"], o["institution_id"]) for o in run["offers"]] == [(child, near)]
    assert run["offers"][0]["priority_basis"].startswith("guarantee")


def test_the_guarantee_takes_no_seat_the_run_or_an_open_offer_has_given(city):
    """The nearest seat within reach is A's only seat; the matching gives it to a child who wished
    it, so the guarantee child gets no second offer for it (in this run, nor in the next while the
    first offer is open)."""
    a = city.run(c.RegisterInstitution(name="A", district="Valby", kind="vuggestue",
                                       location=c.Location(lat=55.67, lon=12.51)), channel="system")["id"]
    city.run(c.ChangeCapacity(institution_id=a, age_group="nursery", seats=1, effective_from=D(2024, 1, 1)),
             channel="system")
    full = city.institution(kind="vuggestue", nursery=0, kindergarten=None, name="Full")
    home = city.run(c.RegisterHousehold(district="Valby", location=c.Location(lat=55.66, lon=12.51)))["id"]
    due = waiting_child(city, [full], household=home, need=D(2025, 1, 20))  # guarantee due in April
    wisher = waiting_child(city, [a], need=D(2025, 4, 1))
    run = run_allocation(city.ledger, "2025-04")
    assert [(o["child_id"], o["institution_id"]) for o in run["offers"]] == [(wisher, a)]
    assert due in {case["child_id"] for case in run["unplaced_cases"]}
    again = run_allocation(city.ledger, "2025-05")
    assert again["offers"] == []


def test_no_nursery_offer_from_a_start_at_which_the_child_has_outgrown_the_nursery(city):
    a = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="A")
    # 2 y 10 m on 15 March 2025: kindergarten age from 1 March, so a nursery seat from March is no offer.
    old = waiting_child(city, [a], birth=D(2022, 5, 15), need=D(2025, 2, 1))
    young = waiting_child(city, [a], birth=D(2024, 5, 15), need=D(2025, 2, 1))
    march = run_allocation(city.ledger, "2025-03")
    assert [o["child_id"] for o in march["offers"]] == [young] and march["refused"] == []
    assert old not in {case["child_id"] for case in march["unplaced_cases"]}  # not a nursery case any more
    # The age roll puts it on the kindergarten lists (its integrated wishes first, then the nearest).
    kindergarten = city.institution(kind="boernehave", nursery=None, kindergarten=3, name="K")
    rolled = age_roll(city.ledger, "2025-02")
    assert [r["child_id"] for r in rolled["registered"]] == [old] and rolled["registered"][0]["wishes"] == [kindergarten]
    reg = city.ledger.get(Child, old).registrations["kindergarten"]
    assert reg["active"] and reg["need_date"] == D(2025, 3, 1)
    assert age_roll(city.ledger, "2025-02")["registered"] == []  # once



def test_the_age_roll_leaves_a_child_whose_place_already_reaches_kindergarten_age(city):
    a = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="A")
    both = city.institution(kind="integreret", nursery=2, kindergarten=2, name="Both")
    city.institution(kind="boernehave", nursery=None, kindergarten=3, name="K")
    placed = city.child(city.household(), birth=D(2022, 5, 15))
    city.book(placed, both, D(2025, 2, 1))  # through to school start
    city.run(c.Register(child_id=placed, age_group="nursery", wishes=[a], need_date=D(2025, 2, 1)))
    assert age_roll(city.ledger, "2025-02")["registered"] == []


def test_unanswered_offers_expire(city):
    a = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="A")
    waiting_child(city, [a])
    run_allocation(city.ledger, "2025-03")
    assert expire_offers(city.ledger, city.ledger.today()) == 0
    city.ledger.clock.advance(timedelta(days=20))
    assert expire_offers(city.ledger, city.ledger.today()) == 1
    assert expire_offers(city.ledger, city.ledger.today()) == 0
    assert len(run_allocation(city.ledger, "2025-03")["offers"]) == 0  # the month's key was used


def test_the_age_roll_puts_nursery_children_without_a_kindergarten_on_its_lists(city):
    nursery = city.institution(kind="vuggestue", nursery=5, kindergarten=None, name="Nursery", district="Valby")
    integrated = city.institution(kind="integreret", nursery=5, kindergarten=5, name="Both", district="Valby")
    kg = city.institution(kind="boernehave", nursery=None, kindergarten=5, name="Kindergarten", district="Valby")
    birth = D(2022, 6, 10)  # 2 y 10 m in April 2025: the nursery place ends on 31 March
    leaving = city.child(city.household(district="Valby"), birth=birth)
    staying = city.child(city.household(district="Valby"), birth=birth)
    city.book(leaving, nursery, D(2025, 2, 1))
    city.book(staying, integrated, D(2025, 2, 1))
    rolled = age_roll(city.ledger, "2025-03")
    assert [r["child_id"] for r in rolled["registered"]] == [leaving]
    registration = city.ledger.get(Child, leaving).registrations["kindergarten"]
    assert registration["need_date"] == D(2025, 4, 1) and set(registration["wishes"]) >= {kg}
    assert age_roll(city.ledger, "2025-03")["registered"] == []  # already registered


def test_book_en_plads_offers_nothing_and_lists_the_open_cases(new_city):
    city = new_city(rule_set="copenhagen-book-en-plads@1")
    a = city.institution(kind="vuggestue", nursery=10, kindergarten=None, name="A")
    child = waiting_child(city, [a], need=D(2025, 2, 1))
    run = run_allocation(city.ledger, "2025-02")  # today is 6 January: February's held seats are released
    assert run["offers"] == [] and [case["child_id"] for case in run["unplaced_cases"]] == [child]
    assert [(r["institution_id"], r["seats"]) for r in run["released"]] == [(a, 2)]  # 20 % of 10
    assert run_allocation(city.ledger, "2025-03")["released"] == []  # March's are still held


def test_book_en_plads_releases_only_the_held_seats_no_caseworker_placement_uses(new_city):
    city = new_city(rule_set="copenhagen-book-en-plads@1")
    a = city.institution(kind="vuggestue", nursery=10, kindergarten=None, name="A")
    b = city.institution(kind="vuggestue", nursery=10, kindergarten=None, name="B")
    city.book(city.child(city.household()), a, D(2025, 2, 1))  # a caseworker placement: 1 of A's 2 held seats
    for _ in range(2):
        city.book(city.child(city.household()), b, D(2025, 2, 1))  # both of B's held seats
    city.book(city.child(city.household()), b, D(2025, 2, 1), channel="self_service")
    run = run_allocation(city.ledger, "2025-02")
    assert [(r["institution_id"], r["seats"]) for r in run["released"]] == [(a, 1)]


def test_kindergarten_offers_go_to_the_oldest_child_first(city):
    kg = city.institution(kind="boernehave", nursery=None, kindergarten=1, name="K")
    younger = waiting_child(city, [kg], birth=D(2022, 5, 20), need=D(2025, 4, 1), group="kindergarten")
    older = waiting_child(city, [kg], birth=D(2022, 3, 2), need=D(2025, 4, 1), group="kindergarten")
    run = run_allocation(city.ledger, "2025-04")
    assert [o["child_id"] for o in run["offers"]] == [older]
    assert "oldest first" in run["offers"][0]["priority_basis"]
    assert younger in {case["child_id"] for case in run["unplaced_cases"]}


def test_a_newcomer_position_is_used_within_3_months_of_the_registration_or_lapses(city):
    """Issue 23: newcomer positions are valid 3 months (registered 2025-01-06: until 2025-04-05)."""
    a = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="A")
    native = waiting_child(city, [a], birth=D(2024, 1, 5), need=D(2025, 2, 1))
    newcomer = city.child(city.household(), birth=D(2024, 6, 5))
    city.run(c.Register(child_id=newcomer, age_group="nursery", wishes=[a], need_date=D(2025, 3, 1), newcomer=True))
    # May: the position lapsed on 2025-04-06; the list's order gives the one seat to the native child.
    run = run_allocation(city.ledger, "2025-05")
    assert [o["child_id"] for o in run["offers"]] == [native]
    assert not run["offers"][0]["priority_basis"].startswith("newcomer position")
    assert rules.newcomer_position_valid(D(2025, 1, 6), D(2025, 4, 5), RS)
    assert not rules.newcomer_position_valid(D(2025, 1, 6), D(2025, 4, 6), RS)


def test_newcomers_take_the_reserved_positions_first_up_to_six_a_year(city):
    a = city.institution(kind="vuggestue", nursery=8, kindergarten=None, name="A")
    # Natives come before newcomers in the list (an earlier need date), except for the reserved positions.
    natives = [waiting_child(city, [a], birth=D(2024, 1, 5), need=D(2025, 2, 1)) for _ in range(8)]
    newcomers = []
    for _ in range(7):
        child = city.child(city.household(), birth=D(2024, 6, 5))
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[a], need_date=D(2025, 3, 1),
                            newcomer=True))
        newcomers.append(child)
    run = run_allocation(city.ledger, "2025-03")
    offered = [o["child_id"] for o in run["offers"]]
    assert len(offered) == 8
    assert len(set(offered) & set(newcomers)) == 6  # the year's six positions, then the list's order
    assert len(set(offered) & set(natives)) == 2
    assert sum(o["priority_basis"].startswith("newcomer position") for o in run["offers"]) == 6


def test_the_years_newcomer_positions_are_counted_across_its_runs_and_start_again_next_year(city):
    """Each run counts the positions the year's earlier runs used (the count is kept between runs,
    reading only the offers recorded since); a new year's runs start from none."""
    a = city.institution(kind="vuggestue", nursery=10, kindergarten=None, name="A")

    def newcomers(n, need, birth=D(2024, 6, 5)):
        children = [city.child(city.household(), birth=birth) for _ in range(n)]
        for child in children:
            city.run(c.Register(child_id=child, age_group="nursery", wishes=[a], need_date=need, newcomer=True))
        return children

    def bases(run):
        return sorted(o["priority_basis"].split(";")[0] for o in run["offers"])

    newcomers(4, D(2025, 3, 1))
    march = run_allocation(city.ledger, "2025-03")
    assert bases(march) == [f"newcomer position {k} of 6 in 2025" for k in (1, 2, 3, 4)]
    newcomers(3, D(2025, 4, 1))
    april = run_allocation(city.ledger, "2025-04")
    assert len(april["offers"]) == 3
    assert bases(april)[:2] == ["newcomer position 5 of 6 in 2025", "newcomer position 6 of 6 in 2025"]
    assert not bases(april)[2].startswith("newcomer position")
    city.ledger.clock.set(datetime(2026, 1, 5, 9, tzinfo=timezone.utc))
    [late] = newcomers(1, D(2026, 2, 1), birth=D(2025, 6, 5))
    february = run_allocation(city.ledger, "2026-02")  # (last year's, their offers expired, again too)
    [offer] = [o for o in february["offers"] if o["child_id"] == late]
    assert offer["priority_basis"].startswith("newcomer position 1 of 6 in 2026")
