"""The dosing app's sections of the pharmacist's worklist (trialsite/worklists.py): sheets to
verify, sheets to release, and blocked sheets with why."""

from __future__ import annotations

from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from dosing.models import DoseSheet, SheetStatus
from dosing.selectors import translate_messages
from trialsite import roles
from trialsite.worklists import Rows, Scope, Section, bounded, register

PHARMACISTS = roles.roles_holding("dosing.verify_dosesheet")  # the role table's


def _sheets(scope: Scope) -> QuerySet[DoseSheet]:
    return scope.filter_sites(DoseSheet.objects.select_related("participant", "site", "verified_by")).order_by(
        "day1", "site__code", "participant__screening_number", "cycle_seq"
    )


def to_verify(scope: Scope) -> Rows:
    """Prepared sheets nothing blocks: the first pharmacist's check."""
    return bounded(_sheets(scope).filter(status=SheetStatus.PREPARED, releasable=True))


def to_release(scope: Scope) -> Rows:
    """Verified sheets waiting for the second pharmacist. A sheet the user verified is not on
    their list: the two-person rule (a database constraint) lets only someone else release it."""
    return bounded(_sheets(scope).filter(status=SheetStatus.VERIFIED).exclude(verified_by_id=scope.user.pk))


def blocked(scope: Scope) -> Rows:
    """Prepared sheets that cannot be released, each with its blockers in the reader's language
    (read from the sheet's stored content, already loaded: no query per row)."""
    rows = bounded(_sheets(scope).filter(status=SheetStatus.PREPARED, releasable=False))
    for sheet in rows.items:
        sheet.why = [b["message"] for b in translate_messages(sheet.content.get("blockers", []))]
    return rows


register(
    Section(
        key="sheets_to_verify",
        title=_("Dose sheets to verify"),
        roles=PHARMACISTS,
        selector=to_verify,
        template="admin/worklists/sheets.html",
        order=50,
        more_url="admin:dosing_dosesheet_changelist",
        more_query="?status__exact=prepared&due=all",
    )
)
register(
    Section(
        key="sheets_to_release",
        title=_("Dose sheets to double-check and release"),
        roles=PHARMACISTS,
        selector=to_release,
        template="admin/worklists/sheets.html",
        order=51,
        more_url="admin:dosing_dosesheet_changelist",
        more_query="?status__exact=verified&due=all",
    )
)
register(
    Section(
        key="sheets_blocked",
        title=_("Blocked dose sheets"),
        roles=PHARMACISTS,
        selector=blocked,
        template="admin/worklists/sheets.html",
        order=52,
    )
)
