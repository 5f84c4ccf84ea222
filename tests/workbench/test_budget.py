"""The budget audit: the Budget view under the actual rules and under a scenario (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date as D

import pytest

from projections import Budget, Projector
from replay.audit import AuditError, budget_audit


def small_city(city):
    a = city.institution(name="Myretuen", district="Nørrebro", nursery=5, kindergarten=None, kind="vuggestue")
    b = city.institution(name="Bikuben", district="Østerbro", nursery=5, kindergarten=None, kind="vuggestue")
    rich = city.household(district="Nørrebro", income_kr=700_000)
    middle = city.household(district="Østerbro", income_kr=300_000)
    poor = city.household(district="Østerbro", income_kr=150_000)
    for household, inst in ((rich, a), (middle, b), (poor, b)):
        city.book(city.child(household, birth=D(2024, 3, 15)), inst, D(2025, 2, 1))
    city.ledger.clock.set(D(2025, 6, 3))
    city.household()
    return {"a": a, "b": b}


def test_a_rule_set_against_itself_differs_by_nothing(city):
    small_city(city)
    result = budget_audit(city.ledger, vs="copenhagen-book-en-plads@1")
    json.dumps(result)
    assert result["actual"]["total"]["net_municipal_cost_ore"] > 0
    for table in ("by_month", "by_district", "by_income_band"):
        assert result["difference"][table]
        assert all(v == 0 for row in result["difference"][table].values() for v in row.values())
    assert all(v == 0 for v in result["difference"]["total"].values())


def test_actual_budget_equals_the_live_view(city):
    small_city(city)
    projector = Projector(city.ledger, [Budget()])
    projector.catch_up()
    live = list(projector.store.load(Budget.tables[-1]))
    projector.close()
    result = budget_audit(city.ledger)
    assert "difference" not in result
    by_month = result["actual"]["by_month"]
    assert set(by_month) == {r["month"] for r in live}
    measures = ("seat_days", "gross_cost_ore", "empty_basis_cost_ore", "parent_payments_ore", "friplads_cost_ore",
                "sibling_cost_ore", "net_municipal_cost_ore")
    for month, row in by_month.items():
        assert {k: row[k] for k in measures} == {k: sum(r[k] for r in live if r["month"] == month) for k in measures}
    for district, row in result["actual"]["by_district"].items():
        assert row["net_municipal_cost_ore"] == sum(r["net_municipal_cost_ore"] for r in live if r["district"] == district)


def test_the_2024_friplads_scale_costs_the_middle_income_household(city):
    small_city(city)
    result = budget_audit(city.ledger, vs="friplads-2024-scale@1")
    diff = result["difference"]
    # 300,000 kr, one child, not single. 2025 scale: L = 208,101 kr, step (646,500 - 208,101) / 95
    # = 4,614.7 -> 4,615 kr: 5 + floor(91,899 / 4,615) = 5 + 19 = 24 %. 2024 scale: L = 200,301 kr,
    # step (622,200 - 200,301) / 95 = 4,441.0 -> 4,441 kr: 5 + floor(99,699 / 4,441) = 5 + 22 = 27 %.
    # A nursery month with lunch is 4,708 kr (2025 tariff), lunch subsidised too: the household pays
    # 27 % = 1,271.16 kr instead of 24 % = 1,129.92 kr, 141.24 kr more a month, in each of the six
    # months February-July 2025 (the budget's horizon on 3 June runs to the end of July).
    # 150,000 kr is free under both scales; 700,000 kr pays in full under both.
    band = diff["by_income_band"]
    assert {m: v["parent_payments_ore"] for m, v in diff["by_month"].items()} == {
        f"2025-{m:02d}": 14_124 for m in range(2, 8)}
    assert band["300,000-399,999 kr"]["parent_payments_ore"] == 6 * 14_124 == 84_744
    assert band["300,000-399,999 kr"]["net_municipal_cost_ore"] == -84_744
    assert band["300,000-399,999 kr"]["friplads_cost_ore"] == -84_744
    assert all(v == 0 for v in band["under 200,000 kr"].values())
    assert all(v == 0 for v in band["650,000 kr and more"].values())
    assert diff["by_district"]["Nørrebro"]["parent_payments_ore"] == 0
    assert diff["total"]["parent_payments_ore"] == 84_744
    assert diff["total"]["gross_cost_ore"] == 0  # the tariff did not change
    # Actual parent payments a month: 4,708 kr (700,000 kr: 100 %) + 1,129.92 kr (24 %) + 0 (free).
    assert {v["parent_payments_ore"] for v in result["actual"]["by_month"].values()} == {470_800 + 112_992}


def test_tariff_scenario_and_errors(city):
    small_city(city)
    result = budget_audit(city.ledger, vs="tariffs-2023@1", start=D(2025, 3, 1), end=D(2025, 4, 30))
    assert list(result["actual"]["by_month"]) == ["2025-03", "2025-04"]
    assert result["difference"]["total"]["gross_cost_ore"] < 0  # 2023 prices are lower
    with pytest.raises(AuditError, match="unknown rule set or scenario"):
        budget_audit(city.ledger, vs="friplads-1999@1")


def test_the_scenario_difference_for_one_household_is_worked_out_by_hand(city):
    """One household at 300,000 kr, a whole nursery month with lunch (4,708 kr in 2025): March
    2025's difference is 27 % (2024 scale) minus 24 % (2025 scale) of it, each rounded half up to
    the øre: 127,116 - 112,992 = 14,124 øre (see the test above for the shares)."""
    inst = city.institution(name="Myretuen", nursery=5, kindergarten=None, kind="vuggestue")
    household = city.household(district="Østerbro", income_kr=300_000)
    city.book(city.child(household, birth=D(2024, 3, 15)), inst, D(2025, 2, 1))
    city.ledger.clock.set(D(2025, 4, 2))
    city.household()
    march = budget_audit(city.ledger, vs="friplads-2024-scale@1")["difference"]["by_month"]["2025-03"]
    assert march["parent_payments_ore"] == 127_116 - 112_992 == 14_124
    assert march["net_municipal_cost_ore"] == -14_124
