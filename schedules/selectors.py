"""Reads of treatment plans. `cycle_visits` is the interface the dosing app uses to find the
cycles whose dose sheets are due; it returns plain dataclasses, not models."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from django.db.models import Q, QuerySet, Subquery
from django.utils import translation
from django.utils.translation import gettext as _

from schedules import calendar
from schedules.models import (
    Booking,
    BookingStatus,
    EventKind,
    EventStatus,
    NationalCalendarYear,
    NationalDayKind,
    PlanStatus,
    ScheduledEvent,
    SiteClosure,
    SiteDay,
    SiteDayKind,
    TreatmentPlan,
)
from trialsite.i18n import drug_name, oral_course
from trialsite.models import Participant, ProtocolVersion, Site


@dataclass(frozen=True)
class CycleVisit:
    """A systemic-therapy cycle's day-1 visit."""

    participant_id: int
    site_id: int
    phase: str  # "neoadjuvant" | "adjuvant" (the protocol's systemic phases)
    cycle_number: int  # 1-based within the phase
    day1: dt.date  # the actual day 1 once given, else the planned one
    status: str  # "planned" | "booked" | "done" | "cancelled"


def cycle_visits(
    *,
    participant_ids: Iterable[int] | None = None,
    site_ids: Iterable[int] | None = None,
    day1_from: dt.date | None = None,
    day1_to: dt.date | None = None,
) -> list[CycleVisit]:
    """Cycle day-1 visits matching the filters, ordered by day 1 (one query)."""
    qs = ScheduledEvent.objects.filter(kind=EventKind.CYCLE_DAY1)
    if participant_ids is not None:
        qs = qs.filter(participant_id__in=list(participant_ids))
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    # day 1 = actual date once given, else the planned date.
    if day1_from is not None:
        qs = qs.filter(Q(actual_date__gte=day1_from) | Q(actual_date__isnull=True, planned_date__gte=day1_from))
    if day1_to is not None:
        qs = qs.filter(Q(actual_date__lte=day1_to) | Q(actual_date__isnull=True, planned_date__lte=day1_to))
    rows = qs.values_list("participant_id", "site_id", "phase", "number", "actual_date", "planned_date", "status")
    visits = [
        CycleVisit(
            participant_id=pid, site_id=sid, phase=phase, cycle_number=number, day1=actual or planned, status=status
        )
        for pid, sid, phase, number, actual, planned, status in rows
    ]
    visits.sort(key=lambda v: (v.day1, v.participant_id, v.phase, v.cycle_number))
    return visits


@lru_cache(maxsize=32)
def _rules_cached(version_id: int, sha256: str) -> calendar.ScheduleRules:
    definition = ProtocolVersion.objects.values_list("definition", flat=True).get(pk=version_id)
    return calendar.ScheduleRules.from_definition(definition)


def schedule_rules(protocol_version_id: int) -> calendar.ScheduleRules:
    """The schedule rules of a protocol version. A loaded version never changes (its SHA-256 is
    part of the cache key all the same, so a test database reusing ids cannot read stale rules)."""
    sha = ProtocolVersion.objects.values_list("sha256", flat=True).get(pk=protocol_version_id)
    return _rules_cached(protocol_version_id, sha)


def national_notices(country: str, years: Iterable[int]) -> dict[int, calendar.NationalYear]:
    """The published national calendars (NationalCalendarYear) of `country` for `years`."""
    # One query (a LEFT JOIN): a year recorded without days still overrides the package.
    found: dict[int, tuple[set[dt.date], set[dt.date]]] = {}
    rows = NationalCalendarYear.objects.filter(country=country, year__in=list(years)).values_list(
        "year", "days__date", "days__kind"
    )
    for year, day, kind in rows:
        holidays, workdays = found.setdefault(year, (set(), set()))
        if day is not None:
            (workdays if kind == NationalDayKind.WORKING else holidays).add(day)
    return {y: calendar.NationalYear(y, frozenset(h), frozenset(w)) for y, (h, w) in found.items()}


def working_calendar(site: Site, years: Iterable[int]) -> calendar.WorkingCalendar:
    """The site's working days for `years`: its country's calendar (a loaded State Council
    notice where there is one, else the `holidays` package), its closures and its own make-up
    working days."""
    years = list(years)
    closures: list[dt.date] = []
    workdays: list[dt.date] = []
    for day, kind in SiteClosure.objects.filter(
        site=site, date__gte=dt.date(min(years), 1, 1), date__lte=dt.date(max(years), 12, 31)
    ).values_list("date", "kind"):
        (workdays if kind == SiteDayKind.WORKING else closures).append(day)
    country = site.country or "CN"
    return calendar.public_calendar(
        country, years, closures, notices=national_notices(country, years), site_workdays=workdays
    )


def plans_to_recheck(*, site_ids: Iterable[int] | None, date_from: dt.date, date_to: dt.date) -> list[int]:
    """Ids of the active plans with an open event whose window or planned date touches
    [date_from, date_to]: the plans a calendar change on those days can move."""
    qs = ScheduledEvent.objects.filter(
        status__in=[EventStatus.PLANNED, EventStatus.BOOKED], plan__status="active"
    ).filter(
        Q(window_start__lte=date_to, window_end__gte=date_from)
        | Q(planned_date__gte=date_from, planned_date__lte=date_to)
    )
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    return sorted(set(qs.values_list("plan_id", flat=True)))


def booked_on_non_working_days(site: Site, *, date_from: dt.date, date_to: dt.date) -> list[Booking]:
    """Active bookings of `site` on days it no longer works (a closure or notice recorded after
    they were made): a person must move them."""
    bookings = list(
        Booking.objects.filter(site=site, status=BookingStatus.ACTIVE, date__gte=date_from, date__lte=date_to)
        .select_related("participant", "event")
        .order_by("date", "time")
    )
    if not bookings:
        return []
    cal = working_calendar(site, range(date_from.year, date_to.year + 1))
    return [b for b in bookings if not cal.is_working_day(b.date)]


def plan_events(participant_id: int) -> QuerySet[ScheduledEvent]:
    """A participant's events in protocol order, each with its active booking prefetched."""
    from django.db.models import Prefetch

    return (
        ScheduledEvent.objects.filter(participant_id=participant_id)
        .select_related("site", "participant")
        .order_by("order")
        .prefetch_related(
            Prefetch(
                "bookings", queryset=Booking.objects.filter(status=BookingStatus.ACTIVE), to_attr="active_bookings"
            )
        )
    )


def site_day(site: Site, day: dt.date) -> dict[str, Any]:
    """Who comes in on `day` at `site`, and how many infusion chairs are left."""
    return site_days(site, [day])[0]


def site_days(site: Site, days: Sequence[dt.date]) -> list[dict[str, Any]]:
    """`site_day` for each of `days` (the calendar's week) in four queries over their range, not
    four per day (issue 16: 28 of the week view's 38 queries)."""
    first, last = min(days), max(days)
    bookings: dict[dt.date, list[Booking]] = defaultdict(list)
    for booking in (
        Booking.objects.filter(site=site, date__gte=first, date__lte=last, status=BookingStatus.ACTIVE)
        .select_related("participant", "event")
        .order_by("time", "id")
    ):
        bookings[booking.date].append(booking)
    planned: dict[dt.date, list[ScheduledEvent]] = defaultdict(list)
    for event in (
        ScheduledEvent.objects.filter(
            site=site, planned_date__gte=first, planned_date__lte=last, status=EventStatus.PLANNED
        )
        .select_related("participant")
        .order_by("order", "id")
    ):
        planned[event.planned_date].append(event)
    used = dict(SiteDay.objects.filter(site=site, date__gte=first, date__lte=last).values_list("date", "infusions"))
    closures: dict[dt.date, SiteClosure] = {}
    for closure in SiteClosure.objects.filter(site=site, date__gte=first, date__lte=last).order_by("id"):
        closures.setdefault(closure.date, closure)
    return [
        {
            "date": day,
            "bookings": bookings.get(day, []),
            "unbooked": planned.get(day, []),
            "chairs": site.infusion_chairs_per_day,
            "chairs_left": max(site.infusion_chairs_per_day - (used.get(day) or 0), 0),
            "closed": closures.get(day),
        }
        for day in days
    ]


def windows_closing_unbooked(site: Site, *, today: dt.date, within_days: int = 7) -> QuerySet[ScheduledEvent]:
    """Cycle day-1 visits whose window closes within `within_days` and that nobody booked yet."""
    return (
        ScheduledEvent.objects.filter(
            site=site,
            kind=EventKind.CYCLE_DAY1,
            status=EventStatus.PLANNED,
            window_end__gte=today,
            window_end__lte=today + dt.timedelta(days=within_days),
        )
        .select_related("participant")
        .order_by("window_end")
    )


def active_booking(event: ScheduledEvent) -> Booking | None:
    """The event's active booking, from the `active_bookings` prefetch of plan_events/site_events."""
    found = getattr(event, "active_bookings", None)
    if found is None:
        return event.bookings.filter(status=BookingStatus.ACTIVE).first()
    return found[0] if found else None


def site_events(site_ids: Iterable[int], *, date_from: dt.date, date_to: dt.date) -> QuerySet[ScheduledEvent]:
    """The events of the sites' participants between two dates, for the staff feed."""
    from django.db.models import Prefetch

    return (
        ScheduledEvent.objects.filter(
            site_id__in=list(site_ids), planned_date__gte=date_from, planned_date__lte=date_to
        )
        .select_related("participant", "site")
        .prefetch_related(
            Prefetch(
                "bookings", queryset=Booking.objects.filter(status=BookingStatus.ACTIVE), to_attr="active_bookings"
            )
        )
        .order_by("planned_date", "site_id", "participant_id", "order")
    )


def feed_last_day(site_ids: Iterable[int], *, date_from: dt.date, date_to: dt.date, max_events: int) -> dt.date:
    """The last day the staff feed can show whole without holding more than `max_events` events:
    `date_to` when the window holds no more, else the day before the first day that would pass
    the bound (at least `date_from`, so the feed never comes out empty for a busy first day).
    One indexed query (site, planned date)."""
    beyond = list(
        ScheduledEvent.objects.filter(
            site_id__in=list(site_ids), planned_date__gte=date_from, planned_date__lte=date_to
        )
        .order_by("planned_date")
        .values_list("planned_date", flat=True)[max_events : max_events + 1]
    )
    if not beyond:
        return date_to
    return max(beyond[0] - dt.timedelta(days=1), date_from)


def site_events_version(site_ids: Iterable[int], *, date_from: dt.date, date_to: dt.date) -> tuple[Any, ...]:
    """What changes whenever the staff feed of these sites and dates would change: one aggregate
    query instead of rendering. Every change a calendar client must see raises the event's
    `ics_sequence` (RFC 5545 SEQUENCE), including the bulk updates that skip `updated_at`; an
    event that appears or goes changes the count and the newest id."""
    from django.db.models import Count, Max, Sum

    row = ScheduledEvent.objects.filter(
        site_id__in=list(site_ids), planned_date__gte=date_from, planned_date__lte=date_to
    ).aggregate(n=Count("id"), seq=Sum("ics_sequence"), newest=Max("id"), changed=Max("updated_at"))
    return (row["n"], row["seq"], row["newest"], row["changed"].isoformat() if row["changed"] else None)


def feed_events(events: Iterable[ScheduledEvent], *, staff: bool) -> list[Any]:
    """ScheduledEvents as iCalendar items, in the active language. The staff feed names the
    participant by screening number only: calendar apps sync to phones and third-party servers."""
    from schedules.ics import FeedEvent

    out = []
    for event in events:
        booking = active_booking(event)
        summary = event.label
        if staff:
            summary = f"{event.participant.screening_number}: {summary}"
        description = _("window %(start)s – %(end)s") % {
            "start": event.window_start.isoformat(),
            "end": event.window_end.isoformat(),
        }
        if event.details.get("day1_drugs"):
            drugs = ", ".join(drug_name(d) for d in event.details["day1_drugs"])
            description += "; " + _("day 1: %(drugs)s") % {"drugs": drugs}
        for oral in event.details.get("oral", []):
            description += f"; {oral_course(oral)}"
        out.append(
            FeedEvent(
                uid=str(event.uid),
                sequence=event.ics_sequence,
                kind=event.kind,
                status=event.status,
                summary=summary,
                description=description,
                day=event.actual_date or (booking.date if booking else event.planned_date),
                time=booking.time if booking and not event.actual_date else None,
                time_zone=event.site.time_zone,
                location=event.site.name_in(translation.get_language()),
                last_modified=event.updated_at,
            )
        )
    return out


def site_month(site: Site, *, first: dt.date, last: dt.date) -> dict[dt.date, dict[str, Any]]:
    """Per day from `first` to `last` at `site`: active bookings, events planned and not booked,
    infusion chairs left and the closure, in four queries (grouped counts, not a query per day)."""
    from django.db.models import Count

    booked = dict(
        Booking.objects.filter(site=site, date__gte=first, date__lte=last, status=BookingStatus.ACTIVE)
        .values_list("date")
        .annotate(n=Count("id"))
        .values_list("date", "n")
    )
    planned = dict(
        ScheduledEvent.objects.filter(
            site=site, planned_date__gte=first, planned_date__lte=last, status=EventStatus.PLANNED
        )
        .values_list("planned_date")
        .annotate(n=Count("id"))
        .values_list("planned_date", "n")
    )
    used = dict(SiteDay.objects.filter(site=site, date__gte=first, date__lte=last).values_list("date", "infusions"))
    closed = dict(SiteClosure.objects.filter(site=site, date__gte=first, date__lte=last).values_list("date", "reason"))
    out: dict[dt.date, dict[str, Any]] = {}
    day = first
    while day <= last:
        out[day] = {
            "date": day,
            "booked": booked.get(day, 0),
            "planned": planned.get(day, 0),
            "chairs_left": max(site.infusion_chairs_per_day - used.get(day, 0), 0),
            "closed": closed.get(day),
        }
        day += dt.timedelta(days=1)
    return out


# --- Reads of the floors above (reminders) --------------------------------------------------


def event_kind_name(code: str) -> str:
    """An event kind's name in the active language (a code no longer known: the code)."""
    return str(EventKind(code).label) if code in EventKind.values else code


def plan_status(participant_id: int) -> str | None:
    """The participant's plan's status ("active", "stopped"), None without a plan."""
    return TreatmentPlan.objects.filter(participant_id=participant_id).values_list("status", flat=True).first()


def participants_with_active_plan(trial_id: int) -> QuerySet[Participant]:
    return Participant.objects.filter(trial_id=trial_id, treatment_plan__status=PlanStatus.ACTIVE)


def reminder_events(participant_id: int, event_ids: Iterable[int] | None = None) -> QuerySet[ScheduledEvent]:
    """The participant's events with what a reminder needs (kind, number, date, status, details)."""
    rows = ScheduledEvent.objects.filter(participant_id=participant_id)
    if event_ids is not None:
        rows = rows.filter(pk__in=list(event_ids))
    return rows.only("pk", "kind", "number", "planned_date", "actual_date", "status", "details")


def active_booking_time(event: Any) -> Subquery:
    """The time of the event's active booking as a subquery (`event`: an OuterRef), so a list of
    rows pointing at events reads their booking times in the same query."""
    return Subquery(Booking.objects.filter(event=event, status=BookingStatus.ACTIVE).values("time")[:1])


def nurse_digest_events(site: Site, *, today: dt.date, closing_days: int) -> dict[str, list[ScheduledEvent]]:
    """A research nurse's morning: tomorrow's open visits, unbooked cycles whose window closes
    within `closing_days`, and pre-cycle labs that are overdue."""
    events = ScheduledEvent.objects.filter(
        site=site, status__in=[EventStatus.PLANNED, EventStatus.BOOKED]
    ).select_related("participant")
    return {
        "tomorrow": list(events.filter(planned_date=today + dt.timedelta(days=1)).order_by("kind", "participant")),
        "closing_unbooked": list(
            events.filter(
                kind=EventKind.CYCLE_DAY1,
                status=EventStatus.PLANNED,
                window_end__gte=today,
                window_end__lte=today + dt.timedelta(days=closing_days),
            ).order_by("window_end", "participant")
        ),
        "overdue_labs": list(
            events.filter(kind=EventKind.PRE_CYCLE_LABS, planned_date__lt=today).order_by("planned_date", "participant")
        ),
    }
