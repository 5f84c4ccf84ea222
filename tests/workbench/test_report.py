"""Audit reports: JSON and one self-contained HTML page for people, whose charts render in headless Chromium."""

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
CHARTS = {"fairness": 5, "budget": 2, "comparison": 8}  # SVG charts per page


def reports(city, tmp_path):
    ids = planted(city)
    fairness = fairness_audit(city.ledger)
    comparison = fairness_audit(city.ledger, vs="copenhagen-2025-waitinglist@1")
    small_city(city)
    city.ledger.clock.set(D(2025, 6, 10))
    city.household()
    budget = budget_audit(city.ledger, vs="friplads-2024-scale@1")
    paths = {}
    for name, result in (("fairness", fairness), ("budget", budget), ("comparison", comparison)):
        write_json(result, tmp_path / f"{name}.json")
        write_html(result, tmp_path / f"{name}.html")
        paths[name] = tmp_path / f"{name}.html"
    return ids, fairness, budget, paths


def _text(page: str) -> str:
    from html import unescape

    return re.sub(r"\s+", " ", unescape(re.sub(r"<[^>]+>", " ", page)))


def test_reports_are_self_contained_and_link_findings_to_events(city, tmp_path):
    ids, fairness, budget, paths = reports(city, tmp_path)
    assert json.loads((tmp_path / "fairness.json").read_text()) == json.loads(json.dumps(fairness))
    html = paths["fairness"].read_text()
    # nothing fetched: no external URL in any src/href, no script
    assert not re.search(r"(src|href)\s*=\s*\"(https?:)?//", html) and "<script" not in html
    assert "@media print" in html
    assert html.count("<svg") == CHARTS["fairness"]
    envy = fairness["findings"]["justified_envy"][0]
    assert ids["i"] in html and f"#{envy['events'][0]}" in html  # the full id, not a prefix
    budget_html = paths["budget"].read_text()
    assert budget_html.count("<svg") == CHARTS["budget"]
    assert "friplads-2024-scale@1" in budget_html
    assert paths["comparison"].read_text().count("<svg") == CHARTS["comparison"]


def test_each_report_opens_with_findings_in_sentences_and_defines_its_measures(city, tmp_path):
    """planted(): 4 registrations, 3 placed, i still waiting 34 days past its guarantee date, one
    child passed over (by j1 and j2 at A), one wasted seat-month at B (k from April, not March)."""
    _, _, _, paths = reports(city, tmp_path)
    text = _text(paths["fairness"].read_text())
    first = text.index("Findings")
    assert first < text.index("Measures and what they mean") < text.index("Justified envy (")
    findings = text[first:text.index("Measures and what they mean")]
    assert "3 of the 4 registered children got a place; 1 are still waiting." in findings
    assert "1 children had no place on their guarantee date (34 days late in all)." in findings
    assert "1 children were passed over by a child with lower priority" in findings
    assert "1 seat-months stood empty while a child who wanted that institution waited." in findings
    for term in ("90th percentile (p90): nine in ten", "Median: half of the placed children",
                 "A seat of an institution's general pool stood free a whole month", "A child was passed over"):
        assert term in text, term
    # the comparison leads with the differences, in words, before this ledger's own measures
    comparison = _text(paths["comparison"].read_text())
    assert comparison.index("The differences") < comparison.index("Findings for this ledger")
    assert ("Guarantee breaches: 1 under copenhagen-2025-waitinglist@1 against 1 under copenhagen-book-en-plads@1; "
            "children passed over by a lower priority: 0 against 1.") in comparison
    # money in kroner
    budget = _text(paths["budget"].read_text())
    assert re.search(r"The municipality's net cost was [0-9,]+ kr over", budget)
    assert "parents would pay" in budget and " kr more." in budget


def test_late_and_caseworker_families_are_compared_in_words():
    from replay.audit.findings import group_sentences

    def stats(median, p90, n=3):
        return {"waiting_days": {"n": n, "median": median, "p90": p90, "mean": median, "max": p90}}

    said = group_sentences({
        "registration_age": {"registered after 12 months": stats(40, 90), "registered before 4 months": stats(0, 10)},
        "channel": {"caseworker": stats(5, 20), "self_service": stats(5, 20)},
    })
    assert said[0].endswith("late registrants waited longer.")
    assert said[1].endswith("caseworker-channel families waited as long.")


@pytest.mark.parametrize("store", ["sqlite"], indirect=True)  # one browser run is enough: the page is the same
def test_charts_render_in_headless_chromium(city, tmp_path):
    if CHROMIUM is None:
        if IN_CI:
            pytest.fail("chromium is not installed (make test installs it)")
        pytest.skip("chromium is not installed (make test installs it)")
    from matplotlib.image import imread

    _, _, _, paths = reports(city, tmp_path)
    for name, expected in CHARTS.items():
        shot = tmp_path / f"{name}.png"
        cmd = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
               "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}"]
        dom = subprocess.run(cmd + ["--dump-dom", paths[name].as_uri()], capture_output=True, text=True,
                             timeout=120, check=True).stdout
        # the browser parsed every chart as SVG with drawn shapes, axis labels and text
        svgs = re.findall(r"<svg[^>]*>(.*?)</svg>", dom, flags=re.S)
        assert len(svgs) == expected, name
        assert all(re.search(r"<path\b", s) and "<text" in s for s in svgs), name
        subprocess.run(cmd + [f"--screenshot={shot}", "--window-size=1200,6000", paths[name].as_uri()],
                       capture_output=True, timeout=120, check=True)
        pixels = imread(shot)[..., :3]
        # the charts' bars are drawn: many pixels of the first series colour (#0072B2, Okabe-Ito blue)
        blue = ((abs(pixels[..., 0] - 0x00 / 255) < 0.06) & (abs(pixels[..., 1] - 0x72 / 255) < 0.06)
                & (abs(pixels[..., 2] - 0xB2 / 255) < 0.06))
        assert blue.sum() > 300, (name, int(blue.sum()))
