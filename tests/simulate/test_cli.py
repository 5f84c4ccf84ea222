"""`plads simulate` and `plads import`: results on stdout; user errors exit non-zero with one line."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

HISTORY = Path(__file__).parent / "data" / "history.json"
PLADS = [sys.executable, "-c", "from replay.cli import main; main()"]


def plads(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([*PLADS, *args], capture_output=True, text=True, timeout=300)


def _one_line_error(p: subprocess.CompletedProcess, code: int, text: str) -> None:
    assert p.returncode == code, p.stderr
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("plads: ") and text in lines[0], p.stderr
    assert "Traceback" not in p.stderr


def test_simulate_writes_a_city_once(store):
    p = plads("simulate", "--years", "0.2", "--scale", "0.01", "--seed", "5", "-d", store.url)
    assert p.returncode == 0, p.stderr
    assert "under copenhagen-book-en-plads@1" in p.stdout and "events" in p.stdout
    _one_line_error(plads("simulate", "--years", "0.2", "--scale", "0.01", "-d", store.url), 1,
                    "simulate into an empty ledger")


def test_simulate_refuses_bad_options(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    _one_line_error(plads("simulate", "--policy", "lottery", "-d", url), 2, "unknown policy 'lottery'")
    bad = tmp_path / "params.toml"
    bad.write_text("[city]\nstart = 2025-01-01\n", encoding="utf-8")
    _one_line_error(plads("simulate", "--params", str(bad), "-d", url), 2, "invalid parameters file")
    _one_line_error(plads("simulate", "--params", str(tmp_path / "nope.toml"), "-d", url), 2,
                    "cannot read the parameters file")


def test_import_reports_rejected_rows_and_exits_non_zero(store, tmp_path):
    doc = json.loads(HISTORY.read_text(encoding="utf-8"))
    doc["placements"].append({"ref": "P9", "child": "C2", "institution": "SOL", "start_date": "2024-06-01"})
    broken = tmp_path / "broken.json"
    broken.write_text(json.dumps(doc), encoding="utf-8")
    p = plads("import", str(broken), "-d", store.url)
    _one_line_error(p, 1, "1 of 23 records rejected; nothing imported")
    assert p.stdout.strip().splitlines() == [p.stdout.strip().splitlines()[0]]
    assert p.stdout.startswith("rejected row 23 (placement P9): child ") and "already holds booking" in p.stdout

    p = plads("import", str(HISTORY), "-d", store.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("imported 22 records")
    _one_line_error(plads("import", str(HISTORY), "-d", store.url), 1, "goes into a fresh ledger")


@pytest.mark.parametrize("name, content, text", [
    ("missing.json", None, "cannot read"),
    ("bad.json", "{", "not valid JSON"),
    ("bad.csv", "a,b\n1,2\n", "needs a header with a `record` column"),
])
def test_import_of_an_unreadable_file_is_one_line(tmp_path, name, content, text):
    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    _one_line_error(plads("import", str(path), "-d", f"sqlite:///{tmp_path / 'l.db'}"), 1, text)


def test_billing_issue_issues_a_month_once_through_the_billing_view(store):
    """`plads billing issue MONTH`: the process the API and the simulator use (processes.billing)."""
    assert plads("import", str(HISTORY), "-d", store.url).returncode == 0
    p = plads("billing", "issue", "2025-03", "-d", store.url)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("2025-03: 2 statements issued, total ")
    _one_line_error(plads("billing", "issue", "2025-03", "-d", store.url), 1, "already issued")
    _one_line_error(plads("billing", "issue", "2024-06", "-d", store.url), 1, "no published tariffs")
    _one_line_error(plads("billing", "issue", "2099-01", "-d", store.url), 1, "not yet within the billing horizon")
    _one_line_error(plads("billing", "issue", "2025-13", "-d", store.url), 2, "not a month")
