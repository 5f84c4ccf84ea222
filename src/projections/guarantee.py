"""Children without a place by their guarantee date who no longer wait on any list.

A registration leaves the waiting lists once the child is placed at one of its wishes (see
`waitinglists`). That place may start after the guarantee date — a family that found no seat at its
need date and booked a later start — or be cancelled before it starts. Either way the child has no
place on the date (rules.place_meets_guarantee): the fairness audit counts it a breach, so the
guarantee watch and the allocation run must see it too. This table holds those registrations; the
waiting children's side of the same answer is `waiting_list.guarantee_met_by`.
"""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING, Any

import rules

from projections.tables import DATE, TEXT, Table

if TYPE_CHECKING:
    from projections.waitinglists.state import ListedChild, Registration

GUARANTEE_UNPLACED = Table(
    "guarantee_unplaced",
    (("child_id", TEXT), ("age_group", TEXT), ("district", TEXT), ("guarantee_date", DATE), ("need_date", DATE),
     ("registered_on", DATE), ("channel", TEXT), ("place_from", DATE), ("rule_set", TEXT)),
    key=("child_id", "age_group"),
    partition="child_id",  # derived per child: a live projector reads a child's rows while deriving them
    indexes=(("guarantee_date",),),
    doc="Registrations off the waiting lists (the child was placed at a wished institution) whose guarantee "
        "no place meets (rules.place_meets_guarantee) and no refused offer met (rules.offer_meets_guarantee): "
        "place_from is the start of the child's first place after the guarantee date, empty when it holds "
        "none (the place was cancelled before it started). The guarantee watch lists them beside the "
        "waiting children.",
)


def unplaced_row(child_id: str, child: ListedChild, group: str, reg: Registration, guarantee: date | None,
                 rs: rules.RuleSet) -> dict[str, Any] | None:
    """The row for a registration that left the lists without a place by its guarantee date, else None."""
    if reg.active or guarantee is None or child.erased:
        return None
    places = child.places()
    if rules.place_meets_guarantee(guarantee, reg.registered_on, places):
        return None
    if rules.offer_meets_guarantee(guarantee, child.refused.get(group, ())):
        return None
    later = [first for first, last in places if first <= last and first > guarantee]
    return {"child_id": child_id, "age_group": group, "district": child.district, "guarantee_date": guarantee,
            "need_date": reg.need_date, "registered_on": reg.registered_on, "channel": reg.channel,
            "place_from": min(later, default=None), "rule_set": rs.id}
