"""An institution: its capacity over time and the seats reserved in it (invariant 1)."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any
from uuid import UUID

from ledger import events
from ledger.aggregates.base import ONE_DAY, TOPIC_MODULE, LedgerAggregate, dated_lookup, dated_upsert
from ledger.events import Meta, recorded_as
from ledger.seats import Schedule


class Institution(LedgerAggregate):
    """A daycare institution, its capacity over time and the seats reserved in it.

    The aggregate's version is the lock for invariant 1: two bookings that read
    the same version cannot both be saved.
    """
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @recorded_as(events.Institution.InstitutionRegistered)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate's id, chosen by the handler (imports keep theirs)
        name: str,
        district: str,
        kind: str,
        ownership: str,
        municipality_code: str,
        location: dict[str, float] | None,
        meta: Meta,
    ) -> None:
        self.name = name
        self.district = district
        self.kind = kind
        self.ownership = ownership
        self.municipality_code = municipality_code
        self.location = location
        self.capacity: dict[str, list[list[Any]]] = {}  # "age_group/pool" -> [[from, seats]]
        # booking_id -> {"child_id", "pool", "channel", "segments": [[age_group, first, last]]}
        self.reservations: dict[str, dict[str, Any]] = {}

    @recorded_as(events.Institution.CapacityChanged)
    def change_capacity(
        self, age_group: str, pool: str, seats: int, effective_from: date, meta: Meta
    ) -> None:
        key = f"{age_group}/{pool}"
        entries = [e for e in self.capacity.get(key, []) if e[0] != effective_from]
        entries.append([effective_from, seats])
        self.capacity[key] = sorted(entries, key=lambda e: e[0])

    @recorded_as(events.Institution.GrossCostSet)
    def set_gross_cost(self, age_group: str, gross_cost_ore: int, effective_from: date, meta: Meta) -> None:
        # The budgeted gross cost per place as the institution's municipality calculates it; the
        # billing views read it from the event (nothing the aggregate decides depends on it).
        costs = self.__dict__.setdefault("gross_cost", {})
        entries = [e for e in costs.get(age_group, []) if e[0] != effective_from]
        costs[age_group] = sorted(entries + [[effective_from, gross_cost_ore]], key=lambda e: e[0])

    @recorded_as(events.Institution.SeatsReserved)
    def reserve(
        self,
        booking_id: str,
        child_id: str,
        pool: str,
        segments: list[list[Any]],
        meta: Meta,
        forget_before: date | None = None,
        self_service: bool | None = None,
    ) -> None:
        # self_service: a family's own booking, not a caseworker placement (which uses the held
        # seats first). An accepted offer is the placement office's even when the family answers
        # it; events before this field follow their channel.
        self.reservations[booking_id] = {
            "child_id": child_id,
            "pool": pool,
            "channel": meta.get("channel"),
            "segments": segments,
            "self_service": meta.get("channel") == "self_service" if self_service is None else self_service,
        }
        if forget_before is not None:
            # An institution lives for decades: seats held only before the checking
            # horizon can no longer meet a new booking, so they leave the working state
            # (and the snapshots stay flat). The events keep them for the views.
            self.reservations = {
                k: r for k, r in self.reservations.items()
                if any(last >= forget_before for _, _, last in r["segments"])
            }

    @recorded_as(events.Institution.SeatsReleased)
    def release(self, booking_id: str, from_date: date, meta: Meta) -> None:
        """The booking no longer uses seats from `from_date` on."""
        held = self.reservations.get(booking_id)
        if held is None:
            return  # forgotten: it ended before the checking horizon
        kept = []
        for age_group, first, last in held["segments"]:
            if first >= from_date:
                continue
            kept.append([age_group, first, min(last, from_date - ONE_DAY)])
        self.reservations[booking_id] = {**held, "segments": kept}  # replaced, never changed in place

    def __deepcopy__(self, memo: dict[int, Any]) -> "Institution":
        # The application hands every command a deep copy of the cached institution, and an
        # institution holds hundreds of reservations. Reservations and capacity entries are
        # replaced, never changed in place (reserve, release, change_capacity), so a copy may
        # share them: copying the two dicts keeps the cached institution as it was whatever
        # the command does.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if name in ("reservations", "capacity"):
                clone.__dict__[name] = dict(value)
            else:
                clone.__dict__[name] = copy.deepcopy(value, memo)
        return clone

    @recorded_as(events.Institution.ClusterAssigned)
    def assign_cluster(self, cluster: str | None, effective_from: date, meta: Meta) -> None:
        """The cluster (klynge) the institution belongs to from `effective_from`; None: no cluster."""
        self.clusters = dated_upsert(getattr(self, "clusters", []), effective_from, cluster)

    def cluster_on(self, day: date) -> str | None:
        """The cluster in force on `day` (None before the first assignment; institutions registered
        before clusters existed have none)."""
        return dated_lookup(getattr(self, "clusters", []), day)

    @recorded_as(events.Institution.CapacityOverridden)
    def record_override(
        self,
        booking_id: str,
        age_group: str,
        pool: str,
        short_days: list[list[date]],
        meta: Meta,
    ) -> None:
        """A caseworker booked beyond capacity on purpose; kept for audits."""

    def schedule(self, age_group: str, pool: str) -> Schedule:
        return [(e[0], e[1]) for e in self.capacity.get(f"{age_group}/{pool}", [])]

    def capacity_on(self, age_group: str, pool: str, day: date) -> int:
        seats = 0
        for effective_from, n in self.schedule(age_group, pool):
            if effective_from > day:
                break
            seats = n
        return seats

    def seats_held(self, age_group: str, pool: str, *, caseworkers_only: bool = False) -> list[tuple[date, date]]:
        """The (first, last) days of the seats reserved; `caseworkers_only`: of the caseworker placements."""
        out = []
        for r in self.reservations.values():
            if r["pool"] != pool or (caseworkers_only and _self_service(r)):
                continue
            for g, first, last in r["segments"]:
                if g == age_group:
                    out.append((first, last))
        return out


def _self_service(reservation: dict[str, Any]) -> bool:
    # Reservations kept in snapshots from before the field follow their channel.
    return reservation.get("self_service", reservation["channel"] == "self_service")
