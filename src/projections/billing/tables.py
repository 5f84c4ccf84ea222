"""The billing views' tables (docs/views-billing.md) and how their summary rows are made from parts."""

from __future__ import annotations

from typing import Any, Callable, Iterable

import rules

from projections.billing.months import first_of
from projections.billing.runs import Expanded
from projections.stores import ViewStore
from projections.tables import BOOL, INT, TEXT, Keyed, Row, Table

DETAIL_MAX = 300  # what an issued statement line can carry (ledger.commands.StatementLine)

def _state_table(name: str) -> Table:
    return Table(
        name, (("entity", TEXT), ("id", TEXT), ("owner", TEXT), ("month", TEXT), ("data", TEXT)), key=("entity", "id"),
        indexes=(("owner", "entity", "month"),),  # a household's facts; its statements by month
        doc="Working state (JSON per fact): bookings, children, households, friplads decisions, adjustments and "
            "issued statements (owner: the household; month: an issued statement's), and everyone's facts "
            "(owner ''): institutions, billing runs, basis capacity and bookings, the horizon.",
    )


BILLING_STATE = _state_table("billing_facts")
BUDGET_STATE = _state_table("budget_facts")
# Where the working state was kept before it was read per household (no owner column): a store
# holding it there was projected by an older plads and needs `plads rebuild` once.
SUPERSEDED_STATE = {"billing_facts": "billing_state", "budget_facts": "budget_state"}

_LINE_COLUMNS = (("household_id", TEXT), ("month", TEXT), ("line_no", INT), ("kind", TEXT), ("amount_ore", INT),
                 ("child_id", TEXT), ("booking_id", TEXT), ("corrects_month", TEXT), ("detail", TEXT),
                 ("events", TEXT), ("issued", BOOL))
STATEMENT_LINES = Table(
    "statement_lines", _LINE_COLUMNS,
    key=("household_id", "month", "line_no"),
    doc="A household's statement lines per month: fee, lunch, friplads, sibling, adjustment, correction "
        "(of corrects_month). events: the notification positions behind the line. Issued months show "
        "exactly the issued lines. A SQL view: statement_line_runs month by month.",
    select=Expanded("statement_line_runs", tuple(c for c, _ in _LINE_COLUMNS), "statement_issued_events"),
)
STATEMENT_ISSUED_EVENTS = Table(
    "statement_issued_events",
    (("household_id", TEXT), ("month", TEXT), ("events", TEXT)),
    key=("household_id", "month"),
    partition="household_id",
    indexes=(("month",),),  # a month's lines (projections.queries) join that month's rows only
    doc="Per household and issued month: the events its issued lines name (its StatementIssued), the one "
        "thing an issued month's lines do not share with the issued months around it. A run's issued lines "
        "hold no events; the statement_lines view takes the month's from here.",
)
STATEMENT_LINE_RUNS = Table(
    "statement_line_runs",
    (("household_id", TEXT), ("from_month", TEXT), ("line_no", INT), ("to_month", TEXT))
    + tuple(c for c in _LINE_COLUMNS if c[0] not in ("household_id", "month", "line_no")),
    key=("household_id", "from_month", "line_no"),
    partition="household_id",
    indexes=(("to_month", "from_month"),),
    doc="A household's statement lines, one row per run of months (from_month..to_month) with the same "
        "lines; a detail's \\x1f stands for the month's span, an issued line's NULL events for its month's "
        "statement_issued_events.",
    views=(STATEMENT_LINES,),
)
_STATEMENT_COLUMNS = (("household_id", TEXT), ("month", TEXT), ("total_ore", INT), ("issued", BOOL))
STATEMENTS = Table(
    "statements", _STATEMENT_COLUMNS,
    key=("household_id", "month"),
    doc="A household's statement total per month; issued = the issued (immutable) statement. A SQL view: "
        "statement_runs month by month.",
    select=Expanded("statement_runs", tuple(c for c, _ in _STATEMENT_COLUMNS)),
)
STATEMENT_RUNS = Table(
    "statement_runs",
    (("household_id", TEXT), ("from_month", TEXT), ("to_month", TEXT), ("total_ore", INT), ("issued", BOOL)),
    key=("household_id", "from_month"),
    partition="household_id",
    indexes=(("to_month", "from_month"),),
    doc="A household's statement totals, one row per run of months with the same total and issued flag.",
    views=(STATEMENTS,),
)
_SETTLEMENT_PART_COLUMNS = (
    ("household_id", TEXT), ("month", TEXT), ("payer_municipality", TEXT), ("institution_municipality", TEXT),
    ("children", INT), ("place_days", INT), ("gross_cost_ore", INT), ("parent_payment_ore", INT))
SETTLEMENT_PARTS = Table(
    "billing_settlement_parts", _SETTLEMENT_PART_COLUMNS,
    key=("household_id", "month", "payer_municipality", "institution_municipality"),
    doc="Working rows: each household's share of the intermunicipal settlement, per month. A SQL view: "
        "billing_settlement_part_runs month by month.",
    select=Expanded("billing_settlement_part_runs", tuple(c for c, _ in _SETTLEMENT_PART_COLUMNS),
                    per_day=("place_days", "places", "odd_place_days")),
)
SETTLEMENT_PART_RUNS = Table(
    "billing_settlement_part_runs",
    (("household_id", TEXT), ("from_month", TEXT), ("payer_municipality", TEXT), ("institution_municipality", TEXT),
     ("to_month", TEXT), ("children", INT), ("places", INT), ("odd_place_days", INT), ("gross_cost_ore", INT),
     ("parent_payment_ore", INT)),
    key=("household_id", "from_month", "payer_municipality", "institution_municipality"),
    partition="household_id",
    indexes=(("payer_municipality", "institution_municipality", "to_month", "from_month"),),  # a group's (Totals)
    doc="A household's settlement shares, one row per run of months (from_month..to_month) with the same "
        "share; place_days = places × the month's days + odd_place_days (billing.partruns).",
    views=(SETTLEMENT_PARTS,),
)
SETTLEMENT = Table(
    "intermunicipal_settlement",
    (("month", TEXT), ("payer_municipality", TEXT), ("institution_municipality", TEXT), ("children", INT),
     ("place_days", INT), ("gross_cost_ore", INT), ("parent_payment_ore", INT), ("subsidy_ore", INT)),
    key=("month", "payer_municipality", "institution_municipality"),
    derived=True,
    doc="Per month and pair of municipalities: children from payer_municipality placed in institutions of "
        "institution_municipality; subsidy = gross cost - parent payment, owed by the payer.",
    analyst=True,
)
_BUDGET_PART_COLUMNS = (
    ("owner", TEXT), ("month", TEXT), ("district", TEXT), ("seat_days", INT), ("gross_cost_ore", INT),
    ("empty_basis_cost_ore", INT), ("parent_payments_ore", INT), ("friplads_ore", INT), ("sibling_ore", INT),
    ("intermunicipal_in_ore", INT), ("intermunicipal_out_ore", INT))
BUDGET_PARTS = Table(
    "budget_parts", _BUDGET_PART_COLUMNS,
    key=("owner", "month", "district"),
    doc="Working rows: each household's (owner household/ID) or institution's (institution/ID, empty basis "
        "seats) share of the budget, per month. A SQL view: budget_part_runs month by month.",
    select=Expanded("budget_part_runs", tuple(c for c, _ in _BUDGET_PART_COLUMNS),
                    per_day=("seat_days", "seats", "odd_seat_days")),
)
BUDGET_PART_RUNS = Table(
    "budget_part_runs",
    (("owner", TEXT), ("from_month", TEXT), ("district", TEXT), ("to_month", TEXT), ("seats", INT),
     ("odd_seat_days", INT)) + tuple(c for c in _BUDGET_PART_COLUMNS[4:]),
    key=("owner", "from_month", "district"),
    partition="owner",
    indexes=(("district", "to_month", "from_month"),),  # a group's parts of a month (Totals)
    doc="An owner's budget shares, one row per run of months (from_month..to_month) with the same share; "
        "seat_days = seats × the month's days + odd_seat_days (billing.partruns).",
    views=(BUDGET_PARTS,),
)
BUDGET = Table(
    "budget",
    (("month", TEXT), ("district", TEXT), ("seat_days", INT), ("place_months_milli", INT),
     ("gross_cost_ore", INT), ("empty_basis_cost_ore", INT), ("parent_payments_ore", INT),
     ("friplads_cost_ore", INT), ("sibling_cost_ore", INT), ("intermunicipal_in_ore", INT),
     ("intermunicipal_out_ore", INT), ("net_municipal_cost_ore", INT)),
    key=("month", "district"),
    derived=True,
    doc="Per month and district (of the institution): place-months (thousandths), gross operating cost "
        "(booked places plus empty basis seats), parent payments, friplads and sibling cost, intermunicipal "
        "money in (other municipalities' payments for their children here) and out (the home subsidy for our "
        "children elsewhere), net municipal cost (gross - parent payments - money in).",
    analyst=True,
)

SETTLEMENT_MEASURES = ("children", "place_days", "gross_cost_ore", "parent_payment_ore")
BUDGET_MEASURES = ("seat_days", "gross_cost_ore", "empty_basis_cost_ore", "parent_payments_ore", "friplads_ore",
                   "sibling_ore", "intermunicipal_in_ore", "intermunicipal_out_ore")


def settlement_row(group: tuple, parts: list[Row]) -> Row:
    gross = sum(p["gross_cost_ore"] for p in parts)
    parent = sum(p["parent_payment_ore"] for p in parts)
    return {"month": group[0], "payer_municipality": group[1], "institution_municipality": group[2],
            "children": sum(p["children"] for p in parts), "place_days": sum(p["place_days"] for p in parts),
            "gross_cost_ore": gross, "parent_payment_ore": parent, "subsidy_ore": gross - parent}


def part_row(owner: str, key: tuple[str, str], *, seat_days: int = 0, gross: int = 0, empty: int = 0,
              parent: int = 0, friplads: int = 0, sibling: int = 0, money_in: int = 0, money_out: int = 0) -> Row:
    return {"owner": owner, "month": key[0], "district": key[1], "seat_days": seat_days, "gross_cost_ore": gross,
            "empty_basis_cost_ore": empty, "parent_payments_ore": parent, "friplads_ore": friplads,
            "sibling_ore": sibling, "intermunicipal_in_ore": money_in, "intermunicipal_out_ore": money_out}


def budget_row(group: tuple, parts: list[Row]) -> Row:
    month, district = group
    seat_days = sum(p["seat_days"] for p in parts)
    empty = sum(p["empty_basis_cost_ore"] for p in parts)
    gross = sum(p["gross_cost_ore"] for p in parts) + empty
    parent = sum(p["parent_payments_ore"] for p in parts)
    money_in = sum(p["intermunicipal_in_ore"] for p in parts)
    return {"month": month, "district": district, "seat_days": seat_days,
            "place_months_milli": rules.round_half_up(seat_days * 1000, rules.days_in_month(first_of(month))),
            "gross_cost_ore": gross, "empty_basis_cost_ore": empty, "parent_payments_ore": parent,
            "friplads_cost_ore": -sum(p["friplads_ore"] for p in parts),
            "sibling_cost_ore": -sum(p["sibling_ore"] for p in parts),
            "intermunicipal_in_ore": money_in,
            "intermunicipal_out_ore": sum(p["intermunicipal_out_ore"] for p in parts),
            # Another municipality pays for its children here: not this municipality's cost. The
            # subsidy paid out for ours elsewhere is their places' gross cost less the parents' payment.
            "net_municipal_cost_ore": gross - parent - money_in}


class Totals:
    """Running sums of parts per group: a summary row (settlement, budget) is the sum of its
    group's parts, so a changed part moves its group's totals instead of re-summing the group."""

    def __init__(self, measures: tuple[str, ...]) -> None:
        self.measures = measures
        self.sums: dict[tuple, dict[str, int]] = {}
        self.counts: dict[tuple, int] = {}
        self.touched: set[tuple] = set()
        # A live projector: a group's stored totals, read when the group is first touched (summing
        # every group's parts at start would take seconds at city scale).
        self.read: Callable[[tuple], tuple[int, dict[str, int]]] | None = None
        self._read: set[tuple] = set()

    def add(self, group: tuple, part: Row, sign: int = 1) -> None:
        total = self.sums.get(group)
        if total is None and self.read is not None and group not in self._read:
            self._read.add(group)
            count, sums = self.read(group)
            if count:
                total = self.sums[group] = sums
                self.counts[group] = count
        if total is None:
            total = self.sums[group] = dict.fromkeys(self.measures, 0)
            self.counts[group] = 0
        for m in self.measures:
            total[m] += sign * part[m]
        self.counts[group] += sign
        if not self.counts[group]:
            del self.sums[group], self.counts[group]
        self.touched.add(group)

    def start(self, store: Any, parts: Any, prefix: str) -> None:
        """Start from the stored totals of `parts` (billing.partruns.PartRuns): each group's read when
        first touched (a view store), or all of them now (a checkpoint, which holds none)."""
        if isinstance(store, ViewStore):
            self.read = lambda values: parts.group_total(store, values, prefix)
        else:
            self.load(store.group_totals(parts.view, parts.view.key[1:], self.measures, prefix))

    def load(self, groups: Iterable[tuple[tuple, int, dict[str, int]]]) -> None:
        """Start from stored totals: (group, number of parts, sums)."""
        for group, count, sums in groups:
            self.sums[group] = {m: sums[m] for m in self.measures}
            self.counts[group] = count

    def write(self, out: Keyed, make: Callable[[tuple, list[Row]], Row]) -> None:
        """Bring the summary rows of the groups touched since the last write up to date."""
        for group in sorted(self.touched):
            total = self.sums.get(group)
            if total is None:
                if out.get(*group) is not None:
                    out.delete(*group)
            else:
                row = make(group, [total])
                if out.get(*group) != row:
                    out.put(row)
        self.touched = set()


def write_summary(store, prefix: str, parts: Table, summary: Table, measures: tuple[str, ...],
                   make: Callable[[tuple, list[Row]], Row]) -> None:
    """A sharded rebuild's summary rows, from all shares' parts (what Totals gives one process)."""
    store.bulk_insert(summary, [make(group, [sums]) for group, _, sums in
                                store.group_totals(parts, summary.key, measures, prefix)], prefix)


def replace_rows(sink: Callable[[Table, list[Row]], None] | None, table: Keyed, owner: str, rows: dict[tuple, Row],
                 since: str | None = None, since_column: str = "month") -> None:
    """Make `owner`'s rows exactly `rows` (given `since`: its rows whose `since_column` is at least
    `since`). In a rebuild (a sink is set) every owner comes once into fresh tables: the rows
    stream out. (Parts summed into summary rows: billing.partruns.replace_runs.)"""
    if sink is not None:
        sink(table.table, list(rows.values()))
        return
    old = table.owned(owner)
    if since is not None:  # only the months from `since` are replaced
        old = {key for key in old if table.rows[key][since_column] >= since}
    for key in old - set(rows):
        table.delete(*key)
    for key, row in rows.items():
        if table.get(*key) != row:
            table.put(row)
