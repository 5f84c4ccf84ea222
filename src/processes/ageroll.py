"""Offers expiring, and the monthly age roll (årsrulning): processes that read the views and act
through the ledger's commands (`ExpireOffer`, `Register`), each with its actor and, for the roll, an
idempotency key derived from the month and the child."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

import rules
from ledger import Ledger, LedgerError
from ledger import commands as c
from ledger.aggregates import Child, Household, Institution
from processes.runs import month_bounds, rule_set_on, run_views
from projections import queries as q
from projections.engine import LogReader
from rules.allocation import haversine_km


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
    first, last = month_bounds(month)
    rs = rule_set_on(ledger, first)
    store = run_views(ledger).store
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
