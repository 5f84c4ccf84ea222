"""Issue 21, finding 2: an erasure holds on disk. After it, no file of the database — PostgreSQL's
data directory with `pg_wal`, or the SQLite ledger with its -wal and -shm — nor the key store
holds the person's identifiers or the key that opens their record (as text, raw bytes or hex)."""

from __future__ import annotations

import base64
from datetime import date
from pathlib import Path

import pytest
from eventsourcing.cipher import AESCipher

from ledger import Ledger, SimulatedClock
from ledger import commands as c

CPR = "290187-4521"
NAME = "Ingeborg Quistgaard-Wulff"
ADDRESS = "Zinnsvej 77, 2450 København SV"


def _key_forms(key: str) -> list[bytes]:
    raw = base64.b64decode(key)
    return [key.encode(), raw, raw.hex().encode(), raw.hex().upper().encode()]


def _found(roots: list[Path], needles: dict[str, bytes]) -> dict[str, list[str]]:
    """Which needles occur in which files under the roots (every file, read as bytes)."""
    hits: dict[str, list[str]] = {}
    for root in roots:
        for path in sorted(p for p in root.rglob("*") if p.is_file()):
            data = path.read_bytes()
            for what, needle in needles.items():
                if needle in data:
                    hits.setdefault(what, []).append(str(path.relative_to(root)))
    return hits


@pytest.fixture(params=["sqlite", "postgres"])
def disk(request, tmp_path, monkeypatch):
    """(database URL, the folders that hold the database's files, a CHECKPOINT to run)."""
    monkeypatch.setenv("PLADS_KEY_STORE", str(tmp_path / "keys" / "plads-keys.db"))
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'ledger.db'}", [tmp_path], lambda: None
    cluster = request.getfixturevalue("cluster")

    def checkpoint() -> None:
        import psycopg

        with psycopg.connect(cluster.url, autocommit=True) as conn:
            conn.execute("CHECKPOINT")

    return cluster.url, [Path(cluster.data), tmp_path], checkpoint


def test_nothing_on_disk_identifies_an_erased_person(disk, monkeypatch):
    url, roots, checkpoint = disk
    created: list[str] = []
    original = AESCipher.create_key

    def remember(num_bytes: int) -> str:  # the person keys, as the registry makes them
        key = original(num_bytes)
        created.append(key)
        return key

    monkeypatch.setattr(AESCipher, "create_key", staticmethod(remember))
    with Ledger(url, clock=SimulatedClock(date(2025, 1, 6))) as ledger:
        run = lambda cmd: ledger.execute(cmd, actor="anna", channel="caseworker").result  # noqa: E731
        run(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=date(2020, 1, 1)))
        hh = run(c.RegisterHousehold(district="Valby", payer={"name": "Kept Parent", "cpr": "010180-1111"}))["id"]
        child = run(c.RegisterChild(household_id=hh, birth_date=date(2024, 3, 15),
                                    identifiers={"cpr": CPR, "name": NAME, "address": ADDRESS}))["id"]
        assert len(created) == 2
        key = created[1]
        kept_key = created[0]
        needles = {"cpr": CPR.encode(), "cpr digits": CPR.replace("-", "").encode(), "name": NAME.encode(),
                   "address": ADDRESS.encode()}
        needles |= {f"key {n}": form for n, form in enumerate(_key_forms(key))}
        checkpoint()
        # The grep sees the files: before the erasure the key is on disk (somewhere).
        assert "key 0" in _found(roots, needles)

        ledger.execute(c.ErasePerson(person_id=child, reason="GDPR art. 17"), actor="root", channel="system")
        assert ledger.registry.get(child) is None
        assert ledger.registry.get(hh) == {"name": "Kept Parent", "cpr": "010180-1111"}
        checkpoint()
        assert _found(roots, needles) == {}
        # ... while the key of the person kept is still there (the grep can find a key).
        assert _found(roots, {"kept key": kept_key.encode()}) != {}
