"""A double of projections.allocation's interface, until the real module is merged."""

from __future__ import annotations

import importlib.util
import sys
import types
from datetime import date, timedelta

import pytest


def _events(ledger):
    position, out = 0, []
    while True:
        notes = ledger.recorder.select_notifications(position + 1, 5_000)
        if not notes:
            return out
        out.extend(notes)
        position = notes[-1].id


class AllocationDouble:
    """A stand-in with the allocation module's interface (projections.allocation), for testing
    the simulator's side of the waiting-list policy: it offers each waiting child its first wish
    from the month on, without looking at seats (the ledger refuses an acceptance without one)."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    def run_allocation(self, ledger, month, *, seed=None, actor="system", channel="system"):
        from ledger import LedgerError
        from ledger import commands as c

        self.runs.append(month)
        start = date.fromisoformat(month + "-01")
        offers = []
        waiting: dict[tuple[str, str], object] = {}
        placed: set[str] = set()
        for n in _events(ledger):
            kind = n.topic.rsplit(".", 1)[1]
            if kind in ("Opskrevet", "PlaceBooked", "PlaceOffered"):
                e = ledger.mapper.to_domain_event(n)
                if kind == "Opskrevet":
                    waiting[(str(e.originator_id), e.age_group)] = e
                elif kind == "PlaceBooked":
                    placed.add(e.child_id)
                else:
                    placed.add(str(e.originator_id))
        for (child, group), reg in sorted(waiting.items()):
            if child in placed or reg.need_date > start or reg.need_date < start.replace(day=1) - timedelta(days=62):
                continue
            try:
                out = ledger.execute(c.OfferPlace(child_id=child, institution_id=reg.wishes[0], age_group=group,
                                                  start_date=max(start, reg.need_date), expires_on=start,
                                                  rank=1, priority_basis="test double", seed=seed or 0),
                                     actor=actor, channel=channel).result
            except LedgerError:
                continue
            offers.append({"offer_id": out["id"], "child_id": child, "institution_id": reg.wishes[0],
                           "age_group": group, "rank": 1})
        return {"month": month, "offers": offers, "released": [], "unplaced_cases": []}

    def age_roll(self, ledger, month, *, actor="system"):
        return {"month": month, "transfers": []}

    def expire_offers(self, ledger, on, *, actor="system"):
        return 0



@pytest.fixture
def allocation_double(monkeypatch):
    """Install the double as projections.allocation (skips if the real module exists)."""
    real = importlib.util.find_spec
    if real("projections.allocation") is not None:
        pytest.skip("the real allocation module is installed: the policy tests run on it")
    double = AllocationDouble()
    module = types.ModuleType("projections.allocation")
    module.run_allocation, module.age_roll, module.expire_offers = (double.run_allocation, double.age_roll,
                                                                     double.expire_offers)
    monkeypatch.setitem(sys.modules, "projections.allocation", module)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: module if name == "projections.allocation" else real(name, *a))
    return double
