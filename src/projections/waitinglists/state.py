"""The waiting-list view's working state: what it knows of each child, typed, and its JSON form in
`waitinglist_state` (the same form as before the types, so stored state reads back)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import date


@dataclass
class Registration:
    wishes: list[str]
    need_date: date
    registered_on: date
    channel: str | None
    newcomer: bool
    active: bool = True
    guarantee_list: bool = False  # on Copenhagen's guarantee list (a resident): a place within 2 months


@dataclass
class Placement:
    institution_id: str
    first: date
    last: date  # moves earlier when the booking ends early


@dataclass
class ListedChild:
    household: str
    birth: date | None
    district: str | None
    registrations: dict[str, Registration]  # age group -> its registration
    placements: dict[str, Placement]  # booking_id -> place
    offers: dict[str, str]  # open offer_id -> age group
    erased: bool = False
    # age group -> start dates of offers made since the registration that the family declined or let expire
    refused: dict[str, list[date]] = field(default_factory=dict)
    offer_starts: dict[str, date] = field(default_factory=dict)  # open offer_id -> start date

    def holds(self, institution_id: str, on: date) -> bool:
        """A booking at the institution that has not ended by `on` (current or future)."""
        return any(p.institution_id == institution_id and p.first <= p.last and p.last >= on
                   for p in self.placements.values())

    def attends(self, institution_id: str, on: date) -> bool:
        """A booking at the institution covering `on`."""
        return any(p.institution_id == institution_id and p.first <= on <= p.last for p in self.placements.values())

    def places(self) -> list[tuple[date, date]]:
        """(first, last) of every place the child has held or holds."""
        return [(p.first, p.last) for p in self.placements.values()]


def iso(d: date | None) -> str | None:
    return d.isoformat() if d is not None else None


def to_date(s: str | date | None) -> date | None:
    if s is None or isinstance(s, date):
        return s
    return date.fromisoformat(s)


def encode(child: ListedChild) -> str:
    data = {
        "household": child.household,
        "birth": iso(child.birth),
        "district": child.district,
        "registrations": {
            g: {"wishes": r.wishes, "need_date": iso(r.need_date), "registered_on": iso(r.registered_on),
                "channel": r.channel, "newcomer": r.newcomer, "active": r.active,
                "guarantee_list": r.guarantee_list}
            for g, r in child.registrations.items()},
        "placements": {b: [p.institution_id, iso(p.first), iso(p.last)] for b, p in child.placements.items()},
        "offers": child.offers,
        "erased": child.erased,
        "refused": {g: [d.isoformat() for d in days] for g, days in child.refused.items()},
        "offer_starts": {o: d.isoformat() for o, d in child.offer_starts.items()},
    }
    return json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def decode(text: str) -> ListedChild:
    d = json.loads(text)
    return ListedChild(
        household=d["household"], birth=to_date(d["birth"]), district=d["district"],
        registrations={g: Registration(r["wishes"], to_date(r["need_date"]), to_date(r["registered_on"]),
                                       r["channel"], r["newcomer"], r["active"], r.get("guarantee_list", False))
                       for g, r in d["registrations"].items()},
        placements={b: Placement(p[0], to_date(p[1]), to_date(p[2])) for b, p in d["placements"].items()},
        offers=d["offers"], erased=d["erased"],
        # absent in state saved before they were kept
        refused={g: [date.fromisoformat(x) for x in days] for g, days in d.get("refused", {}).items()},
        offer_starts={o: date.fromisoformat(x) for o, x in d.get("offer_starts", {}).items()},
    )
