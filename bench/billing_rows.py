"""What the billing views (billing and its linked budget) store for a ledger, and the CPU their
rebuild takes (one process).

Run it on a copy of a ledger (it rebuilds the billing views in the ledger's database), once with
each version of the code to compare; it counts whichever of the tables exist: the month-by-month
names (`statement_lines`, `statements`, `budget_parts`, `billing_settlement_parts`) as tables
(before runs of months), or the runs (and the side table) under the views of those names.

    plads simulate --years 2 --scale 0.03 -d sqlite:///city.db   # bills every month
    cp city.db a.db; cp city.db.keys a.db.keys
    python bench/billing_rows.py sqlite:///a.db
"""

from __future__ import annotations

import sys
import time

from ledger import Ledger
from projections import billing_views, open_store, rebuild

SHOWN = ("statement_lines", "statements", "budget_parts", "billing_settlement_parts")
TABLES = SHOWN + ("statement_line_runs", "statement_runs", "statement_issued_events", "budget_part_runs",
                  "billing_settlement_part_runs")


def main(url: str) -> None:
    with Ledger(url) as ledger:
        started = time.process_time()
        rebuild(ledger, billing_views(), workers=1)
        cpu = time.process_time() - started
        store = open_store(ledger)
        try:
            shown = {name: store.query(f"SELECT COUNT(*) FROM {name}")[0][0] for name in SHOWN}
            stored = {name: store.query(f"SELECT COUNT(*) FROM {name}")[0][0] for name in TABLES
                      if _kind(store, name) == "table"}
        finally:
            store.close()
        print(f"events {ledger.max_position()}  rebuild CPU {cpu:.1f} s  rows stored {stored}  rows shown {shown}")


def _kind(store, name: str) -> str | None:
    if hasattr(store, "relation_kind"):
        return store.relation_kind(name)
    return "table" if name in SHOWN else None  # before runs of months: the tables, no views


if __name__ == "__main__":
    main(sys.argv[1])
