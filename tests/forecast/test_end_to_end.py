"""The forecast on a small simulated city, on both stores: what the ledger knew at a date and
nothing later, the occupancy view's figure once a month has passed, the children not yet
visible, and `plads forecast` (rows, page, backtest) from the command line."""

from __future__ import annotations

import json
import subprocess
import sys
from collections import defaultdict
from datetime import date

import pytest

from projections.projector import Projector
from projections.occupancy import Occupancy
from projections.outlook import Outlook, read_history
from projections.outlook.model import month_of
from projections.pointintime import position_at, recorded_instant
from replay.simulate import simulate

T = date(2026, 2, 28)


def plads(*args, cwd):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=900)


def test_the_forecast_of_a_simulated_city(store, tmp_path):
    with store.ledger(date(2025, 1, 1)) as ledger:
        simulate(ledger, years=1.5, scale=0.01, seed=2, policy="book-en-plads")
        then = read_history(ledger, T)
        everything = read_history(ledger, date(2026, 6, 30))
        extended = read_history(ledger, date(2026, 6, 30), since=(position_at(ledger, T), then))
        then_again = read_history(ledger, T)
        projector = Projector(ledger, [Occupancy()])
        projector.catch_up()
        occupancy = projector.store.query(
            "SELECT district, age_group, SUM(seat_days) FROM occupancy WHERE month = '2025-10' "
            "GROUP BY district, age_group")
        projector.close()
    # Read on from T: the same history as read whole, and the history of T is left as it was.
    assert extended == everything
    assert then == then_again
    # Point in time: learning from the whole history "as of T" is learning from what T knew.
    known_then = Outlook.learn(then)
    assert known_then.rows("district", month_of("2026-03"), 12) == \
        Outlook.learn(everything, recorded_instant(T)).rows("district", month_of("2026-03"), 12)
    # Once a month has passed, the forecast's figure is the occupancy view's seat-days / days.
    past = {(r.unit, r.age_group): r.children for r in Outlook.learn(everything).rows("district", month_of("2025-10"), 1)}
    assert past == {(d, g): pytest.approx(int(sd) / 31, abs=1e-9) for d, g, sd in occupancy if int(sd)}
    # The children not yet visible: a year ahead the nursery needs more than the bookings known.
    ahead = defaultdict(float)
    for (inst, group, month), e in known_then.institutions(range(month_of("2027-02"), month_of("2027-02") + 1)).items():
        ahead[(group, "known")] += e.known
        ahead[(group, "to come")] += e.to_come
    assert ahead[("nursery", "to come")] > 0.1 * ahead[("nursery", "known")]

    out = plads("forecast", "-d", store.url, "--as-of", T.isoformat(), "--by", "institution", "--json", "f.json",
                "--html", "f.html", cwd=tmp_path)
    assert out.returncode == 0, out.stderr
    rows = json.loads((tmp_path / "f.json").read_text())
    assert {r["month"] for r in rows} == {f"2026-{m:02d}" for m in range(3, 13)} | {"2027-01", "2027-02"}
    assert all(set(r) == {"institution_id", "age_group", "month", "children", "low", "high", "capacity"} for r in rows)
    assert all(r["low"] <= r["children"] <= r["high"] for r in rows)
    page = (tmp_path / "f.html").read_text()
    assert page.count("<svg") == len(everything.districts) and "capacity" in page
    assert "<script" not in page and "src=" not in page  # self-contained: nothing fetched
    backtest = plads("forecast", "--backtest", "-d", store.url, "--as-of", "2026-06-30", "--json", "b.json", cwd=tmp_path)
    assert backtest.returncode == 0, backtest.stderr
    result = json.loads((tmp_path / "b.json").read_text())
    # the simulator groups the municipal institutions in clusters: the backtest measures that level too
    assert set(result["levels"]) == {"district", "cluster", "institution"} and "cluster" not in result
    assert result["levels"]["district"]["horizons"][0]["horizon"] == 1
