"""API routes of the randomization app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from randomization import accrual_views, api

urlpatterns: list[URLPattern] = [
    path("participants/<int:pk>/randomize/", api.ParticipantRandomize.as_view(), name="participant-randomize"),
    path(
        "participants/<int:pk>/randomization-confirmation.pdf",
        api.RandomizationConfirmationPdf.as_view(),
        name="participant-randomization-confirmation",
    ),
    path(
        "participants/<int:pk>/screening-assessments/",
        api.ScreeningAssessmentListCreate.as_view(),
        name="participant-screening-assessments",
    ),
    path("trials/<str:registry_id>/accrual/", accrual_views.TrialAccrual.as_view(), name="trial-accrual"),
    path(
        "trials/<str:registry_id>/randomization/",
        api.TrialRandomizationPublic.as_view(),
        name="trial-randomization",
    ),
]
