"""Hypothesis stateful test: random command sequences keep invariants 1-4.

A simple in-test model keeps every booking as (institution, pool, per-day seat
use) and checks, after every step, that the ledger agrees with it and that:
1. seats in use <= capacity on every day (plus the explicit overrides),
2. a child holds at most one booking on any day,
3. money is integer øre,
4. issued statements never change.
The model also checks each refusal: a caseworker booking refused for lack of a
seat must really lack one on some day, and an accepted one must have had one.
"""

from __future__ import annotations

from datetime import date, timedelta

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

import rules
from ledger import ChildAlreadyBooked, Conflict, InvalidCommand, LedgerError, NoSeat
from ledger import commands as c
from ledger.aggregates import Child, Household, Institution, Statement, statement_id

BASE = date(2025, 1, 1)
BIRTHS = [date(2021, 11, 11), date(2022, 4, 20), date(2023, 1, 10), date(2023, 9, 1), date(2024, 3, 15), date(2024, 6, 1)]
BASIS_SEATS = 6
KINDS = [("vuggestue", {"nursery": 2}), ("integreret", {"nursery": 1, "kindergarten": 2}), ("boernehave", {"kindergarten": 1})]
RULE_SET = rules.load_rule_set("copenhagen-book-en-plads@1")


def days(first: date, last: date):
    d = first
    while d <= last:
        yield d
        d += timedelta(days=1)


def make_machine(store, city_cls):
    class LedgerMachine(RuleBasedStateMachine):
        @initialize()
        def setup(self):
            self.ledger = store.ledger(url=store.new_url())
            self.city = city_cls(self.ledger)
            self.insts = []
            self.capacity = {}  # (inst, group, pool) -> [(from, seats)]
            for kind, seats in KINDS:
                inst = self.city.institution(kind=kind, nursery=seats.get("nursery"),
                                             kindergarten=seats.get("kindergarten"), effective_from=BASE)
                self.insts.append((inst, kind))
                for group in ("nursery", "kindergarten"):
                    if group in seats:
                        self.capacity[(inst, group, "general")] = [(BASE, seats[group])]
                        # A basis institution has at least 6 basis seats (seed 003).
                        self.city.run(c.ChangeCapacity(institution_id=inst, age_group=group, pool="basis",
                                                       seats=BASIS_SEATS, effective_from=BASE), channel="system")
                        self.capacity[(inst, group, "basis")] = [(BASE, BASIS_SEATS)]
            self.households = [self.city.household() for _ in range(3)]
            self.children = [(self.city.child(self.households[i % 3], birth), birth) for i, birth in enumerate(BIRTHS)]
            self.bookings = {}  # id -> dict(child, inst, pool, uses: {(group, day)}, override)
            self.issued = {}  # (household, month) -> (lines, total)

        def teardown(self):
            if hasattr(self, "ledger"):
                self.ledger.close()

        # -- model helpers --------------------------------------------------------------------
        def cap(self, inst, group, pool, day):
            current = 0
            for start, seats in self.capacity.get((inst, group, pool), []):
                if start <= day:
                    current = seats
            return current

        def in_use(self, inst, group, pool, day, overrides=False):
            return sum(1 for b in self.bookings.values()
                       if b["inst"] == inst and b["pool"] == pool and (group, day) in b["uses"]
                       and (not overrides or b["override"]))

        def uses(self, birth, kind, start, end):
            out = set()
            for group, a, z in rules.seat_segments(birth, start, end, kind, RULE_SET):
                out.update((group, d) for d in days(a, z))
            return out

        # -- commands -----------------------------------------------------------------------------
        @rule(child=st.integers(0, 5), inst=st.integers(0, 2), months=st.integers(0, 30),
              day=st.sampled_from([1, 1, 15]), pool=st.sampled_from(["general", "general", "basis"]),
              override=st.booleans())
        def book(self, child, inst, months, day, pool, override):
            child_id, birth = self.children[child]
            inst_id, kind = self.insts[inst]
            y, m = divmod(BASE.month - 1 + months, 12)
            start = date(BASE.year + y, m + 1, day)
            try:
                end = rules.booking_end(birth, start, kind, RULE_SET)
                uses = self.uses(birth, kind, start, end)
            except rules.RuleError:
                uses = None
            kw = dict(pool=pool, override=override, reason="urgent case" if override else None)
            try:
                out = self.city.book(child_id, inst_id, start, **kw)
            except InvalidCommand:
                assert uses is None, "a valid booking was refused as invalid"
                return
            except ChildAlreadyBooked:
                assert any(b["child"] == child_id and b["days"] & {d for _, d in uses}
                           for b in self.bookings.values())
                return
            except NoSeat:
                assert not override
                assert any(self.in_use(inst_id, g, pool, d) + 1 > self.cap(inst_id, g, pool, d) for g, d in uses), \
                    "refused although every day had a free seat"
                return
            assert uses is not None
            short = any(self.in_use(inst_id, g, pool, d) + 1 > self.cap(inst_id, g, pool, d) for g, d in uses)
            assert short == out["override"], "accepted without a free seat on every day" if short else ""
            self.bookings[out["id"]] = dict(child=child_id, inst=inst_id, pool=pool, uses=uses,
                                            days={d for _, d in uses}, override=out["override"])

        @rule(data=st.data(), offset=st.integers(0, 900))
        def cancel(self, data, offset):
            if not self.bookings:
                return
            booking_id = data.draw(st.sampled_from(list(self.bookings)))
            b = self.bookings[booking_id]
            effective = BASE + timedelta(days=offset)
            try:
                self.city.run(c.CancelBooking(booking_id=booking_id, effective_date=effective, reason="test"))
            except (InvalidCommand, Conflict):
                return
            b["uses"] = {(g, d) for g, d in b["uses"] if d < effective}
            b["days"] = {d for d in b["days"] if d < effective}
            b["done"] = True
            if not b["uses"]:
                del self.bookings[booking_id]

        @rule(data=st.data(), inst=st.integers(0, 2), offset=st.integers(0, 900))
        def transfer(self, data, inst, offset):
            active = [k for k, b in self.bookings.items() if not b.get("done")]
            if not active:
                return
            booking_id = data.draw(st.sampled_from(active))
            b = self.bookings[booking_id]
            inst_id, kind = self.insts[inst]
            effective = BASE + timedelta(days=offset)
            birth = next(bd for cid, bd in self.children if cid == b["child"])
            try:
                out = self.city.run(c.TransferChild(booking_id=booking_id, institution_id=inst_id,
                                                    effective_date=effective, reason="test"))
            except (InvalidCommand, Conflict) as e:
                if isinstance(e, NoSeat):
                    end = rules.booking_end(birth, effective, kind, RULE_SET)
                    uses = self.uses(birth, kind, effective, end)
                    assert any(self.in_use(inst_id, g, b["pool"], d) + 1 > self.cap(inst_id, g, b["pool"], d)
                               for g, d in uses)
                return
            b["uses"] = {(g, d) for g, d in b["uses"] if d < effective}
            b["days"] = {d for d in b["days"] if d < effective}
            b["done"] = True
            uses = self.uses(birth, kind, effective, date.fromisoformat(out["end_date"]))
            self.bookings[out["id"]] = dict(child=b["child"], inst=inst_id, pool=b["pool"], uses=uses,
                                            days={d for _, d in uses}, override=False)

        @rule(inst=st.integers(0, 2), group=st.sampled_from(["nursery", "kindergarten"]),
              seats=st.integers(0, 3), offset=st.integers(0, 1200))
        def change_capacity(self, inst, group, seats, offset):
            inst_id, _ = self.insts[inst]
            effective = BASE + timedelta(days=offset)
            try:
                self.city.run(c.ChangeCapacity(institution_id=inst_id, age_group=group, seats=seats,
                                               effective_from=effective), channel="system")
            except (InvalidCommand, Conflict):
                return
            entries = [e for e in self.capacity[(inst_id, group, "general")] if e[0] != effective]
            self.capacity[(inst_id, group, "general")] = sorted(entries + [(effective, seats)])

        @rule(hh=st.integers(0, 2), income=st.integers(0, 900_000))
        def declare_income(self, hh, income):
            out = self.city.run(c.DeclareIncome(household_id=self.households[hh], annual_income_ore=income * 100,
                                                effective_from=BASE))
            assert isinstance(out["pay_share_percent"], int) and 0 <= out["pay_share_percent"] <= 100

        @rule(months=st.integers(0, 24))
        def issue_statements(self, months):
            y, m = divmod(months, 12)
            month = f"{BASE.year + y}-{m + 1:02d}"
            statements = [c.HouseholdStatement(household_id=h, total_ore=100 * (i + 1) + months,
                                               lines=[c.StatementLine(kind="fee", amount_ore=100 * (i + 1) + months)])
                          for i, h in enumerate(self.households)]
            try:
                self.city.run(c.IssueStatements(month=month, statements=statements), channel="system")
            except LedgerError:
                assert any(k[1] == month for k in self.issued)
                return
            for s in statements:
                self.issued[(str(s.household_id), month)] = ([l.model_dump(mode="json") for l in s.lines], s.total_ore)

        # -- invariants --------------------------------------------------------------------------
        @invariant()
        def seats_never_exceed_capacity(self):
            if not hasattr(self, "ledger"):
                return
            for inst_id, _ in self.insts:
                institution = self.ledger.get(Institution, inst_id)
                for (i, group, pool), _ in self.capacity.items():
                    if i != inst_id:
                        continue
                    held = sorted(institution.seats_held(group, pool))
                    model = [b for b in self.bookings.values() if b["inst"] == inst_id and b["pool"] == pool]
                    model_days = sorted(d for b in model for g, d in b["uses"] if g == group)
                    ledger_days = sorted(d for a, z in held for d in days(a, z))
                    assert ledger_days == model_days
                    for d in set(ledger_days):
                        assert (self.in_use(inst_id, group, pool, d)
                                <= self.cap(inst_id, group, pool, d) + self.in_use(inst_id, group, pool, d, True))

        @invariant()
        def a_child_is_booked_once_a_day(self):
            if not hasattr(self, "ledger"):
                return
            for child_id, _ in self.children:
                spans = [(a, z) for _, a, z in self.ledger.get(Child, child_id).placements.values() if a <= z]
                spans.sort()
                for (a1, z1), (a2, z2) in zip(spans, spans[1:]):
                    assert z1 < a2, f"child {child_id} booked twice on {a2}"

        @invariant()
        def money_is_integer_ore_and_statements_never_change(self):
            if not hasattr(self, "ledger"):
                return
            for hh in self.households:
                for _, share in self.ledger.get(Household, hh).friplads:
                    assert type(share) is int
            for (hh, month), (lines, total) in self.issued.items():
                s = self.ledger.get(Statement, statement_id(hh, month))
                assert s.version == 1 and s.lines == lines and s.total_ore == total and type(total) is int

    return LedgerMachine


def test_random_command_sequences_keep_the_invariants(store, city_class):
    machine = make_machine(store, city_class)
    examples = 12 if store.kind == "sqlite" else 6
    run_state_machine_as_test(
        machine,
        settings=settings(max_examples=examples, stateful_step_count=25, deadline=None,
                          suppress_health_check=list(HealthCheck)),
    )
