"""The pure matching (rules.allocation): hand cases and hypothesis properties over random small cities."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.allocation import Applicant, deferred_acceptance, haversine_km


def test_the_better_ranked_child_gets_the_last_seat_and_the_other_its_second_wish():
    applicants = [Applicant("x", ("A", "B")), Applicant("y", ("A", "B"))]
    rank = {("A", "x"): 2, ("A", "y"): 1, ("B", "x"): 1, ("B", "y"): 2}
    assert deferred_acceptance(applicants, {"A": 1, "B": 1}, rank) == {"y": "A", "x": "B"}


def test_a_child_not_on_a_list_is_not_placed_there():
    assert deferred_acceptance([Applicant("x", ("A",))], {"A": 3}, {}) == {}


def test_distance_is_straight_line_km():
    # Copenhagen City Hall to Valby: about 4 km.
    assert 3.5 < haversine_km((55.6761, 12.5683), (55.6608, 12.5139)) < 4.2


@st.composite
def cities(draw):
    institutions = [f"I{i}" for i in range(draw(st.integers(1, 4)))]
    children = [f"c{i}" for i in range(draw(st.integers(0, 12)))]
    seats = {i: draw(st.integers(0, 3)) for i in institutions}
    applicants, rank = [], {}
    for child in children:
        wishes = draw(st.lists(st.sampled_from(institutions), unique=True, max_size=len(institutions)))
        applicants.append(Applicant(child, tuple(wishes)))
    for inst in institutions:
        order = draw(st.permutations(children))
        for r, child in enumerate(order, start=1):
            rank[(inst, child)] = r
    return applicants, seats, rank


@settings(max_examples=300, deadline=None)
@given(cities())
def test_never_overbooks_wastes_no_seat_and_leaves_no_justified_envy(city):
    applicants, seats, rank = city
    match = deferred_acceptance(applicants, seats, rank)
    held: dict[str, list[str]] = {}
    for child, inst in match.items():
        held.setdefault(inst, []).append(child)
    for inst, kids in held.items():
        assert len(kids) <= seats[inst], "overbooked"
    for a in applicants:
        got = match.get(a.child_id)
        assert got is None or got in a.wishes
        better = a.wishes if got is None else a.wishes[: a.wishes.index(got)]
        for inst in better:  # every wish the child prefers to what it got
            taken = held.get(inst, [])
            assert len(taken) >= seats[inst], f"waste: {inst} has a free seat {a.child_id} wanted"
            for other in taken:
                assert rank[(inst, other)] < rank[(inst, a.child_id)], (
                    f"justified envy: {a.child_id} ranks above {other} at {inst}")
