"""Audit reports: JSON and one self-contained HTML page whose charts render in headless Chromium."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from datetime import date as D

import pytest

from replay.audit import budget_audit, fairness_audit
from replay.audit.report import write_html, write_json

from .test_budget import small_city
from .test_fairness import planted

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def reports(city, tmp_path):
    ids = planted(city)
    fairness = fairness_audit(city.ledger)
    small_city(city)
    city.ledger.clock.set(D(2025, 6, 10))
    city.household()
    budget = budget_audit(city.ledger, vs="friplads-2024-scale@1")
    paths = {}
    for name, result in (("fairness", fairness), ("budget", budget)):
        write_json(result, tmp_path / f"{name}.json")
        write_html(result, tmp_path / f"{name}.html")
        paths[name] = tmp_path / f"{name}.html"
    return ids, fairness, budget, paths


def test_reports_are_self_contained_and_link_findings_to_events(city, tmp_path):
    ids, fairness, budget, paths = reports(city, tmp_path)
    assert json.loads((tmp_path / "fairness.json").read_text()) == json.loads(json.dumps(fairness))
    html = paths["fairness"].read_text()
    # nothing fetched: no external URL in any src/href, no script
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", html) and "<script" not in html
    assert "@media print" in html
    # waiting days (5 groupings), the heat map, breaches per month
    assert html.count("<svg") == 7
    envy = fairness["findings"]["justified_envy"][0]
    assert ids["i"][:8] in html and f"#{envy['events'][0]}" in html
    budget_html = paths["budget"].read_text()
    assert budget_html.count("<svg") == 2  # difference per month, actual per month
    assert "friplads-2024-scale@1" in budget_html


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # one browser run is enough: the page is the same
def test_charts_render_in_headless_chromium(city, tmp_path):
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed (make test installs it)")
    _, _, _, paths = reports(city, tmp_path)
    for name, expected in (("fairness", 7), ("budget", 2)):
        shot = tmp_path / f"{name}.png"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run(cmd + ["--dump-dom", paths[name].as_uri()], capture_output=True, text=True,
                             timeout=120, check=True).stdout
        # the browser parsed every chart as SVG with drawn shapes
        svgs = re.findall(r"<svg[^>]*>(.*?)</svg>", dom, flags=re.S)
        assert len(svgs) == expected, name
        assert all(re.search(r"<(rect|line)\b", s) for s in svgs), name
        subprocess.run(cmd + [f"--screenshot={shot}", "--window-size=1200,2000", paths[name].as_uri()],
                       capture_output=True, timeout=120, check=True)
        assert shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and shot.stat().st_size > 10_000
