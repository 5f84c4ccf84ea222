"""A small scripted scenario, run through the real commands on a fresh ledger.

Two institutions in Nørrebro, four households, bookings through self-service
and by a caseworker, a refusal when the self-service share is full, a
cancellation mid-month, an income-based friplads, and March's statements
issued from the billing view as the API issues them (immutable from then on).
"""

from __future__ import annotations

import os
from collections import Counter
from datetime import date

from rich.console import Console
from rich.table import Table

from ledger import Ledger, LedgerError, SimulatedClock
from ledger import commands as c
from processes.billing import BillingViews, issue_month
from projections import queries as q

MONTH = "2025-03"
FAMILIES = {
    "A": dict(income=300_000, children_under_18=2, single=False, births=[date(2022, 5, 10), date(2024, 4, 2)]),
    "B": dict(income=180_000, children_under_18=1, single=True, births=[date(2024, 6, 20)]),
    "C": dict(income=700_000, children_under_18=1, single=False, births=[date(2024, 2, 1)]),
    "D": dict(income=450_000, children_under_18=1, single=False, births=[date(2024, 5, 5)]),
}


def run_demo(database_url: str) -> None:
    if database_url.startswith("sqlite:///"):
        path = database_url[len("sqlite:///"):]
        for suffix in ("", "-wal", "-shm"):
            if os.path.exists(path + suffix):
                os.remove(path + suffix)
    clock = SimulatedClock(date(2025, 1, 6))
    with Ledger(database_url, clock=clock) as ledger:
        demo = _Scenario(ledger, clock, Console())
        demo.console.rule("[bold]plads demo: a small scripted scenario")
        demo.institutions()
        demo.families()
        demo.bookings()
        demo.cancellation()
        demo.billing()
        demo.print_ledger(database_url)


class _Scenario:
    """The scenario's steps, in order, on one ledger (the names of families, children, bookings)."""

    def __init__(self, ledger: Ledger, clock: SimulatedClock, console: Console) -> None:
        self.ledger, self.clock, self.console = ledger, clock, console
        self.households: dict[str, str] = {}
        self.children: dict[str, str] = {}
        self.booked: dict[str, str] = {}

    def run(self, command, channel="caseworker", actor="pladsanviser-anna"):
        return self.ledger.execute(command, actor=actor, channel=channel).result

    def institutions(self) -> None:
        run = self.run
        run(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=date(2025, 1, 1)),
            channel="system", actor="admin")
        self.solsikken = run(c.RegisterInstitution(name="Solsikken", district="Nørrebro", kind="integreret"),
                             channel="system", actor="admin")["id"]
        self.maelkeboetten = run(c.RegisterInstitution(name="Mælkebøtten", district="Nørrebro", kind="vuggestue"),
                                 channel="system", actor="admin")["id"]
        for inst, group, seats in ((self.solsikken, "nursery", 12), (self.solsikken, "kindergarten", 20),
                                   (self.maelkeboetten, "nursery", 5)):
            run(c.ChangeCapacity(institution_id=inst, age_group=group, seats=seats, effective_from=date(2025, 1, 1)),
                channel="system", actor="admin")
        self.console.print("Institutions: Solsikken (integrated, 12 nursery + 20 kindergarten seats), "
                           "Mælkebøtten (nursery, 5 seats; 20 % held for caseworkers = 1 seat)")

    def families(self) -> None:
        for name, f in FAMILIES.items():
            hh = self.run(c.RegisterHousehold(district="Nørrebro", single_parent=f["single"],
                                              children_under_18=f["children_under_18"]))["id"]
            self.households[name] = hh
            decision = self.run(c.DeclareIncome(household_id=hh, annual_income_ore=f["income"] * 100,
                                                effective_from=date(2025, 1, 1)))
            self.console.print(f"Household {name}: income {f['income']:,} kr/year → parents pay "
                               f"{decision['pay_share_percent']} % of the fee (økonomisk friplads scale 2025)")
            for i, birth in enumerate(f["births"]):
                self.children[f"{name}{i + 1}"] = self.run(c.RegisterChild(household_id=hh, birth_date=birth))["id"]

    def book(self, child: str, inst: str, start: date, channel: str) -> None:
        b = self.run(c.BookPlace(child_id=self.children[child], institution_id=inst, start_date=start),
                     channel=channel, actor="parent" if channel == "self_service" else "pladsanviser-anna")
        self.booked[child] = b["id"]
        self.console.print(f"Booked {child} ({channel}) from {b['start_date']} to {b['end_date']}")

    def bookings(self) -> None:
        for child, inst, start in (("A1", self.solsikken, date(2025, 3, 1)), ("A2", self.solsikken, date(2025, 2, 1)),
                                   ("C1", self.maelkeboetten, date(2025, 2, 1)),
                                   ("D1", self.maelkeboetten, date(2025, 2, 1))):
            self.book(child, inst, start, "self_service")
        # Mælkebøtten: 2 of 5 seats taken. Three more families book from April; April's held seat
        # stays free for a caseworker placement until 4 weeks before the month (the fairness principle).
        extra_hh = self.run(c.RegisterHousehold(district="Nørrebro"))["id"]
        for n in range(3):
            kid = self.run(c.RegisterChild(household_id=extra_hh, birth_date=date(2024, 7, 1 + n)))["id"]
            try:
                self.run(c.BookPlace(child_id=kid, institution_id=self.maelkeboetten, start_date=date(2025, 4, 1)),
                         channel="self_service", actor="parent")
                self.console.print("Booked a seat at Mælkebøtten from April through self-service")
            except LedgerError as e:
                self.console.print(f"[yellow]Refused (HTTP {e.status}):[/] {e.detail}")
        # The caseworker's placement takes the held seat.
        self.book("B1", self.maelkeboetten, date(2025, 2, 1), "caseworker")

    def cancellation(self) -> None:
        self.clock.set(date(2025, 3, 3))
        cancel = self.run(c.CancelBooking(booking_id=self.booked["C1"], effective_date=date(2025, 3, 15),
                                          reason="family moves to Aarhus"))
        self.console.print(f"Cancelled C1's booking: last day {cancel['last_day']}")

    def billing(self) -> None:
        self.clock.set(date(2025, 3, 25))
        # March is billed as the API bills a month (processes.billing): what the billing view shows.
        with BillingViews(self.ledger) as views:
            issued = issue_month(self.ledger, MONTH, views, actor="billing", channel="system")
            with views() as store:
                statements = {name: q.statement(store, hh, MONTH) for name, hh in self.households.items()}
            _print_statements(self.console, statements)
            self.console.print(f"Issued {issued['statements']} statements for {MONTH}: total "
                               f"{issued['total_ore'] / 100:,.2f} kr")
            try:
                issue_month(self.ledger, MONTH, views, actor="billing", channel="system")
            except LedgerError as e:
                self.console.print(f"[yellow]Issuing {MONTH} again is refused (HTTP {e.status}):[/] {e.detail}")

    def print_ledger(self, database_url: str) -> None:
        counts = Counter(n.topic.rsplit(".", 1)[-1] for n in self.ledger.recorder.select_notifications(1, 10**6))
        table = Table(title=f"The ledger: {sum(counts.values())} immutable events")
        table.add_column("event")
        table.add_column("count", justify="right")
        for name, count in sorted(counts.items()):
            table.add_row(name, str(count))
        self.console.print(table)
        self.console.print(f"Ledger written to {database_url}.")
        self.console.print("Start the API on it: [bold]PLADS_DATABASE_URL=" + database_url + " plads serve[/]")


def _print_statements(console, statements) -> None:
    table = Table(title=f"Statements for {MONTH} (kr)")
    table.add_column("household")
    table.add_column("line")
    table.add_column("detail")
    table.add_column("amount", justify="right")
    for name, s in statements.items():
        for line in s["lines"]:
            table.add_row(name, line["kind"], line["detail"], f"{line['amount_ore'] / 100:,.2f}")
        table.add_row(name, "[bold]total", "", f"[bold]{s['total_ore'] / 100:,.2f}")
    console.print(table)
