"""API routes of the dosing app, mounted under /api/v1/."""

from django.urls import URLPattern, path

from dosing import api

urlpatterns: list[URLPattern] = [
    path("dose-calculations/", api.DoseCalculation.as_view(), name="dose-calculation"),
    path("dose-sheets/", api.DoseSheetList.as_view(), name="dose-sheet-list"),
    path("dose-sheets/<int:pk>/", api.DoseSheetDetail.as_view(), name="dose-sheet-detail"),
    path("dose-sheets/<int:pk>/pdf/", api.DoseSheetPdf.as_view(), name="dose-sheet-pdf"),
    path("dose-sheets/<int:pk>.pdf", api.DoseSheetPdf.as_view(), name="dose-sheet-pdf-file"),
    path("dose-sheets/<int:pk>/verify/", api.DoseSheetVerify.as_view(), name="dose-sheet-verify"),
    path("dose-sheets/<int:pk>/release/", api.DoseSheetRelease.as_view(), name="dose-sheet-release"),
    path(
        "participants/<int:pk>/dose-modifications/",
        api.DoseModificationListCreate.as_view(),
        name="participant-dose-modifications",
    ),
    path(
        "participants/<int:pk>/renal-decisions/",
        api.RenalDecisionListCreate.as_view(),
        name="participant-renal-decisions",
    ),
]
