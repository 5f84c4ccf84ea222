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
    return {"a": a, "b": b, "poor": poor}


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


def _issue(city, month):
    """Issue a month as the API does: the Billing view's lines for it, as they stand."""
    from projections import Billing
    from projections.billing import STATEMENT_LINES, STATEMENTS

    projector = Projector(city.ledger, [Billing()])
    try:
        projector.catch_up()
        statements = []
        for s in projector.store.load(STATEMENTS):
            if s["month"] != month or s["issued"]:
                continue
            rows = sorted((r for r in projector.store.load(STATEMENT_LINES)
                           if r["household_id"] == s["household_id"] and r["month"] == month),
                          key=lambda r: r["line_no"])
            statements.append(city.c.HouseholdStatement(
                household_id=s["household_id"], total_ore=s["total_ore"],
                lines=[city.c.StatementLine(kind=r["kind"], amount_ore=r["amount_ore"], child_id=r["child_id"],
                                            booking_id=r["booking_id"], month=r["corrects_month"],
                                            detail=r["detail"]) for r in rows]))
        city.run(city.c.IssueStatements(month=month, statements=statements))
    finally:
        projector.close()


def test_each_month_differs_by_its_own_charges_issued_or_not(city):
    """Three children in full months from February, the same every month: under the 2024 friplads
    scale each month's parent payments differ by the same amount, whether the month was issued
    (February to April) or not (May) — not 0 for the issued months and 4 months' worth in May."""
    small_city(city)
    for month in ("2025-02", "2025-03", "2025-04"):
        _issue(city, month)
    diff = budget_audit(city.ledger, vs="friplads-2024-scale@1")["difference"]["by_month"]
    per_month = [diff[m]["parent_payments_ore"] for m in ("2025-02", "2025-03", "2025-04", "2025-05", "2025-06")]
    assert per_month[0] > 0 and per_month == [per_month[0]] * 5


def test_corrections_of_issued_months_are_shown_apart(city):
    """The poor household declares a higher income from February after February and March were
    issued: its friplads shrinks for both, and the corrections (on April's statement) show apart,
    by the month they correct; April itself counts only April's charges."""
    ids = small_city(city)
    _issue(city, "2025-02")
    _issue(city, "2025-03")
    before = budget_audit(city.ledger)
    poor = ids["poor"]
    city.run(city.c.DeclareIncome(household_id=poor, annual_income_ore=300_000 * 100, effective_from=D(2025, 2, 1)))
    after = budget_audit(city.ledger)
    corr = after["corrections"]
    assert set(corr["by_corrected_month"]) == {"2025-02", "2025-03"}
    assert corr["by_corrected_month"]["2025-02"] == corr["by_corrected_month"]["2025-03"] > 0
    assert corr["by_billed_month"] == {"2025-04": corr["total_ore"]}
    # issued months keep what was billed; April counts April's charges (the new income), not the corrections
    for m in ("2025-02", "2025-03"):
        assert after["actual"]["by_month"][m] == before["actual"]["by_month"][m]
    april = after["actual"]["by_month"]["2025-04"]["parent_payments_ore"] - before["actual"]["by_month"]["2025-04"][
        "parent_payments_ore"]
    assert april == corr["by_corrected_month"]["2025-02"]  # a full month like February
    assert before["corrections"] == {"by_corrected_month": {}, "by_billed_month": {}, "total_ore": 0}
