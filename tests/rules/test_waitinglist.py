"""Registrations and the waiting-list order (Copenhagen: kk.dk, international.kk.dk)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

import rules
from rules import RuleError, WaitingEntry

RS = rules.load_rule_set("copenhagen-2025-waitinglist@1")
D = date


def entry(child_id="c", birth=D(2024, 5, 1), registered_on=D(2024, 6, 1), need=D(2025, 6, 1),
          group="nursery", sibling=False, seniority=None, newcomer=False) -> WaitingEntry:
    seniority = seniority or rules.seniority_date(birth, registered_on, group, RS)
    return WaitingEntry(child_id, birth, registered_on, need, group, sibling, seniority, newcomer)


def test_max_wishes():
    assert rules.max_wishes("nursery", RS) == 2
    assert rules.max_wishes("kindergarten", RS) == 3
    assert rules.max_wishes("kindergarten", RS, D(2025, 3, 1)) == 3
    with pytest.raises(RuleError):
        rules.max_wishes("school", RS)
    with pytest.raises(RuleError, match="no waiting_list rule"):
        rules.max_wishes("nursery", RS, D(2018, 1, 1))


def test_nursery_seniority_counts_from_the_4_month_birthday_however_early_registered():
    assert rules.seniority_date(D(2025, 1, 10), D(2025, 1, 20), "nursery", RS) == D(2025, 5, 10)
    assert rules.seniority_date(D(2025, 1, 10), D(2025, 7, 1), "nursery", RS) == D(2025, 7, 1)
    assert rules.seniority_date(D(2024, 10, 31), D(2024, 11, 5), "nursery", RS) == D(2025, 2, 28)


def test_kindergarten_seniority_counts_from_the_2nd_birthday_or_a_later_registration():
    assert rules.seniority_date(D(2023, 2, 1), D(2024, 6, 1), "kindergarten", RS) == D(2025, 2, 1)
    assert rules.seniority_date(D(2023, 2, 1), D(2025, 4, 1), "kindergarten", RS) == D(2025, 4, 1)


def test_declining_moves_the_need_date_two_months():
    assert rules.decline_need_date(D(2025, 8, 1), RS) == D(2025, 10, 1)
    assert rules.decline_need_date(D(2025, 8, 1), RS, D(2025, 6, 1)) == D(2025, 10, 1)
    assert rules.decline_need_date(D(2025, 8, 1), RS, offered_start=D(2025, 9, 1)) == D(2025, 11, 1)
    assert rules.decline_need_date(D(2025, 8, 1), RS, offered_start=D(2025, 5, 1)) == D(2025, 8, 1)
    assert rules.decline_need_date(D(2025, 12, 31), RS) == D(2026, 2, 28)


def test_newcomers_and_distance():
    assert rules.newcomer_positions_per_year(RS) == 6
    assert rules.distance_km_fallback(RS) == 4 == rules.distance_fallback_km(RS, D(2025, 1, 1))


def order(entries, seed=7, on=None):
    return [e.child_id for e in sorted(entries, key=lambda e: rules.priority_key(e, RS, seed, on))]


def test_nursery_siblings_first_then_seniority_then_need_date():
    early = entry("early", registered_on=D(2024, 5, 2))                         # seniority 2024-09-01
    late = entry("late", registered_on=D(2024, 12, 1))                          # seniority 2024-12-01
    late_sibling = entry("late-sibling", registered_on=D(2025, 1, 15), sibling=True)
    early_later_need = entry("early-later-need", registered_on=D(2024, 5, 2), need=D(2025, 9, 1))
    expected = ["late-sibling", "early", "early-later-need", "late"]
    assert order([late, early_later_need, early, late_sibling]) == expected


def test_kindergarten_siblings_count_only_from_the_month_of_2_y_6_m():
    born = D(2023, 1, 15)  # 2 y 6 m on 2025-07-15: priority from 2025-07-01
    assert rules.sibling_priority_from(born, RS) == D(2025, 7, 1)
    sib = entry("sib", birth=born, registered_on=D(2024, 12, 1), group="kindergarten", sibling=True)
    older = entry("older", birth=D(2022, 11, 1), registered_on=D(2024, 12, 1), group="kindergarten")
    assert order([sib, older], on=D(2025, 6, 30)) == ["older", "sib"]
    assert order([sib, older], on=D(2025, 7, 1)) == ["sib", "older"]
    assert rules.priority_basis(sib, RS, D(2025, 6, 30)).startswith("oldest first")
    assert rules.priority_basis(sib, RS, D(2025, 7, 1)).startswith("sibling")


def test_kindergarten_is_oldest_first_before_seniority():
    young_early = entry("young", birth=D(2023, 6, 1), registered_on=D(2023, 7, 1), group="kindergarten")
    old_late = entry("old", birth=D(2023, 1, 1), registered_on=D(2025, 7, 1), group="kindergarten")
    assert young_early.seniority < old_late.seniority
    assert order([young_early, old_late], on=D(2025, 11, 1)) == ["old", "young"]


def test_ties_are_broken_by_a_recorded_seed_deterministically():
    tied = [entry(f"child-{i}") for i in range(6)]
    assert order(tied, seed=1) == order(list(reversed(tied)), seed=1)
    orders = {tuple(order(tied, seed=s)) for s in range(20)}
    assert len(orders) > 1  # the seed matters
    assert rules.tie_break(1, "child-0") == rules.tie_break(1, "child-0") != rules.tie_break(2, "child-0")


def test_priority_basis_reads_as_the_reason_of_an_offer():
    e = entry("x", registered_on=D(2024, 6, 1), newcomer=True)
    assert rules.priority_basis(e, RS, D(2025, 6, 1)) == "newcomer, seniority 2024-09-01, need date 2025-06-01"
    s = entry("y", sibling=True)
    assert rules.priority_basis(s, RS, D(2025, 6, 1)) == "sibling, seniority 2024-09-01, need date 2025-06-01"


groups = st.sampled_from(["nursery", "kindergarten"])
days = st.dates(D(2020, 1, 1), D(2027, 12, 31))


@given(st.lists(st.tuples(days, days, days, groups, st.booleans()), min_size=2, max_size=8),
       st.integers(0, 2**32), days)
def test_the_order_is_total_and_does_not_depend_on_input_order(raw, seed, on):
    entries = [entry(f"c{i}", birth=b, registered_on=max(b, r), need=n, group=g, sibling=s)
               for i, (b, r, n, g, s) in enumerate(raw)]
    keys = [rules.priority_key(e, RS, seed, on) for e in entries]
    assert len(set(keys)) == len(keys)
    assert order(entries, seed, on) == order(list(reversed(entries)), seed, on)
