"""`plads forecast`: every wrong request is one readable line and a non-zero exit, never a traceback."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import date

import pytest


def plads(*args, cwd):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def _booked(city):
    inst = city.institution(district="Nørrebro", nursery=4, kindergarten=6)
    child = city.child(city.household())
    city.book(child, inst, date(2025, 2, 1))
    return inst


@pytest.mark.parametrize("args, code, message", [
    (("--as-of", "yesterday"), 2, "is neither a date"),
    (("--from", "2025-13"), 2, "is not a month"),
    (("--by", "school"), 2, "unknown level 'school'"),
    (("--by", "cluster"), 2, "no clusters are known"),
    (("--key", "Atlantis"), 2, "no district 'Atlantis'"),
    (("--births", "missing.csv"), 2, "cannot read the births file"),
    (("--births", "bad.csv"), 2, "lacks the column(s) births"),
    (("--as-of", "2020-01-01"), 2, "nothing was recorded by 2020-01-01"),
    (("--json", "no/such/folder/f.json"), 2, "cannot write no/such/folder/f.json"),
    (("--backtest", "--as-of", "2025-06-30"), 2, "too short to backtest"),
    (("--months", "0"), 2, "--months 0: the forecast covers 1 to 24 months"),
])
def test_a_wrong_request_is_one_readable_line(store, city, tmp_path, args, code, message):
    _booked(city)
    (tmp_path / "bad.csv").write_text("district,month\nNørrebro,2025-05\n", encoding="utf-8")
    bad = plads("forecast", "-d", store.url, *args, cwd=tmp_path)
    assert bad.returncode == code, bad.stderr
    assert message in bad.stderr and "Traceback" not in bad.stderr
    assert bad.stderr.strip().count("\n") == 0


def test_no_ledger_there_is_one_line(tmp_path):
    missing = plads("forecast", "-d", f"sqlite:///{tmp_path / 'none.db'}", cwd=tmp_path)
    assert missing.returncode == 1 and "no ledger at" in missing.stderr and "Traceback" not in missing.stderr


def test_a_births_forecast_replaces_the_ledgers_own(store, city, tmp_path):
    _booked(city)
    (tmp_path / "births.csv").write_text("district,month,births\nNørrebro,2025-03,40\n", encoding="utf-8")
    ok = plads("forecast", "-d", store.url, "--as-of", "2025-01-31", "--births", "births.csv", "--json", "f.json",
               cwd=tmp_path)
    assert ok.returncode == 0, ok.stderr
    rows = json.loads((tmp_path / "f.json").read_text())
    assert [r["month"] for r in rows if r["age_group"] == "nursery"][:2] == ["2025-02", "2025-03"]
