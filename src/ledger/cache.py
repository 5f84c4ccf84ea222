"""Loading aggregates for a command: from the Ledger's cache, brought up to date with what other
processes wrote since, or from their latest snapshot; commands get copies, so the cache stays as
saved whatever a command does."""

from __future__ import annotations

from copy import deepcopy
from typing import Any, Iterable
from uuid import UUID

from ledger import sqlitestore
from ledger.aggregates import LedgerAggregate


class CachedAggregates:
    """The Ledger's aggregate loading (a mixin: it uses the application's repository, recorders and
    store, and the Ledger's `_cache_lock`)."""

    def load(self, ids: Iterable[UUID]) -> dict[UUID, LedgerAggregate]:
        """The current state of these aggregates, as copies a command may change; ids of
        no aggregate are left out.

        Aggregates in the cache are brought up to date with the events other processes
        wrote since (fast-forward), the others rebuilt from their latest snapshot; all of it
        in one query (a few on SQLite for hundreds of aggregates) (a command reads three or four aggregates:
        two queries each, one after the other, was most of its time). Cached aggregates
        are never changed in place: an update replaces them, so threads need no lock to
        copy them.
        """
        cache = self.repository.cache
        held: dict[UUID, Any] = {}
        for i in dict.fromkeys(ids):
            try:
                held[i] = cache.get(i) if cache is not None else None
            except KeyError:
                held[i] = None
        known = {i: (a.version if a is not None else 0) for i, a in held.items()}
        if self.private:
            news = {i: [] if a is not None else self._events_since(i, 0) for i, a in held.items()}
        elif self.store.kind == "postgres" and self.snapshots is not None:
            from ledger.pgstore import select_since

            stored = select_since(self.recorder, self.snapshots.recorder, known)
            news = {i: [self.mapper.to_domain_event(e) for e in found] for i, found in stored.items()}
        elif self.store.kind == "sqlite":
            stored = sqlitestore.select_since(self.recorder, self.snapshots.recorder if self.snapshots else None, known)
            news = {i: [self.mapper.to_domain_event(e) for e in found] for i, found in stored.items()}
        else:
            news = {i: self._events_since(i, v) for i, v in known.items()}
        loaded: dict[UUID, LedgerAggregate] = {}
        for i, cached in held.items():
            new = news[i]
            if cached is not None and not new:
                current = cached
            else:
                current = deepcopy(cached) if cached is not None else None
                for event in new:
                    # (the library's project_aggregate checks a runtime Protocol per event)
                    current = event.mutate(current)
                if current is None:
                    continue
                self._remember(current)
            loaded[i] = deepcopy(current)
        return loaded

    def _events_since(self, aggregate_id: UUID, version: int) -> list[Any]:
        found: list[Any] = []
        if version == 0 and self.snapshots is not None:
            found = list(self.snapshots.get(aggregate_id, desc=True, limit=1))
            if found:
                version = found[0].originator_version
        return found + list(self.events.get(aggregate_id, gt=version or None))

    def _remember(self, aggregate: LedgerAggregate) -> None:
        """Cache an aggregate as saved or read, unless a newer version is cached already."""
        cache = self.repository.cache
        if cache is None:
            return
        with self._cache_lock:
            try:
                if cache.get(aggregate.id).version >= aggregate.version:
                    return
            except KeyError:
                pass
            cache.put(aggregate.id, aggregate)
