"""The person registry: identifiers (CPR number, name, address) kept out of events.

Events carry pseudonymous ids only (invariant 6). Identifiers live here, each
person's record encrypted with that person's own random AES key. The records sit in
the events database (`plads_persons`); the keys do not: they live in the person key
store (ledger.keystore), outside the events database and its write-ahead log.
Erasure destroys the key (crypto-shredding), so the record left in WAL segments,
WAL archives and backups of the events database can no longer be read.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import sqlite3
import threading
import time
from typing import Any
from uuid import UUID

from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from ledger.errors import Conflict
from ledger.keystore import KeyStore, key_store_path
from ledger.storage import StoreConfig

logger = logging.getLogger("plads.registry")

# Why a person was erased, as the PersonErased event records it: fixed texts, so the event that
# outlives the erasure cannot carry an identifier in free text (GDPR art. 17(1)).
ERASURE_GROUNDS = {
    "request": "GDPR art. 17: the data subject's request",
    "no_longer_necessary": "GDPR art. 17(1)(a): no longer necessary",
    "consent_withdrawn": "GDPR art. 17(1)(b): consent withdrawn",
    "objection": "GDPR art. 17(1)(c): objection",
    "unlawful": "GDPR art. 17(1)(d): unlawfully processed",
    "legal_obligation": "GDPR art. 17(1)(e): legal obligation",
}


def _cipher(key: str) -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": key}))


class PersonRegistry:
    def __init__(self, config: StoreConfig, key_store: str | None = None) -> None:
        self.config = config
        # With CIPHER_KEY set, the per-person keys are themselves encrypted with it, so the
        # key store alone opens no record.
        master = config.env.get("CIPHER_KEY")
        self._master = _cipher(master) if master else None
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        prefix = f"{config.schema}." if config.schema else ""
        self._persons = f"{prefix}plads_persons"
        self._lookups = f"{prefix}plads_person_lookups"
        self._legacy_keys = f"{prefix}plads_person_keys"
        self.keys = KeyStore(key_store_path(config, key_store))
        self._create_tables()
        self._move_legacy_keys()

    # -- connections ------------------------------------------------------------------

    def _create_tables(self) -> None:
        ddl = [f"CREATE TABLE IF NOT EXISTS {self._persons} (person_id TEXT PRIMARY KEY, record BYTEA NOT NULL)",
               # Who looked up a person by CPR number, and when (never the number itself).
               f"CREATE TABLE IF NOT EXISTS {self._lookups} (looked_up_at TEXT NOT NULL, actor TEXT NOT NULL, "
               "person_id TEXT)"]
        if self.config.kind == "sqlite":
            ddl = [s.replace("BYTEA", "BLOB") for s in ddl]
        else:
            ddl = ([f"CREATE SCHEMA IF NOT EXISTS {self.config.schema}"] if self.config.schema else []) + ddl
        self._execute(ddl)

    def _move_legacy_keys(self) -> None:
        """Ledgers written before the key store kept the keys in the events database: move them
        out once (the old WAL segments and backups still hold them; see docs/storage.md)."""
        if self.config.kind == "sqlite":
            found = self._execute([("SELECT name FROM sqlite_master WHERE name = %s", ("plads_person_keys",))],
                                  fetch=True)
        else:
            found = self._execute([("SELECT to_regclass(%s)::text", (self._legacy_keys,))], fetch=True)
            found = [r for r in found if r[0]]
        if not found:
            return
        rows = self._execute([f"SELECT person_id, key FROM {self._legacy_keys}"], fetch=True)
        self.keys.put_missing([(str(p), str(k)) for p, k in rows])
        self._execute([f"DROP TABLE {self._legacy_keys}"])
        self._truncate_sqlite_wal()
        logger.warning("moved %d person keys out of the events database into the key store %s",
                       len(rows), self.keys.path)

    def _connect_sqlite(self) -> sqlite3.Connection:
        if self._sqlite is None:
            path = self.config.sqlite_path or ""
            self._sqlite = sqlite3.connect(
                path, uri=path.startswith("file:"), check_same_thread=False, isolation_level=None
            )
            self._sqlite.execute("PRAGMA secure_delete=ON")
            self._sqlite.execute("PRAGMA busy_timeout=10000")
        return self._sqlite

    def _execute(self, statements: list[str | tuple[str, tuple]], fetch: bool = False) -> list[Any]:
        rows: list[Any] = []
        if self.config.kind == "sqlite":
            with self._lock:
                conn = self._connect_sqlite()
                conn.execute("BEGIN IMMEDIATE")
                try:
                    for s in statements:
                        sql, params = (s, ()) if isinstance(s, str) else s
                        cur = conn.execute(sql.replace("%s", "?"), params)
                        if fetch:
                            rows.extend(cur.fetchall())
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            return rows
        import psycopg

        with psycopg.connect(self.config.postgres_conninfo, autocommit=False) as conn:
            for s in statements:
                sql, params = (s, ()) if isinstance(s, str) else s
                cur = conn.execute(sql, params)
                if fetch and cur.description:
                    rows.extend(cur.fetchall())
            conn.commit()
        return rows

    def _truncate_sqlite_wal(self) -> None:
        """Checkpoint the SQLite ledger's write-ahead log into the file and truncate it."""
        if self.config.kind != "sqlite":
            return
        for _ in range(50):
            with self._lock:
                busy = self._connect_sqlite().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
            if not busy:
                return
            time.sleep(0.05)  # a reader is mid-transaction; it will finish
        logger.warning("the write-ahead log could not be truncated; it will be at the next checkpoint")

    # -- the registry -------------------------------------------------------------------

    def put(self, person_id: UUID | str, identifiers: dict[str, Any]) -> None:
        key = AESCipher.create_key(32)
        record = _cipher(key).encrypt(json.dumps(identifiers, sort_keys=True).encode())
        pid = str(person_id)
        stored_key = key
        if self._master is not None:
            stored_key = "wrapped:" + base64.b64encode(self._master.encrypt(key.encode())).decode()
        # The key first: a record is never left without its key (a key without a record is harmless).
        self.keys.put(pid, stored_key)
        if identifiers.get("cpr"):
            self.keys.index(self._digest(identifiers["cpr"]), pid)
        self._execute(
            [
                (f"DELETE FROM {self._persons} WHERE person_id = %s", (pid,)),
                (f"INSERT INTO {self._persons} (person_id, record) VALUES (%s, %s)", (pid, record)),
            ]
        )

    def _digest(self, cpr: str) -> str:
        """A keyed digest of a CPR number (its ten digits): with CIPHER_KEY set the key derives from it,
        so the key store alone cannot test guesses; else a random secret of the key store."""
        digits = "".join(ch for ch in cpr if ch.isdigit())
        master = self.config.env.get("CIPHER_KEY")
        secret = (hmac.new(master.encode(), b"plads person lookup", hashlib.sha256).hexdigest() if master
                  else self.keys.secret("person-lookup"))
        return hmac.new(secret.encode(), digits.encode(), hashlib.sha256).hexdigest()

    def find(self, cpr: str) -> str | None:
        """The person (child or household id) registered with this CPR number, if any."""
        return self.keys.find(self._digest(cpr))

    def record_lookup(self, actor: str, person_id: str | None, at: str) -> None:
        self._execute([(f"INSERT INTO {self._lookups} (looked_up_at, actor, person_id) VALUES (%s, %s, %s)",
                        (at, actor, person_id))])

    def lookups(self) -> list[tuple[str, str, str | None]]:
        return [tuple(r) for r in self._execute([f"SELECT looked_up_at, actor, person_id FROM {self._lookups} "
                                                 "ORDER BY looked_up_at"], fetch=True)]

    def _record(self, pid: str) -> bytes | None:
        rows = self._execute([(f"SELECT record FROM {self._persons} WHERE person_id = %s", (pid,))], fetch=True)
        return bytes(rows[0][0]) if rows else None

    def _key_missing(self, pid: str) -> Conflict:
        # No path in the message: it reaches API clients.
        return Conflict(f"the person key store holds no key for person {pid}, whose record the ledger holds: it "
                        "is not the key store the person was registered with (set PLADS_KEY_STORE to that one)")

    def get(self, person_id: UUID | str) -> dict[str, Any] | None:
        pid = str(person_id)
        record = self._record(pid)
        if record is None:
            return None
        key = self.keys.get(pid)
        if key is None:
            raise self._key_missing(pid)
        if key.startswith("wrapped:"):
            if self._master is None:
                raise RuntimeError("the person registry's keys are wrapped: open the ledger with its CIPHER_KEY")
            key = self._master.decrypt(base64.b64decode(key[len("wrapped:"):])).decode()
        return json.loads(_cipher(key).decrypt(record))

    def check_erasable(self, person_id: UUID | str) -> None:
        """Refuse an erasure that would not hold: a record whose key is in another key store."""
        pid = str(person_id)
        if self._record(pid) is not None and self.keys.get(pid) is None:
            raise self._key_missing(pid)

    def erase(self, person_id: UUID | str) -> bool:
        """Destroy a person's key and record. The record first: if the key's deletion then fails,
        an erasure sent again still finds the key (never a record left whose key is gone)."""
        pid = str(person_id)
        had_record = self._record(pid) is not None
        self._execute([(f"DELETE FROM {self._persons} WHERE person_id = %s", (pid,))])
        had_key = self.keys.delete(pid)
        if had_record:
            # Only ciphertext, but no reason to leave it in the SQLite ledger's write-ahead log.
            self._truncate_sqlite_wal()
        return had_record or had_key

    def close(self) -> None:
        self.keys.close()
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
