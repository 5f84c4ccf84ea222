"""`plads replay VIEW --as-of T` and `plads checkpoint`, end to end on SQLite."""

import subprocess
import sys


def plads(*args, cwd):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


def test_replay_before_the_history_is_empty_and_after_it_equals_the_export(tmp_path):
    url = f"sqlite:///{tmp_path / 'demo.db'}"
    assert plads("demo", "--small", "--database", url, cwd=tmp_path).returncode == 0
    assert plads("checkpoint", "--every", "10", "-d", url, cwd=tmp_path).returncode == 0
    now = plads("export", "occupancy", "-d", url, "-o", str(tmp_path / "now.csv"), cwd=tmp_path)
    assert now.returncode == 0, now.stderr
    later = plads("replay", "occupancy", "--as-of", "2100-01-01", "-d", url, "-o", str(tmp_path / "later.csv"),
                  cwd=tmp_path)
    assert later.returncode == 0, later.stderr
    assert (tmp_path / "later.csv").read_text() == (tmp_path / "now.csv").read_text()
    before = plads("replay", "occupancy", "--as-of", "2000-01-01T00:00:00+00:00", "-d", url,
                   "-o", str(tmp_path / "before.csv"), cwd=tmp_path)
    assert before.returncode == 0, before.stderr
    assert len((tmp_path / "before.csv").read_text().splitlines()) == 1  # the header only
    assert "log position 0" in before.stdout


def test_a_bad_time_is_one_readable_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    bad = plads("replay", "occupancy", "--as-of", "yesterday", "-d", url, cwd=tmp_path)
    assert bad.returncode == 2 and "neither a date" in bad.stderr and bad.stderr.strip().count("\n") == 0
