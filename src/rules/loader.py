"""Reading the packaged rule data: TOML files in rules/data, one per `name@version`.

A file is either a rule set (`kind = "rule-set"`, with a `policy`) or a shared base
(`kind = "base"`) that rule sets name in `extends`. A rule set takes every section of its base
and may replace whole sections; a section is never merged entry by entry, so what a rule set
overrides is plain to read.
"""

from __future__ import annotations

import re
import tomllib
from functools import lru_cache
from importlib import resources
from typing import Any

from pydantic import ValidationError

from .errors import RuleError
from .model import OPTIONAL_SECTIONS, SECTIONS, RuleSet

_LISTS = SECTIONS + OPTIONAL_SECTIONS + ("gaps",)  # replaced whole by a rule set, like the sections

RULE_SET_ID_PATTERN = r"^[a-z0-9][a-z0-9-]*@[1-9][0-9]*$"  # name@version (the API schema states it too)
_ID = re.compile(RULE_SET_ID_PATTERN)
_META = ("kind", "name", "version", "title", "policy", "extends")


def _data_dir():
    return resources.files("rules") / "data"


def _packaged_ids() -> list[str]:
    return sorted(f.name[: -len(".toml")] for f in _data_dir().iterdir() if f.name.endswith(".toml"))


@lru_cache(maxsize=None)
def _read(rule_id: str) -> dict[str, Any]:
    if not _ID.match(rule_id):
        raise RuleError(f"{rule_id!r} is not a rule set id of the form name@version")
    file = _data_dir() / f"{rule_id}.toml"
    if not file.is_file():
        raise RuleError(f"unknown rule set {rule_id!r}; known: {', '.join(list_rule_sets())}")
    try:
        data = tomllib.loads(file.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise RuleError(f"{rule_id}.toml is not valid TOML: {e}") from None
    if f"{data.get('name')}@{data.get('version')}" != rule_id:
        raise RuleError(f"{rule_id}.toml declares {data.get('name')}@{data.get('version')}")
    return data


def _compose(data: dict[str, Any], seen: tuple[str, ...]) -> dict[str, Any]:
    """The sections of `data` on top of those of the base it extends (recursively)."""
    sections: dict[str, Any] = {}
    base_id = data.get("extends")
    if base_id is not None:
        if base_id in seen:
            raise RuleError(f"rule data extends itself: {' -> '.join(seen + (base_id,))}")
        base = _read(base_id)
        if base.get("kind") != "base":
            raise RuleError(f"{base_id} is not a shared base (kind = \"base\")")
        sections = _compose(base, seen + (base_id,))
    unknown = set(data) - set(_META) - set(_LISTS)
    if unknown:
        raise RuleError(f"unknown keys {sorted(unknown)} in {seen[-1] if seen else 'rule data'}")
    sections.update({k: v for k, v in data.items() if k in _LISTS})
    return sections


def _build(rule_id: str, data: dict[str, Any]) -> RuleSet:
    if data.get("kind") != "rule-set":
        raise RuleError(f"{rule_id} is a shared base, not a rule set to activate")
    sections = _compose(data, (rule_id,))
    meta = {k: data[k] for k in _META if k in data and k != "kind"}
    try:
        return RuleSet.model_validate({"id": rule_id, **meta, **sections})
    except ValidationError as e:
        first = e.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise RuleError(f"rule set {rule_id} is invalid at {where}: {first['msg']}") from None


def load_rule_set(rule_set_id: str) -> RuleSet:
    """A packaged rule set by id ("copenhagen-book-en-plads@1"); cached, frozen.

    RuleError for an unknown id, a shared base, or invalid data.
    """
    if not isinstance(rule_set_id, str):
        raise RuleError(f"a rule set id is a string, not {type(rule_set_id).__name__}")
    return _load(rule_set_id)


@lru_cache(maxsize=None)
def _load(rule_set_id: str) -> RuleSet:
    return _build(rule_set_id, _read(rule_set_id))


def list_rule_sets() -> list[str]:
    """The ids of the packaged rule sets that can be activated (shared bases left out)."""
    ids = []
    for rule_id in _packaged_ids():
        try:
            if _read(rule_id).get("kind") == "rule-set":
                ids.append(rule_id)
        except RuleError:
            continue  # a misnamed file is reported when someone loads it
    return ids


def rule_set_from_toml(text: str) -> RuleSet:
    """A rule set from TOML text (e.g. a replay scenario); it may extend a packaged base.

    Pure: parses the given text, reads only this package's own data files for `extends`.
    """
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise RuleError(f"rule set text is not valid TOML: {e}") from None
    rule_id = f"{data.get('name')}@{data.get('version')}"
    if not _ID.match(rule_id):
        raise RuleError(f"{rule_id!r} is not a rule set id of the form name@version")
    return _build(rule_id, data)
