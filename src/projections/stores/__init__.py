"""Where views live: the ledger's own database (SQLite file or PostgreSQL schema).

A store creates view tables, loads them, and commits one page of view changes
together with the projection's position in a single transaction — the basis of
exactly-once projection. Scratch tables (prefix) serve rebuild and verify.
"""

from projections.stores.base import (ANALYST_ROLE, POSITIONS, STALLS, OlderState, PositionMoved, RowsRefused,
                                     ViewStore, is_outage)
from projections.stores.postgres import PostgresViewStore
from projections.stores.sqlite import SQLiteViewStore

__all__ = ["ANALYST_ROLE", "POSITIONS", "STALLS", "OlderState", "PositionMoved", "PostgresViewStore", "RowsRefused",
           "SQLiteViewStore", "ViewStore", "is_outage"]
