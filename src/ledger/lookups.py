"""Finding a person by CPR number: the keyed digest in the person key store names a child or a
household; the number itself is neither kept nor logged."""

from __future__ import annotations

from ledger.aggregates import Child, Household
from ledger.errors import NotFound


class PersonLookups:
    """The Ledger's look-ups of people (its registry and aggregates)."""

    def find_person(self, cpr: str, *, actor: str | None = None) -> tuple[str, str, str] | None:
        """(kind, id, household id) of the child or household registered with a CPR number, or None.

        The number is compared as a keyed digest in the person key store; it is neither kept nor logged.
        With `actor`, the look-up is recorded (who, when, whom found; never the number)."""
        found = self._person(self.registry.find(cpr))
        if actor is not None:
            self.registry.record_lookup(actor, found[1] if found else None, self.clock.now().isoformat())
        return found

    def _person(self, person_id: str | None) -> tuple[str, str, str] | None:
        if person_id is None:
            return None
        child = self._find(Child, person_id)
        if child is not None and not child.erased:
            return "child", person_id, str(child.household_id)
        household = self._find(Household, person_id)
        if household is not None and not household.erased:
            return "household", person_id, person_id
        return None

    def household_of_cpr(self, cpr: str) -> str | None:
        """The household a CPR number belongs to (as its payer, or as one of its children)."""
        found = self.find_person(cpr)
        return found[2] if found else None

    def _find(self, cls, aggregate_id):
        try:
            return self.get(cls, aggregate_id)
        except NotFound:
            return None
