"""The person registry: identifiers (CPR number, name, address) kept out of events.

Events carry pseudonymous ids only (invariant 6). Identifiers live here, each
person's record encrypted with that person's own random AES key. Erasure deletes
the record and the key (crypto-shredding), so the identifiers are unrecoverable
even from backups of the events; SQLite runs with secure_delete and PostgreSQL
vacuums the tables after an erasure so no dead row keeps the bytes.
"""

from __future__ import annotations

import base64
import json
import logging
import sqlite3
import threading
import time
from typing import Any
from uuid import UUID

from eventsourcing.cipher import AESCipher
from eventsourcing.utils import Environment

from ledger.storage import StoreConfig

logger = logging.getLogger("plads.registry")


def _cipher(key: str) -> AESCipher:
    return AESCipher(Environment(env={"CIPHER_KEY": key}))


class PersonRegistry:
    def __init__(self, config: StoreConfig) -> None:
        self.config = config
        # With CIPHER_KEY set, the per-person keys are themselves encrypted with it, so the
        # database alone opens no record.
        master = config.env.get("CIPHER_KEY")
        self._master = _cipher(master) if master else None
        self._lock = threading.Lock()
        self._sqlite: sqlite3.Connection | None = None
        self._pool = None
        prefix = f"{config.schema}." if config.schema else ""
        self._persons = f"{prefix}plads_persons"
        self._keys = f"{prefix}plads_person_keys"
        self._create_tables()

    # -- connections ------------------------------------------------------------------

    def _create_tables(self) -> None:
        ddl = [
            f"CREATE TABLE IF NOT EXISTS {self._keys} (person_id TEXT PRIMARY KEY, key TEXT NOT NULL)",
            f"CREATE TABLE IF NOT EXISTS {self._persons} (person_id TEXT PRIMARY KEY, record BYTEA NOT NULL)",
        ]
        if self.config.kind == "sqlite":
            ddl = [s.replace("BYTEA", "BLOB") for s in ddl]
        else:
            ddl = ([f"CREATE SCHEMA IF NOT EXISTS {self.config.schema}"] if self.config.schema else []) + ddl
        self._execute(ddl)

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

    # -- the registry -------------------------------------------------------------------

    def put(self, person_id: UUID | str, identifiers: dict[str, Any]) -> None:
        key = AESCipher.create_key(32)
        record = _cipher(key).encrypt(json.dumps(identifiers, sort_keys=True).encode())
        pid = str(person_id)
        stored_key = key
        if self._master is not None:
            stored_key = "wrapped:" + base64.b64encode(self._master.encrypt(key.encode())).decode()
        self._execute(
            [
                (f"DELETE FROM {self._keys} WHERE person_id = %s", (pid,)),
                (f"DELETE FROM {self._persons} WHERE person_id = %s", (pid,)),
                (f"INSERT INTO {self._keys} (person_id, key) VALUES (%s, %s)", (pid, stored_key)),
                (f"INSERT INTO {self._persons} (person_id, record) VALUES (%s, %s)", (pid, record)),
            ]
        )

    def get(self, person_id: UUID | str) -> dict[str, Any] | None:
        pid = str(person_id)
        rows = self._execute(
            [
                (
                    f"SELECT k.key, p.record FROM {self._keys} k JOIN {self._persons} p "
                    f"ON p.person_id = k.person_id WHERE k.person_id = %s",
                    (pid,),
                )
            ],
            fetch=True,
        )
        if not rows:
            return None
        key, record = rows[0]
        if key.startswith("wrapped:"):
            if self._master is None:
                raise RuntimeError("the person registry's keys are wrapped: open the ledger with its CIPHER_KEY")
            key = self._master.decrypt(base64.b64decode(key[len("wrapped:"):])).decode()
        return json.loads(_cipher(key).decrypt(bytes(record)))

    def erase(self, person_id: UUID | str) -> bool:
        pid = str(person_id)
        existed = self.get(pid) is not None
        self._execute(
            [
                (f"DELETE FROM {self._keys} WHERE person_id = %s", (pid,)),
                (f"DELETE FROM {self._persons} WHERE person_id = %s", (pid,)),
            ]
        )
        if self.config.kind == "sqlite":
            # secure_delete zeroes the rows, but the write-ahead log still holds the pages as
            # they were: checkpoint it into the file and truncate it.
            for _ in range(50):
                with self._lock:
                    busy = self._connect_sqlite().execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0]
                if not busy:
                    break
                time.sleep(0.05)  # a reader is mid-transaction; it will finish
            else:
                logger.warning("the write-ahead log could not be truncated after an erasure; it will be at the "
                               "next checkpoint")
        if self.config.kind == "postgres":
            import psycopg

            # VACUUM cannot run in a transaction; it removes the dead rows' bytes.
            with psycopg.connect(self.config.postgres_conninfo, autocommit=True) as conn:
                conn.execute(f"VACUUM {self._keys}")
                conn.execute(f"VACUUM {self._persons}")
        return existed

    def close(self) -> None:
        if self._sqlite is not None:
            self._sqlite.close()
            self._sqlite = None
