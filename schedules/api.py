"""The schedules API: a participant's schedule (JSON and iCalendar), delays and actual dates,
bookings, and staff calendar feeds behind a secret URL."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.conf import settings
from django.db.models import QuerySet
from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.utils import translation
from django.utils.translation import gettext as _
from django_filters import rest_framework as filters
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiExample, extend_schema
from rest_framework import generics, status
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from schedules import ics, selectors
from schedules.models import Booking, CalendarFeed, ScheduledEvent, TreatmentPlan
from schedules.serializers import (
    ActualIn,
    BookingIn,
    BookingOut,
    BookingPatch,
    CalendarFeedOut,
    DelayIn,
    EventOut,
    ScheduleIn,
    ScheduleOut,
)
from schedules.services.actual_dates import event_record_actual
from schedules.services.bookings import booking_cancel, booking_create, booking_move
from schedules.services.feeds import calendar_feed_create, calendar_feed_revoke
from schedules.services.plans import event_delay, treatment_plan_create
from trialsite import clock, idempotency, roles
from trialsite.api.errors import error_body
from trialsite.api.permissions import ALL_ROLES, STAFF_ROLES
from trialsite.api.views import get_participant
from trialsite.cache import cache_get, cache_set
from trialsite.idempotency import idempotent
from trialsite.models import Participant, Site, StaffProfile
from trialsite.selectors import participants_for_user, user_site_ids


class ICalendarRenderer(BaseRenderer):
    media_type = "text/calendar"
    format = "ics"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        if isinstance(data, bytes):
            return data
        return json.dumps(data).encode()  # an error body


class JsonErrorsMixin:
    """An iCalendar view answers errors in the API's JSON error shape with a JSON content type
    (content negotiation would otherwise label them text/calendar)."""

    def handle_exception(self, exc: Exception) -> Response:
        response = super().handle_exception(exc)  # type: ignore[misc]
        self.request.accepted_renderer = JSONRenderer()  # type: ignore[attr-defined]
        self.request.accepted_media_type = "application/json"  # type: ignore[attr-defined]
        return response


# Part of the staff feed's cache key and ETag: raise it when the rendering changes.
FEED_FORMAT = 2  # 2: the cache holds (body, last day)


def _not_modified(etag: str) -> HttpResponse:
    response = HttpResponse(status=status.HTTP_304_NOT_MODIFIED)
    response["ETag"] = etag
    response["Cache-Control"] = "private, max-age=300"
    return response


def _ics_response(body: bytes, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type="text/calendar; charset=utf-8")
    response["Content-Disposition"] = f'inline; filename="{filename}"'
    response["Cache-Control"] = "private, max-age=300"
    return response


def _schedule_payload(participant: Participant) -> dict[str, Any]:
    plan = TreatmentPlan.objects.filter(participant=participant).first()
    events = list(selectors.plan_events(participant.pk)) if plan else []
    return {"participant": participant.pk, "plan": plan, "events": events}


class ParticipantSchedule(APIView):
    """A participant's treatment plan: every event with its target, window, planned and actual
    date and active booking. POST makes the plan (or re-makes it before treatment starts)."""

    required_roles = {"GET": ALL_ROLES, "POST": roles.roles_holding("schedules.add_treatmentplan")}

    @extend_schema(responses={200: ScheduleOut})
    def get(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        return Response(ScheduleOut(_schedule_payload(participant)).data)

    @extend_schema(
        request=ScheduleIn,
        responses={201: ScheduleOut, 200: ScheduleOut},
        examples=[OpenApiExample("Start SCRT on a Wednesday", value={"scrt_start_date": "2026-03-04"})],
    )
    def post(self, request: Request, pk: int) -> Response:
        participant = get_participant(request, pk)
        data = ScheduleIn(data=request.data)
        data.is_valid(raise_exception=True)
        existed = TreatmentPlan.objects.filter(participant=participant).exists()
        treatment_plan_create(
            participant=participant,
            scrt_start_date=data.validated_data["scrt_start_date"],
            by=roles.actor(request.user),
            now=clock.now(),
        )
        return Response(
            ScheduleOut(_schedule_payload(participant)).data,
            status=status.HTTP_200_OK if existed else status.HTTP_201_CREATED,
        )


class ParticipantScheduleIcs(JsonErrorsMixin, APIView):
    """The participant's schedule as an iCalendar file (RFC 5545)."""

    required_roles = {"GET": ALL_ROLES}
    renderer_classes = [ICalendarRenderer, JSONRenderer]

    @extend_schema(responses={(200, "text/calendar"): OpenApiTypes.BINARY})
    def get(self, request: Request, pk: int) -> HttpResponse:
        participant = get_participant(request, pk)
        events = selectors.plan_events(participant.pk)
        body = ics.render(
            selectors.feed_events(events, staff=False),
            name=_("%(p)s treatment calendar") % {"p": participant.screening_number},
            now=clock.now(),
            time_zone=participant.site.time_zone,
        )
        return _ics_response(body, f"{participant.screening_number}.ics")


def _event_for(request: Request, pk: int) -> ScheduledEvent:
    participants = participants_for_user(request.user).values("pk")
    return get_object_or_404(ScheduledEvent.objects.filter(participant__in=participants), pk=pk)


class EventDelay(APIView):
    """Delay an event (day-1 criteria not met, patient request, holiday); what follows shifts."""

    required_roles = {"POST": roles.roles_holding("schedules.change_scheduledevent")}

    @extend_schema(
        request=DelayIn,
        responses={200: EventOut},
        examples=[OpenApiExample("Neutropenia", value={"reason": "ANC 1.2 ×10⁹/L on day 1"})],
    )
    def post(self, request: Request, pk: int) -> Response:
        event = _event_for(request, pk)
        data = DelayIn(data=request.data)
        data.is_valid(raise_exception=True)
        event = event_delay(
            event=event,
            reason=data.validated_data["reason"],
            new_date=data.validated_data.get("new_date"),
            deviation_reason=data.validated_data.get("deviation_reason", ""),
            by=roles.actor(request.user),
            now=clock.now(),
        )
        return Response(EventOut(event).data)


class EventActual(APIView):
    """Record (or correct, with a reason) the date an event happened. A date that moves later
    events, starts treatment or corrects a recorded one is answered 409 confirmation_required,
    listing the moves, until it is sent again with confirm=true."""

    required_roles = {"POST": roles.roles_holding("schedules.change_scheduledevent")}

    @extend_schema(request=ActualIn, responses={200: EventOut})
    def post(self, request: Request, pk: int) -> Response:
        event = _event_for(request, pk)
        data = ActualIn(data=request.data)
        data.is_valid(raise_exception=True)
        event = event_record_actual(
            event=event,
            actual_date=data.validated_data["actual_date"],
            confirm=data.validated_data["confirm"],
            reason=data.validated_data["reason"],
            by=roles.actor(request.user),
            today=clock.today(),
        )
        return Response(EventOut(event).data)


class BookingFilter(filters.FilterSet):
    site = filters.CharFilter(field_name="site__code")
    participant = filters.NumberFilter(field_name="participant_id")
    date_from = filters.DateFilter(field_name="date", lookup_expr="gte")
    date_to = filters.DateFilter(field_name="date", lookup_expr="lte")
    status = filters.CharFilter()

    class Meta:
        model = Booking
        fields = ["site", "participant", "date_from", "date_to", "status"]


def _bookings_for(user: Any) -> QuerySet[Booking]:
    qs = Booking.objects.select_related("site", "event")
    if getattr(user, "is_superuser", False):
        return qs
    return qs.filter(site_id__in=user_site_ids(user))


class BookingListCreate(generics.ListAPIView[Booking]):
    """Bookings at the caller's sites. POST books an event on a date and time: refused with 422
    outside the window (unless an investigator records a deviation), on a non-working day or in
    the past; with 409 when the event is already booked, the day's infusion chairs are all
    taken, or the participant was withdrawn. With an `Idempotency-Key`, a repeat (the answer was
    lost) gets the first 201 again, not 409 already_booked."""

    required_roles = {"GET": ALL_ROLES, "POST": roles.roles_holding("schedules.add_booking")}
    serializer_class = BookingOut
    filterset_class = BookingFilter

    def get_queryset(self) -> QuerySet[Booking]:
        return _bookings_for(self.request.user).order_by("date", "time", "id")

    @extend_schema(
        request=BookingIn,
        responses={201: BookingOut},
        parameters=[idempotency.PARAMETER],
        examples=[OpenApiExample("Cycle 2 day 1", value={"event": 42, "date": "2026-04-07", "time": "08:30"})],
    )
    @idempotent
    def post(self, request: Request) -> Response:
        data = BookingIn(data=request.data)
        data.is_valid(raise_exception=True)
        values = data.validated_data
        event = _event_for(request, values["event"])
        booking = booking_create(
            event=event,
            date=values["date"],
            time=values["time"],
            deviation_reason=values.get("deviation_reason", ""),
            by=roles.actor(request.user),
            today=clock.today(),
        )
        return Response(BookingOut(booking).data, status=status.HTTP_201_CREATED)


class BookingDetail(APIView):
    """One booking. PATCH moves it (every rule is checked again); DELETE cancels it (kept, with
    status "cancelled"). Both take an `Idempotency-Key` as POST does."""

    required_roles = {
        "GET": ALL_ROLES,
        "PATCH": roles.roles_holding("schedules.change_booking"),
        "DELETE": roles.roles_holding("schedules.change_booking"),
    }

    def _get(self, request: Request, pk: int) -> Booking:
        return get_object_or_404(_bookings_for(request.user), pk=pk)

    @extend_schema(responses={200: BookingOut})
    def get(self, request: Request, pk: int) -> Response:
        return Response(BookingOut(self._get(request, pk)).data)

    @extend_schema(
        request=BookingPatch,
        responses={200: BookingOut},
        parameters=[idempotency.PARAMETER],
        examples=[OpenApiExample("Move to the afternoon", value={"time": "14:00"})],
    )
    @idempotent
    def patch(self, request: Request, pk: int) -> Response:
        booking = self._get(request, pk)
        data = BookingPatch(data=request.data)
        data.is_valid(raise_exception=True)
        booking = booking_move(
            booking=booking,
            by=roles.actor(request.user),
            today=clock.today(),
            **data.validated_data,
        )
        booking.refresh_from_db()
        return Response(BookingOut(booking).data)

    @extend_schema(responses={204: None}, parameters=[idempotency.PARAMETER])
    @idempotent
    def delete(self, request: Request, pk: int) -> Response:
        booking = self._get(request, pk)
        booking_cancel(booking=booking, by=roles.actor(request.user), now=clock.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class CalendarFeedListCreate(generics.ListAPIView[CalendarFeed]):
    """The caller's secret calendar-feed URLs for their sites (staff). POST makes a new URL and
    revokes the old one."""

    required_roles = {"GET": STAFF_ROLES, "POST": STAFF_ROLES}
    serializer_class = CalendarFeedOut
    pagination_class = None

    def get_queryset(self) -> QuerySet[CalendarFeed]:
        if getattr(self, "swagger_fake_view", False):
            return CalendarFeed.objects.none()
        return CalendarFeed.objects.filter(user=roles.actor(self.request.user)).order_by("-created_at")

    @extend_schema(request=None, responses={201: CalendarFeedOut})
    def post(self, request: Request) -> Response:
        feed = calendar_feed_create(user=roles.actor(request.user), now=clock.now())
        return Response(CalendarFeedOut(feed, context={"request": request}).data, status=status.HTTP_201_CREATED)


class CalendarFeedRevoke(APIView):
    required_roles = {"DELETE": STAFF_ROLES}

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        feed = get_object_or_404(CalendarFeed.objects.filter(user=roles.actor(request.user)), pk=pk)
        calendar_feed_revoke(feed=feed, now=clock.now())
        return Response(status=status.HTTP_204_NO_CONTENT)


class SiteFeedIcs(JsonErrorsMixin, APIView):
    """The staff calendar of the feed owner's sites. Calendar apps cannot send a token, so the
    secret key in the URL is the credential: it is checked here, and an unknown or revoked key or
    an inactive user gets 401 like any other bad credential. `?site=CODE` narrows it to one site."""

    required_roles = {"GET": ALL_ROLES}
    authentication_classes: list[Any] = []
    permission_classes = [AllowAny]
    renderer_classes = [ICalendarRenderer, JSONRenderer]

    @extend_schema(auth=[], responses={(200, "text/calendar"): OpenApiTypes.BINARY})
    def get(self, request: Request, key: str) -> HttpResponse:
        feed = CalendarFeed.objects.select_related("user").filter(key=key, revoked_at__isnull=True).first()
        if feed is None or not feed.user.is_active:
            return JsonResponse(
                error_body("not_authenticated", _("Unknown or revoked calendar feed.")),
                status=status.HTTP_401_UNAUTHORIZED,
            )
        user = feed.user
        site_ids = list(Site.objects.values_list("pk", flat=True)) if user.is_superuser else list(user_site_ids(user))
        if request.query_params.get("site"):
            # One site's feed (?site=ZJU1), still limited to the owner's sites.
            site_ids = list(
                Site.objects.filter(pk__in=site_ids, code=request.query_params["site"]).values_list("pk", flat=True)
            )
        today = clock.today()
        window = {
            "date_from": today - dt.timedelta(days=settings.FEED_PAST_DAYS),
            "date_to": today + dt.timedelta(days=settings.FEED_FUTURE_DAYS),
        }
        # A calendar app sends no language: the feed is in its owner's language (StaffProfile).
        profile = StaffProfile.objects.filter(user=user).first()
        language = profile.language if profile else settings.LANGUAGE_CODE
        # Calendar apps poll: the feed is rendered once per change of its events and kept in the
        # shared cache; the ETag names that version, so an unchanged feed costs one aggregate
        # query and a 304. (The key covers the events and the day; a renamed site shows in the
        # feed by the next day at the latest.)
        version = selectors.site_events_version(site_ids, **window)
        digest = hashlib.sha256(
            json.dumps(
                [FEED_FORMAT, sorted(site_ids), language, str(today), settings.FEED_MAX_EVENTS, version]
            ).encode()
        ).hexdigest()[:40]
        etag = f'"{digest}"'
        if etag in (tag.strip() for tag in request.headers.get("If-None-Match", "").split(",")):
            return _not_modified(etag)
        key = f"staff-feed:{digest}"
        cached = cache_get(key, what="calendar feed")
        if cached is not None:
            body, last_day = cached
        else:
            # Bounded in size too, not only in time: at most FEED_MAX_EVENTS events, whole days,
            # the nearest first; the calendar's description and a header say where a cut feed ends.
            # (The version covers the whole window, so it also names where the cut falls.)
            last_day = selectors.feed_last_day(site_ids, **window, max_events=settings.FEED_MAX_EVENTS)
            cut = last_day < window["date_to"]
            events = selectors.site_events(site_ids, date_from=window["date_from"], date_to=last_day)
            with translation.override(language):
                notice = (
                    _(
                        "This feed ends on %(day)s to stay small (at most %(n)s events); subscribe to one "
                        "site (?site=CODE) or use the site calendar for later days."
                    )
                    % {"day": last_day.isoformat(), "n": settings.FEED_MAX_EVENTS}
                    if cut
                    else ""
                )
                body = ics.render(
                    selectors.feed_events(events, staff=True),
                    name=_("TrialSite site calendar"),
                    now=clock.now(),
                    description=str(notice),
                )
            cache_set(key, (body, last_day), timeout=settings.FEED_CACHE_SECONDS, what="calendar feed")
        response = _ics_response(bytes(body), "trialsite-sites.ics")
        response["ETag"] = etag
        response["X-Feed-Last-Day"] = last_day.isoformat()
        return response
