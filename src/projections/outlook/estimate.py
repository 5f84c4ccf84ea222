"""Learning from the ledger's own past how much is still to come.

For every month-end T' of the history and every month m' = T' + h (h = 1…12) that has passed
by the cut T, the change still to come at T' is what came (the seats as known at T) less what
T' knew: new bookings minus cancellations and moves. It is summed per institution district,
age group, age of the child at m' (months since the birth month), horizon and the child's
standing at T':

- **registered** — the ledger knew the child at T' (on a waiting list, in a nursery about to
  roll to kindergarten, booked and maybe cancelling): exposure = the children of that birth
  month and home district registered by T';
- **not yet registered** — exposure = the birth month's cohort (`model.cohort_sizes`), so the
  children not born yet at T' count too.

A rate is the ratio of the two sums; the forecast multiplies it by the exposure at T.
"""

from __future__ import annotations

from bisect import bisect_right
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Iterable

from ledger.clock import COPENHAGEN

from projections.outlook import model
from projections.outlook.history import ONE_DAY, History, Segment, known_month
from projections.pointintime import recorded_instant

HORIZON = 12
MIN_MONTHS = 3  # a horizon's rates need this many months of history; else the longest such horizon's
REGISTERED, UNREGISTERED = "registered", "unregistered"


def seat_months(segments: Iterable[Segment]) -> dict[tuple[str, int], float]:
    """(age group, month) → seats held on average over the month (days held ÷ days in month)."""
    out: dict[tuple[str, int], float] = defaultdict(float)
    for group, first, last in segments:
        for month, days in model.month_days(first, last):
            out[(group, month)] += days / model.days_in(month)
    return out


@dataclass(frozen=True, slots=True)
class Cut:
    """What the ledger knew at `instant`: its month and the last month wholly past."""

    instant: datetime
    month: int
    complete: int
    first_month: int  # the first month of the ledger's history

    @classmethod
    def at(cls, instant: datetime, history: History) -> "Cut":
        day = instant.astimezone(COPENHAGEN).date()
        month = model.month_index(day)
        complete = month if day.day == model.days_in(month) else month - 1
        first = known_month(history.first_recorded) if history.first_recorded else month
        return cls(instant, month, complete, first)

    @classmethod
    def month_end(cls, month: int, history: History) -> "Cut":
        """The cut at the end of `month` (its last day, Copenhagen)."""
        return cls.at(recorded_instant(model.first_day(month + 1) - ONE_DAY), history)


@dataclass(slots=True)
class Cohorts:
    """Per home district: the months (known_month) each birth month's children registered."""

    registered: dict[tuple[str, int], list[int]] = field(default_factory=dict)
    sizes: dict[tuple[str, int], float] = field(default_factory=dict)
    levels: dict[str, float] = field(default_factory=dict)
    mature: set[tuple[str, int]] = field(default_factory=set)  # sized by their own registrations

    def known_by(self, district: str, birth: int, month: int) -> int:
        return bisect_right(self.registered.get((district, birth), ()), month)

    def size(self, district: str, birth: int) -> float:
        got = self.sizes.get((district, birth))
        return got if got is not None else self.levels.get(district, 0.0)


def cohorts(history: History, cut: Cut, births: dict[tuple[str, int], float] | None = None) -> Cohorts:
    """Registrations by home district and birth month as known at the cut, and each birth month's
    ultimate size (chain ladder over the months born since the ledger began; `births` — a
    district's own forecast — replaces the estimate for the months it covers)."""
    regs: dict[tuple[str, int], list[int]] = defaultdict(list)
    for child in history.children.values():
        if child.registered <= cut.instant:
            regs[(child.district, model.month_index(child.birth))].append(known_month(child.registered))
    for months in regs.values():
        months.sort()
    lags: dict[int, list[int]] = defaultdict(list)
    for (_d, birth), months in regs.items():
        if birth >= cut.first_month:  # earlier births came in with the history import, not by lag
            lags[birth].extend(m - birth for m in months)
    dev = model.development(lags, cut.month)
    out = Cohorts(dict(regs))
    for district in {d for d, _ in regs}:
        mine = {b: months for (d, b), months in regs.items() if d == district}
        young = {b: [m - b for m in ms] for b, ms in mine.items() if b >= cut.first_month}
        sizes = model.cohort_sizes(young, cut.month, dev)
        sizes.update({b: float(len(ms)) for b, ms in mine.items() if b < cut.first_month})
        out.mature.update((district, b) for b in sizes if b < cut.first_month or dev.factor(cut.month - b) <= 1.25)
        out.levels[district] = model.level({b: v for b, v in sizes.items() if b >= cut.first_month}, cut.month)
        out.sizes.update({(district, b): v for b, v in sizes.items()})
    for key, value in (births or {}).items():
        out.sizes[key] = value
        out.mature.add(key)  # the given forecast is taken as it is
    return out


@dataclass(slots=True)
class Changes:
    """The change still to come, summed from the history (children, i.e. seat-months)."""

    by_age: dict[tuple[str, str, int, int, str], float] = field(default_factory=lambda: defaultdict(float))
    # the same, of the absolute changes (arrivals and departures both count): their Poisson variance
    gross_by_age: dict[tuple[str, str, int, int, str], float] = field(default_factory=lambda: defaultdict(float))
    # the same per month m' (the rolling-origin rates of `errors` need them month by month):
    # (district, age group, horizon) → (age, month) → [net per registered, net per not registered]
    monthly: dict[tuple[str, str, int], dict[tuple[int, int], list[float]]] = field(
        default_factory=lambda: defaultdict(lambda: defaultdict(lambda: [0.0, 0.0])))
    # (institution, age group, month, horizon) → the change that came there (the past errors' outcome)
    by_institution: dict[tuple[str, str, int, int], float] = field(default_factory=lambda: defaultdict(float))


def changes(history: History, cut: Cut) -> Changes:
    """Per (district, age group, age, horizon, standing): the seats that came after T' for month m'."""
    out = Changes()
    for booking in history.bookings.values():
        child = history.children.get(booking.child_id)
        district = history.districts.get(booking.institution_id)
        if child is None or district is None:
            continue
        versions = [(known_month(r), seat_months(s)) for r, s in booking.versions if r <= cut.instant]
        if versions:
            registered = known_month(child.registered)
            _add_booking(out, cut, (district, booking.institution_id), model.month_index(child.birth),
                         registered, versions)
    return out


def _add_booking(out: Changes, cut: Cut, where: tuple[str, str], birth: int, registered: int,
                 versions: list[tuple[int, dict[tuple[str, int], float]]]) -> None:
    district, institution = where
    final = versions[-1][1]
    keys = set(final).union(*(v for _, v in versions))
    for group, month in keys:
        if month > cut.complete:
            continue
        came = final.get((group, month), 0.0)
        for j in range(max(cut.first_month, month - HORIZON), month):
            known = _known(versions, j).get((group, month), 0.0)
            if came != known:
                standing = REGISTERED if registered <= j else UNREGISTERED
                out.by_age[(district, group, month - birth, month - j, standing)] += came - known
                out.gross_by_age[(district, group, month - birth, month - j, standing)] += abs(came - known)
                out.monthly[(district, group, month - j)][(month - birth, month)][standing == UNREGISTERED] += came - known
                out.by_institution[(institution, group, month, month - j)] += came - known


def _known(versions: list[tuple[int, dict]], month: int) -> dict:
    found: dict = {}
    for known_from, seats in versions:
        if known_from > month:
            break
        found = seats
    return found


@dataclass(slots=True)
class Rates:
    """Children still to come per child of a cohort, per district, age group and horizon."""

    # (d, g, h) → (age, net per registered child, net per birth, gross per registered child, gross per birth)
    per_child: dict[tuple[str, str, int], list[tuple[int, float, float, float, float]]]
    horizons: dict[int, int]  # asked horizon → the horizon whose rates serve it
    months_used: dict[int, int] = field(default_factory=dict)  # horizon → months of history behind its rates

    def to_come(self, cohorts: Cohorts, district: str, group: str, month: int, at: int
                ) -> tuple[float, float, float]:
        """The change still to come in `month` as seen at month `at`: net, gross (arrivals plus
        departures) and the part of the net that rests on birth months sized by the level."""
        h = self.horizons.get(month - at, max(self.horizons.values(), default=0))
        net = gross = on_level = 0.0
        for age, reg, unreg, reg_gross, unreg_gross in self.per_child.get((district, group, h), ()):
            known, size = cohorts.known_by(district, month - age, at), cohorts.size(district, month - age)
            net += reg * known + unreg * size
            gross += reg_gross * known + unreg_gross * size
            if (district, month - age) not in cohorts.mature:
                on_level += unreg * size
        return net, gross, on_level


def rate_months(cut: Cut, horizon: int, upto: int | None = None) -> range:
    """The months m' whose change at `horizon` the history holds (m' − horizon at or after its start)."""
    return range(cut.first_month + horizon, (cut.complete if upto is None else upto) + 1)


def exposure(cohorts: Cohorts, district: str, age: int, month: int, horizon: int) -> tuple[int, float]:
    """The children a rate of `month` at `horizon` and `age` is per: those of the birth month registered
    `horizon` months before, and the birth month's whole cohort."""
    birth = month - age
    return cohorts.known_by(district, birth, month - horizon), cohorts.size(district, birth)


def rates(found: Changes, cohorts: Cohorts, cut: Cut) -> Rates:
    """Ratios of the summed changes to the summed exposures over the same months."""
    months = {h: rate_months(cut, h) for h in range(1, HORIZON + 1)}
    grouped: dict[tuple[str, str, int], dict[int, list[float]]] = defaultdict(lambda: defaultdict(lambda: [0.0] * 4))
    for (d, g, age, h, standing), value in found.by_age.items():
        at = 0 if standing == REGISTERED else 1
        grouped[(d, g, h)][age][at] += value
        grouped[(d, g, h)][age][at + 2] += found.gross_by_age[(d, g, age, h, standing)]
    per_child = {}
    for (d, g, h), ages in grouped.items():
        row = []
        for age, (reg, unreg, reg_gross, unreg_gross) in sorted(ages.items()):
            exposed = [exposure(cohorts, d, age, m, h) for m in months[h]]
            exposure_reg, exposure_all = sum(e[0] for e in exposed), sum(e[1] for e in exposed)
            row.append((age, model.ratio(reg, exposure_reg), model.ratio(unreg, exposure_all),
                        model.ratio(reg_gross, exposure_reg), model.ratio(unreg_gross, exposure_all)))
        per_child[(d, g, h)] = row
    usable = [h for h in months if len(months[h]) >= MIN_MONTHS]
    horizons = {h: (h if h in usable else max((u for u in usable if u <= h), default=min(usable, default=h)))
                for h in months}
    return Rates(per_child, horizons, {h: len(ms) for h, ms in months.items()})


def institution_shares(history: History, cut: Cut) -> dict[tuple[str, str], float]:
    """(institution, age group) → its share of its district's seats booked in the last 12 months
    before the cut (where the children still to come will most likely go)."""
    return shares_by_origin(history, cut, range(cut.month, cut.month + 1)).get(cut.month, {})


def shares_by_origin(history: History, cut: Cut, origins: range) -> dict[int, dict[tuple[str, str], float]]:
    """The institution shares as they were at the end of each month j of `origins` (the bookings made
    in the 12 months up to j), from what the cut knew: one pass over the bookings."""
    booked: dict[int, dict[tuple[str, str], float]] = defaultdict(lambda: defaultdict(float))
    for booking in history.bookings.values():
        if not booking.versions or booking.versions[0][0] > cut.instant:
            continue
        made = known_month(booking.versions[0][0])
        per_group: dict[str, float] = defaultdict(float)
        for (group, _m), seats in seat_months(booking.versions[0][1]).items():
            per_group[group] += seats
        for j in range(max(made, origins.start), min(made + 12, origins.stop)):
            for group, seats in per_group.items():
                booked[j][(booking.institution_id, group)] += seats
    out = {}
    for j, seats_of in booked.items():
        totals: dict[tuple[str, str], float] = defaultdict(float)
        for (inst, group), seats in seats_of.items():
            totals[(history.districts.get(inst, ""), group)] += seats
        out[j] = {(inst, group): model.ratio(seats, totals[(history.districts.get(inst, ""), group)])
                  for (inst, group), seats in seats_of.items()}
    return out


def known_seats(history: History, cut: Cut, months: range) -> dict[tuple[str, str, int], float]:
    """(institution, age group, month) → children in care by the bookings known at the cut."""
    out: dict[tuple[str, str, int], float] = defaultdict(float)
    for booking in history.bookings.values():
        segments = booking.known_at(cut.instant)
        if segments:
            for (group, month), seats in seat_months(segments).items():
                if month in months:
                    out[(booking.institution_id, group, month)] += seats
    return out


def capacity(history: History, cut: Cut, months: range) -> dict[tuple[str, str, int], int]:
    """(institution, age group, month) → seats of all pools in force (the fewest on a day of the month)."""
    schedules: dict[tuple[str, str, str], dict[date, int]] = defaultdict(dict)
    for c in sorted(history.capacity, key=lambda c: c.recorded):
        if c.recorded <= cut.instant:
            schedules[(c.institution_id, c.age_group, c.pool)][c.effective_from] = c.seats
    out: dict[tuple[str, str, int], int] = defaultdict(int)
    for (inst, group, _pool), schedule in schedules.items():
        steps = sorted(schedule.items())
        for month in months:
            first, last = model.first_day(month), model.first_day(month + 1)
            in_force = [s for d, s in steps if d <= first][-1:] + [s for d, s in steps if first < d < last]
            if in_force:
                out[(inst, group, month)] += min(in_force)
    return out
