"""The read side: the projection engine and its views (SQL tables analysts can query)."""

from projections.billing import Billing, Budget
from projections.forecast import Forecast
from projections.engine import Envelope, Projector, View, attach_inline, open_store, rebuild, verify
from projections.occupancy import Occupancy
from projections.timeline import ChildTimeline
from projections.waitinglists import WaitingLists


def all_views() -> list[View]:
    """A fresh instance of every view, in a fixed order."""
    return [Occupancy(), ChildTimeline(), Billing(), Budget(), WaitingLists(), Forecast()]


__all__ = ["Billing", "Budget", "ChildTimeline", "Envelope", "Forecast", "Occupancy", "Projector", "View", "WaitingLists", "all_views",
           "attach_inline", "open_store", "rebuild", "verify"]
