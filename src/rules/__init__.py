"""plads rules: pure functions over named, versioned, effective-dated rule-set data.

No I/O besides reading this package's own data files (rules/data/*.toml); no imports of
other project packages. Money is integer øre, percentages are integers, dates are dates.

    import rules
    rs = rules.load_rule_set("copenhagen-book-en-plads@1")
    rules.booking_end(birth, start, "integreret", rs)
    rules.friplads_pay_share_percent(income_ore, 2, False, date(2025, 3, 1), rs)

See docs/rules.md for the rule sets, the formulas and their sources.
"""

from .ages import (
    age_group_on,
    age_groups_for_kind,
    booking_end,
    earliest_start,
    guarantee_start,
    kindergarten_from,
    kindergarten_rate_from,
    school_start,
    seat_segments,
)
from .billing import Adjustment, ChargeLine, PlaceMonth, household_month_charges
from .dates import add_months, days_in_month, first_of_month, last_of_month
from .errors import RuleError
from .friplads import friplads_limits_ore, friplads_pay_share_percent, friplads_recalculation_due, friplads_scale_on
from .guarantee import (
    guarantee_date,
    guarantee_days_late,
    guarantee_list_due,
    guarantee_list_open_to,
    offer_meets_guarantee,
    place_meets_guarantee,
    registration_guarantee_date,
)
from .intermunicipal import PlaceElsewhere, intermunicipal_rules, pays_home_subsidy, place_elsewhere
from .loader import list_rule_sets, load_rule_set, rule_set_from_toml
from .model import FripladsScale, RuleSet, in_force
from .money import fee_after_share_ore, prorate_ore, prorate_split_ore, round_half_up, sibling_discounted
from .seats import (
    basis_seats_min_per_institution,
    caseworker_held_seats,
    held_seats_released,
    held_seats_unused,
    pool_allowed,
    release_day,
    seats_still_held,
    self_service_allowed,
    self_service_limit,
)
from .tariffs import gross_cost_per_place_ore, lunch_part_ore, monthly_tariff_ore
from .types import SUBSIDY_ORDER, AgeGroup, Channel, InstitutionKind, Policy, Pool
from .waitinglist import (
    WaitingEntry,
    decline_need_date,
    distance_fallback_km,
    distance_km_fallback,
    max_wishes,
    newcomer_position_valid,
    newcomer_positions_per_year,
    priority_basis,
    priority_key,
    seniority_date,
    sibling_priority_from,
    tie_break,
)

__all__ = [
    "PlaceElsewhere",
    "intermunicipal_rules",
    "pays_home_subsidy",
    "place_elsewhere",
    "SUBSIDY_ORDER",
    "Adjustment",
    "AgeGroup",
    "Channel",
    "ChargeLine",
    "FripladsScale",
    "InstitutionKind",
    "PlaceMonth",
    "Policy",
    "Pool",
    "RuleError",
    "RuleSet",
    "WaitingEntry",
    "add_months",
    "age_group_on",
    "age_groups_for_kind",
    "basis_seats_min_per_institution",
    "booking_end",
    "caseworker_held_seats",
    "days_in_month",
    "decline_need_date",
    "distance_fallback_km",
    "distance_km_fallback",
    "earliest_start",
    "fee_after_share_ore",
    "first_of_month",
    "friplads_limits_ore",
    "friplads_pay_share_percent",
    "friplads_recalculation_due",
    "friplads_scale_on",
    "gross_cost_per_place_ore",
    "guarantee_date",
    "guarantee_list_due",
    "guarantee_days_late",
    "place_meets_guarantee",
    "offer_meets_guarantee",
    "guarantee_list_open_to",
    "guarantee_start",
    "held_seats_released",
    "held_seats_unused",
    "household_month_charges",
    "in_force",
    "kindergarten_from",
    "kindergarten_rate_from",
    "last_of_month",
    "list_rule_sets",
    "load_rule_set",
    "lunch_part_ore",
    "max_wishes",
    "monthly_tariff_ore",
    "newcomer_position_valid",
    "newcomer_positions_per_year",
    "pool_allowed",
    "priority_basis",
    "priority_key",
    "prorate_ore",
    "prorate_split_ore",
    "release_day",
    "registration_guarantee_date",
    "round_half_up",
    "rule_set_from_toml",
    "school_start",
    "seat_segments",
    "seats_still_held",
    "self_service_allowed",
    "self_service_limit",
    "seniority_date",
    "sibling_discounted",
    "sibling_priority_from",
    "tie_break",
]
