"""Monthly billing runs under a live projector: what each run costs the follower.

A billing run issues every household's statement for a month (`IssueStatements`, built from the
billing view as the API does) and moves the statement that carries corrections for everyone, so
the follower derives every household again. It derives each household from its first unsettled
month (the first issued month still needing a correction); before session 7 it derived every
household's whole history, which grew with each month issued. Both are measured in the same run,
on the same deterministic history (`bench/history.py`): the second pass makes the projector forget
what it knew of settled months before each run, read none from its stored rows and derive every
statement issued as drafted, as the old code did.

    python bench/billing_runs.py                      # 3,000 children, 18 monthly runs
    python bench/billing_runs.py --children 500 --months 4 --store sqlite
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import date

sys.path.insert(0, os.path.dirname(__file__))

from history import build_history  # noqa: E402
from scratch import scratch_database  # noqa: E402

from ledger import commands as c  # noqa: E402
from processes.billing import billing_run  # noqa: E402
from projections import Billing, Projector, billing_views  # noqa: E402


def billing_runs(database_url: str, children: int, months: int, whole: bool) -> list[dict]:
    """Build the history, follow it, then issue `months` monthly runs; per run: the follower's
    seconds to take it in, households derived, and household-months derived."""
    ledger = build_history(database_url, children=children)
    views = billing_views()
    billing = views[0]
    if whole:  # the old behaviour: no issued month known settled, none written as issued without a derivation
        billing.stored_corrections = lambda households: {}  # type: ignore[method-assign]
        billing.takes_issued = lambda: False  # type: ignore[method-assign]
    derived = {"households": 0, "months": 0}
    real = Billing.household_result

    def counting(self, household, since=None):
        result = real(self, household, since)
        derived["households"] += 1
        derived["months"] += len(result.shown)
        return result

    Billing.household_result = counting  # type: ignore[method-assign]
    try:
        # The history is recorded on one January day; a household registered in late February brings
        # March into the view's horizon (each run, recorded on the 25th, brings in the next month).
        ledger.clock.set(date(2025, 2, 25))
        ledger.execute(c.RegisterHousehold(district="Valby"), actor="bench", channel="caseworker")
        projector = Projector(ledger, views, page_size=5_000)
        projector.catch_up()
        out = []
        month = date(2025, 3, 1)  # the history's bookings start from March 2025
        for _ in range(months):
            ledger.clock.set(month.replace(day=25))
            label = f"{month:%Y-%m}"
            # The month's run as the API builds it (processes.billing), from the view this projector keeps.
            run = billing_run(projector.store, label)
            statements = run.statements
            ledger.execute(run, actor="bench", channel="system")
            if whole:
                billing._corrected_from.clear()  # noqa: SLF001 - the old behaviour: every household, all months
            derived.update(households=0, months=0)
            started = time.perf_counter()
            projector.catch_up()
            out.append({"month": label, "statements": len(statements), "seconds": time.perf_counter() - started,
                        **derived})
            month = date(month.year + month.month // 12, month.month % 12 + 1, 1)
        projector.close()
    finally:
        Billing.household_result = real  # type: ignore[method-assign]
        ledger.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--children", type=int, default=3_000)
    parser.add_argument("--months", type=int, default=18)
    parser.add_argument("--store", choices=("postgresql", "sqlite"), default=None,
                        help="default: PostgreSQL where PLADS_TEST_DATABASE_URL is set (make bench), else SQLite")
    args = parser.parse_args()
    store = args.store or ("postgresql" if os.environ.get("PLADS_TEST_DATABASE_URL") else "sqlite")
    print(f"date {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores; {store}; bench/history.py with "
          f"{args.children:,} children, {args.months} monthly billing runs\n")
    results = {}
    for whole in (False, True):
        with scratch_database("billing", store) as url:
            results[whole] = billing_runs(url, args.children, args.months, whole)
    print("| month | statements | follower s (first unsettled month) | household-months derived "
          "| follower s (whole history) | household-months derived |")
    print("|---|---:|---:|---:|---:|---:|")
    for a, b in zip(results[False], results[True]):
        print(f"| {a['month']} | {a['statements']:,} | {a['seconds']:.2f} | {a['months']:,} | {b['seconds']:.2f} | "
              f"{b['months']:,} |")
    total_a = sum(r["seconds"] for r in results[False])
    total_b = sum(r["seconds"] for r in results[True])
    print(f"\nall runs: {total_a:.1f} s vs {total_b:.1f} s (whole history) = {total_b / total_a:.1f} ×; last run "
          f"{results[True][-1]['seconds'] / results[False][-1]['seconds']:.1f} ×")


if __name__ == "__main__":
    main()
