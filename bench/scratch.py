"""A throwaway database for a benchmark: a schema of its own on PLADS_TEST_DATABASE_URL (what
`make bench` sets), dropped afterwards; else a SQLite file in a temporary directory."""

from __future__ import annotations

import os
import tempfile
import uuid
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator


@contextmanager
def scratch_database(tag: str, store: str | None = None) -> Iterator[str]:
    """The URL of an empty database; `store` "postgresql" or "sqlite" (default: PostgreSQL where
    PLADS_TEST_DATABASE_URL is set)."""
    pg = os.environ.get("PLADS_TEST_DATABASE_URL")
    store = store or ("postgresql" if pg else "sqlite")
    if store == "sqlite":
        yield f"sqlite:///{Path(tempfile.mkdtemp()) / f'{tag}.db'}"
        return
    if not pg:
        raise SystemExit("bench: --store postgresql needs PLADS_TEST_DATABASE_URL (run it with `make bench`)")
    schema = f"bench_{tag}_{uuid.uuid4().hex[:8]}"
    try:
        yield f"{pg}{'&' if '?' in pg else '?'}schema={schema}"
    finally:
        import psycopg

        with psycopg.connect(pg, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
