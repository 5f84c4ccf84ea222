"""`plads`: the command line. The composition root: it wires ledger, rules and
(later) projections, the API and the auditor's workbench.

Errors a user can cause print one readable line and exit non-zero.
"""

from __future__ import annotations

import os
import sys
from datetime import date
from typing import Optional

import typer
from pydantic import ValidationError

app = typer.Typer(add_completion=False, no_args_is_help=True, pretty_exceptions_enable=False, help="plads: an event-sourced daycare booking ledger")
rules_app = typer.Typer(no_args_is_help=True, help="Rule sets: list them, activate one.")
app.add_typer(rules_app, name="rules")
audit_app = typer.Typer(no_args_is_help=True, help="Audits: fairness and budget, as JSON and one HTML report.")
app.add_typer(audit_app, name="audit")
billing_app = typer.Typer(no_args_is_help=True, help="Billing: issue a month's statements.")
app.add_typer(billing_app, name="billing")

DatabaseOpt = typer.Option(None, "--database", "-d", help="ledger URL (default: $PLADS_DATABASE_URL or sqlite:///plads.db)")


def _fail(message: str, code: int = 1) -> None:
    typer.echo(f"plads: {message}", err=True)
    raise typer.Exit(code)


@rules_app.command("list")
def rules_list() -> None:
    """List the rule sets this version of plads knows, and the audit scenarios (replay/scenarios)."""
    import rules

    from replay.audit import list_scenarios, resolve_rule_set

    for rule_set_id in rules.list_rule_sets():
        rs = rules.load_rule_set(rule_set_id)
        typer.echo(f"{rule_set_id}\t{rs.policy}\t{rs.title}")
    for name in list_scenarios():  # what-if rule sets for `plads audit budget --vs`; never activated
        rs = resolve_rule_set(name)
        typer.echo(f"{name}\tscenario (audit --vs)\t{rs.title}")


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
    small: bool = typer.Option(False, "--small", help="only the small scripted scenario (one ledger, a few families)"),
    database: str = typer.Option("sqlite:///plads-demo.db", "--database", "-d",
                                 help="with --small: where its ledger goes"),
    directory: str = typer.Option(".", "--dir", help="where the two demo ledgers and the reports go"),
    years: float = typer.Option(3, "--years", min=0.1, max=30, help="simulated years"),
    scale: float = typer.Option(0.1, "--scale", min=0.001, max=2, help="share of Copenhagen (1 = ~9,500 births a year)"),
    seed: int = typer.Option(1, "--seed", help="the same seed gives the same ledgers"),
) -> None:
    """The synthetic Copenhagen under book-en-plads and the waiting list: views, audits, a summary."""
    if small:
        from replay.demo import run_demo

        run_demo(database)
        return
    from replay.citydemo import run_city_demo

    run_city_demo(directory, years=years, scale=scale, seed=seed)


@app.command()
def simulate(
    years: float = typer.Option(1, "--years", min=0.1, max=30, help="simulated years"),
    scale: float = typer.Option(0.1, "--scale", min=0.001, max=2, help="share of Copenhagen (1 = ~9,500 births a year)"),
    seed: int = typer.Option(1, "--seed", help="the same seed gives the same ledger, event for event"),
    policy: str = typer.Option("book-en-plads", "--policy", help="book-en-plads or waitinglist"),
    params: Optional[str] = typer.Option(None, "--params", help="a parameters file (default: the built-in params.toml)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Simulate the synthetic Copenhagen into an empty ledger, through the real commands."""
    from rich.progress import BarColumn, Progress, TimeElapsedColumn

    from ledger import Ledger, SimulatedClock
    from replay.simulate import POLICIES, load_params
    from replay.simulate import simulate as run_simulation

    if policy not in POLICIES:
        _fail(f"unknown policy {policy!r}; one of: {', '.join(POLICIES)}", 2)
    try:
        parameters = load_params(params)
    except OSError as e:
        _fail(f"cannot read the parameters file: {e.strerror}: {params}", 2)
    except ValueError as e:
        _fail(f"invalid parameters file {params}: {str(e).splitlines()[0]}", 2)
    with Ledger(database, clock=SimulatedClock(parameters.city.start)) as ledger:
        if ledger.max_position():
            _fail(f"the ledger already holds {ledger.max_position():,} events; simulate into an empty ledger", 1)
        with Progress("[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
                      transient=True) as bar:
            task = bar.add_task(f"simulating {policy}", total=1)
            try:
                report = run_simulation(ledger, years=years, scale=scale, seed=seed, policy=policy, params=parameters,
                                        progress=lambda d, n: bar.update(task, completed=d, total=n))
            except RuntimeError as e:
                _fail(str(e), 1)
    typer.echo(f"simulated {report.start} to {report.end} under {report.rule_set}: {report.institutions} "
               f"institutions, {report.counts.get('births', 0):,} births, {report.events:,} events "
               f"in {report.seconds:.0f} s")
    if report.synthetic_note():
        typer.echo(report.synthetic_note())


@app.command("import")
def import_(
    file: str = typer.Argument(..., help="a history file (.json, or .csv with a record column); see docs/import.md"),
    actor: str = typer.Option("import", help="who imports (recorded on every event)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Import placements, registrations and households from the old system: all or nothing."""
    from ledger import Ledger
    from replay.importer import ImportFailed, import_history

    with Ledger(database) as ledger:
        try:
            report = import_history(ledger, file, actor=actor)
        except ImportFailed as e:
            if e.report:
                for rejected in e.report.rejected:
                    typer.echo(f"rejected {rejected}")
            _fail(f"{file}: {e}", 1)
    typer.echo(f"imported {report.records} records ({', '.join(f'{n} {k}' for k, n in report.imported.items())}) "
               f"as {report.commands} commands")


@app.command()
def serve(
    database: Optional[str] = DatabaseOpt,
    host: str = typer.Option("127.0.0.1", help="address to listen on"),
    port: int = typer.Option(8000, min=1, max=65535),
    follow: bool = typer.Option(True, "--follow/--no-follow",
                                help="on PostgreSQL, keep the views current in this process "
                                     "(--no-follow: a separate `plads project --follow` does it)"),
    workers: int = typer.Option(1, min=1, max=64, help="worker processes"),
) -> None:
    """Start the HTTP API (uvicorn); tokens from $PLADS_API_TOKENS (actor:role:token,...)."""
    import os

    import uvicorn

    from api.auth import parse_tokens

    try:
        if not parse_tokens(os.environ.get("PLADS_API_TOKENS")):
            typer.echo("plads: no API tokens: set PLADS_API_TOKENS=actor:role:token (every request "
                       "needs one)", err=True)
    except ValueError as e:
        _fail(str(e), 2)
    if database:
        os.environ["PLADS_DATABASE_URL"] = database
    os.environ["PLADS_API_FOLLOW"] = "1" if follow else "0"
    typer.echo(f"plads: serving the API on http://{host}:{port} (OpenAPI at /docs); Ctrl-C stops it", err=True)
    if workers == 1:
        uvicorn.run("api.app:app_from_environment", factory=True, host=host, port=port, log_level="warning")
        return
    _serve_in_processes(uvicorn.Config("api.app:app_from_environment", factory=True, host=host, port=port,
                                       workers=workers, log_level="warning"))


def _serve_in_processes(config) -> None:
    """uvicorn's worker processes on a listening socket declared TCP. uvicorn binds it with protocol
    0, so asyncio leaves Nagle's algorithm on for the accepted connections and every keep-alive
    request after the first waits ~40 ms for a delayed ACK (measured here: /health 2 ms with one
    worker, 44 ms with two; uvicorn issue 3149)."""
    import socket

    from uvicorn.supervisors import Multiprocess

    bound = config.bind_socket()
    sock = socket.socket(bound.family, bound.type, socket.IPPROTO_TCP, fileno=bound.detach())
    sock.set_inheritable(True)
    try:
        Multiprocess(config, sockets=[sock]).run()
    except KeyboardInterrupt:
        pass


@app.command()
def project(
    follow: bool = typer.Option(False, "--follow", help="keep following the ledger (poll + LISTEN/NOTIFY on PostgreSQL)"),
    poll: float = typer.Option(1.0, help="seconds between polls when following"),
    page_size: int = typer.Option(5_000, help="notifications per page (one transaction each)"),
    checkpoint_every: int = typer.Option(100_000, min=0, help="save the views' state each N events for "
                                                              "point-in-time replay (0: never)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Bring the views up to date with the ledger (once, or following it)."""
    import signal
    import threading

    from ledger import Ledger
    from projections import Follower, Projector, all_views

    with Ledger(database) as ledger:
        def projector() -> Projector:
            return Projector(ledger, all_views(), page_size=page_size, checkpoint_every=checkpoint_every or None)

        if not follow:
            once = projector()
            try:
                n = once.catch_up()
                typer.echo(f"applied {n} notifications; views at position {once.position}")
            finally:
                once.close()
            return
        stop = threading.Event()
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, lambda *_: stop.set())
        # One follower per database: it waits while another (an API worker, say) leads.
        follower = Follower(
            ledger, projector, poll_seconds=poll,
            on_wait=lambda: typer.echo("another follower keeps these views current; waiting to take over "
                                       "(Ctrl-C stops)"),
            on_lead=lambda position: typer.echo(f"following the ledger from position {position} (Ctrl-C stops)"),
            on_stall=lambda e: typer.echo(f"plads: {e.detail}; trying again in a minute (Ctrl-C stops)", err=True))
        try:
            follower.run(stop)
        finally:
            follower.close()


@app.command()
def rebuild(
    database: Optional[str] = DatabaseOpt,
    page_size: int = typer.Option(20_000, help="notifications read per page"),
    workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64,
                                          help="processes folding the views (default: one per core, "
                                               "from 50,000 events)"),
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
        position = run_rebuild(ledger, all_views(), page_size=page_size, workers=workers,
                               progress=lambda done, total: bar.update(task, completed=done, total=total))
        seconds = time.perf_counter() - started
    rate = position / seconds if seconds > 0 else 0
    typer.echo(f"rebuilt all views to position {position} in {seconds:.1f} s ({rate:,.0f} events/s)")


@app.command()
def verify(
    database: Optional[str] = DatabaseOpt,
    workers: Optional[int] = typer.Option(None, "--workers", min=1, max=64,
                                          help="processes folding the views (as for rebuild)"),
) -> None:
    """Rebuild into scratch tables and compare with the live views, row by row (in the database)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TimeElapsedColumn

    from ledger import Ledger
    from projections import ViewsMoved, all_views
    from projections import verify as run_verify

    try:
        with Ledger(database) as ledger, Progress(
            "[progress.description]{task.description}", BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            transient=True,
        ) as bar:
            task = bar.add_task("rebuilding a copy to compare", total=None)
            drifts = run_verify(ledger, all_views(), workers=workers,
                                progress=lambda done, total: bar.update(task, completed=done, total=total))
    except ViewsMoved as e:
        _fail(str(e))
    if not drifts:
        typer.echo("no drift: the live views equal a fresh rebuild")
        return
    for d in drifts:
        first = (d.missing + d.extra + d.different)[0]
        typer.echo(f"drift in {d.table}: {d.counts.get('missing', 0)} rows missing, {d.counts.get('extra', 0)} extra, "
                   f"{d.counts.get('different', 0)} different; first: {first}")
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
    from projections.export import export_table

    table = _exportable_table(view, fmt)
    path = Path(output or f"{view}.{fmt}")
    _existing_ledger(database)
    with Ledger(database) as ledger:
        projector = Projector(ledger, all_views())
        try:
            projector.catch_up()
            n = export_table(projector.store, table, fmt, path)
        finally:
            projector.close()
    typer.echo(f"wrote {n} rows of {view} to {path}")


@app.command()
def replay(
    view: str = typer.Argument(..., help="a view table, e.g. occupancy, waiting_list, statement_lines"),
    as_of: str = typer.Option(..., "--as-of", help="recorded time: YYYY-MM-DD (end of that day, Copenhagen) "
                                                   "or an ISO timestamp (UTC unless it has an offset)"),
    valid_at: Optional[str] = typer.Option(None, "--valid-at", help="valid time: only the rows in force on this "
                                                                    "day (YYYY-MM-DD), as known at --as-of"),
    fmt: str = typer.Option("csv", "--format", "-f", help="csv or parquet"),
    output: Optional[str] = typer.Option(None, "--output", "-o", help="file to write (default: VIEW-asof-T.FORMAT)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Export a view as the ledger knew it at a recorded time (point-in-time replay), optionally only
    the facts in force on a day (--valid-at)."""
    from pathlib import Path

    from ledger import Ledger
    from projections.export import export_table
    from projections.pointintime import position_at, views_as_of
    from projections.validtime import has_valid_time, in_force_on

    table = _exportable_table(view, fmt)
    instant = _instant(as_of)
    select = None
    if valid_at is not None:
        day = _date(valid_at)
        if not has_valid_time(table):
            _fail(f"{view} has no valid time (it is ranked on its list date); replay it with --as-of alone", 2)
        select = lambda rows: in_force_on(table, rows, day)  # noqa: E731
    suffix = f"-validat-{valid_at}" if valid_at else ""
    path = Path(output or f"{view}-asof-{as_of.replace(':', '')}{suffix}.{fmt}")
    _existing_ledger(database)
    with Ledger(database) as ledger:
        position = position_at(ledger, instant)
        if position == 0:
            _before_history(ledger, as_of)
        with views_as_of(ledger, position) as past:
            n = export_table(past, table, fmt, path, select)
    valid = f", in force on {valid_at}" if valid_at else ""
    typer.echo(f"wrote {n} rows of {view} as of {as_of}{valid} (log position {position}) to {path}")


@app.command()
def forecast(
    as_of: Optional[str] = typer.Option(None, "--as-of", help="what the ledger knew at this recorded time: "
                                        "YYYY-MM-DD (end of that day, Copenhagen) or an ISO timestamp (default: now)"),
    from_month: Optional[str] = typer.Option(None, "--from", help="first month YYYY-MM (default: the month after --as-of)"),
    months: int = typer.Option(12, "--months", help="months ahead (1 to 24)"),
    by: str = typer.Option("district", "--by", help="institution, cluster or district"),
    key: Optional[str] = typer.Option(None, "--key", help="one institution id, cluster or district"),
    births: Optional[str] = typer.Option(None, "--births", help="a births forecast per district (CSV: district,month,births) "
                                         "that replaces the ledger's own estimate"),
    json_path: Optional[str] = typer.Option(None, "--json", help="write the rows (or the backtest) as JSON"),
    html_path: Optional[str] = typer.Option(None, "--html", help="write the cluster leader's page (HTML)"),
    run_backtest: bool = typer.Option(False, "--backtest", help="measure the forecast's accuracy on the ledger's past"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Children in care in the months ahead (average seats in use, all pools) with an 80 % interval,
    per institution, cluster or district and age group; or, with --backtest, how accurate it was."""
    from datetime import datetime, timezone

    from ledger import Ledger
    from projections.outlook import ForecastError
    from replay import forecasting as fc

    instant = _instant(as_of) if as_of else datetime.now(timezone.utc)
    if not 1 <= months <= 24:
        _fail(f"--months {months}: the forecast covers 1 to 24 months", 2)
    _existing_ledger(database)
    req = fc.Request(instant, from_month, months, by, key, births)
    try:
        with Ledger(database) as ledger:
            if run_backtest:
                result, text = fc.run_backtest(ledger, instant)
                typer.echo(text)
                if json_path:
                    fc.write_json(json_path, result)
                return
            outlook, rows, clusters = fc.run(ledger, req)
            if json_path:
                fc.write_json(json_path, rows)
            if html_path:
                fc.write_html(html_path, outlook, req, rows, clusters)
    except ForecastError as e:
        _fail(str(e), 2)
    if not json_path and not html_path:
        for r in rows:
            typer.echo(f"{r.unit}\t{r.age_group}\t{r.month}\t{r.children:.1f}\t{r.low:.1f}-{r.high:.1f}\t{r.capacity}")
    else:
        typer.echo(f"wrote {len(rows)} rows by {by}" + "".join(f" to {p}" for p in (json_path, html_path) if p))


@app.command()
def checkpoint(
    every: int = typer.Option(100_000, min=1, help="events between checkpoints"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Save the views' state every N events of the history, so point-in-time replays start near T."""
    from ledger import Ledger
    from projections.pointintime import take_checkpoints

    with Ledger(database) as ledger:
        added = take_checkpoints(ledger, every=every)
    typer.echo(f"saved {len(added)} checkpoints" + (f" (positions {added[0]}..{added[-1]})" if added else ""))


FromOpt = typer.Option(None, "--from", help="first day of the period (YYYY-MM-DD; default: the whole history)")
ToOpt = typer.Option(None, "--to", help="last day of the period (YYYY-MM-DD; default: the ledger's last day)")
JsonOpt = typer.Option(None, "--json", help="write the result as JSON to this file")
HtmlOpt = typer.Option(None, "--html", help="write the report as one self-contained HTML file")


MonthOpt = typer.Option(..., "--month", help="the month, YYYY-MM")


@app.command()
def allocate(
    month: str = MonthOpt,
    seed: Optional[int] = typer.Option(None, help="tie-break seed (default: from the month); recorded on each offer"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """The month's allocation run: offers from the waiting lists (or, under book-en-plads, the released
    held seats and the cases still without a place)."""
    from ledger import Ledger
    from processes.allocation import run_allocation

    _month(month)
    with Ledger(database) as ledger:
        run = run_allocation(ledger, month, seed=seed)
    typer.echo(f"{month} under {run['rule_set']}: {len(run['offers'])} offers, {len(run['released'])} held "
               f"seat groups released, {len(run['unplaced_cases'])} cases without a place")
    for o in run["offers"]:
        typer.echo(f"  offer {o['offer_id']}: child {o['child_id']} → {o['institution_id']} from {o['start_date']} "
                   f"(rank {o['rank']}; {o['priority_basis']})")


@app.command()
def roll(month: str = MonthOpt, database: Optional[str] = DatabaseOpt) -> None:
    """The monthly age roll: nursery children without a kindergarten go on its waiting lists."""
    from ledger import Ledger
    from processes.allocation import age_roll

    _month(month)
    with Ledger(database) as ledger:
        rolled = age_roll(ledger, month)
    typer.echo(f"{month}: {len(rolled['registered'])} children put on the kindergarten waiting lists")


@billing_app.command("issue")
def billing_issue(
    month: str = typer.Argument(..., help="the month to bill, YYYY-MM (at most the one after today's)"),
    actor: str = typer.Option("billing", help="who issues (recorded on every event)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Issue every household's statement for a month, as the billing view has computed it (the views
    in the ledger's database are brought up to date first, as `plads project` does)."""
    from ledger import Ledger
    from processes.billing import caught_up, issue_month
    from projections import Projector, all_views

    _month(month)
    with Ledger(database) as ledger:
        projector = Projector(ledger, all_views())
        try:
            run = issue_month(ledger, month, caught_up(projector), actor=actor, channel="system")
        finally:
            projector.close()
    typer.echo(f"{run['month']}: {run['statements']:,} statements issued, total {run['total_ore'] / 100:,.2f} kr")
    for s in run.get("skipped", []):
        typer.echo(f"  skipped household {s['household_id']}: {s['reason']}")


@app.command()
def erase(
    person_id: str = typer.Argument(..., help="the child's or household's id"),
    ground: str = typer.Option("request", help="why (GDPR art. 17(1)): request, no_longer_necessary, "
                                               "consent_withdrawn, objection, unlawful, legal_obligation"),
    actor: str = typer.Option("admin", help="who erases (recorded in the event)"),
    database: Optional[str] = DatabaseOpt,
) -> None:
    """Erase a person's identifiers for good: the key store's key destroyed, a PersonErased event recorded
    (who, whom, when; no identifier). Uses the ledger's key store ($PLADS_KEY_STORE, docs/storage.md)."""
    from uuid import UUID

    from ledger import Ledger
    from ledger import commands as c
    from ledger.registry import ERASURE_GROUNDS

    if ground not in ERASURE_GROUNDS:
        _fail(f"{ground!r} is not a ground of erasure; one of: {', '.join(ERASURE_GROUNDS)}", 2)
    try:
        pid = UUID(person_id)
    except ValueError:
        _fail(f"{person_id!r} is not a person id (a child's or household's UUID)", 2)
        raise
    with Ledger(database) as ledger:
        outcome = ledger.execute(c.ErasePerson(person_id=pid, reason=ERASURE_GROUNDS[ground]), actor=actor,
                                 channel="system")
    typer.echo(f"{pid} erased" + (f" (event at position {outcome.position})" if outcome.position
                                  else " (already erased before)"))


def _month(text: str) -> None:
    import re

    if not re.fullmatch(r"[0-9]{4}-(0[1-9]|1[0-2])", text):
        _fail(f"{text!r} is not a month (YYYY-MM)", 2)


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
    from ledger import Ledger
    from replay.audit import fairness_audit

    _existing_ledger(database)
    with Ledger(database) as ledger:
        result = _audit(lambda: fairness_audit(ledger, start=_opt_date(start), end=_opt_date(end), policy=policy,
                                               vs=vs))
    s = result["summary"]
    typer.echo(f"{s['registrations']} registrations, {s['placed']} placed; median waiting "
               f"{s['waiting_days']['median']} days; first choice {_share(s['first_choice_share'])}; "
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
    """The budget under the rules in force, and with --vs under a scenario, with the difference."""
    from ledger import Ledger
    from replay.audit import budget_audit

    _existing_ledger(database)
    with Ledger(database) as ledger:
        result = _audit(lambda: budget_audit(ledger, start=_opt_date(start), end=_opt_date(end), vs=vs))
    total = result["actual"]["total"]
    line = f"net municipal cost {total['net_municipal_cost_ore'] / 100:,.0f} kr"
    if "difference" in result:
        diff = result["difference"]["total"]
        line += (f"; under {result['rule_sets']['vs']}: {diff['net_municipal_cost_ore'] / 100:+,.0f} kr "
                 f"(parent payments {diff['parent_payments_ore'] / 100:+,.0f} kr)")
    typer.echo(line)
    _write_reports(result, json_path, html_path)


def _existing_ledger(database: Optional[str]) -> None:
    """Reading commands (audit, replay, export) open a ledger that is there: a SQLite path that
    does not exist is an error, not a new empty ledger."""
    from pathlib import Path

    from ledger.storage import parse_database_url

    store = parse_database_url(database)
    if store.kind == "sqlite" and not store.sqlite_path.startswith("file:") and not Path(store.sqlite_path).is_file():
        _fail(f"no ledger at {store.url}: the file does not exist (plads simulate, plads import or plads demo "
              f"make one)", 1)


def _before_history(ledger, as_of: str) -> None:
    """One line saying when the history starts, for a recorded time before it."""
    from projections.engine import LogReader

    first = LogReader(ledger, ()).recorded_at(1)
    if first is None:
        _fail("the ledger is empty: there is no history to replay", 1)
    _fail(f"nothing was recorded by {as_of}: the history starts {first[1]:%Y-%m-%d %H:%M:%S} UTC", 1)


def _audit(run):
    from replay.audit import AuditError

    try:
        return run()
    except AuditError as e:
        _fail(str(e), getattr(e, "exit_code", 2))


def _write_reports(result: dict, json_path: Optional[str], html_path: Optional[str]) -> None:
    from replay.audit.report import write_html, write_json

    for path, write in ((json_path, write_json), (html_path, write_html)):
        if not path:
            continue
        try:
            write(result, path)
        except OSError as e:
            _fail(f"cannot write the report: {e.strerror}: {e.filename}")
        typer.echo(f"wrote {path}")


def _share(value) -> str:
    return "-" if value is None else f"{100 * value:.0f} %"


def _opt_date(text: Optional[str]) -> Optional[date]:
    return None if text is None else _date(text)


def _exportable_table(view: str, fmt: str):
    """The view table to write, or one readable line and exit 2."""
    from projections import all_views
    from projections.export import exportable

    tables = exportable(all_views())
    if view not in tables:
        _fail(f"unknown view {view!r}; one of: {', '.join(sorted(tables))}", 2)
    if fmt not in ("csv", "parquet"):
        _fail(f"unknown format {fmt!r}; csv or parquet", 2)
    return tables[view]


def _instant(text: str):
    from datetime import datetime

    try:
        return date.fromisoformat(text) if len(text) == 10 else datetime.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is neither a date (YYYY-MM-DD) nor an ISO timestamp", 2)
        raise


def _date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        _fail(f"{text!r} is not a date (YYYY-MM-DD)", 2)
        raise


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


if __name__ == "__main__":
    main()
