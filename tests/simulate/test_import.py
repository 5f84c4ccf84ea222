"""History import: a known file round-trips into the ledger; a broken one writes nothing."""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest

from ledger import Ledger
from replay.importer import ImportFailed, import_history

DATA = Path(__file__).parent / "data"
HISTORY = DATA / "history.json"


def _facts(ledger: Ledger) -> dict[str, list]:
    """The ledger's facts in the file's terms (ledger ids in place of the file's refs)."""
    out: dict[str, list] = {k: [] for k in ("institutions", "capacities", "households", "incomes", "children",
                                            "registrations", "placements", "cancellations", "rule_sets")}
    position = 0
    while notes := ledger.recorder.select_notifications(position + 1, 1_000):
        for n in notes:
            e = ledger.mapper.to_domain_event(n)
            kind, oid = n.topic.rsplit(".", 1)[1], str(e.originator_id)
            if kind == "InstitutionRegistered":
                out["institutions"].append((oid, e.name, e.district, e.kind, e.ownership))
            elif kind == "CapacityChanged":
                out["capacities"].append((oid, e.age_group, e.pool, e.seats, e.effective_from))
            elif kind == "HouseholdRegistered":
                out["households"].append((oid, e.district, e.single_parent, e.children_under_18, e.municipality_code))
            elif kind == "IncomeDeclared":
                out["incomes"].append((oid, e.annual_income_ore, e.effective_from))
            elif kind == "ChildRegistered":
                out["children"].append((oid, e.household_id, e.birth_date, e.support_needs))
            elif kind == "Opskrevet":
                out["registrations"].append((oid, e.age_group, e.wishes, e.need_date, e.registered_on))
            elif kind == "PlaceBooked":
                out["placements"].append((oid, e.child_id, e.institution_id, e.start_date, e.pool, e.lunch))
            elif kind == "BookingCancelled":
                out["cancellations"].append((oid, e.effective_date, e.meta["reason"]))
            elif kind == "RuleSetActivated":
                out["rule_sets"].append((e.rule_set_id, e.effective_from))
            meta = getattr(e, "meta", None)
            if meta is not None:
                assert meta["channel"] == "import"
        position = notes[-1].id
    return out


def test_a_known_history_file_round_trips(store):
    doc = json.loads(HISTORY.read_text(encoding="utf-8"))
    with store.ledger(date(2020, 1, 1)) as ledger:
        report = import_history(ledger, HISTORY)
        assert report.ok and report.records == 22
        assert report.imported == {"ActivateRuleSet": 1, "RegisterInstitution": 2, "ChangeCapacity": 4,
                                   "RegisterHousehold": 3, "DeclareIncome": 3, "RegisterChild": 4, "Register": 1,
                                   "BookPlace": 4, "CancelBooking": 1}
        facts = _facts(ledger)
    ids = report.ids

    def d(text):
        return date.fromisoformat(text)

    assert facts["rule_sets"] == [(doc["rule_set"]["id"], d(doc["rule_set"]["effective_from"]))]
    assert sorted(facts["institutions"]) == sorted(
        (ids[f"institution:{i['ref']}"], i["name"], i["district"], i["kind"], i.get("ownership", "kommunal"))
        for i in doc["institutions"])
    assert sorted(facts["capacities"]) == sorted(
        (ids[f"institution:{c['institution']}"], c["age_group"], c.get("pool", "general"), c["seats"],
         d(c["effective_from"])) for c in doc["capacities"])
    assert sorted(facts["households"]) == sorted(
        (ids[f"household:{h['ref']}"], h["district"], h.get("single_parent", False), h.get("children_under_18", 1),
         h.get("municipality_code", "101")) for h in doc["households"])
    assert sorted(facts["incomes"]) == sorted(
        (ids[f"household:{i['household']}"], i["annual_income_ore"], d(i["effective_from"])) for i in doc["incomes"])
    assert sorted(facts["children"]) == sorted(
        (ids[f"child:{c['ref']}"], ids[f"household:{c['household']}"], d(c["birth_date"]), c.get("support_needs", []))
        for c in doc["children"])
    assert sorted(facts["placements"]) == sorted(
        (ids[f"placement:{p['ref']}"], ids[f"child:{p['child']}"], ids[f"institution:{p['institution']}"],
         d(p["start_date"]), p.get("pool", "general"), p.get("lunch", True)) for p in doc["placements"])
    assert facts["cancellations"] == [(ids["placement:P3"], date(2024, 9, 1), "moved to Aarhus")]
    # The registration keeps its day and wishes; bookings without one record theirs with them.
    reg = doc["registrations"][0]
    assert (ids["child:C4"], "nursery", [ids["institution:MAE"], ids["institution:SOL"]], d(reg["need_date"]),
            d(reg["registered_on"])) in facts["registrations"]


def test_the_same_history_as_csv_imports_the_same_facts(store, tmp_path):
    doc = json.loads(HISTORY.read_text(encoding="utf-8"))
    columns = ["record", "ref", "id", "name", "district", "kind", "ownership", "municipality_code", "institution",
               "age_group", "pool", "seats", "effective_from", "household", "single_parent", "children_under_18",
               "annual_income_ore", "child", "birth_date", "support_needs", "wishes", "need_date", "registered_on",
               "start_date", "lunch", "decided_on", "ended_on", "end_reason"]
    rows = [{"record": "rule_set", **doc["rule_set"]}]
    for section, kind in (("institutions", "institution"), ("capacities", "capacity"), ("households", "household"),
                          ("incomes", "income"), ("children", "child"), ("registrations", "registration"),
                          ("placements", "placement")):
        for item in doc[section]:
            rows.append({"record": kind, **{k: ";".join(v) if isinstance(v, list) else v for k, v in item.items()}})
    import csv

    path = tmp_path / "history.csv"
    with path.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, columns)
        w.writeheader()
        w.writerows(rows)
    with store.ledger(date(2020, 1, 1)) as a, store.ledger(date(2020, 1, 1), url=store.new_url()) as b:
        ra, rb = import_history(a, HISTORY), import_history(b, path)
        assert ra.imported == rb.imported

        def renamed(ledger, ids):
            back = {v: k for k, v in ids.items()}

            def name(x):
                return [name(y) for y in x] if isinstance(x, (list, tuple)) else back.get(x, x)

            return {k: sorted(json.dumps(name(row), default=str) for row in v) for k, v in _facts(ledger).items()}

        assert renamed(a, ra.ids) == renamed(b, rb.ids)


def _broken(tmp_path) -> Path:
    doc = json.loads(HISTORY.read_text(encoding="utf-8"))
    doc["placements"].append({"ref": "P5", "child": "C9", "institution": "SOL", "start_date": "2024-05-01"})
    doc["placements"].append({"ref": "P6", "child": "C2", "institution": "SOL", "start_date": "2024-06-01"})
    doc["children"][0]["birth_date"] = "2021-02-30"
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    return path


def test_a_broken_file_is_rejected_with_its_rows_and_nothing_is_written(store, tmp_path):
    with store.ledger(date(2020, 1, 1)) as ledger:
        with pytest.raises(ImportFailed) as caught:
            import_history(ledger, _broken(tmp_path))
        assert ledger.max_position() == 0
        rejected = caught.value.report.rejected
        assert [(r.kind, r.ref) for r in rejected] == [("child", "C1")]
        assert "birth_date" in rejected[0].reason

        # With every row well-formed, the ledger's own rules refuse the rest: still nothing written.
        doc = json.loads(_broken(tmp_path).read_text(encoding="utf-8"))
        doc["children"][0]["birth_date"] = "2021-05-10"
        path = tmp_path / "broken2.json"
        path.write_text(json.dumps(doc), encoding="utf-8")
        with pytest.raises(ImportFailed) as caught:
            import_history(ledger, path)
        assert ledger.max_position() == 0
        reasons = {r.ref: r.reason for r in caught.value.report.rejected}
        assert set(reasons) == {"P5", "P6"}
        assert "C9" in reasons["P5"]  # an unknown child
        assert "already holds booking" in reasons["P6"]  # a second booking for the same days

        # And the good file still imports afterwards.
        assert import_history(ledger, HISTORY).ok


@pytest.mark.parametrize("content, message", [
    ("not json", "not valid JSON"),
    ('{"format": "something-else", "version": 1}', "not a history file"),
    ('{"format": "plads-history", "version": 1, "pets": []}', "unknown sections pets"),
])
def test_files_that_are_not_histories_are_refused(tmp_path, content, message):
    path = tmp_path / "x.json"
    path.write_text(content, encoding="utf-8")
    with Ledger(f"sqlite:///{tmp_path / 'l.db'}") as ledger:
        with pytest.raises(ImportFailed, match=message):
            import_history(ledger, path)
        assert ledger.max_position() == 0


CLUSTERED = {
    "format": "plads-history", "version": 1,
    "rule_set": {"id": "copenhagen-book-en-plads@1", "effective_from": "2024-01-01"},
    "institutions": [{"ref": "SOL", "name": "Solsikken", "district": "Nørrebro", "kind": "integreret"},
                     {"ref": "MAE", "name": "Mælkebøtten", "district": "Nørrebro", "kind": "vuggestue"}],
    "capacities": [{"institution": "MAE", "age_group": "nursery", "seats": 5, "effective_from": "2024-01-01"}],
    "clusters": [{"institution": "SOL", "cluster": "Nørrebro Klynge 1", "effective_from": "2024-01-01"},
                 {"institution": "MAE", "cluster": "Nørrebro Klynge 1", "effective_from": "2024-01-01"},
                 {"institution": "MAE", "cluster": "Nørrebro Klynge 2", "effective_from": "2024-08-01",
                  "reason": "the clusters of Nørrebro were redrawn"}],
}


def _clusters(ledger, ids):
    from ledger.aggregates import Institution

    return {ref: ledger.get(Institution, ids[f"institution:{ref}"]).clusters for ref in ("SOL", "MAE")}


def test_clusters_are_imported_as_effective_dated_facts_from_json_and_csv(store, tmp_path):
    import csv

    path = tmp_path / "clustered.json"
    path.write_text(json.dumps(CLUSTERED), encoding="utf-8")
    rows = [{"record": "rule_set", **CLUSTERED["rule_set"]}]
    for section, kind in (("institutions", "institution"), ("capacities", "capacity"), ("clusters", "cluster")):
        rows += [{"record": kind, **item} for item in CLUSTERED[section]]
    as_csv = tmp_path / "clustered.csv"
    with as_csv.open("w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, ["record", "ref", "id", "name", "district", "kind", "institution", "age_group", "seats",
                               "cluster", "effective_from", "reason"])
        w.writeheader()
        w.writerows(rows)
    want = {"SOL": [[date(2024, 1, 1), "Nørrebro Klynge 1"]],
            "MAE": [[date(2024, 1, 1), "Nørrebro Klynge 1"], [date(2024, 8, 1), "Nørrebro Klynge 2"]]}
    with store.ledger(date(2020, 1, 1)) as a, store.ledger(date(2020, 1, 1), url=store.new_url()) as b:
        ra, rb = import_history(a, path), import_history(b, as_csv)
        assert ra.imported["AssignCluster"] == rb.imported["AssignCluster"] == 3
        assert _clusters(a, ra.ids) == _clusters(b, rb.ids) == want
        for n in a.recorder.select_notifications(1, 100):
            if n.topic.endswith(".ClusterAssigned"):
                assert a.mapper.to_domain_event(n).meta["channel"] == "import"


@pytest.mark.parametrize("record, why", [
    ({"institution": "SOL", "cluster": "Nord, Syd", "effective_from": "2024-01-01"}, "invalid cluster"),
    ({"institution": "XYZ", "cluster": "Nørrebro Klynge 1", "effective_from": "2024-01-01"}, "XYZ"),
    ({"institution": "SOL", "cluster": "Nørrebro Klynge 1"}, "effective_from"),
])
def test_a_bad_cluster_record_is_rejected_by_row_and_nothing_is_written(store, tmp_path, record, why):
    doc = {**CLUSTERED, "clusters": CLUSTERED["clusters"] + [record]}
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc), encoding="utf-8")
    with store.ledger(date(2020, 1, 1)) as ledger:
        with pytest.raises(ImportFailed) as caught:
            import_history(ledger, path)
        assert ledger.max_position() == 0
        [rejected] = caught.value.report.rejected
        assert (rejected.row, rejected.kind) == (8, "cluster") and why in rejected.reason
