"""What the families, caseworkers and the system do, day by day, through the real commands.

Book-en-plads: digital families book a seat themselves soon after birth (self-service,
the share not held for caseworkers); if none is free they register and the placement
office finds one; late or less digital families, children with support needs and
newcomers go through a caseworker, who may use the whole general pool (and the basis
and special pools). Waiting list: families register wishes; the monthly allocation run
offers seats; families accept, decline or let the offer expire.

Every change goes through the ledger's bulk path (same handlers and validation as a
user's command); a refused command is counted, never forced.
"""

from __future__ import annotations

import heapq
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timezone
from typing import Any, Callable

import rules
from ledger import Ledger, SimulatedClock
from ledger import commands as c
from processes.billing import BillingViews
from replay.simulate.basics import ACTORS, ONE_DAY, billing_day
from replay.simulate.city import InstitutionPlan, births_share, near, plan_city, plan_clusters, register_city
from replay.simulate.families import Families
from replay.simulate.office import PlacementOffice, SystemRuns, Waiting
from replay.simulate.params import Params
from replay.simulate.population import Kid, Population

__all__ = ["RULE_SETS", "Simulation", "SimulationReport", "billing_day", "policy_rule_set"]

RULE_SETS = {"book-en-plads": "copenhagen-book-en-plads@1", "waitinglist": "copenhagen-2025-waitinglist@1"}
# Past the last published year a simulation runs on the same rules with synthetic money (rule data
# copenhagen-synthetic@1: the last published numbers indexed), and its report names them.
SYNTHETIC = {rule_set: rule_set.replace("@1", "-synthetic@1") for rule_set in RULE_SETS.values()}


def policy_rule_set(policy: str) -> str:
    if policy in RULE_SETS:
        return RULE_SETS[policy]
    if policy in RULE_SETS.values():
        return policy
    raise ValueError(f"unknown policy {policy!r}; one of {', '.join(RULE_SETS)}")


@dataclass
class SimulationReport:
    policy: str
    rule_set: str
    start: date
    end: date
    scale: float
    seed: int
    institutions: int
    seats: dict[str, int]
    counts: Counter = field(default_factory=Counter)
    refusals: Counter = field(default_factory=Counter)
    events: int = 0
    seconds: float = 0.0
    synthetic: list[str] = field(default_factory=list)  # the rule set's synthetic entries, if any

    def as_dict(self) -> dict[str, Any]:
        return {"policy": self.policy, "rule_set": self.rule_set, "start": self.start.isoformat(),
                "end": self.end.isoformat(), "scale": self.scale, "seed": self.seed,
                "institutions": self.institutions, "seats": dict(self.seats), "counts": dict(sorted(self.counts.items())),
                "refusals": dict(sorted(self.refusals.items())), "events": self.events,
                "seconds": round(self.seconds, 1), "synthetic": list(self.synthetic)}

    def synthetic_note(self) -> str | None:
        """The line every report of a city simulated with synthetic money carries."""
        if not self.synthetic:
            return None
        return f"SYNTHETIC numbers in {self.rule_set} (not published): {', '.join(self.synthetic)}"


class Simulation(Families, PlacementOffice, SystemRuns):
    """One simulated city: its state, its calendar of things to do, and the run through it."""

    def __init__(self, ledger: Ledger, params: Params, *, years: float, scale: float, seed: int, policy: str,
                 progress: Callable[[int, int], None] | None = None) -> None:
        if not isinstance(ledger.clock, SimulatedClock):
            raise ValueError("the simulator needs a ledger with a SimulatedClock (recorded time is simulated)")
        if years <= 0 or scale <= 0:
            raise ValueError("years and scale must be positive")
        self.ledger, self.p, self.b = ledger, params, params.behaviour
        self.years, self.scale, self.seed = years, scale, seed
        self.rule_set_id = policy_rule_set(policy)
        self.rs = rules.load_rule_set(self.rule_set_id)
        self.waitinglist = self.rs.policy == "waitinglist"
        self.progress = progress
        # Separate streams, so that a change in one behaviour does not reshuffle the city.
        self.rng = random.Random(f"{seed}:behaviour")
        self._ids = random.Random(f"{seed}:ids")
        self.start = max(ledger.clock.today(), params.city.start)
        self.end = rules.add_months(self.start, max(1, round(12 * years))) - ONE_DAY
        if self.end.year > self.rs.last_published_year("tariffs") and self.rule_set_id in SYNTHETIC:
            self.rule_set_id = SYNTHETIC[self.rule_set_id]
            self.rs = rules.load_rule_set(self.rule_set_id)
        self.today = self.start
        self._queue: list[tuple[date, int, Callable[..., None], tuple]] = []
        self._seq = 0
        self.waiting: dict[tuple[str, str], Waiting] = {}
        self.kids: dict[str, Kid] = {}
        self.bookings: dict[str, dict[str, Any]] = {}  # kid id -> current booking (id, inst, end, kind)
        self.offers: dict[str, str] = {}  # offer id -> kid id
        self.counts: Counter = Counter()
        self.refusals: Counter = Counter()
        self.bulk = None
        self._bulk_cm = None
        self.billing: BillingViews | None = None  # the billing view the monthly runs read

    # -- plumbing ------------------------------------------------------------------------------

    def new_id(self) -> str:
        return str(uuid.UUID(int=self._ids.getrandbits(128), version=4))

    def at(self, day: date, fn: Callable[..., None], *args: Any) -> None:
        if day < self.today:
            day = self.today
        if day <= self.end:
            self._seq += 1
            heapq.heappush(self._queue, (day, self._seq, fn, args))

    def run(self, command: c.Command, channel: str) -> dict[str, Any] | None:
        result = self.bulk.execute(command, actor=ACTORS[channel], channel=channel)
        name = type(command).__name__
        if result is None:
            _, _, error = self.bulk.rejected.pop()
            self.refusals[f"{name}: {type(error).__name__}"] += 1
        else:
            self.counts[f"{name} ({channel})"] += 1
        return result

    def _open_bulk(self) -> None:
        self._bulk_cm = self.ledger.bulk(actor="system", channel="system", batch_size=500)
        self.bulk = self._bulk_cm.__enter__()

    def _close_bulk(self) -> None:
        if self._bulk_cm is not None:
            cm, self._bulk_cm, self.bulk = self._bulk_cm, None, None
            cm.__exit__(None, None, None)

    def _set_day(self, day: date) -> None:
        self.today = day
        self.ledger.clock.set(datetime(day.year, day.month, day.day, 7, tzinfo=timezone.utc))

    # -- the run ---------------------------------------------------------------------------------

    def simulate(self) -> SimulationReport:
        began = time.perf_counter()
        self._set_day(self.start)
        self.billing = BillingViews(self.ledger)
        self._open_bulk()
        try:
            self.run(c.ActivateRuleSet(rule_set_id=self.rule_set_id, effective_from=self.start), "system")
            self._lay_out_city()
            districts = [d.name for d in self.p.districts]
            self.pop = Population(self.p, self.scale, random.Random(f"{self.seed}:population"), self.new_id,
                                  districts, births_share(self.p))
            self._stock()
            self._schedule()
            self._work_through_calendar()
        finally:
            self._close_bulk()
            self.billing.close()
        seats = Counter()
        for plan in self.plans:
            for (g, pool), n in plan.seats.items():
                seats[f"{g}/{pool}"] += n
        return SimulationReport(policy=self.rs.policy, rule_set=self.rule_set_id, start=self.start, end=self.end,
                                scale=self.scale, seed=self.seed, institutions=len(self.plans), seats=dict(seats),
                                counts=self.counts, refusals=self.refusals, events=self.ledger.max_position(),
                                seconds=time.perf_counter() - began, synthetic=self.rs.synthetic_entries())

    def _lay_out_city(self) -> None:
        """The institutions, on the map and in clusters, registered; indexed by district and age group."""
        self.plans = plan_city(self.p, self.scale, random.Random(f"{self.seed}:city"), self.new_id)
        # Places on the map from their own stream, so the rest of the city does not reshuffle.
        self.geo = random.Random(f"{self.seed}:geo")
        self.centres = {d.name: d.centre for d in self.p.districts}
        for plan in self.plans:
            plan.location = self._somewhere_in(plan.district)
        plan_clusters(self.plans, self.centres, self.p.city.cluster_size)
        register_city(self.run, self.plans, self.start, self.p.city.municipality_code)
        self.by_group: dict[tuple[str, str], list[InstitutionPlan]] = {}
        for plan in self.plans:
            for g in plan.groups():
                self.by_group.setdefault((plan.district, g), []).append(plan)
                self.by_group.setdefault(("*", g), []).append(plan)
        self.basis: dict[tuple[str, str], list[InstitutionPlan]] = {}
        for plan in self.plans:
            for (g, pool) in plan.seats:
                if pool != "general":
                    self.basis.setdefault((pool, g), []).append(plan)

    def _schedule(self) -> None:
        """Births, newcomers, yearly incomes, the office's rounds, the monthly runs: on the calendar."""
        for day in self.pop.births_between(self.start, self.end):
            self.at(day, self._born, day)
        for day in self.pop.newcomer_days(self.start, self.end):
            self.at(day, self._newcomer)
        d = self.start
        while d <= self.end:
            if d.month == 1 and d.day == 1 and d != self.start:
                self.at(d, self._incomes)
            if self.waitinglist and d.day == 1:
                self.at(d, self._allocation_run)
            if (d - self.start).days % self.b.caseworker_every_days == 0:
                self.at(d, self._caseworker_round)
            d += ONE_DAY
        month = self.start.replace(day=1)
        while month <= self.end:  # every simulated month is billed (the first on the first day)
            self.at(billing_day(month, self.b.billing_day), self._billing_run, f"{month:%Y-%m}")
            month = rules.add_months(month, 1)

    def _work_through_calendar(self) -> None:
        total = (self.end - self.start).days + 1
        while self._queue:
            day, _, fn, args = heapq.heappop(self._queue)
            if day != self.today:
                self._set_day(day)
                if self.progress:
                    self.progress((day - self.start).days, total)
            fn(*args)
        if self.progress:
            self.progress(total, total)

    def _somewhere_in(self, district: str) -> dict[str, float]:
        return near(self.centres[district], self.p.city.location_jitter_km, self.geo)
