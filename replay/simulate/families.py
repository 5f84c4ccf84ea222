"""The families: births and newcomers, the first registration or booking, a kindergarten place,
life events (moves, transfers) and yearly income declarations; under the waiting list, their answers
to offers. A part of `Simulation` (replay.simulate.behaviour), which holds the state it uses."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import rules
from ledger import commands as c
from replay.simulate.basics import ONE_DAY, first_on_or_after
from replay.simulate.city import InstitutionPlan
from replay.simulate.population import Kid


class Families:
    """What families do (a mixin of Simulation)."""

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
