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
