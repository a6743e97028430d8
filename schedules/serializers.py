"""Input and output shapes of the schedules API (shape only; rules live in services)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from schedules import calendar, selectors
from schedules.models import Booking, CalendarFeed, ScheduledEvent, TreatmentPlan
from trialsite import phrases
from trialsite.api.fields import IntegerIn


class BookingBrief(serializers.ModelSerializer[Booking]):
    class Meta:
        model = Booking
        fields = ["id", "date", "time", "deviation_reason"]


class NoWorkingDayOut(serializers.Serializer[dict[str, str]]):
    before = serializers.DateField(help_text="The last working day before the window.")
    after = serializers.DateField(help_text="The first working day after the window.")
    planned = serializers.DateField(help_text="The date the plan chose; booking it needs no protocol deviation.")


class EventOut(serializers.ModelSerializer[ScheduledEvent]):
    label = serializers.CharField(read_only=True)  # type: ignore[assignment]
    # A plain string in the schema (its values in the help text): an enum named "kind" would
    # collide with the registry's measurement kinds in the OpenAPI components.
    kind = serializers.CharField(
        read_only=True, help_text="scrt_fraction | pre_cycle_labs | cycle_day1 | restaging | surgery | follow_up"
    )
    sequence = serializers.IntegerField(source="ics_sequence")
    booking = serializers.SerializerMethodField()
    original_planned_date = serializers.DateField(
        read_only=True, help_text="The date the plan first gave; delays, bookings and actual dates never change it."
    )
    no_working_day_in_window = serializers.SerializerMethodField(
        help_text=(
            "Null, or when the whole window falls on non-working days (e.g. a cycle inside the Spring "
            "Festival): the nearest working days before and after it, and the one the plan chose."
        )
    )

    class Meta:
        model = ScheduledEvent
        fields = [
            "id",
            "uid",
            "kind",
            "phase",
            "number",
            "label",
            "target_date",
            "window_start",
            "window_end",
            "original_planned_date",
            "planned_date",
            "actual_date",
            "status",
            "delayed",
            "delay_reason",
            "deviation_reason",
            "no_working_day_in_window",
            "details",
            "sequence",
            "booking",
        ]

    @extend_schema_field(NoWorkingDayOut(allow_null=True))
    def get_no_working_day_in_window(self, event: ScheduledEvent) -> dict[str, str] | None:
        flag = event.details.get(calendar.NO_WORKING_DAY)
        return dict(flag) if flag else None

    def get_booking(self, event: ScheduledEvent) -> dict[str, Any] | None:
        booking = selectors.active_booking(event)
        return BookingBrief(booking).data if booking else None


class PlanOut(serializers.ModelSerializer[TreatmentPlan]):
    stop_reason = serializers.SerializerMethodField()

    class Meta:
        model = TreatmentPlan
        fields = ["id", "arm", "scrt_start_date", "status", "stopped_on", "stop_reason", "created_at"]

    def get_stop_reason(self, plan: TreatmentPlan) -> str:
        """In English, as the API has always said it (a typed reason as typed)."""
        return phrases.english(plan.stop_reason)


class ScheduleOut(serializers.Serializer[dict[str, Any]]):
    participant = serializers.IntegerField()
    plan = PlanOut(allow_null=True)
    events = EventOut(many=True)


class ScheduleIn(serializers.Serializer[None]):
    scrt_start_date = serializers.DateField(help_text="First SCRT fraction; a working day at the site.")


class DelayIn(serializers.Serializer[None]):
    reason = serializers.CharField(max_length=200)
    new_date = serializers.DateField(required=False, help_text="Default: the protocol's delay (1 week).")
    deviation_reason = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="Investigators only: allows a delayed SCRT fraction beyond the maximum overall time.",
    )


class ActualIn(serializers.Serializer[None]):
    actual_date = serializers.DateField()
    confirm = serializers.BooleanField(
        default=False,
        help_text=(
            "Required when the date moves later events, starts treatment or corrects a recorded date: "
            "without it the answer is 409 confirmation_required with the moves listed."
        ),
    )
    reason = serializers.CharField(
        max_length=100,
        required=False,
        allow_blank=True,
        default="",
        help_text="Why a recorded actual date is corrected.",
    )


class BookingIn(serializers.Serializer[None]):
    event = IntegerIn(
        min_value=1, max_value=2**31 - 1, help_text="Id of the scheduled event (from the participant's schedule)."
    )
    date = serializers.DateField()
    time = serializers.TimeField(help_text="Local time at the site (Asia/Shanghai).")
    deviation_reason = serializers.CharField(
        required=False, allow_blank=True, help_text="Investigators only: books outside the protocol window."
    )


class BookingPatch(serializers.Serializer[None]):
    date = serializers.DateField(required=False)
    time = serializers.TimeField(required=False)
    deviation_reason = serializers.CharField(required=False, allow_blank=True)


class BookingOut(serializers.ModelSerializer[Booking]):
    participant = serializers.IntegerField(source="participant_id")
    site = serializers.CharField(source="site.code")
    event_kind = serializers.CharField(source="event.kind")
    event_label = serializers.CharField(source="event.label")
    window_start = serializers.DateField(source="event.window_start")
    window_end = serializers.DateField(source="event.window_end")
    start = serializers.SerializerMethodField(help_text="Date and time with the site's UTC offset.")

    class Meta:
        model = Booking
        fields = [
            "id",
            "event",
            "participant",
            "site",
            "event_kind",
            "event_label",
            "date",
            "time",
            "start",
            "window_start",
            "window_end",
            "status",
            "uses_infusion_chair",
            "deviation_reason",
            "created_at",
            "cancelled_at",
        ]

    def get_start(self, booking: Booking) -> str:
        return dt.datetime.combine(booking.date, booking.time, tzinfo=ZoneInfo(booking.site.time_zone)).isoformat()


class CalendarFeedOut(serializers.ModelSerializer[CalendarFeed]):
    url = serializers.SerializerMethodField()

    class Meta:
        model = CalendarFeed
        fields = ["id", "url", "created_at", "revoked_at"]

    def get_url(self, feed: CalendarFeed) -> str | None:
        if feed.revoked_at is not None:
            return None
        request = self.context.get("request")
        path = f"/api/v1/calendar-feeds/{feed.key}.ics"
        return request.build_absolute_uri(path) if request else path
