"""Naming a rule set for an audit: a packaged rule set, a file of replay/scenarios, or a TOML path."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import rules


class AuditError(ValueError):
    """Something the auditor asked for that cannot be done (unknown scenario, bad period)."""


def list_scenarios() -> list[str]:
    """The scenario rule sets shipped in replay/scenarios (file names without .toml)."""
    folder = resources.files("replay.scenarios")
    return sorted(f.name[: -len(".toml")] for f in folder.iterdir() if f.name.endswith(".toml"))


def resolve_rule_set(name: str) -> rules.RuleSet:
    """`copenhagen-book-en-plads@1`, `friplads-2024-scale@1` (a scenario) or `path/to/file.toml`."""
    if name in rules.list_rule_sets():
        return rules.load_rule_set(name)
    if name in list_scenarios():
        text = (resources.files("replay.scenarios") / f"{name}.toml").read_text(encoding="utf-8")
    elif name.endswith(".toml") and Path(name).is_file():
        text = Path(name).read_text(encoding="utf-8")
    else:
        known = rules.list_rule_sets() + list_scenarios()
        raise AuditError(f"unknown rule set or scenario {name!r}; known: {', '.join(known)} "
                         f"(or the path of a .toml file)")
    try:
        return rules.rule_set_from_toml(text)
    except rules.RuleError as e:
        raise AuditError(str(e)) from None
