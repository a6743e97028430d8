"""Treatment-calendar arithmetic, without Django.

Working days come from a `WorkingCalendar` that the caller builds (public holidays, official
make-up working days and the site's own closures) and passes in, so every function here is a
plain function of its arguments. `build_plan` turns a protocol's schedule rules, an arm, an SCRT
start date and the dates already fixed (actual dates, delays, bookings) into the whole plan; a
delay or a booking is handled by calling it again with one more fixed date, so the Q3W rhythm
always restarts from the last real day 1.
"""

from __future__ import annotations

import calendar as _stdlib_calendar
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

import holidays

from trialsite import courses

ONE_DAY = dt.timedelta(days=1)
# No real closure (Spring Festival, National Day) lasts longer than this; a longer search means
# a misconfigured calendar (e.g. a site closed for a year), which must fail loudly.
MAX_SEARCH_DAYS = 366


class CalendarError(ValueError):
    """A date question the calendar cannot answer (e.g. no working day within a year)."""


class ScrtStartRefused(ValueError):
    """The SCRT start date cannot deliver all fractions within the maximum overall time."""

    def __init__(self, message: str, *, reason: str, next_start: dt.date | None) -> None:
        super().__init__(message)
        self.reason = reason
        self.next_start = next_start


# --- Working days --------------------------------------------------------------------------


@dataclass(frozen=True)
class WorkingCalendar:
    """Which days a site works: Monday–Friday, minus public holidays and site closures, plus the
    official make-up working days that fall on a weekend (调休上班)."""

    holidays: frozenset[dt.date] = frozenset()
    weekend_workdays: frozenset[dt.date] = frozenset()
    closures: frozenset[dt.date] = frozenset()
    # The site's own make-up working days: days the national calendar has off that it works.
    site_workdays: frozenset[dt.date] = frozenset()

    def is_working_day(self, day: dt.date) -> bool:
        if day in self.closures:
            return False
        if day in self.site_workdays:
            return True
        if day.weekday() >= 5:
            return day in self.weekend_workdays
        return day not in self.holidays

    def next_working_day(self, day: dt.date, *, include: bool = True) -> dt.date:
        """The first working day on or after `day` (strictly after it when include=False)."""
        current = day if include else day + ONE_DAY
        for _ in range(MAX_SEARCH_DAYS):
            if self.is_working_day(current):
                return current
            current += ONE_DAY
        raise CalendarError(f"No working day within a year after {day.isoformat()}.")

    def previous_working_day(self, day: dt.date, *, include: bool = True) -> dt.date:
        current = day if include else day - ONE_DAY
        for _ in range(MAX_SEARCH_DAYS):
            if self.is_working_day(current):
                return current
            current -= ONE_DAY
        raise CalendarError(f"No working day within a year before {day.isoformat()}.")

    def consecutive_working_days(self, start: dt.date, count: int) -> list[dt.date]:
        """`count` working days, the first on or after `start`, each the next working day."""
        days = [self.next_working_day(start)]
        while len(days) < count:
            days.append(self.next_working_day(days[-1], include=False))
        return days

    def with_closures(self, closures: Iterable[dt.date]) -> WorkingCalendar:
        return WorkingCalendar(
            self.holidays, self.weekend_workdays, self.closures | frozenset(closures), self.site_workdays
        )

    def nearest_working_days(self, window: tuple[dt.date, dt.date]) -> tuple[dt.date, dt.date] | None:
        """None when the window has a working day; else the last working day before it and the
        first after it (a cycle window inside the Spring Festival has none)."""
        start, end = window
        day = start
        while day <= end:
            if self.is_working_day(day):
                return None
            day += ONE_DAY
        return self.previous_working_day(start, include=False), self.next_working_day(end, include=False)


@dataclass(frozen=True)
class NationalYear:
    """A government's published calendar for one year: its days off and its weekend days that
    become working days. It replaces the `holidays` package for that year."""

    year: int
    holidays: frozenset[dt.date]
    weekend_workdays: frozenset[dt.date]


@lru_cache(maxsize=64)
def _public_days(country: str, years: tuple[int, ...]) -> tuple[frozenset[dt.date], frozenset[dt.date]]:
    if not years:
        return frozenset(), frozenset()
    table = holidays.country_holidays(country, years=years)
    # The package's make-up working days are one list for every year it knows: keep the asked ones.
    workdays = {d for d in getattr(table, "weekend_workdays", set()) if d.year in years}
    return frozenset(d for d in table if d.year in years), frozenset(workdays)


def public_calendar(
    country: str,
    years: Iterable[int],
    closures: Iterable[dt.date] = (),
    *,
    notices: Mapping[int, NationalYear] | None = None,
    site_workdays: Iterable[dt.date] = (),
) -> WorkingCalendar:
    """The working calendar of `country` for `years`: each year from its published notice when
    `notices` has it, else from the `holidays` package; plus the site's closures and its own
    make-up working days.

    For China (CN) the package follows the State Council General Office's yearly notice
    (国务院办公厅关于部分节假日安排的通知), including the make-up working days on weekends
    (`weekend_workdays`), but only from the package release after the notice (it appears each
    November for the next year); until then a year has the statutory holidays only, which is
    why an administrator can load the notice itself (`notices`)."""
    notices = notices or {}
    wanted = sorted(set(years))
    public, workdays = _public_days(country, tuple(y for y in wanted if y not in notices))
    for year in wanted:
        if year in notices:
            public |= notices[year].holidays
            workdays |= notices[year].weekend_workdays
    return WorkingCalendar(public, workdays, frozenset(closures), frozenset(site_workdays))


# --- Small date helpers --------------------------------------------------------------------


def add_months(day: dt.date, months: int) -> dt.date:
    """`day` plus whole months, clamped to the month's last day (31 Jan + 1 month = 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    last = _stdlib_calendar.monthrange(year, month)[1]
    return dt.date(year, month, min(day.day, last))


def snap_to_working_day(target: dt.date, window: tuple[dt.date, dt.date], cal: WorkingCalendar) -> dt.date:
    """The planned date for a `target` that may fall on a non-working day: the next working day
    if it is still inside the window, else the last working day before the target inside the
    window, else (a holiday longer than the window) the next working day after all."""
    start, end = window
    after = cal.next_working_day(target)
    if after <= end:
        return after
    before = cal.previous_working_day(target)
    if before >= start:
        return before
    return after


# --- SCRT ----------------------------------------------------------------------------------


def scrt_fraction_dates(
    start: dt.date, *, fractions: int, max_overall_days: int, cal: WorkingCalendar
) -> list[dt.date]:
    """The fraction dates of SCRT started on `start`: consecutive working days, all within
    `max_overall_days` calendar days. Raises ScrtStartRefused with the next start that works."""
    if not cal.is_working_day(start):
        raise ScrtStartRefused(
            f"{start.isoformat()} is not a working day at the site.",
            reason="not_working_day",
            next_start=next_scrt_start(start, fractions=fractions, max_overall_days=max_overall_days, cal=cal),
        )
    days = cal.consecutive_working_days(start, fractions)
    if (days[-1] - days[0]).days + 1 > max_overall_days:
        raise ScrtStartRefused(
            f"Starting on {start.isoformat()}, the {fractions} fractions would take "
            f"{(days[-1] - days[0]).days + 1} days (maximum {max_overall_days}).",
            reason="overall_time_exceeded",
            next_start=next_scrt_start(start, fractions=fractions, max_overall_days=max_overall_days, cal=cal),
        )
    return days


def scrt_overall_days(dates: Iterable[dt.date]) -> int:
    """Calendar days from the first fraction to the last, both counted (Mon–Fri is 5 days)."""
    days = sorted(dates)
    return (days[-1] - days[0]).days + 1 if days else 0


def next_scrt_start(after: dt.date, *, fractions: int, max_overall_days: int, cal: WorkingCalendar) -> dt.date | None:
    """The first start date on or after `after` that delivers all fractions in time."""
    day = after
    for _ in range(MAX_SEARCH_DAYS):
        if cal.is_working_day(day):
            days = cal.consecutive_working_days(day, fractions)
            if (days[-1] - day).days + 1 <= max_overall_days:
                return day
        day += ONE_DAY
    return None


# --- Schedule rules (parsed from the protocol definition) ----------------------------------


@dataclass(frozen=True)
class StartRule:
    """When a phase starts, counted in days from the end of the phase before it."""

    after: str
    target_days: int
    min_days: int
    max_days: int


@dataclass(frozen=True)
class Phase:
    code: str
    kind: str  # radiotherapy | systemic | surgery
    fractions: int = 0
    cycles: int = 0
    cycle_length_days: int = 0
    start: StartRule | None = None


@dataclass(frozen=True)
class ScheduleRules:
    phases: tuple[Phase, ...]
    scrt_max_overall_days: int
    day1_before_days: int
    day1_after_days: int
    labs_days_before: int
    restaging_after_phase: str | None
    restaging_days_after_last_day1: int
    restaging_window_days: int
    delay_days: int
    follow_up_months: tuple[int, ...]
    follow_up_window_days: int
    # arm → phase → drug codes; drug → (route, last day of the cycle it is given on)
    regimens: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)
    drug_days: Mapping[str, tuple[str, int]] = field(default_factory=dict)
    # drug → its course in a cycle (trialsite.courses: first/last administration), if the protocol gives one
    drug_courses: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)

    @classmethod
    def from_definition(cls, definition: Mapping[str, Any]) -> ScheduleRules:
        sched = definition.get("schedule", {})
        starts = sched.get("phase_starts", {})
        phases = []
        for spec in definition["phases"]:
            rule = starts.get(spec["code"])
            phases.append(
                Phase(
                    code=spec["code"],
                    kind=spec["kind"],
                    fractions=int(spec.get("fractions", 0)),
                    cycles=int(spec.get("cycles", 0)),
                    cycle_length_days=int(spec.get("cycle_length_days", 0)),
                    start=(
                        StartRule(
                            after=rule["after"],
                            target_days=int(rule["target_days"]),
                            min_days=int(rule["min_days"]),
                            max_days=int(rule["max_days"]),
                        )
                        if rule
                        else None
                    ),
                )
            )
        window = sched.get("cycle_day1_window", {})
        restaging = sched.get("restaging", {})
        fu = sched.get("follow_up", {})
        months = _follow_up_months(
            int(fu.get("every_months_first_2_years", 0)),
            int(fu.get("every_months_years_3_to_5", 0)),
            int(fu.get("until_years", 0)),
        )
        return cls(
            phases=tuple(phases),
            scrt_max_overall_days=int(sched.get("scrt", {}).get("max_overall_days", 8)),
            day1_before_days=int(window.get("before_days", 3)),
            day1_after_days=int(window.get("after_days", 3)),
            labs_days_before=int(sched.get("pre_cycle_labs", {}).get("days_before_day1", 3)),
            restaging_after_phase=restaging.get("after_phase"),
            restaging_days_after_last_day1=int(restaging.get("days_after_last_day1", 21)),
            restaging_window_days=int(restaging.get("window_days", 7)),
            delay_days=int(sched.get("day1_criteria", {}).get("delay_days", 7)),
            follow_up_months=months,
            follow_up_window_days=int(fu.get("window_days", 14)),
            regimens=definition.get("regimens", {}),
            drug_days={code: (d["route"], max(d["days"])) for code, d in definition.get("drugs", {}).items()},
            drug_courses={
                code: course
                for code, d in definition.get("drugs", {}).items()
                if (course := courses.administration_course(d)) is not None
            },
        )

    @property
    def radiotherapy(self) -> Phase | None:
        return next((p for p in self.phases if p.kind == "radiotherapy"), None)


def _follow_up_months(first_every: int, later_every: int, until_years: int) -> tuple[int, ...]:
    """Months after the end of treatment: every `first_every` for 2 years, then every
    `later_every` until `until_years` (3, 6, …, 24, 30, …, 60 for NCCN/CSCO surveillance)."""
    if not until_years:
        return ()
    months: list[int] = []
    m = 0
    while first_every and m + first_every <= min(24, until_years * 12):
        m += first_every
        months.append(m)
    while later_every and m + later_every <= until_years * 12:
        m += later_every
        months.append(m)
    return tuple(months)


# --- The plan ------------------------------------------------------------------------------

FRACTION = "scrt_fraction"
CYCLE_DAY1 = "cycle_day1"
LABS = "pre_cycle_labs"
RESTAGING = "restaging"
SURGERY = "surgery"
FOLLOW_UP = "follow_up"
EVENT_KINDS = (FRACTION, LABS, CYCLE_DAY1, RESTAGING, SURGERY, FOLLOW_UP)


@dataclass(frozen=True, order=True)
class EventKey:
    """Identifies an event within a plan across re-plannings (phase "" for follow-up)."""

    kind: str
    phase: str
    number: int


@dataclass(frozen=True)
class Fixed:
    """A date a person fixed: an actual date or a booking (`recentre=False`: the window stays
    where the protocol put it) or a delay (`recentre=True`: the delayed date becomes the target
    and the window moves with it)."""

    day: dt.date
    recentre: bool = False


@dataclass(frozen=True)
class PlannedEvent:
    key: EventKey
    order: int
    target: dt.date
    window_start: dt.date
    window_end: dt.date
    planned: dt.date
    details: Mapping[str, Any]


def build_plan(
    rules: ScheduleRules,
    *,
    arm: str,
    scrt_start: dt.date,
    cal: WorkingCalendar,
    fixed: Mapping[EventKey, Fixed] | None = None,
) -> list[PlannedEvent]:
    """Every event of the plan, in chronological order of the protocol.

    Each date derives from the effective date of the event before it (its fixed date if there is
    one, else its planned date), so fixing or delaying one event moves everything after it."""
    fixed = fixed or {}
    events: list[PlannedEvent] = []
    phase_end: dict[str, dt.date] = {}
    previous_end: dt.date | None = None

    def add(key: EventKey, target: dt.date, window: tuple[dt.date, dt.date], details: Mapping[str, Any]) -> dt.date:
        pinned = fixed.get(key)
        if pinned is not None and pinned.recentre:
            # A delay: the delayed date is the new target, and the window keeps its shape around it.
            before, after = max(target - window[0], dt.timedelta(0)), max(window[1] - target, dt.timedelta(0))
            target = pinned.day
            window = (target - before, target + after)
        planned = pinned.day if pinned is not None else snap_to_working_day(target, window, cal)
        events.append(PlannedEvent(key, len(events), target, window[0], window[1], planned, details))
        return planned

    for phase in rules.phases:
        if phase.kind == "radiotherapy":
            first = fixed.get(EventKey(FRACTION, phase.code, 1))
            if first is not None:
                # Fraction 1 was given (or booked): the start is a fact, not a choice to check
                # again (a closure recorded later on that day must not break the plan). Later
                # fractions follow from the effective date before them, below.
                dates = [first.day] * phase.fractions
            else:
                dates = scrt_fraction_dates(
                    scrt_start, fractions=phase.fractions, max_overall_days=rules.scrt_max_overall_days, cal=cal
                )
            effective: dt.date | None = None
            for number, day in enumerate(dates, start=1):
                if effective is not None:
                    day = cal.next_working_day(effective, include=False)
                key = EventKey(FRACTION, phase.code, number)
                effective = add(key, day, (day, day), {"fraction": number, "of": phase.fractions})
            assert effective is not None
            previous_end = effective
        elif phase.kind == "systemic":
            drugs = list(rules.regimens.get(arm, {}).get(phase.code, []))
            day1: dt.date | None = None
            for number in range(1, phase.cycles + 1):
                if day1 is None:
                    start_from = _start_reference(phase, phase_end, previous_end, scrt_start)
                    rule = phase.start or StartRule("", 0, 0, 0)
                    target = start_from + dt.timedelta(days=rule.target_days)
                    window = (
                        start_from + dt.timedelta(days=rule.min_days),
                        start_from + dt.timedelta(days=rule.max_days),
                    )
                else:
                    target = day1 + dt.timedelta(days=phase.cycle_length_days)
                    window = (
                        target - dt.timedelta(days=rules.day1_before_days),
                        target + dt.timedelta(days=rules.day1_after_days),
                    )
                key = EventKey(CYCLE_DAY1, phase.code, number)
                # Labs are planned against the day 1 they serve; compute day 1 first, then insert
                # the labs before it so the list stays chronological.
                day1 = add(key, target, window, {})
                cycle_event = events.pop()
                labs_target = day1 - dt.timedelta(days=rules.labs_days_before)
                labs_window = (labs_target, day1)
                labs_key = EventKey(LABS, phase.code, number)
                pinned_labs = fixed.get(labs_key)
                labs_planned = pinned_labs.day if pinned_labs else _latest_working_day_before(day1, labs_window, cal)
                events.append(
                    PlannedEvent(labs_key, len(events), labs_target, labs_window[0], labs_window[1], labs_planned, {})
                )
                details = {
                    "drugs": drugs,
                    "day1_drugs": [d for d in drugs if rules.drug_days.get(d, ("", 1))[0] != "oral"],
                    "oral": [
                        _oral_entry(rules, d, day1) for d in drugs if rules.drug_days.get(d, ("", 1))[0] == "oral"
                    ],
                    "cycle_end": (day1 + dt.timedelta(days=phase.cycle_length_days - 1)).isoformat(),
                }
                events.append(
                    PlannedEvent(
                        cycle_event.key,
                        len(events),
                        cycle_event.target,
                        cycle_event.window_start,
                        cycle_event.window_end,
                        cycle_event.planned,
                        details,
                    )
                )
            assert day1 is not None
            previous_end = day1 + dt.timedelta(days=phase.cycle_length_days - 1)
            if rules.restaging_after_phase == phase.code:
                target = day1 + dt.timedelta(days=rules.restaging_days_after_last_day1)
                w = dt.timedelta(days=rules.restaging_window_days)
                add(EventKey(RESTAGING, phase.code, 1), target, (target - w, target + w), {})
        elif phase.kind == "surgery":
            start_from = _start_reference(phase, phase_end, previous_end, scrt_start)
            rule = phase.start or StartRule("", 0, 0, 0)
            target = start_from + dt.timedelta(days=rule.target_days)
            window = (start_from + dt.timedelta(days=rule.min_days), start_from + dt.timedelta(days=rule.max_days))
            previous_end = add(EventKey(SURGERY, phase.code, 1), target, window, {})
        assert previous_end is not None
        phase_end[phase.code] = previous_end

    if previous_end is not None:
        w = dt.timedelta(days=rules.follow_up_window_days)
        for number, months in enumerate(rules.follow_up_months, start=1):
            target = add_months(previous_end, months)
            add(EventKey(FOLLOW_UP, "", number), target, (target - w, target + w), {"months": months})
    return [_flag_empty_window(event, cal) for event in events]


# details key of an event whose window has no working day at the site.
NO_WORKING_DAY = "no_working_day_in_window"


def _flag_empty_window(event: PlannedEvent, cal: WorkingCalendar) -> PlannedEvent:
    """Mark an event whose whole window is non-working (SCRT from 16 or 19 January 2026 puts
    cycle 2's window inside the Spring Festival): the nearest working days either side, and the
    date the plan chose for it (`planned`, which is outside the window, so booking it is the
    plan's doing, not a protocol deviation someone must record)."""
    nearest = cal.nearest_working_days((event.window_start, event.window_end))
    if nearest is None:
        return event
    chosen = snap_to_working_day(event.target, (event.window_start, event.window_end), cal)
    flag = {"before": nearest[0].isoformat(), "after": nearest[1].isoformat(), "planned": chosen.isoformat()}
    return PlannedEvent(
        event.key,
        event.order,
        event.target,
        event.window_start,
        event.window_end,
        event.planned,
        {**event.details, NO_WORKING_DAY: flag},
    )


def plan_choice_outside_window(details: Mapping[str, Any], day: dt.date) -> bool:
    """Whether `day` is the date the plan itself chose for an event whose window has no working
    day (see _flag_empty_window): booking it needs no protocol deviation."""
    flag = details.get(NO_WORKING_DAY) or {}
    return bool(flag.get("planned") == day.isoformat())


def _start_reference(
    phase: Phase, phase_end: Mapping[str, dt.date], previous_end: dt.date | None, scrt_start: dt.date
) -> dt.date:
    if phase.start is not None and phase.start.after in phase_end:
        return phase_end[phase.start.after]
    return previous_end or scrt_start


def _latest_working_day_before(day1: dt.date, window: tuple[dt.date, dt.date], cal: WorkingCalendar) -> dt.date:
    """Labs on the last working day before day 1 inside the window, else on day 1 itself."""
    day = day1 - ONE_DAY
    while day >= window[0]:
        if cal.is_working_day(day):
            return day
        day -= ONE_DAY
    return day1


def plan_years(scrt_start: dt.date, rules: ScheduleRules) -> range:
    """The calendar years a plan can touch (treatment plus follow-up, with a year's slack for
    delays), for loading the holiday table once."""
    span = 2 + max(rules.follow_up_months or (0,)) // 12
    return range(scrt_start.year, scrt_start.year + span + 1)


def _oral_entry(rules: ScheduleRules, drug: str, day1: dt.date) -> dict[str, Any]:
    """An oral drug's dates in a cycle: from its first to its last administration when the
    protocol gives them (capecitabine: evening of day 1 to morning of day 15), else its days."""
    course = rules.drug_courses.get(drug)
    if course is None:
        return {
            "drug": drug,
            "from": day1.isoformat(),
            "to": (day1 + dt.timedelta(days=rules.drug_days[drug][1] - 1)).isoformat(),
        }
    return {
        "drug": drug,
        "from": (day1 + dt.timedelta(days=course["first_day"] - 1)).isoformat(),
        "to": (day1 + dt.timedelta(days=course["last_day"] - 1)).isoformat(),
        "course": dict(course),
    }
