"""Places across municipal borders (DTL § 41; its verified parallel § 61 stk. 2-5): the home
subsidy, the parents' payment and the excess no subsidy covers — hand-computed in øre.

2025, a child under 3 y 1 m: Copenhagen's tariff P = 399,600 (4,708 kr with lunch: +71,200),
its gross cost G = 399,600 * 100 / 25 = 1,598,400, its own subsidy per place G - P = 1,198,800
(75 % of G).
"""

from datetime import date

import pytest

import rules
from rules import PlaceMonth, household_month_charges, place_elsewhere

RS = rules.load_rule_set("copenhagen-book-en-plads@1")
YOUNG, OLDER = date(2024, 3, 15), date(2021, 6, 10)
FEB = date(2025, 2, 1)


def kinds(lines):
    return [(l.place_id, l.kind, l.amount_ore) for l in lines]


def test_the_rule_is_cited_and_copenhagen_pays_for_its_own_children():
    rule = RS.in_force("intermunicipal", FEB)
    assert rule.municipality_code == "101" and not rule.excess_subsidised
    assert "DTL § 41" in rule.source and "§ 61" in rule.source and "fredericia.dk" in rule.source
    assert rules.pays_home_subsidy("101", "147", FEB, RS)       # a Copenhagen child in Frederiksberg
    assert not rules.pays_home_subsidy("101", "101", FEB, RS)   # at home
    assert not rules.pays_home_subsidy("147", "101", FEB, RS)   # Frederiksberg's child here: 147 pays


def test_a_dearer_place_costs_the_parents_the_excess():
    # Gross cost there 20,000 kr. Cap: 2,000,000 * 1,198,800 / 1,598,400 = 1,500,000 (75 %), so the
    # subsidy is Copenhagen's own 1,198,800; the parents pay 2,000,000 - 1,198,800 = 801,200, which is
    # the tariff 399,600 plus an excess of 401,600.
    p = place_elsewhere("vuggestue", YOUNG, FEB, 2_000_000, RS)
    assert (p.home_gross_ore, p.home_payment_ore, p.home_subsidy_ore, p.parent_payment_ore, p.difference_ore) == (
        1_598_400, 399_600, 1_198_800, 801_200, 401_600)


def test_a_cheaper_place_lowers_the_parents_payment():
    # Gross cost there 12,000 kr: the subsidy is at most 75 % of it, 900,000; the parents pay 300,000,
    # 99,600 less than the tariff.
    p = place_elsewhere("vuggestue", YOUNG, FEB, 1_200_000, RS)
    assert (p.home_subsidy_ore, p.parent_payment_ore, p.difference_ore) == (900_000, 300_000, -99_600)
    same = place_elsewhere("vuggestue", YOUNG, FEB, 1_598_400, RS)  # as dear as at home: no difference
    assert (same.home_subsidy_ore, same.difference_ore) == (1_198_800, 0)


def test_no_friplads_on_the_excess():
    # 24 % pay share: the tariff with lunch 470,800 -> 112,992 (friplads -357,808); the excess
    # 401,600 is paid in full: 112,992 + 401,600 = 514,592. The old rules had no excess at all.
    place = PlaceMonth("b", "vuggestue", YOUNG, FEB, date(2025, 2, 28), True, difference_ore=401_600)
    lines = household_month_charges([place], 24, FEB, RS)
    assert kinds(lines) == [("b", "fee", 399_600), ("b", "lunch", 71_200), ("b", "friplads", -357_808),
                            ("b", "excess", 401_600)]
    assert sum(l.amount_ore for l in lines) == 514_592


def test_no_sibling_subsidy_on_the_excess_and_it_does_not_make_a_place_the_dearest():
    # Full pay share. Older child at home: 312,000 (kindergarten rate with lunch). Young child in
    # another municipality: 470,800 + excess 401,600. The dearest place by its subsidised part is the
    # young child's (470,800): the older pays 50 % -> sibling -156,000; the excess stays whole.
    young = PlaceMonth("a", "vuggestue", YOUNG, FEB, date(2025, 2, 28), True, difference_ore=401_600)
    older = PlaceMonth("b", "boernehave", OLDER, FEB, date(2025, 2, 28), True)
    lines = household_month_charges([young, older], 100, FEB, RS)
    assert kinds(lines) == [("a", "fee", 399_600), ("a", "lunch", 71_200), ("b", "fee", 231_700),
                            ("b", "lunch", 80_300), ("b", "sibling", -156_000), ("a", "excess", 401_600)]


def test_a_cheaper_place_is_subsidised_on_what_is_left_and_a_part_month_is_prorated():
    # 1-14 February (14/28 days) at -99,600 a month: -49,800; payable 470,800 * 14/28 = 235,400
    # - 49,800 = 185,600; 24 % -> 44,544, friplads -141,056.
    place = PlaceMonth("b", "vuggestue", YOUNG, FEB, date(2025, 2, 14), True, difference_ore=-99_600)
    lines = household_month_charges([place], 24, FEB, RS)
    assert kinds(lines) == [("b", "fee", 199_800), ("b", "lunch", 35_600), ("b", "intermunicipal", -49_800),
                            ("b", "friplads", -141_056)]


def test_a_gross_cost_must_be_whole_ore():
    with pytest.raises(rules.RuleError, match="whole number of øre"):
        place_elsewhere("vuggestue", YOUNG, FEB, 1_500_000.0, RS)
