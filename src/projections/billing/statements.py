"""The Billing view: statement lines and totals per household and month; intermunicipal settlement."""

from __future__ import annotations

from typing import Any, Iterable

from projections.billing.derivation import BillingFacts
from projections.billing.household import Result
from projections.billing.tables import (BILLING_STATE, DETAIL_MAX, SETTLEMENT, SETTLEMENT_MEASURES, SETTLEMENT_PARTS,
                                        STATEMENT_LINES, STATEMENTS, Totals, replace_rows, settlement_row,
                                        write_summary)
from projections.tables import Row


def events_text(positions: Iterable[int]) -> str:
    return ",".join(str(p) for p in sorted(set(positions)))


class Billing(BillingFacts):
    """Statement lines and totals per household and month; intermunicipal settlement."""

    name = "billing"
    rebuild_weight = 30  # seconds per 300k events of the synthetic city (the budget linked to it: 10 more)
    state = BILLING_STATE
    tables = (BILLING_STATE, STATEMENT_LINES, STATEMENTS, SETTLEMENT_PARTS, SETTLEMENT)

    OWNED = ("statement_lines", "statements", "billing_settlement_parts")

    def __init__(self) -> None:
        super().__init__()
        self._settle_totals = Totals(SETTLEMENT_MEASURES)

    def _init_kwargs(self) -> dict[str, Any]:
        return {}

    def start(self, store, prefix: str = "") -> None:
        super().start(store, prefix)
        # The summary rows were stored with these totals (summed by the store: the parts stay there).
        self._settle_totals.load(store.group_totals(SETTLEMENT_PARTS, SETTLEMENT.key, SETTLEMENT_MEASURES, prefix))

    def load_households(self, households: list[str], since: str | None = None) -> None:
        for table in self.OWNED:
            self.load_owned(table, households, ("month", since) if since else None)

    def release_households(self, households: list[str]) -> None:
        for table in self.OWNED:
            self.release_owned(table, households)

    def derive_household(self, household: str, res: Result, since: str | None = None) -> None:
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
        parts = {(household,) + key: {
            "household_id": household, "month": key[0], "payer_municipality": key[1],
            "institution_municipality": key[2], "children": len(v.children), "place_days": v.place_days,
            "gross_cost_ore": v.gross_cost_ore, "parent_payment_ore": v.parent_payment_ore}
            for key, v in res.settlement.items()}
        replace_rows(self.sink, self.t["statement_lines"], household, lines, since=since)
        replace_rows(self.sink, self.t["statements"], household, statements, since=since)
        replace_rows(self.sink, self.t["billing_settlement_parts"], household, parts, self._settle_totals, since)

    def derive_end(self, institutions: list[str]) -> None:
        if self.share is None:  # a share holds part of the totals: finish_shards sums them all
            self._settle_totals.write(self.t["intermunicipal_settlement"], settlement_row)

    def finish_shards(self, store, prefix: str) -> None:
        write_summary(store, prefix, SETTLEMENT_PARTS, SETTLEMENT, SETTLEMENT_MEASURES, settlement_row)
