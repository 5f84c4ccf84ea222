"""Waiting lists: per institution and age group, and per district, children in offer order.

Who waits (on the *list date*, see below): a child with an active registration (`Opskrevet`)
for an age group, on the list of every institution it wishes for that age group — except
- once it is `Placed` at an institution among that registration's wishes: the registration is
  no longer active (as in the ledger's `Child` aggregate) and the child leaves every list of
  that age group; a later cancellation or transfer does not put it back (it would register
  again). A booking elsewhere keeps it waiting (DTL § 27 c: a wish to move);
- on the list of an institution where it already holds a booking that has not ended by the
  list date (it cannot wait for a place it has);
- once it has outgrown the age group: nursery from `rules.kindergarten_from`, kindergarten
  from `rules.school_start`;
- once the child is erased (`PersonErased`).

`WishesChanged` replaces wishes and need date; `OfferDeclined` carries the moved need date.

Order: `rules.priority_key(entry, rule_set, seed=0, on=list date)`; the priority basis is
`rules.priority_basis(...)` on the same day. `sibling`: another child of the same household
holds a booking in the institution on the list date (whether it counts for the order is the
rule set's business: kindergarten siblings count from 2 y 6 m). The district list orders the
district's waiting children by the same key without the institution-specific sibling priority.

The list date is the date (UTC) of the latest recorded time among the events this view reads,
and the rule set is the one in force on it (`RuleBook.RuleSetActivated`; default
`copenhagen-2025-waitinglist@1`). Both come from the events alone, so a rebuild reproduces the
tables exactly. `finish_page(final=True)` recomputes the lists whose inputs changed, and every
list when the list date or the rule set moved; a row is written only when it changed.

See docs/views-waitinglists.md for the tables.
"""

from projections.waitinglists.schema import WAITING_LIST, WAITING_LIST_DISTRICT, WAITINGLIST_STATE
from projections.waitinglists.view import DEFAULT_RULE_SET, WaitingLists

__all__ = ["DEFAULT_RULE_SET", "WAITING_LIST", "WAITING_LIST_DISTRICT", "WAITINGLIST_STATE", "WaitingLists"]
