"""Reads of the dosing app: dose sheets scoped by the user's sites, the pharmacist's queue and
the sheets due (for reminders)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable, Sequence
from typing import Any

from django.db.models import QuerySet
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from dosing.error_codes import DosingErrorCode
from dosing.models import UNRELEASED_STATUSES, DoseSheet, SheetStatus, content_fingerprint
from trialsite import roles, selectors
from trialsite.errors import IntegrityFailure
from trialsite.i18n import drug_name

logger = logging.getLogger(__name__)


def dose_sheets_for_user(user: Any) -> QuerySet[DoseSheet]:
    """Sheets of the user's sites (superusers: all). API clients read released sheets only."""
    qs = DoseSheet.objects.select_related("participant", "site", "verified_by", "released_by", "prepared_by")
    if not getattr(user, "is_superuser", False):
        qs = qs.filter(site_id__in=selectors.user_site_ids(user))
        if roles.user_roles(user) <= {roles.API_CLIENT}:
            qs = qs.filter(status=SheetStatus.RELEASED)
    return qs


def dose_sheets_due(
    *, site_ids: Iterable[int] | None = None, day1_from: dt.date, day1_to: dt.date
) -> QuerySet[DoseSheet]:
    """Unreleased (prepared or verified) sheets whose day 1 falls in [day1_from, day1_to]."""
    qs = DoseSheet.objects.filter(status__in=UNRELEASED_STATUSES, day1__gte=day1_from, day1__lte=day1_to)
    if site_ids is not None:
        qs = qs.filter(site_id__in=list(site_ids))
    return qs.select_related("participant", "site").order_by("day1", "site__code", "participant__screening_number")


def current_sheet(*, participant_id: int, phase: str, cycle_number: int) -> DoseSheet | None:
    return (
        DoseSheet.objects.filter(
            participant_id=participant_id,
            phase=phase,
            cycle_number=cycle_number,
            status__in=[SheetStatus.PREPARED, SheetStatus.VERIFIED, SheetStatus.RELEASED],
        )
        .order_by("-version")
        .first()
    )


def released_cycles(*, participant_id: int) -> set[tuple[str, int]]:
    """The (phase, cycle number) of the participant's cycles whose current sheet was released:
    the pharmacy prepared drugs for that day 1 (schedules asks before re-dating it)."""
    rows = DoseSheet.objects.filter(participant_id=participant_id, status=SheetStatus.RELEASED)
    return set(rows.values_list("phase", "cycle_number"))


def released_sheet_dependants(*, participant_id: int, cycles: Sequence[Any]) -> list[str]:
    """schedules/dependants.py's question (registered in DosingConfig.ready): which of these
    cycle visits have a released sheet, so re-dating their day 1 needs the pharmacy's word."""
    released = released_cycles(participant_id=participant_id)
    return [
        _("the dose sheet of %(event)s is released") % {"event": c.label}
        for c in cycles
        if (c.phase, c.number) in released
    ]


# Stored messages said to the pharmacist in other words than the stored developer's note
# (the stored text cannot change: it is part of the sheet's fingerprinted content).
PHARMACIST_WORDING = {
    "band_table_unchecked": gettext_noop(
        "Reduced doses of %(drug)s (75%% and 50%%): check them against the printed label before "
        "dispensing. The reduced-dose rows of this dose table have not been compared with the label yet."
    ),
}


def translate_messages(items: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """Stored warnings/blockers in the reader's language (the English template is the msgid; a
    drug parameter, stored as the protocol's English name, is named in the reader's language).
    A message repeated in the stored list (the same code and parameters) is said once."""
    out = []
    seen: set[tuple[Any, str]] = set()
    for item in items:
        key = (item.get("code"), repr(sorted((item.get("params") or {}).items())))
        if key in seen:
            continue
        seen.add(key)
        template = PHARMACIST_WORDING.get(item.get("code") or "") or item.get("template") or item.get("message", "")
        params = {
            k: drug_name(v.lower()) if k == "drug" and isinstance(v, str) else v
            for k, v in (item.get("params") or {}).items()
        }
        text = _(template) % params if params else _(template)
        out.append({"code": item.get("code"), "message": text})
    return out


def checked(sheet: Any) -> Any:
    """The sheet (or a historical copy of it), if its content still matches its fingerprint.
    Otherwise the content was changed behind the services' back (the database trigger forbids
    it, so: by someone who switched the triggers off): no dose of it may be shown or acted on.
    Logged at CRITICAL, and a 500 with the code `dose_sheet_integrity` wherever it is served."""
    if content_fingerprint(sheet.content) != sheet.fingerprint:
        logger.critical(
            "dose sheet %s (participant %s, %s cycle %s v%s): the content does not match its fingerprint",
            sheet.pk,
            sheet.participant_id,
            sheet.phase,
            sheet.cycle_number,
            sheet.version,
        )
        raise IntegrityFailure(
            _(
                "Dose sheet %(id)s failed its integrity check: its content no longer matches its fingerprint, "
                "so it is not shown. Do not dispense from a printed copy; tell the trial's data manager."
            )
            % {"id": sheet.pk},
            code=DosingErrorCode.DOSE_SHEET_INTEGRITY,
        )
    return sheet


def dose_sheet_document(sheet: DoseSheet) -> dict[str, Any]:
    """The sheet as one document (JSON, admin page and PDF read the same): the workflow fields,
    then the computed content with its messages in the reader's language. Only an intact
    sheet (`checked`) becomes a document."""
    content = dict(checked(sheet).content)
    content["warnings"] = translate_messages(content.get("warnings", []))
    content["blockers"] = translate_messages(content.get("blockers", []))
    return {
        "id": sheet.pk,
        "version": sheet.version,
        "status": sheet.status,
        "releasable": sheet.releasable,
        "site": sheet.site.code,
        "prepared_at": sheet.prepared_at,
        "prepared_by": sheet.prepared_by.username if sheet.prepared_by else None,
        "verified_at": sheet.verified_at,
        "verified_by": sheet.verified_by.username if sheet.verified_by else None,
        "released_at": sheet.released_at,
        "released_by": sheet.released_by.username if sheet.released_by else None,
        "ended_at": sheet.ended_at,
        "end_reason": sheet.end_reason or "",  # a stored phrase: rendered by the reader (the API: English)
        **content,
    }
