"""Hypothesis stateful test: random command sequences against an independent model.

The model (the first half of this file, written apart from src/ledger: plain sets and a
day-by-day count of seats, Copenhagen's numbers written out by hand; only the age dates come
from src/rules, whose own tests pin them) decides, for every command, whether the ledger must accept
or refuse it (and with which kind of error); the test fails on a wrong refusal as well as on
a wrong acceptance. Commands: caseworker and self-service bookings, capacity overrides,
cancellations, transfers, capacity changes, registrations (opskrivning), offers and their
answers, incomes, statements, and the clock moving on. After every step the ledger's own
state is compared with the model's: each institution's capacity schedule and seats held,
each child's placements, each booking's status and last day, registrations, offers, issued
statements; and, from the ledger's numbers alone, invariant 1 (seats held <= capacity plus
the overrides holding a seat that day) and invariant 2 (a child holds one booking a day).

hypothesis.target steers the search toward refusals and accepted transfers, and the test
asserts that the runs together reached every kind of outcome it is meant to exercise.
`make soak` (PLADS_SOAK=1) runs many more, longer, randomised sequences.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from hypothesis import HealthCheck, settings, target
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from hypothesis.stateful import run_state_machine_as_test

import rules
from ledger import AlreadyIssued, ChildAlreadyBooked, Conflict, InvalidCommand, LedgerError, NoSeat, SimulatedClock
from ledger import commands as c
from ledger.aggregates import Booking, Child, Household, Institution, Statement, statement_id

# -- the model -----------------------------------------------------------------------------------

ONE_DAY = timedelta(days=1)
HORIZON = timedelta(days=3 * 366)
HELD_SHARE_PERCENT = 20
BASIS_MINIMUM = 6
RELEASE_LEAD = timedelta(weeks=4)
MAX_WISHES = {"nursery": 2, "kindergarten": 3}
KIND_GROUPS = {"vuggestue": ("nursery",), "integreret": ("nursery", "kindergarten"), "boernehave": ("kindergarten",)}
RULE_SET = rules.load_rule_set("copenhagen-book-en-plads@1")


def days(first: date, last: date):
    d = first
    while d <= last:
        yield d
        d += ONE_DAY


def first_of_month(day: date) -> date:
    return day.replace(day=1)


@dataclass
class Bk:
    child: int
    inst: int
    pool: str
    channel: str
    start: date
    end: date  # the last day; moves earlier on a cancellation or transfer
    segments: list[tuple[str, date, date]]  # seats held: (age group, first, last), empty pieces dropped
    override: bool
    status: str = "booked"


@dataclass
class Offer:
    child: int
    inst: int
    group: str
    pool: str
    start: date
    expires: date
    state: str = "open"


@dataclass
class Model:
    today: date
    kinds: list[str]  # institution index -> kind
    births: list[date]  # child index -> birth date
    schedule: dict[tuple[int, str, str], list[tuple[date, int]]] = field(default_factory=dict)
    bookings: dict[str, Bk] = field(default_factory=dict)
    registrations: dict[tuple[int, str], dict] = field(default_factory=dict)  # (child, group) -> wishes, active
    offers: dict[str, Offer] = field(default_factory=dict)

    # -- what the model knows -------------------------------------------------------------------
    def capacity(self, inst: int, group: str, pool: str, day: date) -> int:
        seats = 0
        for start, n in self.schedule.get((inst, group, pool), []):
            if start <= day:
                seats = n
        return seats

    def in_use(self, inst: int, group: str, pool: str, channel: str | None = None) -> Counter:
        """Seats held per day in one pool (by bookings made through `channel`, if given)."""
        count: Counter = Counter()
        for b in self.bookings.values():
            if b.inst == inst and b.pool == pool and (channel is None or b.channel == channel):
                for g, a, z in b.segments:
                    if g == group:
                        count.update(days(a, z))
        return count

    def held(self, inst: int, group: str, pool: str) -> list[tuple[date, date]]:
        return sorted((a, z) for b in self.bookings.values() if b.inst == inst and b.pool == pool
                      for g, a, z in b.segments if g == group)

    def placements(self, child: int, ending: dict[str, date] | None = None) -> dict[str, tuple[date, date]]:
        out = {}
        for bid, b in self.bookings.items():
            if b.child == child:
                last = min(b.end, (ending or {}).get(bid, b.end))
                out[bid] = (b.start, last)
        return out

    # -- bookings --------------------------------------------------------------------------------
    def segments(self, child: int, inst: int, start: date):
        """The seats a booking from `start` would hold, or None when the child's age rules it out."""
        kind, birth = self.kinds[inst], self.births[child]
        try:
            end = rules.booking_end(birth, start, kind, RULE_SET)
            return end, rules.seat_segments(birth, start, end, kind, RULE_SET)
        except rules.RuleError:
            return None

    def short_days(self, inst: int, pool: str, segments, channel: str) -> list[tuple[str, date]]:
        """Days on which one more seat does not fit (for self-service: the self-service rule)."""
        if channel == "self_service" and pool == "general":
            return [] if self_service_may_book(self, inst, segments) else [("self-service", self.today)]
        short = []
        for group, a, z in segments:
            used = self.in_use(inst, group, pool)
            short += [(group, d) for d in days(a, z) if used[d] + 1 > self.capacity(inst, group, pool, d)]
        return short

    def decide_booking(self, child: int, inst: int, start: date, pool: str, channel: str, override: bool,
                       ending: dict[str, date] | None = None, offer: bool = False):
        """(refusals, (end, segments, override flag)) for a booking, an accepted offer or a transfer.

        An accepted offer is the placement office's decision, whoever answers it: checked and counted
        as a caseworker placement (no self-service share, any pool)."""
        why: set[type] = set()
        if override and channel != "caseworker":
            why.add(InvalidCommand)
        if offer:
            channel = "caseworker"
        if pool != "general" and channel == "self_service":
            why.add(InvalidCommand)  # basis seats are the caseworkers'
        if channel == "self_service" and start < self.today:
            why.add(InvalidCommand)
        if start < self.today - HORIZON:
            why.add(InvalidCommand)
        planned = self.segments(child, inst, start)
        if planned is None:
            return why | {InvalidCommand}, None
        end, segments = planned
        if any(a <= end and start <= z and a <= z for a, z in self.placements(child, ending).values()):
            why.add(ChildAlreadyBooked)
        short = self.short_days(inst, pool, segments, channel)
        if short and not override:
            why.add(NoSeat)
        return why, (end, segments, bool(short))

    def record_booking(self, bid: str, child: int, inst: int, start: date, pool: str, channel: str, planned):
        end, segments, override = planned
        start_group = segments[0][0]
        if (child, start_group) not in self.registrations:  # a booking registers the child with it
            self.registrations[(child, start_group)] = {"wishes": {inst}, "active": True, "need": start}
        for (c, _), reg in self.registrations.items():
            if c == child and inst in reg["wishes"]:
                reg["active"] = False  # placed in a wished institution: off that waiting list
        self.bookings[bid] = Bk(child, inst, pool, channel, start, end, list(segments), override)

    def end_booking(self, bid: str, first_day_without: date, status: str) -> None:
        b = self.bookings[bid]
        b.status = status
        b.end = min(b.end, first_day_without - ONE_DAY)
        b.segments = [(g, a, min(z, first_day_without - ONE_DAY)) for g, a, z in b.segments
                      if a < first_day_without]

    def decide_cancel(self, bid: str, effective: date, channel: str) -> set[type]:
        b, why = self.bookings[bid], set()
        if b.status != "booked":
            why.add(Conflict)
        if channel == "self_service" and effective < self.today:
            why.add(InvalidCommand)
        if effective > b.end:
            why.add(InvalidCommand)
        if max(effective, b.start) < self.today - HORIZON:
            why.add(InvalidCommand)
        return why

    def decide_transfer(self, bid: str, inst: int, effective: date, channel: str):
        b, why = self.bookings[bid], set()
        if b.status != "booked":
            why.add(Conflict)
        if inst == b.inst:
            why.add(InvalidCommand)
        if not b.start < effective <= b.end + ONE_DAY:
            why.add(InvalidCommand)
        if channel == "self_service" and effective < self.today:
            why.add(InvalidCommand)
        more, planned = self.decide_booking(b.child, inst, effective, b.pool, channel, False,
                                            ending={bid: effective - ONE_DAY})
        return why | more, planned

    # -- capacity ---------------------------------------------------------------------------------
    def decide_capacity(self, inst: int, group: str, pool: str, seats: int, effective: date) -> set[type]:
        if group not in KIND_GROUPS[self.kinds[inst]] or effective < self.today - HORIZON:
            return {InvalidCommand}
        if pool == "basis":  # a basis institution has at least 6 basis seats over its age groups, or none
            total = seats + sum(self.capacity(inst, g, "basis", effective) for g in KIND_GROUPS[self.kinds[inst]]
                                if g != group)
            if 0 < total < BASIS_MINIMUM:
                return {InvalidCommand}
        later = [d for d, _ in self.schedule.get((inst, group, pool), []) if d > effective]
        until = min(later) - ONE_DAY if later else date.max
        used = self.in_use(inst, group, pool)
        fullest = max((n for d, n in used.items() if effective <= d <= until), default=0)
        if fullest <= seats:
            return set()
        first_fullest = min(d for d, n in used.items() if effective <= d <= until and n == fullest)
        # Overrides may hold more than capacity: only a cut below the capacity then in force strands one.
        return {Conflict} if seats < self.capacity(inst, group, pool, first_fullest) else set()

    def record_capacity(self, inst: int, group: str, pool: str, seats: int, effective: date) -> None:
        entries = [e for e in self.schedule.get((inst, group, pool), []) if e[0] != effective]
        self.schedule[(inst, group, pool)] = sorted(entries + [(effective, seats)])

    # -- registrations and offers ----------------------------------------------------------------------
    def decide_register(self, child: int, group: str, wishes: list[int], need: date) -> set[type]:
        why = set()
        reg = self.registrations.get((child, group))
        if reg and reg["active"]:
            why.add(Conflict)
        birth = self.births[child]
        kg_from, school = rules.kindergarten_from(birth, RULE_SET), rules.school_start(birth, RULE_SET)
        if (len(wishes) > MAX_WISHES[group] or any(group not in KIND_GROUPS[self.kinds[i]] for i in wishes)
                or need >= school or (group == "nursery") != (need < kg_from)):
            why.add(InvalidCommand)
        return why

    def decide_offer(self, child: int, group: str, expires: date) -> set[type]:
        why = set()
        reg = self.registrations.get((child, group))
        if not reg or not reg["active"]:
            why.add(Conflict)
        if expires < self.today:
            why.add(InvalidCommand)
        return why

    def decide_accept(self, oid: str, channel: str):
        o = self.offers[oid]
        why = {Conflict} if o.state != "open" or self.today > o.expires else set()
        more, planned = self.decide_booking(o.child, o.inst, o.start, o.pool, channel, False, offer=True)
        return why | more, planned

    def decide_decline(self, oid: str) -> set[type]:
        return {Conflict} if self.offers[oid].state != "open" else set()

    def decide_expire(self, oid: str) -> set[type]:
        o = self.offers[oid]
        return {Conflict} if o.state != "open" or self.today <= o.expires else set()


def self_service_may_book(model: Model, inst: int, segments) -> bool:
    """May a parent book these general seats (`segments`) by self-service today?

    The held share governs intake (issue 20, SPEC § 5): in each month, floor(capacity * 20 / 100)
    general seats are held for caseworker placements, which use them first; until 4 weeks before
    the month's 1st the held seats no caseworker placement uses are kept from self-service. In the
    booking's start month the seats in use plus this one must fit within the capacity less the
    seats still held; in every later month any free general seat will do.
    """
    start = segments[0][1]
    for group, a, z in segments:
        used = model.in_use(inst, group, "general")
        by_caseworkers = model.in_use(inst, group, "general", channel="caseworker")
        for d in days(a, z):
            capacity = model.capacity(inst, group, "general", d)
            limit = capacity
            if first_of_month(d) == first_of_month(start) and model.today < first_of_month(d) - RELEASE_LEAD:
                limit -= max(0, capacity * HELD_SHARE_PERCENT // 100 - by_caseworkers[d])
            if used[d] + 1 > limit:
                return False
    return True


# -- the test ----------------------------------------------------------------------------------------

SOAK = bool(os.environ.get("PLADS_SOAK"))
BASE = date(2025, 1, 1)
TODAY = date(2025, 1, 6)
BIRTHS = [date(2021, 11, 11), date(2022, 4, 20), date(2022, 12, 5), date(2023, 5, 10), date(2023, 9, 1),
          date(2024, 3, 15), date(2024, 6, 1), date(2024, 9, 20), date(2025, 1, 2)]
# Small pools, so that seats run out; 5 general seats hold back one (20 % rounded down).
# A basis institution has at least 6 basis seats (seed 003).
INSTITUTIONS = [
    ("vuggestue", {("nursery", "general"): 5, ("nursery", "basis"): 6}),
    ("integreret", {("nursery", "general"): 2, ("kindergarten", "general"): 5, ("kindergarten", "basis"): 6}),
    ("boernehave", {("kindergarten", "general"): 3, ("kindergarten", "basis"): 6}),
]
GROUPS = ["nursery", "kindergarten"]
CHANNELS = ["caseworker", "self_service"]


def month_day(months: int, day: int) -> date:
    y, m = divmod(BASE.month - 1 + months, 12)
    return date(BASE.year + y, m + 1, day)


def make_machine(store, city_cls, runs: list[Counter]):
    class LedgerMachine(RuleBasedStateMachine):
        @initialize(busy=st.booleans())
        def setup(self, busy):
            self.stats: Counter = Counter()
            self.clock = SimulatedClock(TODAY)
            self.ledger = store.ledger(url=store.new_url(), clock=self.clock)
            self.city = city_cls(self.ledger)
            self.model = Model(today=TODAY, kinds=[k for k, _ in INSTITUTIONS], births=list(BIRTHS))
            self.insts = []
            for i, (kind, seats) in enumerate(INSTITUTIONS):
                self.insts.append(self.city.institution(kind=kind, nursery=None, kindergarten=None, pools=()))
                for (group, pool), n in seats.items():
                    self._capacity(i, group, pool, n, BASE)
            self.households = [self.city.household() for _ in range(3)]
            self.children = [self.city.child(self.households[i % 3], birth) for i, birth in enumerate(BIRTHS)]
            self.booking_ids: list[str] = []  # every booking ever made, cancelled and transferred ones too
            self.offer_ids: list[str] = []
            self.issued = {}  # (household, month) -> (lines, total)
            if busy:  # four of the nursery's five general seats taken by families (the fifth is the held
                # share: caseworker placements would have used it first), no basis seat
                self._capacity(0, "nursery", "basis", 0, BASE)
                for child in (3, 4, 5, 6):
                    self._book(child, 0, date(2025, 8, 1), "general", "self_service", False)

        def teardown(self):
            if hasattr(self, "ledger"):
                self.ledger.close()
                # Steer toward runs that reach many kinds of outcome, refusals for want of a seat
                # (full institutions) and accepted transfers. (A plain count of refusals would
                # reward repeating one hopeless command.)
                target(float(len(self.stats)), label="kinds of outcome")
                target(float(sum(n for k, n in self.stats.items() if k.endswith("NoSeat"))), label="no seat")
                target(float(self.stats["transfer accepted"]), label="accepted transfers")
                runs.append(self.stats)

        # -- one command, judged by the model ---------------------------------------------------
        def attempt(self, what: str, why: set[type], command, channel: str = "caseworker"):
            """Run a command; fail unless the ledger accepts exactly what the model accepts."""
            expected = " or ".join(sorted(e.__name__ for e in why))
            try:
                out = self.city.run(command, channel=channel)
            except LedgerError as e:
                assert why, f"{what} refused, but the model accepts it: {type(e).__name__}: {e.detail}"
                assert isinstance(e, tuple(why)), f"{what} refused as {type(e).__name__} ({e.detail}); " \
                                                  f"the model expects {expected}"
                self.stats[f"{what} refused"] += 1
                self.stats[f"{what} refused: {type(e).__name__}"] += 1
                return None
            assert not why, f"{what} accepted ({out}), but the model expects {expected}"
            self.stats[f"{what} accepted"] += 1
            return out

        def _capacity(self, inst, group, pool, seats, effective):
            why = self.model.decide_capacity(inst, group, pool, seats, effective)
            out = self.attempt("capacity change", why, c.ChangeCapacity(
                institution_id=self.insts[inst], age_group=group, pool=pool, seats=seats,
                effective_from=effective), channel="system")
            if out is not None:
                self.model.record_capacity(inst, group, pool, seats, effective)

        def _book(self, child, inst, start, pool, channel, override):
            why, planned = self.model.decide_booking(child, inst, start, pool, channel, override)
            what = "self-service booking" if channel == "self_service" else "booking"
            if channel == "self_service" and why == {NoSeat} and not self.model.short_days(
                    inst, pool, planned[1], "caseworker"):
                self.stats["self-service kept out of the held share"] += 1
            out = self.attempt(what, why, c.BookPlace(
                child_id=self.children[child], institution_id=self.insts[inst], start_date=start, pool=pool,
                override=override, reason="urgent case" if override else None), channel=channel)
            if out is not None:
                assert out["override"] == planned[2], "the override flag differs from the model's"
                self.stats["override used"] += planned[2]
                self.model.record_booking(out["id"], child, inst, start, pool, channel, planned)
                self.booking_ids.append(out["id"])

        # -- commands ---------------------------------------------------------------------------
        # Bookings are the heart of it: two rules each, so that seats run out within a run.
        @rule(child=st.integers(0, len(BIRTHS) - 1), inst=st.integers(0, 2), months=st.integers(0, 30),
              day=st.sampled_from([1, 1, 15]), pool=st.sampled_from(["general", "general", "basis"]),
              override=st.booleans(), fitting=st.sampled_from([True, True, True, False]))
        def book_by_caseworker(self, child, inst, months, day, pool, override, fitting):
            start = self.start(child, inst, months, day) if fitting else month_day(months, day)
            self._book(child, inst, start, pool, "caseworker", override)

        book_by_caseworker_too = book_by_caseworker

        @rule(child=st.integers(0, len(BIRTHS) - 1), inst=st.integers(0, 2), months=st.integers(0, 30),
              day=st.sampled_from([1, 1, 15]), pool=st.sampled_from(["general", "general", "general", "basis"]),
              fitting=st.sampled_from([True, True, True, False]))
        def book_by_parent(self, child, inst, months, day, pool, fitting):
            start = self.start(child, inst, months, day) if fitting else month_day(months, day)
            self._book(child, inst, start, pool, "self_service", False)

        def start(self, child, inst, months, day):
            """A start the child's age and the institution allow, from today on (if there is one)."""
            birth, kind = BIRTHS[child], self.model.kinds[inst]
            kg_from, school = rules.kindergarten_from(birth, RULE_SET), rules.school_start(birth, RULE_SET)
            first = max(rules.earliest_start(birth, RULE_SET), kg_from if kind == "boernehave" else BASE,
                        self.model.today)
            last = kg_from if kind == "vuggestue" else school
            options = [d for d in (month_day(m, day) for m in range(40)) if first <= d < last]
            return options[months % len(options)] if options else month_day(months, day)

        book_by_parent_too = book_by_parent

        @rule(child=st.sampled_from([7, 8, 7, 8, 2]), months=st.integers(0, 30), day=st.sampled_from([1, 15]),
              by=st.sampled_from(["parent", "parent", "parent", "override"]))
        def the_nursery_fills_up(self, child, months, day, by):
            """The youngest children in the nursery's general seats (where the held share binds), or a
            caseworker's override into its basis seats."""
            start = self.start(child, 0, months, day)
            if by == "parent":
                self._book(child, 0, start, "general", "self_service", False)
            else:
                self._book(child, 0, start, "basis", "caseworker", True)

        @precondition(lambda self: self.booking_ids)
        @rule(data=st.data(), channel=st.sampled_from(CHANNELS), anywhere=st.booleans())
        def cancel(self, data, channel, anywhere):
            bid = data.draw(st.sampled_from(self.booking_ids))
            b = self.model.bookings[bid]
            if anywhere:
                effective = BASE + timedelta(days=data.draw(st.integers(0, 1200)))
            else:  # from its start to the day after its last day
                effective = b.start + timedelta(days=data.draw(st.integers(0, (b.end - b.start).days + 1)))
            why = self.model.decide_cancel(bid, effective, channel)
            out = self.attempt("cancellation", why, c.CancelBooking(
                booking_id=bid, effective_date=effective, reason="test"), channel=channel)
            if out is not None:
                self.model.end_booking(bid, max(effective, b.start), "cancelled")

        @precondition(lambda self: self.booking_ids)
        @rule(data=st.data(), inst=st.integers(0, 2), channel=st.sampled_from(CHANNELS), anywhere=st.booleans())
        def transfer(self, data, inst, channel, anywhere):
            live = [bid for bid in self.booking_ids if self.model.bookings[bid].status == "booked"]
            bid = data.draw(st.sampled_from(self.booking_ids if anywhere or not live else live))
            b = self.model.bookings[bid]
            if anywhere:
                effective = BASE + timedelta(days=data.draw(st.integers(0, 1200)))
            else:  # from the day after its start to the day after its last day
                effective = b.start + timedelta(days=data.draw(st.integers(1, max(1, (b.end - b.start).days + 1))))
            why, planned = self.model.decide_transfer(bid, inst, effective, channel)
            out = self.attempt("transfer", why, c.TransferChild(
                booking_id=bid, institution_id=self.insts[inst], effective_date=effective, reason="test"),
                channel=channel)
            if out is not None:
                assert out["from_booking_id"] == bid and out["end_date"] == planned[0].isoformat()
                self.model.end_booking(bid, effective, "transferred")
                self.model.record_booking(out["id"], b.child, inst, effective, b.pool, channel, planned)
                self.booking_ids.append(out["id"])

        @rule(child=st.integers(0, len(BIRTHS) - 1), group=st.sampled_from(GROUPS), fitting=st.booleans(),
              wishes=st.lists(st.integers(0, 2), min_size=1, max_size=3, unique=True), months=st.integers(0, 36))
        def register(self, child, group, fitting, wishes, months):
            need = month_day(months, 1)
            if fitting:  # mostly a need date and wishes that fit the child's age
                birth = BIRTHS[child]
                group = "nursery" if rules.kindergarten_from(birth, RULE_SET) > need else "kindergarten"
                wishes = [i for i in wishes if group in KIND_GROUPS[self.model.kinds[i]]][:MAX_WISHES[group]] or \
                    [1]
            why = self.model.decide_register(child, group, wishes, need)
            out = self.attempt("registration", why, c.Register(
                child_id=self.children[child], age_group=group, wishes=[self.insts[i] for i in wishes],
                need_date=need))
            if out is not None:
                self.model.registrations[(child, group)] = {"wishes": set(wishes), "active": True, "need": need}

        @precondition(lambda self: any(r["active"] for r in self.model.registrations.values()))
        @rule(data=st.data(), waiting=st.sampled_from([True, True, True, False]), months=st.integers(0, 30),
              pool=st.sampled_from(["general", "general", "basis"]), expires_in=st.sampled_from([-3, 0, 14, 40, 60]),
              answer=st.sampled_from([None, "accept", "accept", "decline"]), channel=st.sampled_from(CHANNELS))
        def offer(self, data, waiting, months, pool, expires_in, answer, channel):
            lists = [(k, r) for k, r in self.model.registrations.items() if r["active"]]
            free = [(k, r) for k, r in lists if not any(b.child == k[0] and b.start <= b.end
                                                        for b in self.model.bookings.values())]
            lists = free or lists  # a child without a place, when there is one
            if waiting:  # mostly a child on a waiting list, a place it wished, from its month
                (child, group), reg = data.draw(st.sampled_from(lists))
                inst = data.draw(st.sampled_from(sorted(reg["wishes"])))
                start = max(reg["need"], month_day(months, 1)) if months % 3 == 0 else reg["need"]
            else:
                child, inst = data.draw(st.integers(0, len(BIRTHS) - 1)), data.draw(st.integers(0, 2))
                group, start = data.draw(st.sampled_from(GROUPS)), month_day(months, 1)
            expires = self.model.today + timedelta(days=expires_in)
            why = self.model.decide_offer(child, group, expires)
            out = self.attempt("offer", why, c.OfferPlace(
                child_id=self.children[child], institution_id=self.insts[inst], age_group=group, start_date=start,
                pool=pool, expires_on=expires, rank=1, priority_basis="test"))
            if out is not None:
                self.model.offers[out["id"]] = Offer(child, inst, group, pool, start, expires)
                self.offer_ids.append(out["id"])
                if answer:  # answered at once, or left open for a later step
                    self.answer(out["id"], answer, channel)

        @precondition(lambda self: self.offer_ids)
        @rule(data=st.data(), answer=st.sampled_from(["accept", "accept", "decline", "expire"]),
              channel=st.sampled_from(CHANNELS))
        def answer_offer(self, data, answer, channel):
            open_ = [oid for oid in self.offer_ids if self.model.offers[oid].state == "open"]
            oid = data.draw(st.sampled_from(open_ if open_ and answer != "expire" else self.offer_ids))
            self.answer(oid, answer, channel)

        def answer(self, oid, answer, channel):
            o = self.model.offers[oid]
            child_id = self.children[o.child]
            if answer == "accept":
                why, planned = self.model.decide_accept(oid, channel)
                out = self.attempt("offer acceptance", why, c.AcceptOffer(child_id=child_id, offer_id=oid),
                                   channel=channel)
                if out is not None:
                    o.state = "accepted"
                    # counted as a caseworker placement, whoever answered
                    self.model.record_booking(out["id"], o.child, o.inst, o.start, o.pool, "caseworker", planned)
                    self.booking_ids.append(out["id"])
            elif answer == "decline":
                if self.attempt("offer decline", self.model.decide_decline(oid),
                                c.DeclineOffer(child_id=child_id, offer_id=oid), channel=channel) is not None:
                    o.state = "declined"
            elif self.attempt("offer expiry", self.model.decide_expire(oid),
                              c.ExpireOffer(child_id=child_id, offer_id=oid), channel="system") is not None:
                o.state = "expired"

        answer_offer_too = answer_offer

        # Time passing, capacity changes, incomes and statements share one rule, so that they do not
        # crowd out the bookings.
        @rule(what=st.sampled_from(["time", "time", "capacity", "capacity", "income", "statements"]),
              n=st.sampled_from([1, 7, 30, 45]), hh=st.integers(0, 2), income=st.integers(0, 900_000),
              months=st.integers(0, 24), inst=st.integers(0, 2), group=st.sampled_from(GROUPS),
              pool=st.sampled_from(["general", "general", "basis"]), seats=st.integers(0, 6),
              offset=st.integers(0, 1200))
        def meanwhile(self, what, n, hh, income, months, inst, group, pool, seats, offset):
            if what == "capacity":
                self._capacity(inst, group, pool, seats, BASE + timedelta(days=offset))
            elif what == "time":
                self.clock.advance(timedelta(days=n))
                self.model.today += timedelta(days=n)
            elif what == "income":
                out = self.attempt("income", set(), c.DeclareIncome(
                    household_id=self.households[hh], annual_income_ore=income * 100, effective_from=BASE))
                assert isinstance(out["pay_share_percent"], int) and 0 <= out["pay_share_percent"] <= 100
            else:
                self.issue_statements(months)

        def issue_statements(self, months):
            month = month_day(months, 1).isoformat()[:7]
            statements = [c.HouseholdStatement(household_id=h, total_ore=100 * (i + 1) + months,
                                               lines=[c.StatementLine(kind="fee", amount_ore=100 * (i + 1) + months)])
                          for i, h in enumerate(self.households)]
            why = {AlreadyIssued} if any(m == month for _, m in self.issued) else set()
            if self.attempt("statements", why, c.IssueStatements(month=month, statements=statements),
                            channel="system") is not None:
                for s in statements:
                    self.issued[(str(s.household_id), month)] = (
                        [line.model_dump(mode="json") for line in s.lines], s.total_ore)

        # -- the ledger's own state against the model, after every step ---------------------------------------
        @invariant()
        def ledger_state_matches_the_model(self):
            if not hasattr(self, "ledger"):
                return
            assert self.ledger.today() == self.model.today
            for i, inst_id in enumerate(self.insts):
                institution = self.ledger.get(Institution, inst_id)
                for group in KIND_GROUPS[self.model.kinds[i]]:
                    for pool in ("general", "basis"):
                        assert institution.schedule(group, pool) == self.model.schedule.get((i, group, pool), [])
                        held = sorted(institution.seats_held(group, pool))
                        assert held == self.model.held(i, group, pool), f"seats held in {group}/{pool} of {i}"
                        self._capacity_respected(institution, i, group, pool, held)
            for i, child_id in enumerate(self.children):
                child = self.ledger.get(Child, child_id)
                ledger_spans = {bid: (a, z) for bid, (_, a, z) in child.placements.items()}
                assert ledger_spans == self.model.placements(i)
                live = sorted((a, z) for a, z in ledger_spans.values() if a <= z)
                assert all(z1 < a2 for (_, z1), (a2, _) in zip(live, live[1:])), "a child booked twice a day"
                for (ci, group), reg in self.model.registrations.items():
                    if ci == i:
                        mine = child.registrations[group]
                        assert mine["active"] == reg["active"]
                        assert {self.insts.index(w) for w in mine["wishes"]} == reg["wishes"]
                for oid, offer in child.offers.items():
                    assert offer["state"] == self.model.offers[oid].state
            for bid in self.booking_ids:
                booking, b = self.ledger.get(Booking, bid), self.model.bookings[bid]
                assert (booking.status, booking.end_date) == (b.status, b.end)
            for hh in self.households:
                assert all(type(share) is int for _, share in self.ledger.get(Household, hh).friplads)
            for (hh, month), (lines, total) in self.issued.items():
                s = self.ledger.get(Statement, statement_id(hh, month))
                assert s.version == 1 and s.lines == lines and s.total_ore == total and type(total) is int

        def _capacity_respected(self, institution, i, group, pool, held):
            """Invariant 1 from the ledger's own numbers: held <= capacity + overrides that day."""
            counts = Counter(d for a, z in held for d in days(a, z))
            overrides = Counter(d for b in self.model.bookings.values()
                                if b.inst == i and b.pool == pool and b.override
                                for g, a, z in b.segments if g == group for d in days(a, z))
            for d, n in counts.items():
                assert n <= institution.capacity_on(group, pool, d) + overrides[d], f"{group}/{pool} full on {d}"

    return LedgerMachine


# Outcomes the runs together must reach: else the search never tried what the test is about.
MUST_REACH = [
    "booking accepted", "booking refused", "self-service booking accepted", "self-service booking refused",
    "self-service kept out of the held share", "override used", "cancellation accepted", "cancellation refused",
    "transfer accepted", "transfer refused", "capacity change accepted", "capacity change refused",
    "registration accepted", "registration refused", "offer accepted", "offer acceptance accepted",
    "offer acceptance refused",
]


def test_random_command_sequences_match_the_model(store, city_class):
    runs: list[Counter] = []
    examples = (16 if store.kind == "sqlite" else 8) * (25 if SOAK else 1)
    run_state_machine_as_test(
        make_machine(store, city_class, runs),
        settings=settings(max_examples=examples, stateful_step_count=80 if SOAK else 40, deadline=None,
                          derandomize=not SOAK, database=None, suppress_health_check=list(HealthCheck)),
    )
    total = sum(runs, Counter())
    missing = [k for k in MUST_REACH if not total[k]]
    assert not missing, f"the runs never reached: {missing} (reached: {dict(total)})"

