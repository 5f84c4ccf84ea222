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
    text = README.read_text(encoding="utf-8")
    block = re.search(r"## The API.*?```sh\n(.*?)```", text, re.S).group(1)
    tokens = re.search(r'PLADS_API_TOKENS="([^"]+)"', block).group(1)
    script = "\n".join(line for line in block.splitlines() if "plads serve" not in line)
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
    answers = _split(run.stdout)
    booking = next(a for a in answers if "end_date" in a)
    assert booking["start_date"] == "2026-12-01"
    income = next(a for a in answers if "pay_share_percent" in a)
    assert 0 <= income["pay_share_percent"] <= 100
    statement = answers[-1]
    assert statement["month"] == "2026-12" and statement["issued"] is True
    assert statement["total_ore"] == sum(line["amount_ore"] for line in statement["lines"]) > 0


def _split(output: str) -> list[dict]:
    """The JSON answers curl printed one after another."""
    decoder, out, i = json.JSONDecoder(), [], 0
    text = output.strip()
    while i < len(text):
        obj, i = decoder.raw_decode(text, i)
        out.append(obj)
        while i < len(text) and text[i].isspace():
            i += 1
    return out
