"""`plads`: the command line. The composition root: it wires ledger, rules and
(later) projections, the API and the auditor's workbench.

Errors a user can cause print one readable line and exit non-zero.
"""

from __future__ import annotations

import sys
from datetime import date
from typing import Optional

import typer
from pydantic import ValidationError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="plads: an event-sourced daycare booking ledger")
rules_app = typer.Typer(no_args_is_help=True, help="Rule sets: list them, activate one.")
app.add_typer(rules_app, name="rules")

DatabaseOpt = typer.Option(None, "--database", "-d", help="ledger URL (default: $PLADS_DATABASE_URL or sqlite:///plads.db)")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"plads: {message}", err=True)
    raise typer.Exit(code)


@rules_app.command("list")
def rules_list() -> None:
    """List the rule sets this version of plads knows."""
    import rules

    for rule_set_id in rules.list_rule_sets():
        rs = rules.load_rule_set(rule_set_id)
        typer.echo(f"{rule_set_id}\t{rs.policy}\t{rs.title}")


@rules_app.command("activate")
def rules_activate(
    rule_set_id: str = typer.Argument(..., help="e.g. copenhagen-book-en-plads@1"),
    effective_from: str = typer.Option(..., "--from", help="first day the rule set is in force (YYYY-MM-DD)"),
    actor: str = typer.Option("admin", help="who activates it"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Activate a rule set from a date (a RuleSetActivated event)."""
    from ledger import Ledger
    from ledger import commands as c

    command = c.ActivateRuleSet(rule_set_id=rule_set_id, effective_from=_date(effective_from))
    with Ledger(database) as ledger:
        outcome = ledger.execute(command, actor=actor, channel="system")
    typer.echo(f"{outcome.result['rule_set_id']} in force from {outcome.result['effective_from']}")


@app.command()
def demo(
    database: str = typer.Option("sqlite:///plads-demo.db", "--database", "-d", help="where the demo ledger goes"),
) -> None:
    """Run a small scripted scenario end to end and print what the ledger did."""
    from replay.demo import run_demo

    run_demo(database)


@app.command()
def serve(
    database: Optional[str] = DatabaseOpt,
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
) -> None:
    """Start the HTTP API (uvicorn)."""
    import os

    import uvicorn

    if database:
        os.environ["PLADS_DATABASE_URL"] = database
    uvicorn.run("api.app:create_app", factory=True, host=host, port=port)


@app.command()
def project(
    follow: bool = typer.Option(False, "--follow", help="keep following the ledger (poll + LISTEN/NOTIFY on PostgreSQL)"),
    poll: float = typer.Option(1.0, help="seconds between polls when following"),
    page_size: int = typer.Option(5_000, help="notifications per page (one transaction each)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Bring the views up to date with the ledger (once, or following it)."""
    import signal
    import threading

    from ledger import Ledger
    from projections import Projector, all_views

    with Ledger(database) as ledger:
        projector = Projector(ledger, all_views(), page_size=page_size)
        try:
            if not follow:
                n = projector.catch_up()
                typer.echo(f"applied {n} notifications; views at position {projector.position}")
                return
            stop = threading.Event()
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, lambda *_: stop.set())
            typer.echo(f"following the ledger from position {projector.position} (Ctrl-C stops)")
            projector.follow(stop, poll_seconds=poll)
        finally:
            projector.close()


@app.command()
def rebuild(
    database: Optional[str] = DatabaseOpt,
    page_size: int = typer.Option(20_000, help="notifications read per page"),
) -> None:
    """Rebuild every view from position 0 into fresh tables and swap them in."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ledger import Ledger
    from projections import all_views
    from projections import rebuild as run_rebuild

    with Ledger(database) as ledger, Progress(
        "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
        transient=True,
    ) as bar:
        task = bar.add_task("rebuilding views", total=ledger.max_position())
        import time

        started = time.perf_counter()
        position = run_rebuild(ledger, all_views(), page_size=page_size,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
        seconds = time.perf_counter() - started
    rate = position / seconds if seconds > 0 else 0
    typer.echo(f"rebuilt all views to position {position} in {seconds:.1f} s ({rate:,.0f} events/s)")


@app.command()
def verify(database: Optional[str] = DatabaseOpt) -> None:
    """Rebuild into scratch tables and compare with the live views, row by row."""
    from ledger import Ledger
    from projections import all_views
    from projections import verify as run_verify

    with Ledger(database) as ledger:
        drifts = run_verify(ledger, all_views())
    if not drifts:
        typer.echo("no drift: the live views equal a fresh rebuild")
        return
    for d in drifts:
        typer.echo(f"drift in {d.table}: {len(d.missing)} rows missing, {len(d.extra)} extra, "
                   f"{len(d.different)} different; first: {(d.missing + d.extra + d.different)[0]}")
    raise typer.Exit(1)


@app.command()
def export(
    view: str = typer.Argument(..., help="a view table, e.g. occupancy, child_timeline, institutions"),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="file to write (default: VIEW.FORMAT)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Export a view table to CSV or Parquet (brings the views up to date first)."""
    from pathlib import Path

    from ledger import Ledger
    from projections import Projector, all_views
    from projections.export import export_table, exportable

    tables = exportable(all_views())
    if view not in tables:
        _fail(f"unknown view {view!r}; one of: {', '.join(sorted(tables))}", 2)
    if fmt not in ("csv", "parquet"):
        _fail(f"unknown format {fmt!r}; csv or parquet", 2)
    path = Path(output or f"{view}.{fmt}")
    with Ledger(database) as ledger:
        projector = Projector(ledger, all_views())
        try:
            projector.catch_up()
            n = export_table(projector.store, tables[view], fmt, path)
        finally:
            projector.close()
    typer.echo(f"wrote {n} rows of {view} to {path}")


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)", 2)
        raise


def main() -> None:
    from ledger import LedgerError

    try:
        app(standalone_mode=True)
    except LedgerError as e:
        typer.echo(f"plads: {e.detail}", err=True)
        sys.exit(1)
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "input"
        typer.echo(f"plads: invalid {where}: {first.get('msg')}", err=True)
        sys.exit(2)


if __name__ == "__main__":
    main()
