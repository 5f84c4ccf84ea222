"""Births, households and incomes of the synthetic city.

A birth joins a household already in the city (an older sibling of daycare age) or
founds a new one; households have one or two adults, maybe older children, and a
declared income drawn from the adults' distribution. Newcomers arrive during the year
with a child of daycare age.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, timedelta

from replay.simulate.params import Params

KR = 100  # øre


@dataclass
class Family:
    id: str
    district: str
    single_parent: bool
    children_under_18: int
    income_ore: int
    kids: list["Kid"] = field(default_factory=list)
    registered: bool = False  # in the ledger yet?
    newcomer: bool = False
    known_children: int = 0  # children under 18 the ledger knows of


@dataclass
class Kid:
    id: str
    family: Family
    birth: date
    digital: bool  # registers early and books itself (else late / through a caseworker)
    need_age_months: int
    takes_place: bool
    support: str | None = None  # "basis" or "special"
    registered: bool = False
    newcomer: bool = False
    gone: bool = False  # moved out of the municipality


class Population:
    def __init__(self, params: Params, scale: float, rng: random.Random, new_id, districts: list[str],
                 shares: dict[str, float]) -> None:
        self.p = params.population
        self.b = params.behaviour
        self.scale = scale
        self.rng = rng
        self.new_id = new_id
        self.districts = districts
        self.weights = [shares[d] for d in districts]
        self.families: dict[str, list[Family]] = {d: [] for d in districts}

    def income(self, single: bool) -> int:
        median, sigma = ((self.p.single_income_median_kr, self.p.single_income_sigma) if single
                         else (self.p.couple_income_median_kr, self.p.couple_income_sigma))
        kr = max(self.p.income_floor_kr, round(median * math.exp(self.rng.gauss(0, sigma)), -2))
        return int(kr) * KR

    def new_family(self, district: str, newcomer: bool = False) -> Family:
        single = self.rng.random() < self.p.single_parent_share
        older = 1 if self.rng.random() < self.p.older_children_share else 0
        fam = Family(id=self.new_id(), district=district, single_parent=single, children_under_18=older,
                     income_ore=self.income(single), newcomer=newcomer)
        self.families[district].append(fam)
        return fam

    def _sibling_family(self, district: str, birth: date) -> Family | None:
        lo, hi = self.p.sibling_gap_years
        fams = self.families[district]
        # The most recent families first: look at a bounded window (they hold the young siblings).
        window = fams[-400:]
        ok = [f for f in window if f.kids and lo * 365 <= (birth - f.kids[-1].birth).days <= hi * 365]
        return self.rng.choice(ok) if ok else None

    def birth(self, day: date, newcomer: bool = False) -> Kid:
        district = self.rng.choices(self.districts, self.weights)[0]
        fam = None
        if not newcomer and self.rng.random() < self.p.later_birth_share:
            fam = self._sibling_family(district, day)
        if fam is None:
            fam = self.new_family(district, newcomer=newcomer)
        fam.children_under_18 += 1
        r = self.rng.random()
        support = ("special" if r < self.p.special_needs_share
                   else "basis" if r < self.p.special_needs_share + self.p.support_needs_share else None)
        kid = Kid(id=self.new_id(), family=fam, birth=day,
                  digital=self.rng.random() >= self.b.late_or_caseworker_share and support is None and not newcomer,
                  need_age_months=self.rng.choices(self.b.need_age_months, self.b.need_age_weights)[0],
                  takes_place=self.rng.random() < self.p.take_up, support=support, newcomer=newcomer)
        fam.kids.append(kid)
        return kid

    def births_between(self, first: date, last: date) -> list[date]:
        """Birth dates in [first, last]: a Poisson count per day at the scaled yearly rate."""
        return self._poisson_days(first, last, self.p.births_per_year * self.scale / 365.25)

    def newcomer_days(self, first: date, last: date) -> list[date]:
        rate = self.p.births_per_year * self.p.newcomers_per_birth * self.scale / 365.25
        return self._poisson_days(first, last, rate)

    def _poisson_days(self, first: date, last: date, rate: float) -> list[date]:
        days = []
        d = first
        while d <= last:
            days.extend([d] * _poisson(self.rng, rate))
            d += timedelta(days=1)
        return days

    def new_income(self, old_ore: int) -> int:
        factor = math.exp(self.rng.gauss(self.p.income_growth, self.p.income_growth_sigma))
        return max(self.p.income_floor_kr * KR, int(round(old_ore * factor / KR / 100)) * 100 * KR)


def _poisson(rng: random.Random, lam: float) -> int:
    # Knuth's method: the rates here are small (a few dozen a day at most).
    if lam <= 0:
        return 0
    if lam > 30:
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    limit, k, p = math.exp(-lam), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1
