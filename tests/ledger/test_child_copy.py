"""The application hands each command a deep copy of a cached child; the child's own __deepcopy__
copies its registrations, offers and placements entry by entry (a waiting child collects an offer a
month), which must leave the cached child as it was whatever the command's events change."""

import copy
from datetime import date
from uuid import uuid4

from ledger.aggregates import Child

META = {"actor": "test", "channel": "caseworker"}
D = date


def child() -> Child:
    kid = Child(id=uuid4(), household_id=str(uuid4()), birth_date=D(2024, 3, 15), district="Valby",
                municipality_code="101", support_needs=["language"], meta=META)
    kid.register(age_group="nursery", wishes=["a", "b"], need_date=D(2025, 3, 1), registered_on=D(2024, 5, 1),
                 newcomer=False, meta=META)
    kid.offer(offer_id="o1", institution_id="a", age_group="nursery", pool="general", start_date=D(2025, 3, 1),
              expires_on=D(2025, 1, 15), rank=1, priority_basis="waiting list", seed=1, meta=META)
    kid.place(booking_id="b1", institution_id="b", first=D(2025, 3, 1), last=D(2026, 12, 31), meta=META)
    kid.collect_events()
    return kid


def test_a_command_changing_its_copy_leaves_the_cached_child_as_it_was():
    cached = child()
    before = copy.deepcopy(cached.__dict__)  # stdlib deep copy of the plain state, for comparison
    command_copy = copy.deepcopy(cached)
    assert command_copy.__dict__ == cached.__dict__ and command_copy is not cached
    command_copy.accept_offer(offer_id="o1", booking_id="b2", meta=META)
    command_copy.decline_offer(offer_id="o1", need_date=D(2025, 6, 1), meta=META)
    command_copy.change_wishes(age_group="nursery", wishes=["c"], need_date=D(2025, 5, 1), meta=META)
    command_copy.end_placement(booking_id="b1", last=D(2025, 8, 31), meta=META)
    command_copy.place(booking_id="b3", institution_id="a", first=D(2025, 9, 1), last=D(2026, 12, 31), meta=META)
    command_copy.registrations["nursery"]["wishes"].append("d")  # even a change in place of a list
    command_copy.support_needs.append("motor")
    assert cached.__dict__ == before
    assert cached.offers["o1"]["state"] == "open" and cached.placements["b1"][2] == D(2026, 12, 31)
    assert cached.registrations["nursery"]["wishes"] == ["a", "b"] and cached.support_needs == ["language"]
    assert command_copy.version == cached.version + 5 and not cached.collect_events()
