"""Commands over the views: serving the API, projecting, rebuilding, verifying, exporting, replaying, forecasting."""

from __future__ import annotations

from typing import Optional

import typer

from replay.cli.common import (
    DatabaseOpt,
    app,
    before_history,
    existing_ledger,
    exportable_table,
    fail,
    parse_date,
    parse_instant,
)


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
        fail(str(e), 2)
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
        fail(str(e))
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

    table = exportable_table(view, fmt)
    path = Path(output or f"{view}.{fmt}")
    existing_ledger(database)
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

    table = exportable_table(view, fmt)
    instant = parse_instant(as_of)
    select = None
    if valid_at is not None:
        day = parse_date(valid_at)
        if not has_valid_time(table):
            fail(f"{view} has no valid time (it is ranked on its list date); replay it with --as-of alone", 2)
        select = lambda rows: in_force_on(table, rows, day)  # noqa: E731
    suffix = f"-validat-{valid_at}" if valid_at else ""
    path = Path(output or f"{view}-asof-{as_of.replace(':', '')}{suffix}.{fmt}")
    existing_ledger(database)
    with Ledger(database) as ledger:
        position = position_at(ledger, instant)
        if position == 0:
            before_history(ledger, as_of)
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

    instant = parse_instant(as_of) if as_of else datetime.now(timezone.utc)
    if not 1 <= months <= 24:
        fail(f"--months {months}: the forecast covers 1 to 24 months", 2)
    existing_ledger(database)
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
        fail(str(e), 2)
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
