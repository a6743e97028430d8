"""The schedules app's sections of the research nurse's worklist (trialsite/worklists.py): today's
and tomorrow's visits, cycles whose window closes soon without a booking, overdue labs."""

from __future__ import annotations

import datetime as dt

from django.db.models import Exists, OuterRef, Prefetch, QuerySet
from django.utils.translation import gettext_lazy as _

from schedules.models import Booking, BookingStatus, EventKind, EventStatus, ScheduledEvent
from trialsite import roles
from trialsite.models import OFF_STUDY_STATUSES, LabResult
from trialsite.worklists import Rows, Scope, Section, bounded, register

NURSES = roles.roles_holding("schedules.change_scheduledevent")  # the role table's
OPEN = (EventStatus.PLANNED, EventStatus.BOOKED)
CLOSING_WITHIN_DAYS = 7


def _open_events(scope: Scope) -> QuerySet[ScheduledEvent]:
    return scope.filter_sites(
        ScheduledEvent.objects.filter(status__in=OPEN).exclude(participant__status__in=OFF_STUDY_STATUSES)
    ).select_related("participant", "site")


def visits_today_and_tomorrow(scope: Scope) -> Rows:
    """Open events planned today or tomorrow at the user's sites, with their active booking (one
    prefetch query), by day, time and site."""
    tomorrow = scope.today + dt.timedelta(days=1)
    qs = (
        _open_events(scope)
        .filter(planned_date__gte=scope.today, planned_date__lte=tomorrow)
        .prefetch_related(
            Prefetch(
                "bookings", queryset=Booking.objects.filter(status=BookingStatus.ACTIVE), to_attr="active_bookings"
            )
        )
        .order_by("planned_date", "site__code", "participant__screening_number", "order")
    )
    rows = bounded(qs)
    for event in rows.items:
        found = event.active_bookings
        event.booking = found[0] if found else None
    return Rows(items=rows.items, total=rows.total, extra={"today": scope.today, "tomorrow": tomorrow})


def windows_closing(scope: Scope) -> Rows:
    """Cycle day-1 visits whose window closes within 7 days and that nobody booked (the site
    calendar's list, over all the user's sites)."""
    qs = (
        _open_events(scope)
        .filter(
            kind=EventKind.CYCLE_DAY1,
            status=EventStatus.PLANNED,
            window_end__gte=scope.today,
            window_end__lte=scope.today + dt.timedelta(days=CLOSING_WITHIN_DAYS),
        )
        .order_by("window_end", "participant__screening_number")
    )
    return bounded(qs)


def overdue_labs(scope: Scope) -> Rows:
    """Pre-cycle labs that are overdue: the planned date has passed and no valid lab result was
    collected since the labs' window opened.

    "Overdue" comes from the protocol's lab window: the pre-cycle labs event's window is
    schedule.pre_cycle_labs.days_before_day1 (3 days) before the cycle's day 1 up to day 1, and its
    planned date is the latest working day in it (schedules.calendar.build_plan); dosing's
    lab_window_days (also 3) is how old the day-1 labs may be. So once the planned date is past
    without a result in the window, the sheet cannot be prepared on time: the nurse should draw
    the labs now. One query: the "has a result" test is an EXISTS subquery, not a query per row."""
    has_result = LabResult.objects.filter(
        participant_id=OuterRef("participant_id"),
        entered_in_error=False,
        collected_on__gte=OuterRef("window_start"),
        collected_on__lte=scope.today,
    )
    qs = (
        _open_events(scope)
        .filter(kind=EventKind.PRE_CYCLE_LABS, planned_date__lt=scope.today)
        .annotate(has_result=Exists(has_result))
        .filter(has_result=False)
        .order_by("window_end", "participant__screening_number")
    )
    return bounded(qs)


register(
    Section(
        key="visits",
        title=_("Visits today and tomorrow"),
        roles=NURSES,
        selector=visits_today_and_tomorrow,
        template="admin/worklists/visits.html",
        order=10,
        more_url="admin:schedules_site_calendar",
        more_query="?view=week",
    )
)
register(
    Section(
        key="windows_closing",
        title=_("Cycles whose window closes within 7 days without a booking"),
        roles=NURSES,
        selector=windows_closing,
        template="admin/worklists/events.html",
        order=20,
        more_url="admin:schedules_site_calendar",
        more_query="?view=month",
    )
)
register(
    Section(
        key="overdue_labs",
        title=_("Overdue pre-cycle labs"),
        roles=NURSES,
        selector=overdue_labs,
        template="admin/worklists/events.html",
        order=40,
    )
)
