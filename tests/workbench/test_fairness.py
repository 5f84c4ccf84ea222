"""The fairness audit on hand-built histories whose measures are known (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
from datetime import date as D
from datetime import timedelta

import pytest

from replay.audit import AuditError, fairness_audit


def register(city, child, wishes, need, channel="caseworker"):
    city.run(city.c.Register(child_id=child, age_group="nursery", wishes=wishes, need_date=need), channel=channel)


def planted(city):
    """One priority violation (two bookings pass the same child over at one institution), one wasted
    seat-month, one guarantee breach. Returns the ids."""
    clock = city.ledger.clock
    a = city.institution(name="Myretuen", district="Nørrebro", nursery=2, kindergarten=None, kind="vuggestue")
    b = city.institution(name="Bikuben", district="Østerbro", nursery=2, kindergarten=None, kind="vuggestue")
    # i: registered first (seniority 2025-01-06), wishes only A, is never placed.
    i = city.child(city.household(district="Nørrebro"), birth=D(2024, 2, 1))
    register(city, i, [a], D(2025, 3, 1))
    # k: registered for B from March, placed there only from April: March is a wasted seat-month.
    k = city.child(city.household(district="Østerbro"), birth=D(2024, 3, 15))
    register(city, k, [b], D(2025, 3, 1))
    # j1, j2: book A in self-service later (later seniority), both from i's need date.
    clock.set(D(2025, 1, 20))
    j1 = city.child(city.household(district="Vesterbro"), birth=D(2024, 3, 15))
    city.book(j1, a, D(2025, 3, 1), channel="self_service")
    j2 = city.child(city.household(district="Vesterbro"), birth=D(2024, 4, 15))
    city.book(j2, a, D(2025, 3, 1), channel="self_service")
    clock.set(D(2025, 3, 20))
    city.book(k, b, D(2025, 4, 1))
    clock.set(D(2025, 5, 10))
    city.household()  # something recorded on the audit day
    return {"a": a, "b": b, "i": i, "k": k, "j1": j1, "j2": j2}


def test_planted_violation_waste_and_breach_are_found_once(city):
    ids = planted(city)
    result = fairness_audit(city.ledger)
    json.dumps(result)  # JSON-able as it is

    envy = result["findings"]["justified_envy"]
    assert len(envy) == 1 and result["summary"]["justified_envy"] == 1
    assert result["summary"]["children_with_justified_envy"] == 1
    finding = envy[0]
    assert (finding["child_id"], finding["institution_id"], finding["wish_no"]) == (ids["i"], ids["a"], 1)
    assert sorted(p["child_id"] for p in finding["passed_over_by"]) == sorted([ids["j1"], ids["j2"]])
    assert finding["first_passed_over"] == "2025-03-01"
    assert all(p["events"] for p in finding["passed_over_by"]) and finding["events"]
    # Self-service bookings the rules accepted: the system's decisions, not a person's.
    assert finding["decided_by"] == "system" and {p["decided_by"] for p in finding["passed_over_by"]} == {"system"}
    assert (result["summary"]["justified_envy_in_system_decisions"],
            result["summary"]["justified_envy_in_caseworker_decisions"]) == (1, 0)

    wasted = result["findings"]["wasted_seats"]
    assert [(w["institution_id"], w["month"], w["wasted_seat_months"]) for w in wasted] == [(ids["b"], "2025-03", 1)]
    assert wasted[0]["waiting_children"] == [ids["k"]] and wasted[0]["free"] == 2
    assert result["summary"]["wasted_seat_months"] == 1

    breaches = result["findings"]["guarantee_breaches"]
    assert [(x["child_id"], x["guarantee_date"], x["days_late"], x["still_waiting"]) for x in breaches] == [
        (ids["i"], "2025-04-06", 34, True)]

    # the breakdowns count the finding in the envious child's groups
    assert result["breakdowns"]["district"]["Nørrebro"]["justified_envy"] == 1
    assert result["breakdowns"]["district"]["Vesterbro"]["justified_envy"] == 0
    assert result["breakdowns"]["channel"]["caseworker"]["justified_envy"] == 1
    assert result["breakdowns"]["registration_age"]["registered at 4-12 months"]["guarantee_breaches"] == 1  # 11 months old

    assert result["breakdowns"]["policy"]["book-en-plads"]["justified_envy"] == 1
    assert result["breakdowns"]["policy_and_registration_age"][
        "book-en-plads, registered at 4-12 months"]["guarantee_breaches"] == 1

    s = result["summary"]
    assert (s["registrations"], s["placed"], s["still_waiting"]) == (4, 3, 1)
    # j1, j2 placed on their need date, k one month late
    assert sorted(result["waiting_days"]["district"]["Vesterbro"]) == [0, 0]
    assert result["waiting_days"]["district"]["Østerbro"] == [31]
    assert s["first_choice_share"] == 1.0


def test_no_envy_when_the_waiting_child_came_later_or_ranks_lower(city):
    clock = city.ledger.clock
    a = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
    j = city.child(city.household(), birth=D(2024, 3, 15))
    city.book(j, a, D(2025, 3, 1), channel="self_service")
    clock.set(D(2025, 1, 20))
    late = city.child(city.household(), birth=D(2024, 1, 15))
    register(city, late, [a], D(2025, 3, 1))  # registered after the booking: not passed over
    clock.set(D(2025, 2, 1))
    city.household()
    result = fairness_audit(city.ledger)
    assert result["findings"]["justified_envy"] == []
    assert result["summary"]["wasted_seat_months"] == 0


def test_period_and_policy(city):
    planted(city)
    before = fairness_audit(city.ledger, end=D(2025, 2, 28))
    assert before["summary"]["justified_envy"] == 0  # the seats start in March
    assert before["findings"]["guarantee_breaches"] == []
    judged = fairness_audit(city.ledger, policy="copenhagen-2025-waitinglist@1")
    assert judged["summary"]["justified_envy"] == 1
    assert judged["findings"]["justified_envy"][0]["rule_set"] == "copenhagen-2025-waitinglist@1"
    with pytest.raises(AuditError, match="unknown rule set or scenario"):
        fairness_audit(city.ledger, policy="no-such-policy@1")
    with pytest.raises(AuditError, match="before it starts"):
        fairness_audit(city.ledger, start=D(2025, 5, 1), end=D(2025, 1, 1))


def test_wishes_are_judged_as_the_ledger_knew_them_when_the_seat_was_given(city):
    clock = city.ledger.clock
    a = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
    b = city.institution(name="Bikuben", nursery=0, kindergarten=None, kind="vuggestue")
    early = city.child(city.household(), birth=D(2024, 1, 15))
    register(city, early, [a], D(2025, 3, 1))
    other = city.child(city.household(), birth=D(2024, 1, 20))
    register(city, other, [b], D(2025, 3, 1))
    clock.set(D(2025, 1, 20))
    j = city.child(city.household(), birth=D(2024, 3, 15))
    city.book(j, a, D(2025, 3, 1), channel="self_service")
    clock.set(D(2025, 2, 1))
    # afterwards: `early` gives up on A, `other` starts wishing A — neither changes what happened then
    city.run(city.c.ChangeWishes(child_id=early, age_group="nursery", wishes=[b]))
    city.run(city.c.ChangeWishes(child_id=other, age_group="nursery", wishes=[a]))
    clock.set(D(2025, 3, 10))
    city.household()
    envy = fairness_audit(city.ledger)["findings"]["justified_envy"]
    assert [(e["child_id"], e["institution_id"]) for e in envy] == [(early, a)]


def test_first_choice_siblings_and_the_policy_in_force(new_city):
    city = new_city("copenhagen-2025-waitinglist@1")
    a = city.institution(name="Myretuen", nursery=5, kindergarten=None, kind="vuggestue")
    b = city.institution(name="Bikuben", nursery=5, kindergarten=None, kind="vuggestue")
    family, other = city.household(), city.household()
    big = city.child(family, birth=D(2023, 12, 1))
    city.book(big, a, D(2025, 2, 1))
    small = city.child(family, birth=D(2024, 3, 15))
    register(city, small, [b, a], D(2025, 3, 1))
    city.book(small, a, D(2025, 3, 1))  # the second wish, with the sibling
    cousin = city.child(other, birth=D(2024, 3, 15))
    big_cousin = city.child(other, birth=D(2023, 12, 1))
    city.book(big_cousin, a, D(2025, 2, 1))
    register(city, cousin, [b], D(2025, 3, 1))
    city.book(cousin, b, D(2025, 3, 1))  # the first wish, not with the sibling
    city.run(city.c.ActivateRuleSet(rule_set_id="copenhagen-book-en-plads@1", effective_from=D(2025, 4, 1)))
    city.ledger.clock.set(D(2025, 4, 2))
    late = city.child(city.household(), birth=D(2024, 3, 15))
    city.book(late, b, D(2025, 5, 1), channel="self_service")
    city.ledger.clock.set(D(2025, 6, 1))
    city.household()
    result = fairness_audit(city.ledger)
    s = result["summary"]
    assert s["placed"] == 5
    # small at its 2nd wish; big, big_cousin and late booked without registering first (1st wish)
    assert s["first_choice_share"] == 0.8
    assert s["children_with_sibling_in_daycare"] == 2 and s["sibling_colocation_share"] == 0.5
    policies = result["breakdowns"]["policy"]
    assert policies["waitinglist"]["registrations"] == 4 and policies["book-en-plads"]["registrations"] == 1


def test_the_audit_orders_children_as_the_waiting_list_view_does(city):
    """Envy is judged by the order the waiting-list view shows (rules.priority_key, seed 0)."""
    from projections import Projector, WaitingLists
    from projections.waitinglists import WAITING_LIST
    from replay.audit.facts import Demand, fold
    from replay.audit.standing import entry, priority
    import rules

    clock = city.ledger.clock
    a = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
    family = city.household()
    city.book(city.child(family, birth=D(2023, 9, 1)), a, D(2025, 2, 1))
    children = [city.child(family, birth=D(2024, 4, 1))]  # a sibling in A
    for n, birth in enumerate((D(2024, 1, 5), D(2024, 6, 30), D(2024, 2, 10), D(2024, 5, 5))):
        clock.set(D(2025, 1, 10 + 3 * n))
        children.append(city.child(city.household(), birth=birth))
    for n, child in enumerate(children):
        register(city, child, [a], D(2025, 3, 1) + timedelta(days=7 * (n % 3)))
    clock.set(D(2025, 2, 15))
    city.household()

    projector = Projector(city.ledger, [WaitingLists()])
    projector.catch_up()
    rows = sorted((r for r in projector.store.load(WAITING_LIST) if r["institution_id"] == a), key=lambda r: r["rank"])
    projector.close()
    view_order = [r["child_id"] for r in rows]
    assert sorted(view_order) == sorted(children)

    demand = Demand()
    fold(city.ledger, [demand])
    day = D(2025, 2, 15)
    rs = rules.load_rule_set(rows[0]["rule_set"])
    keys = {c: priority(entry(demand, demand.registrations[(c, "nursery")], a, day, rs), rs, day) for c in children}
    assert sorted(children, key=keys.get) == view_order
    assert view_order[0] == children[0]  # the sibling first


def test_a_family_that_gave_up_its_place_is_not_waiting(city):
    """Placed at a wish, then cancelled: off the lists (as in the waiting-list view), so neither a
    wasted seat nor envy when another child takes the seat."""
    clock = city.ledger.clock
    b = city.institution(name="Bikuben", nursery=2, kindergarten=None, kind="vuggestue")
    left = city.child(city.household(), birth=D(2024, 1, 15))
    register(city, left, [b], D(2025, 2, 1))
    booking = city.book(left, b, D(2025, 2, 1))["id"]
    clock.set(D(2025, 2, 10))
    city.run(city.c.CancelBooking(booking_id=booking, effective_date=D(2025, 3, 1), reason="moved away"))
    clock.set(D(2025, 3, 5))
    later = city.child(city.household(), birth=D(2024, 6, 15))
    city.book(later, b, D(2025, 5, 1), channel="self_service")
    clock.set(D(2025, 7, 2))
    city.household()
    result = fairness_audit(city.ledger)
    assert result["findings"]["wasted_seats"] == [] and result["findings"]["justified_envy"] == []


def test_a_child_holding_an_offer_at_a_better_wish_is_not_passed_over(new_city):
    """The seat at its second wish went to another child while it held an offer at its first wish;
    it declined that offer afterwards. The allocation passed nobody over: no envy. Without the open
    offer the same history is envy."""
    from ledger import commands as c
    from ledger.aggregates import Child

    def history(with_offer: bool):
        city = new_city(rule_set="copenhagen-2025-waitinglist@1")
        first = city.institution(name="First", nursery=1, kindergarten=None, kind="vuggestue")
        second = city.institution(name="Second", nursery=1, kindergarten=None, kind="vuggestue")
        senior = city.child(city.household(), birth=D(2024, 9, 10))  # seniority 2025-01-10
        junior = city.child(city.household(), birth=D(2024, 10, 10))  # seniority 2025-02-10
        register(city, senior, [first, second], D(2025, 6, 1))
        register(city, junior, [second], D(2025, 6, 1))
        offered = None
        if with_offer:
            offered = city.run(c.OfferPlace(child_id=senior, institution_id=first, age_group="nursery",
                                            start_date=D(2025, 6, 1), expires_on=D(2025, 1, 30), rank=1,
                                            priority_basis="seniority", seed=1), channel="system")["id"]
        made = city.run(c.OfferPlace(child_id=junior, institution_id=second, age_group="nursery",
                                     start_date=D(2025, 6, 1), expires_on=D(2025, 1, 30), rank=1,
                                     priority_basis="seniority", seed=1), channel="system")["id"]
        city.run(c.AcceptOffer(child_id=junior, offer_id=made))
        if offered:
            city.run(c.DeclineOffer(child_id=senior, offer_id=offered, reason="the parents declined"))
        city.ledger.clock.set(D(2025, 7, 1))
        city.household()
        assert city.ledger.get(Child, junior).placements
        return fairness_audit(city.ledger)["summary"]["justified_envy"]

    assert history(with_offer=True) == 0
    assert history(with_offer=False) == 1


def test_envy_from_a_caseworkers_own_booking_is_the_caseworkers_decision_with_its_reason(new_city):
    """Under the waiting list a caseworker places a junior child directly (with a reason): the senior
    child passed over is a finding in a caseworker's decision; the same seat given by the run's offer
    is the system's."""
    from ledger import commands as c

    def history(by_caseworker: bool):
        city = new_city(rule_set="copenhagen-2025-waitinglist@1")
        inst = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
        senior = city.child(city.household(), birth=D(2024, 9, 10))  # seniority 2025-01-10
        junior = city.child(city.household(), birth=D(2024, 10, 10))  # seniority 2025-02-10
        register(city, senior, [inst], D(2025, 6, 1))
        register(city, junior, [inst], D(2025, 6, 1))
        if by_caseworker:
            city.book(junior, inst, D(2025, 6, 1), reason="support needs: no basis seat free")
        else:
            made = city.run(c.OfferPlace(child_id=junior, institution_id=inst, age_group="nursery",
                                         start_date=D(2025, 6, 1), expires_on=D(2025, 1, 30), rank=1,
                                         priority_basis="seniority", seed=1), channel="system")["id"]
            city.run(c.AcceptOffer(child_id=junior, offer_id=made))
        city.ledger.clock.set(D(2025, 7, 1))
        city.household()
        audit = fairness_audit(city.ledger)
        # (A store may keep one database per test: the second history then sees the first one too.)
        return audit, [f for f in audit["findings"]["justified_envy"] if f["institution_id"] == inst]

    by_caseworker, [finding] = history(by_caseworker=True)
    assert finding["decided_by"] == "caseworker"
    assert finding["passed_over_by"][0]["reason"] == "support needs: no basis seat free"
    assert (by_caseworker["summary"]["justified_envy_in_system_decisions"],
            by_caseworker["summary"]["justified_envy_in_caseworker_decisions"]) == (0, 1)
    by_run, [finding] = history(by_caseworker=False)
    assert finding["decided_by"] == "system" and finding["passed_over_by"][0]["reason"] is None
    s = by_run["summary"]
    assert s["justified_envy_in_system_decisions"] == 1
    assert s["justified_envy_in_system_decisions"] + s["justified_envy_in_caseworker_decisions"] == s["justified_envy"]


def test_an_offer_in_time_that_the_family_declined_meets_the_guarantee(new_city):
    """The municipality offered a place from the need date; the family declined and has waited since:
    the guarantee was met (counted apart, with the offer). Without the offer the same wait is a breach."""
    from ledger import commands as c

    def history(offered: bool):
        city = new_city(rule_set="copenhagen-2025-waitinglist@1")
        inst = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
        child = city.child(city.household(), birth=D(2024, 9, 10))
        register(city, child, [inst], D(2025, 3, 1))
        if offered:
            made = city.run(c.OfferPlace(child_id=child, institution_id=inst, age_group="nursery",
                                         start_date=D(2025, 3, 1), expires_on=D(2025, 1, 30), rank=1,
                                         priority_basis="seniority", seed=1), channel="system")["id"]
            city.run(c.DeclineOffer(child_id=child, offer_id=made, reason="the parents declined"))
        city.ledger.clock.set(D(2025, 9, 1))
        city.household()
        audit = fairness_audit(city.ledger)
        return (audit, [b for b in audit["findings"]["guarantee_breaches"] if b["child_id"] == child],
                [r for r in audit["findings"]["guarantee_met_by_refused_offer"] if r["child_id"] == child])

    audit, breaches, refused = history(offered=True)
    assert breaches == [] and len(refused) == 1 and len(refused[0]["offers"]) == 1
    assert audit["summary"]["guarantee_met_by_refused_offer"] >= 1
    _, breaches, refused = history(offered=False)
    assert len(breaches) == 1 and breaches[0]["still_waiting"] and refused == []


def test_a_sibling_counts_from_the_day_it_attends_as_on_the_list_the_run_read(new_city):
    """The big sister starts at A in April; the run in January (list date) puts the senior stranger
    first. The audit judges the sibling priority on the day of the decision, as the list did: no envy."""
    from processes.allocation import run_allocation

    from ledger import commands as c

    city = new_city(rule_set="copenhagen-2025-waitinglist@1")
    a = city.institution(name="Myretuen", nursery=2, kindergarten=None, kind="vuggestue")
    family = city.household()
    big = city.child(family, birth=D(2024, 3, 15))
    city.book(big, a, D(2025, 4, 1))  # takes one of the two seats from April
    stranger = city.child(city.household(), birth=D(2024, 6, 1))
    little = city.child(family, birth=D(2024, 9, 1))
    register(city, stranger, [a], D(2025, 4, 1))  # seniority 2025-01-06
    city.ledger.clock.set(D(2025, 1, 10))
    register(city, little, [a], D(2025, 4, 1))  # seniority 2025-01-10
    run = run_allocation(city.ledger, "2025-04")
    assert [o["child_id"] for o in run["offers"]] == [stranger]
    city.run(c.AcceptOffer(child_id=stranger, offer_id=run["offers"][0]["offer_id"]))
    city.ledger.clock.set(D(2025, 5, 1))
    city.household()
    envy = [f for f in fairness_audit(city.ledger)["findings"]["justified_envy"] if f["institution_id"] == a]
    assert envy == []


def test_a_nursery_wait_ends_with_the_kindergarten_place_of_a_child_who_outgrew_it(new_city):
    """Registered for a nursery at 2 y 8 m and placed only in a kindergarten: the kindergarten
    place ends the wait (the breach is the days until it, not a child still waiting)."""
    city = new_city(rule_set="copenhagen-2025-waitinglist@1")
    nursery = city.institution(name="Vuggen", nursery=1, kindergarten=None, kind="vuggestue")
    kindergarten = city.institution(name="Haven", nursery=None, kindergarten=2, kind="boernehave")
    child = city.child(city.household(), birth=D(2022, 6, 1))  # kindergarten age from 1 April 2025
    register(city, child, [nursery], D(2025, 3, 1))
    city.book(child, kindergarten, D(2025, 6, 1))
    city.ledger.clock.set(D(2025, 9, 1))
    city.household()
    audit = fairness_audit(city.ledger)
    [breach] = [b for b in audit["findings"]["guarantee_breaches"] if b["child_id"] == child]
    assert (breach["still_waiting"], breach["start"], breach["institution_id"]) == (False, "2025-06-01", kindergarten)
    [row] = [r for r in audit["registrations"] if r["child_id"] == child and r["age_group"] == "nursery"]
    assert row["placed"] and row["start"] == "2025-06-01"


def test_a_self_service_booking_waits_from_the_day_the_family_asked_from(city):
    """Under book-en-plads a family searching from March that finds its first free seat in May books
    May with need date March: the booking's registration keeps March, so it waited 61 days (March
    and April), not 0; a need date after the start is refused."""
    a = city.institution(name="Myretuen", nursery=1, kindergarten=None, kind="vuggestue")
    first = city.child(city.household(), birth=D(2024, 2, 1))
    city.book(first, a, D(2025, 3, 1), channel="self_service")
    city.run(city.c.CancelBooking(booking_id=_booking_of(city, first), effective_date=D(2025, 5, 1),
                                  reason="moving"), channel="self_service")
    late = city.child(city.household(district="Vesterbro"), birth=D(2024, 3, 15))
    city.book(late, a, D(2025, 5, 1), channel="self_service", need_date=D(2025, 3, 1))
    city.ledger.clock.set(D(2025, 6, 2))
    city.household()
    result = fairness_audit(city.ledger)
    assert sorted(result["waiting_days"]["district"]["Vesterbro"]) == [61]
    assert result["waiting_days"]["district"]["Nørrebro"] == [0]
    from pydantic import ValidationError

    with pytest.raises(ValidationError, match="need date cannot be after the start"):
        city.c.BookPlace(child_id=late, institution_id=a, start_date=D(2025, 5, 1), need_date=D(2025, 6, 1))


def _booking_of(city, child):
    from replay.audit.facts import Demand, fold

    facts = Demand()
    fold(city.ledger, [facts])
    return next(b.booking_id for b in facts.bookings.values() if b.child_id == child)


def test_imported_registrations_are_neither_early_nor_late(store):
    """history.json's placements come from the old system: when their families registered says
    nothing about either policy, so they are a group of their own, not 'registered after 12 months'."""
    from pathlib import Path

    from replay.importer import import_history

    history = Path(__file__).parents[1] / "simulate" / "data" / "history.json"
    with store.ledger(D(2020, 1, 1)) as ledger:
        import_history(ledger, history)
        result = fairness_audit(ledger)
    ages = result["breakdowns"]["registration_age"]
    assert list(ages) == ["imported from the old system"]
    assert ages["imported from the old system"]["registrations"] == result["summary"]["registrations"]


def test_the_pruned_wisher_lists_judge_as_walking_every_wisher_would(store, monkeypatch):
    """Envy and wasted seats walk each institution's wishers from when they registered until they
    left the lists or grew too old for the group (standing.Wishers): on a simulated city (children
    age out, families register late and leave), the audit finds what it finds walking every child
    that ever wished the institution at every decision — and walks far fewer."""
    from replay.audit import standing
    from replay.simulate import simulate

    ledger = store.ledger(D(2025, 1, 1))
    try:
        simulate(ledger, years=2, scale=0.01, seed=5, policy="book-en-plads")
        walked = {"pruned": 0, "every": 0}
        pruned_from = standing._Waiting.from_

        def counted(self, arrived, floor, day):
            out = pruned_from(self, arrived, floor, day)
            walked["pruned"] += len(out)
            return out

        monkeypatch.setattr(standing._Waiting, "from_", counted)
        pruned = json.dumps(fairness_audit(ledger), sort_keys=True, default=str)

        def every_wisher(self, arrived, floor, day):
            out = [w.r for w in self.to_arrive]
            walked["every"] += len(out)
            return out

        monkeypatch.setattr(standing._Waiting, "from_", every_wisher)
        every = json.loads(json.dumps(fairness_audit(ledger), sort_keys=True, default=str))
        assert json.loads(pruned) == every
        assert every["summary"]["justified_envy"] and every["summary"]["wasted_seat_months"]
        assert walked["pruned"] * 5 < walked["every"]
    finally:
        ledger.close()
