"""Runs of months: a household's consecutive months whose statements are the same, stored as one
row per run (`from_month`, `to_month`) and expanded month by month by SQL views under the
documented names (`statement_lines`, `statements`).

A full month's span in a line's detail (`2025-03-01..2025-03-31 (31/31 days)`) is the only text
that differs between such months: it is stored as TOKEN and the view writes the month's span
back. Free text in the ledger holds no control character (`ledger.text`), so TOKEN is never a
detail's own.

Issued months join runs too. What an issued month's lines show is its issued lines, each naming
the month's StatementIssued in `events`: that position is the only thing that differs from the
issued month before (when the lines are the same), so a run's issued line holds no events (NULL)
and the side table (`statement_issued_events`, one row per household and issued month) holds the
month's. An issued month whose lines differ from its neighbours' (a correction, a change) breaks
the run. What the views show for an issued month is made from the issued statement alone, so
re-deriving it (and re-cutting its run) shows the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable

import rules

from projections.billing.months import first_of, next_month
from projections.tables import Row

TOKEN = "\x1f"  # where a line's detail names its month's full span


def full_month(month: str) -> str:
    """A full month's span as a line's detail names it (rules.household_month_charges)."""
    first = first_of(month)
    last = rules.last_of_month(first)
    return f"{first.isoformat()}..{last.isoformat()} ({last.day}/{last.day} days)"


@dataclass(frozen=True, slots=True)
class Run:
    from_month: str
    to_month: str
    content: Any  # equal contents of consecutive months make one run


def runs_of(months: Iterable[tuple[str, Any]], seed: Run | None = None) -> list[Run]:
    """Consecutive months (ascending) with equal contents as runs, continuing `seed` (the run
    stored before the first of them, if it reaches the month before)."""
    out = [seed] if seed is not None else []
    for month, content in months:
        last = out[-1] if out else None
        if last is not None and last.content == content and next_month(last.to_month) == month:
            out[-1] = Run(last.from_month, month, content)
        else:
            out.append(Run(month, month, content))
    return out


LINE_FIELDS = ("kind", "amount_ore", "child_id", "booking_id", "corrects_month", "detail", "events", "issued")


def issued_events(rows: list[Row]) -> str | None:
    """The events every line of an issued month names (its StatementIssued), if they all name the same."""
    named = {r["events"] for r in rows if r["issued"]}
    return named.pop() if len(named) == 1 and all(r["issued"] for r in rows) else None


def line_content(month: str, rows: list[Row]) -> tuple:
    """A month's lines as a run holds them: the month's span in each detail as TOKEN, an issued
    month's events (the side table's) as NULL."""
    span = _FULL.get(month) or _FULL.setdefault(month, full_month(month))
    shared = issued_events(rows) is not None
    # The fields in LINE_FIELDS' order (every month of every household passes here in a rebuild).
    return tuple((r["kind"], r["amount_ore"], r["child_id"], r["booking_id"], r["corrects_month"],
                  r["detail"].replace(span, TOKEN), None if shared else r["events"], r["issued"]) for r in rows)


_FULL: dict[str, str] = {}  # full_month's, kept


def events_row(household: str, month: str, rows: list[Row]) -> Row | None:
    """The side table's row of an issued month: the events its lines name."""
    shared = issued_events(rows)
    return None if shared is None else {"household_id": household, "month": month, "events": shared}


def line_rows(household: str, run: Run) -> list[Row]:
    return [{"household_id": household, "from_month": run.from_month, "to_month": run.to_month, "line_no": no,
             **dict(zip(LINE_FIELDS, values))} for no, values in enumerate(run.content, 1)]


def line_seed(rows: list[Row], since: str) -> Run | None:
    """The stored run of lines holding the month before `since`, cut there: the months from
    `since` on may continue it."""
    before = month_before(since)
    seed = sorted((r for r in rows if r["from_month"] <= before <= r["to_month"]), key=lambda r: r["line_no"])
    if not seed:
        return None
    return Run(seed[0]["from_month"], before, tuple(tuple(r[f] for f in LINE_FIELDS) for r in seed))


def total_of(content: tuple) -> int:
    """A drafted month's total: the sum of its lines (as a run holds them)."""
    amount = LINE_FIELDS.index("amount_ore")
    return sum(line[amount] for line in content)


def statement_content(total: int, issued: bool) -> tuple:
    return (total, issued)


def statement_row(household: str, run: Run) -> Row:
    total, issued = run.content
    return {"household_id": household, "from_month": run.from_month, "to_month": run.to_month, "total_ore": total,
            "issued": issued}


def statement_seed(rows: list[Row], since: str) -> Run | None:
    """The stored run of statements holding the month before `since`, cut there."""
    before = month_before(since)
    for r in rows:
        if r["from_month"] <= before <= r["to_month"]:
            return Run(r["from_month"], before, statement_content(r["total_ore"], r["issued"]))
    return None


def month_before(month: str) -> str:
    return rules.add_months(first_of(month), -1).isoformat()[:7]


@dataclass(frozen=True)
class Expanded:
    """The SELECT of a SQL view showing a runs table month by month: each run's columns once per
    month from `from_month` to `to_month` (`month` among `columns`), a detail's TOKEN as the month's
    span and, given `events_from` (a side table keyed by household_id and month), a NULL `events`
    as that month's side row's. PostgreSQL expands each run with generate_series, SQLite joins a
    calendar its recursive CTE makes (the months the runs cover). An object, not a closure: tables
    go to a parallel rebuild's processes. Given `per_day` (shown, whole, odd), the column `shown`
    is `whole` times the month's days plus `odd` (billing.partruns)."""

    runs_table: str
    columns: tuple[str, ...]
    events_from: str | None = None
    per_day: tuple[str, str, str] | None = None

    def __call__(self, dialect: str, prefix: str) -> str:
        return self.select(dialect, prefix)[0]

    def select(self, dialect: str, prefix: str, month_param: str | None = None) -> tuple[str, int]:
        """The view's SELECT and how many parameters it takes. Given `month_param` (the driver's
        marker), the rows of that one month only: of the runs holding it (by their index on
        to_month, from_month), and of the side table its rows; every parameter is the month."""
        runs = f"{prefix}{self.runs_table}"
        one = month_param is not None
        if dialect == "postgres":
            day = f"to_date(CAST({month_param} AS text), 'YYYY-MM')" if one else "g.day"
            month = f"CAST({month_param} AS text)" if one else "to_char(g.day, 'YYYY-MM')"
            last = f"({day} + interval '1 month' - interval '1 day')"
            days = f"extract(day from {last})::int::text"
            span = (f"to_char({day}, 'YYYY-MM-DD') || '..' || to_char({last}, 'YYYY-MM-DD') || ' (' || {days} "
                    f"|| '/' || {days} || ' days)'")
            detail = f"replace(r.detail, chr(31), {span}) AS detail"
            month_days = f"extract(day from {last})::int"
            expand = f"{runs} r" if one else (
                f"{runs} r CROSS JOIN LATERAL generate_series(to_date(r.from_month, 'YYYY-MM'), "
                f"to_date(r.to_month, 'YYYY-MM'), interval '1 month') AS g(day)")
            calendar = ""
        else:
            month = month_param if one else "c.month"
            last = f"date({month} || '-01', '+1 month', '-1 day')"
            span = (f"{month} || '-01..' || {last} || ' (' || strftime('%d', {last}) || '/' || strftime('%d', {last}) "
                    f"|| ' days)'")
            detail = f"replace(r.detail, char(31), {span}) AS detail"
            month_days = f"CAST(strftime('%d', {last}) AS INTEGER)"
            calendar = "" if one else (
                f"WITH RECURSIVE calendar(month) AS (SELECT MIN(from_month) FROM {runs} UNION ALL "
                f"SELECT strftime('%Y-%m', month || '-01', '+1 month') FROM calendar "
                f"WHERE month < (SELECT MAX(to_month) FROM {runs})) ")
            expand = f"{runs} r" if one else f"{runs} r JOIN calendar c ON c.month BETWEEN r.from_month AND r.to_month"
        shown = {"month": f"{month} AS month", "detail": detail}
        if self.per_day is not None:
            measure, whole, odd = self.per_day
            shown[measure] = f"r.{whole} * {month_days} + r.{odd} AS {measure}"
        if self.events_from is not None:
            shown["events"] = "COALESCE(r.events, e.events) AS events"
            expand += (f" LEFT JOIN {prefix}{self.events_from} e ON r.events IS NULL "
                       f"AND e.household_id = r.household_id AND e.month = {month}")
        where = f" WHERE r.to_month >= {month_param} AND r.from_month <= {month_param}" if one else ""
        sql = f"{calendar}SELECT {', '.join(shown.get(c, f'r.{c}') for c in self.columns)} FROM {expand}{where}"
        return sql, (sql.count(month_param) if one else 0)
