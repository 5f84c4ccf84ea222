"""`plads audit fairness|budget` end to end on a hand-built ledger (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from .test_budget import small_city
from .test_fairness import planted


def plads(*args, cwd):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_audits_from_the_command_line(store, city, tmp_path):
    ids = planted(city)
    small_city(city)
    fair = plads("audit", "fairness", "-d", store.url, "--json", "f.json", "--html", "f.html", cwd=tmp_path)
    assert fair.returncode == 0, fair.stderr
    assert "justified envy 1 (1 children; 1 in the system's decisions" in fair.stdout and "wasted seat-months 1" in fair.stdout
    result = json.loads((tmp_path / "f.json").read_text())
    assert result["findings"]["justified_envy"][0]["child_id"] == ids["i"]
    assert (tmp_path / "f.html").read_text().count("<svg") == 5
    replayed = plads("audit", "fairness", "-d", store.url, "--vs", "copenhagen-book-en-plads@1", cwd=tmp_path)
    assert replayed.returncode == 0, replayed.stderr
    lines = [line for line in replayed.stdout.splitlines() if line.startswith("replayed under")]
    assert len(lines) == 2 and lines[0] == lines[1] and "justified envy 1" in lines[0]
    budget = plads("audit", "budget", "-d", store.url, "--vs", "friplads-2024-scale@1", "--from", "2025-01-01",
                   "--json", "b.json", "--html", "b.html", cwd=tmp_path)
    assert budget.returncode == 0, budget.stderr
    assert "under friplads-2024-scale@1" in budget.stdout
    assert json.loads((tmp_path / "b.json").read_text())["difference"]["total"]["parent_payments_ore"] > 0


@pytest.mark.parametrize("args, message", [
    (("audit", "budget", "--vs", "friplads-1999@1"), "unknown rule set or scenario"),
    (("audit", "fairness", "--from", "2025-02-30"), "is not a date"),
    (("audit", "fairness", "--from", "2025-05-01", "--to", "2025-01-01"), "before it starts"),
    (("audit", "fairness", "--policy", "nope@1"), "unknown rule set or scenario"),
])
def test_a_wrong_request_is_one_readable_line(store, city, tmp_path, args, message):
    planted(city)
    bad = plads(*args, "-d", store.url, cwd=tmp_path)
    assert bad.returncode == 2, bad.stderr
    assert message in bad.stderr and bad.stderr.strip().count("\n") == 0


def test_an_empty_ledger_and_an_unwritable_report(store, city_class, tmp_path):
    ledger = store.ledger()  # there, with no events yet
    ledger.close()
    empty = plads("audit", "fairness", "-d", store.url, cwd=tmp_path)
    assert empty.returncode == 2 and "nothing to audit" in empty.stderr and "Traceback" not in empty.stderr
    ledger = store.ledger()
    try:
        planted(city_class(ledger))
    finally:
        ledger.close()
    unwritable = plads("audit", "fairness", "-d", store.url, "--html", str(tmp_path / "no" / "such" / "dir.html"),
                       cwd=tmp_path)
    assert unwritable.returncode == 1 and "cannot write the report" in unwritable.stderr
    assert unwritable.stderr.strip().count("\n") == 0
