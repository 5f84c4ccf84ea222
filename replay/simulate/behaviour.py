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
import uuid
from collections import Counter
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import Any, Callable

import rules
from ledger import Ledger, LedgerError, SimulatedClock
from ledger import commands as c
from processes import allocation
from processes.billing import BillingViews, issue_month
from replay.simulate.city import InstitutionPlan, births_share, near, plan_city, plan_clusters, register_city
from replay.simulate.params import Params
from replay.simulate.population import Kid, Population

RULE_SETS = {"book-en-plads": "copenhagen-book-en-plads@1", "waitinglist": "copenhagen-2025-waitinglist@1"}
# Past the last published year a simulation runs on the same rules with synthetic money (rule data
# copenhagen-synthetic@1: the last published numbers indexed), and its report names them.
SYNTHETIC = {rule_set: rule_set.replace("@1", "-synthetic@1") for rule_set in RULE_SETS.values()}
ACTORS = {"self_service": "parent", "caseworker": "pladsanviser", "system": "system", "import": "legacy-import"}
ONE_DAY = timedelta(days=1)


def policy_rule_set(policy: str) -> str:
    if policy in RULE_SETS:
        return RULE_SETS[policy]
    if policy in RULE_SETS.values():
        return policy
    raise ValueError(f"unknown policy {policy!r}; one of {', '.join(RULE_SETS)}")


def first_on_or_after(day: date) -> date:
    return day if day.day == 1 else rules.add_months(day.replace(day=1), 1)


def billing_day(month: date, day_of_month: int) -> date:
    """When `month`'s statements are issued: paid in advance, on `day_of_month` of the month before,
    or the next weekday."""
    day = rules.add_months(month, -1).replace(day=day_of_month)
    while day.weekday() >= 5:
        day += ONE_DAY
    return day


@dataclass
class Waiting:
    """A child in the placement office's queue (book-en-plads) for an age group."""

    kid: Kid
    group: str
    need: date
    wishes: list[str]
    channel: str


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


class Simulation:
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
        import time

        began = time.perf_counter()
        params, scale = self.p, self.scale
        self._set_day(self.start)
        self.billing = BillingViews(self.ledger)
        self._open_bulk()
        try:
            self.run(c.ActivateRuleSet(rule_set_id=self.rule_set_id, effective_from=self.start), "system")
            self.plans = plan_city(params, scale, random.Random(f"{self.seed}:city"), self.new_id)
            # Places on the map from their own stream, so the rest of the city does not reshuffle.
            self.geo = random.Random(f"{self.seed}:geo")
            self.centres = {d.name: d.centre for d in params.districts}
            for plan in self.plans:
                plan.location = self._somewhere_in(plan.district)
            plan_clusters(self.plans, self.centres, params.city.cluster_size)
            register_city(self.run, self.plans, self.start, params.city.municipality_code)
            self.by_group: dict[tuple[str, str], list[InstitutionPlan]] = {}
            for plan in self.plans:
                for g in plan.groups():
                    self.by_group.setdefault((plan.district, g), []).append(plan)
                    self.by_group.setdefault(("*", g), []).append(plan)
            self.basis = {}
            for plan in self.plans:
                for (g, pool) in plan.seats:
                    if pool != "general":
                        self.basis.setdefault((pool, g), []).append(plan)
            districts = [d.name for d in params.districts]
            self.pop = Population(params, scale, random.Random(f"{self.seed}:population"), self.new_id, districts,
                                  births_share(params))
            self._stock()
            births = self.pop.births_between(self.start, self.end)
            for day in births:
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
        finally:
            self._close_bulk()
            self.billing.close()
        seats = Counter()
        for plan in self.plans:
            for (g, pool), n in plan.seats.items():
                seats[f"{g}/{pool}"] += n
        return SimulationReport(policy=self.rs.policy, rule_set=self.rule_set_id, start=self.start, end=self.end,
                                scale=scale, seed=self.seed, institutions=len(self.plans), seats=dict(seats),
                                counts=self.counts, refusals=self.refusals, events=self.ledger.max_position(),
                                seconds=time.perf_counter() - began, synthetic=self.rs.synthetic_entries())

    # -- people -----------------------------------------------------------------------------------

    def _stock(self) -> None:
        """The children born before the first day: those of age in care hold a place carried
        over from the old system (channel import, from the first day); the others act later."""
        school_age = date(self.start.year - 6, 8, 1)
        first = max(school_age + ONE_DAY, self.start - timedelta(days=6 * 365))
        for day in self.pop.births_between(first, self.start - ONE_DAY):
            kid = self.pop.birth(day)
            self.counts["children born before the start"] += 1
            if not kid.takes_place:
                continue
            need = self._need_date(kid)
            if need < self.start:
                if self._ensure_registered(kid, "import"):
                    self._place_stock(kid)
            else:
                self._plan_first_action(kid)

    def _place_stock(self, kid: Kid) -> None:
        group = rules.age_group_on(kid.birth, self.start, self.rs)
        pool = "basis" if kid.support else "general"
        for plan in self._candidates(kid, group, pool, district_tries=12, city_tries=6):
            result = self.run(c.BookPlace(child_id=kid.id, institution_id=plan.id, start_date=self.start, pool=pool), "import")
            if result:
                self._booked(kid, result, plan)
                return
        self._to_queue(kid, group, self.start, [], "caseworker")

    def _born(self, day: date) -> None:
        kid = self.pop.birth(day)
        self.counts["births"] += 1
        if kid.takes_place:
            self._plan_first_action(kid)

    def _newcomer(self) -> None:
        born = self.today - timedelta(days=self.rng.randint(*self.p.population.newcomer_child_age_days))
        kid = self.pop.birth(born, newcomer=True)
        if born < date(self.today.year - 6, 8, 1) or self.today >= rules.school_start(born, self.rs) - timedelta(days=60):
            return
        self.counts["newcomers"] += 1
        if not self._ensure_registered(kid, "caseworker"):
            return
        need = max(first_on_or_after(self.today + timedelta(days=self.p.population.newcomer_need_days)),
                   self._need_date(kid))
        group = rules.age_group_on(kid.birth, need, self.rs)
        self._register(kid, group, need, "caseworker", newcomer=True)

    def _need_date(self, kid: Kid) -> date:
        return first_on_or_after(rules.add_months(kid.birth, kid.need_age_months))

    def _plan_first_action(self, kid: Kid) -> None:
        need = self._need_date(kid)
        if kid.digital:
            lo, hi = self.b.early_action_days
            day = kid.birth + timedelta(days=self.rng.randint(lo, hi))
        else:
            lo, hi = self.b.late_action_days_before_need
            day = max(kid.birth + timedelta(days=7), need - timedelta(days=self.rng.randint(lo, hi)))
        self.at(max(day, self.start), self._first_action, kid, need)

    def _ensure_registered(self, kid: Kid, channel: str) -> bool:
        fam = kid.family
        if not fam.registered:
            ok = self.run(c.RegisterHousehold(district=fam.district, single_parent=fam.single_parent,
                                              children_under_18=fam.children_under_18, household_id=fam.id,
                                              municipality_code=self.p.city.municipality_code,
                                              location=self._somewhere_in(fam.district)), channel)
            if not ok:
                return False
            fam.registered = True
            fam.known_children = fam.children_under_18
            self.run(c.DeclareIncome(household_id=fam.id, annual_income_ore=fam.income_ore,
                                     effective_from=self.today.replace(day=1)), channel)
        elif fam.known_children < fam.children_under_18:
            fam.known_children = fam.children_under_18
            self.run(c.ChangeHouseholdFacts(household_id=fam.id, children_under_18=fam.children_under_18,
                                            effective_from=min(self.today, kid.birth), reason="a child was born"),
                     channel)
        if not kid.registered:
            if not self.run(c.RegisterChild(household_id=fam.id, birth_date=kid.birth, child_id=kid.id),
                            channel):
                return False
            kid.registered = True
            self.kids[kid.id] = kid
        return True

    def _first_action(self, kid: Kid, need: date) -> None:
        channel = "self_service" if kid.digital else "caseworker"
        if not self._ensure_registered(kid, channel):
            return
        group = rules.age_group_on(kid.birth, need, self.rs)
        if kid.support:
            self._to_queue(kid, group, need, [], "caseworker")
        elif self.waitinglist or not kid.digital:
            self._register(kid, group, need, channel)
        else:
            self._self_service(kid, group, need)

    # -- choosing and booking ------------------------------------------------------------------------

    def _wishes(self, kid: Kid, group: str, n: int | None = None) -> list[InstitutionPlan]:
        n = n or self.b.wishes
        home = self.by_group.get((kid.family.district, group), [])
        city = self.by_group.get(("*", group), [])
        picks: list[InstitutionPlan] = []
        for _ in range(n * 3):
            if len(picks) >= n:
                break
            pool = city if (self.rng.random() < self.b.other_district_wish_share or not home) else home
            choice = self.rng.choice(pool)
            if choice not in picks:
                picks.append(choice)
        return picks

    def _candidates(self, kid: Kid, group: str, pool: str, *, district_tries: int, city_tries: int,
                    first: list[InstitutionPlan] = ()) -> list[InstitutionPlan]:
        if pool != "general":
            plans = list(self.basis.get((pool, group), []))
            home = [p for p in plans if p.district == kid.family.district]
            return home + [p for p in plans if p not in home]
        home = list(self.by_group.get((kid.family.district, group), []))
        city = self.by_group.get(("*", group), [])
        out = list(first)
        for p in self.rng.sample(home, min(district_tries, len(home))):
            if p not in out:
                out.append(p)
        for p in self.rng.sample(city, min(city_tries, len(city))):
            if p not in out:
                out.append(p)
        return out

    def _self_service(self, kid: Kid, group: str, need: date) -> None:
        wishes = self._wishes(kid, group)
        for m in range(self.b.self_service_start_tries):
            start = rules.add_months(need, m)
            if start >= rules.school_start(kid.birth, self.rs):
                break
            for plan in wishes:
                # the family asked from `need`: a later start it finds is waited for
                result = self.run(c.BookPlace(child_id=kid.id, institution_id=plan.id, start_date=start,
                                              need_date=need), "self_service")
                if result:
                    self.counts["self-service bookings"] += 1
                    self._booked(kid, result, plan)
                    return
        # No free seat in the self-service share: register, and the placement office takes over.
        self.counts["self-service gave up, to a caseworker"] += 1
        self._register(kid, group, need, "self_service", wishes=wishes)

    def _register(self, kid: Kid, group: str, need: date, channel: str, *, newcomer: bool = False,
                  wishes: list[InstitutionPlan] | None = None) -> None:
        most = rules.max_wishes(group, self.rs, self.today)
        wishes = (wishes or self._wishes(kid, group))[:most]
        ok = self.run(c.Register(child_id=kid.id, age_group=group, wishes=[w.id for w in wishes], need_date=need,
                                 newcomer=newcomer), channel)
        if ok and not self.waitinglist:
            self._to_queue(kid, group, need, wishes, channel)

    def _to_queue(self, kid: Kid, group: str, need: date, wishes: list[InstitutionPlan], channel: str) -> None:
        if not self.waitinglist or kid.support:
            self.waiting[(kid.id, group)] = Waiting(kid, group, need, wishes, channel)

    def _caseworker_round(self) -> None:
        """The placement office works through its queue: earliest need first.

        Within a round a seat refused for one start month is not tried again for the next
        child (the caseworker's availability list): seats only fill up during a round."""
        self._full: set[tuple[str, str, str, date]] = set()
        for key in sorted(self.waiting, key=lambda k: (self.waiting[k].need, k)):
            w = self.waiting[key]
            if w.kid.gone:
                del self.waiting[key]
                continue
            start = max(w.need, first_on_or_after(self.today + ONE_DAY))
            school = rules.school_start(w.kid.birth, self.rs)
            pool = {"basis": "basis", "special": "special"}.get(w.kid.support or "", "general")
            current = self.bookings.get(w.kid.id)
            candidates = self._candidates(w.kid, w.group, pool, district_tries=self.b.caseworker_district_tries,
                                          city_tries=self.b.caseworker_city_tries, first=w.wishes)
            done = False
            for m in range(self.b.caseworker_months_ahead):
                day = rules.add_months(start, m)
                if day >= school or done:
                    break
                group = rules.age_group_on(w.kid.birth, day, self.rs)
                for plan in candidates:
                    if group not in plan.groups() or (plan.id, pool, group, day) in self._full:
                        continue
                    if current and day <= current["end"] + ONE_DAY:
                        if plan.id == current["institution_id"]:
                            continue
                        result = self.run(c.TransferChild(booking_id=current["id"], institution_id=plan.id,
                                                          effective_date=max(day, current["start"] + ONE_DAY),
                                                          kind="caseworker", reason="kindergarten place found by "
                                                          "the placement office", pool=pool), "caseworker")
                    else:
                        result = self.run(c.BookPlace(child_id=w.kid.id, institution_id=plan.id, start_date=day,
                                                      pool=pool, reason=self._placement_reason(w, pool)),
                                          "caseworker")
                    if not result:
                        self._full.add((plan.id, pool, group, day))
                    else:
                        self.counts["caseworker placements"] += 1
                        self._booked(w.kid, result, plan)
                        done = True
                        break
            if done:
                self.waiting.pop(key, None)
            elif pool != "general" and self.today > w.need:
                # No basis or special seat: the child takes a general seat meanwhile.
                w.kid.support = None

    def _somewhere_in(self, district: str) -> dict[str, float]:
        return near(self.centres[district], self.p.city.location_jitter_km, self.geo)

    def _placement_reason(self, w: Waiting, pool: str) -> str | None:
        # Under the waiting list the office only places children with support needs, outside the
        # run's order: a person's decision, so it says why (the fairness audit shows it).
        if not self.waitinglist:
            return None
        if pool == "general":
            return "support needs: no basis seat free by the need date, a general seat meanwhile"
        return f"support needs: a {pool} seat"

    def _booked(self, kid: Kid, result: dict[str, Any], plan: InstitutionPlan) -> None:
        booking = {"id": result["id"], "institution_id": plan.id, "plan": plan,
                   "start": date.fromisoformat(result["start_date"]), "end": date.fromisoformat(result["end_date"])}
        self.bookings[kid.id] = booking
        for key in [k for k in self.waiting if k[0] == kid.id and k[1] == rules.age_group_on(
                kid.birth, booking["start"], self.rs)]:
            del self.waiting[key]
        end = booking["end"]
        if plan.kind in ("vuggestue", "dagpleje"):
            lo, hi = self.b.kindergarten_action_months_before
            ahead = self.rng.randint(lo, hi) if kid.digital else self.b.late_kindergarten_months_before
            self.at(rules.add_months(end + ONE_DAY, -ahead), self._kindergarten, kid, booking)
        # One life event per booking at most: the first of competing yearly hazards.
        rates = (("move_away", self.b.move_away_per_year), ("move_within", self.b.move_within_per_year),
                 ("transfer", self.b.transfer_per_year))
        total = sum(r for _, r in rates)
        if total > 0:
            years = self.rng.expovariate(total)
            effective = first_on_or_after(max(booking["start"], self.today) + timedelta(days=round(years * 365.25)))
            what = self.rng.choices([n for n, _ in rates], [r for _, r in rates])[0]
            notice = rules.add_months(effective, -self.b.notice_months)
            if booking["start"] < effective <= end:
                self.at(notice, self._life_event, kid, booking["id"], what, effective)

    def _kindergarten(self, kid: Kid, booking: dict[str, Any]) -> None:
        if self.bookings.get(kid.id) is not booking or kid.gone:
            return
        need = booking["end"] + ONE_DAY
        if need >= rules.school_start(kid.birth, self.rs):
            return
        if self.waitinglist:
            self._register(kid, "kindergarten", need, "self_service" if kid.digital else "caseworker")
            return
        if kid.digital:
            wishes = self._wishes(kid, "kindergarten")
            for plan in wishes:
                result = self.run(c.TransferChild(booking_id=booking["id"], institution_id=plan.id,
                                                  effective_date=need, kind="parent_request",
                                                  reason="kindergarten from 2 years 10 months"), "self_service")
                if result:
                    self.counts["self-service kindergarten bookings"] += 1
                    self._booked(kid, result, plan)
                    return
            self._register(kid, "kindergarten", need, "self_service", wishes=wishes)
        else:
            self._register(kid, "kindergarten", need, "caseworker")

    def _life_event(self, kid: Kid, booking_id: str, what: str, effective: date) -> None:
        booking = self.bookings.get(kid.id)
        if booking is None or booking["id"] != booking_id or effective > booking["end"]:
            return
        channel = "self_service" if kid.digital else "caseworker"
        if what == "move_away":
            ok = self.run(c.CancelBooking(booking_id=booking_id, effective_date=effective,
                                          reason="the family moved out of the municipality"), channel)
            if ok:
                kid.gone = True
                del self.bookings[kid.id]
            return
        group = rules.age_group_on(kid.birth, effective, self.rs)
        district = kid.family.district
        if what == "move_within":
            others = [d.name for d in self.p.districts if d.name != district]
            district = self.rng.choice(others)
            if self.run(c.ChangeHouseholdFacts(household_id=kid.family.id, district=district, effective_from=effective,
                                               location=self._somewhere_in(district), reason="the family moved"),
                        channel):
                kid.family.district = district
            if self.rng.random() >= self.b.move_transfer_share:
                return
        options = [p for p in self.by_group.get((district, group), []) if p.id != booking["institution_id"]]
        if not options:
            return
        plan = self.rng.choice(options)
        result = self.run(c.TransferChild(booking_id=booking_id, institution_id=plan.id, effective_date=effective,
                                          reason="the parents asked for another institution"),
                          "caseworker" if self.waitinglist else channel)
        if result:
            self.counts["transfers on request"] += 1
            self._booked(kid, result, plan)

    def _incomes(self) -> None:
        for district in sorted(self.pop.families):
            for fam in self.pop.families[district]:
                if fam.registered and self.rng.random() < self.p.population.income_redeclare_share:
                    fam.income_ore = self.pop.new_income(fam.income_ore)
                    self.run(c.DeclareIncome(household_id=fam.id, annual_income_ore=fam.income_ore,
                                             effective_from=self.today), "self_service")

    # -- billing ---------------------------------------------------------------------------------------

    def _billing_run(self, month: str) -> None:
        """Issue the month's statements as the API would: through `processes.billing`, from the
        billing view caught up with everything so far (the bulk batch is written first)."""
        self._close_bulk()
        try:
            run = issue_month(self.ledger, month, self.billing, actor=ACTORS["system"], channel="system")
        except LedgerError as e:  # a month without published prices, say: counted, as any refusal
            self.refusals[f"IssueStatements: {type(e).__name__}"] += 1
        else:
            self.counts["IssueStatements (system)"] += 1
            self.counts["statements issued"] += run["statements"]
            if run.get("skipped"):
                self.counts["statements skipped"] += len(run["skipped"])
        finally:
            self._open_bulk()

    # -- waiting-list policy: the monthly run and the families' answers ---------------------------------

    def _allocation_run(self) -> None:
        month = rules.add_months(self.today.replace(day=1), self.b.allocation_months_ahead)
        month_key = f"{month.year:04d}-{month.month:02d}"
        this_month = f"{self.today.year:04d}-{self.today.month:02d}"
        self._close_bulk()
        try:
            allocation.expire_offers(self.ledger, self.today)
            rolled = allocation.age_roll(self.ledger, this_month)
            self.counts["age-roll transfers"] += len(rolled.get("transfers", []) or [])
            outcome = allocation.run_allocation(self.ledger, month_key, seed=_month_seed(self.seed, month_key))
        finally:
            self._open_bulk()
        for offer in outcome.get("offers", []):
            kid = self.kids.get(str(offer["child_id"]))
            if kid is None:
                continue
            self.counts["offers"] += 1
            lo, hi = self.b.offer_answer_days
            self.at(self.today + timedelta(days=self.rng.randint(lo, hi)), self._answer, kid, offer)

    def _answer(self, kid: Kid, offer: dict[str, Any]) -> None:
        r = self.rng.random()
        if r < self.b.offer_no_answer:
            self.counts["offers left unanswered"] += 1
            return
        plan = next((p for p in self.plans if p.id == str(offer["institution_id"])), None)
        first_wish = bool(offer.get("rank") == 1)
        accept = self.rng.random() < (self.b.offer_accept_first_wish if first_wish else self.b.offer_accept_other)
        # Parents answer through the placement office's portal; the ledger takes no
        # self-service booking under this policy, so the answer is recorded as the office's.
        if accept:
            result = self.run(c.AcceptOffer(child_id=kid.id, offer_id=offer["offer_id"]), "caseworker")
            if result and plan is not None:
                self._booked(kid, result, plan)
        else:
            self.run(c.DeclineOffer(child_id=kid.id, offer_id=offer["offer_id"], reason="the parents declined"),
                     "caseworker")


def _month_seed(seed: int, month: str) -> int:
    return (seed * 1_000_003 + int(month.replace("-", ""))) % (2**31)
