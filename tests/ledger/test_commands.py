"""The write path, scenario by scenario, on SQLite and PostgreSQL."""

from datetime import date

import pytest
from pydantic import ValidationError

from ledger import (
    AlreadyIssued,
    ChildAlreadyBooked,
    Conflict,
    IdempotencyKeyReused,
    InvalidCommand,
    NoRuleSetInForce,
    NoSeat,
    NotFound,
)
from ledger import commands as c
from ledger.aggregates import Booking, Child, Household, Institution

D = date
BIRTH = D(2024, 3, 15)  # 26 weeks on 2024-09-13; 2 y 10 m on 2027-01-15; school 2030-08-01


def event_names(ledger):
    return [n.topic.rsplit(".", 1)[-1] for n in ledger.recorder.select_notifications(1, 100_000)]


def test_a_booking_runs_to_the_end_of_the_age_band(city):
    vuggestue = city.institution(kind="vuggestue", kindergarten=None)
    integrated = city.institution(kind="integreret")
    a = city.child(city.household())
    b = city.child(city.household())
    nursery = city.book(a, vuggestue, D(2025, 2, 1))
    assert nursery["end_date"] == "2026-12-31"  # the month before the child turns 2 y 10 m
    whole = city.book(b, integrated, D(2025, 2, 1))
    assert whole["end_date"] == "2030-07-31"  # the day before school start
    booking = city.ledger.get(Booking, whole["id"])
    assert booking.age_group == "nursery"


def test_no_seat_is_refused_unless_a_caseworker_overrides_with_a_reason(city):
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None)
    first, second, third = (city.child(city.household()) for _ in range(3))
    city.book(first, inst, D(2025, 2, 1))
    with pytest.raises(NoSeat, match="no free nursery seat"):
        city.book(second, inst, D(2025, 3, 1))
    with pytest.raises(ValidationError, match="needs a reason"):
        c.BookPlace(child_id=second, institution_id=inst, start_date=D(2025, 3, 1), override=True)
    with pytest.raises(InvalidCommand, match="only a caseworker"):
        city.book(second, inst, D(2025, 3, 1), channel="system", override=True, reason="urgent")
    done = city.book(second, inst, D(2025, 3, 1), override=True, reason="child protection case")
    assert done["override"] is True
    assert "CapacityOverridden" in event_names(city.ledger)
    # The override is its own fact; it does not open the pool for others.
    with pytest.raises(NoSeat):
        city.book(third, inst, D(2025, 3, 1))


def test_a_seat_passes_from_one_child_to_the_next_mid_month(city):
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None)
    leaving, arriving = city.child(city.household()), city.child(city.household())
    booking = city.book(leaving, inst, D(2025, 2, 1))
    city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2025, 3, 15), reason="moved away"))
    with pytest.raises(NoSeat):
        city.book(arriving, inst, D(2025, 3, 14))
    assert city.book(arriving, inst, D(2025, 3, 15))["start_date"] == "2025-03-15"
    with pytest.raises(Conflict, match="already cancelled"):
        city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2025, 4, 1), reason="again"))


def test_a_child_holds_at_most_one_booking_on_any_day(city):
    a_inst, b_inst = city.institution(), city.institution(name="Mælkebøtten")
    child = city.child(city.household())
    first = city.book(child, a_inst, D(2025, 2, 1))
    with pytest.raises(ChildAlreadyBooked):
        city.book(child, b_inst, D(2026, 1, 1))
    city.run(c.CancelBooking(booking_id=first["id"], effective_date=D(2025, 6, 1), reason="moving"))
    assert city.book(child, b_inst, D(2025, 6, 1))["start_date"] == "2025-06-01"


def test_the_self_service_share_keeps_seats_for_caseworkers(city):
    inst = city.institution(kind="vuggestue", nursery=10, kindergarten=None)
    children = [city.child(city.household()) for _ in range(10)]
    for child in children[:8]:
        city.book(child, inst, D(2025, 9, 1), channel="self_service")
    # 20 % of 10 seats (2) are held for caseworkers: self-service is full at 8.
    with pytest.raises(NoSeat, match="self-service share"):
        city.book(children[8], inst, D(2025, 9, 1), channel="self_service")
    city.book(children[8], inst, D(2025, 9, 1), channel="caseworker")
    city.book(children[9], inst, D(2025, 9, 1), channel="caseworker")


def test_a_basis_institution_has_at_least_6_basis_seats_and_0_closes_the_pool(city):
    """Issue 23, seed 003 ('Model for basispladser'): at least 6 basis seats per basis institution,
    counted over its age groups; 0 closes the basis pool."""
    inst = city.institution(kind="integreret")  # general seats only

    def basis(group, seats, day=D(2025, 2, 1)):
        return city.run(c.ChangeCapacity(institution_id=inst, age_group=group, pool="basis", seats=seats,
                                         effective_from=day), channel="system")

    with pytest.raises(InvalidCommand, match="would have 2 basis seats from 2025-02-01; .* at least 6"):
        basis("nursery", 2)
    basis("nursery", 6)
    basis("kindergarten", 2)  # 8 in all
    with pytest.raises(InvalidCommand, match="would have 5 basis seats"):
        basis("nursery", 3, D(2025, 3, 1))
    with pytest.raises(InvalidCommand, match="would have 2 basis seats"):
        basis("nursery", 0, D(2025, 3, 1))  # the kindergarten's 2 would be left alone
    basis("kindergarten", 0, D(2025, 3, 1))
    basis("nursery", 0, D(2025, 3, 1))  # closed


def test_basis_and_special_seats_are_assigned_only_by_caseworkers(city):
    inst = city.institution(kind="integreret", pools=("general", "basis"))
    child = city.child(city.household())
    with pytest.raises(InvalidCommand, match="only by caseworkers"):
        city.book(child, inst, D(2025, 2, 1), channel="self_service", pool="basis")
    assert city.book(child, inst, D(2025, 2, 1), pool="basis")["pool"] == "basis"


def test_self_service_booking_is_not_offered_under_the_waiting_list(new_city):
    city = new_city("copenhagen-2025-waitinglist@1")
    inst = city.institution()
    child = city.child(city.household())
    with pytest.raises(Conflict, match="not offered"):
        city.book(child, inst, D(2025, 2, 1), channel="self_service")
    assert city.book(child, inst, D(2025, 2, 1))["id"]


def test_bookings_outside_the_age_band_are_refused(city):
    vuggestue = city.institution(kind="vuggestue", kindergarten=None)
    boernehave = city.institution(kind="boernehave", nursery=None)
    child = city.child(city.household())
    with pytest.raises(InvalidCommand):
        city.book(child, vuggestue, D(2024, 6, 1))  # before 26 weeks
    with pytest.raises(InvalidCommand):
        city.book(child, boernehave, D(2025, 6, 1))  # not yet kindergarten age
    with pytest.raises(InvalidCommand):
        city.book(child, vuggestue, D(2027, 2, 1))  # past the nursery age


def test_copenhagens_earliest_start_is_6_months_not_26_weeks(city):
    """Issue 23 (kk.dk): born 2026-03-15, the 26-week guarantee date is 2026-09-13 but Copenhagen
    starts a place at 6 months, 2026-09-15: a booking two days early is refused by name."""
    city.ledger.clock.set(D(2026, 5, 4))
    vuggestue = city.institution(kind="vuggestue", kindergarten=None)
    child = city.child(city.household(), birth=D(2026, 3, 15))
    with pytest.raises(InvalidCommand, match="2026-09-15 .6 months"):
        city.book(child, vuggestue, D(2026, 9, 13))
    booked = city.book(child, vuggestue, D(2026, 9, 15))
    assert (booked["start_date"], booked["end_date"]) == ("2026-09-15", "2028-12-31")  # to 2 y 10 m - 1 day


def test_a_booking_without_a_registration_records_the_registration(city):
    inst = city.institution()
    child = city.child(city.household())
    city.book(child, inst, D(2025, 2, 1))
    names = event_names(city.ledger)
    assert names.index("Opskrevet") < names.index("PlaceBooked")
    assert city.ledger.get(Child, child).registrations["nursery"]["wishes"] == [inst]


def test_registration_limits_wishes_and_gives_seniority_and_guarantee(city):
    insts = [city.institution(name=f"I{i}") for i in range(3)]
    child = city.child(city.household())
    with pytest.raises(InvalidCommand, match="at most 2 wishes"):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=insts, need_date=D(2025, 2, 1)))
    reg = city.run(c.Register(child_id=child, age_group="nursery", wishes=insts[:2], need_date=D(2025, 2, 1)))
    # Born 2024-03-15, registered on 2025-01-06 (the clock): nursery seniority counts from the
    # 4-month birthday (2024-07-15) or the registration day if later; the guarantee falls 3 months
    # after the registration (the need date, 2025-02-01, is earlier and past the 26 weeks).
    assert reg["seniority_date"] == "2025-01-06"
    assert reg["guarantee_date"] == "2025-04-06"
    with pytest.raises(Conflict, match="already registered"):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=insts[:1], need_date=D(2025, 2, 1)))
    changed = city.run(c.ChangeWishes(child_id=child, age_group="nursery", wishes=[insts[2]]))
    assert changed["wishes"] == [insts[2]]


def test_offers_are_accepted_into_bookings_or_declined(city):
    inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None)
    a, b = city.child(city.household()), city.child(city.household())
    for child in (a, b):
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[inst], need_date=D(2025, 3, 1)))
    offer = city.run(c.OfferPlace(child_id=a, institution_id=inst, age_group="nursery", start_date=D(2025, 3, 1),
                                  expires_on=D(2025, 1, 20), rank=1, priority_basis="seniority", seed=7),
                     channel="system")
    booked = city.run(c.AcceptOffer(child_id=a, offer_id=offer["id"]))
    assert booked["start_date"] == "2025-03-01"
    with pytest.raises(Conflict, match="already accepted"):
        city.run(c.AcceptOffer(child_id=a, offer_id=offer["id"]))
    second = city.run(c.OfferPlace(child_id=b, institution_id=inst, age_group="nursery", start_date=D(2025, 3, 1),
                                   expires_on=D(2025, 1, 20), rank=2, priority_basis="seniority"), channel="system")
    declined = city.run(c.DeclineOffer(child_id=b, offer_id=second["id"]))
    assert declined["need_date"] == "2025-05-01"  # declining may move the need date 2 months


def test_transfer_ends_one_booking_and_starts_another(city):
    a_inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="A")
    b_inst = city.institution(kind="vuggestue", nursery=1, kindergarten=None, name="B")
    child, other = city.child(city.household()), city.child(city.household())
    first = city.book(child, a_inst, D(2025, 2, 1))
    moved = city.run(c.TransferChild(booking_id=first["id"], institution_id=b_inst,
                                     effective_date=D(2025, 8, 1), reason="closer to home"))
    assert moved["start_date"] == "2025-08-01" and moved["from_booking_id"] == first["id"]
    assert city.ledger.get(Booking, first["id"]).end_date == D(2025, 7, 31)
    # The seat in A is free from the transfer date on, and B's only seat is taken.
    city.book(other, a_inst, D(2025, 8, 1))
    with pytest.raises(NoSeat):
        city.run(c.TransferChild(booking_id=moved["id"], institution_id=a_inst,
                                 effective_date=D(2025, 9, 1), reason="back"))
    # A refused transfer changes nothing.
    assert city.ledger.get(Booking, moved["id"]).status == "booked"


def test_income_gives_a_friplads_decision(city):
    hh = city.household()
    decision = city.run(c.DeclareIncome(household_id=hh, annual_income_ore=300_000_00, effective_from=D(2025, 3, 1)))
    # 2025 scale: 5 + floor((300,000 - 208,101) / 4,615) = 5 + 19 = 24 % (one child, not single).
    assert decision["pay_share_percent"] == 24
    low = city.run(c.DeclareIncome(household_id=hh, annual_income_ore=100_000_00, effective_from=D(2025, 6, 1)))
    assert low["pay_share_percent"] == 0
    household = city.ledger.get(Household, hh)
    assert household.pay_share_on(D(2025, 2, 1)) == 100
    assert household.pay_share_on(D(2025, 4, 1)) == decision["pay_share_percent"]
    assert household.pay_share_on(D(2025, 7, 1)) == 0
    names = event_names(city.ledger)
    assert names.count("IncomeDeclared") == 2 and names.count("FripladsDecided") == 2


def test_more_children_raise_the_limits(city):
    hh = city.household(children_under_18=1)
    before = city.run(c.DeclareIncome(household_id=hh, annual_income_ore=400_000_00, effective_from=D(2025, 1, 1)))
    after = city.run(c.ChangeHouseholdFacts(household_id=hh, effective_from=D(2025, 5, 1), children_under_18=3))
    assert after["pay_share_percent"] < before["pay_share_percent"]


def test_a_move_carries_the_new_home_and_other_changes_keep_it(city):
    hh = city.run(c.RegisterHousehold(district="Nørrebro", location={"lat": 55.6971, "lon": 12.5449}))["id"]
    assert city.ledger.get(Household, hh).location == {"lat": 55.7, "lon": 12.54}  # about a kilometre
    city.run(c.ChangeHouseholdFacts(household_id=hh, effective_from=D(2025, 5, 1), district="Valby",
                                    location={"lat": 55.6612, "lon": 12.5081}, reason="the family moved"))
    moved = city.ledger.get(Household, hh)
    assert (moved.district, moved.location) == ("Valby", {"lat": 55.66, "lon": 12.51})
    city.run(c.ChangeHouseholdFacts(household_id=hh, effective_from=D(2025, 6, 1), children_under_18=2))
    assert city.ledger.get(Household, hh).location == {"lat": 55.66, "lon": 12.51}


def test_statements_are_issued_once(city):
    hh = city.household()
    statement = c.HouseholdStatement(household_id=hh, total_ore=399_600, lines=[
        c.StatementLine(kind="fee", amount_ore=399_600)])
    issued = city.run(c.IssueStatements(month="2025-03", statements=[statement]))
    assert issued == {"month": "2025-03", "statements": 1, "total_ore": 399_600}
    with pytest.raises(AlreadyIssued):
        city.run(c.IssueStatements(month="2025-03", statements=[statement]))
    with pytest.raises(ValidationError, match="not the sum"):
        c.HouseholdStatement(household_id=hh, total_ore=1, lines=[c.StatementLine(kind="fee", amount_ore=2)])


def test_idempotent_retries_return_the_first_outcome(city):
    inst = city.institution(kind="vuggestue", nursery=5, kindergarten=None)
    child = city.child(city.household())
    command = c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 2, 1))
    first = city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="k-1")
    again = city.ledger.execute(command, actor="anna", channel="caseworker", idempotency_key="k-1")
    assert again.result == first.result and again.replayed and not first.replayed
    assert event_names(city.ledger).count("PlaceBooked") == 1
    other = c.BookPlace(child_id=child, institution_id=inst, start_date=D(2025, 3, 1))
    with pytest.raises(IdempotencyKeyReused):
        city.ledger.execute(other, actor="anna", channel="caseworker", idempotency_key="k-1")


def test_unknown_ids_and_missing_rule_sets_are_clear_errors(store):
    with store.ledger() as ledger:
        with pytest.raises(NoRuleSetInForce, match="activate one"):
            hh = ledger.execute(c.RegisterHousehold(district="Valby"), actor="a", channel="caseworker").result
            ledger.execute(c.DeclareIncome(household_id=hh["id"], annual_income_ore=1, effective_from=D(2025, 1, 1)),
                           actor="a", channel="caseworker")
        with pytest.raises(NotFound, match="no household"):
            ledger.execute(c.RegisterChild(household_id="6b7d2f0e-7d5e-4d1e-9b7a-0c1d2e3f4a5b",
                                           birth_date=D(2024, 1, 1)), actor="a", channel="caseworker")
        with pytest.raises(InvalidCommand, match="unknown channel"):
            ledger.execute(c.RegisterHousehold(district="Valby"), actor="a", channel="fax")
        with pytest.raises(InvalidCommand, match="rule set"):
            ledger.execute(c.ActivateRuleSet(rule_set_id="nowhere@9", effective_from=D(2025, 1, 1)),
                           actor="a", channel="system")


def test_every_event_records_actor_channel_rule_set_and_recorded_time(city):
    inst = city.institution()
    child = city.child(city.household())
    city.book(child, inst, D(2025, 2, 1))
    for n in city.ledger.recorder.select_notifications(1, 1000):
        event = city.ledger.mapper.to_domain_event(n)
        if type(event).__name__ == "Opened":
            continue
        meta = event.meta
        assert meta["actor"] and meta["channel"] in ("caseworker", "system")
        assert meta["rule_set"] == "copenhagen-book-en-plads@1"
        assert isinstance(meta["effective_date"], date)
        assert event.timestamp.date() == D(2025, 1, 6)  # the simulated clock's day
        assert event.timestamp.tzinfo is not None


def test_recorded_time_is_monotonic_in_log_order(city):
    inst = city.institution()
    for _ in range(3):
        city.book(city.child(city.household()), inst, D(2025, 2, 1))
    stamps = [city.ledger.mapper.to_domain_event(n).timestamp
              for n in city.ledger.recorder.select_notifications(1, 1000)]
    assert stamps == sorted(stamps)


def test_institutions_are_snapshotted_and_reload_the_same(city):
    inst = city.institution(kind="vuggestue", nursery=100, kindergarten=None)
    for i in range(60):
        city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=100 + i,
                                  effective_from=D(2025, 1, 1)))
    snapshots = list(city.ledger.snapshots.get(city.ledger.get(Institution, inst).id))
    assert snapshots, "no snapshot after 50 events"
    assert city.ledger.get(Institution, inst).schedule("nursery", "general") == [(D(2024, 1, 1), 100), (D(2025, 1, 1), 159)]


def test_the_bulk_path_validates_like_single_commands_and_saves_in_batches(city):
    ledger = city.ledger
    inst = city.institution(kind="vuggestue", nursery=2, kindergarten=None)
    with ledger.bulk(actor="import", channel="import", batch_size=3) as bulk:
        households = [bulk.execute(c.RegisterHousehold(district="Valby"))["id"] for _ in range(3)]
        kids = [bulk.execute(c.RegisterChild(household_id=h, birth_date=BIRTH))["id"] for h in households]
        results = [bulk.execute(c.BookPlace(child_id=k, institution_id=inst, start_date=D(2025, 2, 1)))
                   for k in kids]
    assert results[2] is None and isinstance(bulk.rejected[0][2], NoSeat)
    assert bulk.accepted == 8
    assert event_names(ledger).count("PlaceBooked") == 2
    assert ledger.get(Institution, inst).seats_held("nursery", "general") == [
        (D(2025, 2, 1), D(2026, 12, 31))] * 2


def test_capacity_cannot_drop_below_the_seats_already_booked(city):
    inst = city.institution(kind="vuggestue", nursery=2, kindergarten=None)
    a, b = city.child(city.household()), city.child(city.household())
    city.book(a, inst, D(2025, 2, 1))
    booked = city.book(b, inst, D(2025, 2, 1))
    with pytest.raises(Conflict, match="2 nursery seats booked"):
        city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=1, effective_from=D(2025, 6, 1)))
    city.run(c.CancelBooking(booking_id=booked["id"], effective_date=D(2025, 6, 1), reason="moved"))
    city.run(c.ChangeCapacity(institution_id=inst, age_group="nursery", seats=1, effective_from=D(2025, 6, 1)))


def test_a_booking_cancelled_before_it_began_holds_no_day(city):
    """Found by the stateful test: an empty placement blocked later bookings."""
    inst = city.institution()
    child = city.child(city.household())
    booking = city.book(child, inst, D(2025, 2, 1))
    city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2025, 1, 1), reason="changed plans"))
    assert city.book(child, inst, D(2025, 1, 1))["start_date"] == "2025-01-01"


def test_the_bulk_path_reports_a_refusal_after_loading_fresh_aggregates(city):
    """A refused command that only read aggregates is a rejection, not a bug."""
    vuggestue = city.institution(kind="vuggestue", kindergarten=None)
    with city.ledger.bulk(actor="import", channel="import") as bulk:
        hh = bulk.execute(c.RegisterHousehold(district="Valby"))["id"]
        child = bulk.execute(c.RegisterChild(household_id=hh, birth_date=D(2022, 5, 15)))["id"]
        assert bulk.execute(c.BookPlace(child_id=child, institution_id=vuggestue, start_date=D(2025, 4, 1))) is None
    assert isinstance(bulk.rejected[0][2], InvalidCommand)


def test_the_bulk_path_refuses_a_handler_that_changes_state_before_refusing(city, monkeypatch):
    from ledger import handlers

    hh = city.household()

    def sloppy(uow, cmd, ctx):
        uow.get(Household, cmd.household_id).declare_income(
            annual_income_ore=1, effective_from=D(2025, 1, 1), meta=ctx.meta(uow, None))
        raise InvalidCommand("refused after a change")

    monkeypatch.setitem(handlers.HANDLERS, c.DeclareIncome, sloppy)
    with pytest.raises(RuntimeError, match="changed state before refusing"):
        with city.ledger.bulk(actor="import", channel="import") as bulk:
            bulk.execute(c.DeclareIncome(household_id=hh, annual_income_ore=1, effective_from=D(2025, 1, 1)))


def test_a_failing_listener_does_not_turn_a_committed_command_into_a_failure(city, caplog):
    def broken(ledger, recordings):
        raise RuntimeError("view store is down")

    city.ledger.after_commit.append(broken)
    hh = city.household()
    city.ledger.after_commit.clear()
    assert city.ledger.get(Household, hh)
    assert "listener failed" in caplog.text
