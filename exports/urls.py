"""API routes of the exports, mounted under /api/v1/: one route per declared dataset and format
(generated from the registry), the index, a catch-all that answers unknown exports in the error
shape, and the statistician's allocation record."""

from django.urls import URLPattern, path

from exports import api
from exports.selectors import REGISTRY

VIEWS = {"csv": api.DatasetCsv, "xlsx": api.DatasetXlsx}

urlpatterns: list[URLPattern] = [
    path("exports/", api.ExportIndex.as_view(), name="export-index"),
    *[
        path(f"exports/{name}.{fmt}", view.as_view(dataset_name=name), name=f"export-{name}-{fmt}")
        for name in REGISTRY
        for fmt, view in VIEWS.items()
    ],
    path("exports/<path:rest>", api.ExportUnknown.as_view(), name="export-unknown"),
    path(
        "trials/<str:registry_id>/allocations.csv",
        api.AllocationRecordCsv.as_view(),
        name="trial-allocations-csv",
    ),
    path(
        "trials/<str:registry_id>/allocations.odm.xml",
        api.AllocationRecordOdm.as_view(),
        name="trial-allocations-odm",
    ),
]
