"""What the monthly processes share: a month's first and last day, the rule set in force, and the
two views a run reads, kept folded in memory per ledger."""

from __future__ import annotations

import weakref
from datetime import date

import rules
from ledger import Ledger, LedgerError, NoRuleSetInForce
from ledger.aggregates import RuleBook
from projections.occupancy import Occupancy
from projections.projector import Projector
from projections.stores import SQLiteViewStore
from projections.waitinglists import WaitingLists


def month_bounds(month: str) -> tuple[date, date]:
    first = date.fromisoformat(month + "-01")
    return first, rules.last_of_month(first)


def rule_set_on(ledger: Ledger, day: date) -> rules.RuleSet:
    try:
        book = ledger.get(RuleBook, RuleBook.create_id())
    except LedgerError:
        book = None
    rule_set_id = book.in_force(day) if book else None
    if rule_set_id is None:
        raise NoRuleSetInForce(f"no rule set is in force on {day}; activate one first")
    return rules.load_rule_set(rule_set_id)


_projectors: "weakref.WeakKeyDictionary[Ledger, Projector]" = weakref.WeakKeyDictionary()


def run_views(ledger: Ledger) -> Projector:
    """The two views a run reads (waiting lists, occupancy), folded into memory and kept per ledger,
    so a monthly run folds only the new events — and none of the billing views it does not need."""
    projector = _projectors.get(ledger)
    if projector is None:
        projector = Projector(ledger, [WaitingLists(), Occupancy()], name="allocation",
                              store=SQLiteViewStore(":memory:"))
        _projectors[ledger] = projector
        weakref.finalize(ledger, projector.close)
    projector.catch_up()
    return projector


