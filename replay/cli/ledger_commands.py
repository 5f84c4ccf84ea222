"""Commands that write the ledger: rule sets, the demo and the simulator, imports, allocation, billing, erasure."""

from __future__ import annotations

from typing import Optional

import typer

from replay.cli.common import DatabaseOpt, MonthOpt, app, billing_app, check_month, fail, parse_date, rules_app


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

    command = c.ActivateRuleSet(rule_set_id=rule_set_id, effective_from=parse_date(effective_from))
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
        fail(f"unknown policy {policy!r}; one of: {', '.join(POLICIES)}", 2)
    try:
        parameters = load_params(params)
    except OSError as e:
        fail(f"cannot read the parameters file: {e.strerror}: {params}", 2)
    except ValueError as e:
        fail(f"invalid parameters file {params}: {str(e).splitlines()[0]}", 2)
    with Ledger(database, clock=SimulatedClock(parameters.city.start)) as ledger:
        if ledger.max_position():
            fail(f"the ledger already holds {ledger.max_position():,} events; simulate into an empty ledger", 1)
        with Progress("[progress.description]{task.description}", BarColumn(), TimeElapsedColumn(),
                      transient=True) as bar:
            task = bar.add_task(f"simulating {policy}", total=1)
            try:
                report = run_simulation(ledger, years=years, scale=scale, seed=seed, policy=policy, params=parameters,
                                        progress=lambda d, n: bar.update(task, completed=d, total=n))
            except RuntimeError as e:
                fail(str(e), 1)
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
            fail(f"{file}: {e}", 1)
    typer.echo(f"imported {report.records} records ({', '.join(f'{n} {k}' for k, n in report.imported.items())}) "
               f"as {report.commands} commands")


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

    check_month(month)
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
    from processes.ageroll import age_roll

    check_month(month)
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

    check_month(month)
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
        fail(f"{ground!r} is not a ground of erasure; one of: {', '.join(ERASURE_GROUNDS)}", 2)
    try:
        pid = UUID(person_id)
    except ValueError:
        fail(f"{person_id!r} is not a person id (a child's or household's UUID)", 2)
        raise
    with Ledger(database) as ledger:
        outcome = ledger.execute(c.ErasePerson(person_id=pid, reason=ERASURE_GROUNDS[ground]), actor=actor,
                                 channel="system")
    typer.echo(f"{pid} erased" + (f" (event at position {outcome.position})" if outcome.position
                                  else " (already erased before)"))
