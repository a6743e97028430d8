"""API routes of the toxicity log, mounted under /api/v1/."""

from django.urls import URLPattern, path

from adverse_events import api

urlpatterns: list[URLPattern] = [
    path(
        "participants/<int:pk>/adverse-events/",
        api.ParticipantAdverseEvents.as_view(),
        name="participant-adverse-events",
    ),
    path(
        "participants/<int:pk>/adverse-events/<int:ae_id>/",
        api.ParticipantAdverseEventDetail.as_view(),
        name="participant-adverse-event-detail",
    ),
    path("adverse-events/<int:pk>/", api.AdverseEventDetail.as_view(), name="adverse-event-detail"),
]
