"""`make bench` keeps working: a seconds-long run of the benchmark on both stores, on a tiny
simulated city (cached in a temporary directory) and on bench/history.py's history."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _numbers(cell: str) -> list[float]:
    words = cell.replace(",", "").replace("(", " ").replace(")", " ").replace("/", " ").replace("+", " ").split()
    return [float(w) for w in words if w.replace(".", "", 1).isdigit()]


@pytest.mark.parametrize("history", [["--history", "city", "--years", "0.1", "--scale", "0.01"],
                                     ["--history", "synthetic", "--children", "40"]], ids=["city", "synthetic"])
def test_the_benchmark_runs_and_prints_its_tables(history, tmp_path):
    log = tmp_path / "figures.jsonl"
    out = subprocess.run([sys.executable, "bench/run.py", *history, "--cache-dir", str(tmp_path), "--stock-seconds",
                          "1", "--commands", "10", "--api-seconds", "1", "--api-levels", "1,2@50", "--api-children", "20",
                          "--log", str(log)], cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [line for line in out.stdout.splitlines() if line.startswith("| sqlite") or line.startswith("| postgresql")]
    expected = 2 if os.environ.get("PLADS_TEST_DATABASE_URL") else 1
    # read side, processes, growth and memory, commands; then the API at two levels (one closed loop, one
    # with users who think 50 ms between requests)
    assert len(rows) == 6 * expected, out.stdout
    steps = [json.loads(line) for line in log.read_text().splitlines()]
    assert len({s["store"] for s in steps}) == expected
    for step in ("raw floor", "rebuild (first 90 %)", "follower", "verify", "bookings, 1 thread",
                 "HTTP, clients: 1", "HTTP, clients: 2 users, 50 ms think"):
        found = [s for s in steps if s["step"] == step]
        assert len(found) == expected, step
        assert f"] {step}: " in out.stdout  # printed as measured, not only in the tables
    assert all(s["drifted_tables"] == [] for s in steps if s["step"] == "verify")
    floors = [s for s in steps if s["step"] == "write floor"]  # PostgreSQL only
    assert len(floors) == expected - 1 and all(f["rows"] > 0 and f["seconds"] > 0 for f in floors)
    for api in rows[4 * expected:]:
        cells = [c.strip() for c in api.strip("|").split("|")]
        assert cells[1] in ("1", "2 users, 50 ms think") and int(cells[2].replace(",", "")) > 0 and cells[6] == "0", api
        if cells[1] != "1":  # two users who each wait 50 ms after every answer send at most 40 requests/s
            assert float(cells[3].replace(",", "")) <= 40, api
        # CPU per request (server / PostgreSQL / load generator) and the rate the cores allow at that cost
        assert len(_numbers(cells[7])) == 3 and _numbers(cells[7])[0] > 0 and _numbers(cells[8])[0] > 0, api
    for row in rows[:expected]:
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert int(cells[1].replace(",", "")) > 100  # events in the history
        assert all(_numbers(c) and all(x > 0 for x in _numbers(c)) for c in (cells[3], cells[4], cells[6], cells[7]))
    for row in rows[2 * expected:3 * expected]:  # growth: three folds, each with its rate, peak RSS and rows
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert len(_numbers(cells[1])) == 3 and len(_numbers(cells[3])) == 3 and len(_numbers(cells[4])) == 3
        assert all(x > 0 for x in _numbers(cells[4]) + _numbers(cells[5]))
    for row in rows[3 * expected:4 * expected]:  # commands
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert float(cells[1].replace(",", "")) > 0 and float(cells[3].replace(",", "")) > 0
    if history[1] == "city":
        assert list(tmp_path.glob("city-*.db")), "the simulated city is cached"


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_the_billing_runs_benchmark_runs_and_derives_less_than_the_whole_history(store):
    if store == "postgresql" and not os.environ.get("PLADS_TEST_DATABASE_URL"):
        pytest.skip("PLADS_TEST_DATABASE_URL is not set (run the tests with `make test`)")
    out = subprocess.run([sys.executable, "bench/billing_runs.py", "--children", "60", "--months", "3", "--store", store],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    rows = [[c.strip() for c in line.strip("|").split("|")] for line in out.stdout.splitlines()
            if line.startswith("| 2025-")]
    assert [r[0] for r in rows] == ["2025-03", "2025-04", "2025-05"]
    derived = [(int(r[3].replace(",", "")), int(r[5].replace(",", ""))) for r in rows]
    # A run may derive no household at all: a steady household's runs are extended (billing/extend.py).
    assert all(0 <= settled <= whole for settled, whole in derived) and derived[-1][0] < derived[-1][1], derived
    assert any(settled > 0 for settled, _ in derived), derived
    assert "all runs:" in out.stdout


def test_the_rebuild_memory_and_catch_up_measurements_run(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    built = subprocess.run([sys.executable, "bench/history.py", url, "40"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    out = subprocess.run([sys.executable, "bench/growth.py", "--database", url, "--rebuild", "2"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.startswith(f"rebuild of {int(built.stdout):,} events in 2 process(es): ") and "peak RSS" in out.stdout
    out = subprocess.run([sys.executable, "bench/growth.py", "--database", url, "--catch-up"], cwd=ROOT,
                         capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    behind = int(built.stdout) - int(int(built.stdout) * 0.9)
    assert out.stdout.startswith(f"caught up {behind:,} events in ") and "events/s" in out.stdout, out.stdout


def test_the_rebuild_profile_measures_the_floor_a_rebuild_and_its_sections(tmp_path):
    url = f"sqlite:///{tmp_path / 'h.db'}"
    built = subprocess.run([sys.executable, "bench/history.py", url, "40"], cwd=ROOT, capture_output=True, text=True,
                           timeout=600)
    assert built.returncode == 0, built.stderr[-2000:]
    out = subprocess.run([sys.executable, "bench/rebuild_profile.py", "--ledger", url, "--workers", "1",
                          "--src", str(ROOT / "src"), "cpu", "breakdown"], cwd=ROOT, capture_output=True, text=True,
                         timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    figures = [json.loads(line) for line in out.stdout.splitlines() if line.startswith("{")]
    assert [sorted(f) for f in figures] == [
        sorted(["events", "floor_cpu_s", "floor_wall_s", "floor_cpu_ev_s"]),
        *[sorted(["events", "rebuild_cpu_s", "rebuild_wall_s", "rebuild_cpu_ev_s"])] * 2,
        sorted(["events", "floor_cpu_s", "floor_wall_s", "floor_cpu_ev_s"])]
    assert all(f["events"] == int(built.stdout) for f in figures)
    assert f"one-process fold of {int(built.stdout):,} events" in out.stdout
    by_view = next(line for line in out.stdout.splitlines() if line.startswith("by view (fold + derive): "))
    assert {"billing", "waitinglists", "timeline", "forecast", "occupancy"} <= set(by_view.replace(",", " ").split())


@pytest.mark.parametrize("city", [[], ["--city", "1", "--years", "0.1", "--scale", "0.01"]], ids=["empty", "city"])
def test_the_bookings_benchmark_runs_on_an_empty_ledger_and_on_the_city(city, tmp_path):
    out = subprocess.run([sys.executable, "bench/commands.py", "--bookings", "10", *city,
                          *(["--cache-dir", str(tmp_path)] if city else [])],
                         cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    found = re.findall(r"bookings from (\d) thread\(s\): ([\d,]+) /s", out.stdout)
    assert [threads for threads, _ in found] == ["1", "8"], out.stdout
    assert all(int(rate.replace(",", "")) > 0 for _, rate in found), out.stdout
    if city:
        assert "events of the city; raw floor" in out.stdout


def test_load_levels_are_clients_with_an_optional_think_time():
    sys.path.insert(0, str(ROOT / "bench"))
    import api_load

    assert api_load.parse_levels("1, 8,32,32@1000") == [(1, 0), (8, 0), (32, 0), (32, 1000)]
    assert api_load.level_name({"clients": 32, "think_ms": 1000}) == "32 users, 1,000 ms think"
    assert api_load.level_name({"clients": 8, "think_ms": 0}) == "8"
    for bad in ("0", "x", "4@-1", "4@soon"):
        with pytest.raises(SystemExit, match="level"):
            api_load.parse_levels(bad)


@pytest.mark.parametrize("store", ["sqlite", "postgresql"])
def test_the_audits_benchmark_times_each_audit_and_each_view_as_of(store, tmp_path):
    if store == "postgresql" and not os.environ.get("PLADS_TEST_DATABASE_URL"):
        pytest.skip("PLADS_TEST_DATABASE_URL is not set (run the tests with `make test`)")
    log = tmp_path / "figures.jsonl"
    out = subprocess.run([sys.executable, "bench/audits.py", "--years", "0.1", "--scale", "0.01", "--cache-dir",
                          str(tmp_path), "--stores", store, "--checkpoint-every", "500", "--log", str(log)],
                         cwd=ROOT, capture_output=True, text=True, timeout=900)
    assert out.returncode == 0, out.stderr[-2000:]
    steps = {s["step"]: s for s in map(json.loads, log.read_text().splitlines())}
    views = ["occupancy", "timeline", "billing", "budget", "waiting lists", "forecast"]
    assert list(steps) == ["copy of the city", "fairness audit", "budget: the views rebuilt first",
                           "budget audit --vs friplads-2024-scale@1",
                           "budget audit --vs friplads-2024-scale@1, views absent",
                           "as_of: rebuild + checkpoints", *(f"as_of: {v}" for v in views), "as_of: all (plads replay)",
                           "counterfactual --vs copenhagen-2025-waitinglist@1"]
    assert steps["fairness audit"]["registrations"] > 0 and steps["as_of: rebuild + checkpoints"]["checkpoints"] > 0
    for view in views:  # early, mid-history (just before a checkpoint) and last: three positions, each read
        reads = steps[f"as_of: {view}"]["reads"]
        positions = [r["position"] for r in reads]
        assert len(reads) == 3 and positions == sorted(positions) and positions[-1] == steps["copy of the city"]["events"]
        assert positions[1] % 500 == 499 and all(r["rows"] > 0 for r in reads), reads
    cf = steps["counterfactual --vs copenhagen-2025-waitinglist@1"]
    assert cf["finished"] and cf["steps"] > 0 and cf["vs"] == "copenhagen-2025-waitinglist@1"
    for s in steps.values():
        assert s["store"] == store and s["seconds"] >= 0 and (s.get("peak_rss_mb") or 1) > 0
    table = [line for line in out.stdout.splitlines() if line.startswith(f"| {store} |")]
    assert len(table) == len(steps) and "| fairness audit |" in out.stdout
