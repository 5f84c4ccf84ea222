"""The person key store: each person's key in a small SQLite file of its own.

The keys are what an erasure destroys (crypto-shredding), so they must live where a deletion
really removes them. Not in the events database: PostgreSQL writes every row to its write-ahead
log first, and a deleted key stays readable in `pg_wal`, in WAL archives and in point-in-time
backups for as long as they are kept. This file runs SQLite's rollback journal (deleted at each
commit) with `secure_delete`, so a deleted key is overwritten with zeros and fsynced, and the
erasure rewrites the file (VACUUM) so no stale copy stays in a page's free space.

Where it lives: `PLADS_KEY_STORE` (a file path), else beside a SQLite ledger (`<file>.keys`), else,
for PostgreSQL, `$XDG_DATA_HOME/plads/keys-<host>-<port>-<db>-<schema>.db` (see docs/storage.md).
"""

from __future__ import annotations

import os
import secrets
import sqlite3
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from ledger.errors import StoreUnavailable
from ledger.storage import StoreConfig


def key_store_path(config: StoreConfig, explicit: str | None = None) -> str:
    """Where this ledger's person keys live (see the module's docstring)."""
    chosen = explicit or os.environ.get("PLADS_KEY_STORE")
    if chosen:
        return chosen
    if config.kind == "sqlite":
        path = config.sqlite_path or ""
        if path.startswith("file:"):  # the shared in-memory ledger of the tests: keys in memory too
            return path.replace("file:plads-", "file:plads-keys-", 1)
        return path + ".keys"
    env = config.env
    data_home = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    name = "-".join([env["POSTGRES_HOST"], env["POSTGRES_PORT"], env["POSTGRES_DBNAME"],
                     env.get("POSTGRES_SCHEMA", "public")])
    return os.path.join(data_home, "plads", f"keys-{name}.db")


class KeyStore:
    """Person id → key (base64 text, or wrapped with CIPHER_KEY). Thread-safe; several processes
    may share the file (SQLite locks it)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        memory = path.startswith("file:")
        try:
            if not memory:
                # Only its owner may read the keys: create the file (and its folder) private.
                Path(path).parent.mkdir(parents=True, exist_ok=True, mode=0o700)
                os.close(os.open(path, os.O_CREAT | os.O_WRONLY, 0o600))
            self._conn = sqlite3.connect(path, uri=memory, check_same_thread=False, isolation_level=None,
                                         timeout=10)
            if not memory:
                # A rollback journal is deleted at commit; a write-ahead log would keep the key's
                # page until a checkpoint that readers in other processes can hold off.
                self._conn.execute("PRAGMA journal_mode=DELETE")
            self._conn.execute("PRAGMA secure_delete=ON")
            self._conn.execute("PRAGMA synchronous=FULL")
            self._conn.execute("CREATE TABLE IF NOT EXISTS person_keys (person_id TEXT PRIMARY KEY, key TEXT NOT NULL)")
            # CPR look-up: a keyed digest of the number → the person. Kept here, not in the events
            # database, so an erasure leaves no digest in a write-ahead log to test guesses against.
            self._conn.execute("CREATE TABLE IF NOT EXISTS person_lookup (digest TEXT PRIMARY KEY, "
                               "person_id TEXT NOT NULL)")
            self._conn.execute("CREATE INDEX IF NOT EXISTS person_lookup_person ON person_lookup (person_id)")
            self._conn.execute("CREATE TABLE IF NOT EXISTS secrets (name TEXT PRIMARY KEY, value TEXT NOT NULL)")
        except (OSError, sqlite3.Error) as e:
            raise StoreUnavailable(f"cannot open the person key store {path}: {e}") from None

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            try:
                self._conn.execute("BEGIN IMMEDIATE")
                try:
                    yield self._conn
                    self._conn.execute("COMMIT")
                except BaseException:
                    self._conn.execute("ROLLBACK")
                    raise
            except sqlite3.Error as e:
                raise StoreUnavailable(f"the person key store is unavailable: {e}") from None

    def put(self, person_id: str, key: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO person_keys (person_id, key) VALUES (?, ?)", (person_id, key))

    def put_missing(self, rows: list[tuple[str, str]]) -> None:
        """Keys moved in from elsewhere (a ledger of the old layout); a key already here wins."""
        with self._transaction() as conn:
            conn.executemany("INSERT OR IGNORE INTO person_keys (person_id, key) VALUES (?, ?)", rows)

    def get(self, person_id: str) -> str | None:
        with self._transaction() as conn:
            row = conn.execute("SELECT key FROM person_keys WHERE person_id = ?", (person_id,)).fetchone()
        return row[0] if row else None

    def secret(self, name: str) -> str:
        """A random secret kept in this file (made on first use)."""
        with self._transaction() as conn:
            conn.execute("INSERT OR IGNORE INTO secrets (name, value) VALUES (?, ?)", (name, secrets.token_hex(32)))
            return conn.execute("SELECT value FROM secrets WHERE name = ?", (name,)).fetchone()[0]

    def index(self, digest: str, person_id: str) -> None:
        with self._transaction() as conn:
            conn.execute("INSERT OR REPLACE INTO person_lookup (digest, person_id) VALUES (?, ?)", (digest, person_id))

    def find(self, digest: str) -> str | None:
        with self._transaction() as conn:
            row = conn.execute("SELECT person_id FROM person_lookup WHERE digest = ?", (digest,)).fetchone()
        return row[0] if row else None

    def delete(self, person_id: str) -> bool:
        """Destroy a key and its look-up: zeroed in their pages (secure_delete), the file rewritten without them."""
        with self._transaction() as conn:
            conn.execute("DELETE FROM person_lookup WHERE person_id = ?", (person_id,))
            found = conn.execute("DELETE FROM person_keys WHERE person_id = ?", (person_id,)).rowcount > 0
        if found:
            with self._lock:
                try:
                    self._conn.execute("VACUUM")
                except sqlite3.Error as e:
                    raise StoreUnavailable(f"the person key store could not be rewritten after an erasure; "
                                           f"erase again: {e}") from None
        return found

    def close(self) -> None:
        self._conn.close()
