"""What the commands share: the `plads` app and its groups, the common options, and the checks
that turn bad input into one readable line."""

from __future__ import annotations

from datetime import date
from typing import Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="plads: an event-sourced daycare booking ledger")
rules_app = typer.Typer(no_args_is_help=True, help="Rule sets: list them, activate one.")
app.add_typer(rules_app, name="rules")
audit_app = typer.Typer(no_args_is_help=True, help="Audits: fairness and budget, as JSON and one HTML report.")
app.add_typer(audit_app, name="audit")
billing_app = typer.Typer(no_args_is_help=True, help="Billing: issue a month's statements.")
app.add_typer(billing_app, name="billing")

DatabaseOpt = typer.Option(None, "--database", "-d", help="ledger URL (default: $PLADS_DATABASE_URL or sqlite:///plads.db)")
FromOpt = typer.Option(None, "--from", help="first day of the period (YYYY-MM-DD; default: the whole history)")
ToOpt = typer.Option(None, "--to", help="last day of the period (YYYY-MM-DD; default: the ledger's last day)")
JsonOpt = typer.Option(None, "--json", help="write the result as JSON to this file")
HtmlOpt = typer.Option(None, "--html", help="write the report as one self-contained HTML file")
MonthOpt = typer.Option(..., "--month", help="the month, YYYY-MM")


def fail(message: str, code: int = 1) -> None:
    typer.echo(f"plads: {message}", err=True)
    raise typer.Exit(code)


def check_month(text: str) -> None:
    import re

    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text):
        fail(f"{text!r} is not a month (YYYY-MM)", 2)


def existing_ledger(database: Optional[str]) -> None:
    """Reading commands (audit, replay, export) open a ledger that is there: a SQLite path that
    does not exist is an error, not a new empty ledger."""
    from pathlib import Path

    from ledger.storage import parse_database_url

    store = parse_database_url(database)
    if store.kind == "sqlite" and not store.sqlite_path.startswith("file:") and not Path(store.sqlite_path).is_file():
        fail(f"no ledger at {store.url}: the file does not exist (plads simulate, plads import or plads demo "
              f"make one)", 1)


def before_history(ledger, as_of: str) -> None:
    """One line saying when the history starts, for a recorded time before it."""
    from projections.engine import LogReader

    first = LogReader(ledger, ()).recorded_at(1)
    if first is None:
        fail("the ledger is empty: there is no history to replay", 1)
    fail(f"nothing was recorded by {as_of}: the history starts {first[1]:%Y-%m-%d %H:%M:%S} UTC", 1)


def share(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def opt_date(text: Optional[str]) -> Optional[date]:
    return None if text is None else parse_date(text)


def exportable_table(view: str, fmt: str):
    """The view table to write, or one readable line and exit 2."""
    from projections import all_views
    from projections.export import exportable

    tables = exportable(all_views())
    if view not in tables:
        fail(f"unknown view {view!r}; one of: {', '.join(sorted(tables))}", 2)
    if fmt not in ("csv", "parquet"):
        fail(f"unknown format {fmt!r}; csv or parquet", 2)
    return tables[view]


def parse_instant(text: str):
    from datetime import datetime

    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO timestamp", 2)
        raise


def parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{text!r} is not a date (YYYY-MM-DD)", 2)
        raise
