"""The audits: fairness and budget, printed in a line, written as JSON and one HTML report."""

from __future__ import annotations

from typing import Optional

import typer

from replay.cli.common import (
    DatabaseOpt,
    FromOpt,
    HtmlOpt,
    JsonOpt,
    ToOpt,
    audit_app,
    existing_ledger,
    fail,
    opt_date,
    share,
)


@audit_app.command("fairness")
def audit_fairness(
    start: Optional[str] = FromOpt,
    end: Optional[str] = ToOpt,
    policy: Optional[str] = typer.Option(None, "--policy", help="rule set whose waiting-list order judges priority "
                                                                "(default: the one in force each day)"),
    vs: Optional[str] = typer.Option(None, "--vs", help="counterfactual: re-run the demand under this rule set; "
                                                        "or another ledger's URL, to compare side by side"),
    json_path: Optional[str] = JsonOpt,
    html_path: Optional[str] = HtmlOpt,
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Justified envy, wasted seats, guarantee breaches, waiting days, first choice, siblings."""
    from replay.audit import fairness_audit

    result = _audit(database, lambda ledger: fairness_audit(ledger, start=opt_date(start), end=opt_date(end),
                                                            policy=policy, vs=vs))
    s = result["summary"]
    typer.echo(f"{s['registrations']} registrations, {s['placed']} placed; median waiting "
               f"{s['waiting_days']['median']} days; first choice {share(s['first_choice_share'])}; "
               f"justified envy {s['justified_envy']} ({s['children_with_justified_envy']} children; "
               f"{s['justified_envy_in_system_decisions']} in the system's decisions, "
               f"{s['justified_envy_in_caseworker_decisions']} in caseworkers'); "
               f"wasted seat-months {s['wasted_seat_months']}; guarantee breaches {s['guarantee_breaches']} "
               f"({s['guarantee_days_late']} days late)")
    if "vs" in result:
        for side in ("actual", "alternative"):
            m = result["vs"][side]
            name = result["vs"]["policy" if side == "actual" else "vs"]
            how = "in" if result["vs"].get("kind") == "ledgers" else "replayed under"
            typer.echo(f"{how} {name}: {m['placed']} placed, median waiting {m['waiting_days_median']} days, "
                       f"justified envy {m['justified_envy']}, guarantee breaches {m['guarantee_breaches']}")
    _write_reports(result, json_path, html_path)


@audit_app.command("budget")
def audit_budget(
    start: Optional[str] = FromOpt,
    end: Optional[str] = ToOpt,
    vs: Optional[str] = typer.Option(None, "--vs", help="scenario rule set (e.g. friplads-2024-scale@1, "
                                                        "tariffs-2023@1, or a .toml file)"),
    json_path: Optional[str] = JsonOpt,
    html_path: Optional[str] = HtmlOpt,
    database: Optional[str] = DatabaseOpt,
) -> None:
    """The budget under the rules in force, and with --vs under a scenario, with the difference
    (brings the views up to date first)."""
    from replay.audit import budget_audit

    result = _audit(database, lambda ledger: budget_audit(ledger, start=opt_date(start), end=opt_date(end), vs=vs))
    total = result["actual"]["total"]
    line = f"net municipal cost {total['net_municipal_cost_ore'] / 100:,.0f} kr"
    if "difference" in result:
        diff = result["difference"]["total"]
        line += (f"; under {result['rule_sets']['vs']}: {diff['net_municipal_cost_ore'] / 100:+,.0f} kr "
                 f"(parent payments {diff['parent_payments_ore'] / 100:+,.0f} kr)")
    typer.echo(line)
    _write_reports(result, json_path, html_path)


def _audit(database: Optional[str], run):
    """The audit `run` on the ledger at `database` (which must exist); an audit's error is one line."""
    from ledger import Ledger
    from replay.audit import AuditError

    existing_ledger(database)
    with Ledger(database) as ledger:
        try:
            return run(ledger)
        except AuditError as e:
            fail(str(e), getattr(e, "exit_code", 2))


def _write_reports(result: dict, json_path: Optional[str], html_path: Optional[str]) -> None:
    from replay.audit.report import write_html, write_json

    for path, write in ((json_path, write_json), (html_path, write_html)):
        if not path:
            continue
        try:
            write(result, path)
        except OSError as e:
            fail(f"cannot write the report: {e.strerror}: {e.filename}")
        typer.echo(f"wrote {path}")
