"""The aggregates live in the modules of `ledger.aggregates`, but every event and snapshot already
stored names its class as `ledger.aggregates:<Aggregate>[.<Event>]`: each class keeps that module
(TOPIC_MODULE), so old ledgers load and new events are stored under the same topics."""

from __future__ import annotations

import pytest
from eventsourcing.utils import get_topic, resolve_topic

import ledger.aggregates as aggregates
from ledger import events
from ledger.aggregates import LedgerAggregate


def _aggregate_classes() -> list[type]:
    found, todo = [], [LedgerAggregate]
    while todo:
        cls = todo.pop()
        found.append(cls)
        todo.extend(cls.__subclasses__())
    return [c for c in found if c.__name__ in aggregates.__all__]


@pytest.mark.parametrize("cls", _aggregate_classes(), ids=lambda c: c.__name__)
def test_every_aggregate_is_stored_under_the_packages_name(cls):
    assert get_topic(cls) == f"ledger.aggregates:{cls.__qualname__}"
    assert resolve_topic(get_topic(cls)) is cls


def test_every_event_of_the_catalogue_is_stored_under_the_topic_the_log_has_always_used():
    for entry in events.entries():
        cls = getattr(getattr(aggregates, entry.aggregate), entry.event_name)
        assert get_topic(cls) == f"ledger.aggregates:{entry.topic}"
        assert resolve_topic(f"ledger.aggregates:{entry.topic}") is cls
