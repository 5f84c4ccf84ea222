"""The Billing view: statement lines and totals per household and month; intermunicipal settlement."""

from __future__ import annotations

from typing import Any, Iterable

from projections.billing.derivation import BillingFacts
from projections.billing.facts import IssuedStatement
from projections.billing.household import Result, as_issued
from projections.billing.months import next_month
from projections.billing import issued, runs
from projections.billing.extend import Extension, ending_at
from projections.billing.partruns import SETTLEMENT_RUNS, replace_runs
from projections.billing.tables import (BILLING_STATE, DETAIL_MAX, SETTLEMENT, SETTLEMENT_MEASURES, SETTLEMENT_PART_RUNS,
                                        SETTLEMENT_PARTS, STATEMENT_ISSUED_EVENTS, STATEMENT_LINE_RUNS, STATEMENT_RUNS,
                                        Totals, replace_rows, settlement_row, write_summary)
from projections.tables import Row


def events_text(positions: Iterable[int]) -> str:
    return ",".join(str(p) for p in sorted(set(positions)))


class Billing(BillingFacts):
    """Statement lines and totals per household and month; intermunicipal settlement."""

    name = "billing"
    rebuild_weight = 30  # seconds per 300k events of the synthetic city (the budget linked to it: 10 more)
    state = BILLING_STATE
    # The side table before the runs: the statement_lines view over the runs reads it.
    tables = (BILLING_STATE, STATEMENT_ISSUED_EVENTS, STATEMENT_LINE_RUNS, STATEMENT_RUNS, SETTLEMENT_PART_RUNS,
              SETTLEMENT)

    OWNED = ("statement_issued_events", "statement_line_runs", "statement_runs", "billing_settlement_part_runs")

    def __init__(self) -> None:
        super().__init__()
        self._settle_totals = Totals(SETTLEMENT_MEASURES)

    def _init_kwargs(self) -> dict[str, Any]:
        return {}

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        # The summary rows were stored with these totals (summed by the store: the parts stay there).
        self._settle_totals.start(store, SETTLEMENT_RUNS, prefix)

    def load_households(self, households: list[str], since: str | None = None) -> None:
        for table in self.OWNED:
            # Of the runs, those holding the month before `since` too: the months from `since` may continue them.
            start = (("to_month", runs.month_before(since)) if table.endswith("_runs") else ("month", since)) if since else None
            self.load_owned(table, households, start)

    def release_households(self, households: list[str]) -> None:
        for table in self.OWNED:
            self.release_owned(table, households)

    def derive_household(self, household: str, res: Result, since: str | None = None) -> None:
        lines, statements = month_rows(household, res)
        by_month: dict[str, list[Row]] = {}
        for row in lines.values():
            by_month.setdefault(row["month"], []).append(row)
        months = [(m, runs.line_content(m, by_month.get(m, []))) for (_, m) in sorted(statements)]
        issued_events = {(household, m): row for m in sorted(by_month)
                         if (row := runs.events_row(household, m, by_month[m])) is not None}
        heads = [(m, runs.statement_content(s["total_ore"], s["issued"])) for (_, m), s in sorted(statements.items())]
        self.write_months(household, months, heads, issued_events, since)
        replace_runs(self.sink, self.t["billing_settlement_part_runs"], SETTLEMENT_RUNS, household,
                     settlement_parts(household, res), self._settle_totals, since)

    def write_months(self, household: str, months: list[tuple[str, tuple]], heads: list[tuple[str, tuple]],
                     issued_events: dict[tuple, Row], since: str | None = None) -> None:
        """Make the household's statement lines and statements (of the months from `since` on) those
        of its months' contents (ascending, as runs hold them), continuing the runs stored before."""
        line_runs, statement_runs = self.t["statement_line_runs"], self.t["statement_runs"]
        stored_lines = line_runs.owned_rows(household) if since else []
        stored_statements = statement_runs.owned_rows(household) if since else []
        line_rows: dict[tuple, Row] = {}
        for run in runs.runs_of(months, runs.line_seed(stored_lines, since) if since else None):
            line_rows.update({(household, r["from_month"], r["line_no"]): r for r in runs.line_rows(household, run)})
        statement_rows = {}
        for run in runs.runs_of(heads, runs.statement_seed(stored_statements, since) if since else None):
            statement_rows[(household, run.from_month)] = runs.statement_row(household, run)
        # The runs holding the month before `since` are cut there, or continued: replaced too.
        reach = runs.month_before(since) if since else None
        replace_rows(self.sink, self.t["statement_issued_events"], household, issued_events, since=since)
        replace_rows(self.sink, line_runs, household, line_rows, since=reach, since_column="to_month")
        replace_rows(self.sink, statement_runs, household, statement_rows, since=reach, since_column="to_month")

    def issue_as_drafted(self, household: str, month: str, statement: IssuedStatement) -> bool:
        """Whether the statement has the lines stored as the month's draft; if so, the month's rows
        are made those of the issued statement (billing.issued)."""
        lines, statements = month_rows(household, Result(shown={month: as_issued(statement)}))
        return issued.write_as_issued(self, household, month, list(lines.values()), statements[(household, month)])

    def runs_ending(self, household: str, old: str) -> list[Extension] | None:
        line_runs, statement_runs = self.t["statement_line_runs"], self.t["statement_runs"]
        lines, heads = ending_at(line_runs, household, old), ending_at(statement_runs, household, old)
        parts = ending_at(self.t["billing_settlement_part_runs"], household, old)
        if lines is None or heads is None or parts is None or len(heads) != 1 or not lines:
            return None
        if any(r["month"] > old for r in self.t["statement_issued_events"].owned_rows(household)):
            return None  # a month after OLD issued
        settlement = Extension(self.t["billing_settlement_part_runs"], parts, SETTLEMENT_RUNS, self._settle_totals)
        if heads[0]["issued"]:  # OLD issued as drafted: the months after it begin a run of its draft
            drafted = self.held.get(household).drafted
            if drafted is None or drafted.month != old or not all(r["issued"] for r in lines):
                return None
            kind = runs.LINE_FIELDS.index("kind")
            if not _due_alone(line[kind] for line in drafted.lines):
                return None
            begins = runs.Run(next_month(old), next_month(old), drafted.lines)
            head = runs.Run(begins.from_month, begins.to_month, runs.statement_content(runs.total_of(drafted.lines),
                                                                                        False))
            return [Extension(line_runs, runs.line_rows(household, begins)),
                    Extension(statement_runs, [runs.statement_row(household, head)]), settlement]
        if any(r["issued"] for r in lines) or not _due_alone(r["kind"] for r in lines):
            return None  # OLD drafted: of what is due alone
        return [Extension(line_runs, lines), Extension(statement_runs, heads), settlement]

    def takes_issued(self) -> bool:
        # The live view: a rebuild (a sink) derives once at the end anyway.
        return self.sink is None and self.scenario is None and not self.months_apart and self.share is None

    def stored_corrections(self, households: list[str]) -> dict[str, str | None]:
        # Every correction a derivation finds is drafted on the statement after the latest issued
        # month: its unissued correction lines name each month that needs one.
        if self.owned_store is None or not self.takes_issued():
            return {}
        out: dict[str, str | None] = dict.fromkeys(households)
        p = self.owned_store.placeholder
        for i in range(0, len(households), 500):
            chunk = households[i:i + 500]
            out.update(self.owned_store.query(
                f"SELECT household_id, MIN(corrects_month) FROM {self._owned_prefix}statement_line_runs "
                f"WHERE kind = 'correction' AND issued = {p} AND household_id IN ({', '.join([p] * len(chunk))}) "
                "GROUP BY household_id", (False, *chunk)))
        return out

    def billed_in(self, month: str) -> set[str]:
        """The households with a statement for the month as stored (drafted or issued)."""
        found = {r["household_id"] for r in self.t["statement_runs"].rows.values()
                 if r["from_month"] <= month <= r["to_month"]}
        if self.owned_store is not None:
            p = self.owned_store.placeholder
            found.update(h for (h,) in self.owned_store.query(
                f"SELECT DISTINCT household_id FROM {self._owned_prefix}statement_runs "
                f"WHERE to_month >= {p} AND from_month <= {p}", (month, month)))
        return found

    def derive_end(self, institutions: list[str]) -> None:
        if self.share is None:  # a share holds part of the totals: finish_shards sums them all
            self._settle_totals.write(self.t["intermunicipal_settlement"], settlement_row)

    def finish_shards(self, store, prefix: str) -> None:
        write_summary(store, prefix, SETTLEMENT_PARTS, SETTLEMENT, SETTLEMENT_MEASURES, settlement_row)


def _due_alone(kinds: Iterable[str]) -> bool:
    """Whether a month's lines (their kinds) are what is due alone: no correction, and no gap line
    (whose detail names the month, so never equal from month to month)."""
    return not any(kind in ("correction", "gap") for kind in kinds)


def settlement_parts(household: str, res: Result) -> list[Row]:
    """The household's shares of the settlement month by month (the rows the SQL view shows)."""
    return [{"household_id": household, "month": key[0], "payer_municipality": key[1],
             "institution_municipality": key[2], "children": len(v.children), "place_days": v.place_days,
             "gross_cost_ore": v.gross_cost_ore, "parent_payment_ore": v.parent_payment_ore}
            for key, v in res.settlement.items()]


def month_rows(household: str, res: Result) -> tuple[dict[tuple, Row], dict[tuple, Row]]:
    """The household's statement lines and statements month by month (the rows the SQL views show)."""
    lines: dict[tuple, Row] = {}
    statements: dict[tuple, Row] = {}
    for month, shown in sorted(res.shown.items()):
        for no, line in enumerate(shown.lines, 1):
            lines[(household, month, no)] = {
                "household_id": household, "month": month, "line_no": no, "kind": line.kind,
                "amount_ore": line.amount_ore, "child_id": line.child_id, "booking_id": line.booking_id,
                "corrects_month": line.corrects_month, "detail": line.detail[:DETAIL_MAX],
                "events": events_text(line.events), "issued": shown.issued}
        total = shown.issued_total if shown.issued else sum(line.amount_ore for line in shown.lines)
        statements[(household, month)] = {"household_id": household, "month": month, "total_ore": total,
                                          "issued": shown.issued}
    return lines, statements
