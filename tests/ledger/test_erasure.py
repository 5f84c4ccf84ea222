"""Issue 21, finding 2: `plads erase ID` on both stores, and the key store an erasure depends on."""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from datetime import date

from ledger import commands as c

CHILD = {"cpr": "070424-1357", "name": "Alma Glemsom", "address": "Udslettet Allé 3"}


def plads(*args, env=None):
    return subprocess.run([sys.executable, "-m", "replay.cli", *args], capture_output=True, text=True,
                          timeout=120, env={**os.environ, **(env or {})})


def _family(store):
    with store.ledger() as ledger:
        run = lambda cmd: ledger.execute(cmd, actor="anna", channel="caseworker").result  # noqa: E731
        run(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=date(2020, 1, 1)))
        hh = run(c.RegisterHousehold(district="Valby"))["id"]
        child = run(c.RegisterChild(household_id=hh, birth_date=date(2024, 4, 7), identifiers=CHILD))["id"]
    return hh, child


def _erasures(store):
    with store.ledger() as ledger:
        events = [ledger.mapper.to_domain_event(n) for n in ledger.recorder.select_notifications(1, 1000)]
    return [(e.person_id, e.meta["actor"], e.meta["reason"]) for e in events if type(e).__name__ == "PersonErased"]


def test_plads_erase(store):
    hh, child = _family(store)
    done = plads("erase", child, "--actor", "ruth", "--ground", "objection", "-d", store.url)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith(f"{child} erased (event at position ")
    again = plads("erase", child, "-d", store.url)
    assert again.returncode == 0 and "already erased" in again.stdout
    erasures = _erasures(store)
    assert erasures == [(child, "ruth", "GDPR art. 17(1)(c): objection")]
    with store.ledger() as ledger:
        assert ledger.registry.get(child) is None

    for args, code, says in [
        ((str(uuid.uuid4()),), 1, "no child or household with id"),
        (("not-a-uuid",), 2, "is not a person id"),
        ((hh, "--ground", "whim"), 2, "is not a ground of erasure"),
    ]:
        failed = plads("erase", *args, "-d", store.url)
        assert failed.returncode == code, failed.stderr
        assert failed.stderr.startswith("plads: ") and failed.stderr.count("\n") == 1 and says in failed.stderr


def test_a_key_store_that_cannot_be_opened_is_one_line(store, tmp_path):
    _, child = _family(store)
    (tmp_path / "a-file").write_text("")
    failed = plads("erase", child, "-d", store.url, env={"PLADS_KEY_STORE": str(tmp_path / "a-file" / "k.db")})
    assert failed.returncode == 1 and failed.stderr.count("\n") == 1
    assert failed.stderr.startswith("plads: cannot open the person key store ")
    assert _erasures(store) == []


def test_an_erasure_with_another_key_store_is_refused_and_records_nothing(store, tmp_path):
    """An erasure run where the person's key is not (another PLADS_KEY_STORE) would leave the key
    behind: it is refused, and nothing is recorded."""
    _, child = _family(store)
    elsewhere = plads("erase", child, "-d", store.url, env={"PLADS_KEY_STORE": str(tmp_path / "other.keys")})
    assert elsewhere.returncode == 1 and elsewhere.stderr.count("\n") == 1
    assert "holds no key for person" in elsewhere.stderr and "PLADS_KEY_STORE" in elsewhere.stderr
    erasures = _erasures(store)
    assert erasures == []
    with store.ledger() as ledger:
        assert ledger.registry.get(child) == CHILD


def test_keys_of_a_ledger_from_before_the_key_store_are_moved_out(store):
    """Ledgers written before the key store kept the keys in the events database: opening one moves
    them into the key store (no identifier lost) and drops the old table."""
    from eventsourcing.cipher import AESCipher

    from ledger.registry import _cipher

    with store.ledger() as ledger:
        key = AESCipher.create_key(32)
        record = _cipher(key).encrypt(b'{"cpr": "070424-1357"}')
        legacy = ledger.registry._legacy_keys  # noqa: SLF001
        blob = "BLOB" if store.kind == "sqlite" else "BYTEA"
        ledger.registry._execute([  # noqa: SLF001 - the old layout, written by hand
            f"CREATE TABLE {legacy} (person_id TEXT PRIMARY KEY, key TEXT NOT NULL)",
            (f"INSERT INTO {legacy} VALUES (%s, %s)", ("p-old", key)),
            (f"INSERT INTO {ledger.registry._persons} VALUES (%s, CAST(%s AS {blob}))",  # noqa: SLF001
             ("p-old", record)),
        ])
    with store.ledger() as ledger:
        assert ledger.registry.get("p-old") == {"cpr": "070424-1357"}
        assert ledger.registry.keys.get("p-old") == key
        if store.kind == "sqlite":
            found = ledger.registry._execute(["SELECT name FROM sqlite_master WHERE name = 'plads_person_keys'"],  # noqa: SLF001
                                             fetch=True)
        else:
            found = [r for r in ledger.registry._execute([("SELECT to_regclass(%s)::text", (legacy,))],  # noqa: SLF001
                                                         fetch=True) if r[0]]
        assert found == []
