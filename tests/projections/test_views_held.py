"""Every view's working state lives in the view store: a live follower reads what a page needs and
holds at most a bound of it (children, institutions' seats) between pages, starting with nothing
that grows with the city — on SQLite and PostgreSQL. What it writes, across restarts, equals a
rebuild (which folds in memory), and point-in-time replay from its checkpoints equals what it showed."""

from datetime import date

import pytest

from projections import Forecast, Occupancy, Projector, WaitingLists, all_views, verify
from projections.billing.fold import FactsFold
from projections.pointintime import views_as_of
from replay.simulate import simulate

# Tables a view may load whole at start: they grow with institutions, not with children or bookings
# (billing's everyone's facts and summary rows are its own test's: test_billing_working).
SMALL = {"institutions", "institution_capacity", "institution_clusters"}
PER_PERSON_VIEWS = ("occupancy", "timeline", "waitinglists", "forecast")


@pytest.fixture
def held_to_one(monkeypatch):
    for view in (Forecast, Occupancy, WaitingLists):
        monkeypatch.setattr(view, "cache_bound", 1)
    monkeypatch.setattr(FactsFold, "cache_bound", 2)


def _held(projector: Projector) -> dict[str, int]:
    """Rows held in memory by the views that keep per-person state, per table (none: empty)."""
    return {f"{v.name}.{name}": len(keyed.rows) for v in projector.views if v.name in PER_PERSON_VIEWS
            for name, keyed in v.t.items() if keyed.rows and name not in SMALL}


def _owners_held(projector: Projector) -> dict[str, int]:
    """Institutions (occupancy) and children (waiting lists, forecast) held between pages."""
    found = {}
    for v in projector.views:
        if isinstance(v, Occupancy):
            found[v.name] = len(v._spans)
        elif isinstance(v, WaitingLists):
            found[v.name] = len(v.working.children)
        elif isinstance(v, Forecast):
            found[v.name] = len(v.children)
    return found


def _nonempty(index):
    return {key: ids for key, ids in index.items() if ids}


def _snapshot(store, views):
    return {t.name: store.checksums(t) for v in views for t in v.tables}


def test_a_follower_holding_one_of_each_writes_what_a_rebuild_writes(store, held_to_one):
    ledger = store.ledger(date(2025, 1, 1))
    try:
        simulate(ledger, years=1, scale=0.01, seed=5, policy="waitinglist")
        end = ledger.max_position()
        live = Projector(ledger, all_views(), page_size=97, checkpoint_every=end // 3)
        live.catch_up(until=end // 2)
        assert _held(live) == {}
        live.close()
        live = Projector(ledger, all_views(), page_size=61)  # a restart reads nothing whole
        assert _held(live) == {} and _owners_held(live) == {"occupancy": 0, "waitinglists": 0, "forecast": 0}
        live.catch_up()
        assert _held(live) == {}
        assert all(n <= 1 for n in _owners_held(live).values())
        assert verify(ledger, all_views()) == []
        lists = next(v for v in live.views if isinstance(v, WaitingLists))
        members = (_nonempty(lists.working.wishers), _nonempty(lists.working.members))
        assert members[0] and members[1]
        live.close()
        # A store written before the lists' members were kept as rows: read whole once, then kept.
        older = Projector(ledger, all_views())
        older.store.query_write("DELETE FROM waitinglist_state WHERE entity IN ('wishers', 'members', 'household', 'index')")
        older.close()
        live = Projector(ledger, all_views())
        lists = next(v for v in live.views if isinstance(v, WaitingLists))
        assert (_nonempty(lists.working.wishers), _nonempty(lists.working.members)) == members
        live.close()
    finally:
        ledger.close()


def test_replay_from_a_bounded_followers_checkpoints_equals_what_it_showed(store, held_to_one):
    ledger = store.ledger(date(2025, 1, 1))
    try:
        simulate(ledger, years=0.5, scale=0.01, seed=6, policy="waitinglist")
        end = ledger.max_position()
        live = Projector(ledger, all_views(), page_size=53, checkpoint_every=end // 4)
        live.catch_up(until=end * 2 // 3)
        position = live.position
        shown = _snapshot(live.store, live.views)
        live.close()
        with views_as_of(ledger, position) as past:
            assert past.position("views") == position
            assert _snapshot(past, all_views()) == shown
    finally:
        ledger.close()
