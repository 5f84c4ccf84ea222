"""The occupancy forecast: waiting and age-roll demand set against capacity, on both stores."""

from datetime import date

from ledger import commands as c
from projections.projector import Projector
from projections.rebuilding import rebuild, verify
from projections.forecast import DEMAND, Forecast, occupancy_forecast
from projections.occupancy import Occupancy

D = date
A_BIRTH = D(2024, 3, 15)  # kindergarten age 2027-01-01, school 2030-08-01


def forecast(city, **kw):
    projector = Projector(city.ledger, [Occupancy(), Forecast()], page_size=7)
    projector.catch_up()
    try:
        return {(r["age_group"], r["month"]): r for r in occupancy_forecast(projector.store, **kw)}, \
            list(projector.store.load(DEMAND))
    finally:
        projector.close()


def test_waiting_children_and_the_age_roll_show_as_demand_until_they_are_booked(city):
    nursery = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="Vug")
    kindergarten = city.institution(kind="boernehave", nursery=None, kindergarten=1, name="Børn")
    rolling = city.child(city.household(), birth=A_BIRTH)
    city.book(rolling, nursery, D(2025, 3, 1))  # ends 2026-12-31, the day before the kindergarten age
    waiting = city.child(city.household(), birth=D(2024, 6, 10))
    city.run(c.Register(child_id=waiting, age_group="nursery", wishes=[nursery], need_date=D(2025, 9, 1)))

    rows, demand = forecast(city, from_month="2025-08", months=12, district="Nørrebro")
    assert rows[("nursery", "2025-08")]["waiting"] == 0
    sept = rows[("nursery", "2025-09")]
    assert (sept["capacity"], sept["booked"], sept["free"], sept["waiting"], sept["projected_free"]) == (2, 1, 1, 1, 0)
    assert {r["source"] for r in demand} == {"waiting", "age_roll"}

    # One institution's rows: its own capacity, bookings and demand (the kindergarten's are not in them).
    one, _ = forecast(city, from_month="2025-08", months=12, institution_id=nursery)
    assert {r["institution_id"] for r in one.values()} == {nursery} and ("kindergarten", "2025-09") not in one
    mine = one[("nursery", "2025-09")]
    assert (mine["capacity"], mine["booked"], mine["free"], mine["waiting"], mine["projected_free"]) == (2, 1, 1, 1, 0)
    assert forecast(city, from_month="2025-08", months=12, district="Amager Vest")[0] == {}

    rows, _ = forecast(city, from_month="2026-12", months=3, district="Nørrebro")
    assert rows[("kindergarten", "2026-12")]["age_roll"] == 0
    jan = rows[("kindergarten", "2027-01")]
    assert (jan["capacity"], jan["booked"], jan["age_roll"], jan["projected_free"]) == (1, 0, 1, 0)

    # A place at a wished institution takes the child off the list (from October: the family
    # took it, so its need starts then). The kindergarten booking ends the roll demand.
    city.book(waiting, nursery, D(2025, 10, 1))
    city.book(rolling, kindergarten, D(2027, 1, 1))
    rows, demand = forecast(city, from_month="2025-08", months=30, district="Nørrebro")
    # What is left: the newly booked child's own roll when its nursery booking ends (2 y 10 m on 2027-04).
    assert [(r["child_id"], r["source"], r["first_day"]) for r in demand] == [(waiting, "age_roll", D(2027, 4, 1))]
    assert not any(r["waiting"] for r in rows.values())
    assert [m for (g, m), r in sorted(rows.items()) if r["age_roll"]] == [
        "2027-04", "2027-05", "2027-06", "2027-07", "2027-08", "2027-09", "2027-10", "2027-11", "2027-12", "2028-01"]
    assert rows[("kindergarten", "2027-01")]["booked"] == 1


def test_a_place_outside_the_wishes_covers_the_days_it_holds(city):
    wished = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="Ønsket")
    other = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="Anden")
    child = city.child(city.household(), birth=D(2024, 6, 10))
    city.run(c.Register(child_id=child, age_group="nursery", wishes=[wished], need_date=D(2025, 9, 1)))
    booking = city.book(child, other, D(2025, 11, 1))
    city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2026, 2, 1), reason="a place nearer home"))
    rows, _ = forecast(city, from_month="2025-08", months=8)
    assert [m for (g, m), r in sorted(rows.items()) if r["waiting"]] == [
        "2025-09", "2025-10", "2026-02", "2026-03"]


def test_a_cancelled_nursery_booking_is_no_age_roll_and_erasure_removes_demand(city):
    nursery = city.institution(kind="vuggestue", nursery=2, kindergarten=None, name="Vug")
    child = city.child(city.household(), birth=A_BIRTH)
    booking = city.book(child, nursery, D(2025, 3, 1))
    city.run(c.CancelBooking(booking_id=booking["id"], effective_date=D(2026, 6, 1), reason="moved away"))
    other = city.child(city.household(), birth=A_BIRTH)
    city.run(c.Register(child_id=other, age_group="nursery", wishes=[nursery], need_date=D(2025, 9, 1)))
    _, demand = forecast(city, from_month="2025-08")
    assert [(r["child_id"], r["source"]) for r in demand] == [(other, "waiting")]
    city.run(c.ErasePerson(person_id=other, reason="GDPR art. 17"))
    _, demand = forecast(city, from_month="2025-08")
    assert demand == []


def test_an_integrated_institution_carries_its_own_children_so_there_is_no_roll(city):
    integrated = city.institution(kind="integreret", nursery=2, kindergarten=2)
    child = city.child(city.household(), birth=A_BIRTH)
    city.book(child, integrated, D(2025, 3, 1))
    rows, demand = forecast(city, from_month="2027-01", months=1)
    assert demand == []
    assert rows[("kindergarten", "2027-01")]["booked"] == 1


def test_paged_forecast_equals_a_rebuild(city):
    nursery = city.institution(kind="vuggestue", nursery=3, kindergarten=None, name="Vug")
    for i in range(4):
        child = city.child(city.household(), birth=D(2024, 1 + i, 10))
        city.run(c.Register(child_id=child, age_group="nursery", wishes=[nursery], need_date=D(2025, 8, 1)))
        if i % 2:
            city.book(child, nursery, D(2025, 9, 1))
    projector = Projector(city.ledger, [Forecast()], page_size=3)
    projector.catch_up()
    projector.close()
    assert not verify(city.ledger, [Forecast()])
    rebuild(city.ledger, [Forecast()])
    assert not verify(city.ledger, [Forecast()])
