"""Money across municipal borders (DTL § 41; issue 23 item 5), hand-computed in øre, on SQLite and
PostgreSQL: the excess a Copenhagen family pays for a dearer place in another municipality (no
friplads or sibling subsidy on it), the subsidy Copenhagen pays out for it, the payments other
municipalities make for their children here, and the budget netting both.

2025, a child under 3 y 1 m: Copenhagen's tariff 399,600 (+71,200 lunch = 470,800), its gross cost
399,600 * 100 / 25 = 1,598,400, its own subsidy per place 1,198,800 (75 %).
"""

from datetime import date

import pytest

from ledger import commands as c
from ledger.errors import InvalidCommand
from projections.billing import BUDGET, SETTLEMENT, STATEMENT_LINES, STATEMENTS, Billing, Budget
from projections.projector import Projector
from projections.rebuilding import verify

D = date
YOUNG = D(2024, 3, 15)


def views():
    return [Billing(), Budget()]


def project(city, page_size=5_000):
    projector = Projector(city.ledger, views(), page_size=page_size)
    projector.catch_up()
    return projector


def lines(p, household, month):
    rows = [r for r in p.store.load(STATEMENT_LINES) if r["household_id"] == household and r["month"] == month]
    return [(r["kind"], r["amount_ore"]) for r in sorted(rows, key=lambda r: r["line_no"])]


def total(p, household, month):
    return next(r["total_ore"] for r in p.store.load(STATEMENTS) if r["household_id"] == household and r["month"] == month)


def elsewhere(city, municipality="147", district="Frederiksberg", gross_kr=None, name="Mælkebøtten"):
    """A nursery of another municipality that Copenhagen children may attend, with the gross cost
    per place its municipality calculates (SetGrossCost)."""
    inst = city.run(c.RegisterInstitution(name=name, district=district, kind="vuggestue",
                                          municipality_code=municipality), channel="system")["id"]
    city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=10, effective_from=D(2024, 1, 1)),
             channel="system")
    if gross_kr is not None:
        city.run(c.SetGrossCost(institution_id=inst, age_group="nursery", gross_cost_ore=gross_kr * 100,
                                effective_from=D(2025, 1, 1)), channel="system")
    return inst


def test_a_dearer_place_in_another_municipality_bills_the_excess_with_no_friplads_on_it(city):
    city.ledger.clock.set(D(2025, 3, 5))
    inst = elsewhere(city, gross_kr=20_000)
    hh = city.household(income_kr=300_000, income_from=D(2025, 1, 1))  # a Copenhagen family, 24 %
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    # Subsidy: min(1,198,800, 2,000,000 * 75 %) = 1,198,800; parents pay 2,000,000 - 1,198,800 = 801,200,
    # 401,600 over the tariff. Friplads on the tariff with lunch only: 470,800 -> 24 % = 112,992.
    # The old view billed 112,992 and no excess.
    assert lines(p, hh, "2025-02") == [("fee", 399_600), ("lunch", 71_200), ("friplads", -357_808),
                                       ("excess", 401_600)]
    assert total(p, hh, "2025-02") == 514_592
    settle = {(r["month"], r["payer_municipality"], r["institution_municipality"]): r for r in p.store.load(SETTLEMENT)}
    feb = settle[("2025-02", "101", "147")]
    # Copenhagen pays Frederiksberg the place's gross cost there less what the parents pay.
    assert (feb["gross_cost_ore"], feb["parent_payment_ore"], feb["subsidy_ore"]) == (2_000_000, 514_592, 1_485_408)
    budget = {(r["month"], r["district"]): r for r in p.store.load(BUDGET)}
    row = budget[("2025-02", "Frederiksberg")]
    assert (row["gross_cost_ore"], row["parent_payments_ore"], row["friplads_cost_ore"], row["intermunicipal_in_ore"],
            row["intermunicipal_out_ore"], row["net_municipal_cost_ore"]) == (
        2_000_000, 514_592, 357_808, 0, 1_485_408, 1_485_408)
    assert verify(city.ledger, views()) == []
    p.close()


def test_a_cheaper_place_lowers_the_payment_and_the_subsidy(city):
    city.ledger.clock.set(D(2025, 3, 5))
    inst = elsewhere(city, municipality="157", district="Gentofte", gross_kr=12_000)
    hh = city.household()
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    # Subsidy at most 75 % of 1,200,000 = 900,000; parents pay 300,000, 99,600 below the tariff.
    assert lines(p, hh, "2025-02") == [("fee", 399_600), ("lunch", 71_200), ("intermunicipal", -99_600)]
    feb = next(r for r in p.store.load(SETTLEMENT) if r["month"] == "2025-02")
    assert (feb["payer_municipality"], feb["gross_cost_ore"], feb["parent_payment_ore"], feb["subsidy_ore"]) == (
        "101", 1_200_000, 371_200, 828_800)
    p.close()


def test_the_budget_nets_other_municipalities_payments_for_their_children_here(city):
    city.ledger.clock.set(D(2025, 3, 5))
    inst = city.institution(district="Valby")  # Copenhagen's
    ours, theirs = city.household(district="Valby"), city.household(district="Valby", municipality_code="147")
    city.book(city.child(ours, birth=YOUNG), inst, D(2025, 2, 1))
    city.book(city.child(theirs, birth=YOUNG), inst, D(2025, 2, 1))
    p = project(city)
    assert lines(p, theirs, "2025-02") == [("fee", 399_600), ("lunch", 71_200)]  # Copenhagen's tariff: no excess
    row = next(r for r in p.store.load(BUDGET) if r["month"] == "2025-02")
    # Two places: 2 x 1,598,400 gross, 2 x 470,800 paid by parents; Frederiksberg pays Copenhagen
    # 1,598,400 - 470,800 = 1,127,600 for its child, so only the Copenhagen child's 1,127,600 is
    # Copenhagen's net cost (the old view counted 2,255,200).
    assert (row["gross_cost_ore"], row["parent_payments_ore"], row["intermunicipal_in_ore"],
            row["intermunicipal_out_ore"], row["net_municipal_cost_ore"]) == (
        3_196_800, 941_600, 1_127_600, 0, 1_127_600)
    settle = [r for r in p.store.load(SETTLEMENT) if r["month"] == "2025-02"]
    assert [(r["payer_municipality"], r["institution_municipality"], r["subsidy_ore"]) for r in settle] == [
        ("147", "101", 1_127_600)]
    p.close()


def test_no_sibling_subsidy_on_the_excess(city):
    city.ledger.clock.set(D(2025, 3, 5))
    home_inst = city.institution(district="Valby")
    away = elsewhere(city, gross_kr=20_000)
    hh = city.household(children_under_18=2)
    city.book(city.child(hh, birth=D(2021, 6, 10)), home_inst, D(2025, 2, 1))  # kindergarten rate: 312,000
    city.book(city.child(hh, birth=YOUNG), away, D(2025, 2, 1))                 # 470,800 + excess 401,600
    p = project(city)
    feb = lines(p, hh, "2025-02")
    # The dearest place by what subsidies cover is the young child's 470,800: the older pays half of
    # 312,000 (sibling -156,000); the excess stays whole. Total 470,800 + 156,000 + 401,600 = 1,028,400.
    assert sorted(feb) == sorted([("fee", 231_700), ("lunch", 80_300), ("fee", 399_600), ("lunch", 71_200),
                                  ("sibling", -156_000), ("excess", 401_600)])
    assert total(p, hh, "2025-02") == 1_028_400
    p.close()


def test_a_new_gross_cost_reprices_the_months_from_its_date_and_a_paged_projection_equals_a_rebuild(city):
    city.ledger.clock.set(D(2025, 3, 5))
    inst = elsewhere(city, gross_kr=20_000)
    hh = city.household()
    city.book(city.child(hh, birth=YOUNG), inst, D(2025, 1, 1))
    p = project(city, page_size=3)
    city.run(c.SetGrossCost(institution_id=inst, age_group="nursery", gross_cost_ore=1_800_000,
                            effective_from=D(2025, 3, 1)), channel="system")
    p.catch_up()
    # From March 18,000 kr: parents pay 1,800,000 - 1,198,800 = 601,200, an excess of 201,600.
    assert ("excess", 401_600) in lines(p, hh, "2025-02") and ("excess", 201_600) in lines(p, hh, "2025-03")
    assert verify(city.ledger, views()) == []
    p.close()


def test_a_gross_cost_is_set_only_for_an_age_group_the_institution_has(city):
    inst = elsewhere(city)
    with pytest.raises(InvalidCommand, match="has no kindergarten places"):
        city.run(c.SetGrossCost(institution_id=inst, age_group="kindergarten", gross_cost_ore=1_000_000,
                                effective_from=D(2025, 1, 1)), channel="system")
