"""Command handlers: plain functions (uow, command, ctx) -> outcome.

Each handler checks everything first and changes aggregates only at its end, so
a refused command leaves no trace in the unit of work (the bulk path relies on
this). Outcomes are small JSON-able dicts (ids, dates, decisions).
"""

from __future__ import annotations

from typing import Any, Callable

from ledger import commands as c
from ledger.handlers.administration import (
    activate_rule_set,
    assign_cluster,
    change_capacity,
    register_institution,
    set_gross_cost,
)
from ledger.handlers.billing import issue_statements, open_billing_month
from ledger.handlers.bookings import (
    accept_offer,
    book_place,
    cancel_booking,
    decline_offer,
    expire_offer,
    offer_place,
    transfer_child,
)
from ledger.handlers.children import change_wishes, register, register_child
from ledger.handlers.context import Context
from ledger.handlers.households import (
    adjust_payment,
    change_household_facts,
    declare_income,
    register_household,
    settle_friplads,
)
from ledger.handlers.people import erase_person
from ledger.unit_of_work import UnitOfWork

__all__ = ["HANDLERS", "Context"]

HANDLERS: dict[type, Callable[[UnitOfWork, Any, Context], dict]] = {
    c.ActivateRuleSet: activate_rule_set,
    c.RegisterInstitution: register_institution,
    c.ChangeCapacity: change_capacity,
    c.SetGrossCost: set_gross_cost,
    c.AssignCluster: assign_cluster,
    c.RegisterHousehold: register_household,
    c.ChangeHouseholdFacts: change_household_facts,
    c.DeclareIncome: declare_income,
    c.SettleFriplads: settle_friplads,
    c.AdjustPayment: adjust_payment,
    c.RegisterChild: register_child,
    c.Register: register,
    c.ChangeWishes: change_wishes,
    c.OfferPlace: offer_place,
    c.AcceptOffer: accept_offer,
    c.DeclineOffer: decline_offer,
    c.ExpireOffer: expire_offer,
    c.BookPlace: book_place,
    c.CancelBooking: cancel_booking,
    c.TransferChild: transfer_child,
    c.IssueStatements: issue_statements,
    c.OpenBillingMonth: open_billing_month,
    c.ErasePerson: erase_person,
}
