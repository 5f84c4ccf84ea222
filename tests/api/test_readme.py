"""The README's curl walk-through, run as written against a server on each store."""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time
from datetime import datetime, timezone
from pathlib import Path

import pytest
import uvicorn

from api.app import create_app
from ledger import SimulatedClock

README = Path(__file__).resolve().parents[2] / "README.md"


def _walkthrough() -> tuple[str, str]:
    """Every shell block of the README's API section, in order, as one script (without `plads serve`)."""
    text = README.read_text(encoding="utf-8")
    section = re.search(r"## The API\n(.*?)\n## ", text, re.S).group(1)
    blocks = re.findall(r"```sh\n(.*?)```", section, re.S)
    assert len(blocks) == 2, "the caseworker's and the family's walk-through"
    tokens = re.search(r'PLADS_API_TOKENS="([^"]+)"', blocks[0]).group(1)
    script = "\n".join(line for block in blocks for line in block.splitlines() if "plads serve" not in line)
    return script, tokens


IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def test_the_readme_walkthrough_books_a_seat_and_reads_the_statement(store):
    if shutil.which("curl") is None:
        if IN_CI:
            pytest.fail("curl is not installed (make test installs it)")
        pytest.skip("curl is not installed (make test installs it)")
    script, tokens = _walkthrough()
    # The walk-through's dates are written for late November 2026: the server's clock says so.
    ledger = store.ledger(clock=SimulatedClock(datetime(2026, 11, 23, 10, tzinfo=timezone.utc)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tokens=tokens, ledger=ledger), host="127.0.0.1", port=port,
                                           log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    try:
        run = subprocess.run(["bash", "-euo", "pipefail", "-c", script.replace("http://127.0.0.1:8000",
                                                                              f"http://127.0.0.1:{port}")],
                             capture_output=True, text=True, timeout=120)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
        ledger.close()
    assert run.returncode == 0, run.stdout + run.stderr
    answers = _lines(run.stdout)
    booking = next(a for a in answers if "end_date" in a)
    assert booking["start_date"] == "2026-12-01"
    income = next(a for a in answers if "pay_share_percent" in a)
    assert 0 <= income["pay_share_percent"] <= 100
    refused = next(a for a in answers if a.get("status") == 422)  # no 2026 prices published: not issued
    assert "provisional: tariffs for 2026" in refused["detail"]
    statements = [a for a in answers if "lines" in a]
    # the caseworker's read and the family's (at a later log position): the same draft statement
    assert len(statements) == 2 and {**statements[0], "position": 0} == {**statements[1], "position": 0}
    statement = statements[0]
    assert statement["month"] == "2026-12" and statement["issued"] is False
    assert statement["total_ore"] == sum(line["amount_ore"] for line in statement["lines"]) > 0
    assert statement["lines"][-1]["kind"] == "provisional"
    assert all(line["detail"].startswith("[provisional] ") for line in statement["lines"][:-1])
    # the family's part: found the institution, booked through the self-service share, read the fee
    found = next(a for a in answers if "items" in a and a["items"] and "name" in a["items"][0])
    assert [i["name"] for i in found["items"]] == ["Solsikken"]
    family_booking = next(a for a in answers if a.get("id") == "55555555-5555-4555-8555-555555555555"
                          and "expected_fee" in a)
    assert family_booking["child_id"] == "44444444-4444-4444-8444-444444444444"
    assert family_booking["expected_fee"]["month"] == "2027-01"
    child = next(a for a in answers if a.get("id") == "44444444-4444-4444-8444-444444444444" and "bookings" in a)
    assert [b["booking_id"] for b in child["bookings"]] == ["55555555-5555-4555-8555-555555555555"]
    assert family_booking["status"] == "booked"


def _lines(output: str) -> list[dict]:
    """The JSON answers curl printed, one per line (as the README promises)."""
    return [json.loads(line) for line in output.splitlines() if line.strip()]
