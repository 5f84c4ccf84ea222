"""Decision days and recorded time (SQLite and PostgreSQL)."""

from __future__ import annotations

import uuid
from datetime import date, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from ledger import commands as c
from ledger.aggregates import Household

D = date

CPH = ZoneInfo("Europe/Copenhagen")


class _FixedClock:
    def __init__(self, instant: datetime) -> None:
        self.instant = instant

    def now(self) -> datetime:
        self.instant += timedelta(microseconds=1)
        return self.instant


def test_the_decision_day_is_copenhagens(store, city_class):
    # 22:30 UTC on 31 March is 00:30 on 1 April in Copenhagen (summer time).
    ledger = store.ledger(clock=_FixedClock(datetime(2025, 3, 31, 22, 30, tzinfo=timezone.utc)))
    try:
        city = city_class(ledger)
        inst = city.institution()
        child = city.child(city.household())
        reg = city.run(c.Register(child_id=child, age_group="nursery", wishes=[inst], need_date=D(2025, 9, 1)))
        assert reg["registered_on"] == "2025-04-01"
    finally:
        ledger.close()


def test_recorded_time_rises_with_the_log_when_commits_come_out_of_order(city):
    from ledger.clock import using_clock

    def new_household():
        return Household(id=uuid.uuid4(), municipality_code="101", district="Amager", single_parent=False,
                         children_under_18=1, location=None, meta={"actor": "t"})

    with using_clock(city.ledger.clock):
        first = new_household()  # takes its time first...
        second = new_household()
    city.ledger.save(second)
    city.ledger.save(first)  # ...but commits last
    items = city.ledger.recorder.select_notifications(start=1, limit=1000)
    stamps = [city.ledger.mapper.to_domain_event(n).timestamp for n in items]
    assert stamps == sorted(stamps) and len(set(stamps)) == len(stamps)


def test_a_ledger_opened_again_with_an_earlier_clock_records_after_the_log(store, city_class):
    """Recorded time rises with the log across processes and restarts, not only within one: a
    ledger opened on a store (another API worker, a restart with a clock behind) starts after the
    log's last recorded time."""
    from ledger import SimulatedClock

    first = store.ledger(clock=SimulatedClock(D(2025, 6, 2)))
    city_class(first)
    first.close()
    again = store.ledger(clock=SimulatedClock(D(2025, 1, 6)))  # five months behind the last writer
    try:
        city_class(again).household()
        items = again.recorder.select_notifications(start=1, limit=1000)
        stamps = [again.mapper.to_domain_event(n).timestamp for n in items]
        assert len(items) > 2 and stamps == sorted(stamps) and len(set(stamps)) == len(stamps)
    finally:
        again.close()
