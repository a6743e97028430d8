"""The reads behind every export door (API view, admin action): who may read a dataset, which
rows (the user's sites, through trialsite.selectors.sites_for_user), and the file. The check is
made here, not in the door, so that each door refuses the same."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.utils.translation import gettext as _

from trialsite import clock, roles
from trialsite.errors import InvalidInput, NotFound
from trialsite.selectors import sites_for_user

from . import datasets as _declared  # noqa: F401  (fills the registry)
from .tables import FORMATS, REGISTRY, Dataset, build, write


@dataclass(frozen=True)
class ExportFile:
    content: bytes
    content_type: str
    filename: str


def dataset_named(name: str) -> Dataset:
    dataset = REGISTRY.get(name)
    if dataset is None:
        raise NotFound(
            _("There is no export called %(name)s. Exports: %(names)s.") % {"name": name, "names": ", ".join(REGISTRY)},
            code="unknown_export",
        )
    return dataset


def check_format(fmt: str) -> str:
    if fmt not in FORMATS:
        raise InvalidInput(
            _("Unknown export format %(fmt)s.") % {"fmt": fmt},
            code="unknown_export_format",
            errors={"format": [_("Use one of: %(formats)s.") % {"formats": ", ".join(FORMATS)}]},
        )
    return fmt


def dataset_rows(dataset: Dataset, *, by: Any, site_code: str | None = None, pks: Iterable[Any] | None = None) -> Any:
    """The rows of `dataset` that `by` may read: their sites' rows (a superuser all), optionally
    one of those sites (`site_code`) or the given primary keys (an admin list's selection)."""
    roles.require(by, dataset.permission)
    sites = sites_for_user(by)
    if site_code:
        sites = sites.filter(code=site_code)
        if not sites.exists():
            # The same answer for a site that does not exist and one the user does not work at.
            raise InvalidInput(
                _("You have no site with code %(code)s.") % {"code": site_code},
                errors={"site": [_("Use the code of one of your sites.")]},
            )
    rows = dataset.queryset().filter(**{f"{dataset.site}__in": sites})
    if pks is not None:
        rows = rows.filter(pk__in=pks)
    return rows


# An Excel file is built in memory cell by cell (openpyxl, through tablib): about 0.3 ms a row
# of 18 columns on this project's 2-core machine, so 20,000 rows is a few seconds and the trial's
# whole visit list (102 participants × ~37 events) far less; a larger export (the bench's 10,000
# participants) would hold a gunicorn worker for minutes. CSV streams and has no such limit.
XLSX_MAX_ROWS = 20_000


def dataset_file(
    dataset: Dataset, fmt: str, *, by: Any, site_code: str | None = None, pks: Iterable[Any] | None = None
) -> ExportFile:
    check_format(fmt)
    rows = dataset_rows(dataset, by=by, site_code=site_code, pks=pks)
    if fmt == "xlsx" and rows.count() > XLSX_MAX_ROWS:
        raise InvalidInput(
            _("Too many rows for an Excel file (more than %(n)s): export CSV, or one site at a time.")
            % {"n": XLSX_MAX_ROWS},
            code="export_too_large",
            errors={"format": [_("Use csv for this export.")]},
        )
    content = write(build(dataset, rows.iterator(chunk_size=2000), by), fmt)
    stamp = clock.today().isoformat()
    return ExportFile(content, FORMATS[fmt], f"{dataset.name}-{stamp}.{fmt}")
