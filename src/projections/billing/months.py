"""Months as the billing views name them (`YYYY-MM`), days kept once, and the rule sets events name."""

from __future__ import annotations

from datetime import date, timedelta

import rules

DEFAULT_RULE_SET = "copenhagen-book-en-plads@1"
ONE_DAY = timedelta(days=1)

_FIRSTS: dict[str, date] = {}
_DAYS: dict[str, date] = {}
_RULE_SETS: dict[str | None, rules.RuleSet] = {}


_MONTHS: dict[date, str] = {}


def month_of(d: date) -> str:
    """The day's month (kept per day: asked for every event and every month of every household)."""
    found = _MONTHS.get(d)
    if found is None:
        found = f"{d.year:04d}-{d.month:02d}"
        if len(_MONTHS) < 100_000:
            _MONTHS[d] = found
    return found


def first_of(month: str) -> date:
    """The month's 1st (a few hundred months, asked millions of times: kept)."""
    found = _FIRSTS.get(month)
    if found is None:
        found = _FIRSTS[month] = date(int(month[:4]), int(month[5:7]), 1)
    return found


_NEXT: dict[str, str] = {}
_LASTS: dict[str, date] = {}


def last_of(month: str) -> date:
    """The month's last day (kept, like `first_of`)."""
    found = _LASTS.get(month)
    if found is None:
        found = _LASTS[month] = rules.last_of_month(first_of(month))
    return found


def next_month(month: str) -> str:
    """The month after (kept, like `first_of`: runs and horizons ask it for every month of every household)."""
    found = _NEXT.get(month)
    if found is None:
        found = _NEXT[month] = month_of(rules.add_months(first_of(month), 1))
    return found


def billing_horizon_of(last_month: str | None) -> str | None:
    """The last month charged when `last_month` is the latest month recorded in: the month after it."""
    return next_month(last_month) if last_month else None


def day(value: str | date) -> date:
    """A day of the facts, one object per distinct day: the facts hold hundreds of thousands of
    dates, most of them the 1st of a month."""
    if isinstance(value, date):
        value = value.isoformat()
    found = _DAYS.get(value)
    if found is None:
        found = _DAYS[value] = date.fromisoformat(value)
    return found


def rule_set_named(rule_set_id: str | None) -> rules.RuleSet:
    """The rule set an event was decided under; the default when absent or not packaged."""
    rs = _RULE_SETS.get(rule_set_id)
    if rs is None:
        try:
            rs = rules.load_rule_set(rule_set_id or DEFAULT_RULE_SET)
        except rules.RuleError:
            rs = rules.load_rule_set(DEFAULT_RULE_SET)
        _RULE_SETS[rule_set_id] = rs
    return rs
