"""Shared fixtures: every ledger test runs on SQLite and on a real PostgreSQL.

PostgreSQL comes from PLADS_TEST_DATABASE_URL (set by scripts/with-postgres,
which `make test` uses). Without it the PostgreSQL variants are skipped — except
under CI=true, where a missing PostgreSQL fails the run: CI must never pass on
SQLite alone.
"""

from __future__ import annotations

import atexit
import os
import shutil
import tempfile
import time
import uuid
from datetime import date

import pytest

from ledger import Ledger, SimulatedClock

PG_URL = os.environ.get("PLADS_TEST_DATABASE_URL")
# PostgreSQL ledgers keep their person keys under $XDG_DATA_HOME/plads (ledger.keystore): the
# tests' go to a temporary folder (and their subprocesses' too), never the user's home.
os.environ["XDG_DATA_HOME"] = _KEYS_HOME = tempfile.mkdtemp(prefix="plads-test-keys-")
atexit.register(shutil.rmtree, _KEYS_HOME, True)
IN_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _pg_reachable() -> str | None:
    if not PG_URL:
        return "PLADS_TEST_DATABASE_URL is not set (run the tests with `make test`)"
    import psycopg

    try:
        with psycopg.connect(PG_URL, connect_timeout=5):
            return None
    except psycopg.Error as e:
        return f"cannot connect to {PG_URL}: {e}"


_PG_PROBLEM = _pg_reachable()


def pytest_sessionstart(session):
    if IN_CI and _PG_PROBLEM:
        raise pytest.UsageError(f"CI=true but PostgreSQL is unavailable: {_PG_PROBLEM}")


def pytest_collection_modifyitems(config, items):
    for item in items:
        if "store" in getattr(item, "fixturenames", ()) and "[postgres" in item.nodeid:
            item.add_marker(pytest.mark.postgres)


class Store:
    """A fresh, empty database for one test: a SQLite file or a PostgreSQL schema."""

    def __init__(self, kind: str, tmp_path) -> None:
        self.kind = kind
        self._schemas: list[str] = []
        self._tmp = tmp_path
        self._n = 0
        self.url = self.new_url()

    def new_url(self) -> str:
        self._n += 1
        if self.kind == "sqlite":
            return f"sqlite:///{self._tmp / f'ledger{self._n}.db'}"
        schema = f"t_{uuid.uuid4().hex[:12]}"
        self._schemas.append(schema)
        sep = "&" if "?" in PG_URL else "?"
        return f"{PG_URL}{sep}schema={schema}&pool_size=4&max_overflow=40"

    def ledger(self, start: date = date(2025, 1, 6), url: str | None = None, **kw) -> Ledger:
        clock = kw.pop("clock", None) or SimulatedClock(start)
        return Ledger(url or self.url, clock=clock, **kw)

    def drop(self) -> None:
        if self.kind != "postgres" or not self._schemas:
            return
        import psycopg

        with psycopg.connect(PG_URL, autocommit=True) as conn:
            for schema in self._schemas:
                conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.fixture(params=["sqlite", "postgres"])
def store(request, tmp_path):
    if request.param == "postgres" and _PG_PROBLEM:
        pytest.skip(_PG_PROBLEM)
    s = Store(request.param, tmp_path)
    yield s
    s.drop()


@pytest.fixture
def pg_store(tmp_path):
    if _PG_PROBLEM:
        pytest.skip(_PG_PROBLEM)
    s = Store("postgres", tmp_path)
    yield s
    s.drop()


class City:
    """A tiny hand-built municipality on one ledger, for scenario tests."""

    def __init__(self, ledger: Ledger, rule_set: str = "copenhagen-book-en-plads@1") -> None:
        from ledger import commands as c

        self.c = c
        self.ledger = ledger
        self.run(c.ActivateRuleSet(rule_set_id=rule_set, effective_from=date(2020, 1, 1)), channel="system")

    def run(self, command, actor: str = "anna", channel: str = "caseworker", key: str | None = None):
        return self.ledger.execute(command, actor=actor, channel=channel, idempotency_key=key).result

    def institution(self, kind="integreret", nursery=10, kindergarten=20, district="Nørrebro",
                    effective_from=date(2024, 1, 1), pools=("general",), name="Solsikken"):
        c = self.c
        inst = self.run(c.RegisterInstitution(name=name, district=district, kind=kind), channel="system")["id"]
        for pool in pools:
            for group, seats in (("nursery", nursery), ("kindergarten", kindergarten)):
                if seats is None:
                    continue
                try:
                    self.run(c.ChangeCapacity(institution_id=inst, age_group=group, pool=pool, seats=seats,
                                              effective_from=effective_from), channel="system")
                except Exception as e:  # an institution kind without that age group
                    if "has no" not in str(e):
                        raise
        return inst

    def household(self, district="Nørrebro", single_parent=False, children_under_18=1, income_kr=None,
                  income_from=date(2025, 1, 1), municipality_code="101"):
        c = self.c
        hh = self.run(c.RegisterHousehold(district=district, single_parent=single_parent,
                                          children_under_18=children_under_18,
                                          municipality_code=municipality_code))["id"]
        if income_kr is not None:
            self.run(c.DeclareIncome(household_id=hh, annual_income_ore=income_kr * 100, effective_from=income_from))
        return hh

    def child(self, household, birth=date(2024, 3, 15)):
        return self.run(self.c.RegisterChild(household_id=household, birth_date=birth))["id"]

    def children(self, n: int, district: str = "Valby", birth=date(2024, 3, 15)) -> list[str]:
        """`n` children, each of its own household, written in one bulk batch."""
        return bulk_children(self.ledger, n, district, birth)

    def book(self, child, inst, start, channel="caseworker", **kw):
        return self.run(self.c.BookPlace(child_id=child, institution_id=inst, start_date=start, **kw),
                        channel=channel)


def bulk_children(ledger: Ledger, n: int, district: str = "Valby", birth=date(2024, 3, 15)) -> list[str]:
    from ledger import commands as c

    out = []
    with ledger.bulk(actor="setup", channel="caseworker") as bulk:
        for _ in range(n):
            hh = bulk.execute(c.RegisterHousehold(district=district))["id"]
            out.append(bulk.execute(c.RegisterChild(household_id=hh, birth_date=birth))["id"])
    return out


@pytest.fixture
def city(store):
    ledger = store.ledger()
    yield City(ledger)
    ledger.close()


@pytest.fixture
def new_city(store):
    """Build a City on a fresh ledger of the store, under a given rule set."""
    ledgers = []

    def make(rule_set: str = "copenhagen-book-en-plads@1", **kw) -> City:
        ledger = store.ledger(**kw)
        ledgers.append(ledger)
        return City(ledger, rule_set=rule_set)

    yield make
    for ledger in ledgers:
        ledger.close()


@pytest.fixture
def pg_city(pg_store):
    ledger = pg_store.ledger()
    yield City(ledger)
    ledger.close()


@pytest.fixture
def city_class():
    return City


def _wait_until(predicate, seconds: float = 60.0) -> bool:
    """True once `predicate()` is; False after `seconds` (a hang guard, never a speed limit)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return False


def _views_position(ledger: Ledger) -> int:
    """The log position the ledger's views have committed (what a follower has applied)."""
    from projections import Projector

    probe = Projector(ledger, [], name="views")
    try:
        return probe.store.position("views")
    finally:
        probe.close()


@pytest.fixture
def wait_for():
    return _wait_until


@pytest.fixture
def views_position():
    return _views_position


@pytest.fixture
def many_children():
    """`many_children(ledger, n)`: n children, each of its own household, in one bulk batch."""
    return bulk_children
