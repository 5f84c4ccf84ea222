"""Issue 23, done when: a ledger imported with 2022-2024 history bills each month at that year's
published numbers, or refuses it by name — on SQLite and PostgreSQL.

Copenhagen's published prices (kr per month, daginstitution under the rate age, without lunch /
lunch part): 2022 3,588 / 676 (4,264 with lunch), 2023 3,673 / 658 (4,331); from the rate age
(3 y until 2024): 2023 2,020. 2024 has no published price list: a gap. Friplads 2022 (kk.dk): free
up to and including 187,900 kr, none from 583,700 kr, step (583,700 - 187,901) / 95 = 4,166 kr; 2023:
free below 193,501 kr, step (601,200 - 193,501) / 95 = 4,292 kr.
"""

from __future__ import annotations

import json
from datetime import date

import pytest

from ledger import commands as c
from ledger.errors import InvalidCommand
from projections.billing import STATEMENT_LINES, STATEMENTS, Billing, Budget
from projections.projector import Projector
from replay.importer import import_history

RULE_SET = "copenhagen-book-en-plads@1"

HISTORY = {
    "format": "plads-history", "version": 1,
    "rule_set": {"id": RULE_SET, "effective_from": "2022-01-01"},
    "institutions": [{"ref": "SOL", "name": "Solsikken", "district": "Nørrebro", "kind": "integreret"}],
    "capacities": [{"institution": "SOL", "age_group": "nursery", "seats": 10, "effective_from": "2022-01-01"},
                   {"institution": "SOL", "age_group": "kindergarten", "seats": 10, "effective_from": "2022-01-01"}],
    "households": [{"ref": "H1", "district": "Nørrebro"}, {"ref": "H2", "district": "Nørrebro"}],
    # Declared for December 2021 (the 2021 scale); decided again on the 2022 and the 2023 scale.
    "incomes": [{"household": "H2", "annual_income_ore": 300_000_00, "effective_from": "2021-12-01"}],
    "children": [{"ref": "C1", "household": "H1", "birth_date": "2021-01-10"},
                 {"ref": "C2", "household": "H2", "birth_date": "2020-06-20"}],
    "placements": [{"ref": "P1", "child": "C1", "institution": "SOL", "start_date": "2022-02-01", "lunch": True},
                   {"ref": "P2", "child": "C2", "institution": "SOL", "start_date": "2022-03-01", "lunch": False}],
}


def _months(first: str, last: str) -> list[str]:
    out, (y, m) = [], map(int, first.split("-"))
    while f"{y:04d}-{m:02d}" <= last:
        out.append(f"{y:04d}-{m:02d}")
        y, m = (y + 1, 1) if m == 12 else (y, m + 1)
    return out


def _lines(p: Projector, household: str, month: str) -> list[tuple[str, int]]:
    rows = sorted((r for r in p.store.load(STATEMENT_LINES) if r["household_id"] == household and r["month"] == month),
                  key=lambda r: r["line_no"])
    return [(r["kind"], r["amount_ore"]) for r in rows]


def _issue(ledger, p: Projector, month: str):
    p.catch_up()
    statements = []
    for s in p.store.load(STATEMENTS):
        if s["month"] == month and not s["issued"]:
            rows = sorted((r for r in p.store.load(STATEMENT_LINES)
                           if r["household_id"] == s["household_id"] and r["month"] == month), key=lambda r: r["line_no"])
            statements.append(c.HouseholdStatement(household_id=s["household_id"], total_ore=s["total_ore"], lines=[
                c.StatementLine(kind=r["kind"], amount_ore=r["amount_ore"], child_id=r["child_id"],
                                booking_id=r["booking_id"], month=r["corrects_month"], detail=r["detail"])
                for r in rows]))
    return ledger.execute(c.IssueStatements(month=month, statements=statements), actor="billing",
                          channel="system").result


def test_imported_2022_to_2024_history_bills_each_year_at_its_own_prices_or_refuses_by_name(store, tmp_path):
    path = tmp_path / "history.json"
    path.write_text(json.dumps(HISTORY), encoding="utf-8")
    with store.ledger(date(2021, 12, 1)) as ledger:
        ids = import_history(ledger, path).ids
        h1, h2 = ids["household:H1"], ids["household:H2"]
        ledger.clock.set(date(2024, 12, 10))
        ledger.execute(c.OpenBillingMonth(month="2024-12"), actor="billing", channel="system")  # a quiet ledger
        p = Projector(ledger, [Billing(), Budget()])
        try:
            p.catch_up()
            for month in _months("2022-02", "2024-12"):
                got = _lines(p, h1, month)
                if month < "2023":
                    assert got == [("fee", 358_800), ("lunch", 67_600)], month       # 2022: 3,588 + 676
                elif month < "2024":
                    assert got == [("fee", 367_300), ("lunch", 65_800)], month       # 2023: 3,673 + 658
                else:
                    assert got == [("gap", 0)], month                                # 2024: not published
            # H2: the 2021 decision (32 %) is not carried into 2022; each year decided on its own scale:
            # 300,000 kr in 2022: 5 + (300,000 - 187,901) // 4,166 = 31 %: 358,800 * 31 % = 111,228;
            # in 2023: 5 + (300,000 - 193,501) // 4,292 = 29 %.
            assert _lines(p, h2, "2022-03") == [("fee", 358_800), ("friplads", 111_228 - 358_800)]
            assert _lines(p, h2, "2022-12") == [("fee", 358_800), ("friplads", 111_228 - 358_800)]
            assert _lines(p, h2, "2023-05") == [("fee", 367_300), ("friplads", 106_517 - 367_300)]
            assert _lines(p, h2, "2023-06") == [("fee", 202_000), ("friplads", 58_580 - 202_000)]  # from 3 y
            gap = next(r for r in p.store.load(STATEMENT_LINES) if r["household_id"] == h1 and r["month"] == "2024-03")
            assert gap["detail"].startswith(f"2024-03: no published tariffs in {RULE_SET}")

            assert _issue(ledger, p, "2022-02")["total_ore"] == 426_400
            assert _issue(ledger, p, "2022-03")["total_ore"] == 426_400 + 111_228
            assert _issue(ledger, p, "2023-05")["total_ore"] == 433_100 + 106_517
            with pytest.raises(InvalidCommand, match=f"2024-03: no published tariffs in {RULE_SET}"):
                _issue(ledger, p, "2024-03")
            # An income declared for mid-2022 is decided on the 2022 scale, not 2021's:
            # 250,000 kr: 5 + (250,000 - 187,901) // 4,166 = 19 %; fee and lunch 426,400 * 19 % = 81,016.
            got = ledger.execute(c.DeclareIncome(household_id=h1, annual_income_ore=250_000_00,
                                                 effective_from=date(2022, 6, 1)), actor="anna",
                                 channel="caseworker").result
            assert (got["pay_share_percent"], got["scale"]["effective_from"]) == (19, "2022-01-01")
            p.catch_up()
            assert _lines(p, h1, "2022-05") == [("fee", 358_800), ("lunch", 67_600)]
            assert _lines(p, h1, "2022-06") == [("fee", 358_800), ("lunch", 67_600), ("friplads", 81_016 - 426_400)]
        finally:
            p.close()


def test_a_share_decided_before_the_data_carried_its_year_is_not_billed_as_that_years(store, tmp_path,
                                                                                      monkeypatch):
    """The 2022 scale entered the rule data after this ledger was imported (2022 was a gap then),
    so H2's share in force in 2022 is the December 2021 decision on the 2021 scale: 32 %, where
    2022's scale gives 31 %. Its 2022 months are drafted as a gap naming the month and the rule
    set, and the ledger refuses to issue them (even from statements made by hand), until the
    income is declared again from 2022-01-01 and decided on the 2022 scale."""
    import rules
    from rules.model import Gap

    load, published = rules.load_rule_set, rules.load_rule_set(RULE_SET)
    as_then = published.model_copy(update={
        "friplads": tuple(s for s in published.friplads if s.effective_from.year != 2022),
        "gaps": published.gaps + (Gap(section="friplads", effective_from=date(2022, 1, 1), until=date(2022, 12, 31),
                                      source="the 2022 scale not yet found"),)})
    monkeypatch.setattr(rules, "load_rule_set", lambda rule_set_id: as_then if rule_set_id == RULE_SET
                        else load(rule_set_id))
    path = tmp_path / "history.json"
    path.write_text(json.dumps(HISTORY), encoding="utf-8")
    with store.ledger(date(2021, 12, 1)) as ledger:
        h2 = import_history(ledger, path).ids["household:H2"]
        monkeypatch.undo()  # from here on the data as it is now
        ledger.clock.set(date(2024, 12, 10))
        ledger.execute(c.OpenBillingMonth(month="2024-12"), actor="billing", channel="system")
        p = Projector(ledger, [Billing(), Budget()])
        try:
            p.catch_up()
            assert _lines(p, h2, "2022-03") == [("gap", 0)]
            gap = next(r for r in p.store.load(STATEMENT_LINES) if r["household_id"] == h2 and r["month"] == "2022-03")
            assert gap["detail"] == ("2022-03: the friplads share in force was decided on 2021-12-01, before the "
                                     f"2022 scale published in {RULE_SET}; declare the income again from 2022-01-01")
            assert _lines(p, h2, "2023-05") == [("fee", 367_300), ("friplads", 106_517 - 367_300)]  # its own year
            # By hand, at the old 32 %: 358,800 * 32 % = 114,816.
            by_hand = c.HouseholdStatement(household_id=h2, total_ore=114_816, lines=[
                c.StatementLine(kind="fee", amount_ore=358_800), c.StatementLine(kind="friplads", amount_ore=-243_984)])
            with pytest.raises(InvalidCommand, match=f"^2022-03 cannot be issued for household {h2}: 2022-03: the "
                               f"friplads share of household {h2} was decided on the 2021 scale, not on the 2022 "
                               f"scale published in {RULE_SET}; declare the income again from 2022-01-01$"):
                ledger.execute(c.IssueStatements(month="2022-03", statements=[by_hand]), actor="billing",
                               channel="system")
            # The same income declared again from 2022-01-01 is decided on the 2022 scale (not kept
            # as less than 5 steps from the income granted: that share was another year's).
            again = ledger.execute(c.DeclareIncome(household_id=h2, annual_income_ore=300_000_00,
                                                   effective_from=date(2022, 1, 1)), actor="anna",
                                   channel="caseworker").result
            assert (again["pay_share_percent"], again["scale"]["effective_from"]) == (31, "2022-01-01")
            p.catch_up()
            assert _lines(p, h2, "2022-03") == [("fee", 358_800), ("friplads", 111_228 - 358_800)]
            assert _issue(ledger, p, "2022-03")["total_ore"] == 426_400 + 111_228
        finally:
            p.close()
