"""How a GET reads the views, and the query parameters the reads share.

Every read of a view takes `min_position` (wait until the views include a command's events) or
`as_of` (the views as the ledger knew them at a recorded time: a date means the end of that day in
Copenhagen, a timestamp without an offset is UTC), and `valid_at` (valid time: only the facts in
force on that day, as the ledger knew them at `as_of`, default now; the rule of `plads replay
--valid-at`, projections.validtime). Lists are paginated (`limit`, `offset`).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from typing import Annotated, Any, Iterator, Sequence

from fastapi import Path, Query

from api.views import Views
from ledger import InvalidCommand, Ledger
from ledger import commands as c
from projections import View
from projections import queries as q
from projections.pointintime import position_at
from projections.stores import ViewStore
from projections.tables import Table
from projections.validtime import in_force_on

Limit = Annotated[int, Query(ge=1, le=1000, description="rows per page")]
Offset = Annotated[int, Query(ge=0, le=10**9, description="rows to skip")]
Month = Annotated[str, Path(pattern=c.MONTH_PATTERN, examples=["2025-03"])]
MonthQuery = Annotated[str | None, Query(pattern=c.MONTH_PATTERN, examples=["2025-08"])]
AgeGroup = Annotated[str | None, Query(pattern=r"^(nursery|kindergarten)$")]
# No control characters in free text: PostgreSQL refuses NUL in text, and no stored name holds one.
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"
District = Annotated[str | None, Query(max_length=200, pattern=NO_CONTROL)]
RequiredDistrict = Annotated[str, Query(min_length=1, max_length=200, pattern=NO_CONTROL)]
Cluster = Annotated[str | None, Query(min_length=1, max_length=100, pattern=NO_CONTROL,
                                      description="a cluster's name (klynge)")]

MinPosition = Annotated[int | None, Query(ge=0, le=2**62, description="wait until the views include this "
                                                                        "log position (from a command's answer); "
                                                                        "422 when the log has not reached it (with "
                                                                        "as_of: had not reached it then)")]
# A date, or a timestamp (HH:MM, seconds, fraction, offset optional), 1990 to 2100 like every date.
_TIME = r"([T ]([01][0-9]|2[0-3]):[0-5][0-9](:[0-5][0-9](\.[0-9]{1,6})?)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])?)?"
AS_OF_PATTERN = c.CALENDAR_DAY_PATTERN[:-1] + _TIME + "$"  # a date or a timestamp: no `format` applies
AsOf = Annotated[str | None, Query(max_length=40, pattern=AS_OF_PATTERN,
                                   description="recorded time: YYYY-MM-DD (end of that day, Copenhagen) or an "
                                               "ISO timestamp, 1990 to 2100", examples=["2025-03-31"])]
ValidAt = Annotated[c.SaneDate | None, Query(
    description="valid time: only the facts in force on this day (YYYY-MM-DD, 1990 to 2100), as the ledger "
                "knew them at as_of (default now); a month's rows are in force in that month, a history's "
                "events from their effective date. 422 where the view has no valid time (waiting lists are "
                "ranked on their list date) or the read's own months leave the day out",
    examples=["2025-03-15"])]


def instant(text: str) -> date | datetime:
    try:
        when = date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        raise InvalidCommand(f"as_of {text!r} is neither a date (YYYY-MM-DD) nor an ISO timestamp") from None
    day = when.date() if isinstance(when, datetime) else when
    if not c.FIRST_DAY <= day <= c.LAST_DAY:  # also keeps the end of the day in Copenhagen a datetime
        raise InvalidCommand(f"as_of {text!r} is outside {c.FIRST_DAY} to {c.LAST_DAY}")
    return when


@dataclass(frozen=True)
class ReadAt:
    """Which state of the views a read asks for: recorded time (live, or `as_of`) and valid time."""

    ledger: Ledger
    views: Views
    min_position: int | None = None
    as_of: str | None = None
    valid_at: date | None = None

    @contextmanager
    def store(self, views: Sequence[View]) -> Iterator[tuple[ViewStore, int]]:
        """The store to read (live, or as of a time) and the position it is at."""
        if self.as_of is None:
            with self.views.current(self.min_position) as store:
                yield store, store.position("views")
            return
        when = instant(self.as_of)
        # A read as of a time replays the log itself: it holds every position recorded by then.
        if self.min_position is not None and self.min_position > (recorded := position_at(self.ledger, when)):
            raise InvalidCommand(f"min_position {self.min_position} was not yet recorded at as_of {self.as_of} "
                                 f"(the log was at position {recorded} then)")
        with self.views.as_of(when, views) as store:
            yield store, store.position("views")

    def month(self, month: str | None = None, *, from_month: str | None = None,
              to_month: str | None = None) -> str | None:
        """The month a monthly read keeps: `month`, or with valid_at the month in force on it
        (422 when the read's own months leave that month out, rather than an empty answer)."""
        if self.valid_at is None:
            return month
        in_force = self.valid_at.isoformat()[:7]
        if (month or in_force) != in_force or not (from_month or in_force) <= in_force <= (to_month or in_force):
            asked = month or f"{from_month or '…'} to {to_month or '…'}"
            raise InvalidCommand(f"valid_at {self.valid_at} is in {in_force}, outside the months asked for "
                                 f"({asked})")
        return in_force

    def in_force(self, table: Table, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        """The rows of `table` in force on valid_at (all of them without it)."""
        return rows if self.valid_at is None else in_force_on(table, rows, self.valid_at)

    def timeless(self, why: str) -> None:
        """A read that has no valid time: 422 when valid_at is asked for."""
        if self.valid_at is not None:
            raise InvalidCommand(f"valid_at cannot be served here: {why}")


def page(found: q.Page, position: int) -> dict[str, Any]:
    return {"items": found.items, "total": found.total, "limit": found.limit, "offset": found.offset,
            "position": position}


def sliced(rows: list[Any], limit: int, offset: int, position: int) -> dict[str, Any]:
    """A page of rows a query answers whole."""
    return page(q.Page(rows[offset:offset + limit], len(rows), limit, offset), position)
