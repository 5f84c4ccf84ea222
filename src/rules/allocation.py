"""Who gets which seat in a waiting-list run: child-proposing deferred acceptance.

Each waiting child proposes to its wishes in order; each institution keeps, among the children
proposing to it, the best-ranked ones up to its free seats (its rank is the waiting list's order
under the rule set), and turns the others away, who propose to their next wish. The result is the
child-optimal stable matching: no seat is left empty while a child who wished it goes without or
with a worse wish (no waste), and no child is passed over at a wish for one ranked below it there
(no justified envy). Pure: no I/O; ties are already broken in the ranks (the recorded seed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence


@dataclass(frozen=True)
class Applicant:
    child_id: str
    wishes: tuple[str, ...]  # institution ids, most wanted first


def deferred_acceptance(applicants: Sequence[Applicant], seats: Mapping[str, int],
                        rank: Mapping[tuple[str, str], int]) -> dict[str, str]:
    """child_id → institution_id for the children placed; `rank[(institution, child)]`, 1 = first.

    A wish without a rank (the child is not on that list) or without seats is skipped.
    """
    next_wish = {a.child_id: 0 for a in applicants}
    wishes = {a.child_id: a.wishes for a in applicants}
    held: dict[str, list[tuple[int, str]]] = {inst: [] for inst in seats}
    free = sorted(wishes)  # deterministic order of proposals (the outcome does not depend on it)
    while free:
        child = free.pop()
        options = wishes[child]
        while next_wish[child] < len(options):
            inst = options[next_wish[child]]
            next_wish[child] += 1
            r = rank.get((inst, child))
            if r is None or seats.get(inst, 0) <= 0:
                continue
            held[inst].append((r, child))
            held[inst].sort()
            if len(held[inst]) > seats[inst]:
                _, rejected = held[inst].pop()
                if rejected != child:
                    free.append(rejected)
                    break
                continue  # this child was the one turned away: try its next wish
            break
    return {child: inst for inst, kept in held.items() for _, child in kept}


def haversine_km(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Straight-line distance between two (lat, lon) points in km."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * 6371.0 * math.asin(math.sqrt(h))
