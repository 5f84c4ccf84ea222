"""Processes: read the views, decide with the rules, act through the ledger's commands.

Above the read side (`projections`), below its users (`api`, `replay`): a process sends commands,
so it does not live among the views, which only read. The monthly allocation run, the expiry of
open offers and the age roll (årsrulning) are in `processes.allocation`; the monthly billing run
(issuing a month's statements) in `processes.billing`.
"""
