"""The aggregates: consistency boundaries of the write side.

Each command method is a decorated event (eventsourcing): the method body is the
state change, run when the event is triggered and again on every replay, so it
must only assign state; decisions are made in the handlers before calling it.

Every event carries `meta`: actor, channel, reason, rule set and the effective
date (valid time). Its `timestamp` is the recorded time, from the command's clock.

State is kept in JSON-friendly shapes (dicts, lists, str, int, date) because
snapshots serialise the aggregate's __dict__.

The classes live in this package's modules but keep `ledger.aggregates` as their module
(TOPIC_MODULE): the topics of the events and snapshots already stored name it.
"""

from ledger.aggregates.base import NS, ONE_DAY, TOPIC_MODULE, LedgerAggregate, RuleBook
from ledger.aggregates.billing import BillingCalendar, BillingRun, Statement, billing_run_id, statement_id
from ledger.aggregates.child import Booking, Child
from ledger.aggregates.household import Household
from ledger.aggregates.institution import Institution
from ledger.aggregates.receipt import CommandReceipt, RefusalReceipt, key_digest, receipt_ids

__all__ = ["NS", "ONE_DAY", "TOPIC_MODULE", "BillingCalendar", "BillingRun", "Booking", "Child", "CommandReceipt",
           "Household", "Institution", "LedgerAggregate", "RefusalReceipt", "RuleBook", "Statement",
           "billing_run_id", "key_digest", "receipt_ids", "statement_id"]
