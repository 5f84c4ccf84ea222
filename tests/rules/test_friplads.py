"""Økonomisk friplads: the published scales and the pay share formula."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules
from rules import RuleError

RS = rules.load_rule_set("copenhagen-book-en-plads@1")
D = date
KR = 100  # øre per krone


def share(kr: int, on: date, children: int = 1, single: bool = False, ore: int = 0) -> int:
    return rules.friplads_pay_share_percent(kr * KR + ore, children, single, on, RS)


@pytest.mark.parametrize(
    "income_kr, expected",
    [(0, 0), (185_700, 0), (185_701, 5), (189_817, 5), (189_818, 6), (300_000, 32),
     (576_799, 99), (576_800, 100), (1_000_000, 100)],
)
def test_the_2021_interval_table(income_kr, expected):
    # Free below 185,701 kr; 5 % from 185,701 to 189,817; +1 point per 4,117 kr; 100 % from 576,800.
    assert share(income_kr, D(2021, 6, 1)) == expected


def test_a_fraction_of_a_krone_does_not_cross_a_step():
    assert share(189_817, D(2021, 6, 1), ore=99) == 5
    assert share(185_700, D(2021, 6, 1), ore=99) == 0


@pytest.mark.parametrize(
    "year, free_below, step_kr, full_from",
    [(2019, 177_601, 3_938, 551_700), (2020, 181_501, 4_024, 563_800), (2021, 185_701, 4_117, 576_800),
     (2022, 187_901, 4_166, 583_700), (2023, 193_501, 4_292, 601_200), (2024, 200_301, 4_441, 622_200),
     (2025, 208_101, 4_615, 646_500)],
)
def test_each_years_limits_and_step(year, free_below, step_kr, full_from):
    on = D(year, 7, 1)
    scale = rules.friplads_scale_on(on, RS)
    assert (scale.lower_ore, scale.step_ore, scale.upper_ore) == (free_below * KR, step_kr * KR, full_from * KR)
    assert scale.effective_from == D(year, 1, 1)
    assert share(free_below - 1, on) == 0
    assert share(free_below, on) == 5
    assert share(free_below + step_kr - 1, on) == 5
    assert share(free_below + step_kr, on) == 6
    assert share(full_from - 1, on) == 99
    assert share(full_from, on) == 100


def test_published_steps_are_marked_and_the_others_derived_as_a_95th_of_the_span():
    published = {s.effective_from.year: s.step_published for s in RS.friplads}
    assert published == {2018: False, 2019: True, 2020: True, 2021: True, 2022: False, 2023: False, 2024: False,
                         2025: False}
    s2025 = rules.friplads_scale_on(D(2025, 1, 1), RS)
    assert s2025.step_ore == rules.round_half_up(646_500 - 208_101, 95) * KR == 461_500


def test_three_children_and_a_single_parent_raise_both_limits():
    on = D(2025, 3, 1)
    lower, upper = rules.friplads_limits_ore(3, True, on, RS)
    assert (lower, upper) == ((208_101 + 14_000 + 72_822) * KR, (646_500 + 14_000 + 72_822) * KR)
    assert share(294_922, on, children=3, single=True) == 0
    assert share(294_923, on, children=3, single=True) == 5
    assert share(733_321, on, children=3, single=True) == 99
    assert share(733_322, on, children=3, single=True) == 100
    # The same income without the additions pays much more.
    assert share(294_923, on) == 5 + (294_923 - 208_101) // 4_615 == 23
    assert share(646_500, on, children=3, single=True) < 100


def test_the_scales_are_dated_by_year_and_stay_in_force():
    assert rules.friplads_scale_on(D(2022, 5, 1), RS).effective_from == D(2022, 1, 1)  # never 2021's scale
    assert rules.friplads_scale_on(D(2027, 5, 1), RS).effective_from == D(2025, 1, 1)
    assert share(208_101, D(2024, 12, 31)) == 6   # 2024 scale: 208,101 - 200,301 = 7,800 >= one step
    assert share(208_101, D(2025, 1, 1)) == 5
    with pytest.raises(RuleError):
        share(100_000, D(2017, 12, 31))


def test_the_2018_scale_as_published():
    # kk.dk: free below 173,801 kr, none from 539,800 kr; helsingor.dk: single parents +60,801 kr.
    on = D(2018, 6, 1)
    assert share(173_800, on) == 0 and share(173_801, on) == 5
    assert share(539_799, on) == 99 and share(539_800, on) == 100
    assert rules.friplads_limits_ore(1, True, on, RS) == ((173_801 + 60_801) * KR, (539_800 + 60_801) * KR)
    # Step not published: (539,800 - 173,801) / 95 = 3,852.6 -> 3,853 kr.
    assert share(173_801 + 3_853, on) == 6 and share(173_801 + 3_852, on) == 5


def test_the_2022_scale_as_published():
    # kk.dk 'Søg økonomisk fripladstilskud' (2022): hel friplads up to and including 187,900 kr,
    # partial 187,901-583,699 kr, full payment from 583,700 kr; single parents +65,747 kr.
    on = D(2022, 9, 1)
    assert share(187_900, on) == 0 and share(187_901, on) == 5
    assert share(583_699, on) == 99 and share(583_700, on) == 100
    # Step not published: (583,700 - 187,901) / 95 = 4,166.3 -> 4,166 kr.
    assert share(187_901 + 4_165, on) == 5 and share(187_901 + 4_166, on) == 6
    # 300,000 kr: 5 + (300,000 - 187,901) // 4,166 = 5 + 26 = 31 % (2021's scale said 32 %).
    assert share(300_000, on) == 31 and share(300_000, D(2021, 12, 1)) == 32
    # A single parent with two children: both limits + 65,747 + 7,000.
    assert rules.friplads_limits_ore(2, True, on, RS) == ((187_901 + 72_747) * KR, (583_700 + 72_747) * KR)
    assert share(260_648, on, children=2, single=True) == 5 and share(260_647, on, children=2, single=True) == 0


def test_bad_inputs_are_rule_errors():
    with pytest.raises(RuleError, match=r"^income is integer øre, not 300000\.0$"):
        rules.friplads_pay_share_percent(300_000.0, 1, False, D(2025, 1, 1), RS)  # type: ignore[arg-type]
    with pytest.raises(RuleError):
        rules.friplads_pay_share_percent(30_000_000, -1, False, D(2025, 1, 1), RS)
    for count in (1.5, True, "2"):  # a count of children is an integer, not a float, bool or text
        with pytest.raises(RuleError, match=rf"^children under 18 must be a count, not {count!r}$"):
            rules.friplads_limits_ore(count, False, D(2025, 1, 1), RS)  # type: ignore[arg-type]


incomes = st.integers(-10**8, 2 * 10**8)  # øre, up to 2 million kr
households = st.tuples(st.integers(0, 8), st.booleans(),
                       st.dates(D(2018, 1, 1), D(2030, 12, 31)))


@given(incomes, incomes, households)
def test_the_pay_share_never_falls_as_income_rises(a, b, household):
    children, single, on = household
    low, high = sorted((a, b))
    assert (rules.friplads_pay_share_percent(low, children, single, on, RS)
            <= rules.friplads_pay_share_percent(high, children, single, on, RS))


@given(households, st.integers(1, 10**8))
def test_exactly_0_below_l_5_at_l_and_100_from_u(household, delta):
    children, single, on = household
    lower, upper = rules.friplads_limits_ore(children, single, on, RS)

    def pct(income: int) -> int:
        return rules.friplads_pay_share_percent(income, children, single, on, RS)

    assert pct(lower - delta) == 0
    assert pct(lower) == 5
    assert pct(upper) == 100
    assert pct(upper + delta) == 100
    assert 5 <= pct(upper - 1) <= 99
    assert 5 <= pct(lower + delta) <= 100
