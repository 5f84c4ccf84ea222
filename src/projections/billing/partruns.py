"""The budget's and the settlement's parts stored as runs of months: an owner's consecutive months
whose shares of a group (a district; a pair of municipalities) are the same make one row
(`from_month`, `to_month`), and the SQL views `budget_parts` and `billing_settlement_parts` show
them month by month, as `statement_lines` shows statement_line_runs (billing.runs).

One measure of each counts days: seat_days (budget) and place_days (settlement) are places × the
month's days for a full month, so a place held all year counts 31, 28, 31, 30 ... and no two
months of it would be equal. Such a measure is stored as its quotient and remainder by the
month's days — `seats` and `odd_seat_days`, `places` and `odd_place_days` — and the view (and
`month_row` here) gives back seats × days + odd_seat_days. The encoding is exact for every value;
a full month of the same places is (places, 0) whatever its length, so steady months make one run,
while a month of part days keeps its own numbers (and, its charges being prorated, is a run of its
own anyway). Every other measure is money or a count that a full month does not scale.

The summary rows (`budget` per month and district, `intermunicipal_settlement`) stay one row per
month: a run counts as a part of every month it covers in `Totals`, and `replace_runs` moves the
totals of each month whose part changed (a run cut, extended or changed), not of every month of
each run it rewrites.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Iterable

import rules

from projections.billing.months import first_of, next_month
from projections.billing.runs import Run, month_before, runs_of
from projections.billing.tables import (BUDGET_MEASURES, BUDGET_PART_RUNS, BUDGET_PARTS, SETTLEMENT_MEASURES,
                                        SETTLEMENT_PART_RUNS, SETTLEMENT_PARTS, Totals)
from projections.tables import Keyed, Row, Table


@dataclass(frozen=True)
class PartRuns:
    """How one kind of part is kept as runs: the owner column, the group columns besides the month,
    the measures the parts show, and the measure counted in days with the two columns storing it."""

    view: Table  # the parts month by month (a SQL view)
    runs: Table  # the runs stored
    owner: str
    group: tuple[str, ...]
    measures: tuple[str, ...]

    @property
    def per_day(self) -> tuple[str, str, str]:
        """(shown, whole, odd): the measure counted in days and the columns storing it (the view's)."""
        return self.view.select.per_day  # type: ignore[union-attr]

    @property
    def stored(self) -> tuple[str, ...]:
        """The measures as the runs store them."""
        shown, whole, odd = self.per_day
        return tuple(c for m in self.measures for c in ((whole, odd) if m == shown else (m,)))

    def content(self, month: str, part: Row) -> tuple:
        """A month's part as a run holds it (equal for consecutive months of a run)."""
        shown = self.per_day[0]
        days = rules.days_in_month(first_of(month))
        return tuple(v for m in self.measures for v in (divmod(part[m], days) if m == shown else (part[m],)))

    def shown(self, month: str, stored: dict[str, int]) -> dict[str, int]:
        """The measures a month shows from the stored ones (of a run, or summed over runs)."""
        shown, whole, odd = self.per_day
        days = rules.days_in_month(first_of(month))
        return {m: stored[whole] * days + stored[odd] if m == shown else stored[m] for m in self.measures}

    def run_row(self, owner: str, group: tuple, run: Run) -> Row:
        return {self.owner: owner, "from_month": run.from_month, "to_month": run.to_month,
                **dict(zip(self.group, group)), **dict(zip(self.stored, run.content))}

    def key(self, row: Row) -> tuple:
        return self.runs.key_of(row)

    def month_rows(self, run: Row, since: str | None = None) -> list[Row]:
        """A run's parts month by month (what the view shows of it; given `since`, from that month on)."""
        out, month = [], max(run["from_month"], since or "")
        while month <= run["to_month"]:
            out.append({self.owner: run[self.owner], "month": month, **{g: run[g] for g in self.group},
                        **self.shown(month, run)})
            month = next_month(month)
        return out

    def runs_of(self, owner: str, parts: Iterable[Row], stored: Iterable[Row] = (),
                since: str | None = None) -> dict[tuple, Row]:
        """The owner's runs from its parts (month rows, any order). Given `since` (the parts are of
        the months from it on), each group's stored run holding the month before is cut there and
        continued."""
        series: dict[tuple, list[tuple[str, tuple]]] = {}
        for part in sorted(parts, key=lambda p: p["month"]):
            series.setdefault(tuple(part[g] for g in self.group), []).append(
                (part["month"], self.content(part["month"], part)))
        seeds: dict[tuple, Run] = {}
        if since is not None:
            before = month_before(since)
            for r in stored:
                if r["from_month"] <= before <= r["to_month"]:
                    seeds[tuple(r[g] for g in self.group)] = Run(r["from_month"], before,
                                                                 tuple(r[c] for c in self.stored))
        out: dict[tuple, Row] = {}
        for group in sorted(set(series) | set(seeds)):
            for run in runs_of(series.get(group, ()), seeds.get(group)):
                row = self.run_row(owner, group, run)
                out[self.key(row)] = row
        return out

    def group_total(self, store: Any, values: tuple, prefix: str) -> tuple[int, dict[str, int]]:
        """A summary group's number of parts and sums (values: the month, then the group's columns):
        of the runs holding the month, by the index on the group's columns and to_month."""
        month, rest = values[0], values[1:]
        ph = store.placeholder
        sums = ", ".join(f"CAST(COALESCE(SUM({c}), 0) AS BIGINT)" for c in self.stored)
        where = " AND ".join([f"{g} = {ph}" for g in self.group] + [f"to_month >= {ph}", f"from_month <= {ph}"])
        rec = store.conn.execute(f"SELECT COUNT(*), {sums} FROM {prefix}{self.runs.name} WHERE {where}",
                                 (*rest, month, month)).fetchone()
        return int(rec[0]), self.shown(month, {c: int(v) for c, v in zip(self.stored, rec[1:])})

    def parts_of(self, rows: Iterable[Row], since: str | None = None) -> dict[tuple, Row]:
        """Runs month by month (given `since`, from that month on), keyed as the summary groups
        them: (owner, month, group...)."""
        return {(p[self.owner], p["month"], *(p[g] for g in self.group)): p
                for r in rows for p in self.month_rows(r, since)}


BUDGET_RUNS = PartRuns(BUDGET_PARTS, BUDGET_PART_RUNS, "owner", ("district",), BUDGET_MEASURES)
SETTLEMENT_RUNS = PartRuns(SETTLEMENT_PARTS, SETTLEMENT_PART_RUNS, "household_id",
                           ("payer_municipality", "institution_municipality"), SETTLEMENT_MEASURES)


def replace_runs(sink: Callable[[Table, list[Row]], None] | None, table: Keyed, spec: PartRuns, owner: str,
                 parts: Iterable[Row], totals: Totals, since: str | None = None) -> None:
    """Make `owner`'s runs those of its `parts` (month rows; given `since`, of the months from it
    on: its runs reaching the month before or later are cut there or continued), keeping the
    summary totals of every month in step. In a rebuild (a sink is set) every owner comes once into
    fresh tables: the runs stream out."""
    rows = spec.runs_of(owner, parts, table.owned_rows(owner) if since else (), since)
    if sink is not None:
        sink(table.table, list(rows.values()))
        for key, part in spec.parts_of(rows.values()).items():
            totals.add(key[1:], part)
        return
    old = table.owned(owner)
    if since is not None:
        reach = month_before(since)
        old = {key for key in old if table.rows[key]["to_month"] >= reach}
    gone = [table.rows[key] for key in old if table.rows[key] != rows.get(key)]
    came = [row for key, row in rows.items() if table.get(*key) != row]
    # Only the months whose part differs move the totals (a run extended by a month: that month);
    # given `since`, the months before it are the same in both (a run holding them is cut there).
    before, after = spec.parts_of(gone, since), spec.parts_of(came, since)
    for key in before.keys() | after.keys():
        if before.get(key) != after.get(key):
            if key in before:
                totals.add(key[1:], before[key], -1)
            if key in after:
                totals.add(key[1:], after[key])
    for key in old - set(rows):
        table.delete(*key)
    for row in came:
        table.put(row)
