"""`make bench` keeps working: a seconds-long run of the benchmark on both stores."""

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_the_benchmark_runs_and_prints_its_table():
    out = subprocess.run([sys.executable, "bench/run.py", "--children", "40", "--stock-seconds", "1", "--commands", "10"], cwd=ROOT,
                         capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| sqlite") or line.startswith("| postgresql")]
    expected = 2 if os.environ.get("PLADS_TEST_DATABASE_URL") else 1
    assert len(rows) == 3 * expected, out.stdout  # the read side, growth and memory, the commands
    for row in rows[:expected]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[1].replace(",", "")) > 100  # events in the history
        assert all(float(c.replace(",", "")) > 0 for c in cells[2:7])
    for row in rows[2 * expected:]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1].replace(",", "")) > 0 and float(cells[3].replace(",", "")) > 0
