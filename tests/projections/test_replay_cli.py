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
    # valid time beside recorded time: April's rows of the occupancy, as known at the end
    april = plads("replay", "occupancy", "--as-of", "2100-01-01", "--valid-at", "2025-04-15", "-d", url,
                  "-o", str(tmp_path / "april.csv"), cwd=tmp_path)
    assert april.returncode == 0 and "in force on 2025-04-15" in april.stdout, april.stderr
    header, *rows = (tmp_path / "april.csv").read_text().splitlines()
    month = header.split(",").index("month")
    expected = [line for line in (tmp_path / "now.csv").read_text().splitlines()[1:]
                if line.split(",")[month] == "2025-04"]
    assert rows == expected and rows
    ranked = plads("replay", "waiting_list", "--as-of", "2100-01-01", "--valid-at", "2025-04-15", "-d", url,
                   cwd=tmp_path)
    assert ranked.returncode == 2 and "has no valid time" in ranked.stderr
    # before the history: one line saying when it starts (the small demo starts on 2025-01-06)
    before = plads("replay", "occupancy", "--as-of", "2000-01-01T00:00:00+00:00", "-d", url,
                   "-o", str(tmp_path / "before.csv"), cwd=tmp_path)
    assert before.returncode == 1 and before.stderr.strip().count("\n") == 0, before.stderr
    assert "nothing was recorded by 2000-01-01T00:00:00+00:00: the history starts 2025-01-0" in before.stderr
    assert not (tmp_path / "before.csv").exists()


def test_reading_a_ledger_that_does_not_exist_is_an_error_not_a_new_file(tmp_path):
    url = f"sqlite:///{tmp_path / 'typo.db'}"
    for args in (("replay", "occupancy", "--as-of", "2025-01-01"), ("export", "occupancy"),
                 ("audit", "fairness"), ("audit", "budget")):
        run = plads(*args, "-d", url, cwd=tmp_path)
        assert run.returncode == 1 and f"no ledger at {url}" in run.stderr, (args, run.stderr)
        assert run.stderr.strip().count("\n") == 0 and not (tmp_path / "typo.db").exists(), args


def test_rules_list_shows_the_scenarios_and_export_only_the_analysts_views(tmp_path):
    listed = plads("rules", "list", cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    lines = listed.stdout.splitlines()
    assert any(line.startswith("copenhagen-book-en-plads@1\tbook-en-plads") for line in lines)
    for scenario in ("friplads-2024-scale@1", "tariffs-2023@1"):
        assert any(line.startswith(f"{scenario}\tscenario (audit --vs)\t") for line in lines), scenario
    url = f"sqlite:///{tmp_path / 'x.db'}"
    unknown = plads("export", "nope", "-d", url, cwd=tmp_path)
    views = unknown.stderr.split("one of: ")[1].strip().split(", ")
    assert "occupancy" in views and "statements" in views
    assert not [v for v in views if v.endswith(("_state", "_parts"))], views  # working state is not for analysts
    working = plads("export", "forecast_state", "-d", url, cwd=tmp_path)
    assert working.returncode == 2 and "unknown view 'forecast_state'" in working.stderr


def test_a_bad_time_is_one_readable_line(tmp_path):
    url = f"sqlite:///{tmp_path / 'x.db'}"
    bad = plads("replay", "occupancy", "--as-of", "yesterday", "-d", url, cwd=tmp_path)
    assert bad.returncode == 2 and "neither a date" in bad.stderr and bad.stderr.strip().count("\n") == 0
