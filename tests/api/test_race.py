"""The last-seat race over HTTP: 32 concurrent clients, one free seat — exactly one 201,
the others 409 problem+json; the same for one child raced into 8 institutions."""

from __future__ import annotations

import socket
from dataclasses import dataclass
import threading
import time
from datetime import date

import httpx
import pytest
import uvicorn

from api.app import create_app
from ledger import Ledger

from ..reliability.checks import trials
from .conftest import TOKEN_ENV, auth


@dataclass
class Served:
    base: str
    ledger: Ledger


@pytest.fixture
def served(store):
    """The app under a real uvicorn server on loopback (so requests really run concurrently)."""
    ledger = store.ledger(date(2025, 1, 6))
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(create_app(tokens=TOKEN_ENV, ledger=ledger), host="127.0.0.1",
                                           port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert time.monotonic() < deadline, "the server did not start"
        time.sleep(0.05)
    # The tests set up children through the ledger's bulk path: only the race goes over HTTP.
    yield Served(f"http://127.0.0.1:{port}", ledger)
    server.should_exit = True
    thread.join(timeout=30)
    ledger.close()


def _post(base, path, json, role="caseworker"):
    with httpx.Client(base_url=base, headers=auth(role), timeout=60) as http:
        return http.post(path, json=json)


def _race(base, bodies):
    barrier = threading.Barrier(len(bodies))
    answers = [None] * len(bodies)

    def run(i):
        with httpx.Client(base_url=base, headers=auth("caseworker"), timeout=60) as http:
            barrier.wait()
            answers[i] = http.post("/v1/bookings", json=bodies[i])

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(bodies))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return answers


def _setup(base, institutions, nursery):
    assert _post(base, "/v1/rule-sets/copenhagen-book-en-plads@1/activate", {"effective_from": "2020-01-01"},
                 "admin").status_code == 201
    return _institutions(base, institutions, nursery)


def _institutions(base, institutions, nursery, name="I"):
    insts = []
    for i in range(institutions):
        inst = _post(base, "/v1/institutions", {"name": f"{name}{i}", "district": "Valby", "kind": "vuggestue"},
                     "admin").json()["id"]
        with httpx.Client(base_url=base, headers=auth("admin")) as http:
            assert http.put(f"/v1/institutions/{inst}/capacity", json={
                "age_group": "nursery", "seats": nursery, "effective_from": "2025-01-01"}).status_code == 200
        insts.append(inst)
    return insts


def _child(base):
    hh = _post(base, "/v1/households", {"district": "Valby"}).json()["id"]
    return _post(base, "/v1/children", {"household_id": hh, "birth_date": "2024-03-15"}).json()["id"]


@pytest.mark.parametrize("racers", [2, 8, 32])
def test_k_clients_one_seat_exactly_one_booking(served, racers, many_children):
    """`make test`: 3 trials per K; `make soak`: 1,000 on PostgreSQL (the production store), 50 on SQLite."""
    assert _post(served.base, "/v1/rule-sets/copenhagen-book-en-plads@1/activate", {"effective_from": "2020-01-01"},
                 "admin").status_code == 201
    for trial in range(trials(3, 1000 if served.ledger.store.kind == "postgres" else 50)):
        inst = _institutions(served.base, 1, nursery=1, name=f"T{trial}")[0]
        children = many_children(served.ledger, racers)
        answers = _race(served.base, [{"child_id": ch, "institution_id": inst, "start_date": "2025-02-01"}
                                 for ch in children])
        codes = sorted(a.status_code for a in answers)
        assert codes == [201] + [409] * (racers - 1), (trial, codes)
        assert all(a.headers["content-type"].startswith("application/problem+json") for a in answers
                   if a.status_code == 409)
        with httpx.Client(base_url=served.base, headers=auth("analyst")) as http:
            won = next(a for a in answers if a.status_code == 201).json()["position"]
            month = http.get("/v1/occupancy", params={"institution_id": inst, "month": "2025-02",
                                                      "min_position": won}).json()
        assert [(r["capacity"], r["booked"]) for r in month["items"]] == [(1, 1)], trial


def test_one_child_raced_into_8_institutions_gets_one_booking(served):
    insts = _setup(served.base, 8, nursery=5)
    child = _child(served.base)
    answers = _race(served.base, [{"child_id": child, "institution_id": i, "start_date": "2025-02-01"} for i in insts])
    codes = sorted(a.status_code for a in answers)
    assert codes == [201] + [409] * 7, codes
