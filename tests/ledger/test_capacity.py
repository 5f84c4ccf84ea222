"""Capacity changes and the checking horizon (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import Conflict, LedgerError
from ledger import commands as c

D = date


def test_a_capacity_rise_is_allowed_while_overrides_exceed_it(city):
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None)
    children = [city.child(city.household()) for _ in range(3)]
    city.book(children[0], inst, D(2025, 3, 1))
    for child in children[1:]:
        city.book(child, inst, D(2025, 3, 1), override=True, reason="special needs, decided by the head")
    # Three seats held on one: raising capacity to two makes nothing worse.
    city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=2, effective_from=D(2025, 4, 1)),
             channel="system")
    with pytest.raises(Conflict, match="cannot drop"):
        city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=1, effective_from=D(2025, 5, 1)),
                 channel="system")


def test_an_institution_forgets_seats_held_only_before_the_checking_horizon(city):
    from ledger.aggregates import Institution

    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None, effective_from=D(2024, 1, 1))
    first = city.child(city.household(), birth=D(2023, 9, 1))  # nursery until 2026-06-30
    city.book(first, inst, D(2024, 3, 1))
    city.ledger.clock.set(D(2030, 1, 7))  # years later: the first booking ended long ago
    later = city.child(city.household(), birth=D(2029, 3, 1))
    city.book(later, inst, D(2029, 10, 1))
    held = city.ledger.get(Institution, inst).reservations
    assert list(held) != [] and all(r["child_id"] == later for r in held.values())
    # Nothing may be decided before the horizon any more.
    with pytest.raises(LedgerError, match="three years back"):
        city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=0, effective_from=D(2025, 1, 1)),
                 channel="system")
