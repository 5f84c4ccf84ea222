"""The synthetic city's institutions: kinds, ownership, general, basis and special seats, clusters.

Shaped by Copenhagen's district table (institutions, basis institutions, basis seats);
capacities are sized from the children the population model expects in each district,
times the district's supply factor, so that some districts are short and some long.
Each district's municipal institutions form clusters (klynger) of neighbours.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date

from ledger import commands as c
from replay.simulate.params import Params

# Cohorts of children in each age group when it is fullest. Nursery: from the need age (~11
# months on average) to 2 y 10 m, a steady flow. Kindergarten: children roll in all year but
# leave together at school start (1 August), so it is fullest in July, holding the cohorts
# from 2 y 10 m up to 6 y 7 m; sized for less, integrated institutions could not carry their
# own nursery children on and would refuse them a nursery booking to school start.
NURSERY_YEARS = 34 / 12 - 11 / 12
KINDERGARTEN_YEARS = 79 / 12 - 34 / 12
GROUPS = {"integreret": ("nursery", "kindergarten"), "vuggestue": ("nursery",), "dagpleje": ("nursery",),
          "boernehave": ("kindergarten",)}


@dataclass
class InstitutionPlan:
    id: str
    name: str
    district: str
    kind: str
    ownership: str
    seats: dict[tuple[str, str], int] = field(default_factory=dict)  # (age_group, pool) -> seats
    special_group: str | None = None
    location: dict[str, float] | None = None  # {"lat", "lon"}
    cluster: str | None = None  # its klynge (municipal institutions only)

    def groups(self) -> tuple[str, ...]:
        return GROUPS[self.kind]


def near(centre: tuple[float, float], jitter_km: float, rng: random.Random) -> dict[str, float]:
    """A point uniformly within `jitter_km` of `centre` (flat-earth offsets: fine at a few km)."""
    r = jitter_km * math.sqrt(rng.random())
    angle = rng.uniform(0, 2 * math.pi)
    lat = centre[0] + (r * math.cos(angle)) / 111.2
    lon = centre[1] + (r * math.sin(angle)) / (111.2 * math.cos(math.radians(centre[0])))
    return {"lat": round(lat, 5), "lon": round(lon, 5)}


def scaled_count(n: int, scale: float) -> int:
    return max(1, round(n * scale))


def births_share(params: Params) -> dict[str, float]:
    """Each district's share of the births: proportional to its institutions."""
    total = sum(d.institutions for d in params.districts)
    return {d.name: d.institutions / total for d in params.districts}


def plan_city(params: Params, scale: float, rng: random.Random, new_id) -> list[InstitutionPlan]:
    """Institutions with their seats, district by district (deterministic given rng)."""
    city, pop = params.city, params.population
    shares = births_share(params)
    kinds = sorted(city.kind_shares)
    plans: list[InstitutionPlan] = []
    for d in params.districts:
        n = scaled_count(d.institutions, scale)
        # Kinds by largest remainder, so small districts still get a mix; a district of one
        # or two institutions gets integrated ones (they take both age groups).
        want = {k: city.kind_shares[k] * n for k in kinds}
        counts = {k: int(want[k]) for k in kinds}
        for k in sorted(kinds, key=lambda k: (-(want[k] - counts[k]), k))[: n - sum(counts.values())]:
            counts[k] += 1
        if n <= 2:
            counts = {k: 0 for k in kinds} | {"integreret": n}
        if counts["integreret"] + counts["boernehave"] == 0:
            counts["integreret"], counts[max(kinds, key=lambda k: counts[k])] = 1, counts[max(kinds, key=lambda k: counts[k])] - 1
        if counts["integreret"] + counts["vuggestue"] + counts["dagpleje"] == 0:
            counts["integreret"], counts["boernehave"] = 1, counts["boernehave"] - 1
        district_kinds = [k for k in kinds for _ in range(counts[k])]
        rng.shuffle(district_kinds)
        insts = []
        for i, kind in enumerate(district_kinds):
            ownership = "selvejende" if rng.random() < city.selvejende_share else "kommunal"
            label = {"integreret": "Børnehuset", "vuggestue": "Vuggestuen", "boernehave": "Børnehaven",
                     "dagpleje": "Dagplejen"}[kind]
            insts.append(InstitutionPlan(id=new_id(), name=f"{label} {d.name} {i + 1}", district=d.name, kind=kind,
                                         ownership=ownership))
        births = pop.births_per_year * scale * shares[d.name]
        demand = {"nursery": births * pop.take_up * NURSERY_YEARS,
                  "kindergarten": births * pop.take_up * KINDERGARTEN_YEARS}
        takers = [p for p in insts if "nursery" in p.groups()]
        w = [city.nursery_weight[p.kind] * rng.uniform(1 - city.size_jitter, 1 + city.size_jitter) for p in takers]
        _split(round(demand["nursery"] * d.supply_factor), takers, w, ("nursery", "general"))
        # An integrated institution carries its own nursery children on to its kindergarten, so
        # its kindergarten seats follow its nursery seats; kindergartens (børnehaver) take the
        # rest of the district's kindergarten seats (the children of nurseries and dagpleje).
        kg_total = round(demand["kindergarten"] * d.supply_factor)
        integrated = [p for p in insts if p.kind == "integreret"]
        for p in integrated:
            p.seats[("kindergarten", "general")] = max(3, round(p.seats[("nursery", "general")]
                                                                * KINDERGARTEN_YEARS / NURSERY_YEARS))
        rest = kg_total - sum(p.seats[("kindergarten", "general")] for p in integrated)
        kindergartens = [p for p in insts if p.kind == "boernehave"] or (integrated if rest > 0 else [])
        if kindergartens and rest > 0:
            w = [city.kindergarten_weight[p.kind] * rng.uniform(1 - city.size_jitter, 1 + city.size_jitter)
                 for p in kindergartens]
            holders = [_Holder() for _ in kindergartens]
            _split(rest, holders, w, ("kindergarten", "general"))
            for p, h in zip(kindergartens, holders):
                p.seats[("kindergarten", "general")] = p.seats.get(("kindergarten", "general"), 0) + \
                    h.seats[("kindergarten", "general")]
        for p in insts:
            if p.kind == "boernehave" and ("kindergarten", "general") not in p.seats:
                p.seats[("kindergarten", "general")] = 3
        _basis(d, insts, scale, city, rng)
        plans.extend(insts)
    return plans


class _Holder:
    def __init__(self) -> None:
        self.seats: dict = {}


def _split(total: int, takers: list, weights: list[float], key: tuple[str, str]) -> None:
    """Seats in proportion to the weights, by largest remainder; every taker gets at least 3."""
    if not takers:
        return
    s = sum(weights)
    raw = [total * w / s for w in weights]
    seats = [int(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (-(raw[i] - seats[i]), i))
    for i in order[: max(0, total - sum(seats))]:
        seats[i] += 1
    for p, n in zip(takers, seats):
        p.seats[key] = max(3, n)


BASIS_MIN = 6  # rule data: seats.basis_seats_min_per_institution (both Copenhagen rule sets)


def _basis(d, insts: list[InstitutionPlan], scale: float, city, rng: random.Random) -> None:
    """Basis seats in integrated institutions; the district's special group (kept at its
    size) in one of them, its seats counted among the district's basis seats."""
    candidates = [p for p in insts if p.kind == "integreret"] or insts
    special = city.special_group_seats if d.special else 0
    basis = round(max(0, d.basis_seats - special) * scale)
    # A basis institution has at least BASIS_MIN basis seats (seed 003; the ledger refuses fewer):
    # a small scaled district gets one institution with the minimum, never one with 2.
    basis = max(basis, BASIS_MIN) if basis else 0
    k = min(d.basis_institutions, len(candidates), max(1, basis // BASIS_MIN)) if basis else 0
    chosen = rng.sample(candidates, k) if k else []
    for i, p in enumerate(chosen):
        n = basis // k + (1 if i < basis % k else 0)
        groups = p.groups()
        nursery = round(n * city.basis_nursery_share) if len(groups) == 2 else (n if groups == ("nursery",) else 0)
        if 0 < n - nursery < BASIS_MIN and len(groups) == 2:
            nursery = n - BASIS_MIN  # the kindergarten's seats are decided first: at least the minimum there
        for group, seats in (("nursery", nursery), ("kindergarten", n - nursery)):
            if seats and group in groups:
                p.seats[(group, "basis")] = seats
    if d.special and scale > 0:
        host = next((p for p in (chosen + candidates) if d.special.age_group in p.groups()), None)
        if host is not None:
            host.seats[(d.special.age_group, "special")] = city.special_group_seats
            host.special_group = d.special.group


def plan_clusters(plans: list[InstitutionPlan], centres: dict[str, tuple[float, float]], size: int) -> None:
    """Each district's municipal institutions in clusters of about `size` neighbours, named "<district>
    Klynge N": Copenhagen's ~230 municipal institutions are led by 40 cluster leaders (seed 000, § 4:
    "samtlige 40 klyngeledere"), 4–8 institutions each; self-owned institutions belong to no cluster
    (seed 004: "kommunale institutioner og klynger" beside the selvejende). Neighbours are found by
    their bearing from the district's centre, so a cluster is a slice of the district; deterministic
    given the institutions' places (no random draw: the rest of the city does not reshuffle)."""
    for district in dict.fromkeys(p.district for p in plans):
        lat0, lon0 = centres[district]
        members = sorted((p for p in plans if p.district == district and p.ownership == "kommunal"),
                         key=lambda p: (math.atan2(p.location["lat"] - lat0, p.location["lon"] - lon0)
                                        if p.location else 0.0, p.name))
        k = max(1, round(len(members) / size))
        for i, p in enumerate(members):
            p.cluster = f"{district} Klynge {i * k // len(members) + 1}"


def register_city(run, plans: list[InstitutionPlan], start: date, municipality_code: str) -> None:
    """The institutions, their capacities and clusters, through the real commands (channel system)."""
    for p in plans:
        run(c.RegisterInstitution(name=p.name, district=p.district, kind=p.kind, ownership=p.ownership,
                                  municipality_code=municipality_code, institution_id=p.id,
                                  location=p.location), "system")
        for (group, pool), seats in sorted(p.seats.items()):
            reason = f"special group for {p.special_group}" if pool == "special" else None
            run(c.ChangeCapacity(institution_id=p.id, age_group=group, pool=pool, seats=seats,
                                 effective_from=start, reason=reason), "system")
        if p.cluster is not None:
            run(c.AssignCluster(institution_id=p.id, cluster=p.cluster, effective_from=start), "system")
