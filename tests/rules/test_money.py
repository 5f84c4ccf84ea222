"""Integer money: rounding, proration, tariffs, gross cost, the sibling discount."""

from __future__ import annotations

from datetime import date, timedelta
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules
from rules import RuleError

RS = rules.load_rule_set("copenhagen-book-en-plads@1")
D = date


@pytest.mark.parametrize(
    "n, d, expected",
    [(5, 10, 1), (4, 10, 0), (15, 10, 2), (25, 10, 3), (0, 7, 0), (7, 3, 2), (8, 3, 3),
     (-5, 10, -1), (-4, 10, 0), (-15, 10, -2), (7, -2, -4), (-7, -2, 4)],
)
def test_round_half_up_is_exact_and_halves_go_away_from_zero(n, d, expected):
    assert rules.round_half_up(n, d) == expected


def test_round_half_up_refuses_zero_and_floats():
    # The messages are what a caller reads: pinned whole.
    with pytest.raises(ValueError, match=r"^denominator must not be zero$"):
        rules.round_half_up(1, 0)
    with pytest.raises(TypeError, match=r"^round_half_up takes integers \(øre\), never floats$"):
        rules.round_half_up(1.5, 2)  # type: ignore[arg-type]
    assert rules.round_half_up(0, 7) == 0 and rules.round_half_up(3, -2) == -2  # -1.5: away from zero


@given(st.integers(-10**15, 10**15), st.integers(1, 10**9))
def test_round_half_up_is_the_nearest_integer_with_halves_away_from_zero(n, d):
    r = rules.round_half_up(n, d)
    assert abs(Fraction(n, d) - r) <= Fraction(1, 2)
    if abs(Fraction(n, d) - r) == Fraction(1, 2):
        assert abs(r) > abs(Fraction(n, d))
    assert rules.round_half_up(-n, d) == -r


def test_days_in_month():
    assert [rules.days_in_month(D(2025, m, 1)) for m in (1, 2, 4, 6)] == [31, 28, 30, 30]
    assert rules.days_in_month(D(2024, 2, 10)) == 29


def test_proration_by_calendar_days():
    assert rules.prorate_ore(399_600, D(2025, 6, 1), D(2025, 6, 15)) == 199_800  # 15 of 30 days
    assert rules.prorate_ore(399_600, D(2025, 6, 16), D(2025, 6, 30)) == 199_800
    assert rules.prorate_ore(399_600, D(2025, 1, 1), D(2025, 1, 10)) == 128_903  # 128,903.2
    assert rules.prorate_ore(399_600, D(2025, 2, 1), D(2025, 2, 28)) == 399_600
    assert rules.prorate_ore(1, D(2025, 6, 1), D(2025, 6, 15)) == 1  # exactly half an øre: up
    with pytest.raises(RuleError, match=r"^2025-06-20\.\.2025-07-05 is not a span of days within one month$"):
        rules.prorate_ore(100, D(2025, 6, 20), D(2025, 7, 5))
    with pytest.raises(RuleError, match=r"^2025-06-20\.\.2025-06-19 is not a span"):
        rules.prorate_ore(100, D(2025, 6, 20), D(2025, 6, 19))


@st.composite
def month_split(draw):
    """A month, an amount and a split of the month into consecutive spans."""
    first = draw(st.dates(D(2019, 1, 1), D(2035, 12, 1))).replace(day=1)
    n = rules.days_in_month(first)
    cuts = sorted(draw(st.sets(st.integers(2, n), max_size=8)))
    starts = [1] + cuts
    ends = [c - 1 for c in cuts] + [n]
    spans = [(first.replace(day=a), first.replace(day=z)) for a, z in zip(starts, ends)]
    return draw(st.integers(0, 10**9)), spans


@given(month_split())
def test_prorated_parts_of_a_month_add_up_within_half_an_ore_per_part(case):
    """Precisely: for any split of a month into k consecutive spans, (1) the spans' days add up
    to the days of the month, and (2) |sum of prorate_ore(amount, span) - amount| <= k / 2,
    because each part is within half an øre of amount * days / month days and those exact
    shares add up to the amount. prorate_split_ore adds up exactly, each part within 1 øre of
    prorate_ore."""
    amount, spans = case
    n = rules.days_in_month(spans[0][0])
    assert sum((z - a).days + 1 for a, z in spans) == n
    parts = [rules.prorate_ore(amount, a, z) for a, z in spans]
    assert 2 * abs(sum(parts) - amount) <= len(spans)
    exact = rules.prorate_split_ore(amount, spans)
    assert sum(exact) == amount
    assert all(abs(e - p) <= 1 for e, p in zip(exact, parts))


def test_prorate_split_gives_the_leftover_ore_to_the_largest_remainders():
    first, mid, last = D(2025, 6, 1), D(2025, 6, 15), D(2025, 6, 30)
    assert rules.prorate_split_ore(1, [(first, mid), (mid + timedelta(days=1), last)]) == [1, 0]
    assert rules.prorate_split_ore(100, [(first, D(2025, 6, 10)), (D(2025, 6, 11), D(2025, 6, 20)),
                                         (D(2025, 6, 21), last)]) == [34, 33, 33]
    # 100 øre over 1 and 2 of June's 30 days: 3.33 and 6.67 øre; the 10th øre goes to the second
    # span, whose remainder is larger, though it comes later.
    assert rules.prorate_split_ore(100, [(first, first), (D(2025, 6, 2), D(2025, 6, 3))]) == [3, 7]


def test_prorate_split_refuses_what_it_cannot_split_with_a_clear_message():
    june = (D(2025, 6, 1), D(2025, 6, 30))
    with pytest.raises(RuleError, match=r"^prorate_split_ore splits a non-negative amount$"):
        rules.prorate_split_ore(-1, [june])
    with pytest.raises(RuleError, match=r"^all spans must lie in the same month$"):
        rules.prorate_split_ore(100, [june, (D(2025, 7, 1), D(2025, 7, 2))])
    with pytest.raises(RuleError, match=r"^the spans cover more days than the month has$"):
        rules.prorate_split_ore(100, [june, (D(2025, 6, 1), D(2025, 6, 2))])


def test_2025_tariffs():
    nursery_age, kindergarten_age = D(2024, 5, 5), D(2021, 9, 10)
    march = D(2025, 3, 1)
    assert rules.monthly_tariff_ore("vuggestue", nursery_age, march, False, RS) == 399_600
    assert rules.monthly_tariff_ore("integreret", nursery_age, march, True, RS) == 470_800
    assert rules.monthly_tariff_ore("boernehave", kindergarten_age, march, False, RS) == 231_700
    assert rules.monthly_tariff_ore("integreret", kindergarten_age, march, True, RS) == 312_000
    assert rules.lunch_part_ore("vuggestue", nursery_age, march, RS) == 71_200


def test_dagpleje_has_one_price_with_lunch_included():
    for lunch in (False, True):
        assert rules.monthly_tariff_ore("dagpleje", D(2024, 5, 5), D(2025, 3, 1), lunch, RS) == 398_700
        assert rules.monthly_tariff_ore("dagpleje", D(2021, 9, 10), D(2025, 3, 1), lunch, RS) == 312_000
    assert rules.lunch_part_ore("dagpleje", D(2024, 5, 5), D(2025, 3, 1), RS) == 0


def test_the_rate_switches_on_the_1st_of_the_month_of_3_y_1_m_even_in_kindergarten():
    born = D(2024, 3, 15)  # kindergarten from 2027-01-01, kindergarten rate from 2027-04-01
    assert rules.monthly_tariff_ore("boernehave", born, D(2027, 3, 1), False, RS) == 399_600
    assert rules.monthly_tariff_ore("boernehave", born, D(2027, 4, 1), False, RS) == 231_700
    assert rules.monthly_tariff_ore("boernehave", born, D(2027, 4, 20), False, RS) == 231_700


def test_tariffs_stay_in_force_until_replaced_and_do_not_exist_before_the_first():
    # After the last published year (2025) its prices are used, provisionally.
    assert rules.monthly_tariff_ore("vuggestue", D(2026, 1, 1), D(2027, 3, 1), False, RS) == 399_600
    assert RS.provisional("tariffs", D(2027, 3, 1)).startswith("provisional: tariffs for 2027")
    assert RS.provisional("tariffs", D(2025, 12, 1)) is None
    with pytest.raises(RuleError, match="no tariffs rule"):
        rules.monthly_tariff_ore("vuggestue", D(2017, 1, 1), D(2017, 12, 1), False, RS)


@pytest.mark.parametrize("month, under, under_lunch, over, over_lunch, dagpleje", [
    # kk.dk / international.kk.dk, kr per month (daginstitution without / with lunch; dagpleje incl. lunch)
    (D(2018, 3, 1), 3_107, 3_732, 1_754, 2_402, 3_254),
    (D(2019, 3, 1), 3_160, 3_798, 1_700, 2_361, 3_288),
    (D(2022, 3, 1), 3_588, 4_264, 2_036, 2_738, 3_447),
    (D(2023, 3, 1), 3_673, 4_331, 2_020, 2_762, 3_573),
    (D(2025, 3, 1), 3_996, 4_708, 2_317, 3_120, 3_987),
])
def test_each_published_years_price_list(month, under, under_lunch, over, over_lunch, dagpleje):
    baby, big = D(month.year - 1, 1, 1), D(month.year - 3, 1, 1)  # big: at the rate age from January
    assert rules.monthly_tariff_ore("vuggestue", baby, month, False, RS) == under * 100
    assert rules.monthly_tariff_ore("vuggestue", baby, month, True, RS) == under_lunch * 100
    if month.year == 2018:
        # The age rules start in 2019 (the enrolment rules of 1 January 2019): a child who reached
        # the rate age in 2018 is refused by the age rule's message, not priced by a guess.
        with pytest.raises(RuleError, match="before the first age rule"):
            rules.monthly_tariff_ore("boernehave", big, month, False, RS)
        big = D(2016, 1, 1)  # reaches 3 y on 2019-01-01: still under the rate age in 2018
        over, over_lunch = under, under_lunch
    assert rules.monthly_tariff_ore("boernehave", big, month, False, RS) == over * 100
    assert rules.monthly_tariff_ore("boernehave", big, month, True, RS) == over_lunch * 100
    assert rules.monthly_tariff_ore("dagpleje", baby, month, True, RS) == dagpleje * 100


@pytest.mark.parametrize("month", [D(2020, 1, 1), D(2021, 6, 1), D(2024, 3, 1), D(2024, 12, 1)])
def test_a_year_without_a_published_price_list_is_refused_by_name(month):
    # Issue 23: 2024 was billed at 2023's 3,673 kr; now no 2020, 2021 or 2024 month is priced at all.
    with pytest.raises(RuleError, match=f"{month:%Y-%m}: no published tariffs in copenhagen-book-en-plads@1"):
        rules.monthly_tariff_ore("vuggestue", D(month.year - 1, 1, 1), month, False, RS)


def test_gross_cost_per_place_is_the_tariff_without_lunch_over_25_percent():
    assert rules.gross_cost_per_place_ore("vuggestue", D(2024, 5, 5), D(2025, 3, 1), RS) == 1_598_400
    assert rules.gross_cost_per_place_ore("boernehave", D(2021, 9, 10), D(2025, 3, 1), RS) == 926_800
    assert rules.gross_cost_per_place_ore("dagpleje", D(2024, 5, 5), D(2025, 3, 1), RS) == 1_594_800


def test_fee_after_share():
    assert rules.fee_after_share_ore(399_600, 32) == 127_872
    assert rules.fee_after_share_ore(101, 5) == 5     # 5.05
    assert rules.fee_after_share_ore(10, 5) == 1      # 0.5 -> 1
    assert rules.fee_after_share_ore(399_600, 0) == 0
    assert rules.fee_after_share_ore(399_600, 100) == 399_600
    with pytest.raises(RuleError, match=r"^pay share 101 % is outside 0\.\.100$"):
        rules.fee_after_share_ore(100, 101)


def test_sibling_discount_full_price_for_the_most_expensive_half_for_the_others():
    assert rules.sibling_discounted([231_700, 399_600]) == [115_850, 399_600]
    assert rules.sibling_discounted([399_600, 231_700, 312_000]) == [399_600, 115_850, 156_000]
    assert rules.sibling_discounted([101, 300]) == [51, 300]      # 50.5 -> 51
    assert rules.sibling_discounted([100, 100]) == [100, 50]      # the first of equals pays in full
    assert rules.sibling_discounted([399_600]) == [399_600]
    assert rules.sibling_discounted([]) == []


@given(st.lists(st.integers(0, 10**7), max_size=6))
def test_sibling_discount_never_raises_a_fee_nor_goes_negative(fees):
    after = rules.sibling_discounted(fees)
    assert len(after) == len(fees)
    assert all(0 <= a <= f for a, f in zip(after, fees))
    if fees:
        assert max(fees) in after
