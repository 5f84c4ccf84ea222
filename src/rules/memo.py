"""Remembered answers of pure rule functions: billing asks the same few questions (the tariff in
force in a month, a child's rate age) millions of times in a rebuild.

Rule sets are immutable, so a rule set's identity is a sound part of a key. Every rule set used
in a key is kept alive here, so its identity cannot pass to another object while an answer
keyed by it is remembered. Memos are bounded: a full memo starts again empty, and too many rule
sets pinned empty every memo.
"""

from __future__ import annotations

from typing import Any

_PINNED: dict[int, Any] = {}
_PINNED_MAX = 1_000
_MEMOS: list[Memo] = []


class Memo(dict):
    """A dict of answers; `remember` stores one computed under rule set `rs`."""

    def __init__(self, limit: int = 200_000) -> None:
        super().__init__()
        self.limit = limit
        _MEMOS.append(self)

    def remember(self, rs: Any, key: Any, value: Any) -> Any:
        if id(rs) not in _PINNED and len(_PINNED) >= _PINNED_MAX:
            forget_all()
        if len(self) >= self.limit:
            self.clear()
        self[key] = value
        # Pinned after storing: a forget_all in another thread meanwhile cannot leave this answer
        # keyed by an identity that is free to be reused.
        _PINNED[id(rs)] = rs
        return value


def forget_all() -> None:
    """Empty every memo and unpin the rule sets (their identities may be reused afterwards)."""
    for memo in _MEMOS:
        memo.clear()
    _PINNED.clear()
