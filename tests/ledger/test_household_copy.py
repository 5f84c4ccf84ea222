"""The application hands each command (and each billing run, every household) a deep copy of a
cached household; the household's own __deepcopy__ copies its containers and shares their entries,
which the events replace and never change in place. That must leave the cached household as it
was whatever the command's events change."""

import copy
from datetime import date
from uuid import uuid4

from ledger.aggregates import Household

META = {"actor": "test", "channel": "caseworker"}
D = date
SCALE = {"effective_from": "2025-01-01", "lower_ore": 20810100, "upper_ore": 64650000}


def household() -> Household:
    h = Household(id=uuid4(), municipality_code="101", district="Valby", single_parent=False, children_under_18=1,
                  location={"lat": 55.66, "lon": 12.51}, meta=META)
    h.declare_income(annual_income_ore=40_000_000, effective_from=D(2025, 1, 1), meta=META)
    h.decide_friplads(pay_share_percent=44, effective_from=D(2025, 1, 1), annual_income_ore=40_000_000,
                      scale=SCALE, meta=META)
    h.settle_friplads(year=2024, annual_income_ore=39_000_000, shares=[40] * 12, meta=META)
    h.adjust_payment(adjustment_id="a1", kind="manual", from_month="2025-02", to_month=None, amount_ore=-100,
                     pay_share_percent=None, child_id=None, meta=META)
    h.change_facts(single_parent=False, children_under_18=2, municipality_code="101", district="Valby",
                   effective_from=D(2025, 3, 1), meta=META)
    h.collect_events()
    return h


def test_a_command_changing_its_copy_leaves_the_cached_household_as_it_was():
    cached = household()
    before = copy.deepcopy(cached.__dict__)  # stdlib deep copy of the plain state, for comparison
    command_copy = copy.deepcopy(cached)
    assert command_copy.__dict__ == cached.__dict__ and command_copy is not cached
    command_copy.declare_income(annual_income_ore=50_000_000, effective_from=D(2025, 1, 1), meta=META)
    command_copy.decide_friplads(pay_share_percent=60, effective_from=D(2025, 6, 1), annual_income_ore=50_000_000,
                                 scale=SCALE, meta=META)
    command_copy.settle_friplads(year=2025, annual_income_ore=50_000_000, shares=[60] * 12, meta=META)
    command_copy.adjust_payment(adjustment_id="a2", kind="manual", from_month="2025-04", to_month="2025-05",
                                amount_ore=-200, pay_share_percent=None, child_id=None, meta=META)
    command_copy.change_facts(single_parent=True, children_under_18=2, municipality_code="147",
                              district="Frederiksberg", effective_from=D(2025, 3, 1),
                              location={"lat": 55.68, "lon": 12.53}, meta=META)
    command_copy.location["lat"] = 0.0  # even a change in place of the home's location
    command_copy.erase(person_id=str(command_copy.id), meta=META)
    assert cached.__dict__ == before
    assert cached.income_on(D(2025, 6, 1)) == 40_000_000 and cached.pay_share_on(D(2025, 6, 1)) == 44
    assert [a["id"] for a in cached.adjustments] == ["a1"] and cached.settled_share_on(D(2025, 5, 1)) is None
    assert cached.facts_on(D(2025, 4, 1)) == (False, 2) and cached.location == {"lat": 55.66, "lon": 12.51}
    assert command_copy.version == cached.version + 6 and not cached.collect_events()
