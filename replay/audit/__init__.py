"""The auditor's workbench (SPEC §8): fairness and budget audits over a ledger, and their reports.

    from replay.audit import fairness_audit, budget_audit
    from replay.audit.report import write_html, write_json
    result = budget_audit(ledger, vs="friplads-2024-scale@1")
    write_html(result, "budget.html")

See docs/audits.md.
"""

from replay.audit.budget import budget_audit
from replay.audit.fairness import fairness_audit
from replay.audit.scenarios import AuditError, list_scenarios, resolve_rule_set

__all__ = ["AuditError", "budget_audit", "fairness_audit", "list_scenarios", "resolve_rule_set"]
