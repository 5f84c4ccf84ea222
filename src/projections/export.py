"""Export a view's tables to CSV or Parquet for analysts."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Callable, Sequence

from projections.engine import View
from projections.stores import ViewStore
from projections.tables import BOOL, DATE, INT, TIMESTAMP, Table

# Tables that hold working state only, not for analysts (besides every *_state and *_parts table).
INTERNAL = {"timeline_booking_child", "billing_facts", "budget_facts", "billing_settlement_parts",
            "billing_settlement_part_runs", "statement_line_runs", "statement_runs", "statement_issued_events",
            "budget_parts", "budget_part_runs", "waitinglist_state"}


# A text cell starting with one of these is a formula to a spreadsheet (OWASP "CSV injection").
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def _cell(value: object) -> object:
    """A CSV cell: text that a spreadsheet would run as a formula gets a leading quote (OWASP's
    rule); numbers stay numbers, negative ones too."""
    if value is None:
        return ""
    if hasattr(value, "isoformat"):
        return value.isoformat()
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value


def exportable(views: Sequence[View]) -> dict[str, Table]:
    """The tables analysts read: a view's rows, not the working state it keeps to derive them."""
    return {t.name: t for v in views for table in v.tables for t in (table, *table.views)
            if t.name not in INTERNAL and not t.name.endswith(("_state", "_parts"))}


def export_table(store: ViewStore, table: Table, fmt: str, output: Path,
                 select: Callable[[list[dict]], list[dict]] | None = None) -> int:
    """Write the table's rows (those `select` keeps, e.g. projections.validtime's) sorted by key."""
    rows = list(store.load(table))
    if select is not None:
        rows = select(rows)
    rows.sort(key=lambda r: tuple("" if v is None else str(v) for v in table.key_of(r)))
    if fmt == "csv":
        with output.open("w", newline="", encoding="utf-8") as f:
            writer = csv.writer(f)
            writer.writerow(table.column_names)
            for r in rows:
                writer.writerow([_cell(r[c]) for c in table.column_names])
        return len(rows)
    if fmt == "parquet":
        import pyarrow as pa
        import pyarrow.parquet as pq

        types = {INT: pa.int64(), DATE: pa.date32(), BOOL: pa.bool_(), TIMESTAMP: pa.timestamp("us", tz="UTC")}
        schema = pa.schema([(c, types.get(ty, pa.string())) for c, ty in table.columns])
        columns = {c: [r[c] for r in rows] for c in table.column_names}
        pq.write_table(pa.table(columns, schema=schema), output)
        return len(rows)
    raise ValueError(f"unknown format {fmt!r}: csv or parquet")
