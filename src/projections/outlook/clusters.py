"""Which cluster each institution belongs to — the one place the forecast asks.

WIRE-IN (lead): the clusters branch adds `institution_clusters(store_or_views, on) -> dict[str, str]`
(institution id → cluster) to a projections module. Once it is merged, make `cluster_map` return
that function's answer; nothing else in the forecast changes (`--by cluster`, `by=cluster` and the
backtest's cluster level all come through here). Until then no cluster is known, and a forecast by
cluster says so.
"""

from __future__ import annotations

from datetime import date
from typing import Any


def cluster_map(store_or_views: Any, on: date) -> dict[str, str]:
    """institution id → cluster on `on` (empty: no clusters known)."""
    return {}
