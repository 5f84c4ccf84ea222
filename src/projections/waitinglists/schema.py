"""The waiting-list view's tables (docs/views-waitinglists.md)."""

from __future__ import annotations

from projections.tables import BOOL, DATE, INT, TEXT, Table

WAITING_LIST = Table(
    "waiting_list",
    (("institution_id", TEXT), ("age_group", TEXT), ("child_id", TEXT), ("rank", INT), ("priority_basis", TEXT),
     ("sibling", BOOL), ("seniority_date", DATE), ("need_date", DATE), ("registered_on", DATE),
     ("guarantee_date", DATE), ("days_waiting", INT), ("channel", TEXT), ("wish_no", INT), ("district", TEXT),
     ("rule_set", TEXT), ("guarantee_met_by", TEXT)),
    key=("institution_id", "age_group", "child_id"),
    partition="institution_id",  # derived per list: a live projector reads a list's rows while deriving it
    indexes=(("institution_id", "age_group", "rank"), ("child_id",)),
    doc="Per institution and age group, the waiting children in offer order on the list date: rank "
        "(1 = offered first), priority basis, sibling in the institution, seniority, need, registration and "
        "guarantee dates, days waiting (list date - need date, never negative), registration channel, wish "
        "number (1 = first wish), the child's district, the rule set in force, and guarantee_met_by: "
        "'place' when the child holds a place outside its wishes that meets its guarantee "
        "(rules.place_meets_guarantee), 'refused_offer' when the family declined or let expire an offer "
        "starting by the guarantee date (rules.offer_meets_guarantee), else empty.",
)
WAITING_LIST_DISTRICT = Table(
    "waiting_list_district",
    (("district", TEXT), ("age_group", TEXT), ("child_id", TEXT), ("rank", INT), ("seniority_date", DATE),
     ("need_date", DATE), ("guarantee_date", DATE), ("days_waiting", INT)),
    key=("district", "age_group", "child_id"),
    partition="district",
    indexes=(("district", "age_group", "rank"),),
    doc="Per district of the child's home and age group, one row per waiting child, ranked by the waiting-list "
        "order without the institution-specific sibling priority.",
)
WAITINGLIST_STATE = Table(
    "waitinglist_state",
    (("entity", TEXT), ("id", TEXT), ("data", TEXT)),
    key=("entity", "id"),
    indexes=(("id",),),  # a live projector reads the children and households it needs by id
    doc="Working state (JSON): children (household, birth, district, registrations, placements, open "
        "offers), households (their children), each list's members (children with an active registration "
        "wishing the institution, or living in the district), rule-set activations, the list date and what "
        "the rows were computed for.",
)
