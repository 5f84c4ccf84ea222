"""The packages' layout holds: dependencies point one way (rules <- ledger <- projections <- processes
<- api, replay; nothing imports api), the read side sends no commands, and no module imports
another in a cycle, not even from inside a function. The contracts are import-linter's, declared
in pyproject.toml ([tool.importlinter]); they read every import statement, wherever it stands."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = {"rules": "src/rules", "ledger": "src/ledger", "projections": "src/projections",
            "processes": "src/processes", "api": "src/api", "replay": "replay"}


def _modules() -> list[str]:
    names = []
    for package, folder in PACKAGES.items():
        for path in sorted((ROOT / folder).rglob("*.py")):
            parts = path.relative_to(ROOT / folder).with_suffix("").parts
            names.append(".".join((package, *(parts[:-1] if parts[-1] == "__init__" else parts))))
    return names


def test_the_import_contracts_hold():
    # In a process of its own: import-linter configures logging (dictConfig), which would switch
    # off the loggers of the tests that run after it in this one.
    check = ("import sys\nfrom importlinter.cli import lint_imports\n"
             "sys.exit(lint_imports(config_filename=sys.argv[1], no_cache=True, no_logo=True))\n")
    done = subprocess.run([sys.executable, "-c", check, str(ROOT / "pyproject.toml")], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-2000:]


def test_every_module_imports_in_a_fresh_interpreter():
    """Without cycles no order of imports can meet a half-initialised module; this shows each one
    imports at all (a name it imports exists, its package is installed)."""
    modules = _modules()
    assert {"processes.allocation", "projections.checkpoints", "projections.follower",
            "replay.audit.counterfactual"} <= set(modules)
    script = ("import importlib, sys\n"
              "for name in sys.argv[1:]:\n"
              "    importlib.import_module(name)\n")
    done = subprocess.run([sys.executable, "-c", script, *modules], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]


def test_every_package_is_installed_from_its_folder():
    """pyproject.toml declares each package (and sub-package) where it lives, so an install has it."""
    import tomllib

    tool = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert tool["package-dir"] == PACKAGES
    sub = {m for m in _modules() if (ROOT / PACKAGES[m.split(".")[0]] / "/".join(m.split(".")[1:]) / "__init__.py").is_file()}
    assert sorted(tool["packages"]) == sorted(set(PACKAGES) | sub)
