"""The database restarts while the API is under load: during the outage the API answers 503
problem+json promptly (no hang, no 500); afterwards it works again; every command that got a
2xx is in the ledger (the clients' log compared with the events)."""

from __future__ import annotations

import socket
import threading
import time
from datetime import date

import httpx
import pytest
import uvicorn

from api.app import create_app
from ledger import Ledger, SimulatedClock

from .checks import outage_drill

pytestmark = pytest.mark.postgres
TOKEN = "restart-token-1"


def test_the_api_answers_503_while_the_database_is_down_and_loses_no_acknowledged_command(cluster):
    ledger = Ledger(cluster.url, clock=SimulatedClock(date(2025, 1, 6)))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tokens=f"load:caseworker:{TOKEN}", ledger=ledger),
                                           host="127.0.0.1", port=port, log_level="critical"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    while not server.started:
        time.sleep(0.05)
    acknowledged: list[str] = []
    outage: list[tuple[int, str]] = []
    unexpected: list[str] = []

    def load(stop: threading.Event) -> None:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers={"Authorization": f"Bearer {TOKEN}"},
                          timeout=30) as http:
            while not stop.is_set():
                try:
                    r = http.post("/v1/households", json={"district": "Valby"})
                except httpx.HTTPError as e:
                    unexpected.append(repr(e))
                    continue
                if r.status_code == 201:
                    acknowledged.append(r.json()["id"])
                elif r.status_code == 503:
                    outage.append((r.status_code, r.headers["content-type"]))
                    time.sleep(0.05)
                else:
                    unexpected.append(f"{r.status_code} {r.text[:200]}")

    try:
        workers = outage_drill(cluster, load, acknowledged, outage)
    finally:
        server.should_exit = True
        thread.join(timeout=30)
    assert unexpected == []
    assert all(ct.startswith("application/problem+json") for _, ct in outage)
    # No request hung: every worker saw the stop and ended (the join's 60 s is a hang guard).
    assert not any(w.is_alive() for w in workers)
    recorded = {str(n.originator_id) for n in ledger.recorder.select_notifications(1, 100_000)
                if n.topic.endswith("HouseholdRegistered")}
    assert set(acknowledged) <= recorded
    ledger.close()

