"""A follower never stalls in silence: an event a view cannot take, written straight into the store
(past the commands' validation), stops the views before it, loudly. The follower logs the view,
the position and the error; /health answers 503 problem+json naming them; a read that needs the
views beyond it answers 503 with that reason at once (not after the 5 s wait); commands still work.
"""

from __future__ import annotations

import logging
import time
from datetime import date

from fastapi.testclient import TestClient

from api.app import create_app
from ledger import commands as c
from .conftest import TOKEN_ENV, Api

PROBLEM = "application/problem+json"


def _health_when_stalled(api: Api, tries: int = 300):
    """/health once the follower has met the event (on SQLite at once; on PostgreSQL within a page)."""
    for _ in range(tries):
        r = api.client.get("/health")
        if r.status_code != 200:
            return r
        time.sleep(0.05)
    raise AssertionError(f"/health still answers {r.status_code} {r.text}")


def _stalls_loudly(store, caplog, bypass) -> None:
    ledger = store.ledger(date(2025, 1, 6))
    caplog.set_level(logging.ERROR, logger="plads.projections")
    try:
        with TestClient(create_app(tokens=TOKEN_ENV, ledger=ledger), raise_server_exceptions=False) as client:
            api = Api(client)
            api.activate()
            inst = api.institution()
            # Straight into the store: the command object is built without validation.
            position = ledger.execute(bypass(inst), actor="intruder", channel="system").position
            r = _health_when_stalled(api)
            assert r.status_code == 503 and r.headers["content-type"].startswith(PROBLEM), r.text
            body = r.json()
            assert body["title"] == "Views stalled"
            assert f"before log position {position}" in body["detail"]
            view = body["detail"].split("view ", 1)[1].split(" ", 1)[0]
            logged = [rec.getMessage() for rec in caplog.records if rec.name == "plads.projections"]
            assert any(f"view {view}" in m and f"position {position}" in m for m in logged), logged
            # Commands are still recorded; a read that needs them answers 503 with the reason at once.
            later = api.ok(api.post("/v1/households", json={"district": "Valby"}))["position"]
            read = api.get("/v1/occupancy", params={"min_position": later})
            assert read.status_code == 503 and read.json()["title"] == "Views stalled", read.text
            own = api.get("/v1/occupancy")  # this process's own writes lie beyond the stop too
            assert own.status_code == 503 and own.json()["title"] == "Views stalled", own.text
            # What lies before the event is still served.
            before = api.get("/v1/occupancy", params={"min_position": position - 1, "institution_id": inst})
            assert before.status_code == 200 and before.json()["items"], before.text
    finally:
        ledger.close()


def test_an_event_with_nul_in_text_stops_the_views_loudly_on_postgres(pg_store, caplog):
    _stalls_loudly(pg_store, caplog, lambda inst: c.RegisterInstitution.model_construct(
        name="A\x00B", district="Valby", kind="integreret", ownership="kommunal", municipality_code="101",
        location=None, institution_id=None))


def test_an_event_a_view_cannot_hold_stops_the_views_loudly_on_both_stores(store, caplog):
    # A capacity beyond any integer column of either store (SQLite: 8 bytes; PostgreSQL: bigint).
    _stalls_loudly(store, caplog, lambda inst: c.ChangeCapacity.model_construct(
        institution_id=inst, age_group="nursery", pool="general", seats=10**20, effective_from=date(2025, 2, 1),
        reason=None))
