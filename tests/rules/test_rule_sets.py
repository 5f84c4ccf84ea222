"""Loading rule sets: names, versions, the shared base, effective dating, validation."""

from __future__ import annotations

from datetime import date

import pydantic
import pytest

import rules
from rules import RuleError

BEP = rules.load_rule_set("copenhagen-book-en-plads@1")
WL = rules.load_rule_set("copenhagen-2025-waitinglist@1")


def test_the_packaged_rule_sets_are_listed_without_the_shared_base():
    assert rules.list_rule_sets() == ["copenhagen-2025-waitinglist-synthetic@1", "copenhagen-2025-waitinglist@1",
                                      "copenhagen-book-en-plads-synthetic@1", "copenhagen-book-en-plads@1"]


def test_published_rule_sets_carry_no_synthetic_numbers_and_the_simulators_name_theirs():
    """Issue 23: the simulator's rule sets past 2025 declare their later years synthetic, in the data."""
    assert BEP.synthetic_entries() == [] and WL.synthetic_entries() == []
    sim = rules.load_rule_set("copenhagen-book-en-plads-synthetic@1")
    assert sim.policy == BEP.policy and sim.seats == BEP.seats
    assert sim.synthetic_entries() == [f"{section} from {year}-01-01" for section in ("tariffs", "friplads")
                                       for year in range(2026, 2036)]
    # 2025 as published; 2026: 3,996 kr indexed 3 % = 4,115.88 -> 4,116 kr; 2027: 4,116 * 1.03 -> 4,239 kr.
    assert [rules.monthly_tariff_ore("vuggestue", date(2025, 6, 1), date(y, 3, 1), False, sim)
            for y in (2025, 2026, 2027)] == [399_600, 411_600, 423_900]
    assert sim.in_force("tariffs", date(2026, 3, 1)).synthetic and not sim.in_force("tariffs", date(2025, 3, 1)).synthetic
    assert sim.provisional("tariffs", date(2035, 12, 1)) is None and sim.provisional("tariffs", date(2036, 1, 1))


def test_a_rule_set_carries_its_identity():
    assert (BEP.id, BEP.name, BEP.version, BEP.policy) == (
        "copenhagen-book-en-plads@1", "copenhagen-book-en-plads", 1, "book-en-plads")
    assert (WL.id, WL.policy) == ("copenhagen-2025-waitinglist@1", "waitinglist")
    assert BEP.title and WL.title
    assert BEP.extends == WL.extends == "copenhagen-base@1"


def test_loading_is_cached_and_the_result_frozen():
    assert rules.load_rule_set("copenhagen-book-en-plads@1") is BEP
    with pytest.raises(pydantic.ValidationError):
        BEP.policy = "waitinglist"  # type: ignore[misc]


@pytest.mark.parametrize("bad", ["copenhagen-2030@1", "copenhagen-book-en-plads@2", "nope", "", "../x@1", None, ["x"]])
def test_an_unknown_rule_set_is_a_rule_error(bad):
    with pytest.raises(RuleError):
        rules.load_rule_set(bad)


def test_the_shared_base_cannot_be_activated():
    with pytest.raises(RuleError, match="shared base"):
        rules.load_rule_set("copenhagen-base@1")


def test_both_policies_share_the_common_facts_from_one_file():
    for section in ("ages", "guarantee", "waiting_list", "tariffs", "friplads", "sibling", "subsidies", "rounding"):
        assert getattr(BEP, section) == getattr(WL, section), section
    assert BEP.seats != WL.seats


def test_every_entry_cites_its_source():
    for rs in (BEP, WL):
        for section in rules.model.SECTIONS + rules.model.OPTIONAL_SECTIONS:
            for entry in getattr(rs, section):
                assert len(entry.source) > 20, (rs.id, section, entry.effective_from)


def test_the_entry_in_force_is_the_latest_that_took_effect_and_stays_until_replaced():
    assert BEP.in_force("tariffs", date(2023, 12, 31)).effective_from == date(2023, 1, 1)
    assert BEP.in_force("tariffs", date(2025, 1, 1)).effective_from == date(2025, 1, 1)
    assert BEP.in_force("tariffs", date(2027, 6, 1)).effective_from == date(2025, 1, 1)
    assert BEP.in_force("friplads", date(2021, 7, 1)).effective_from == date(2021, 1, 1)
    with pytest.raises(RuleError, match="2024-12: no published tariffs"):  # a gap: no fallback to 2023
        BEP.in_force("tariffs", date(2024, 12, 31))


def test_before_the_first_entry_there_is_no_rule():
    with pytest.raises(RuleError, match="no tariffs rule .* in force on 2017-12-31"):
        BEP.in_force("tariffs", date(2017, 12, 31))
    with pytest.raises(RuleError, match="no friplads rule"):
        rules.friplads_scale_on(date(2017, 12, 31), BEP)
    with pytest.raises(RuleError, match="unknown rule section"):
        BEP.in_force("weather", date(2025, 1, 1))


SCENARIO = """
kind = "rule-set"
name = "scenario-cheap-nursery"
version = 3
policy = "book-en-plads"
title = "What if nursery cost 3,000 kr from 2026?"
extends = "copenhagen-base@1"

[[seats]]
effective_from = 2019-01-01
self_service = true
caseworker_share_percent = 30
release_weeks_before_month = 2
caseworker_only_pools = ["basis", "special"]
source = "counterfactual scenario"

[[tariffs]]
effective_from = 2026-01-01
parent_max_share_percent = 25
source = "counterfactual scenario"
[tariffs.daginstitution.under_rate_age]
without_lunch_ore = 300_000
with_lunch_ore = 371_200
[tariffs.daginstitution.from_rate_age]
without_lunch_ore = 231_700
with_lunch_ore = 312_000
[tariffs.dagpleje]
lunch_included = true
[tariffs.dagpleje.under_rate_age]
with_lunch_ore = 398_700
[tariffs.dagpleje.from_rate_age]
with_lunch_ore = 312_000
"""


def test_a_scenario_can_extend_the_base_and_replace_a_whole_section():
    rs = rules.rule_set_from_toml(SCENARIO)
    assert rs.id == "scenario-cheap-nursery@3"
    assert rules.monthly_tariff_ore("vuggestue", date(2025, 6, 1), date(2026, 3, 1), False, rs) == 300_000
    # The section is replaced whole: the 2025 tariffs are not inherited.
    with pytest.raises(RuleError):
        rules.monthly_tariff_ore("vuggestue", date(2024, 6, 1), date(2025, 3, 1), False, rs)
    assert rs.friplads == BEP.friplads
    assert rules.caseworker_held_seats(10, rs) == 3


def test_a_friplads_scale_gap_is_refused_by_name_never_the_year_before():
    """The published data has no friplads gap any more (2022's lower limit was found); the rule
    stays: data declaring one refuses each day in it by name instead of applying 2021's scale."""
    gap = '\n[[gaps]]\nsection = "friplads"\neffective_from = 2022-01-01\nuntil = 2022-12-31\nsource = "a test gap"\n'
    rs = rules.rule_set_from_toml(SCENARIO + gap)
    with pytest.raises(RuleError, match=r"^2022-07: no published friplads in scenario-cheap-nursery@3 "
                                        r"\(a gap in its data, 2022-01-01..2022-12-31\)$"):
        rules.friplads_pay_share_percent(30_000_000, 1, False, date(2022, 7, 1), rs)
    # Around it the years' own scales: 300,000 kr is 32 % in 2021 and 29 % in 2023.
    assert rules.friplads_pay_share_percent(30_000_000, 1, False, date(2021, 12, 31), rs) == 32
    assert rules.friplads_pay_share_percent(30_000_000, 1, False, date(2023, 1, 1), rs) == 29


@pytest.mark.parametrize(
    "change, message",
    [
        (("with_lunch_ore = 371_200", "with_lunch_ore = 3712.0"), "with_lunch_ore"),
        (('extends = "copenhagen-base@1"', 'extends = "copenhagen-book-en-plads@1"'), "not a shared base"),
        (('extends = "copenhagen-base@1"', 'extends = "copenhagen-base@9"'), "unknown rule set"),
        (('policy = "book-en-plads"', 'policy = "lottery"'), "policy"),
        (("release_weeks_before_month = 2\n", ""), "self_service needs"),
        (('source = "counterfactual scenario"\n\n[[tariffs]]', '\n[[tariffs]]'), "source"),
        (("title =", "colour = 1\ntitle ="), "unknown keys"),
        (("without_lunch_ore = 300_000", "without_lunch_ore = 400_000"), "at least without_lunch_ore"),
    ],
)
def test_invalid_rule_data_is_refused_with_a_clear_error(change, message):
    old, new = change
    assert old in SCENARIO
    with pytest.raises(RuleError, match=message):
        rules.rule_set_from_toml(SCENARIO.replace(old, new, 1))


def test_two_entries_on_one_day_are_refused():
    twice = SCENARIO + SCENARIO[SCENARIO.index("[[tariffs]]"):]
    with pytest.raises(RuleError, match="two entries take effect on 2026-01-01"):
        rules.rule_set_from_toml(twice)


def test_a_friplads_step_that_disagrees_with_its_limits_is_refused():
    bad = SCENARIO + """
[[friplads]]
effective_from = 2021-01-01
lower_ore = 18_570_100
upper_ore = 57_680_000
step_ore = 511_700
single_parent_addition_ore = 6_496_700
per_child_addition_ore = 700_000
source = "a typo in the step"
"""
    with pytest.raises(RuleError, match="step_ore differs"):
        rules.rule_set_from_toml(bad)


def test_the_subsidy_order_is_the_one_of_the_law():
    assert BEP.in_force("subsidies", date(2025, 1, 1)).order == rules.SUBSIDY_ORDER
    assert rules.SUBSIDY_ORDER == (
        "okonomisk_friplads", "soeskendetilskud", "behandlingsmaessig_friplads", "socialpaedagogisk_friplads")
