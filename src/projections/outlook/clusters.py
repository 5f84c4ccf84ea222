"""Which cluster each institution belongs to — the one place the forecast asks.

From the history the forecast read (`Institution.ClusterAssigned` up to its cut), so a forecast or a
backtest made as of a past day groups the institutions as the ledger knew them then, and needs no
views built.
"""

from __future__ import annotations

from datetime import date

from projections.occupancy import cluster_on
from projections.outlook.history import History


def cluster_map(history: History, on: date) -> dict[str, str]:
    """institution id → its cluster on `on` (institutions in no cluster left out; empty: none known)."""
    found = {inst: cluster_on(sorted(dated, key=lambda d: d[0]), on) for inst, dated in history.clusters.items()}
    return {inst: cluster for inst, cluster in found.items() if cluster is not None}
