"""The read side: the projection engine and its views (SQL tables analysts can query)."""

from projections.billing import Billing, Budget, LinkedBudget
from projections.forecast import Forecast
from projections.engine import Envelope, View, on, open_store
from projections.projector import Projector, attach_inline
from projections.rebuilding import ViewsMoved, rebuild, verify
from projections.follower import Follower, Leadership
from projections.occupancy import Occupancy
from projections.timeline import ChildTimeline
from projections.waitinglists import WaitingLists


def all_views() -> list[View]:
    """A fresh instance of every view, in a fixed order."""
    billing = Billing()
    return [Occupancy(), ChildTimeline(), billing, LinkedBudget(billing), WaitingLists(), Forecast()]


def billing_views() -> list[View]:
    """The billing view and the budget derived from its facts (one fold for both)."""
    billing = Billing()
    return [billing, LinkedBudget(billing)]


__all__ = ["Billing", "Budget", "ChildTimeline", "Envelope", "Follower", "Forecast", "Leadership", "LinkedBudget", "Occupancy", "Projector", "View", "ViewsMoved", "WaitingLists", "all_views",
           "attach_inline", "billing_views", "on", "open_store", "rebuild", "verify"]
