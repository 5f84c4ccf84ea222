"""Where the ledger lives: one URL, `PLADS_DATABASE_URL`.

    sqlite:///relative/or/absolute/path.db   (default: sqlite:///plads.db in the working directory)
    sqlite:///:memory:                        (tests)
    postgresql://user:password@host:5432/dbname?schema=plads

The URL is turned into eventsourcing's environment variables. Options we never
set: POSTGRES_ENABLE_DB_FUNCTIONS (it skips the insert lock; see docs/storage.md).
"""

from __future__ import annotations

import os
import re
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Iterator
from urllib.parse import parse_qs, unquote, urlsplit

from ledger.errors import InvalidCommand, StoreUnavailable

DEFAULT_URL = "sqlite:///plads.db"


@dataclass(frozen=True)
class StoreConfig:
    url: str
    kind: str  # "sqlite" | "postgres"
    env: dict[str, str]
    sqlite_path: str | None = None
    postgres_conninfo: str | None = None
    schema: str | None = None


def database_url(url: str | None = None) -> str:
    return url or os.environ.get("PLADS_DATABASE_URL") or DEFAULT_URL


def parse_database_url(url: str | None = None, cipher_key: str | None = None) -> StoreConfig:
    url = database_url(url)
    parts = urlsplit(url)
    env: dict[str, str] = {"CREATE_TABLE": "y"}
    key = cipher_key if cipher_key is not None else os.environ.get("CIPHER_KEY")
    if key:
        _check_cipher_key(key)
        env["CIPHER_KEY"] = key
        env["CIPHER_TOPIC"] = "eventsourcing.cipher:AESCipher"
    if parts.scheme == "sqlite":
        path = unquote(url[len("sqlite:///"):]) if url.startswith("sqlite:///") else ""
        if not path:
            raise InvalidCommand(f"cannot use database URL {url!r}: write sqlite:///path/to/file.db")
        if path == ":memory:":
            # A shared in-memory database, so every connection of the app sees it.
            path = f"file:plads-{id(env)}?mode=memory&cache=shared"
        env.update({"PERSISTENCE_MODULE": "eventsourcing.sqlite", "SQLITE_DBNAME": path})
        return StoreConfig(url, "sqlite", env, sqlite_path=path)
    if parts.scheme in ("postgres", "postgresql", "postgresql+psycopg"):
        query = parse_qs(parts.query)
        schema = (query.get("schema") or [""])[0]
        dbname = (parts.path or "/").lstrip("/")
        if not dbname or not parts.hostname:
            raise InvalidCommand(
                f"cannot use database URL {_redact(url)!r}: write postgresql://user:pw@host:5432/dbname"
            )
        env.update(
            {
                "PERSISTENCE_MODULE": "ledger.pgstore:Factory",  # fails fast when the server is down
                "POSTGRES_DBNAME": dbname,
                "POSTGRES_HOST": parts.hostname,
                "POSTGRES_PORT": str(parts.port or 5432),
                "POSTGRES_USER": unquote(parts.username or "postgres"),
                "POSTGRES_PASSWORD": unquote(parts.password or ""),
                "POSTGRES_CONNECT_TIMEOUT": (query.get("connect_timeout") or ["3"])[0],
                "POSTGRES_POOL_SIZE": (query.get("pool_size") or ["5"])[0],
                "POSTGRES_MAX_OVERFLOW": (query.get("max_overflow") or ["10"])[0],
                # No ping before every use (one more round trip per statement, ~14 per booking):
                # after an outage the ledger discards the pool's dead connections instead.
                "POSTGRES_PRE_PING": "n",
            }
        )
        if schema:
            # eventsourcing quotes some statements and not others, so only names that
            # PostgreSQL leaves as they are (lower case, unquoted) work throughout.
            if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", schema):
                raise InvalidCommand(
                    f"cannot use schema {schema!r}: write lower-case letters, digits and _ (e.g. schema=plads)"
                )
            env["POSTGRES_SCHEMA"] = schema
        conninfo = _conninfo(parts, dbname)
        return StoreConfig(url, "postgres", env, postgres_conninfo=conninfo, schema=schema or None)
    raise InvalidCommand(
        f"cannot use database URL {_redact(url)!r}: it must start with sqlite:/// or postgresql://"
    )


def _check_cipher_key(key: str) -> None:
    """A clear refusal (not a decoder's traceback) for a CIPHER_KEY that is no AES key."""
    import base64
    import binascii

    try:
        size = len(base64.b64decode(key, validate=True))
    except (binascii.Error, ValueError):
        size = -1
    if size not in (16, 24, 32):
        raise InvalidCommand("CIPHER_KEY is not an AES key: it must be 16, 24 or 32 bytes in base64 "
                             "(make one with: python -c \"from eventsourcing.cipher import AESCipher; "
                             "print(AESCipher.create_key(32))\")")


def _conninfo(parts, dbname: str) -> str:
    from psycopg.conninfo import make_conninfo

    return make_conninfo(
        dbname=dbname,
        host=parts.hostname,
        port=str(parts.port or 5432),
        user=unquote(parts.username or "postgres"),
        password=unquote(parts.password or "") or None,
        connect_timeout="5",
    )


def _redact(url: str) -> str:
    parts = urlsplit(url)
    if parts.password:
        return url.replace(f":{parts.password}@", ":***@")
    return url


_OPENING_LOCK = 0x706C616472  # "plads" - 1: PostgreSQL advisory lock held while a ledger creates its tables


@contextmanager
def opening(store: StoreConfig) -> Iterator[None]:
    """Ledgers opening at once (API workers, a follower, rebuild processes) create the schema, the
    tables and their types one after another: PostgreSQL's catalog refuses concurrent `CREATE …
    IF NOT EXISTS` of one object ("tuple concurrently updated", a duplicate type name)."""
    if store.kind != "postgres":
        yield
        return
    import psycopg

    try:
        conn = psycopg.connect(store.postgres_conninfo, autocommit=True)
    except psycopg.Error as e:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {e}".strip()) from None
    try:
        conn.execute("SELECT pg_advisory_lock(%s)", (_OPENING_LOCK,))
        yield
    finally:
        conn.close()  # the session's advisory lock goes with it


def create_schema(store: StoreConfig) -> None:
    import psycopg
    from psycopg import sql

    try:
        with psycopg.connect(store.postgres_conninfo, autocommit=True) as conn:
            conn.execute(sql.SQL("CREATE SCHEMA IF NOT EXISTS {}").format(sql.Identifier(store.schema)))
    except psycopg.Error as e:
        raise StoreUnavailable(f"cannot reach PostgreSQL: {e}".strip()) from None


def file_identity(store: StoreConfig) -> tuple[int, int] | None:
    """(device, inode) of a SQLite ledger file, (0, 0) when it is missing; None for other stores."""
    if store.kind != "sqlite" or not store.sqlite_path or store.sqlite_path.startswith("file:"):
        return None
    try:
        st = os.stat(store.sqlite_path)
    except FileNotFoundError:
        return (0, 0)
    return (st.st_dev, st.st_ino)
