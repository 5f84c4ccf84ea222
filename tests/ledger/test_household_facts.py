"""Household facts are effective-dated; a backdated fact re-decides later pay shares."""

from __future__ import annotations

from datetime import date

from ledger import commands as c
from ledger.aggregates import Household

D = date


def test_household_facts_are_effective_dated_and_later_decisions_follow_a_backdated_fact(city):
    hh = city.household(income_kr=400_000, income_from=D(2025, 1, 1))
    city.run(c.ChangeHouseholdFacts(household_id=hh, effective_from=D(2025, 3, 1), single_parent=True,
                                    reason="separation"))
    # Income declared later but backdated to February: February uses February's facts
    # (not single), and the March decision is made again with the new income.
    city.run(c.DeclareIncome(household_id=hh, annual_income_ore=300_000_00, effective_from=D(2025, 2, 1)))
    household = city.ledger.get(Household, hh)
    # 2025 scale: L = 208,101 kr, step (646,500 - 208,101) / 95 = 4,614.7 -> 4,615 kr.
    # February, not single: 5 + floor((300,000 - 208,101) / 4,615) = 5 + 19 = 24 %.
    # March, single: L' = 208,101 + 72,822 = 280,923 kr; 5 + floor(19,077 / 4,615) = 5 + 4 = 9 %.
    # January, 400,000 kr, not single: 5 + floor(191,899 / 4,615) = 5 + 41 = 46 %.
    assert household.pay_share_on(D(2025, 1, 15)) == 46
    assert household.pay_share_on(D(2025, 2, 15)) == 24
    assert household.pay_share_on(D(2025, 3, 15)) == 9
    assert household.facts_on(D(2025, 2, 15)) == (False, 1)
    assert household.facts_on(D(2025, 3, 15)) == (True, 1)
