"""`plads`: the command line. The composition root: it wires ledger, rules, projections,
processes, the API and the auditor's workbench. The commands live by what they work on
(`ledger_commands`, `view_commands`, `audit_commands`); importing them registers them on `app`.

Errors a user can cause print one readable line and exit non-zero.
"""

from __future__ import annotations

import os
import sys

import typer
from pydantic import ValidationError

from replay.cli import audit_commands, ledger_commands, view_commands  # noqa: F401 - registers the commands
from replay.cli.common import app


def main() -> None:
    """Run the CLI; every error a user can cause ends as one line on stderr and a non-zero exit
    (set PLADS_DEBUG=1 for the traceback of an unexpected one)."""
    try:
        app(standalone_mode=True)
    except Exception as e:  # noqa: BLE001 - reported as one line below, never swallowed
        if os.environ.get("PLADS_DEBUG"):
            raise
        message, code = _one_line(e)
        typer.echo(f"plads: {message}", err=True)
        sys.exit(code)


def _one_line(e: Exception) -> tuple[str, int]:
    """The readable line and exit code for an error (2: the input, 1: the environment or the ledger)."""
    from ledger import LedgerError

    if isinstance(e, LedgerError):
        return e.detail, 1
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "input"
        return f"invalid {where}: {first.get('msg')}", 2
    if isinstance(e, OSError):  # a missing folder, a full disk, no permission
        return (f"{e.filename}: {e.strerror}" if e.filename and e.strerror else e.strerror or str(e)
                or type(e).__name__), 1
    if isinstance(e, RecursionError):
        return "the input is nested too deeply to read", 2
    if isinstance(e, (ValueError, UnicodeError)):
        return f"invalid input: {str(e).splitlines()[0] if str(e) else type(e).__name__}", 2
    return f"unexpected error ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}); it is a bug: " \
           "run again with PLADS_DEBUG=1 for the traceback", 70
