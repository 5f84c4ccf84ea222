"""`plads demo` end to end at a tiny size: ledgers, views, audits, the summary (SQLite by design)."""

from __future__ import annotations

import io

from rich.console import Console

from ledger import Ledger
from replay.citydemo import run_city_demo


def test_the_city_demo_prints_its_summary_and_writes_its_reports(tmp_path):
    out = io.StringIO()
    runs = run_city_demo(str(tmp_path), years=0.5, scale=0.02, seed=2,
                         console=Console(file=out, width=200, force_terminal=False))
    text = out.getvalue()
    for title in ("The simulated city", "Occupancy by district", "Waiting days", "Budget"):
        assert title in text
    assert "plads serve" in text and "PLADS_DATABASE_URL=sqlite:///" in text
    bep = runs[0]
    assert bep.policy == "book-en-plads"
    assert bep.occupancy and bep.budget
    with Ledger(bep.url) as ledger:
        assert ledger.max_position() == bep.report.events
    # Its own fairness and budget reports, and with the waiting-list city beside it a comparison.
    assert len([p for p in bep.reports if "-vs-" not in p]) == 2
    assert len([p for p in bep.reports if "-vs-" in p]) == 1
    for path in bep.reports:
        assert "<html" in open(path, encoding="utf-8").read(2000).lower()
    wl = runs[1]
    assert wl.policy == "waitinglist" and wl.report.counts["offers"] > 0
