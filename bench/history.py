"""A synthetic history for benchmarks and the read side's scale tests.

Not the synthetic Copenhagen of the demo issue: a deterministic mix of the real
commands (institutions with capacity, households with incomes, children,
bookings, cancellations and transfers), written through the ledger's bulk path.
"""

from __future__ import annotations

import random
from datetime import date, timedelta

from ledger import Ledger, SimulatedClock
from ledger import commands as c

DISTRICTS = ["Amager Vest", "Amager Øst", "Nørrebro", "Bispebjerg", "Christianshavn", "Indre By",
             "Østerbro", "Brønshøj-Husum", "Vanløse", "Vesterbro", "Valby", "Kongens Enghave"]


def build_history(database_url: str, children: int = 2_000, institutions: int = 40, seed: int = 7,
                  batch_size: int = 500) -> Ledger:
    """Write a history of roughly 9 events per child; returns the open ledger."""
    rng = random.Random(seed)
    clock = SimulatedClock(date(2025, 1, 2))
    ledger = Ledger(database_url, clock=clock)
    with ledger.bulk(actor="bench", channel="system", batch_size=batch_size) as bulk:
        # The simulator's rule set: 2025 as published, synthetic money after (bench/billing_runs.py
        # issues into 2026, which the published data leaves provisional).
        bulk.execute(c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads-synthetic@1",
                                       effective_from=date(2025, 1, 1)))
        insts = []
        for i in range(institutions):
            kind = ["integreret", "vuggestue", "boernehave", "integreret"][i % 4]
            inst = bulk.execute(c.RegisterInstitution(name=f"Institution {i}", district=DISTRICTS[i % 12],
                                                      kind=kind))["id"]
            for group in ("nursery", "kindergarten"):
                if (kind, group) in (("vuggestue", "kindergarten"), ("boernehave", "nursery")):
                    continue
                bulk.execute(c.ChangeCapacity(institution_id=inst, age_group=group, seats=rng.randint(20, 60),
                                              effective_from=date(2025, 1, 1)))
            insts.append((inst, kind))
    bookings = []
    with ledger.bulk(actor="bench", channel="caseworker", batch_size=batch_size) as bulk:
        for n in range(children):
            district = DISTRICTS[n % 12]
            hh = bulk.execute(c.RegisterHousehold(district=district, children_under_18=rng.randint(1, 3),
                                                  single_parent=rng.random() < 0.2))["id"]
            bulk.execute(c.DeclareIncome(household_id=hh, annual_income_ore=rng.randint(150_000, 900_000) * 100,
                                         effective_from=date(2025, 1, 1)))
            birth = date(2021, 1, 1) + timedelta(days=rng.randint(0, 1300))
            child = bulk.execute(c.RegisterChild(household_id=hh, birth_date=birth))["id"]
            inst, kind = insts[rng.randrange(len(insts))]
            start = max(date(2025, 2, 1), birth + timedelta(days=200)).replace(day=1) + timedelta(days=31)
            start = start.replace(day=1)
            booked = bulk.execute(c.BookPlace(child_id=child, institution_id=inst, start_date=start))
            if booked:
                bookings.append((booked, rng.random()))
    with ledger.bulk(actor="bench", channel="caseworker", batch_size=batch_size) as bulk:
        for booked, roll in bookings:
            start = date.fromisoformat(booked["start_date"])
            end = date.fromisoformat(booked["end_date"])
            if roll < 0.15 and end > start + timedelta(days=90):
                bulk.execute(c.CancelBooking(booking_id=booked["id"], effective_date=start + timedelta(days=90),
                                             reason="moved away"))
            elif roll < 0.25 and end > start + timedelta(days=60):
                inst, _ = insts[int(roll * 1000) % len(insts)]
                bulk.execute(c.TransferChild(booking_id=booked["id"], institution_id=inst,
                                             effective_date=start + timedelta(days=60), reason="parents asked"))
    return ledger


if __name__ == "__main__":  # pragma: no cover - manual use
    import sys

    led = build_history(sys.argv[1], children=int(sys.argv[2]) if len(sys.argv) > 2 else 2_000)
    print(led.max_position())
    led.close()
