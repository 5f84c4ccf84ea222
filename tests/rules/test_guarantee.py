"""The place guarantee (DTL § 23 stk. 3, bek. 2058 § 3) and Copenhagen's guarantee list."""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import given
from hypothesis import strategies as st

import rules

RS = rules.load_rule_set("copenhagen-2025-waitinglist@1")
D = date
BORN = D(2025, 1, 10)  # 26 weeks on 2025-07-11


def test_a_start_at_26_weeks_gives_the_municipality_4_more_weeks():
    assert rules.earliest_start(BORN, RS) == D(2025, 7, 11)
    assert rules.guarantee_date(BORN, D(2025, 2, 1), D(2025, 7, 11), RS) == D(2025, 8, 8)
    # Asking for a start before 26 weeks is asking for the 26-week start.
    assert rules.guarantee_date(BORN, D(2025, 2, 1), D(2025, 3, 1), RS) == D(2025, 8, 8)


def test_a_late_registration_for_a_26_week_start_still_has_3_months():
    assert rules.guarantee_date(BORN, D(2025, 6, 20), D(2025, 7, 11), RS) == D(2025, 9, 20)


def test_otherwise_3_months_after_registration_or_the_need_date_if_later():
    assert rules.guarantee_date(BORN, D(2025, 8, 15), D(2025, 9, 1), RS) == D(2025, 11, 15)
    assert rules.guarantee_date(BORN, D(2025, 2, 1), D(2026, 1, 5), RS) == D(2026, 1, 5)


def test_three_months_from_a_month_end():
    assert rules.guarantee_date(D(2024, 11, 30), D(2025, 11, 30), D(2025, 12, 1), RS) == D(2026, 2, 28)


def test_the_guarantee_list_gives_a_place_within_2_months():
    assert rules.guarantee_list_due(BORN, D(2025, 8, 31), D(2025, 9, 1), RS) == D(2025, 10, 31)
    assert rules.guarantee_list_due(BORN, D(2025, 8, 1), D(2026, 2, 1), RS) == D(2026, 2, 1)
    assert rules.guarantee_list_due(BORN, D(2025, 2, 1), D(2025, 2, 1), RS) == D(2025, 7, 11)


@given(birth=st.dates(D(2019, 1, 1), D(2030, 12, 31)), reg=st.integers(0, 5 * 366), need=st.integers(-400, 5 * 366))
def test_the_guarantee_is_never_before_26_weeks_the_need_date_or_3_months_after_registration(birth, reg, need):
    registered_on = birth + timedelta(days=reg)
    need_date = registered_on + timedelta(days=need)
    due = rules.guarantee_date(birth, registered_on, need_date, RS)
    assert due >= rules.earliest_start(birth, RS)
    assert due >= need_date
    assert due >= rules.add_months(registered_on, 3)
    at_26_weeks_plus_4 = rules.earliest_start(birth, RS) + timedelta(weeks=4)
    assert due <= max(rules.add_months(registered_on, 3), need_date, at_26_weeks_plus_4)
