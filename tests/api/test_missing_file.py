"""A SQLite ledger file deleted or replaced under a running server is noticed (issue 21, finding 7):
writes answer 503 problem+json instead of 201s that a restart would lose. SQLite only: a PostgreSQL
ledger has no file of its own (its outages are tests/reliability/test_db_restart.py)."""

from __future__ import annotations

import os
import shutil
from datetime import date

import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from ledger import Ledger, SimulatedClock, StoreUnavailable
from ledger import commands as c

from .conftest import TOKEN_ENV, auth


@pytest.fixture
def served(tmp_path):
    path = tmp_path / "plads.db"
    ledger = Ledger(f"sqlite:///{path}", clock=SimulatedClock(date(2025, 1, 6)))
    with TestClient(create_app(tokens=TOKEN_ENV, ledger=ledger)) as client:
        yield client, ledger, path
    ledger.close()


def _household(client):
    return client.post("/v1/households", json={"district": "Valby"}, headers=auth("caseworker"))


@pytest.mark.parametrize("how", ["deleted", "replaced"])
def test_a_deleted_or_replaced_sqlite_file_refuses_writes(served, how, tmp_path):
    client, ledger, path = served
    assert _household(client).status_code == 201
    if how == "deleted":
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(f"{path}{suffix}"):
                os.remove(f"{path}{suffix}")
    else:  # an old copy put in its place
        shutil.copy(path, tmp_path / "copy.db")
        os.replace(tmp_path / "copy.db", path)
    refused = _household(client)
    assert refused.status_code == 503, refused.text
    assert refused.headers["content-type"].startswith("application/problem+json")
    assert "deleted or replaced" in refused.json()["detail"]
    assert client.get("/health").status_code == 503
    with pytest.raises(StoreUnavailable):
        ledger.check()
    with pytest.raises(StoreUnavailable), ledger.bulk(actor="import", channel="import") as bulk:
        bulk.execute(c.RegisterHousehold(district="Valby"))
