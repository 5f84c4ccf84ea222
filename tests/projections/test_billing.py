"""Billing and budget views: hand-computed months, issued statements, corrections, settlement,
budget, and paged projection == rebuild — on SQLite and PostgreSQL (the `city` fixture).

2025 Copenhagen tariffs (kr/month): under 3 y 1 m 3,996 without lunch, 4,708 with lunch; from
3 y 1 m 2,317 / 3,120. Gross cost per place = tariff without lunch / 25 % (3,996 kr -> 15,984 kr).
"""

from datetime import date
from uuid import UUID

import pytest

from ledger import commands as c
from ledger.errors import InvalidCommand
from projections import billing_views
from projections.billing import derivation
from projections.billing import (BUDGET, SETTLEMENT, STATEMENT_LINES, STATEMENTS, Billing, Budget)
from projections.engine import LogReader, open_store
from projections.projector import Projector
from projections.rebuilding import rebuild, verify

D = date
YOUNG = D(2024, 3, 15)  # under 3 y 1 m all through 2025: 399,600 + 71,200 lunch
OLDER = D(2021, 6, 10)  # the kindergarten rate from July 2024: 231,700 + 80,300 lunch


class Crash(Exception):
    pass


def _crash():
    raise Crash()


def views():
    return [Billing(), Budget()]


def project(city, page_size=5_000):
    projector = Projector(city.ledger, views(), page_size=page_size)
    projector.catch_up()
    return projector


def lines(projector, household, month):
    rows = [r for r in projector.store.load(STATEMENT_LINES) if r["household_id"] == household and r["month"] == month]
    return sorted(rows, key=lambda r: r["line_no"])


def statement(projector, household, month):
    return next((r for r in projector.store.load(STATEMENTS)
                 if r["household_id"] == household and r["month"] == month), None)


def summary(rows):
    return [(r["kind"], r["amount_ore"]) for r in rows]


def issue(city, projector, month):
    """Issue a month the way the API does: the view's lines for that month, as they stand."""
    projector.catch_up()
    statements = []
    for s in projector.store.load(STATEMENTS):
        if s["month"] != month or s["issued"]:
            continue
        rows = lines(projector, s["household_id"], month)
        statements.append(c.HouseholdStatement(
            household_id=s["household_id"], total_ore=s["total_ore"],
            lines=[c.StatementLine(kind=r["kind"], amount_ore=r["amount_ore"], child_id=r["child_id"],
                                   booking_id=r["booking_id"], month=r["corrects_month"], detail=r["detail"])
                   for r in rows]))
    city.run(c.IssueStatements(month=month, statements=statements))
    projector.catch_up()


def at(city, day):
    city.ledger.clock.set(day)


def test_one_child_a_full_month_is_fee_plus_lunch(city):
    at(city, D(2025, 3, 5))  # horizon: April 2025
    inst = city.institution()
    hh = city.household()
    child = city.child(hh, birth=YOUNG)
    booking = city.book(child, inst, D(2025, 2, 1))
    p = project(city)
    feb = lines(p, hh, "2025-02")
    assert summary(feb) == [("fee", 399_600), ("lunch", 71_200)]  # 4,708 kr
    assert all(r["child_id"] == child and r["booking_id"] == booking["id"] and not r["issued"] for r in feb)
    assert all(r["events"] and all(int(x) <= city.ledger.max_position() for x in r["events"].split(","))
               for r in feb)
    assert statement(p, hh, "2025-02")["total_ore"] == 470_800
    months = sorted(r["month"] for r in p.store.load(STATEMENTS) if r["household_id"] == hh)
    assert months == ["2025-02", "2025-03", "2025-04"]  # up to the month after the latest recorded month
    p.close()


def test_a_partial_month_is_prorated_by_calendar_days(city):
    at(city, D(2025, 3, 5))
    inst = city.institution()
    hh = city.household()
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 10))
    p = project(city)
    # 19 of February's 28 days: fee 399,600 * 19 / 28 = 271,157.1 -> 271,157;
    # with lunch 470,800 * 19 / 28 = 319,471.4 -> 319,471, so lunch = 48,314.
    assert summary(lines(p, hh, "2025-02")) == [("fee", 271_157), ("lunch", 48_314)]
    assert statement(p, hh, "2025-02")["total_ore"] == 319_471
    p.close()


def test_friplads_decision_reduces_the_payment(city):
    at(city, D(2025, 3, 5))
    inst = city.institution()
    hh = city.household(income_kr=300_000, income_from=D(2025, 1, 1))
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    # One child: L = 208,101 kr; 5 + (300,000 - 208,101) // 4,615 = 5 + 19 = 24 %.
    # 470,800 * 24 % = 112,992 -> friplads line 112,992 - 470,800 = -357,808.
    assert summary(lines(p, hh, "2025-02")) == [("fee", 399_600), ("lunch", 71_200), ("friplads", -357_808)]
    assert statement(p, hh, "2025-02")["total_ore"] == 112_992
    p.close()


def test_two_siblings_the_cheaper_pays_half_after_friplads(city):
    at(city, D(2025, 3, 5))
    inst = city.institution(district="Valby")
    hh = city.household(children_under_18=2, income_kr=300_000)
    young, older = city.child(hh, birth=YOUNG), city.child(hh, birth=OLDER)
    b_young = city.book(young, inst, D(2025, 2, 1))["id"]
    b_older = city.book(older, inst, D(2025, 2, 1))["id"]
    p = project(city)
    # Two children: L' = 208,101 + 7,000 = 215,101; 5 + 84,899 // 4,615 = 23 %.
    # young: 470,800 -> 108,284 (friplads -362,516); older: 312,000 -> 71,760 (friplads -240,240);
    # the cheaper after friplads (older, 71,760) pays 50 %: 35,880 -> sibling -35,880.
    feb = lines(p, hh, "2025-02")
    by_booking = {(r["booking_id"], r["kind"]): r["amount_ore"] for r in feb}
    assert by_booking[(b_young, "fee")] == 399_600 and by_booking[(b_young, "lunch")] == 71_200
    assert by_booking[(b_older, "fee")] == 231_700 and by_booking[(b_older, "lunch")] == 80_300
    assert by_booking[(b_young, "friplads")] == -362_516
    assert by_booking[(b_older, "friplads")] == -240_240
    assert by_booking[(b_older, "sibling")] == -35_880
    assert (b_young, "sibling") not in by_booking
    assert statement(p, hh, "2025-02")["total_ore"] == 108_284 + 35_880
    budget = next(r for r in p.store.load(BUDGET) if (r["month"], r["district"]) == ("2025-02", "Valby"))
    assert budget["friplads_cost_ore"] == 362_516 + 240_240
    assert budget["sibling_cost_ore"] == 35_880
    assert budget["parent_payments_ore"] == 144_164
    p.close()


def test_a_retroactive_friplads_decision_corrects_the_next_statement(city):
    at(city, D(2025, 3, 5))
    inst = city.institution()
    hh = city.household()
    child = city.child(hh, birth=YOUNG)
    booking = city.book(child, inst, D(2025, 2, 1))["id"]
    p = project(city)
    issue(city, p, "2025-02")
    issued_feb = lines(p, hh, "2025-02")
    assert summary(issued_feb) == [("fee", 399_600), ("lunch", 71_200)] and all(r["issued"] for r in issued_feb)

    # Income declared later, effective from 1 February: 24 % from then on.
    city.run(c.DeclareIncome(household_id=hh, annual_income_ore=300_000_00, effective_from=D(2025, 2, 1)))
    p.catch_up()
    assert lines(p, hh, "2025-02") == issued_feb  # invariant 4: the issued month never changes
    assert statement(p, hh, "2025-02") == {"household_id": hh, "month": "2025-02", "total_ore": 470_800,
                                           "issued": True}
    march = lines(p, hh, "2025-03")
    assert summary(march) == [("fee", 399_600), ("lunch", 71_200), ("friplads", -357_808),
                              ("correction", -357_808)]  # Feb: 112,992 due - 470,800 billed
    correction = march[-1]
    assert (correction["corrects_month"], correction["child_id"], correction["booking_id"]) == (
        "2025-02", child, booking)
    assert statement(p, hh, "2025-03")["total_ore"] == 112_992 - 357_808
    assert not any(r["kind"] == "correction" for r in lines(p, hh, "2025-04"))

    # Once the correction is issued on March's statement, nothing is left to correct.
    at(city, D(2025, 4, 2))
    issue(city, p, "2025-03")
    april = lines(p, hh, "2025-04")
    assert summary(april) == [("fee", 399_600), ("lunch", 71_200), ("friplads", -357_808)]
    p.close()


def test_a_horizon_move_onto_the_month_carrying_corrections_keeps_them(city):
    """A new month joining the horizon is derived alone for a household whose facts did not change
    (earlier months do not depend on the horizon), except where it carries the corrections of issued
    months: that month is derived whole."""
    at(city, D(2025, 3, 5))  # horizon: April
    inst = city.institution()
    hh = city.household()
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    issue(city, p, "2025-03")
    issue(city, p, "2025-04")  # in advance: corrections go on May's statement
    city.run(c.DeclareIncome(household_id=hh, annual_income_ore=300_000_00, effective_from=D(2025, 3, 1)))
    p.catch_up()
    assert summary(lines(p, hh, "2025-05")) == [("correction", -357_808), ("correction", -357_808)]
    at(city, D(2025, 4, 2))
    city.household()  # another household: the horizon moves to May, this household's facts do not change
    p.catch_up()
    may = [("fee", 399_600), ("lunch", 71_200), ("friplads", -357_808), ("correction", -357_808),
           ("correction", -357_808)]
    assert summary(lines(p, hh, "2025-05")) == may
    live = all_checksums(p.store)
    rebuild(city.ledger, views())
    assert all_checksums(p.store) == live
    p.close()


def test_a_change_derives_again_only_the_months_it_reaches_and_every_line_still_names_its_events(city):
    """Live, a cancellation derives the booking's months again from the month it now ends in (whose
    lines list the cancellation; earlier months' lines stay as they were), a friplads decision from
    its month, and the rest stays as stored; the result equals a rebuild."""
    at(city, D(2025, 4, 2))  # horizon: May
    inst = city.institution()
    hh = city.household(children_under_18=2)
    older = city.book(city.child(hh, birth=OLDER), inst, D(2024, 11, 1))["id"]
    young = city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 1))["id"]
    p = project(city)
    before = city.ledger.max_position()
    city.run(c.CancelBooking(booking_id=young, effective_date=D(2025, 5, 1), reason="moved"))
    cancelled = range(before + 1, city.ledger.max_position() + 1)  # the command's events
    city.run(c.DeclareIncome(household_id=hh, annual_income_ore=300_000_00, effective_from=D(2025, 4, 1)))
    p.catch_up()
    for month in ("2025-02", "2025-03", "2025-04"):
        mine = [r for r in lines(p, hh, month) if r["booking_id"] == young]
        named = [any(int(x) in cancelled for x in r["events"].split(",")) for r in mine]
        # April, the month the place now ends in, names the cancellation; earlier months do not.
        assert mine and named == [month == "2025-04"] * len(mine), month
    assert not [r for r in lines(p, hh, "2025-05") if r["booking_id"] == young]
    assert [r["kind"] for r in lines(p, hh, "2024-12")] == ["gap"]  # 2024 has no published tariffs; as stored
    live = all_checksums(p.store)
    rebuild(city.ledger, views())
    assert all_checksums(p.store) == live
    p.close()


def test_a_backdated_cancellation_after_issue_is_corrected(city):
    at(city, D(2025, 4, 5))  # horizon: May 2025
    inst = city.institution()
    hh = city.household()
    child = city.child(hh, birth=YOUNG)
    booking = city.book(child, inst, D(2025, 2, 1))["id"]
    p = project(city)
    issue(city, p, "2025-02")
    issue(city, p, "2025-03")
    issued_march = lines(p, hh, "2025-03")

    city.run(c.CancelBooking(booking_id=booking, effective_date=D(2025, 3, 16), reason="moved away"))
    p.catch_up()
    assert lines(p, hh, "2025-03") == issued_march
    assert not any(r["kind"] == "correction" for r in lines(p, hh, "2025-02"))
    # March is now 15 of 31 days: 470,800 * 15 / 31 = 227,806.5.. -> 227,806 due, 470,800 billed.
    april = lines(p, hh, "2025-04")
    assert summary(april) == [("correction", 227_806 - 470_800)]
    assert april[0]["corrects_month"] == "2025-03" and april[0]["booking_id"] == booking
    assert statement(p, hh, "2025-04") == {"household_id": hh, "month": "2025-04", "total_ore": -242_994,
                                           "issued": False}
    assert statement(p, hh, "2025-05") is None  # no place, nothing to correct
    p.close()


def test_a_mid_month_transfer_continues_one_place(city):
    at(city, D(2025, 3, 5))
    a, b = city.institution(name="A"), city.institution(name="B")
    hh = city.household()
    first = city.book(city.child(hh, birth=YOUNG), a, D(2025, 2, 1))["id"]
    city.run(c.TransferChild(booking_id=first, institution_id=b, effective_date=D(2025, 2, 15), reason="closer"))
    p = project(city)
    feb = lines(p, hh, "2025-02")
    assert summary(feb) == [("fee", 399_600), ("lunch", 71_200)]  # one place, the whole month, no sibling line
    assert feb[0]["booking_id"] == first and "continued in booking" in feb[0]["detail"]
    p.close()


def test_intermunicipal_settlement_for_a_child_from_another_municipality(city):
    at(city, D(2025, 3, 5))
    inst = city.institution()  # municipality 101 (Copenhagen)
    home = city.household()
    city.book(city.child(home, birth=YOUNG), inst, D(2025, 2, 1))  # a Copenhagen child: no settlement
    away = city.household(municipality_code="147")
    city.book(city.child(away, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    rows = {(r["month"], r["payer_municipality"], r["institution_municipality"]): r
            for r in p.store.load(SETTLEMENT)}
    assert set(rows) == {(m, "147", "101") for m in ("2025-02", "2025-03", "2025-04")}
    feb = rows[("2025-02", "147", "101")]
    # Gross: 399,600 * 100 / 25 = 1,598,400; parents pay 470,800; 147 owes 101 the rest.
    assert (feb["children"], feb["place_days"], feb["gross_cost_ore"], feb["parent_payment_ore"],
            feb["subsidy_ore"]) == (1, 28, 1_598_400, 470_800, 1_127_600)
    p.close()


def basis_seats(city, inst, seats=6, group="nursery"):
    """A basis pool: at least 6 seats per basis institution (seed 003)."""
    city.run(c.ChangeCapacity(institution_id=inst, age_group=group, pool="basis", seats=seats,
                              effective_from=D(2024, 1, 1)), channel="system")


def test_budget_costs_a_booking_and_an_empty_basis_seat(city):
    at(city, D(2025, 3, 5))
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None, district="Valby")
    basis_seats(city, inst)
    hh = city.household(district="Valby")
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    budget = {(r["month"], r["district"]): r for r in p.store.load(BUDGET)}
    feb = budget[("2025-02", "Valby")]
    # One booked place (28 seat-days = 1.000 place-months) at 1,598,400 gross, and six basis seats left
    # empty all month, funded in full: another 6 x 1,598,400 = 9,590,400. Parents pay 470,800.
    assert feb == {"month": "2025-02", "district": "Valby", "seat_days": 28, "place_months_milli": 1_000,
                   "gross_cost_ore": 11_188_800, "empty_basis_cost_ore": 9_590_400, "parent_payments_ore": 470_800,
                   "friplads_cost_ore": 0, "sibling_cost_ore": 0, "intermunicipal_in_ore": 0,
                   "intermunicipal_out_ore": 0, "net_municipal_cost_ore": 10_718_000}
    # Before the booking the empty basis seat is the whole cost (2025: 3,996 kr / 25 %); 2024 has no
    # published tariffs, so its seats are not costed at another year's prices.
    jan25 = budget[("2025-01", "Valby")]
    assert (jan25["seat_days"], jan25["gross_cost_ore"], jan25["parent_payments_ore"]) == (0, 9_590_400, 0)
    assert ("2024-01", "Valby") not in budget
    assert max(m for m, _ in budget) == "2025-04"
    p.close()


def test_a_basis_booking_fills_the_basis_seat(city):
    at(city, D(2025, 3, 5))
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None, district="Valby")
    basis_seats(city, inst)
    hh = city.household(district="Valby")
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 15), pool="basis")
    p = project(city)
    feb = next(r for r in p.store.load(BUDGET) if r["month"] == "2025-02")
    # Five basis seats empty all month; 1-14 February the sixth too (14 days), then the child holds it.
    assert feb["empty_basis_cost_ore"] == 1_598_400 * 5 + 1_598_400 * 14 // 28
    assert feb["gross_cost_ore"] == 1_598_400 * 6  # six basis seats funded in full, filled or not
    assert feb["place_months_milli"] == 500
    p.close()


def busy_history(city):
    """Siblings with friplads, an issued month, a retroactive decision, a backdated cancellation,
    a transfer, a basis seat, a child from another municipality and an adjustment."""
    at(city, D(2025, 2, 3))
    a = city.institution(kind="integreret", nursery=5, kindergarten=5, name="A", district="Valby")
    basis_seats(city, a, 6)
    basis_seats(city, a, 5, "kindergarten")  # 11 basis seats in all (at least 6: seed 003)
    b = city.institution(kind="vuggestue", nursery=3, kindergarten=None, name="B", district="Amager Vest")
    sib = city.household(children_under_18=2, income_kr=400_000)
    s1 = city.book(city.child(sib, birth=YOUNG), a, D(2025, 1, 1))["id"]
    city.book(city.child(sib, birth=OLDER), a, D(2025, 1, 15))
    away = city.household(municipality_code="147")
    w = city.book(city.child(away, birth=D(2024, 5, 2)), b, D(2025, 1, 1))["id"]
    basis = city.household()
    city.book(city.child(basis, birth=D(2024, 6, 1)), a, D(2025, 2, 10), pool="basis")
    city.run(c.AdjustPayment(household_id=basis, kind="socialpaedagogisk_friplads", from_month="2025-02",
                             to_month="2025-03", pay_share_percent=50, reason="support plan"))
    p = project(city)
    issue(city, p, "2025-01")
    p.close()
    at(city, D(2025, 3, 4))
    city.run(c.DeclareIncome(household_id=away, annual_income_ore=250_000_00, effective_from=D(2025, 1, 1)))
    city.run(c.CancelBooking(booking_id=s1, effective_date=D(2025, 1, 20), reason="moved"))
    city.run(c.TransferChild(booking_id=w, institution_id=a, effective_date=D(2025, 2, 12), reason="closer"))
    city.run(c.ChangeCapacity(institution_id=a, age_group="nursery", pool="basis", seats=2,
                              effective_from=D(2025, 3, 1)))
    city.run(c.ChangeHouseholdFacts(household_id=away, effective_from=D(2025, 3, 1), municipality_code="101"))


def all_checksums(store, make=None):
    return {t.name: store.checksums(t) for v in (make or views)() for table in v.tables for t in (table, *table.views)}


def own_facts():
    return [Billing(), Budget()]


@pytest.mark.parametrize("make", [own_facts, billing_views], ids=["budget-own-facts", "budget-linked-to-billing"])
def test_paged_projection_with_restarts_equals_a_rebuild(city, make):
    busy_history(city)
    end = city.ledger.max_position()
    store = open_store(city.ledger)
    for page_size in (1, 4, 17):
        store.reset("views", [t for v in make() for t in v.tables])
        # A fresh projector every few pages: working state reloads from the tables.
        while store.position("views") < end:
            projector = Projector(city.ledger, make(), page_size=page_size)
            with pytest.raises(Crash):  # a page that never commits leaves nothing behind
                projector.run_page(crash_before_commit=_crash)
            for _ in range(5):
                if projector.run_page() == 0:
                    break
            projector.close()
        paged = all_checksums(store, make)
        assert paged["statement_lines"] and paged["budget"] and paged["intermunicipal_settlement"]
        assert verify(city.ledger, make()) == []
        rebuild(city.ledger, make())
        assert all_checksums(store, make) == paged
    store.close()


def test_a_live_projector_keeps_derived_rows_in_the_store_not_in_memory(city, monkeypatch):
    """Statement lines, statements and parts are read per household while it is derived again, and
    forgotten after the page: a projector's memory does not grow with them (10 years of a city hold
    tens of millions), and what it writes equals a rebuild."""
    monkeypatch.setattr(derivation, "OWNER_BATCH", 2)  # several batches per page, some rows kept changed
    busy_history(city)
    end = city.ledger.max_position()
    store = open_store(city.ledger)
    store.reset("views", [t for v in billing_views() for t in v.tables])
    partitioned = [(v, name) for v in billing_views() for name, k in v.t.items() if k.table.partition]
    assert {name for _, name in partitioned} == {"statement_line_runs", "statement_runs", "statement_issued_events",
                                                 "billing_settlement_part_runs", "budget_part_runs"}
    loaded = []
    while store.position("views") < end:
        projector = Projector(city.ledger, billing_views(), page_size=4)  # a restart: nothing derived is loaded
        held = lambda: sum(len(k.rows) for v in projector.views for k in v.t.values() if k.table.partition)  # noqa: E731
        assert held() == 0
        real_load = projector.store.load_owned
        monkeypatch.setattr(projector.store, "load_owned",
                            lambda table, owners, *rest: (loaded.append(len(owners)), real_load(table, owners, *rest))[1])
        for _ in range(3):
            if projector.run_page() == 0:
                break
            assert held() == 0
        projector.close()
    assert loaded and max(loaded) <= 2
    paged = all_checksums(store, billing_views)
    assert paged["statement_lines"] and paged["budget_parts"]
    rebuild(city.ledger, billing_views())
    assert all_checksums(store, billing_views) == paged
    store.close()


def test_a_budget_linked_to_the_billing_facts_equals_one_folding_its_own(city):
    busy_history(city)
    end = city.ledger.max_position()

    def budget_rows(views, page_size):
        reader = LogReader(city.ledger, set().union(*(v.handles for v in views)))
        position = 0
        while position < end:  # page by page, deriving after each page as a live projector does
            events, position = reader.page(position, page_size)
            for e in events:
                for v in views:
                    if e.kind in v.handles:
                        v.apply(e)
            for v in views:
                v.finish_page()
        return {t: sorted(map(repr, views[1].t[t].values())) for t in ("budget", "budget_part_runs")}

    linked = billing_views()
    assert [t.name for t in linked[1].tables] == ["budget_part_runs", "budget"]  # no facts of its own
    assert linked[1].handles == frozenset()
    own = budget_rows(own_facts(), 7)
    assert own["budget"] and own["budget_part_runs"]
    assert budget_rows(linked, 5) == own


def test_the_busy_history_keeps_issued_months_and_balances_corrections(city):
    busy_history(city)
    p = project(city, page_size=3)
    rows = list(p.store.load(STATEMENT_LINES))
    issued = [r for r in rows if r["issued"]]
    assert issued and {r["month"] for r in issued} == {"2025-01"}
    corrections = [r for r in rows if r["kind"] == "correction"]
    # Every correction corrects January and sits on the next statement, February.
    assert corrections and all((r["corrects_month"], r["month"]) == ("2025-01", "2025-02") for r in corrections)
    # A fresh projection over the whole log agrees row for row.
    assert verify(city.ledger, views()) == []
    p.close()


def test_billing_runs_and_late_changes_derive_from_the_first_unsettled_month_and_equal_a_rebuild(city, monkeypatch):
    """A live projector that derived a household knows from which issued month on it still needed
    corrections: a billing run, a new month or a change then derives the months from there (or from
    the change) only, not the household's whole history — and the rows equal a rebuild at every step,
    a late change reaching back before settled months included. (The months a derivation takes:
    statements issued as drafted are not derived at all, billing.issued — off here.)"""
    monkeypatch.setattr(Billing, "takes_issued", lambda self: False)
    at(city, D(2025, 3, 3))
    inst = city.institution()
    hh = city.household(children_under_18=2)
    young = city.book(city.child(hh, birth=YOUNG), inst, D(2024, 11, 1))["id"]
    city.book(city.child(hh, birth=OLDER), inst, D(2025, 1, 15))
    other = city.household()
    city.book(city.child(other, birth=YOUNG), inst, D(2025, 1, 1))
    derived: list[tuple[str, str | None]] = []
    real = Billing.household_result
    monkeypatch.setattr(Billing, "household_result",
                        lambda self, h, since=None: (derived.append((h, since)), real(self, h, since))[1])
    p = project(city, page_size=7)

    def same_as_rebuild():
        live = all_checksums(p.store)
        assert verify(city.ledger, views()) == []
        return live

    for month, day in (("2025-01", D(2025, 3, 5)), ("2025-02", D(2025, 3, 6))):  # 2024: no published tariffs
        at(city, day)
        derived.clear()
        issue(city, p, month)
        assert derived and all(since is not None and since >= month for h, since in derived if h == hh), derived
        same_as_rebuild()
    # Income declared from January: corrections of January and February, pending on March.
    city.run(c.DeclareIncome(household_id=hh, annual_income_ore=300_000_00, effective_from=D(2025, 1, 1)))
    p.catch_up()
    march = [r for r in lines(p, hh, "2025-03") if r["kind"] == "correction"]
    assert sorted({r["corrects_month"] for r in march}) == ["2025-01", "2025-02"]
    same_as_rebuild()
    # A new month joins the horizon beyond the statement carrying the corrections: that month alone.
    derived.clear()
    at(city, D(2025, 4, 1))
    city.household()
    p.catch_up()
    assert {since for h, since in derived if h == hh} == {"2025-05"}, derived
    same_as_rebuild()
    # Issuing March settles them: that run derives from the first month that needed a correction,
    # the next one only from its own month.
    derived.clear()
    issue(city, p, "2025-03")
    assert {since for h, since in derived if h == hh} == {"2025-01"}, derived
    at(city, D(2025, 4, 2))
    derived.clear()
    issue(city, p, "2025-04")
    assert {since for h, since in derived if h == hh} == {"2025-04"}, derived
    assert not [r for r in lines(p, hh, "2025-05") if r["kind"] == "correction"]
    # A cancellation backdated into a settled month still corrects it (on May's statement).
    city.run(c.CancelBooking(booking_id=young, effective_date=D(2024, 12, 16), reason="moved"))
    p.catch_up()
    may = [r for r in lines(p, hh, "2025-05") if r["kind"] == "correction"]
    # Every issued month from the cancellation on loses the young child's place: January to April
    # (December 2024 was never issued: the rule data has no published 2024 tariffs).
    assert {r["corrects_month"] for r in may} == {"2025-01", "2025-02", "2025-03", "2025-04"}
    assert all(r["amount_ore"] < 0 for r in may if r["booking_id"] == young)
    same_as_rebuild()
    p.close()


def test_a_move_derives_from_its_month_and_earlier_months_keep_their_municipality_and_district(city, monkeypatch):
    """Household facts are effective-dated: a move to another municipality derives the months from
    the move on (not the household's whole history), settles from then with the new home
    municipality, and equals a rebuild; a household-level line counts in the district the
    household lived in that month."""
    at(city, D(2025, 4, 2))  # horizon: May
    inst = city.institution(district="Valby")
    hh = city.household(district="Valby")
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 1, 1))
    p = project(city)
    derived: list[tuple[str, str | None]] = []
    real = Billing.household_result
    monkeypatch.setattr(Billing, "household_result",
                        lambda self, h, since=None: (derived.append((h, since)), real(self, h, since))[1])
    city.run(c.ChangeHouseholdFacts(household_id=hh, effective_from=D(2025, 3, 1), municipality_code="147",
                                    district="Amager Vest"))
    p.catch_up()
    assert {since for h, since in derived if h == hh} == {"2025-03"}, derived
    settled = {r["month"]: r for r in p.store.load(SETTLEMENT)}
    assert sorted(settled) == ["2025-03", "2025-04", "2025-05"]  # Frederiksberg pays from March
    assert all(r["payer_municipality"] == "147" for r in settled.values())
    assert verify(city.ledger, views()) == []
    facts = p.views[0]
    assert [facts.household_district(facts.household_facts(hh), m) for m in ("2025-02", "2025-03")] == [
        "Valby", "Amager Vest"]
    p.close()


def test_each_share_of_a_rebuild_holds_only_its_households_facts(city):
    """A rebuild split over processes: each share folds its own households' bookings, children,
    statements and friplads, plus the basis bookings at its institutions (empty basis seats are
    costed per institution) — not everyone's facts in every process."""
    busy_history(city)
    reader = LogReader(city.ledger, Billing.handles)

    def fold(view):
        events, _ = reader.page(0, 100_000)
        for e in events:
            if e.kind in view.handles:
                view.apply(e)
        return view

    whole = fold(Billing())
    shares = [fold(Billing().shard(k, 3)[0]) for k in range(3)]

    def held(view, facts):
        """(household, key) of each fact of a kind the view holds."""
        out = set()
        for h, hf in view.held.held.items():
            value = getattr(hf, facts)
            keys = value if isinstance(value, dict) else ([facts] if value else [])
            out.update((h, k) for k in keys)
        return out

    for facts in ("household", "children", "friplads", "adjustments", "issued"):
        parts = [held(s, facts) for s in shares]
        assert sum(map(len, parts)) == len(held(whole, facts)) and set().union(*parts) == held(whole, facts)
    bookings = {b: v for _, hf in whole.held.held.items() for b, v in hf.bookings.items()}
    for s in shares:
        mine = {b for b, v in bookings.items() if s._mine(v.household) or (v.pool == "basis" and s._mine(v.institution))}
        assert {b for _, b in held(s, "bookings")} == mine
    # Ids are random, so all may fall to one share; the others then hold none of them.
    registered = held(whole, "household")
    assert len(registered) >= 3 and sum(len(held(s, "household")) == len(registered) for s in shares) <= 1


def test_a_statement_billing_a_settled_month_again_is_corrected_like_a_rebuild(city):
    """A statement may carry a correction of a month the projector holds as settled (issued by hand,
    or from a view that was behind): that month is derived again, as a rebuild derives it."""
    at(city, D(2025, 3, 3))
    inst = city.institution()
    hh = city.household()
    child = city.child(hh, birth=YOUNG)
    booking = city.book(child, inst, D(2025, 1, 1))["id"]
    p = project(city, page_size=5)
    issue(city, p, "2025-01")
    issue(city, p, "2025-02")
    stray = c.HouseholdStatement(household_id=hh, total_ore=-1_000, lines=[
        c.StatementLine(kind="correction", amount_ore=-1_000, child_id=child, booking_id=booking, month="2025-01",
                        detail="refund by hand")])
    city.run(c.IssueStatements(month="2025-03", statements=[stray]))
    p.catch_up()
    april = [r for r in lines(p, hh, "2025-04") if r["kind"] == "correction"]
    # January was billed 1,000 øre too little by that refund, and March not at all: both corrected,
    # March by a whole nursery month with lunch at full pay (no income declared), 4,708 kr.
    assert sorted((r["corrects_month"], r["amount_ore"]) for r in april) == [("2025-01", 1_000), ("2025-03", 470_800)]
    assert verify(city.ledger, views()) == []
    p.close()


def test_a_month_after_the_last_published_year_is_drafted_provisionally_and_never_issued(city):
    """Issue 23: no 2026 price list is carried, so 2026 is drafted with the 2025 prices, every line
    marked provisional, and the ledger refuses to issue it until a rule set carries 2026."""
    at(city, D(2026, 1, 10))
    inst = city.institution()
    hh = city.household()
    city.book(city.child(hh, birth=YOUNG), inst, D(2026, 1, 1))
    p = project(city)
    rows = lines(p, hh, "2026-01")
    assert summary(rows) == [("fee", 399_600), ("lunch", 71_200), ("provisional", 0)]
    assert all(r["detail"].startswith("[provisional] ") for r in rows[:2])
    assert rows[2]["detail"] == ("provisional: tariffs for 2026 are not published in copenhagen-book-en-plads@1; "
                                 "the 2025 numbers are used")
    with pytest.raises(InvalidCommand, match="2026-01 cannot be issued .*provisional: tariffs for 2026"):
        issue(city, p, "2026-01")
    p.close()


def test_a_month_of_a_year_without_published_prices_is_a_gap_and_never_issued(city):
    """Issue 23: 2024 used to be billed at 2023's 3,673 kr; now its months carry one zero gap line
    naming the month and the rule set, and issuing it is refused by name."""
    at(city, D(2025, 1, 10))  # a placement recorded late: its 2024 months are billed now
    inst = city.institution()
    hh = city.household()
    city.book(city.child(hh, birth=D(2023, 3, 15)), inst, D(2024, 2, 1))
    p = project(city)
    assert summary(lines(p, hh, "2024-03")) == [("gap", 0)]
    assert lines(p, hh, "2024-03")[0]["detail"] == (
        "2024-03: no published tariffs in copenhagen-book-en-plads@1 (a gap in its data, 2024-01-01..2024-12-31)")
    with pytest.raises(InvalidCommand, match="2024-03 cannot be issued .*2024-03: no published tariffs"):
        issue(city, p, "2024-03")
    p.close()


def test_the_annual_friplads_settlement_corrects_the_billed_months_whose_share_it_changes(city):
    """Issue 23, efterregulering: the final income of 2025 (350,000 kr) sets each month's share again;
    months billed at the declared income (300,000 kr) are corrected on the next statement.

    2025 scale: free below 208,101 kr, step 4,615 kr. 300,000: 5 + 91,899 // 4,615 = 24 %;
    350,000: 5 + 141,899 // 4,615 = 35 %. A month's payable 470,800 (3,996 + 712 lunch):
    at 24 % 112,992, at 35 % 164,780: +51,788 a month."""
    at(city, D(2025, 10, 10))
    inst = city.institution()
    hh = city.household(income_kr=300_000)
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 11, 1))
    p = project(city)
    at(city, D(2025, 12, 5))
    issue(city, p, "2025-11")
    at(city, D(2026, 1, 5))
    issue(city, p, "2025-12")
    assert summary(lines(p, hh, "2025-12")) == [("fee", 399_600), ("lunch", 71_200), ("friplads", 112_992 - 470_800)]
    with pytest.raises(InvalidCommand, match="2026 has not ended"):
        city.run(c.SettleFriplads(household_id=hh, year=2026, annual_income_ore=350_000_00))
    settled = city.run(c.SettleFriplads(household_id=hh, year=2025, annual_income_ore=350_000_00))
    assert settled["pay_share_percent"] == [35] * 12
    p.catch_up()
    corrections = [(r["corrects_month"], r["amount_ore"]) for r in lines(p, hh, "2026-01") if r["kind"] == "correction"]
    assert corrections == [("2025-11", 51_788), ("2025-12", 51_788)]
    p.close()


def test_a_new_income_moves_the_share_only_from_5_steps(city):
    """Issue 23: recalculated only when the income moves at least 5 steps (2025: 5 x 4,615 = 23,075 kr)
    from the income the share was decided on; smaller changes wait for the settlement."""
    hh = city.household(income_kr=300_000)  # 24 %
    small = city.run(c.DeclareIncome(household_id=hh, annual_income_ore=303_000_00, effective_from=D(2025, 3, 1)))
    assert small["pay_share_percent"] == 24  # 303,000 alone would give 25 %: 3,000 kr is less than 5 steps
    large = city.run(c.DeclareIncome(household_id=hh, annual_income_ore=323_075_00, effective_from=D(2025, 5, 1)))
    assert large["pay_share_percent"] == 5 + (323_075 - 208_101) // 4_615 == 29  # exactly 5 steps from 300,000
    household = city.ledger.repository.get(UUID(hh))
    assert [household.pay_share_on(d) for d in (D(2025, 2, 1), D(2025, 4, 1), D(2025, 6, 1))] == [24, 24, 29]
