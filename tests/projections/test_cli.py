"""The command line, end to end on SQLite: demo, project, verify, export, errors."""

import sqlite3
import subprocess
import sys

import pyarrow.parquet as pq


def plads(*args, cwd):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_demo_then_views_verify_and_export(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    demo = plads("demo", "--small", "--database", url, cwd=tmp_path)
    assert demo.returncode == 0, demo.stderr
    assert "Issued 4 statements for 2025-03" in demo.stdout
    assert "is refused (HTTP 409)" in demo.stdout
    assert "Refused (HTTP 409)" in demo.stdout  # a family meets the seat held for caseworkers
    assert plads("project", "-d", url, cwd=tmp_path).returncode == 0
    checked = plads("verify", "-d", url, cwd=tmp_path)
    assert checked.returncode == 0 and "no drift" in checked.stdout
    csv_out = plads("export", "occupancy", "-d", url, "-o", str(tmp_path / "occ.csv"), cwd=tmp_path)
    assert csv_out.returncode == 0, csv_out.stderr
    lines = (tmp_path / "occ.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("institution_id,age_group,pool,month")
    assert len(lines) > 12
    parquet = plads("export", "child_timeline", "-f", "parquet", "-d", url, "-o", str(tmp_path / "t.parquet"),
                    cwd=tmp_path)
    assert parquet.returncode == 0, parquet.stderr
    table = pq.read_table(tmp_path / "t.parquet")
    assert table.num_rows > 0 and "event" in table.column_names
    with sqlite3.connect(tmp_path / "demo.db") as db:
        changed = db.execute("UPDATE occupancy SET free = free + 1 WHERE month = '2025-04'").rowcount
    drifted = plads("verify", "-d", url, cwd=tmp_path)
    assert drifted.returncode == 1 and changed > 0
    assert f"drift in occupancy: 0 rows missing, 0 extra, {changed} different; first: (" in drifted.stdout


def test_user_errors_are_one_readable_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    bad_view = plads("export", "nope", "-d", url, cwd=tmp_path)
    assert bad_view.returncode != 0
    assert bad_view.stderr.strip().count("\n") == 0 and "unknown view" in bad_view.stderr
    bad_rule = plads("rules", "activate", "nowhere@1", "--from", "2025-01-01", "-d", url, cwd=tmp_path)
    assert bad_rule.returncode != 0 and "Traceback" not in bad_rule.stderr
    assert "unknown rule set" in bad_rule.stderr
    bad_date = plads("rules", "activate", "copenhagen-book-en-plads@1", "--from", "soon", "-d", url, cwd=tmp_path)
    assert bad_date.returncode != 0 and "not a date" in bad_date.stderr
    never_projected = plads("verify", "-d", url, cwd=tmp_path)
    assert never_projected.returncode == 0 and "no drift" in never_projected.stdout, never_projected.stderr
    bad_url = plads("verify", "-d", "mysql://x", cwd=tmp_path)
    assert bad_url.returncode != 0 and "sqlite:///" in bad_url.stderr and "Traceback" not in bad_url.stderr
