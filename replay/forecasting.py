"""`plads forecast`: the forecast as JSON, as the cluster leader's page, or its backtest.

Everything a user can get wrong ends as a ForecastError with one readable line (the CLI prints it).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Mapping

from ledger import Ledger
from projections.outlook import ForecastError, ForecastRow, Outlook, parse_births, read_history
from projections.outlook.backtest import backtest, format_table
from projections.outlook.clusters import cluster_map
from projections.outlook.model import month_index, month_of
from replay import forecast_page


@dataclass(frozen=True, slots=True)
class Request:
    as_of: date | datetime
    from_month: str | None
    months: int
    by: str
    key: str | None = None
    births: str | None = None  # a CSV file


def _day(when: date | datetime) -> date:
    return when.date() if isinstance(when, datetime) else when


def read_births(path: str | None) -> dict | None:
    if path is None:
        return None
    try:
        return parse_births(Path(path).read_text(encoding="utf-8"))
    except OSError as e:
        raise ForecastError(f"cannot read the births file: {e.strerror}: {path}") from None
    except UnicodeDecodeError:
        raise ForecastError(f"the births file is not UTF-8 text: {path}") from None


def run(ledger: Ledger, req: Request) -> tuple[Outlook, list[ForecastRow], Mapping[str, str]]:
    """The outlook learned at as_of and the rows asked for."""
    try:
        first = month_of(req.from_month) if req.from_month else month_index(_day(req.as_of)) + 1
    except ValueError:
        raise ForecastError(f"--from {req.from_month!r} is not a month (YYYY-MM)") from None
    births = read_births(req.births)
    history = read_history(ledger, req.as_of)
    if history.first_recorded is None:
        raise ForecastError(f"nothing was recorded by {req.as_of}: there is no history to forecast from")
    outlook = Outlook.learn(history, births=births)
    clusters = cluster_map(history, _day(req.as_of))
    return outlook, outlook.rows(req.by, first, req.months, clusters, key=req.key), clusters


def write_json(path: str, rows: list[ForecastRow] | dict) -> None:
    body = rows if isinstance(rows, dict) else [r.as_json() for r in rows]
    _write(path, json.dumps(body, indent=2, ensure_ascii=False) + "\n")


def write_html(path: str, outlook: Outlook, req: Request, rows: list[ForecastRow],
               clusters: Mapping[str, str]) -> None:
    """The page of every institution in the asked units."""
    units = {r.unit for r in rows}
    unit_of = outlook.unit_of(req.by, clusters)
    first = month_of(rows[0].month) if rows else month_index(_day(req.as_of)) + 1
    per_inst = outlook.rows("institution", first, req.months)
    names = outlook.history.names
    institutions: dict[str, tuple[str, list[ForecastRow]]] = {}
    for r in per_inst:
        if unit_of(r.unit) in units:
            institutions.setdefault(r.unit, (names.get(r.unit, r.unit), []))[1].append(r)
    title = f"Children in care ahead: {req.key or 'every ' + req.by}"
    meta = (f"Forecast as the ledger knew it at {req.as_of}, {req.months} months from {rows[0].month if rows else '-'}: "
            "children in care = average seats in use over the month (all pools); the band is the 80 % interval. "
            f"Over capacity: the forecast exceeds the seats; under: below {forecast_page.UNDER:.0%} of them.")
    _write(path, forecast_page.render(title, meta, institutions, rows))


def run_backtest(ledger: Ledger, as_of: date | datetime) -> tuple[dict, str]:
    """The backtest over the ledger's history up to as_of, and its text tables."""
    history = read_history(ledger, as_of)
    clusters = cluster_map(history, _day(as_of))
    levels = ["district", "institution"] + (["cluster"] if clusters else [])
    result = backtest(history, levels=levels, clusters=clusters)
    text = format_table(result)
    if not clusters:
        result["cluster"] = "not measured: no clusters are known in this ledger"
        text += "\n\ncluster: not measured — no clusters are known in this ledger"
    return result, text


def _write(path: str, text: str) -> None:
    try:
        Path(path).write_text(text, encoding="utf-8")
    except OSError as e:
        raise ForecastError(f"cannot write {path}: {e.strerror}") from None
