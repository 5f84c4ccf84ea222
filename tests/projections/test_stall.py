"""The projector and an event its views cannot take: the events before it in the same page are
committed, the views stop just before it, and the stop (view, position, error) is recorded in the
store until the views get past it."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import commands as c
from projections import Projector, all_views
from projections.engine import ViewStalled


def test_the_views_stop_just_before_the_event_and_say_which_view_and_where(city, caplog):
    ledger = city.ledger
    inst = city.institution()
    city.household()  # before it
    bad = ledger.execute(c.ChangeCapacity.model_construct(  # past the commands' validation
        institution_id=inst, age_group="nursery", pool="general", seats=10**20, effective_from=date(2025, 2, 1),
        reason=None), actor="intruder", channel="system").position
    city.household()  # after it
    projector = Projector(ledger, all_views())  # one page holds every event
    try:
        with pytest.raises(ViewStalled) as stalled:
            projector.catch_up()
        assert (stalled.value.position, stalled.value.view) == (bad, "occupancy")
        assert stalled.value.status == 503
        assert projector.store.position("views") == bad - 1  # everything before it is in the views
        position, view, error = projector.store.stall("views")
        assert (position, view) == (bad, "occupancy") and ("Overflow" in error or "out of range" in error)
        assert any(f"position {bad}" in r.getMessage() and "occupancy" in r.getMessage() for r in caplog.records)
        # Once the views are past it (here: the position moved by hand, as a mended view would), the stop lifts.
        projector.store.query_write("UPDATE projection_positions SET position = %d WHERE name = 'views'" % bad)
        assert projector.store.stall("views") is None
    finally:
        projector.close()
