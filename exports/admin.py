"""The admin door of the exports: "Export selected as CSV / Excel" on each dataset's list (the
list of the dataset's `model`), and "Export the allocation record (CSV / CDISC ODM)" on the
allocation list. Attached here to the admins the apps registered, so that a declared dataset
gets its actions without editing its app's admin; each action declares `permissions=["view"]`
(trialsite/admin_guard.py offers no action without), and the export itself checks the dataset's
permission and the user's sites again (exports/selectors.py).

A list whose admin has no bulk actions on purpose (`actions = None`: the dose-sheet queue,
where each sheet is checked on its own page) gets none here either; its list links to the API's
export (`/api/v1/exports/dose_sheets.csv`, which a signed-in browser opens) instead."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from randomization.models import Allocation
from trialsite import clock
from trialsite.admin_forms import show_error
from trialsite.errors import ApplicationError
from trialsite.models import Trial

from . import allocations, selectors
from .api import attachment
from .tables import REGISTRY, Dataset

FORMAT_NAMES = {"csv": gettext_lazy("CSV"), "xlsx": gettext_lazy("Excel")}


def dataset_action(dataset: Dataset, fmt: str) -> Any:
    @admin.action(
        permissions=["view"],
        description=format_lazy(
            gettext_lazy("Export selected {title} as {format}"), title=dataset.title, format=FORMAT_NAMES[fmt]
        ),
    )
    def export(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Any]) -> HttpResponse | None:
        try:
            export = selectors.dataset_file(dataset, fmt, by=request.user, pks=queryset.values("pk"))
        except ApplicationError as exc:
            show_error(request, exc)
            return None
        return attachment(export)

    export.__name__ = f"export_{dataset.name}_{fmt}"
    return export


def allocation_action(fmt: str) -> Any:
    build = {"csv": allocations.record_csv, "odm": allocations.record_odm}[fmt]
    label = {
        "csv": gettext_lazy("Export the allocation record (CSV)"),
        "odm": gettext_lazy("Export the allocation record (CDISC ODM XML)"),
    }[fmt]

    @admin.action(permissions=["view"], description=label)
    def export(modeladmin: Any, request: HttpRequest, queryset: QuerySet[Allocation]) -> HttpResponse | None:
        """The whole record of the selection's trial (a record is read whole: its chain)."""
        trials = list(Trial.objects.filter(pk__in=queryset.values("trial_id")).select_related("current_protocol")[:2])
        if len(trials) != 1:
            messages.error(request, _("Select the allocations of one trial."))
            return None
        try:
            return attachment(build(trials[0], by=request.user, now=clock.now()))
        except ApplicationError as exc:
            show_error(request, exc)
            return None

    export.__name__ = f"export_allocation_record_{fmt}"
    return export


def attach(model: Any, actions: list[Any]) -> None:
    model_admin = admin.site._registry.get(model)
    if model_admin is None or model_admin.actions is None:
        return
    model_admin.actions = [*model_admin.actions, *actions]


for _dataset in REGISTRY.values():
    attach(_dataset.model, [dataset_action(_dataset, fmt) for fmt in ("csv", "xlsx")])
attach(Allocation, [allocation_action("csv"), allocation_action("odm")])
