"""An erased child or household takes no new facts (SQLite and PostgreSQL)."""

from __future__ import annotations

from datetime import date

import pytest

from ledger import Conflict
from ledger import commands as c

D = date
BIRTH = D(2024, 3, 15)


def test_an_erased_child_cannot_be_put_on_a_waiting_list(city):
    inst = city.institution()
    child = city.child(city.household())
    city.run(c.ErasePerson(person_id=child, reason="GDPR art. 17"))
    with pytest.raises(Conflict, match="erased"):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[inst], need_date=D(2025, 3, 1)))


def test_an_erased_household_takes_no_new_facts(city):
    hh = city.household(income_kr=300_000)
    city.run(c.ErasePerson(person_id=hh, reason="GDPR art. 17"))
    for command in (c.RegisterChild(household_id=hh, birth_date=BIRTH),
                    c.DeclareIncome(household_id=hh, annual_income_ore=1, effective_from=D(2025, 2, 1)),
                    c.ChangeHouseholdFacts(household_id=hh, effective_from=D(2025, 2, 1), single_parent=True)):
        with pytest.raises(Conflict, match="erased"):
            city.run(command)
