"""Issuing a month's statements: an empty run is refused (SQLite and PostgreSQL)."""

from __future__ import annotations

import pytest

from ledger import InvalidCommand
from ledger import commands as c


def test_an_empty_statement_run_is_refused_and_leaves_the_month_open(city):
    """A run without statements is refused (it would record the month's billing run and lock the
    month); the month can be billed afterwards."""
    hh = city.household()
    with pytest.raises(InvalidCommand, match="no statements to issue"):
        city.run(c.IssueStatements(month="2025-03", statements=[]))
    statement = c.HouseholdStatement(household_id=hh, total_ore=100, lines=[c.StatementLine(kind="fee", amount_ore=100)])
    city.run(c.IssueStatements(month="2025-03", statements=[statement]))
