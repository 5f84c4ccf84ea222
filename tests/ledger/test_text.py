"""The free-text type of the commands: NFC, one line of printable characters, no CPR number in
any spelling; the same through `plads import`, and an idempotency key kept only as a digest."""

from __future__ import annotations

import json
import unicodedata
import uuid
from datetime import date

import pytest
from pydantic import ValidationError

from ledger import commands as c
from ledger.aggregates import CommandReceipt

BOOKING = uuid.UUID("6f1c2a3e-9b7d-4c11-8e0a-2d5b7c9e1f40")

REFUSED = {
    "NUL": "moved\x00", "C0": "a\x01b", "escape": "a\x1b[31mred", "tab": "a\tb", "line feed": "first\nsecond",
    "carriage return": "a\rb", "DEL": "a\x7fb", "C1 NEL": "a\x85b", "C1 CSI": "a\x9bb",
    "line separator": "a\u2028b", "paragraph separator": "a\u2029b",
    "lone high surrogate": "a\ud800b", "lone low surrogate": "a\udc00b",
    "right-to-left override": "a\u202eb", "left-to-right embedding": "a\u202ab", "first strong isolate": "a\u2068b",
    "pop directional isolate": "a\u2069b",
    "CPR": "010203-1234", "CPR en dash": "010203\u20131234", "CPR em dash": "010203\u20141234",
    "CPR space": "mother 010203 1234", "CPR dots": "01.02.03-1234", "CPR no separator": "see 0102031234",
    "CPR full-width": "\uff10\uff11\uff10\uff12\uff10\uff13-\uff11\uff12\uff13\uff14",
    "CPR full-width hyphen": "010203\uff0d1234", "CPR zero-width space": "0102\u200b031234",
    "CPR zero-width joiner": "010203\u200d1234", "CPR soft hyphen": "010203\u00ad1234",
    "CPR pairs": "01 02 03 12 34", "CPR minus sign": "010203\u22121234", "CPR spaced dash": "150324 - 1234",
    "CPR Arabic-Indic digits": "\u0660\u0661\u0660\u0662\u0660\u0663-\u0661\u0662\u0663\u0664",
    "CPR replacement number": "610203-1234",
}

ACCEPTED = ["the family moved to Aarhus", "Æblehaven, Østerbro", "Ærø Ø Å", "Zoë's sister 🙂", "مرحبا",
            "closed 01.02.2025, 03.04.2025", "from 01.02.2025 10:30", "phone +45 12 34 56 78",
            "invoice 2025-000123", "case 12345678901", "a\u200db"]


def _cancel(reason: str) -> c.CancelBooking:
    return c.CancelBooking(booking_id=BOOKING, effective_date=date(2025, 3, 1), reason=reason)


@pytest.mark.parametrize("text", REFUSED.values(), ids=REFUSED.keys())
def test_free_text_refuses_control_surrogate_bidi_characters_and_cpr_numbers(text):
    with pytest.raises(ValidationError) as refused:
        _cancel(text)
    assert [e["loc"] for e in refused.value.errors()] == [("reason",)]


@pytest.mark.parametrize("text", ACCEPTED)
def test_free_text_keeps_ordinary_text(text):
    assert _cancel(text).reason == text


def test_free_text_is_normalised_to_nfc_and_trimmed():
    decomposed = "  Cafe\u0301 Ma\u030alo\u0308v  "
    assert _cancel(decomposed).reason == unicodedata.normalize("NFC", decomposed.strip()) == "Café Målöv"


@pytest.mark.parametrize("build", [
    lambda t: c.RegisterInstitution(name=t, district="Valby", kind="integreret"),
    lambda t: c.RegisterInstitution(name="A", district=t, kind="integreret"),
    lambda t: c.RegisterHousehold(district=t),
    lambda t: c.RegisterHousehold(district="Valby", payer={"name": t}),
    lambda t: c.RegisterHousehold(district="Valby", payer={"address": t}),
    lambda t: c.RegisterChild(household_id=BOOKING, birth_date=date(2024, 1, 1), support_needs=["ok", t]),
    lambda t: c.RegisterChild(household_id=BOOKING, birth_date=date(2024, 1, 1), district=t),
    lambda t: c.ActivateRuleSet(rule_set_id="copenhagen-base@1", effective_from=date(2025, 1, 1), reason=t),
    lambda t: c.ErasePerson(person_id=BOOKING, reason=t),
    lambda t: c.StatementLine(kind=t, amount_ore=1),
], ids=["institution name", "institution district", "household district", "payer name", "payer address",
        "support need", "child district", "activation reason", "erasure reason", "statement line kind"])
@pytest.mark.parametrize("text", ["a\x00b", "010203\u20131234", "a\u202eb"], ids=["NUL", "CPR", "bidi"])
def test_every_text_field_of_the_commands_is_free_text(build, text):
    with pytest.raises(ValidationError):
        build(text)


@pytest.mark.parametrize("rule_set_id", ["copenhagen-base@1\x00", "Copenhagen@1", "a b@1", "010203-1234@1", "x" * 101])
def test_rule_set_ids_follow_their_pattern(rule_set_id):
    with pytest.raises(ValidationError):
        c.ActivateRuleSet(rule_set_id=rule_set_id, effective_from=date(2025, 1, 1))


def test_plads_import_refuses_hostile_text_naming_the_record_and_field(store, tmp_path):
    from replay.importer import ImportFailed, import_history

    history = {"format": "plads-history", "version": 1,
               "institutions": [{"ref": "i1", "name": "Solsikken", "district": "Valby", "kind": "integreret",
                                 "recorded_on": "2024-01-02"},
                                {"ref": "i2", "name": "A\u0000B", "district": "Valby", "kind": "integreret",
                                 "recorded_on": "2024-01-02"}],
               "households": [{"ref": "h1", "district": "Valby", "recorded_on": "2024-01-02"},
                              {"ref": "h2", "district": "Valby\u202e", "recorded_on": "2024-01-02"}],
               "children": [{"ref": "c1", "household": "h1", "birth_date": "2023-05-01",
                             "support_needs": ["mother 010203\u20131234"]}]}
    path = tmp_path / "history.json"
    path.write_text(json.dumps(history), encoding="utf-8")
    ledger = store.ledger(date(2024, 1, 1))
    try:
        with pytest.raises(ImportFailed) as failed:
            import_history(ledger, path)
        reasons = {(r.row, r.reason.split(":")[0]) for r in failed.value.report.rejected}
        assert reasons == {(2, "invalid name"), (4, "invalid district"), (5, "invalid support_needs.0")}
        assert ledger.max_position() == 0  # nothing imported
    finally:
        ledger.close()


def test_an_idempotency_key_is_kept_only_as_a_digest(city):
    key = "my-retry-key-6c1d"
    hh = city.run(c.RegisterHousehold(district="Valby"), key=key)["id"]
    again = city.ledger.execute(c.RegisterHousehold(district="Valby"), actor="anna", channel="caseworker",
                                idempotency_key=key)
    assert again.replayed and again.result["id"] == hh
    receipts = [n for n in city.ledger.recorder.select_notifications(1, 1000) if n.topic.endswith("CommandAccepted")]
    assert len(receipts) == 1
    stored = city.ledger.mapper.to_domain_event(receipts[0])
    assert key not in json.dumps(vars(stored), default=str)
    assert isinstance(city.ledger.repository.get(stored.originator_id), CommandReceipt)


def test_a_receipt_kept_under_the_raw_key_before_keys_were_digested_still_answers_a_retry(city):
    from ledger.dispatch import hash_request

    command = c.RegisterHousehold(district="Valby")
    first = city.ledger.execute(command, actor="anna", channel="caseworker")
    # As receipts were kept before: the key itself in the event, the receipt's id derived from it.
    old = CommandReceipt(key="old-key-1", command="RegisterHousehold",
                         request_hash=hash_request(command, "anna", "caseworker"), outcome=first.result,
                         meta={"actor": "anna", "channel": "caseworker", "reason": None, "rule_set": None,
                               "effective_date": date(2025, 1, 6)})
    city.ledger.save(old)
    again = city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="old-key-1")
    assert again.replayed and again.result == first.result
