"""The monthly allocation run (offers expiring and the age roll: processes.ageroll).

These are processes, not views: they read the views (waiting lists, occupancy), decide with
the pure rules (`rules.allocation`), and act through the ledger's commands (`OfferPlace`,
`ExpireOffer`, `Register`), so every decision is an event with its actor, rank, priority basis,
rule set and tie-break seed. Each command carries an idempotency key derived from the month and
the child: running a month again makes no second offer.
"""

from __future__ import annotations

import functools
import weakref
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

import rules
from ledger import Ledger, LedgerError
from ledger import commands as c
from ledger.aggregates import Child, Household, Institution
from ledger.seats import in_use_on
from processes.runs import month_bounds, rule_set_on, run_views
from projections import queries as q
from projections.engine import LogReader
from projections.stores import ViewStore
from rules.allocation import Applicant, deferred_acceptance, haversine_km

OFFER_DAYS = 14  # an offer is open this many days from the run (then OfferExpired)
HORIZON_MONTHS = 12  # an offered seat must be free this many months from its start
NEWCOMER_POSITION = "newcomer position"  # how an offer from a reserved position starts its basis


def run_allocation(ledger: Ledger, month: str, *, seed: int | None = None, actor: str = "system",
                   channel: str = "system", offer_days: int = OFFER_DAYS,
                   store: ViewStore | None = None) -> dict[str, Any]:
    """Offer the month's free seats to the waiting children, in the order of the rule set in force.

    Under a waiting-list rule set: for each age group, the children due by the end of the month
    (need date) propose to their wishes; institutions keep the best-ranked up to their free general
    seats (deferred acceptance, `rules.allocation`). A child still without a seat whose guarantee
    date falls in the month is offered the nearest free seat within the rule set's distance
    (4 km). Under book-en-plads nothing is offered: the run reports the caseworkers' held seats
    released to self-service for the month and the cases still without a place.

    `store`: views the caller has brought up to date (the API's); by default the run catches up
    a projector of its own.
    """
    first, last = month_bounds(month)
    seed = int(month.replace("-", "")) if seed is None else seed
    rs = rule_set_on(ledger, first)
    store = store or run_views(ledger).store
    refused: list[dict[str, Any]] = []  # offers the ledger refused in this run
    waiting = [r for r in q.waiting_entries(store) if r["need_date"] is not None and r["need_date"] <= last]
    if rs.policy == "book-en-plads":
        return _book_en_plads_run(ledger, store, rs, month, first, waiting)
    offers, fallback = [], []
    for group in ("nursery", "kindergarten"):
        run = _GroupRun(ledger, store, rs, group, month, first, last, seed, actor, channel, offer_days, refused)
        made, unmatched = run.allocate([r for r in waiting if r["age_group"] == group])
        offers.extend(made)
        fallback.extend(unmatched)
    return {"month": month, "rule_set": rs.id, "seed": seed, "offers": offers, "released": [],
            "unplaced_cases": fallback, "refused": refused}


@dataclass
class _GroupRun:
    """One age group's part of a month's run under the waiting list: who takes part, the seats, the
    order, the matching, and the guarantee's nearest seat for whom no wish could be met."""

    ledger: Ledger
    store: ViewStore
    rs: rules.RuleSet
    group: str
    month: str
    first: date
    last: date
    seed: int
    actor: str
    channel: str
    offer_days: int
    refused: list[dict[str, Any]]  # offers the ledger refused in this run (shared by the groups)
    candidates: dict[str, tuple[Child, list[dict]]] = field(default_factory=dict)
    answering: dict[str, tuple[list[dict], list[str]]] = field(default_factory=dict)  # open offers wait
    taken: dict[str, int] = field(default_factory=dict)  # seats of open offers, per institution
    seats: dict[str, int] = field(default_factory=dict)

    def allocate(self, rows: list[dict]) -> tuple[list[dict], list[dict]]:
        """The offers made, and the children still without a place whose guarantee is due."""
        self._take_part(rows)
        for inst in sorted({r["institution_id"] for r in rows}):
            self.seats_left(inst)
        rank, basis_of = self._order()
        applicants = [Applicant(cid, tuple(r["institution_id"] for r in child_rows))
                      for cid, (_, child_rows) in sorted(self.candidates.items())]
        matched = deferred_acceptance(applicants, self.seats, rank)
        offers = []
        for child_id, inst in sorted(matched.items(), key=lambda m: (m[1], rank[(m[1], m[0])])):
            row = next(r for r in self.candidates[child_id][1] if r["institution_id"] == inst)
            offer = self.offer(child_id, inst, max(self.first, row["need_date"]), rank[(inst, child_id)],
                               basis_of(inst, child_id, row), row["wish_no"])
            if offer:
                offers.append(offer)
                self.seats[inst] -= 1
        made, unplaced = self._guarantee(matched)
        return offers + made, (unplaced + _awaiting_answer(self.answering, self.group, self.last)
                               + _placed_too_late(self.store, self.group, self.first, self.last))

    def _take_part(self, rows: list[dict]) -> None:
        """Who is offered a seat this month; children with an open offer wait for their answer, and
        their offered seat counts as taken."""
        by_child: dict[str, list[dict]] = {}
        for r in rows:
            by_child.setdefault(r["child_id"], []).append(r)
        today = self.ledger.today()
        for child_id, child_rows in by_child.items():
            child = self.ledger.get(Child, child_id)
            open_offers = {k: o for k, o in child.offers.items() if o["state"] == "open" and o["expires_on"] >= today}
            for o in open_offers.values():
                if o["age_group"] == self.group:
                    self.taken[o["institution_id"]] = self.taken.get(o["institution_id"], 0) + 1
            if open_offers:
                self.answering[child_id] = (child_rows, sorted(open_offers))
            # A child is offered a seat of this age group only from a start at which it is of that age
            # (a nursery child turning 2 y 10 m by then waits on the kindergarten lists instead).
            child_rows = [r for r in child_rows if self.group == rules.age_group_on(
                child.birth_date, max(self.first, r["need_date"]), self.rs)]
            if child_rows and not open_offers:
                self.candidates[child_id] = (child, sorted(child_rows, key=lambda r: r["wish_no"] or 99))

    def seats_left(self, inst: str) -> int:
        # One count per run, shared by the matching and the guarantee: the view's free seats less
        # the open offers there, less what this run has offered since.
        if inst not in self.seats:
            free = q.free_seats(self.store, inst, self.group, self.first, HORIZON_MONTHS)
            self.seats[inst] = max(0, free - self.taken.get(inst, 0))
        return self.seats[inst]

    def _order(self):
        """Each institution's ranking of its applicants: the waiting lists' order (rules.priority_key on
        the month's first day, ties broken by this run's seed — recorded with every offer), newcomers
        (tilflyttere) first into the positions their institution still reserves this year; and the
        priority basis an offer records."""
        group, first, rs = self.group, self.first, self.rs
        keys: dict[str, list[tuple[tuple, str]]] = {}
        for child_id, (child, child_rows) in self.candidates.items():
            for r in child_rows:
                entry = rules.WaitingEntry(
                    child_id=child_id, birth=child.birth_date, registered_on=r["registered_on"],
                    need_date=r["need_date"], age_group=group, sibling_in_institution=bool(r["sibling"]),
                    seniority=r["seniority_date"], newcomer=bool(child.registrations[group].get("newcomer")))
                keys.setdefault(r["institution_id"], []).append((rules.priority_key(entry, rs, self.seed, first),
                                                                 child_id))
        quota = rules.newcomer_positions_per_year(rs, first)
        used = _newcomer_positions_used(self.ledger, first.year)
        boosted: set[tuple[str, str]] = set()
        for inst, ranked in keys.items():
            newcomers = sorted(k for k in ranked if self.candidates[k[1]][0].registrations[group].get("newcomer")
                               and rules.newcomer_position_valid(
                                   self.candidates[k[1]][0].registrations[group]["registered_on"], first, rs))
            for _, child_id in newcomers[: max(0, quota - used.get(inst, 0))]:
                boosted.add((inst, child_id))
        rank = {(inst, child_id): n for inst, ranked in keys.items()
                for n, (_, child_id) in enumerate(sorted(ranked, key=lambda k: ((inst, k[1]) not in boosted, k)),
                                                   start=1)}

        def basis_of(inst: str, child_id: str, row: dict) -> str:
            basis = row["priority_basis"] or "waiting list"
            if (inst, child_id) in boosted:  # counted as the offer is made, in the offers' order
                used[inst] = used.get(inst, 0) + 1
                basis = f"{NEWCOMER_POSITION} {used[inst]} of {quota} in {first.year}; {basis}"
            return basis

        return rank, basis_of

    def _guarantee(self, matched: dict[str, str]) -> tuple[list[dict], list[dict]]:
        """Due this month and no wish could be met: the nearest free seat within reach, else a case."""
        reach = rules.distance_km_fallback(self.rs, self.first)
        sites = functools.cache(lambda: _sites(self.ledger, self.store))
        offers, unplaced = [], []
        by_rank = sorted(self.candidates.items(), key=lambda c_: min(r["rank"] for r in c_[1][1]))
        for child_id, (child, child_rows) in by_rank:
            if child_id in matched or any(r["guarantee_met_by"] for r in child_rows):
                continue  # its guarantee is met (a place outside its wishes, a refused offer): not a case
            due = min((r["guarantee_date"] for r in child_rows if r["guarantee_date"]), default=None)
            case = {"child_id": child_id, "age_group": self.group, "guarantee_date": due,
                    "district": child_rows[0]["district"]}
            offer = None if due is None or due > self.last else self._within_reach(child, child_rows, reach, sites)
            if offer:
                offers.append(offer)
                self.seats[offer["institution_id"]] -= 1
            else:
                unplaced.append(case)
        return offers, unplaced

    def _within_reach(self, child: Child, child_rows: list[dict], reach: float, sites) -> dict | None:
        home = self.ledger.get(Household, child.household_id).location
        if not home:
            return None
        options = []
        for inst_id, location, kind in sites():
            if not location or self.group not in rules.age_groups_for_kind(kind):
                continue
            km = haversine_km((home["lat"], home["lon"]), (location["lat"], location["lon"]))
            if km <= reach and self.seats_left(inst_id) > 0:
                options.append((km, inst_id))
        for km, inst_id in sorted(options):
            need = min(r["need_date"] for r in child_rows)
            offer = self.offer(str(child.id), inst_id, max(self.first, need), 0,
                               f"guarantee: nearest free seat, {km:.1f} km from home", None)
            if offer:
                return offer
        return None

    def offer(self, child_id: str, inst: str, start: date, rank: int, basis: str, wish_no: int | None) -> dict | None:
        group = self.group
        try:
            outcome = self.ledger.execute(
                c.OfferPlace(child_id=child_id, institution_id=inst, age_group=group, start_date=start,
                             expires_on=self.ledger.today() + timedelta(days=self.offer_days), rank=max(rank, 1),
                             priority_basis=basis[:200], seed=self.seed),
                actor=self.actor, channel=self.channel, idempotency_key=f"allocation:{self.month}:{child_id}:{group}")
        except LedgerError as e:
            # The child's situation changed since the lists were read (or the offer cannot be made):
            # the run reports it, and the child is in next month's run.
            self.refused.append({"child_id": child_id, "institution_id": inst, "age_group": group,
                                 "reason": e.detail})
            return None
        return {"offer_id": outcome.result["id"], "child_id": child_id, "institution_id": inst, "age_group": group,
                "pool": "general", "start_date": start.isoformat(), "rank": rank, "wish_no": wish_no,
                "priority_basis": basis}


def _awaiting_answer(answering: dict[str, tuple[list[dict], list[str]]], group: str, last: date) -> list[dict]:
    """Children due by the month's end with an offer not yet answered: no second offer, but an open
    offer is no place, so they are cases as the watch and the audit count them (open_offers names it)."""
    cases = []
    for child_id, (rows, open_offers) in sorted(answering.items()):
        due = min((r["guarantee_date"] for r in rows if r["guarantee_date"]), default=None)
        if due is not None and due <= last and not any(r["guarantee_met_by"] for r in rows):
            cases.append({"child_id": child_id, "age_group": group, "guarantee_date": due,
                          "district": rows[0]["district"], "open_offers": open_offers})
    return cases


def _placed_too_late(store: ViewStore, group: str, first: date, last: date) -> list[dict[str, Any]]:
    """Children off the lists, due by the month's end, whom no place met by the date (a place at a wish
    that starts later, or none): guarantee cases as the watch and the audit count them."""
    return [{"child_id": r["child_id"], "age_group": r["age_group"], "guarantee_date": r["guarantee_date"],
             "district": r["district"], "need_date": r["need_date"], "place_from": r["place_from"]}
            for r in q.guarantee_unplaced(store, on=last)
            if r["age_group"] == group and (r["place_from"] is None or r["place_from"] > first)]


def _newcomer_positions_used(ledger: Ledger, year: int) -> dict[str, int]:
    """Offers made this year from an institution's reserved newcomer positions, per institution."""
    counter = _newcomer_counters.get(ledger)
    if counter is None:
        counter = _newcomer_counters[ledger] = _NewcomerPositions()
    return counter.used_in(ledger, year)


class _NewcomerPositions:
    """The offers from reserved newcomer positions in the log, counted per year and institution.

    The count is kept per ledger and each run reads only the offers recorded since the last one
    (the log only grows): a run that read the whole log again made a long history's monthly runs
    quadratic in its length. (It holds no reference to the ledger, which is its key.)"""

    def __init__(self) -> None:
        self.position = 0
        self.used: dict[int, dict[str, int]] = {}  # year -> institution -> offers

    def used_in(self, ledger: Ledger, year: int) -> dict[str, int]:
        reader = LogReader(ledger, {"Child.PlaceOffered"})
        end = ledger.max_position()
        while self.position < end:
            events, last = reader.page(self.position, 10_000, until=end)
            if last == self.position:
                break
            for e in events:
                if str(e.data.get("priority_basis", "")).startswith(NEWCOMER_POSITION):
                    counts = self.used.setdefault(e.recorded_at.year, {})
                    counts[e.data["institution_id"]] = counts.get(e.data["institution_id"], 0) + 1
            self.position = last
        return dict(self.used.get(year, {}))


_newcomer_counters: "weakref.WeakKeyDictionary[Ledger, _NewcomerPositions]" = weakref.WeakKeyDictionary()


def _sites(ledger: Ledger, store: ViewStore) -> list[tuple[str, dict | None, str]]:
    """Every institution's id, location and kind, in the view's order: read once per run, not once
    per child the guarantee places (that is institutions × children, both growing with the city)."""
    out = []
    for row in q.institutions(store):
        inst = ledger.get(Institution, row["institution_id"])
        out.append((str(inst.id), inst.location, inst.kind))
    return out


def _book_en_plads_run(ledger, store, rs, month, first, waiting) -> dict[str, Any]:
    released = []
    for inst_row in q.institutions(store):
        for group in rules.age_groups_for_kind(inst_row["kind"] or "integreret"):
            capacity = q.capacity_in_force(store, inst_row["institution_id"], group, first)
            held = rules.caseworker_held_seats(capacity, rs, first) if capacity else 0
            if held and rules.held_seats_released(first, ledger.today(), rs):
                # Caseworker placements use the held seats first: only the rest are released
                # (counted on the month's first day).
                inst = ledger.get(Institution, inst_row["institution_id"])
                caseworkers = in_use_on(first, inst.seats_held(group, "general", caseworkers_only=True))
                unused = rules.held_seats_unused(capacity, caseworkers, rs, first)
                free = q.free_seats(store, inst_row["institution_id"], group, first, 1)
                if unused:
                    released.append({"institution_id": inst_row["institution_id"], "age_group": group,
                                     "seats": min(unused, free)})
    seen, cases = set(), []
    for r in sorted(waiting, key=lambda r: (r["guarantee_date"] or date.max, r["child_id"])):
        if r["guarantee_met_by"]:
            continue  # a place outside its wishes or a refused offer met the guarantee
        if (r["child_id"], r["age_group"]) not in seen:
            seen.add((r["child_id"], r["age_group"]))
            cases.append({"child_id": r["child_id"], "age_group": r["age_group"], "district": r["district"],
                          "guarantee_date": r["guarantee_date"], "need_date": r["need_date"]})
    for group in ("nursery", "kindergarten"):
        cases.extend(_placed_too_late(store, group, first, month_bounds(month)[1]))
    return {"month": month, "rule_set": rs.id, "seed": None, "offers": [], "released": released,
            "unplaced_cases": cases}
