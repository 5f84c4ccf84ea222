"""Invariant 6 end to end: no identifier in events, snapshots, views, exports or logs; an
erasure makes a person's identifiers unrecoverable while the totals stay the same."""

from __future__ import annotations

import logging
from datetime import date

from ledger import commands as c
from projections import Projector, all_views, rebuild
from projections.billing import BUDGET, STATEMENTS
from projections.export import export_table, exportable

D = date
SECRETS = {
    "child_cpr": "150324-1234", "child_name": "Freja Hemmeligsen", "child_address": "Løngangsstræde 21",
    "payer_cpr": "010180-1111", "payer_name": "Ole Hemmeligsen", "payer_address": "Løngangsstræde 21, 1468",
}
HOME = {"lat": 55.675812, "lon": 12.569214}


def _tables(ledger) -> dict[str, list[tuple]]:
    """Every row of every table in the ledger's database (events, snapshots, registry, views)."""
    cfg = ledger.store
    out = {}
    if cfg.kind == "sqlite":
        import sqlite3

        with sqlite3.connect(cfg.sqlite_path) as conn:
            names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
            for t in names:
                out[t] = list(conn.execute(f'SELECT * FROM "{t}"'))
    else:
        import psycopg

        with psycopg.connect(cfg.postgres_conninfo) as conn:
            names = [r[0] for r in conn.execute(
                "SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (cfg.schema,))]
            for t in names:
                out[t] = list(conn.execute(f'SELECT * FROM "{cfg.schema}"."{t}"'))
    return out


def _raw_rows(ledger) -> bytes:
    return b"\n".join(repr(row).encode() for rows in _tables(ledger).values() for row in rows)


def _on_disk(ledger) -> bytes:
    """The SQLite file itself (with its journal): what a stolen disk would show."""
    import glob

    return b"".join(open(p, "rb").read() for p in glob.glob(ledger.store.sqlite_path + "*"))


def _views_and_exports(ledger, tmp_path) -> tuple[bytes, dict]:
    projector = Projector(ledger, all_views())
    projector.catch_up()
    blob = []
    budget = sorted(tuple(sorted(r.items())) for r in projector.store.load(BUDGET))
    statements = sorted((r["month"], r["total_ore"]) for r in projector.store.load(STATEMENTS))
    for name, table in exportable(all_views()).items():
        for fmt in ("csv", "parquet"):
            path = tmp_path / f"{name}.{fmt}"
            export_table(projector.store, table, fmt, path)
            blob.append(path.read_bytes())
    for view in all_views():
        for table in view.tables:
            blob.extend(repr(r).encode() for r in projector.store.load(table))
    projector.close()
    return b"\n".join(blob), {"budget": budget, "statements": statements}


def _found(blob: bytes) -> list[str]:
    text = blob.decode("utf-8", "replace")
    hits = [k for k, v in SECRETS.items() if v in text or v.encode() in blob]
    if str(HOME["lat"]) in text or str(HOME["lon"]) in text:
        hits.append("home coordinates")
    return hits


def test_identifiers_stay_in_the_registry_and_erasure_removes_them(city, tmp_path, caplog):
    caplog.set_level(logging.DEBUG)
    inst = city.institution(kind="integreret")
    hh = city.run(c.RegisterHousehold(district="Indre By", location=HOME, payer={
        "cpr": SECRETS["payer_cpr"], "name": SECRETS["payer_name"], "address": SECRETS["payer_address"]}))["id"]
    city.run(c.DeclareIncome(household_id=hh, annual_income_ore=350_000_00, effective_from=D(2025, 1, 1)))
    child = city.run(c.RegisterChild(household_id=hh, birth_date=D(2024, 3, 15), identifiers={
        "cpr": SECRETS["child_cpr"], "name": SECRETS["child_name"], "address": SECRETS["child_address"]}))["id"]
    city.run(c.Register(child_id=child, age_group="nursery", wishes=[inst], need_date=D(2025, 3, 1)))
    booking = city.book(child, inst, D(2025, 3, 1))
    city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2025, 8, 1), reason="the family moved"))
    city.ledger.clock.set(D(2025, 9, 2))  # months March to July are then billable
    city.household()

    registry = city.ledger.registry
    assert registry.get(child)["cpr"] == SECRETS["child_cpr"]
    views, before = _views_and_exports(city.ledger, tmp_path)
    assert _found(_raw_rows(city.ledger)) == []  # encrypted per person, coordinates coarse
    assert _found(views) == []
    assert _found("\n".join(r.getMessage() for r in caplog.records).encode()) == []

    tables = _tables(city.ledger)
    key = registry.keys.get(child)  # in the key store, outside the events database
    assert "plads_person_keys" not in tables
    record = bytes([r for r in tables["plads_persons"] if r[0] == child][0][1])
    city.run(c.ErasePerson(person_id=child, reason="GDPR art. 17"))
    city.run(c.ErasePerson(person_id=hh, reason="GDPR art. 17"))
    assert registry.get(child) is None and registry.get(hh) is None
    # Neither the encrypted record nor its key is left in any table (nor, on SQLite, in the file).
    raw = _raw_rows(city.ledger)
    assert key.encode() not in raw and repr(record).encode() not in raw
    if city.ledger.store.kind == "sqlite":
        disk = _on_disk(city.ledger)
        assert key.encode() not in disk and record not in disk
    # Totals stay: the live views and a rebuild from the log give the same budget and statements.
    views_after, after = _views_and_exports(city.ledger, tmp_path)
    assert after == before and before["statements"] and before["budget"]
    rebuild(city.ledger, all_views())
    _, rebuilt = _views_and_exports(city.ledger, tmp_path)
    assert rebuilt == before
