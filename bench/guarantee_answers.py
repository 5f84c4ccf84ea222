"""The three answers to "without a place past the guarantee date" on demo ledgers, side by side.

For each SQLite ledger given (e.g. the two `make demo` writes), the guarantee watch, the allocation
run and the fairness audit (`replay.guarantee_answers`) on the ledger's last day and, each on a copy
of the ledger as it stood at the end of that day, on earlier days: those given (`--days`) and ten
days after each guarantee date the audit found breached. The copies also keep the run's offers out
of the ledger. Prints one JSON line per ledger and day, with the pairs one answer names and another
does not.

    python bench/guarantee_answers.py plads-demo-book-en-plads.db plads-demo-waitinglist.db \
        --days 2025-07-01 2026-07-01 2027-07-01
"""

from __future__ import annotations

import argparse
import json
import resource
import tempfile
from datetime import date, timedelta
from pathlib import Path

from ledger import Ledger, SimulatedClock
from projections.engine import LogReader
from projections.pointintime import position_at
from replay.guarantee_answers import GuaranteeAnswers, guarantee_answers, sqlite_copy

AFTER = 10  # days after a breached guarantee date to look at the answers (the child is late, not yet placed)


def _line(name: str, a: GuaranteeAnswers) -> dict:
    return {"ledger": name, "day": a.on.isoformat(), "watch": len(a.watch), "run_unplaced": len(a.run_unplaced),
            "run_offered_now": len(a.run_offered), "audit_open": len(a.audit),
            "audit_placed_late": a.audit_placed_late, "agree": a.agree(), "disagreements": a.disagreements()}


def _answers_at(path: Path, scratch: Path, until: int | None) -> GuaranteeAnswers:
    """The answers on a copy of the ledger up to `until`, its clock just after its last event."""
    target = scratch / f"{path.stem}-{until}.db"
    url = sqlite_copy(path, target, until)
    with Ledger(url) as probe:
        found = LogReader(probe, ()).recorded_at(probe.max_position())
    try:
        with Ledger(url, clock=SimulatedClock(found[1] + timedelta(seconds=1))) as ledger:
            return guarantee_answers(ledger)
    finally:
        for leftover in scratch.glob(f"{target.name}*"):
            leftover.unlink()


def compare(path: Path, days: list[date]) -> list[dict]:
    with tempfile.TemporaryDirectory() as scratch:
        last = _answers_at(path, Path(scratch), None)
        earlier = set(days) | {due + timedelta(days=AFTER) for due in last.breached_on}
        out = []
        with Ledger(f"sqlite:///{path}") as ledger:
            positions = {day: position_at(ledger, day) for day in sorted(earlier) if day < last.on}
        for day, position in positions.items():
            out.append(_line(path.name, _answers_at(path, Path(scratch), position)))
        return out + [_line(path.name, last)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("ledgers", nargs="+", type=Path, help="SQLite ledger files")
    parser.add_argument("--days", nargs="*", type=date.fromisoformat, default=[],
                        help="earlier days to compare the answers on")
    args = parser.parse_args()
    for path in args.ledgers:
        for line in compare(path, args.days):
            print(json.dumps(line, default=str), flush=True)
    cpu = resource.getrusage(resource.RUSAGE_SELF)
    print(f"CPU {cpu.ru_utime + cpu.ru_stime:.0f} s, peak RSS {cpu.ru_maxrss / 1024:.0f} MB")


if __name__ == "__main__":
    main()
