"""API routes of the schedules app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from schedules import api

urlpatterns: list[URLPattern] = [
    path("participants/<int:pk>/schedule/", api.ParticipantSchedule.as_view(), name="participant-schedule"),
    path("participants/<int:pk>/schedule.ics", api.ParticipantScheduleIcs.as_view(), name="participant-schedule-ics"),
    path("schedule-events/<int:pk>/delay/", api.EventDelay.as_view(), name="schedule-event-delay"),
    path("schedule-events/<int:pk>/actual/", api.EventActual.as_view(), name="schedule-event-actual"),
    path("bookings/", api.BookingListCreate.as_view(), name="booking-list"),
    path("bookings/<int:pk>/", api.BookingDetail.as_view(), name="booking-detail"),
    path("calendar-feeds/", api.CalendarFeedListCreate.as_view(), name="calendar-feed-list"),
    path("calendar-feeds/<int:pk>/", api.CalendarFeedRevoke.as_view(), name="calendar-feed-revoke"),
    path("calendar-feeds/<str:key>.ics", api.SiteFeedIcs.as_view(), name="calendar-feed-ics"),
]
