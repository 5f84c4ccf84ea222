"""The fairness audit (SPEC §8): measures from the matching literature over the ledger's facts.

- Justified envy (Kennes, Monte & Tumennasan 2014): child i wished institution I for an age
  group, was due (need date on or before the start) and old enough, had registered before the
  booking was recorded, held no place at I or at a wish it ranks higher (and had not declined an
  offer at I) — and a child j with *lower* priority under the waiting-list order got a general
  seat at I starting that day. One finding per (i, I, age group), however many bookings passed
  i over there (they are listed in the finding).
- Wasted seat-months: seats of an institution's general pool free the whole month (the
  Occupancy view's `free`) while children wishing it, due and old enough for the whole month,
  registered before the month, had no place there or at a better wish: min(free, waiting).
- Guarantee breaches: no place on the guarantee date (rules.guarantee_date), and the first place
  started later (days late = start - guarantee date) or has not started by the audit date.
- Waiting days: need date -> start of the registration's first place (0 when it started on or
  before the need date); registrations still waiting are counted apart (censored).
- First-choice share: places at the first wish among placed registrations.
- Sibling co-location: of the placed children with a sibling in daycare on their start date,
  the share placed where a sibling is.
Each measure is broken down by district (the child's home), registration channel and the
child's age when registered (< 4 months, 4-12 months, > 12 months; registrations imported from
the old system are a group of their own: neither policy saw them registered).

The priority order is `rules.priority_key` (seed 0, the waiting-list view's order) under
`policy` or, by default, the rule set in force on the day the booking was recorded; envy needs
strictly higher priority by the rules (sibling, age, seniority, need date), not a win of the
seeded tie-break lottery.

The modules: `judging` (judge: the measures over a ledger's folded facts), `envy`, `wasted`,
`guarantee` (the three kinds of finding), `standing` (where a registration stood at a decision),
`summaries` (summaries, breakdowns, distributions).
"""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path
from typing import Sequence

from ledger import Ledger
from projections.engine import View, collector_paused
from projections.occupancy import Occupancy

from replay.audit.counterfactual import Script, replay_demand
from replay.audit.facts import Demand, fold
from replay.audit.judging import judge
from replay.audit.scenarios import AuditError
from replay.audit.standing import DEFAULT_RULE_SET


def fairness_audit(ledger: Ledger, *, start: date | None = None, end: date | None = None,
                   policy: str | None = None, vs: str | None = None) -> dict:
    """The fairness audit of the ledger's history (JSON-able dict; see docs/audits.md)."""
    if start is not None and end is not None and end < start:
        raise AuditError(f"the period ends ({end}) before it starts ({start})")
    # Another rule set: its replay reads the ledger's demand in the same pass over the log.
    script = Script() if vs is not None and "://" not in vs else None
    result, demand = _judged(ledger, start=start, end=end, policy=policy, also=(script,) if script else ())
    if vs is not None and "://" in vs:  # another ledger: its measures side by side
        result["vs"] = other_ledger_fairness(result, vs, start=start, end=end, policy=policy)
    elif vs is not None:  # another rule set: the same demand replayed under it
        result["vs"] = counterfactual_fairness(ledger, demand, start=start, end=end, policy=policy, vs=vs,
                                               script=script)
    return result


def _judged(ledger: Ledger, *, start: date | None, end: date | None, policy: str | None,
            also: Sequence[View] = ()) -> tuple[dict, Demand]:
    """The measures over a ledger's own facts (with the position they were folded to), and its demand
    (`also`: more views folded in the same pass)."""
    demand, occupancy = Demand(), Occupancy()
    position = fold(ledger, [demand, occupancy, *also])
    with collector_paused():  # judging walks the folded facts: the cyclic collector would too, again and again
        result = judge(demand, list(occupancy.t["occupancy"].values()), start=start, end=end, policy=policy)
    result["position"] = position
    return result, demand


def counterfactual_fairness(ledger: Ledger, demand: Demand, *, start: date | None, end: date | None,
                            policy: str | None, vs: str, script: Script | None = None) -> dict:
    """The fairness measures of the ledger's demand replayed under `policy` (default: the rule set in
    force at the end) and under `vs`, side by side (`script`: the ledger's demand, if folded already)."""
    if script is None:
        script = Script()
        fold(ledger, [script])
    base = policy or demand.rule_set_id_on(demand.last_recorded.date(), DEFAULT_RULE_SET)
    sides = {}
    for name in (base, vs):
        with replay_demand(ledger, name, script=script) as replayed:
            judged, _ = _judged(replayed.ledger, start=start, end=end, policy=policy)
            sides[name] = (judged, replayed.refused)
    (a, refused_a), (b, refused_b) = sides[base], sides[vs]
    return {
        "kind": "replay", "policy": base, "vs": vs,
        "note": "both sides are the ledger's demand replayed in a scratch ledger; priority judged under "
                + (policy or "each side's own rule set"),
        **_side_by_side(a, b), "refused": {"actual": refused_a, "alternative": refused_b},
    }


def other_ledger_fairness(mine: dict, other_url: str, *, start: date | None, end: date | None,
                          policy: str | None) -> dict:
    """This ledger's fairness measures (`mine`, from judge) next to another ledger's (e.g. the demo's
    two cities, one per policy): no replay, each judged on its own facts."""
    if other_url.startswith("sqlite:///") and not Path(other_url[len("sqlite:///"):].split("?")[0]).is_file():
        raise AuditError(f"no ledger at {other_url!r}")
    try:
        other_ledger = Ledger(other_url)
    except Exception as e:  # a URL the auditor typed: say what is wrong with it, in one line
        raise AuditError(f"cannot open the ledger {other_url!r}: {e}") from None
    with other_ledger:
        theirs, _ = _judged(other_ledger, start=start, end=end, policy=policy)
    return {
        "kind": "ledgers", "policy": "this ledger", "vs": _redacted(other_url),
        "note": "two ledgers side by side, each judged on its own facts (no replay)",
        **_side_by_side(mine, theirs), "refused": {"actual": [], "alternative": []},
    }


def _side_by_side(actual: dict, alternative: dict) -> dict:
    return {"actual": _flat(actual["summary"]), "alternative": _flat(alternative["summary"]),
            "actual_breakdowns": actual["breakdowns"], "alternative_breakdowns": alternative["breakdowns"],
            "actual_waiting_days": actual["waiting_days"], "alternative_waiting_days": alternative["waiting_days"]}


def _flat(summary: dict) -> dict:
    out = {k: v for k, v in summary.items() if not isinstance(v, dict)}
    out.update({f"waiting_days_{k}": v for k, v in summary["waiting_days"].items()})
    return out


def _redacted(url: str) -> str:
    """A ledger URL fit for a report: without its password."""
    return re.sub(r"//([^:/@]+):[^@]*@", r"//\1:***@", url)
