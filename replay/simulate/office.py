"""The placement office and the system: the caseworkers' rounds through their queue, where a
booking leads next, and the system's monthly runs — billing, and under the waiting list the
allocation. Parts of `Simulation` (replay.simulate.behaviour), which holds the state they use."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import rules
from ledger import LedgerError
from ledger import commands as c
from processes import ageroll, allocation
from processes.billing import issue_month
from replay.simulate.basics import ACTORS, ONE_DAY, first_on_or_after
from replay.simulate.city import InstitutionPlan
from replay.simulate.population import Kid


@dataclass
class Waiting:
    """A child in the placement office's queue (book-en-plads) for an age group."""

    kid: Kid
    group: str
    need: date
    wishes: list[str]
    channel: str


class PlacementOffice:
    """What caseworkers do (a mixin of Simulation)."""

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


class SystemRuns:
    """The system's monthly runs (a mixin of Simulation)."""

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

    def _allocation_run(self) -> None:
        month = rules.add_months(self.today.replace(day=1), self.b.allocation_months_ahead)
        month_key = f"{month.year:04d}-{month.month:02d}"
        this_month = f"{self.today.year:04d}-{self.today.month:02d}"
        self._close_bulk()
        try:
            ageroll.expire_offers(self.ledger, self.today)
            rolled = ageroll.age_roll(self.ledger, this_month)
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


def _month_seed(seed: int, month: str) -> int:
    return (seed * 1_000_003 + int(month.replace("-", ""))) % (2**31)
