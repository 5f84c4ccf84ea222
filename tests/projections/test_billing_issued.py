"""A live Billing view writes a statement issued as drafted as issued, without deriving its household
again, and a billing run leaves the households it does not change as they are (billing.issued).
Followers caught up page by page across billing runs — drafts issued unchanged, a backdated change
in the same page as the statements, a household the run skips, corrections carried and issued —
equal a rebuild, and `verify` finds no drift; in a month of nothing but the run, no household is
derived again, and in a month whose page holds other changes from later months, only those months."""

from datetime import date

import pytest

from ledger import commands as c
from processes.billing import caught_up, issue_month
from projections import Projector, billing_views
from tests.projections.test_billing_runs import _derived, _equal_after_rebuild, _shown

D = date


def _counted(projector):
    """The follower's Billing view, counting the households it derives."""
    billing = projector.views[0]
    real, billing.derived = billing.household_result, []

    def derive(household, since=None):
        billing.derived.append(since)
        return real(household, since)

    billing.household_result = derive
    return billing


@pytest.mark.parametrize("page", [1, 4, 10_000])
def test_a_follower_across_billing_runs_equals_a_rebuild_and_derives_no_household_for_a_plain_run(city, page):
    ledger = city.ledger
    insts = [city.institution(name=f"I{n}", district=f"D{n}", nursery=3, kindergarten=3) for n in range(2)]
    households = [city.household(district=f"D{n % 2}", children_under_18=2) for n in range(4)]
    for n, household in enumerate(households[:3]):
        child = city.child(household, birth=D(2024, 3, 1))
        city.book(child, insts[n % 2], D(2025, 1, 1), lunch=n != 1)
    # households[3] holds no place: it has no rows, and no run changes it.
    drafter = Projector(ledger, billing_views())
    follower = Projector(ledger, billing_views(), page_size=page)
    billing = _counted(follower)
    follower.catch_up()

    def run(month, before=None, skip=None):
        """Issue the month as drafted; `before` runs after the drafts were read, before they are
        issued (in the same page as the statements); `skip` is left out of the run."""
        def send(command):
            if before is not None:
                before()
            if skip is not None:
                command = c.IssueStatements(month=command.month, skipped=command.skipped,
                                            statements=[s for s in command.statements if str(s.household_id) != skip])
            return city.run(command)

        issue_month(ledger, month, caught_up(drafter), send=send)

    plain, joined = [], []
    for m in range(2, 9):  # January .. July, issued on the 3rd of the next month
        ledger.clock.set(ledger.clock.now().replace(month=m, day=3))
        city.run(c.OpenBillingMonth(month=f"2025-{m - 1:02d}"))
        if m < 7:
            follower.catch_up()  # the new month joins the horizon: its households are derived
        month, derived = f"2025-{m - 1:02d}", len(billing.derived)
        if m == 3:  # a backdated change in the page of the statements drafted before it
            run(month, before=lambda: city.run(c.DeclareIncome(
                household_id=households[0], annual_income_ore=20_000_000, effective_from=D(2025, 1, 1))))
        elif m == 5:  # a household skipped: its month comes back as corrections, issued with June
            run(month, skip=households[1])
        else:
            run(month)
        if m == 4:  # a backdated change after the run: corrections carried by May's draft, issued with it
            city.run(c.DeclareIncome(household_id=households[2], annual_income_ore=25_000_000,
                                     effective_from=D(2025, 2, 1)))
        if m == 8:  # a change from a later month, in the page of the statements (one page: page=10_000)
            city.run(c.DeclareIncome(household_id=households[2], annual_income_ore=30_000_000,
                                     effective_from=D(2025, 10, 1)))
        follower.catch_up()
        if m in (2, 6):
            plain.append(billing.derived[derived:])
        elif m >= 7:  # the month joining the horizon (and the change from October) derived, not the issued one
            joined.append(billing.derived[derived:])
    assert plain == [[], []], plain  # issued as drafted (corrections too): no household derived
    # Each household holding a place derived from the month joining the horizon, or October (a page of its own).
    assert joined[0] == ["2025-08"] * 3 and sorted(joined[1])[:3] == ["2025-09"] * 3, joined
    assert set(joined[1]) <= {"2025-09", "2025-10"}, joined
    # Issued in advance, as the simulator does (September on August 20th), and the first event of
    # September in the statements' page: October joins the horizon.
    ledger.clock.set(ledger.clock.now().replace(month=8, day=20))
    for month in ("2025-08", "2025-09"):
        city.run(c.OpenBillingMonth(month=month))
        run(month)
        if month == "2025-08":
            follower.catch_up()
    ledger.clock.set(ledger.clock.now().replace(month=9, day=1))
    city.household()
    derived, extended = len(billing.derived), billing.extended
    follower.catch_up()
    # households[2] (a new share from October: billing.extend) and the new household whole; the two
    # others' September drafts go on into October, not derived (billing.extend)
    assert sorted(billing.derived[derived:], key=str) == ["2025-10", None], billing.derived[derived:]
    assert billing.extended == extended + 2
    assert billing.issued_page.taken and billing.issued_page.spared
    corrections = follower.store.query("SELECT month, corrects_month FROM statement_lines WHERE kind = 'correction'")
    assert {tuple(r) for r in corrections} == {  # the backdated changes' and the skipped month's
        ("2025-03", "2025-01"), ("2025-03", "2025-02"), ("2025-04", "2025-02"), ("2025-04", "2025-03"),
        ("2025-05", "2025-04")}
    billing.household_result = type(billing).household_result.__get__(billing)
    derived = _derived(billing)
    assert _shown(follower) == derived
    drafter.close()
    _equal_after_rebuild(ledger, follower, derived)


def test_a_restarted_follower_derives_from_the_corrections_its_stored_rows_draft(city):
    """A follower started on stored rows reads from them which issued month each household still
    corrects (the last derivation's finding), so a change derives the months from there, not the
    household's whole history; the rows equal a rebuild."""
    ledger = city.ledger
    inst = city.institution(nursery=3, kindergarten=3)
    households = [city.household(children_under_18=2) for _ in range(2)]
    for household in households:
        city.book(city.child(household, birth=D(2024, 3, 1)), inst, D(2025, 1, 1), lunch=True)
    first = Projector(ledger, billing_views())
    for m in (2, 3):  # January and February issued
        ledger.clock.set(ledger.clock.now().replace(month=m, day=3))
        issue_month(ledger, f"2025-{m - 1:02d}", caught_up(first))
    # A backdated decision: January and February corrected on March's draft (households[0] only).
    city.run(c.DeclareIncome(household_id=households[0], annual_income_ore=20_000_000, effective_from=D(2025, 1, 1)))
    first.catch_up()
    first.close()
    follower = Projector(ledger, billing_views())
    billing = _counted(follower)
    seen = []
    real = billing.household_result
    billing.household_result = lambda h, since=None: (seen.append((households.index(h), since)), real(h, since))[1]
    for household in households:  # both reach March, the statement carrying the corrections
        city.run(c.DeclareIncome(household_id=household, annual_income_ore=40_000_000, effective_from=D(2025, 3, 1)))
    follower.catch_up()
    assert sorted(seen) == [(0, "2025-01"), (1, "2025-03")], seen
    billing.household_result = type(billing).household_result.__get__(billing)
    derived = _derived(billing)
    assert _shown(follower) == derived
    _equal_after_rebuild(ledger, follower, derived)
