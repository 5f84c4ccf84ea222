"""Three answers to one question, side by side: which children are past their guarantee date
without a place (dagtilbudsloven § 23)?

- the guarantee watch (`projections.queries.guarantee_watch`): rows past the date (days_left < 0)
  whose guarantee nothing met (`guarantee_met_by` empty);
- the allocation run for the month (`processes.allocation.run_allocation`): its unplaced cases due
  before the day, and the children past their date without a place it offers a seat to now;
- the fairness audit (`replay.audit.fairness_audit`): its guarantee breaches still waiting.

All three rest on one definition (rules.place_meets_guarantee, rules.offer_meets_guarantee) and
must name the same (child, age group) pairs. Under the waiting-list policy the run records its
offers in the ledger: give it a copy (`sqlite_copy`, up to a position for an earlier day).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from ledger import Ledger
from processes.allocation import run_allocation
from projections import queries as q
from projections.engine import LogReader
from projections.occupancy import Occupancy
from projections.projector import Projector
from projections.stores import SQLiteViewStore
from projections.waitinglists import WaitingLists
from replay.audit import fairness_audit

Pair = tuple[str, str]  # (child_id, age_group)


@dataclass
class GuaranteeAnswers:
    on: date
    watch: set[Pair] = field(default_factory=set)
    run_unplaced: set[Pair] = field(default_factory=set)
    run_offered: set[Pair] = field(default_factory=set)
    audit: set[Pair] = field(default_factory=set)
    audit_placed_late: int = 0  # breaches whose late place has started by the day: history, not a case
    breached_on: set[date] = field(default_factory=set)  # the guarantee dates of every breach the audit found

    @property
    def run(self) -> set[Pair]:
        return self.run_unplaced | self.run_offered

    def agree(self) -> bool:
        return self.watch == self.run == self.audit

    def disagreements(self) -> dict[str, list[Pair]]:
        """Each pair that one answer names and another does not, by the answers that name it."""
        out: dict[str, list[Pair]] = {}
        for pair in sorted(self.watch | self.run | self.audit):
            named = [n for n, s in (("watch", self.watch), ("run", self.run), ("audit", self.audit)) if pair in s]
            if len(named) < 3:
                out.setdefault("+".join(named), []).append(pair)
        return out


def last_recorded_day(ledger: Ledger) -> date:
    found = LogReader(ledger, ()).recorded_at(ledger.max_position())
    if found is None:
        raise ValueError("the ledger is empty")
    return found[1].date()


def guarantee_answers(ledger: Ledger) -> GuaranteeAnswers:
    """The three answers on the ledger's last recorded day (the audit's end), the allocation run for
    that day's month included. The ledger's clock should stand just after its last event (the run
    expires offers by it). For an earlier day, give a copy of the ledger up to that day."""
    out = GuaranteeAnswers(last_recorded_day(ledger))
    projector = Projector(ledger, [WaitingLists(), Occupancy()], name="guarantee-answers",
                          store=SQLiteViewStore(":memory:"))
    try:
        projector.catch_up()
        for r in q.guarantee_watch(projector.store, on=out.on, within_days=0):
            if r["days_left"] < 0 and r["guarantee_met_by"] is None:
                out.watch.add((r["child_id"], r["age_group"]))
        _run(out, ledger, projector)
    finally:
        projector.close()
    for b in fairness_audit(ledger, end=out.on)["findings"]["guarantee_breaches"]:
        out.breached_on.add(date.fromisoformat(b["guarantee_date"]))
        if b["still_waiting"]:
            out.audit.add((b["child_id"], b["age_group"]))
        else:
            out.audit_placed_late += 1
    return out


def _run(out: GuaranteeAnswers, ledger: Ledger, projector: Projector) -> None:
    # Who was past its date with its guarantee not met when the run began: an offer to a child whose
    # place outside its wishes (or refused offer) met it is a wish granted, not a guarantee case.
    due: dict[Pair, date] = {}
    met: set[Pair] = set()
    for r in q.waiting_entries(projector.store):
        pair = (r["child_id"], r["age_group"])
        if r["guarantee_met_by"]:
            met.add(pair)
        if r["guarantee_date"] is not None:
            due[pair] = min(due.get(pair, r["guarantee_date"]), r["guarantee_date"])
    run = run_allocation(ledger, f"{out.on:%Y-%m}", store=projector.store)
    for case in run["unplaced_cases"]:
        if case["guarantee_date"] is not None and case["guarantee_date"] < out.on:
            out.run_unplaced.add((case["child_id"], case["age_group"]))
    for offer in run["offers"]:
        pair = (offer["child_id"], offer["age_group"])
        if pair in due and due[pair] < out.on and pair not in met:
            out.run_offered.add(pair)


def sqlite_copy(source: str | Path, target: str | Path, until: int | None = None) -> str:
    """A copy of a SQLite ledger's events (the first `until`: the ledger as it stood then) and of its
    person keys, for a run that records offers. Only the log goes along: the views are folded anew."""
    Ledger(f"sqlite:///{target}").close()  # the ledger's own tables, empty
    with sqlite3.connect(target) as conn:
        conn.execute("ATTACH DATABASE ? AS source", (f"file:{source}?mode=ro",))
        conn.execute("INSERT INTO stored_events (rowid, originator_id, originator_version, topic, state) "
                     "SELECT rowid, originator_id, originator_version, topic, state FROM source.stored_events "
                     "WHERE rowid <= ? ORDER BY rowid", (until if until is not None else 2**62,))
    if Path(f"{source}.keys").exists():  # a SQLite file of its own: copied whole, as SQLite copies one
        with sqlite3.connect(f"file:{source}.keys?mode=ro", uri=True) as keys, \
                sqlite3.connect(f"{target}.keys") as copy:
            keys.backup(copy)
    return f"sqlite:///{target}"
