"""When and what the billing views derive again: after each page, the households (and
institutions) whose facts changed, each from the first month that can have changed."""

from __future__ import annotations

from collections import defaultdict
from typing import Iterable

import rules

from projections.billing import extend, issued
from projections.billing.fold import UNSET, FactsFold
from projections.billing.extend import Extension, Joined
from projections.billing.household import CorrectionApart, Result, household_result
from projections.billing.months import first_of, next_month
from projections.billing.working import HouseholdFacts
from projections.engine import View

OWNER_BATCH = 2_000  # households derived (and their stored rows held) at a time
BOUNDED_BATCH = 500  # the same in a live projector that reads the households' facts too


class BillingFacts(FactsFold):
    """The shared fold, deriving each changed household's months once for every view that reads them."""

    def __init__(self, scenario: rules.RuleSet | None = None) -> None:
        super().__init__(scenario)
        self.months_apart = False  # Budget(months_apart=True): the budget audit's months (household._budget_lines)
        self.corrections_apart: dict[str, list[CorrectionApart]] = {}
        # Per household derived by this process: the earliest issued month that needed a correction
        # (None: none did). Months before it are settled — billed as due — and stay so until a fact
        # of theirs changes, so a billing run or a new month derives only the months from there on
        # (households not derived yet by this process are derived whole).
        self._corrected_from: dict[str, str | None] = {}
        self._all_households = False
        # The page's statements and runs, for the households nothing else changed (billing.issued).
        self.issued_page = issued.IssuedPage()
        # The month joining the horizon in the page, for the households whose runs it may extend.
        self._joined: Joined | None = None
        self.extended = 0  # households whose runs a month joining the horizon extended (since the view started)

    def companions(self) -> list[View]:
        return list(self.linked)

    def rederive(self) -> None:
        self._all_households = True
        self._dirty_i.update(self.capacity)

    # -- what a view deriving from these facts does per household ----------------------------

    def derive_household(self, household: str, result: Result, since: str | None = None) -> None:
        """Make the household's rows (of the months from `since` on, given) those of `result`."""
        raise NotImplementedError

    def load_households(self, households: list[str], since: str | None = None) -> None:
        """Load the stored rows the households' derivation replaces (a live projector)."""

    def release_households(self, households: list[str]) -> None:
        """Forget the households' unchanged rows again."""

    def derive_end(self, institutions: list[str]) -> None:
        raise NotImplementedError

    def runs_ending(self, household: str, old: str) -> list[Extension] | None:
        """The household's runs holding month `old` to be extended by the next (billing.extend), if
        its stored rows allow it; None: derive it."""
        return None

    def stored_corrections(self, households: list[str]) -> dict[str, str | None]:
        """Of the households, those whose stored rows say from which issued month they need a
        correction (None: none), as their last derivation found it (`_corrected_from`)."""
        return {}

    def takes_issued(self) -> bool:
        """Whether a statement issued as drafted is written as issued without a derivation (the
        live Billing view: it holds the drafts to compare with)."""
        return False

    # -- what a page changed, for billing.issued -----------------------------------------------

    def _changed(self, household: str, month: str) -> None:
        if household in self.issued_page.statements:
            self.issued_page.changed(household, month)
        super()._changed(household, month)

    def _statement_issued(self, e) -> None:  # type: ignore[no-untyped-def]
        if not self.takes_issued():
            return super()._statement_issued(e)
        household = e.data["household_id"]
        latest = self.held.get(household).latest_issued  # before this statement
        changed_from = self._changed_from.get(household)  # by the page's events before it
        super()._statement_issued(e)
        self.issued_page.statement(household, e.data["month"], latest, changed_from)

    def _billing_run_issued(self, e) -> None:  # type: ignore[no-untyped-def]
        month = e.data["month"]
        self.issued_page.rerun |= month in self.runs
        super()._billing_run_issued(e)
        self.issued_page.runs.add(month)

    def household_result(self, household: str, since: str | None = None) -> Result:
        self.held.read([household], since)  # its statements of the months from `since` on
        return household_result(self, self.held.get(household), since)

    # -- after a page ---------------------------------------------------------------------------

    def finish_page(self, final: bool = True) -> None:
        if not final or not self.deriving:
            return  # a rebuild derives once, at the end; a checkpoint needs no derived rows
        groups, institutions = self._to_derive()
        # Each household's months are computed once and handed to every view that reads these
        # facts (a Budget linked to this Billing derives from the same result).
        consumers: list[BillingFacts] = [self, *self.linked]  # type: ignore[list-item]
        size = self._batch()
        for group, months_from in groups:
            # In batches, so that a live projector holds the stored rows (and the facts) of a batch
            # of households at a time (all of them are dirty after a billing run).
            for i in range(0, len(group), size):
                batch = group[i:i + size]
                self.held.read(batch, months_from)
                for view in consumers:
                    view.load_households(batch, months_from)
                for household in batch:
                    hf = self.held.get(household)
                    if not self._extended(consumers, hf, months_from):
                        self._derive(consumers, hf, months_from)
                for view in consumers:
                    view.release_households(batch)
                self.held.trim()
        self._joined = None
        for view in consumers:
            view.derive_end(institutions)
        if self.sink is not None:
            self._stream_state()

    def _batch(self) -> int:
        return OWNER_BATCH if self.held.bound is None else min(OWNER_BATCH, BOUNDED_BATCH)

    def _derive(self, consumers: list[BillingFacts], hf: HouseholdFacts, months_from: str | None) -> None:
        hf.drafted = None  # its rows are derived again: they say what is drafted
        result = self.household_result(hf.id, months_from)
        self._note_corrections(hf.id, months_from, result)
        for view in consumers:
            view.derive_household(hf.id, result, months_from)
        self._forget_settled(hf)

    def _extended(self, consumers: list[BillingFacts], hf: HouseholdFacts, months_from: str | None) -> bool:
        """Whether the household's runs were extended by the month joining the horizon, instead of
        deriving it from that month (billing.extend)."""
        joined = self._joined
        if joined is None or months_from != next_month(joined.old) or hf.id not in joined.households:
            return False
        if not extend.steady(self, hf, joined.old, joined.new):
            return False
        plans = [view.runs_ending(hf.id, joined.old) for view in consumers]
        if any(plan is None for plan in plans):
            return False
        for plan in plans:
            for extension in plan:  # type: ignore[union-attr]
                extension.apply(joined.old, joined.new)
        self._note_corrections(hf.id, months_from, Result())  # as a derivation from NEW: none there
        self.extended += 1
        self._forget_settled(hf)
        return True

    def _forget_settled(self, hf: HouseholdFacts) -> None:
        if self.held.bound is not None and hf.latest_issued:
            # The months before the latest issued are settled or corrected by now: a derivation
            # that needs their statements (a backdated change, the next page) reads them again.
            # Nothing reads them before the page is written (a household is derived once a page).
            hf.forget_issued_before(min(hf.latest_issued, self._corrected_from.get(hf.id) or hf.latest_issued))

    def _to_derive(self) -> tuple[list[tuple[list[str], str | None]], list[str]]:
        """The households to derive, grouped by the month to derive them from (None: all their
        months), and the institutions; the page's marks are cleared."""
        horizon = self.horizon()
        self._joined = None
        if self._old_horizon is not UNSET and self._old_horizon != horizon:
            self._horizon_moved(self._old_horizon, horizon)
        self._old_horizon = UNSET
        if self._all_households:
            self._dirty_h.update(self._every_household())
            self._all_households = False
        done = issued.take_issued(self, self._batch())  # statements issued as drafted: written as issued
        if self._run_from is not None:
            spared = issued.unchanged_by_run(self, done)
            for household in self._every_household():
                if household not in spared:
                    self._changed(household, self._run_from)
            self._run_from = None
        self.issued_page.next_page()
        full = {h for h in self._dirty_h if self._mine(h)}
        partial: dict[str, list[str]] = defaultdict(list)  # from month -> households
        changed = {h: since for h, since in self._changed_from.items() if h not in full and self._mine(h)}
        latest = self.held.latest_issued_of(list(changed))
        unknown = [h for h, since in changed.items()
                   if h not in self._corrected_from and not self._new_months_only(since, latest[h])]
        if unknown:  # not derived by this process yet: what its stored rows correct, if they say
            self._corrected_from.update(self.stored_corrections(unknown))
        for household, since in changed.items():
            if household not in full and self._mine(household):
                start = self._derive_from(household, since, latest[household])
                if start is None:
                    full.add(household)
                else:
                    partial[start].append(household)
        institutions = sorted(i for i in self._dirty_i if self._mine(i))
        self._dirty_h, self._dirty_i, self._changed_from = set(), set(), {}
        groups: list[tuple[list[str], str | None]] = [(sorted(full), None)]
        return groups + [(sorted(hs), since) for since, hs in sorted(partial.items())], institutions

    def _every_household(self) -> Iterable[str]:
        """Every household the facts know (registered, booked for, billed, with a child)."""
        return self.held.every()

    def _horizon_moved(self, old: str | None, new: str | None) -> None:
        """Months (old, new] joined the horizon: what holds days in them is dirty."""
        self._dirty_i.update(self.capacity)  # a basis booking's institution has basis capacity
        if new is None:
            return
        if old is None:
            self._dirty_h.update(self._every_household())
            return
        holding = self.held.holding_days(first_of(next_month(old)), rules.last_of_month(first_of(new)))
        if self.takes_issued():  # the live view: the runs of a steady household are extended (billing.extend)
            self._joined = Joined(old, new, frozenset(h for h in holding if self._horizon_only(h)))
        for household in holding:
            self._changed(household, next_month(old))

    def _horizon_only(self, household: str) -> bool:
        """Whether nothing of the household changed in the page before the horizon moved, but
        perhaps a statement issued (billing.issued: written as issued if it was drafted so)."""
        if household in self._dirty_h:
            return False
        page = self.issued_page
        if household in page.statements:
            return household not in page.later and household not in page.spoiled
        return household not in self._changed_from

    def _note_corrections(self, household: str, since: str | None, result: Result) -> None:
        if since is not None:
            if household not in self._corrected_from:
                return  # the months before `since` were not derived here: still unknown
            earlier = self._corrected_from[household]
            if earlier is not None and earlier < since:
                return  # that month was not derived again: it still needs its correction
        self._corrected_from[household] = result.corrected_from

    def _derive_from(self, household: str, since: str, latest_issued: str | None) -> str | None:
        """The month to derive a household's rows from when its months from `since` on may have
        changed; None: all its months."""
        if self._new_months_only(since, latest_issued):
            return since
        if household not in self._corrected_from:
            return None  # not derived by this process yet: earlier corrections unknown
        # Issued months before the first correction are settled and their facts did not change:
        # they stay settled, and the corrections of the later ones are derived again.
        corrected = self._corrected_from[household]
        return since if corrected is None else min(since, corrected)

    def _new_months_only(self, since: str, latest_issued: str | None) -> bool:
        """Whether deriving the months from `since` on gives all that changed for a household whose
        earlier months did not: so unless an issued month, or the statement carrying corrections
        (the month after the latest issued), falls in those months."""
        # Runs over the hot path (every active household at each horizon move): no sets built.
        latest = max(max(self.runs, default=""), latest_issued or "")
        return not latest or next_month(latest) < since

    # -- a parallel rebuild ---------------------------------------------------------------------

    def shard(self, k: int, n: int) -> list[View] | None:
        if self.scenario is not None:
            return None  # counterfactual folds stay in memory, whole
        views = self._with_linked()
        views[0].share = (k, n)  # type: ignore[attr-defined]
        return views

    def _with_linked(self) -> list[View]:
        """A fresh copy of this view and of the views linked to it."""
        clone = type(self)(**self._init_kwargs())
        for view in self.linked:
            type(view)(facts=clone)  # type: ignore[call-arg]  # links itself
        return [clone, *clone.linked]
