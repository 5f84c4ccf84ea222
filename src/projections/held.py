"""What a live view holds of the working state it reads from the store as needed (a child's, an
institution's): at most a bound of entries once a page's changes are taken, the least recently used
going first. A fold in memory (a rebuild, a restore from a checkpoint) sets no bound: it holds all."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, Iterator, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class Held(Generic[K, V]):
    def __init__(self) -> None:
        self.entries: OrderedDict[K, V] = OrderedDict()
        self.bound: int | None = None  # None: every entry stays

    def get(self, key: K) -> V | None:
        found = self.entries.get(key)
        if found is not None:
            self.entries.move_to_end(key)
        return found

    def __contains__(self, key: object) -> bool:
        return key in self.entries

    def __setitem__(self, key: K, value: V) -> None:
        self.entries[key] = value
        self.entries.move_to_end(key)

    def __len__(self) -> int:
        return len(self.entries)

    def __iter__(self) -> Iterator[K]:
        return iter(self.entries)

    def missing(self, keys: list[K]) -> list[K]:
        """The keys (once each, in order) not held."""
        return [k for k in dict.fromkeys(keys) if k not in self.entries]

    def forget(self, keys: list[K]) -> None:
        for key in keys:
            self.entries.pop(key, None)

    def trim(self) -> list[K]:
        """Forget the least recently used beyond the bound (call once the page's changes are
        taken: the store holds them); the keys forgotten."""
        if self.bound is None:
            return []
        over = len(self.entries) - self.bound
        gone = []
        while over > 0:
            key, _ = self.entries.popitem(last=False)
            gone.append(key)
            over -= 1
        return gone
