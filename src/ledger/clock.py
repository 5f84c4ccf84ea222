"""Recorded time: when the ledger learned a fact (UTC), from an injectable clock.

Production uses the system clock; the simulator and history import use a
SimulatedClock so that a ledger built from 2015 history carries 2015 recorded
times. Both are monotonic: a clock never hands out an earlier instant than the
one before it, so recorded time never runs backwards within a process.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from contextvars import ContextVar
from datetime import date, datetime, timedelta, timezone
from typing import Iterator, Protocol
from zoneinfo import ZoneInfo

UTC = timezone.utc
# Days (decision days, "today") are Copenhagen's; instants are UTC.
COPENHAGEN = ZoneInfo("Europe/Copenhagen")


def copenhagen_date(instant: datetime) -> date:
    return instant.astimezone(COPENHAGEN).date()


class Clock(Protocol):
    def now(self) -> datetime: ...


class SystemClock:
    """UTC wall-clock time, never earlier than the last instant it gave."""

    def __init__(self) -> None:
        self._last = datetime.min.replace(tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            t = datetime.now(UTC)
            if t <= self._last:
                t = self._last + timedelta(microseconds=1)
            self._last = t
            return t


class SimulatedClock:
    """A clock the caller moves: `set(day)` or `advance(...)`.

    Each reading ticks one microsecond so that events recorded in one simulated
    instant still have distinct, increasing recorded times.
    """

    def __init__(self, start: datetime | date) -> None:
        self._t = _as_utc(start)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            self._t += timedelta(microseconds=1)
            return self._t

    def set(self, when: datetime | date) -> None:
        with self._lock:
            t = _as_utc(when)
            if t < self._t:
                raise ValueError(f"a simulated clock cannot go back: {t} < {self._t}")
            self._t = t

    def advance(self, delta: timedelta) -> None:
        if delta < timedelta(0):
            raise ValueError("a simulated clock cannot go back")
        with self._lock:
            self._t += delta

    def today(self) -> date:
        return copenhagen_date(self._t)


def _as_utc(when: datetime | date) -> datetime:
    if isinstance(when, datetime):
        return when.astimezone(UTC) if when.tzinfo else when.replace(tzinfo=UTC)
    return datetime(when.year, when.month, when.day, tzinfo=UTC)


# The aggregates' events take their timestamp (recorded time) from the clock of
# the command being handled; outside a command (tests of bare aggregates) the
# system clock is used.
_system_clock = SystemClock()
_current_clock: ContextVar[Clock] = ContextVar("plads_clock", default=_system_clock)


def recorded_now() -> datetime:
    return _current_clock.get().now()


@contextmanager
def using_clock(clock: Clock) -> Iterator[None]:
    token = _current_clock.set(clock)
    try:
        yield
    finally:
        _current_clock.reset(token)
