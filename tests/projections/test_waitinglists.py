"""The waiting-list view: hand-built cases and paged projection == rebuild, on SQLite and PostgreSQL.

The `city` fixture starts its simulated clock on 2025-01-06 and runs under
copenhagen-book-en-plads@1 from 2020 (both Copenhagen policies keep waiting lists).
The list date is the day of the latest recorded time: `tick(city, day)` moves the clock and
records a small fact so the view sees the new day.
"""

from datetime import date

import pytest

import rules
from ledger import commands as c
from ledger.errors import InvalidCommand
from projections.engine import open_store
from projections.projector import Projector
from projections.rebuilding import rebuild, verify
from projections.waitinglists import (WAITING_LIST, WAITING_LIST_DISTRICT, WAITINGLIST_STATE, WaitingLists)

D = date
NEED = D(2025, 8, 1)


class Crash(Exception):
    pass


def _crash():
    raise Crash()


def vuggestue(city, name, district="Nørrebro", seats=10):
    return city.institution(kind="vuggestue", nursery=seats, kindergarten=None, name=name, district=district)


def register(city, child, wishes, need=NEED, group="nursery"):
    return city.run(c.Register(child_id=child, age_group=group, wishes=wishes, need_date=need))


def waiting_child(city, wishes, birth=D(2024, 9, 1), need=NEED, household=None, district="Nørrebro"):
    child = city.child(household or city.household(district=district), birth=birth)
    register(city, child, wishes, need)
    return child


def tick(city, day):
    """Move the clock to `day` and record something, so the list date moves."""
    city.ledger.clock.set(day)
    city.household()


class Lists:
    """The view's tables after catching up (a fresh projector each time: state reloads from the tables)."""

    def __init__(self, city, page_size=5_000):
        projector = Projector(city.ledger, [WaitingLists()], page_size=page_size)
        projector.catch_up()
        self.rows = list(projector.store.load(WAITING_LIST))
        self.district_rows = list(projector.store.load(WAITING_LIST_DISTRICT))
        self.state = list(projector.store.load(WAITINGLIST_STATE))
        projector.close()

    def order(self, inst, group="nursery"):
        rows = sorted((r for r in self.rows if r["institution_id"] == inst and r["age_group"] == group),
                      key=lambda r: r["rank"])
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        return [r["child_id"] for r in rows]

    def row(self, inst, child, group="nursery"):
        wanted = (inst, child, group)
        return next((r for r in self.rows if (r["institution_id"], r["child_id"], r["age_group"]) == wanted), None)

    def district(self, district, group="nursery"):
        rows = sorted((r for r in self.district_rows if r["district"] == district and r["age_group"] == group),
                      key=lambda r: r["rank"])
        assert [r["rank"] for r in rows] == list(range(1, len(rows) + 1))
        return [r["child_id"] for r in rows]

    def district_row(self, child, group="nursery"):
        return next((r for r in self.district_rows if r["child_id"] == child and r["age_group"] == group), None)

    def children(self):
        return {r["child_id"] for r in self.rows} | {r["child_id"] for r in self.district_rows}


# -- order ------------------------------------------------------------------------------------


def test_nursery_seniority_counts_from_the_4_month_birthday_however_early_registered(city):
    inst = vuggestue(city, "Mælkebøtten")
    # Registered on 2025-01-06 at 1 month old: seniority from the 4-month birthday, 2025-04-06.
    early = waiting_child(city, [inst], birth=D(2024, 12, 6))
    same_day_sooner_need = waiting_child(city, [inst], birth=D(2024, 12, 6), need=D(2025, 7, 1))
    city.ledger.clock.set(D(2025, 3, 1))
    # Registered later, at 3 months: seniority from its 4-month birthday, 2025-04-01, so ahead.
    later = waiting_child(city, [inst], birth=D(2024, 12, 1))
    # Registered at 5 months: seniority from the registration day.
    late = waiting_child(city, [inst], birth=D(2024, 9, 15))

    lists = Lists(city)
    assert lists.order(inst) == [late, later, same_day_sooner_need, early]
    assert [lists.row(inst, ch)["seniority_date"] for ch in lists.order(inst)] == [
        D(2025, 3, 1), D(2025, 4, 1), D(2025, 4, 6), D(2025, 4, 6)]
    row = lists.row(inst, early)
    assert row["registered_on"] == D(2025, 1, 6)
    assert row["priority_basis"] == "seniority 2025-04-06, need date 2025-08-01"
    assert row["sibling"] is False and row["wish_no"] == 1 and row["channel"] == "caseworker"
    assert row["district"] == "Nørrebro" and row["rule_set"] == "copenhagen-book-en-plads@1"


def test_a_sibling_in_the_institution_goes_first_from_the_day_it_attends(city):
    inst, other = vuggestue(city, "A"), vuggestue(city, "B")
    family = city.household()
    big = city.child(family, birth=D(2024, 3, 15))
    city.book(big, inst, D(2025, 2, 1))
    stranger = waiting_child(city, [inst, other], birth=D(2024, 9, 1))
    little = waiting_child(city, [inst, other], birth=D(2024, 11, 1), household=family)

    lists = Lists(city)  # list date 2025-01-06: the big sister starts on 1 February
    assert big not in lists.children()  # booked at the institution it was registered for
    assert lists.order(inst) == [stranger, little]
    assert lists.row(inst, little)["sibling"] is False

    tick(city, D(2025, 2, 3))
    lists = Lists(city)
    assert lists.order(inst) == [little, stranger]
    row = lists.row(inst, little)
    assert row["sibling"] is True and row["priority_basis"].startswith("sibling, seniority 2025-03-01")
    assert lists.order(other) == [stranger, little]  # no sibling there
    assert lists.row(other, little)["sibling"] is False
    assert lists.district("Nørrebro") == [stranger, little]  # the district list has no sibling priority


def test_kindergarten_siblings_count_from_2_years_6_months(city):
    inst = city.institution(kind="integreret", name="Integreret")
    family = city.household()
    big = city.child(family, birth=D(2024, 3, 15))
    city.book(big, inst, D(2025, 2, 1))
    older = city.child(city.household(), birth=D(2023, 1, 10))
    young = city.child(family, birth=D(2023, 3, 15))  # 2 y 6 m in September 2025
    for child in (older, young):
        register(city, child, [inst], need=D(2026, 1, 1), group="kindergarten")

    tick(city, D(2025, 2, 3))
    lists = Lists(city)
    assert lists.order(inst, "kindergarten") == [older, young]  # oldest first
    row = lists.row(inst, young, "kindergarten")
    assert row["sibling"] is True and not row["priority_basis"].startswith("sibling")
    assert row["seniority_date"] == D(2025, 3, 15)  # the 2nd birthday (registered earlier)

    tick(city, D(2025, 9, 1))
    lists = Lists(city)
    assert lists.order(inst, "kindergarten") == [young, older]
    assert lists.row(inst, young, "kindergarten")["priority_basis"].startswith("sibling, oldest first")


# -- who waits ----------------------------------------------------------------------------------


def test_a_booking_at_a_wished_institution_ends_the_wait_a_booking_elsewhere_does_not(city):
    a, b, elsewhere = vuggestue(city, "A"), vuggestue(city, "B"), vuggestue(city, "C")
    # All registered on the same day past 4 months: same seniority, ordered by need date.
    first = waiting_child(city, [a, b], birth=D(2024, 6, 1), need=D(2025, 2, 1))
    second = waiting_child(city, [a, b], birth=D(2024, 6, 1), need=D(2025, 2, 2))
    moving = waiting_child(city, [a, b], birth=D(2024, 6, 1), need=D(2025, 2, 3))
    stays = waiting_child(city, [a, b], birth=D(2024, 6, 1), need=D(2025, 2, 4))
    assert Lists(city).order(a) == [first, second, moving, stays]

    booking = city.book(first, a, D(2025, 2, 1))  # first wish
    city.book(second, b, D(2025, 2, 1))  # second wish: leaves the list of its first wish too
    city.book(moving, elsewhere, D(2025, 2, 1))  # not wished: keeps waiting (DTL § 27 c)
    lists = Lists(city)
    assert lists.order(a) == lists.order(b) == [moving, stays]
    assert lists.order(elsewhere) == []
    assert lists.district("Nørrebro") == [moving, stays]
    assert lists.row(a, moving)["rank"] == 1 and lists.row(b, moving)["wish_no"] == 2

    # A cancellation does not put the child back: it would register again.
    city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2025, 3, 1), reason="moved"))
    lists = Lists(city)
    assert first not in lists.children()
    register(city, first, [b], need=D(2025, 9, 1))
    lists = Lists(city)
    assert lists.order(b) == [moving, stays, first] and lists.order(a) == [moving, stays]
    assert lists.row(b, first)["registered_on"] == D(2025, 1, 6)  # the re-registration's day


def test_changed_wishes_move_the_child_between_lists(city):
    a, b = vuggestue(city, "A"), vuggestue(city, "B")
    other = waiting_child(city, [b], birth=D(2024, 8, 1))
    child = waiting_child(city, [a], birth=D(2024, 9, 1))
    city.run(c.ChangeWishes(child_id=child, age_group="nursery", wishes=[b, a], need_date=D(2025, 9, 1)))
    lists = Lists(city)
    assert lists.order(b) == [other, child] and lists.order(a) == [child]
    assert (lists.row(b, child)["wish_no"], lists.row(a, child)["wish_no"]) == (1, 2)
    assert lists.row(a, child)["need_date"] == D(2025, 9, 1)
    assert lists.district_row(child)["need_date"] == D(2025, 9, 1)

    city.run(c.ChangeWishes(child_id=child, age_group="nursery", wishes=[b]))
    lists = Lists(city)
    assert lists.order(a) == [] and lists.order(b) == [other, child]
    assert lists.row(b, child)["need_date"] == D(2025, 9, 1)  # kept when not given


def test_a_declined_offer_keeps_the_position_and_moves_the_need_date(city):
    inst = vuggestue(city, "A")
    child = waiting_child(city, [inst], birth=D(2024, 9, 1), need=D(2025, 3, 1))
    later = waiting_child(city, [inst], birth=D(2024, 10, 1), need=D(2025, 3, 1))
    offer = city.run(c.OfferPlace(child_id=child, institution_id=inst, age_group="nursery",
                                  start_date=D(2025, 4, 1), expires_on=D(2025, 1, 20), rank=1,
                                  priority_basis="seniority 2025-01-06, need date 2025-03-01"))
    assert Lists(city).order(inst) == [child, later]  # an open offer changes nothing
    declined = city.run(c.DeclineOffer(child_id=child, offer_id=offer["id"], reason="too far"))
    assert declined["need_date"] == "2025-06-01"  # two months after the offered start
    lists = Lists(city)
    assert lists.order(inst) == [child, later]  # seniority first: the position is kept
    row = lists.row(inst, child)
    assert row["need_date"] == D(2025, 6, 1) and row["seniority_date"] == D(2025, 1, 6)
    assert lists.district_row(child)["need_date"] == D(2025, 6, 1)


def test_an_erased_child_leaves_every_list(city):
    a, b = vuggestue(city, "A"), vuggestue(city, "B")
    gone = waiting_child(city, [a, b], birth=D(2024, 10, 1))
    kept = waiting_child(city, [a], birth=D(2024, 11, 1))
    assert Lists(city).order(a) == [gone, kept]
    city.run(c.ErasePerson(person_id=gone, reason="the parents asked"))
    lists = Lists(city)
    assert lists.order(a) == [kept] and lists.order(b) == []
    assert gone not in lists.children()
    state = next(r for r in lists.state if r["entity"] == "child" and r["id"] == gone)["data"]
    assert '"birth":null' in state and "2024-10-01" not in state and '"registrations":{}' in state


def test_a_child_leaves_the_nursery_list_when_it_reaches_the_kindergarten_age(city):
    inst = city.institution(kind="integreret", name="Integreret")
    toddler = waiting_child(city, [inst], birth=D(2022, 6, 15), need=D(2025, 2, 1))  # kindergarten from 2025-04-01
    baby = waiting_child(city, [inst], birth=D(2024, 9, 1))
    assert Lists(city).order(inst) == [toddler, baby]
    tick(city, D(2025, 3, 31))
    assert Lists(city).order(inst) == [toddler, baby]
    tick(city, D(2025, 4, 1))
    lists = Lists(city)
    assert lists.order(inst) == [baby] and lists.district("Nørrebro") == [baby]


def test_the_district_list_ranks_the_children_of_each_home_district(city):
    north, valby = vuggestue(city, "Nord", district="Nørrebro"), vuggestue(city, "Valby", district="Valby")
    # Seniority from the 4-month birthdays: v1 2025-02-01, n1 2025-03-01, v2 2025-04-01, n2 2025-05-01.
    n1 = waiting_child(city, [north, valby], birth=D(2024, 11, 1), district="Nørrebro")
    v1 = waiting_child(city, [north], birth=D(2024, 10, 1), district="Valby")  # home in Valby, wishes Nørrebro
    v2 = waiting_child(city, [valby, north], birth=D(2024, 12, 1), district="Valby")
    n2 = waiting_child(city, [north], birth=D(2025, 1, 1), district="Nørrebro")
    lists = Lists(city)
    assert lists.district("Nørrebro") == [n1, n2]
    assert lists.district("Valby") == [v1, v2]
    assert len([r for r in lists.district_rows if r["child_id"] == n1]) == 1  # one row however many wishes
    assert lists.order(north) == [v1, n1, v2, n2]
    assert lists.row(north, v1)["district"] == "Valby"
    row = lists.district_row(v2)
    assert (row["seniority_date"], row["need_date"], row["days_waiting"]) == (D(2025, 4, 1), NEED, 0)


def test_guarantee_date_and_days_waiting(city):
    inst = vuggestue(city, "A")
    # Asks for a start at 26 weeks (2025-04-01): due 4 weeks later, not before registration + 3 months.
    at_26_weeks = waiting_child(city, [inst], birth=D(2024, 10, 1), need=D(2025, 4, 1))
    # A later need date: due on the need date.
    later = waiting_child(city, [inst], birth=D(2024, 6, 1), need=D(2025, 6, 1))
    rs = rules.load_rule_set("copenhagen-book-en-plads@1")
    lists = Lists(city)
    assert lists.row(inst, at_26_weeks)["guarantee_date"] == D(2025, 4, 29) == rules.guarantee_date(
        D(2024, 10, 1), D(2025, 1, 6), D(2025, 4, 1), rs)
    assert lists.row(inst, later)["guarantee_date"] == D(2025, 6, 1)
    assert lists.district_row(at_26_weeks)["guarantee_date"] == D(2025, 4, 29)
    assert [lists.row(inst, ch)["days_waiting"] for ch in (at_26_weeks, later)] == [0, 0]

    tick(city, D(2025, 5, 1))  # the list date moves with the ledger
    lists = Lists(city)
    assert lists.row(inst, at_26_weeks)["days_waiting"] == 30
    assert lists.row(inst, later)["days_waiting"] == 0
    assert lists.district_row(at_26_weeks)["days_waiting"] == 30


def test_the_guarantee_list_gives_a_resident_a_place_within_2_months(city):
    """Issue 23: Copenhagen's guarantee list (international.kk.dk, 'Childminding guarantee'): a place
    within 2 months of signing up, residents only. Registered 2025-01-06 for 2025-02-01: the law's
    date is 3 months after the registration (2025-04-06); on the list, 2 months (2025-03-06)."""
    inst = vuggestue(city, "A")
    listed = city.child(city.household(), birth=D(2024, 3, 15))
    outcome = city.run(c.Register(child_id=listed, age_group="nursery", wishes=[inst], need_date=D(2025, 2, 1),
                                  guarantee_list=True))
    assert outcome["guarantee_date"] == "2025-03-06"
    unlisted = waiting_child(city, [inst], birth=D(2024, 3, 15), need=D(2025, 2, 1))
    lists = Lists(city)
    assert lists.row(inst, listed)["guarantee_date"] == D(2025, 3, 6)
    assert lists.row(inst, unlisted)["guarantee_date"] == D(2025, 4, 6)
    away = city.child(city.household(municipality_code="147"), birth=D(2024, 3, 15))
    with pytest.raises(InvalidCommand, match="residents only"):
        city.run(c.Register(child_id=away, age_group="nursery", wishes=[inst], need_date=D(2025, 2, 1),
                            guarantee_list=True))


def test_the_rule_set_in_force_on_the_list_date_decides(new_city):
    city = new_city()
    inst = vuggestue(city, "A")
    child = waiting_child(city, [inst])
    city.run(c.ActivateRuleSet(rule_set_id="copenhagen-2025-waitinglist@1", effective_from=D(2025, 3, 1)),
             channel="system")
    assert Lists(city).row(inst, child)["rule_set"] == "copenhagen-book-en-plads@1"
    tick(city, D(2025, 3, 1))
    assert Lists(city).row(inst, child)["rule_set"] == "copenhagen-2025-waitinglist@1"


# -- paged == rebuilt ------------------------------------------------------------------------------


def history(city):
    """Every case above in one ledger, with the clock moving between commands."""
    a, b = vuggestue(city, "A"), vuggestue(city, "B", district="Valby")
    integ = city.institution(kind="integreret", name="I", district="Valby")
    family = city.household(district="Valby")
    big = city.child(family, birth=D(2024, 3, 15))
    city.book(big, a, D(2025, 2, 1))
    kids = [waiting_child(city, [a, b], birth=D(2024, 6 + i % 5, 1 + i), district=("Valby", "Nørrebro")[i % 2])
            for i in range(6)]
    little = waiting_child(city, [a, b], birth=D(2024, 11, 1), household=family)
    toddler = waiting_child(city, [integ], birth=D(2022, 6, 15), need=D(2025, 2, 1))
    kg = city.child(family, birth=D(2023, 3, 15))
    register(city, kg, [integ], need=D(2026, 1, 1), group="kindergarten")
    tick(city, D(2025, 2, 3))
    city.book(kids[0], a, D(2025, 3, 1))
    moved = city.book(kids[1], integ, D(2025, 3, 1))
    city.run(c.ChangeWishes(child_id=kids[2], age_group="nursery", wishes=[b], need_date=D(2025, 9, 1)))
    offer = city.run(c.OfferPlace(child_id=kids[3], institution_id=b, age_group="nursery", start_date=D(2025, 4, 1),
                                  expires_on=D(2025, 2, 20), rank=1, priority_basis="seniority"))
    city.run(c.DeclineOffer(child_id=kids[3], offer_id=offer["id"]))
    tick(city, D(2025, 4, 2))
    city.run(c.ErasePerson(person_id=kids[4], reason="asked"))
    city.run(c.CancelBooking(booking_id=moved["id"], effective_date=D(2025, 5, 1), reason="moved"))
    city.run(c.ActivateRuleSet(rule_set_id="copenhagen-2025-waitinglist@1", effective_from=D(2025, 5, 1)),
             channel="system")
    tick(city, D(2025, 9, 2))
    return a, b, integ, little, toddler


def test_paged_projection_with_crashes_equals_a_rebuild_and_verifies(city):
    a, _, integ, little, _ = history(city)
    ledger = city.ledger
    tables = list(WaitingLists.tables)
    store = open_store(ledger)
    rebuild(ledger, [WaitingLists()])
    rebuilt = {t.name: store.checksums(t) for t in tables}
    assert rebuilt["waiting_list"] and rebuilt["waiting_list_district"]
    for page_size in (1, 2, 3, 7, 50):
        store.reset("views", tables)
        step = 0
        while True:  # crash before the commit of every 4th page; a fresh projector resumes
            projector = Projector(ledger, [WaitingLists()], page_size=page_size, store=store)
            try:
                while True:
                    step += 1
                    crash = _crash if step % 4 == 0 and step < 60 else None
                    if projector.run_page(crash_before_commit=crash) == 0:
                        break
                break
            except Crash:
                continue
        assert projector.position == ledger.max_position()
        assert {t.name: store.checksums(t) for t in tables} == rebuilt, f"page size {page_size}"
        assert verify(ledger, [WaitingLists()]) == []
    lists = Lists(city)
    assert lists.order(integ) == []  # the toddler outgrew the nursery list
    assert lists.order(integ, "kindergarten")  # the kindergarten registration waits
    assert lists.row(a, little)["sibling"] is True
    assert {r["rule_set"] for r in lists.rows} == {"copenhagen-2025-waitinglist@1"}
    store.close()


def test_verify_finds_a_tampered_rank(city):
    history(city)
    projector = Projector(city.ledger, [WaitingLists()])
    projector.catch_up()
    projector.store.query_write("UPDATE waiting_list SET rank = rank + 100")
    drifts = verify(city.ledger, [WaitingLists()])
    assert [d.table for d in drifts] == ["waiting_list"] and drifts[0].different
    projector.close()


@pytest.mark.parametrize("page_size", [1, 5])
def test_the_view_alongside_the_others(city, page_size):
    from projections import all_views

    assert any(isinstance(v, WaitingLists) for v in all_views())

    history(city)
    views = all_views()
    projector = Projector(city.ledger, views, page_size=page_size)
    projector.catch_up()
    projector.close()
    assert verify(city.ledger, all_views()) == []
