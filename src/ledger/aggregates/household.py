"""A household: the payer and the facts that set the parent payment."""

from __future__ import annotations

import copy
from datetime import date
from typing import Any
from uuid import UUID

from ledger import events
from ledger.aggregates.base import TOPIC_MODULE, LedgerAggregate, dated_lookup, dated_upsert
from ledger.events import Meta, recorded_as


class Household(LedgerAggregate):
    """The payer and the facts that set the parent payment."""
    __module__ = TOPIC_MODULE  # the module its stored topics name

    @recorded_as(events.Household.HouseholdRegistered)
    def __init__(
        self,
        id: UUID,  # noqa: A002 - the aggregate's id, chosen by the handler (imports keep theirs)
        municipality_code: str,
        district: str,
        single_parent: bool,
        children_under_18: int,
        location: dict[str, float] | None,
        meta: Meta,
    ) -> None:
        self.municipality_code = municipality_code
        self.district = district
        self.single_parent = single_parent
        self.children_under_18 = children_under_18
        self.location = location
        self.incomes: list[list[Any]] = []  # [effective_from, annual_income_ore]
        self.friplads: list[list[Any]] = []  # [effective_from, pay_share_percent]
        self.adjustments: list[dict[str, Any]] = []
        self.erased = False
        # The facts that set the friplads limits, effective-dated: [from, single, children].
        self.facts: list[list[Any]] = []
        self.registered_facts = [single_parent, children_under_18]

    @recorded_as(events.Household.HouseholdFactsChanged)
    def change_facts(
        self,
        single_parent: bool,
        children_under_18: int,
        municipality_code: str,
        district: str,
        meta: Meta,
        effective_from: date | None = None,
        location: dict[str, float] | None = None,
    ) -> None:
        self.single_parent = single_parent
        self.children_under_18 = children_under_18
        self.municipality_code = municipality_code
        self.district = district
        if location is not None:  # absent: the home did not move (and events before moves carried none)
            self.location = location
        if effective_from is not None:
            self.facts = dated_upsert(getattr(self, "facts", []), effective_from,
                                       [single_parent, children_under_18])

    @recorded_as(events.Household.IncomeDeclared)
    def declare_income(self, annual_income_ore: int, effective_from: date, meta: Meta) -> None:
        self.incomes = dated_upsert(self.incomes, effective_from, annual_income_ore)

    @recorded_as(events.Household.FripladsDecided)
    def decide_friplads(
        self,
        pay_share_percent: int,
        effective_from: date,
        annual_income_ore: int,
        scale: dict[str, Any],
        meta: Meta,
    ) -> None:
        self.friplads = dated_upsert(self.friplads, effective_from, pay_share_percent)
        self.granted_incomes = dated_upsert(getattr(self, "granted_incomes", []), effective_from, annual_income_ore)
        scale_from = scale.get("effective_from")
        self.decided_scales = dated_upsert(getattr(self, "decided_scales", []), effective_from,
                                            None if scale_from is None else str(scale_from))

    @recorded_as(events.Household.FripladsSettled)
    def settle_friplads(self, year: int, annual_income_ore: int, shares: list[int | None], meta: Meta) -> None:
        """Efterregulering: the year's pay share per month (January first; None: no friplads that
        month) decided again on the final income."""
        self.settlements = {**getattr(self, "settlements", {}), str(year): shares}

    def granted_income_on(self, day: date) -> int | None:
        """The income the pay share in force on `day` was decided on (None from a snapshot taken
        before decisions kept it: the share is then decided again on any new income)."""
        return dated_lookup(getattr(self, "granted_incomes", []), day)

    def decided_scale_on(self, day: date) -> date | None:
        """The first day of the friplads scale the share in force on `day` was decided on (None
        without a decision, or from a snapshot taken before decisions kept it)."""
        found = dated_lookup(getattr(self, "decided_scales", []), day)
        return None if found is None else date.fromisoformat(found)

    def settled_share_on(self, day: date) -> int | None:
        """The share the year's settlement gives the month of `day` (None: not settled)."""
        shares = getattr(self, "settlements", {}).get(str(day.year))
        return None if shares is None else shares[day.month - 1]

    def has_friplads_on(self, day: date) -> bool:
        """Whether a friplads decision is in force on `day`."""
        return dated_lookup(self.friplads, day) is not None

    @recorded_as(events.Household.PaymentAdjusted)
    def adjust_payment(
        self,
        adjustment_id: str,
        kind: str,
        from_month: str,
        to_month: str | None,
        amount_ore: int | None,
        pay_share_percent: int | None,
        child_id: str | None,
        meta: Meta,
    ) -> None:
        self.adjustments.append(
            {
                "id": adjustment_id,
                "kind": kind,
                "from_month": from_month,
                "to_month": to_month,
                "amount_ore": amount_ore,
                "pay_share_percent": pay_share_percent,
                "child_id": child_id,
            }
        )

    @recorded_as(events.Household.PersonErased)
    def erase(self, person_id: str, meta: Meta) -> None:
        self.erased = True

    def income_on(self, day: date) -> int | None:
        return dated_lookup(self.incomes, day)

    def facts_on(self, day: date) -> tuple[bool, int]:
        """(single parent, children under 18) in force on a day."""
        found = dated_lookup(getattr(self, "facts", []), day)
        single, children = found if found is not None else getattr(
            self, "registered_facts", [self.single_parent, self.children_under_18])
        return bool(single), int(children)

    def fact_dates(self) -> list[date]:
        """Days on which something that sets the pay share changed."""
        return sorted({e[0] for e in self.incomes} | {e[0] for e in getattr(self, "facts", [])})

    def pay_share_on(self, day: date) -> int:
        share = dated_lookup(self.friplads, day)
        return 100 if share is None else share

    def __deepcopy__(self, memo: dict[int, Any]) -> "Household":
        # Every command (and every billing run, for every household) gets a deep copy of the cached
        # household, which holds a friplads decision per scale year with the scale it used. Its
        # dated lists and settlements are replaced by the events, never changed in place
        # (dated_upsert builds a new list), adjustments are only appended and the location is
        # flat: copying the containers keeps the cached household as it was, for a fraction of
        # the generic walk.
        clone = object.__new__(type(self))
        memo[id(self)] = clone
        for name, value in self.__dict__.items():
            if isinstance(value, list):
                clone.__dict__[name] = list(value)
            elif isinstance(value, dict):
                clone.__dict__[name] = dict(value)
            else:
                clone.__dict__[name] = copy.deepcopy(value, memo)
        return clone
