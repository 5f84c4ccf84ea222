"""One household-month of charges: fee, lunch, friplads, sibling, adjustments, floor."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules
from rules import Adjustment, ChargeLine, PlaceMonth, RuleError

RS = rules.load_rule_set("copenhagen-book-en-plads@1")
D = date
MARCH = D(2025, 3, 1)

# A: integrated, kindergarten rate (born 2021-09-10), the whole of March, lunch.
A = PlaceMonth("a", "integreret", D(2021, 9, 10), D(2025, 3, 1), D(2025, 3, 31), True)
# B: nursery rate (born 2024-05-05), starts 17 March (15 of 31 days), lunch.
B = PlaceMonth("b", "vuggestue", D(2024, 5, 5), D(2025, 3, 17), D(2025, 3, 31), True)


def total(lines: list[ChargeLine]) -> int:
    return sum(line.amount_ore for line in lines)


def test_a_worked_household_month():
    lines = rules.household_month_charges([B, A], 32, MARCH, RS)
    assert [(l.place_id, l.kind, l.amount_ore) for l in lines] == [
        ("a", "fee", 231_700),
        ("a", "lunch", 80_300),          # 3,120 - 2,317 kr
        ("b", "fee", 193_355),           # 399,600 * 15 / 31 = 193,354.8
        ("b", "lunch", 34_451),          # 470,800 * 15 / 31 = 227,806.45 -> 227,806, less the fee
        ("a", "friplads", -212_160),     # pays 32 % of 312,000 = 99,840
        ("b", "friplads", -154_908),     # pays 32 % of 227,806 = 72,897.92 -> 72,898
        ("b", "sibling", -36_449),       # pays 50 % of 72,898
    ]
    assert total(lines) == 99_840 + 36_449
    assert [l.detail for l in lines] == [
        "integreret place 2025-03-01..2025-03-31 (31/31 days)",
        "lunch scheme 2025-03-01..2025-03-31 (31/31 days)",
        "vuggestue place 2025-03-17..2025-03-31 (15/31 days)",
        "lunch scheme 2025-03-17..2025-03-31 (15/31 days)",
        "økonomisk friplads: the household pays 32 %",
        "økonomisk friplads: the household pays 32 %",
        "søskendetilskud: pays 50 % (not the household's most expensive place)",
    ]


def test_one_place_full_payment_has_no_subsidy_lines():
    lines = rules.household_month_charges([A], 100, MARCH, RS)
    assert [(l.kind, l.amount_ore) for l in lines] == [("fee", 231_700), ("lunch", 80_300)]


def test_a_free_place_costs_nothing():
    lines = rules.household_month_charges([A, B], 0, MARCH, RS)
    assert total(lines) == 0 and not [l for l in lines if l.kind == "sibling"]


def test_dagpleje_has_no_lunch_line_and_the_lunch_is_in_the_fee():
    p = PlaceMonth("d", "dagpleje", D(2024, 5, 5), D(2025, 3, 1), D(2025, 3, 31), False)
    lines = rules.household_month_charges([p], 100, MARCH, RS)
    assert [(l.kind, l.amount_ore) for l in lines] == [("fee", 398_700)]
    assert "lunch included" in lines[0].detail


def test_adjustments_follow_the_subsidy_order_and_a_pay_share_keeps_part_of_what_is_payable():
    adjustments = [("socialpaedagogisk_friplads", None, 50),
                   Adjustment("behandlingsmaessig_friplads", amount_ore=-10_000)]
    lines = rules.household_month_charges([A], 100, MARCH, RS, adjustments)
    adj = [(l.amount_ore, l.detail.split(":")[0]) for l in lines if l.kind == "adjustment"]
    assert adj == [(-10_000, "behandlingsmaessig_friplads"), (-151_000, "socialpaedagogisk_friplads")]
    assert total(lines) == 151_000  # (312,000 - 10,000) * 50 %


def test_a_per_place_pay_share_applies_to_that_place_only():
    only_b = Adjustment("socialpaedagogisk_friplads", pay_share_percent=0, place_id="b")
    lines = rules.household_month_charges([A, B], 100, MARCH, RS, [only_b])
    assert lines[-1] == ChargeLine("b", "adjustment", -(227_806 // 2), "socialpaedagogisk_friplads: pays 0 %")
    assert total(lines) == 312_000


def test_the_month_is_never_below_zero():
    lines = rules.household_month_charges([A], 10, MARCH, RS, [("manual_correction", -500_000, None)])
    assert lines[-1].kind == "adjustment" and lines[-1].detail.startswith("floor")
    assert total(lines) == 0
    assert rules.household_month_charges([], 50, MARCH, RS) == []


@pytest.mark.parametrize(
    "places, share, adjustments, message",
    [
        ([PlaceMonth("x", "vuggestue", D(2024, 5, 5), D(2025, 2, 28), D(2025, 3, 3), False)], 50, [], "not a span"),
        ([A, A], 50, [], "twice"),
        ([A], 101, [], "percentage"),
        ([A], 50, [("manual_correction", None, None)], "exactly one"),
        ([A], 50, [("manual_correction", 5, 5)], "exactly one"),
        ([A], 50, [("manual_correction", None, 150)], "outside"),
        ([A], 50, [("manual_correction",)], "kind, amount_ore"),
    ],
)
def test_bad_input_is_a_rule_error(places, share, adjustments, message):
    with pytest.raises(RuleError, match=message):
        rules.household_month_charges(places, share, MARCH, RS, adjustments)


kinds = st.sampled_from(["vuggestue", "dagpleje", "boernehave", "integreret"])


@st.composite
def household_months(draw):
    first = draw(st.dates(D(2025, 1, 1), D(2027, 12, 1))).replace(day=1)
    n = rules.days_in_month(first)
    places = []
    for i in range(draw(st.integers(0, 4))):
        a = draw(st.integers(1, n))
        z = draw(st.integers(a, n))
        birth = first - timedelta(days=draw(st.integers(200, 6 * 365)))
        places.append(PlaceMonth(f"p{i}", draw(kinds), birth, first.replace(day=a), first.replace(day=z),
                                 draw(st.booleans())))
    adjustment = st.one_of(
        st.tuples(st.sampled_from(["behandlingsmaessig_friplads", "socialpaedagogisk_friplads", "sibling"]),
                  st.none(), st.integers(0, 100)),
        st.tuples(st.just("manual_correction"), st.integers(-10**6, 10**6), st.none()),
    )
    return first, places, draw(st.integers(0, 100)), draw(st.lists(adjustment, max_size=3))


# An oracle written apart from src/rules: Copenhagen's 2025 tariffs (in force 2025-2027 in the
# data) copied by hand, (without lunch, with lunch) per band; dagpleje's price includes lunch.
TARIFFS_2025 = {("daginstitution", False): (399_600, 470_800), ("daginstitution", True): (231_700, 312_000),
                ("dagpleje", False): (398_700, 398_700), ("dagpleje", True): (312_000, 312_000)}


def kindergarten_rate_by_hand(birth: date) -> date:
    """The 1st of the month of the 3rd birthday while that fell before 2025; from 2025 the month of
    3 y 1 m."""
    def first_of_month_after(months: int) -> date:
        y, m = divmod(birth.month - 1 + months, 12)
        return date(birth.year + y, m + 1, 1)

    at_three = first_of_month_after(36)
    return at_three if at_three < D(2025, 1, 1) else first_of_month_after(37)


def gross_by_hand(p: PlaceMonth, first: date) -> int:
    """The place's fee and lunch for its days: tariff * days / days in month, halves up."""
    kind = "dagpleje" if p.kind == "dagpleje" else "daginstitution"
    without, with_lunch = TARIFFS_2025[(kind, first >= kindergarten_rate_by_hand(p.birth))]
    amount = with_lunch if p.lunch else without
    days = (p.last - p.first).days + 1
    in_month = ((first.replace(day=28) + timedelta(days=4)).replace(day=1) - first).days
    return (2 * amount * days + in_month) // (2 * in_month)


def test_the_oracle_agrees_with_the_worked_month():
    assert gross_by_hand(A, MARCH) == 312_000 and gross_by_hand(B, MARCH) == 227_806
    assert kindergarten_rate_by_hand(D(2021, 9, 10)) == D(2024, 9, 1)   # 3 y before 2025
    assert kindergarten_rate_by_hand(D(2021, 12, 10)) == D(2024, 12, 1)
    assert kindergarten_rate_by_hand(D(2022, 1, 10)) == D(2025, 2, 1)   # 3 y in 2025: 3 y 1 m


@given(household_months())
def test_charges_are_never_negative_in_total_and_each_line_has_its_sign(case):
    first, places, share, adjustments = case
    lines = rules.household_month_charges(places, share, first, RS, adjustments)
    assert total(lines) >= 0
    assert all(isinstance(l.amount_ore, int) for l in lines)
    assert all(l.amount_ore > 0 for l in lines if l.kind in ("fee", "lunch"))
    assert all(l.amount_ore < 0 for l in lines if l.kind in ("friplads", "sibling"))
    gross = sum(gross_by_hand(p, first) for p in places)
    assert sum(l.amount_ore for l in lines if l.kind in ("fee", "lunch")) == gross
    without_adjustments = rules.household_month_charges(places, share, first, RS)
    assert 0 <= total(without_adjustments) <= gross
