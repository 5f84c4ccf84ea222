"""The application hands each command a deep copy of a cached institution; the institution's own
__deepcopy__ shares its reservation and capacity entries (cheap at hundreds of reservations),
which is only safe because nothing changes them in place."""

import copy
from datetime import date
from uuid import uuid4

from ledger.aggregates import Institution

META = {"actor": "test", "channel": "system"}


def institution() -> Institution:
    inst = Institution(id=uuid4(), name="Solsikken", district="Valby", kind="integreret", ownership="kommunal",
                       municipality_code="101", location=None, meta=META)
    inst.change_capacity(age_group="nursery", pool="general", seats=10, effective_from=date(2025, 1, 1), meta=META)
    inst.reserve(booking_id="b1", child_id="c1", pool="general",
                 segments=[["nursery", date(2025, 2, 1), date(2026, 6, 30)]], meta=META)
    inst.collect_events()
    return inst


def test_a_command_changing_its_copy_leaves_the_cached_institution_as_it_was():
    cached = institution()
    before = copy.deepcopy(cached.__dict__)  # stdlib deep copy of the plain state, for comparison
    command_copy = copy.deepcopy(cached)
    command_copy.release(booking_id="b1", from_date=date(2025, 6, 1), meta=META)
    command_copy.reserve(booking_id="b2", child_id="c2", pool="general",
                         segments=[["nursery", date(2025, 3, 1), date(2026, 2, 28)]], meta=META)
    command_copy.change_capacity(age_group="nursery", pool="general", seats=12, effective_from=date(2025, 8, 1),
                                 meta=META)
    assert command_copy.seats_held("nursery", "general") == [(date(2025, 2, 1), date(2025, 5, 31)),
                                                           (date(2025, 3, 1), date(2026, 2, 28))]
    assert cached.__dict__ == before
    assert cached.seats_held("nursery", "general") == [(date(2025, 2, 1), date(2026, 6, 30))]
    assert cached.schedule("nursery", "general") == [(date(2025, 1, 1), 10)]
    assert command_copy.version == cached.version + 3 and not cached.collect_events()


def test_a_copy_is_equal_in_state_and_independent_in_its_pending_events():
    cached = institution()
    clone = copy.deepcopy(cached)
    assert clone.__dict__ == cached.__dict__ and clone is not cached
    clone.release(booking_id="b1", from_date=date(2025, 3, 1), meta=META)
    assert len(clone.collect_events()) == 1 and cached.collect_events() == []
