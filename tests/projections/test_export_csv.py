"""CSV exports are safe to open in a spreadsheet (issue 21, finding 8): a text cell that starts
like a formula (=, +, -, @, tab, CR) gets OWASP's leading quote; numbers stay numbers, negative
ones included."""

from __future__ import annotations

import csv
from datetime import date

from projections import Projector, all_views
from projections.export import export_table, exportable

HOSTILE = ['=HYPERLINK("http://evil.example","x")', "+SUM(1,2)", "-2+3", "@SUM(A1)"]  # names lose a leading tab/CR


def _export(city, view: str, path) -> list[dict[str, str]]:
    projector = Projector(city.ledger, all_views())
    try:
        projector.catch_up()
        export_table(projector.store, exportable(all_views())[view], "csv", path)
    finally:
        projector.close()
    with path.open(newline="", encoding="utf-8") as f:
        return list(csv.DictReader(f))


def test_formula_like_text_cells_are_neutralised_and_numbers_kept(city, tmp_path):
    for i, name in enumerate(HOSTILE):
        city.institution(name=name, district=f"District {i}")
    rows = _export(city, "institutions", tmp_path / "institutions.csv")
    names = sorted(r["name"] for r in rows)
    assert names == sorted("'" + name for name in HOSTILE)

    inst = city.institution(name="Solsikken")
    hh = city.household(income_kr=300_000)  # a friplads: a negative line on the statement
    city.book(city.child(hh), inst, date(2025, 2, 1))
    lines = _export(city, "statement_lines", tmp_path / "lines.csv")
    amounts = [int(r["amount_ore"]) for r in lines]  # still plain integers, no quote
    assert any(a < 0 for a in amounts) and any(a > 0 for a in amounts)
    assert not any(r["amount_ore"].startswith("'") for r in lines)
