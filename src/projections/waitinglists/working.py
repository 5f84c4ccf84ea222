"""The waiting-list view's working state in `waitinglist_state`, read as needed by a live projector.

Rows (entity, id, data):
- `child` (its id): the child as `state.encode` writes it; `household` (its id): its children's ids;
- `wishers` / `members` (JSON [institution or district, age group]): the children with an active
  registration wishing the institution / living in the district — who a list's derivation reads;
- `rulebook`, `clock`, `computed`, `index`: the rule-set activations, the list date, what the rows
  were computed for, and that the lists' members are kept as rows (a store written before they were
  is read whole once, and they are written then).

A fold in memory (a rebuild, a restore from a checkpoint) holds every child and household. A live
projector reads at start only the list members and the meta rows (ids, not children), then reads the
children a page names, and those a derivation needs (the lists' members, their siblings), holding at
most `cache_bound` of them once a page's changes are taken.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Iterable, Iterator

from projections.held import Held
from projections.tables import Row, Table
from projections.waitinglists.state import ListedChild, decode

META = ("rulebook", "clock", "computed", "index")
INDEXES = ("wishers", "members")
ListKey = tuple[str, str]  # (institution or district, age group)


def list_id(key: ListKey) -> str:
    return json.dumps(list(key), ensure_ascii=False)


def list_key(row_id: str) -> ListKey:
    a, group = json.loads(row_id)
    return a, group


class Working:
    """Children and households held (all, or read as needed within a bound) and the lists' members."""

    def __init__(self) -> None:
        self.children: Held[str, ListedChild] = Held()
        self.households: Held[str, set[str]] = Held()
        # (institution, age group) -> children with an active registration wishing it
        self.wishers: dict[ListKey, set[str]] = {}
        # (district, age group) -> children with an active registration
        self.members: dict[ListKey, set[str]] = {}
        self.changed_index: set[tuple[str, ListKey]] = set()  # ("wishers" | "members", key) to write
        self.changed_households: set[str] = set()
        # Set by `attach`: reads the rows of `waitinglist_state` whose column (`id` or `entity`) is one of the values.
        self.read: Callable[[str, list[str]], Iterable[Row]] | None = None

    def attach(self, read: Callable[[str, list[str]], Iterable[Row]], bound: int) -> None:
        self.read = read
        self.children.bound = self.households.bound = bound

    def index(self, name: str) -> dict[ListKey, set[str]]:
        return self.wishers if name == "wishers" else self.members

    def enter(self, name: str, key: ListKey, child_id: str) -> None:
        self.index(name).setdefault(key, set()).add(child_id)
        self.changed_index.add((name, key))

    def leave(self, name: str, key: ListKey, child_id: str) -> None:
        held = self.index(name).get(key)
        if held is not None and child_id in held:
            held.discard(child_id)
            self.changed_index.add((name, key))

    # -- reading ------------------------------------------------------------------------------

    def read_meta(self) -> Iterator[Row]:
        """The meta rows; the lists' members kept."""
        assert self.read is not None
        for row in self.read("entity", [*META, *INDEXES]):
            if row["entity"] in INDEXES:
                self.index(row["entity"])[list_key(row["id"])] = set(json.loads(row["data"]))
            else:
                yield row

    def hold(self, child_ids: Iterable[str], siblings: bool = False) -> None:
        """Read the children not held (and, with `siblings`, their households and the households'
        children) from the store."""
        if self.read is None:
            return
        self._read_children(self.children.missing(list(child_ids)))
        if siblings:
            households = [c.household for cid in child_ids if (c := self.children.entries.get(cid)) is not None]
            self.hold_households(households)
            self._read_children(self.children.missing(
                [s for h in dict.fromkeys(households) for s in self.households.entries.get(h, ())]))

    def hold_households(self, households: list[str]) -> None:
        if self.read is None:
            return
        missing = self.households.missing(households)
        for h in missing:
            self.households[h] = set()
        for row in self.read("id", missing):
            if row["entity"] == "household":
                self.households[row["id"]] = set(json.loads(row["data"]))

    def _read_children(self, missing: list[str]) -> None:
        for row in self.read("id", missing) if (self.read and missing) else ():
            if row["entity"] == "child":
                self.children[row["id"]] = decode(row["data"])

    def every_child(self, batch: int = 2_000) -> Iterator[list[str]]:
        """Every child's id in batches: those held and (a live projector) those the store holds."""
        ids = list(self.children)
        if self.read is not None:
            ids += [row["id"] for row in self.read("entity", ["child"]) if row["id"] not in self.children]
        for i in range(0, len(ids), batch):
            yield ids[i:i + batch]

    # -- writing ------------------------------------------------------------------------------

    def rows(self) -> Iterator[Row]:
        """The changed households' and members' rows (the children's are written by the view)."""
        for h in sorted(self.changed_households):
            yield {"entity": "household", "id": h, "data": json.dumps(sorted(self.households.entries[h]))}
        for name, key in sorted(self.changed_index):
            yield {"entity": name, "id": list_id(key), "data": json.dumps(sorted(self.index(name).get(key, ())))}
        self.changed_households, self.changed_index = set(), set()

    def trim(self) -> list[str]:
        """Forget children and households beyond the bound; the children forgotten."""
        self.households.trim()
        return self.children.trim()


def read_rows_by(view: Any, table: Table) -> Callable[[str, list[str]], Iterable[Row]]:
    """`Working.read` for a view reading its table through the engine (View.read_rows)."""
    return lambda column, values: view.read_rows(table, column, values)
