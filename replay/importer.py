"""History import: what a municipality exports from its old system, through the bulk path.

    report = import_history(ledger, "history.json")

The file (JSON, or CSV with one record per row; docs/import.md) holds institutions with
their capacities and clusters, households with incomes, children, registrations and placements.
Every record becomes the real command (RegisterInstitution, ChangeCapacity, AssignCluster,
RegisterHousehold, DeclareIncome, RegisterChild, Register, BookPlace, CancelBooking) run with channel
`import`, in the order of the day each fact was recorded in the old system (the ledger's
simulated clock is set to that day). All of it is one transaction: if any record is
refused, nothing is written and the report says which rows failed and why.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable

from pydantic import ValidationError

from ledger import Ledger, SimulatedClock
from ledger import commands as c

FORMAT = "plads-history"
KINDS = ("institution", "capacity", "cluster", "household", "income", "child", "registration", "placement")
SECTIONS = {"institution": "institutions", "capacity": "capacities", "cluster": "clusters", "household": "households",
            "income": "incomes", "child": "children", "registration": "registrations", "placement": "placements"}


class ImportFailed(Exception):
    """The file cannot be imported; nothing was written. `report` lists the rejected rows."""

    def __init__(self, message: str, report: "ImportReport | None" = None) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class Rejected:
    row: int  # 1-based record number in the file (CSV: the line number)
    kind: str
    ref: str
    reason: str

    def __str__(self) -> str:
        return f"row {self.row} ({self.kind} {self.ref}): {self.reason}"


@dataclass
class ImportReport:
    records: int = 0
    commands: int = 0
    imported: dict[str, int] = field(default_factory=dict)  # commands run, by name
    rejected: list[Rejected] = field(default_factory=list)
    ids: dict[str, str] = field(default_factory=dict)  # the file's refs -> ledger ids

    @property
    def ok(self) -> bool:
        return not self.rejected


@dataclass
class _Record:
    row: int
    kind: str
    data: dict[str, Any]

    @property
    def ref(self) -> str:
        return str(self.data.get("ref") or self.data.get("child") or self.data.get("institution") or "")


def read_records(path: str | Path) -> list[_Record]:
    """The records of a history file, numbered as in the file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as e:
        raise ImportFailed(f"cannot read {path}: {e.strerror}") from None
    except UnicodeDecodeError:
        raise ImportFailed(f"{path} is not UTF-8 text") from None
    if path.suffix.lower() == ".csv":
        return _csv_records(text)
    try:
        doc = json.loads(text)
    except json.JSONDecodeError as e:
        raise ImportFailed(f"{path} is not valid JSON: {e.msg} at line {e.lineno}") from None
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or doc.get("version") != 1:
        raise ImportFailed(f'{path}: not a history file (expected {{"format": "{FORMAT}", "version": 1, ...}})')
    records, n = [], 0
    for kind in KINDS:
        items = doc.get(SECTIONS[kind], [])
        if not isinstance(items, list):
            raise ImportFailed(f"{path}: {SECTIONS[kind]} must be a list")
        for item in items:
            n += 1
            records.append(_Record(n, kind, item if isinstance(item, dict) else {"_invalid": item}))
    unknown = set(doc) - {"format", "version", "rule_set", *SECTIONS.values()}
    if unknown:
        raise ImportFailed(f"{path}: unknown sections {', '.join(sorted(unknown))}")
    if "rule_set" in doc:
        records.insert(0, _Record(0, "rule_set", doc["rule_set"] if isinstance(doc["rule_set"], dict) else {}))
    # Rows are numbered as they stand in the file: the rule set, then each section in order.
    for row, record in enumerate(records, start=1):
        record.row = row
    return records


def _csv_records(text: str) -> list[_Record]:
    reader = csv.DictReader(text.splitlines())
    if not reader.fieldnames or "record" not in reader.fieldnames:
        raise ImportFailed("a history CSV needs a header with a `record` column")
    out = []
    for line, row in enumerate(reader, start=2):
        kind = (row.pop("record") or "").strip()
        data = {k: v for k, v in row.items() if k and v not in (None, "")}
        for key in ("wishes", "support_needs"):
            if key in data:
                data[key] = [w for w in data[key].split(";") if w]
        for key in ("single_parent", "lunch", "newcomer"):
            if key in data:
                data[key] = data[key].strip().lower() in ("1", "true", "yes", "ja")
        out.append(_Record(line, "rule_set" if kind == "rule_set" else kind, data))
    return out


def import_history(ledger: Ledger, path: str | Path, *, actor: str = "import") -> ImportReport:
    """Import a history file into `ledger` in one transaction, or nothing (ImportFailed)."""
    records = read_records(path)
    report = ImportReport(records=len(records))
    plan = _plan(records, report)
    if report.rejected:
        raise ImportFailed(f"{len(report.rejected)} of {report.records} records rejected; nothing imported", report)
    if not plan:
        raise ImportFailed("the file holds no records")
    first_day = min(day for day, _, _, _ in plan)
    last = _last_recorded(ledger)
    if last is not None and last.date() > first_day:
        raise ImportFailed(f"the ledger already holds facts recorded up to {last.date()}; history from "
                           f"{first_day} goes into a fresh ledger")
    clock = SimulatedClock(first_day)
    saved_clock, ledger.clock = ledger.clock, clock
    failed = object()
    try:
        with ledger.bulk(actor=actor, channel="import", batch_size=len(plan) + 1) as bulk:
            for day, _, record, build in sorted(plan, key=lambda p: (p[0], p[1])):
                if clock.today() < day:
                    clock.set(datetime(day.year, day.month, day.day, 6, tzinfo=timezone.utc))
                try:
                    command = build(report.ids)
                except _Skip as e:
                    report.rejected.append(Rejected(record.row, record.kind, record.ref, str(e)))
                    continue
                except (ValidationError, ValueError, KeyError) as e:
                    report.rejected.append(Rejected(record.row, record.kind, record.ref, _why(e)))
                    continue
                result = bulk.execute(command)
                report.commands += 1
                if result is None:
                    _, _, error = bulk.rejected.pop()
                    report.rejected.append(Rejected(record.row, record.kind, record.ref, error.detail))
                    continue
                name = type(command).__name__
                report.imported[name] = report.imported.get(name, 0) + 1
                if record.kind in ("institution", "household", "child", "placement") and record.data.get("ref"):
                    report.ids[f"{record.kind}:{record.data['ref']}"] = result["id"]
            if report.rejected:
                # Leaving the block with an exception skips the bulk's only save: nothing is written.
                raise _Abort(failed)
    except _Abort:
        raise ImportFailed(f"{len(report.rejected)} of {report.records} records rejected; nothing imported",
                           report) from None
    finally:
        ledger.clock = saved_clock
    return report


class _Abort(Exception):
    pass


class _Skip(Exception):
    """A record that depends on another record that was rejected."""


def _why(e: Exception) -> str:
    if isinstance(e, ValidationError):
        first = e.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "record"
        return f"invalid {where}: {first.get('msg')}"
    if isinstance(e, KeyError):
        return f"missing field {e.args[0]!r}"
    return str(e)


def _last_recorded(ledger: Ledger) -> datetime | None:
    top = ledger.max_position()
    if not top:
        return None
    notes = ledger.recorder.select_notifications(top, 1)
    return ledger.mapper.to_domain_event(notes[0]).timestamp if notes else None


def _day(data: dict[str, Any], key: str) -> date:
    value = data[key]
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError:
        raise ValueError(f"{key} {value!r} is not a date (YYYY-MM-DD)") from None


def _ref(ids: dict[str, str], kind: str, ref: Any) -> str:
    key = f"{kind}:{ref}"
    if key not in ids:
        raise _Skip(f"refers to {kind} {ref!r}, which is not in the file or was rejected")
    return ids[key]


Build = Callable[[dict[str, str]], c.Command]  # the command of a record, given the ids made so far


def _plan(records: list[_Record], report: ImportReport) -> list[tuple[date, int, _Record, Build]]:
    """(recorded day, order within the day, record, command builder) for every record.

    A fact is recorded on the day the old system learned it: institutions and households at
    the start of the history (their `recorded_on` if given), registrations on their
    registration day, placements on their decision day (default: the start date), an ended
    placement's cancellation on the day it ended."""
    dated = _dated(records, report)
    if report.rejected:
        return []
    start = min((d for _, d in dated if d is not None), default=date.today())
    plan = []
    order = {k: i for i, k in enumerate(("rule_set",) + KINDS)}
    for r, day in dated:
        d = r.data
        when = day or start
        if r.kind == "child" and day is None:
            # Recorded at the start of the history, or at birth for a child born later.
            when = max(start, _day(d, "birth_date"))
        if r.kind not in _COMMANDS:
            report.rejected.append(Rejected(r.row, r.kind, r.ref, f"unknown record kind {r.kind!r}"))
            continue
        plan.append((when, order[r.kind], r, _COMMANDS[r.kind](d)))
        if r.kind == "placement" and d.get("ended_on"):
            ended = _day(d, "ended_on")
            plan.append((ended + timedelta(days=1), len(order), r, _placement_ended(d, ended)))
    return plan


def _dated(records: list[_Record], report: ImportReport) -> list[tuple[_Record, date | None]]:
    """Each record with the day it was recorded in the old system (None: the start of the history);
    the records that cannot be dated are rejected."""
    dated = []
    for r in records:
        if "_invalid" in r.data:
            report.rejected.append(Rejected(r.row, r.kind, "", "a record must be an object"))
            continue
        try:
            if r.kind == "child":
                _day(r.data, "birth_date")
            dated.append((r, _record_day(r)))
        except (ValueError, KeyError) as e:
            report.rejected.append(Rejected(r.row, r.kind, r.ref, _why(e)))
    return dated


def _rule_set(d: dict[str, Any]) -> Build:
    return lambda ids: c.ActivateRuleSet(rule_set_id=d["id"], effective_from=_day(d, "effective_from"))


def _institution(d: dict[str, Any]) -> Build:
    return lambda ids: c.RegisterInstitution(
        name=d["name"], district=d["district"], kind=d["kind"], ownership=d.get("ownership", "kommunal"),
        municipality_code=d.get("municipality_code", "101"))


def _capacity(d: dict[str, Any]) -> Build:
    return lambda ids: c.ChangeCapacity(
        institution_id=_ref(ids, "institution", d["institution"]), age_group=d["age_group"],
        pool=d.get("pool", "general"), seats=int(d["seats"]), effective_from=_day(d, "effective_from"))


def _cluster(d: dict[str, Any]) -> Build:
    return lambda ids: c.AssignCluster(
        institution_id=_ref(ids, "institution", d["institution"]), cluster=d.get("cluster"),
        effective_from=_day(d, "effective_from"), reason=d.get("reason"))


def _household(d: dict[str, Any]) -> Build:
    return lambda ids: c.RegisterHousehold(
        district=d["district"], single_parent=bool(d.get("single_parent", False)),
        children_under_18=int(d.get("children_under_18", 1)), municipality_code=d.get("municipality_code", "101"))


def _income(d: dict[str, Any]) -> Build:
    return lambda ids: c.DeclareIncome(
        household_id=_ref(ids, "household", d["household"]), annual_income_ore=int(d["annual_income_ore"]),
        effective_from=_day(d, "effective_from"))


def _child(d: dict[str, Any]) -> Build:
    return lambda ids: c.RegisterChild(
        household_id=_ref(ids, "household", d["household"]), birth_date=_day(d, "birth_date"),
        support_needs=list(d.get("support_needs", [])))


def _registration(d: dict[str, Any]) -> Build:
    return lambda ids: c.Register(
        child_id=_ref(ids, "child", d["child"]), age_group=d["age_group"],
        wishes=[_ref(ids, "institution", w) for w in d["wishes"]], need_date=_day(d, "need_date"),
        newcomer=bool(d.get("newcomer", False)))


def _placement(d: dict[str, Any]) -> Build:
    return lambda ids: c.BookPlace(
        child_id=_ref(ids, "child", d["child"]), institution_id=_ref(ids, "institution", d["institution"]),
        start_date=_day(d, "start_date"), pool=d.get("pool", "general"), lunch=bool(d.get("lunch", True)))


def _placement_ended(d: dict[str, Any], ended: date) -> Build:
    return lambda ids: c.CancelBooking(
        booking_id=_ref(ids, "placement", d["ref"]), effective_date=ended + timedelta(days=1),
        reason=d.get("end_reason") or "ended in the old system")


# One builder per record kind (docs/import.md); a placement that ended adds its cancellation.
_COMMANDS: dict[str, Callable[[dict[str, Any]], Build]] = {
    "rule_set": _rule_set, "institution": _institution, "capacity": _capacity, "cluster": _cluster,
    "household": _household, "income": _income, "child": _child, "registration": _registration,
    "placement": _placement,
}


def _record_day(r: _Record) -> date | None:
    d = r.data
    if "recorded_on" in d:
        return _day(d, "recorded_on")
    if r.kind == "registration":
        return _day(d, "registered_on")
    if r.kind == "placement":
        return _day(d, "decided_on") if "decided_on" in d else _day(d, "start_date")
    if r.kind == "rule_set":
        return _day(d, "effective_from")
    if r.kind == "child":
        return None  # with the start of the history (a birth date may lie before it)
    if r.kind in ("capacity", "cluster", "income"):
        return None
    return None
