"""/health while PostgreSQL is down: 503 problem+json (not a 500), and no 503 detail names the
database's host or port; once the server is back, /health is 200 again."""

from __future__ import annotations

from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import Ledger, SimulatedClock

from .checks import wait_until

pytestmark = pytest.mark.postgres
TOKEN = "health-token-1"


def test_health_and_reads_answer_503_without_the_database_address_while_postgres_is_down(cluster):
    ledger = Ledger(cluster.url, clock=SimulatedClock(date(2025, 1, 6)))
    try:
        app = create_app(tokens=f"anna:caseworker:{TOKEN}", ledger=ledger)
        with TestClient(app, raise_server_exceptions=False) as client:
            auth = {"Authorization": f"Bearer {TOKEN}"}
            assert client.get("/health").status_code == 200
            assert client.get("/v1/occupancy", headers=auth).status_code == 200
            cluster.stop()
            answers = [client.get("/health"), client.get("/health"), client.get("/v1/occupancy", headers=auth),
                       client.post("/v1/households", json={"district": "Valby"}, headers=auth)]
            for r in answers:
                assert r.status_code == 503, r.text
                assert r.headers["content-type"].startswith("application/problem+json")
                detail = r.json()["detail"]
                assert "127.0.0.1" not in detail and str(cluster.port) not in detail, detail
            cluster.start()
            wait_until(lambda: client.get("/health").status_code == 200)
    finally:
        ledger.close()
