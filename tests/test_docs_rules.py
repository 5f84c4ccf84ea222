"""docs/rules.md's table "Every rule: source, where it is applied, the test that pins it" stays
true: every name in its "applied by" column is code (or rule data, a rule set, a route, a line
kind the code writes) that exists, and every test in its "pinned by" column is a test function
in the file named. A renamed function or test fails here instead of leaving the table stale."""

from __future__ import annotations

import ast
import importlib
import pkgutil
import re
from functools import cache
from pathlib import Path

import pytest

import rules

ROOT = Path(__file__).resolve().parents[1]
HEADING = "## Every rule: source, where it is applied, the test that pins it"
SOURCES = {"rules": "src/rules", "ledger": "src/ledger", "projections": "src/projections",
           "processes": "src/processes", "api": "src/api", "replay": "replay"}


def table_rows() -> list[list[str]]:
    text = (ROOT / "docs/rules.md").read_text(encoding="utf-8")
    section = text[text.index(HEADING) + len(HEADING):]
    section = section[:section.find("\n## ")]
    rows = [line for line in section.splitlines() if line.startswith("| ")][2:]  # after header and rule
    return [[cell.strip() for cell in row.strip().strip("|").split(" | ")] for row in rows]


class Module:
    """What one source file defines: its names (top level and in classes) and its string literals."""

    def __init__(self, dotted: str, path: Path):
        self.dotted = dotted
        tree = ast.parse(path.read_text(encoding="utf-8"))
        self.names: set[str] = set()
        self.members: dict[str, set[str]] = {}
        self.strings: set[str] = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                self.names.add(node.name)
            elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
                self.names.add(node.id)
            elif isinstance(node, ast.Constant) and isinstance(node.value, str):
                self.strings.add(node.value)
            if isinstance(node, ast.ClassDef):
                self.members[node.name] = {n.name for n in node.body if isinstance(n, (ast.FunctionDef,
                                                                                         ast.AsyncFunctionDef,
                                                                                         ast.ClassDef))}
                self.members[node.name] |= {t.id for n in node.body if isinstance(n, (ast.Assign, ast.AnnAssign))
                                            for t in (n.targets if isinstance(n, ast.Assign) else [n.target])
                                            if isinstance(t, ast.Name)}


@cache
def modules() -> tuple[Module, ...]:
    found = []
    for package, folder in SOURCES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            found.append(Module(".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts))), path))
    return tuple(found)


@cache
def data_keys() -> frozenset[str]:
    text = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "src/rules/data").glob("*.toml"))
    return frozenset(re.findall(r"^([a-z_]+) *=", text, re.M))


@cache
def routes() -> frozenset[str]:
    import api
    found = set()
    for info in pkgutil.iter_modules(api.__path__):
        router = getattr(importlib.import_module(f"api.{info.name}"), "router", None)
        for route in getattr(router, "routes", ()):
            found |= {f"{method} {route.path}" for method in getattr(route, "methods", ())}
    return frozenset(found)


def resolves(name: str) -> bool:
    """Whether a name of the "applied by" column names something that exists."""
    if re.fullmatch(r"[\w-]+@\d+", name):  # a rule set, or a shared base (which cannot be loaded alone)
        return (ROOT / "src/rules/data" / f"{name}.toml").is_file()
    if re.match(r"(GET|POST|PUT|PATCH|DELETE) /", name):
        return name in routes()
    parts = name.split(".")
    if parts[0] == "rules" and len(parts) == 2:
        return hasattr(rules, parts[1])  # the package's public API
    if any(m.dotted == name or m.dotted.endswith("." + name) for m in modules()):
        return True  # a module
    *owner, last = parts
    if owner:
        suffix = "." + ".".join(owner)
        in_module = any((m.dotted.endswith(suffix) or m.dotted == suffix[1:]) and last in m.names
                        for m in modules())
        in_class = len(owner) == 1 and any(last in m.members.get(owner[0], ()) for m in modules())
        return in_module or in_class or (len(owner) == 1 and last in view_columns().get(owner[0], ()))
    # A bare name: defined in the code, a key of the rule data, or a literal the code writes
    # (a statement line kind such as `gap`, the `[provisional]` mark).
    return (any(last in m.names for m in modules()) or last in data_keys()
            or any(s == last or s.startswith(last + " ") for m in modules() for s in m.strings))


@cache
def view_columns() -> dict[str, frozenset[str]]:
    """The views' tables (`budget.net_municipal_cost_ore` names a column of the budget view)."""
    from projections.tables import Table
    found: dict[str, frozenset[str]] = {}
    for m in modules():
        if m.dotted.startswith("projections."):
            for value in vars(importlib.import_module(m.dotted)).values():
                if isinstance(value, Table):
                    found[value.name] = frozenset(column for column, _ in value.columns)
    return found


def named_tests(cell: str) -> list[tuple[str, str | None]]:
    """(file under tests/, function or None) for each test a "pinned by" cell names; `::name`
    continues the file named before it."""
    out, current = [], None
    for token in re.findall(r"`([^`]+)`", cell):
        path, _, function = token.partition("::")
        if path:
            current = path
        if current is None:
            raise AssertionError(f"{token!r} names no file")
        out.append((current, function or None))
    return out


def test_the_table_has_every_column_filled():
    rows = table_rows()
    assert len(rows) >= 25
    for row in rows:
        assert len(row) == 4, row
        rule, source, applied, pinned = row
        assert rule and source, row
        assert re.search(r"`[^`]+`", applied), f"{rule}: names no code that applies it"
        assert named_tests(pinned), f"{rule}: names no test"


@pytest.mark.parametrize("row", table_rows(), ids=lambda row: row[0][:40])
def test_every_function_and_test_the_table_names_exists(row):
    rule, _, applied, pinned = row
    missing = [name for name in re.findall(r"`([^`]+)`", applied) if not resolves(name)]
    assert not missing, f"{rule}: applied by names that do not exist: {missing}"
    for path, function in named_tests(pinned):
        file = ROOT / "tests" / path
        assert file.is_file(), f"{rule}: no test file tests/{path}"
        if function is not None:
            defined = {n.name for n in ast.walk(ast.parse(file.read_text(encoding="utf-8")))
                       if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))}
            assert function in defined and function.startswith("test"), \
                f"{rule}: tests/{path} has no test {function}"


def test_a_stale_name_is_caught():
    assert not resolves("rules.no_such_rule") and not resolves("RuleSet.no_such_method")
    assert not resolves("handlers.administration._no_such_check") and not resolves("no_such_name_anywhere")
    assert not resolves("copenhagen-base@9") and not resolves("POST /v1/no/such/route")
    assert not resolves("budget.no_such_column") and resolves("budget.net_municipal_cost_ore")
    assert resolves("rules.earliest_start") and resolves("RuleSet.in_force")
    assert resolves("POST /v1/billing/{month}/issue") and resolves("copenhagen-synthetic@1")
