"""Pure, versioned, effective-dated rules (no I/O besides this package's data files).

    import rules
    rs = rules.load_rule_set("copenhagen-book-en-plads@1")
    rules.booking_end(birth, start, "integreret", rs)
    rules.friplads_pay_share_percent(income_ore, 2, False, date(2025, 3, 1), rs)
"""

from rules.ages import (
    AgeGroup,
    InstitutionKind,
    add_months,
    age_group_on,
    age_groups_for_kind,
    booking_end,
    earliest_start,
    first_of_month,
    kindergarten_from,
    kindergarten_rate_from,
    school_start,
    seat_segments,
)
from rules.model import FripladsScale, Policy, RuleError, RuleSet, in_force, list_rule_sets, load_rule_set
from rules.money import (
    SUBSIDY_ORDER,
    Adjustment,
    ChargeLine,
    PlaceMonth,
    days_in_month,
    fee_after_share_ore,
    friplads_pay_share_percent,
    friplads_scale_on,
    gross_cost_per_place_ore,
    household_month_charges,
    monthly_tariff_ore,
    prorate_ore,
    round_half_up,
    sibling_discounted,
)
from rules.seats import Channel, Pool, caseworker_held_seats, pool_allowed, self_service_allowed, self_service_capacity
from rules.waitinglist import (
    WaitingEntry,
    decline_need_date,
    distance_fallback_km,
    guarantee_date,
    guarantee_list_date,
    max_wishes,
    newcomer_positions_per_year,
    priority_basis,
    priority_key,
    seniority_date,
    tie_break,
)

__all__ = [name for name in dir() if not name.startswith("_")]
