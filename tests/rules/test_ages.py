"""Ages, transitions, booking ends and seat segments (Copenhagen)."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules
from rules import RuleError

RS = rules.load_rule_set("copenhagen-book-en-plads@1")
D = date
BORN = D(2024, 3, 15)


def test_a_child_born_15_march_2024():
    # The national guarantee from 26 weeks; Copenhagen's earliest start at 6 months (kk.dk).
    assert rules.guarantee_start(BORN, RS) == D(2024, 9, 13) == BORN + timedelta(days=182)
    assert rules.earliest_start(BORN, RS) == D(2024, 9, 15)
    # 2 y 10 m on 2027-01-15: kindergarten from the 1st of that month.
    assert rules.add_months(BORN, 34) == D(2027, 1, 15)
    assert rules.kindergarten_from(BORN, RS) == D(2027, 1, 1)
    # 3 y 1 m on 2027-04-15: the kindergarten rate from 1 April 2027.
    assert rules.kindergarten_rate_from(BORN, RS) == D(2027, 4, 1)
    assert rules.school_start(BORN, RS) == D(2030, 8, 1)


def test_copenhagen_earliest_start_is_6_months_not_26_weeks():
    # Issue 23: born 2026-03-15, 26 weeks is 2026-09-13, but Copenhagen starts a place at the
    # earliest when the child turns 6 months: 2026-09-15.
    born = D(2026, 3, 15)
    assert rules.guarantee_start(born, RS) == D(2026, 9, 13)
    assert rules.earliest_start(born, RS) == D(2026, 9, 15)
    with pytest.raises(RuleError, match="2026-09-15 .6 months"):
        rules.booking_end(born, D(2026, 9, 13), "vuggestue", RS)
    assert rules.booking_end(born, D(2026, 9, 15), "vuggestue", RS) == D(2028, 12, 31)


def test_age_groups_switch_on_kindergarten_from():
    assert rules.age_group_on(BORN, D(2026, 12, 31), RS) == "nursery"
    assert rules.age_group_on(BORN, D(2027, 1, 1), RS) == "kindergarten"


@pytest.mark.parametrize(
    "birth, kindergarten",
    [
        (D(2023, 5, 31), D(2026, 3, 1)),   # 2 y 10 m on 31 March
        (D(2022, 4, 30), D(2025, 2, 1)),   # 30 Feb does not exist: the month still counts
        (D(2023, 12, 31), D(2026, 10, 1)),
        (D(2024, 2, 29), D(2026, 12, 1)),  # leap-day child
    ],
)
def test_month_end_births(birth, kindergarten):
    assert rules.kindergarten_from(birth, RS) == kindergarten


def test_add_months_falls_back_to_the_last_day_of_a_shorter_month():
    assert rules.add_months(D(2024, 10, 31), 4) == D(2025, 2, 28)
    assert rules.add_months(D(2023, 10, 31), 4) == D(2024, 2, 29)
    assert rules.add_months(D(2024, 1, 31), -2) == D(2023, 11, 30)


def test_the_kindergarten_rate_age_moved_from_3_y_to_3_y_1_m_on_1_january_2025():
    # Turned 3 in December 2024, under the old rule: kindergarten rate from 1 December 2024.
    assert rules.kindergarten_rate_from(D(2021, 12, 10), RS) == D(2024, 12, 1)
    # Turns 3 in January 2025: the new rule is in force then, so 3 y 1 m (February).
    assert rules.kindergarten_rate_from(D(2022, 1, 10), RS) == D(2025, 2, 1)
    assert rules.kindergarten_rate_from(D(2022, 6, 10), RS) == D(2025, 7, 1)


def test_ages_before_the_first_age_rule_are_a_rule_error():
    with pytest.raises(RuleError, match="before the first age rule"):
        rules.kindergarten_from(D(2015, 1, 1), RS)


@pytest.mark.parametrize(
    "kind, start, end",
    [
        ("vuggestue", D(2024, 10, 1), D(2026, 12, 31)),
        ("dagpleje", D(2024, 9, 15), D(2026, 12, 31)),
        ("integreret", D(2024, 10, 1), D(2030, 7, 31)),
        ("integreret", D(2028, 1, 1), D(2030, 7, 31)),
        ("boernehave", D(2027, 1, 1), D(2030, 7, 31)),
    ],
)
def test_booking_end(kind, start, end):
    assert rules.booking_end(BORN, start, kind, RS) == end


@pytest.mark.parametrize(
    "kind, start, message",
    [
        ("vuggestue", D(2024, 9, 14), "at the earliest on 2024-09-15"),
        ("integreret", D(2030, 8, 1), "starts school on 2030-08-01"),
        ("boernehave", D(2026, 12, 1), "kindergarten from 2027-01-01"),
        ("vuggestue", D(2027, 1, 1), "past the nursery age"),
        ("dagpleje", D(2028, 1, 1), "past the nursery age"),
        ("skole", D(2025, 1, 1), "unknown institution kind"),
    ],
)
def test_booking_end_refuses_starts_outside_the_kinds_ages(kind, start, message):
    with pytest.raises(RuleError, match=message):
        rules.booking_end(BORN, start, kind, RS)


def test_age_groups_for_kind():
    assert rules.age_groups_for_kind("vuggestue") == ("nursery",)
    assert rules.age_groups_for_kind("dagpleje") == ("nursery",)
    assert rules.age_groups_for_kind("boernehave") == ("kindergarten",)
    assert rules.age_groups_for_kind("integreret") == ("nursery", "kindergarten")
    with pytest.raises(RuleError):
        rules.age_groups_for_kind("fritidshjem")


def test_an_integrated_booking_uses_a_nursery_seat_then_a_kindergarten_seat():
    end = rules.booking_end(BORN, D(2024, 10, 1), "integreret", RS)
    assert rules.seat_segments(BORN, D(2024, 10, 1), end, "integreret", RS) == [
        ("nursery", D(2024, 10, 1), D(2026, 12, 31)),
        ("kindergarten", D(2027, 1, 1), D(2030, 7, 31)),
    ]
    assert rules.seat_segments(BORN, D(2027, 3, 1), end, "integreret", RS) == [
        ("kindergarten", D(2027, 3, 1), D(2030, 7, 31))]
    assert rules.seat_segments(BORN, D(2024, 10, 1), D(2025, 1, 31), "integreret", RS) == [
        ("nursery", D(2024, 10, 1), D(2025, 1, 31))]


def test_seat_segments_of_single_age_kinds_and_empty_spans():
    assert rules.seat_segments(BORN, D(2024, 10, 1), D(2026, 12, 31), "vuggestue", RS) == [
        ("nursery", D(2024, 10, 1), D(2026, 12, 31))]
    assert rules.seat_segments(BORN, D(2027, 1, 1), D(2030, 7, 31), "boernehave", RS) == [
        ("kindergarten", D(2027, 1, 1), D(2030, 7, 31))]
    assert rules.seat_segments(BORN, D(2025, 2, 1), D(2025, 1, 31), "vuggestue", RS) == []
    with pytest.raises(RuleError, match="takes no kindergarten"):
        rules.seat_segments(BORN, D(2026, 10, 1), D(2027, 2, 1), "vuggestue", RS)


births = st.dates(min_value=D(2019, 1, 1), max_value=D(2030, 12, 31))


@given(birth=births, kind=st.sampled_from(["vuggestue", "dagpleje", "boernehave", "integreret"]),
       offset=st.integers(min_value=0, max_value=6 * 366))
def test_a_booking_covers_its_days_without_gaps_in_the_kinds_age_groups(birth, kind, offset):
    start = rules.earliest_start(birth, RS) + timedelta(days=offset)
    try:
        end = rules.booking_end(birth, start, kind, RS)
    except RuleError:
        return
    pieces = rules.seat_segments(birth, start, end, kind, RS)
    assert pieces[0][1] == start and pieces[-1][2] == end
    for (_, _, last), (_, first, _) in zip(pieces, pieces[1:]):
        assert first == last + timedelta(days=1)
    assert all(group in rules.age_groups_for_kind(kind) for group, _, _ in pieces)
    assert all(rules.age_group_on(birth, a, RS) == g == rules.age_group_on(birth, z, RS) for g, a, z in pieces)
    assert rules.kindergarten_from(birth, RS).day == 1 and rules.kindergarten_rate_from(birth, RS).day == 1
    assert rules.earliest_start(birth, RS) < rules.kindergarten_from(birth, RS) < rules.school_start(birth, RS)
