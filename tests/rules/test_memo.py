"""Remembered rule answers are keyed by the rule set: another rule set never gets a stale answer."""

from __future__ import annotations

import gc
import weakref
from datetime import date

import rules
from rules import memo

from .test_rule_sets import BEP, SCENARIO

NURSERY_CHILD, MARCH_2026 = date(2025, 6, 1), date(2026, 3, 1)


def test_each_rule_set_gets_its_own_tariff_after_the_other_was_asked():
    cheap = rules.rule_set_from_toml(SCENARIO)
    assert rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, BEP) == 399_600
    assert rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, cheap) == 300_000
    assert rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, BEP) == 399_600
    assert cheap.in_force("tariffs", MARCH_2026) is not BEP.in_force("tariffs", MARCH_2026)


def test_a_rule_set_stays_alive_while_answers_keyed_by_its_identity_are_remembered():
    # Were it collected, a later rule set could take over its id() and read its answers.
    scenario = rules.rule_set_from_toml(SCENARIO)
    assert rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, scenario) == 300_000
    alive = weakref.ref(scenario)
    del scenario
    gc.collect()
    assert alive() is not None
    memo.forget_all()
    gc.collect()
    assert alive() is None


def test_memos_are_bounded():
    small = memo.Memo(limit=3)
    for i in range(10):
        small.remember(BEP, i, i)
    assert len(small) <= 3 and small[9] == 9


def test_too_many_rule_sets_empty_every_memo(monkeypatch):
    monkeypatch.setattr(memo, "_PINNED_MAX", 2)
    rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, BEP)
    for _ in range(3):
        rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, rules.rule_set_from_toml(SCENARIO))
    assert len(memo._PINNED) <= 2
    assert rules.monthly_tariff_ore("vuggestue", NURSERY_CHILD, MARCH_2026, False, BEP) == 399_600
