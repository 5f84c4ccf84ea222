"""The monthly allocation run, expiring offers, and the age roll (årsrulning).

These are processes, not views: they read the views (waiting lists, occupancy), decide with
the pure rules (`rules.allocation`), and act through the ledger's commands (`OfferPlace`,
`ExpireOffer`, `Register`), so every decision is an event with its actor, rank, priority basis,
rule set and tie-break seed. Each command carries an idempotency key derived from the month and
the child: running a month again makes no second offer.
"""

from __future__ import annotations

import functools
import weakref
from datetime import date, timedelta
from typing import Any

import rules
from ledger import Ledger, LedgerError, NoRuleSetInForce
from ledger import commands as c
from ledger.aggregates import Child, Household, Institution, RuleBook
from ledger.seats import in_use_on
from projections import queries as q
from projections.engine import LogReader
from projections.projector import Projector
from projections.occupancy import Occupancy
from projections.stores import SQLiteViewStore, ViewStore
from projections.waitinglists import WaitingLists
from rules.allocation import Applicant, deferred_acceptance, haversine_km

OFFER_DAYS = 14  # an offer is open this many days from the run (then OfferExpired)
HORIZON_MONTHS = 12  # an offered seat must be free this many months from its start
NEWCOMER_POSITION = "newcomer position"  # how an offer from a reserved position starts its basis


def _month(month: str) -> tuple[date, date]:
    first = date.fromisoformat(month + "-01")
    return first, rules.last_of_month(first)


def _rule_set_on(ledger: Ledger, day: date) -> rules.RuleSet:
    try:
        book = ledger.get(RuleBook, RuleBook.create_id())
    except LedgerError:
        book = None
    rule_set_id = book.in_force(day) if book else None
    if rule_set_id is None:
        raise NoRuleSetInForce(f"no rule set is in force on {day}; activate one first")
    return rules.load_rule_set(rule_set_id)


_projectors: "weakref.WeakKeyDictionary[Ledger, Projector]" = weakref.WeakKeyDictionary()


def _views(ledger: Ledger) -> Projector:
    """The two views a run reads (waiting lists, occupancy), folded into memory and kept per ledger,
    so a monthly run folds only the new events — and none of the billing views it does not need."""
    projector = _projectors.get(ledger)
    if projector is None:
        projector = Projector(ledger, [WaitingLists(), Occupancy()], name="allocation",
                              store=SQLiteViewStore(":memory:"))
        _projectors[ledger] = projector
        weakref.finalize(ledger, projector.close)
    projector.catch_up()
    return projector


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
    first, last = _month(month)
    seed = int(month.replace("-", "")) if seed is None else seed
    rs = _rule_set_on(ledger, first)
    store = store or _views(ledger).store
    refused: list[dict[str, Any]] = []  # offers the ledger refused in this run
    waiting = [r for r in q.waiting_entries(store) if r["need_date"] is not None and r["need_date"] <= last]
    if rs.policy == "book-en-plads":
        return _book_en_plads_run(ledger, store, rs, month, first, waiting)
    offers, fallback = [], []
    for group in ("nursery", "kindergarten"):
        rows = [r for r in waiting if r["age_group"] == group]
        made, unmatched = _allocate_group(ledger, store, rs, group, rows, month, first, last, seed, actor,
                                          channel, offer_days, refused)
        offers.extend(made)
        fallback.extend(unmatched)
    return {"month": month, "rule_set": rs.id, "seed": seed, "offers": offers, "released": [],
            "unplaced_cases": fallback, "refused": refused}


def _allocate_group(ledger, store, rs, group, rows, month, first, last, seed, actor, channel, offer_days, refused):
    by_child: dict[str, list[dict]] = {}
    for r in rows:
        by_child.setdefault(r["child_id"], []).append(r)
    # Children with an open offer wait for their answer; their offered seat counts as taken.
    taken: dict[str, int] = {}
    candidates = {}
    answering: dict[str, tuple[list[dict], list[str]]] = {}  # children whose open offers wait for an answer
    today = ledger.today()
    for child_id, child_rows in by_child.items():
        child = ledger.get(Child, child_id)
        open_offers = {k: o for k, o in child.offers.items() if o["state"] == "open" and o["expires_on"] >= today}
        for o in open_offers.values():
            if o["age_group"] == group:
                taken[o["institution_id"]] = taken.get(o["institution_id"], 0) + 1
        if open_offers:
            answering[child_id] = (child_rows, sorted(open_offers))
        # A child is offered a seat of this age group only from a start at which it is of that age
        # (a nursery child turning 2 y 10 m by then waits on the kindergarten lists instead).
        child_rows = [r for r in child_rows
                      if rules.age_group_on(child.birth_date, max(first, r["need_date"]), rs) == group]
        if child_rows and not open_offers:
            candidates[child_id] = (child, sorted(child_rows, key=lambda r: r["wish_no"] or 99))
    seats: dict[str, int] = {}

    def seats_left(inst: str) -> int:
        # One count per run, shared by the matching and the guarantee: the view's free seats less
        # the open offers there, less what this run has offered since.
        if inst not in seats:
            seats[inst] = max(0, q.free_seats(store, inst, group, first, HORIZON_MONTHS) - taken.get(inst, 0))
        return seats[inst]

    for inst in sorted({r["institution_id"] for r in rows}):
        seats_left(inst)
    # The waiting lists' order (rules.priority_key on the month's first day), ties broken by this
    # run's seed — the seed recorded with every offer.
    keys: dict[str, list[tuple[tuple, str]]] = {}
    for child_id, (child, child_rows) in candidates.items():
        for r in child_rows:
            entry = rules.WaitingEntry(child_id=child_id, birth=child.birth_date, registered_on=r["registered_on"],
                                       need_date=r["need_date"], age_group=group,
                                       sibling_in_institution=bool(r["sibling"]), seniority=r["seniority_date"],
                                       newcomer=bool(child.registrations[group].get("newcomer")))
            keys.setdefault(r["institution_id"], []).append((rules.priority_key(entry, rs, seed, first), child_id))
    # Newcomers (tilflyttere) go first into the positions their institution still reserves this year.
    quota = rules.newcomer_positions_per_year(rs, first)
    used = _newcomer_positions_used(ledger, first.year)
    boosted: set[tuple[str, str]] = set()
    for inst, ranked in keys.items():
        newcomers = sorted(k for k in ranked if candidates[k[1]][0].registrations[group].get("newcomer")
                           and rules.newcomer_position_valid(
                               candidates[k[1]][0].registrations[group]["registered_on"], first, rs))
        for _, child_id in newcomers[: max(0, quota - used.get(inst, 0))]:
            boosted.add((inst, child_id))
    rank = {(inst, child_id): n for inst, ranked in keys.items()
            for n, (_, child_id) in enumerate(sorted(ranked, key=lambda k: ((inst, k[1]) not in boosted, k)),
                                               start=1)}
    applicants = [Applicant(cid, tuple(r["institution_id"] for r in child_rows))
                  for cid, (_, child_rows) in sorted(candidates.items())]
    matched = deferred_acceptance(applicants, seats, rank)
    offers = []
    for child_id, inst in sorted(matched.items(), key=lambda m: (m[1], rank[(m[1], m[0])])):
        row = next(r for r in candidates[child_id][1] if r["institution_id"] == inst)
        basis = row["priority_basis"] or "waiting list"
        if (inst, child_id) in boosted:
            used[inst] = used.get(inst, 0) + 1
            basis = f"{NEWCOMER_POSITION} {used[inst]} of {quota} in {first.year}; {basis}"
        offer = _offer(ledger, child_id, inst, group, max(first, row["need_date"]), rank[(inst, child_id)],
                       basis, row["wish_no"], month, seed, actor, channel, offer_days, refused)
        if offer:
            offers.append(offer)
            seats[inst] -= 1
    # The guarantee: due this month and no wish could be met — the nearest free seat within reach.
    reach = rules.distance_km_fallback(rs, first)
    sites = functools.cache(lambda: _sites(ledger, store))
    unplaced = []
    for child_id, (child, child_rows) in sorted(candidates.items(), key=lambda c_: min(r["rank"] for r in c_[1][1])):
        if child_id in matched or any(r["guarantee_met_by"] for r in child_rows):
            continue  # its guarantee is met (a place outside its wishes, a refused offer): not a case
        due = min((r["guarantee_date"] for r in child_rows if r["guarantee_date"]), default=None)
        case = {"child_id": child_id, "age_group": group, "guarantee_date": due, "district": child_rows[0]["district"]}
        if due is None or due > last:
            unplaced.append(case)
            continue
        offer = _within_reach(ledger, store, child, group, first, reach, child_rows, month, seed, actor, channel,
                              offer_days, refused, seats_left, sites)
        if offer:
            offers.append(offer)
            seats[offer["institution_id"]] -= 1
        else:
            unplaced.append(case)
    return offers, unplaced + _awaiting_answer(answering, group, last) + _placed_too_late(store, group, first, last)


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


def _within_reach(ledger, store, child, group, first, reach, child_rows, month, seed, actor, channel, offer_days,
                  refused, seats_left, sites):
    home = ledger.get(Household, child.household_id).location
    if not home:
        return None
    options = []
    for inst_id, location, kind in sites():
        if not location or group not in rules.age_groups_for_kind(kind):
            continue
        km = haversine_km((home["lat"], home["lon"]), (location["lat"], location["lon"]))
        if km <= reach and seats_left(inst_id) > 0:
            options.append((km, inst_id))
    for km, inst_id in sorted(options):
        need = min(r["need_date"] for r in child_rows)
        offer = _offer(ledger, str(child.id), inst_id, group, max(first, need), 0,
                       f"guarantee: nearest free seat, {km:.1f} km from home", None, month, seed, actor, channel,
                       offer_days, refused)
        if offer:
            return offer
    return None


def _offer(ledger, child_id, inst, group, start, rank, basis, wish_no, month, seed, actor, channel, offer_days,
           refused):
    try:
        outcome = ledger.execute(
            c.OfferPlace(child_id=child_id, institution_id=inst, age_group=group, start_date=start,
                         expires_on=ledger.today() + timedelta(days=offer_days), rank=max(rank, 1),
                         priority_basis=basis[:200], seed=seed),
            actor=actor, channel=channel, idempotency_key=f"allocation:{month}:{child_id}:{group}")
    except LedgerError as e:
        # The child's situation changed since the lists were read (or the offer cannot be made):
        # the run reports it, and the child is in next month's run.
        refused.append({"child_id": child_id, "institution_id": inst, "age_group": group, "reason": e.detail})
        return None
    return {"offer_id": outcome.result["id"], "child_id": child_id, "institution_id": inst, "age_group": group,
            "pool": "general", "start_date": start.isoformat(), "rank": rank, "wish_no": wish_no,
            "priority_basis": basis}


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
        cases.extend(_placed_too_late(store, group, first, _month(month)[1]))
    return {"month": month, "rule_set": rs.id, "seed": None, "offers": [], "released": released,
            "unplaced_cases": cases}


def expire_offers(ledger: Ledger, on: date, *, actor: str = "system") -> int:
    """Record OfferExpired for every open offer whose last day is before `on`; returns how many."""
    reader = LogReader(ledger, {"Child.PlaceOffered"})
    position, end, expired = 0, ledger.max_position(), 0
    while position < end:
        events, position = reader.page(position, 10_000)
        for e in events:
            if e.data["expires_on"] >= on:
                continue
            try:
                ledger.execute(c.ExpireOffer(child_id=e.originator_id, offer_id=e.data["offer_id"]),
                               actor=actor, channel="system")
                expired += 1
            except LedgerError:
                pass  # accepted, declined or expired already
        if not events and position >= end:
            break
    return expired


def age_roll(ledger: Ledger, month: str, *, actor: str = "system", ahead_months: int = 3) -> dict[str, Any]:
    """The monthly årsrulning for children whose nursery place ends with the month, and for
    children still waiting for a nursery place who reach kindergarten age within `ahead_months`
    (the run offers them no nursery seat from then on; they move to the kindergarten lists, keeping
    their integrated wishes first).

    A child in an integrated institution is booked through to school start, so it moves to the
    kindergarten section by itself (its seat's age group changes on the 1st of the month it turns
    2 y 10 m). A child in a nursery without a kindergarten section, with no kindergarten place or
    registration, is put on the kindergarten waiting lists (the nearest kindergartens of its
    district, as many as the rules allow) with the need date of its kindergarten age; its seniority
    is the rules'.
    """
    first, last = _month(month)
    rs = _rule_set_on(ledger, first)
    store = _views(ledger).store
    registered = []
    ending = q.nursery_places_ending(store, first, last)
    kindergartens = [r for r in q.institutions(store) if r["kind"] in ("boernehave", "integreret")]
    for span in ending:
        child = ledger.get(Child, span["child_id"])
        if child.erased or (child.registrations.get("kindergarten") or {}).get("active"):
            continue
        if any(p[2] > last for p in child.placements.values()):  # [institution, first day, last day]
            continue  # a place from next month on is booked already
        done = _to_kindergarten_lists(ledger, child, [], kindergartens, rs, first, last, actor,
                                      f"age-roll:{month}:{child.id}")
        if done:
            registered.append(done)
    horizon = rules.add_months(first, ahead_months)
    waiting: dict[str, list[str]] = {}
    for r in q.waiting_entries(store):
        if r["age_group"] == "nursery":
            waiting.setdefault(r["child_id"], []).append(r["institution_id"])
    taking = {k["institution_id"] for k in kindergartens}
    for child_id, nursery_wishes in sorted(waiting.items()):
        child = ledger.get(Child, child_id)
        if child.erased or (child.registrations.get("kindergarten") or {}).get("active"):
            continue
        need = rules.kindergarten_from(child.birth_date, rs)
        if need > horizon or any(p[2] >= need for p in child.placements.values()):
            continue  # not yet of age, or a place (an integrated one) already reaches kindergarten age
        done = _to_kindergarten_lists(ledger, child, [w for w in nursery_wishes if w in taking], kindergartens,
                                      rs, first, last, actor, f"age-roll-waiting:{month}:{child.id}")
        if done:
            registered.append(done)
    return {"month": month, "rule_set": rs.id, "transfers": [], "registered": registered}


def _to_kindergarten_lists(ledger: Ledger, child, own: list[str], kindergartens: list[dict], rs, first: date,
                           last: date, actor: str, key: str) -> dict[str, Any] | None:
    """Register the child for kindergarten: `own` wishes first, then its district's nearest
    kindergartens (as many as the rules allow), from its kindergarten age or next month."""
    near = _nearest(ledger, child, [k for k in kindergartens if k["district"] == child.district] or kindergartens)
    wishes = (own + [w for w in near if w not in own])[: rules.max_wishes("kindergarten", rs, first)]
    if not wishes:
        return None
    need = rules.kindergarten_from(child.birth_date, rs)
    try:
        ledger.execute(c.Register(child_id=child.id, age_group="kindergarten", wishes=wishes,
                                  need_date=max(need, last + timedelta(days=1))),
                       actor=actor, channel="system", idempotency_key=key)
    except LedgerError:
        return None
    return {"child_id": str(child.id), "wishes": [str(w) for w in wishes]}


def _nearest(ledger: Ledger, child, institutions: list[dict]) -> list[str]:
    home = ledger.get(Household, child.household_id).location
    if not home:
        return [r["institution_id"] for r in sorted(institutions, key=lambda r: r["name"])]
    scored = []
    for r in institutions:
        loc = ledger.get(Institution, r["institution_id"]).location
        km = haversine_km((home["lat"], home["lon"]), (loc["lat"], loc["lon"])) if loc else 1e9
        scored.append((km, r["institution_id"]))
    return [inst for _, inst in sorted(scored)]
