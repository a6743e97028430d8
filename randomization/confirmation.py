"""The randomization confirmation a nurse files in the investigator site file: one A4 page (and
its PDF) with the participant, the randomization number and arm, when and by whom, the
eligibility summary and the trial's published commitment. Every printing is recorded; the first
is the original and every later one says it is a copy (so two "originals" never exist)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import User
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation

from randomization import readable
from randomization.models import Allocation, ConfirmationPrint
from trialsite import i18n, roles, signatures
from trialsite.errors import NotFound
from trialsite.history import person, zone_for
from trialsite.models import Participant
from trialsite.pdf import html_to_pdf

# Who may print it: whoever may randomize at the participant's site, and the statistician.
PRINT_PERMISSIONS = ("randomization.randomize_participant", "randomization.view_allocation")


@dataclass(frozen=True)
class Confirmation:
    participant: Participant
    allocation: Allocation
    copy_number: int  # 0: the original
    first_printed_at: str
    first_printed_by: str
    printed_at: str
    printed_by: str


def _require(by: User | None, participant: Participant) -> None:
    """Either permission, at the participant's site (another site's participant does not exist)."""
    last: Exception | None = None
    for perm in PRINT_PERMISSIONS:
        try:
            roles.require(by, perm, site=participant.site_id)
            return
        except Exception as exc:  # NotPermitted / NotFound: try the next permission
            last = exc
    assert last is not None
    raise last


def confirmation_print(*, participant: Participant, by: User, medium: str, now: dt.datetime) -> Confirmation:
    """Record one printing of `participant`'s confirmation and say what it shows."""
    _require(by, participant)
    allocation = (
        Allocation.objects.select_related("scheme", "trial", "allocated_by", "assessment")
        .filter(participant=participant)
        .first()
    )
    if allocation is None:
        raise NotFound(translation.gettext("This participant has not been randomized."), code="not_randomized")
    with transaction.atomic():
        # Lock the allocation's prints so two printings at once cannot both be the original.
        earlier = list(
            ConfirmationPrint.objects.select_for_update()
            .filter(allocation=allocation)
            .select_related("printed_by")
            .order_by("printed_at", "pk")
        )
        ConfirmationPrint.objects.create(allocation=allocation, printed_at=now, printed_by=by, medium=medium)
    zone = zone_for(participant)
    first = earlier[0] if earlier else None

    def local(moment: dt.datetime) -> str:
        return timezone.localtime(moment, zone).strftime("%Y-%m-%d %H:%M")

    return Confirmation(
        participant=participant,
        allocation=allocation,
        copy_number=len(earlier),
        first_printed_at=local(first.printed_at) if first else local(now),
        first_printed_by=person(first.printed_by) if first else person(by),
        printed_at=local(now),
        printed_by=person(by),
    )


def context(confirmation: Confirmation) -> dict[str, Any]:
    """What the page and the PDF show, in the active language."""
    participant = confirmation.participant
    allocation = confirmation.allocation
    definition = participant.protocol_version.definition
    chinese = translation.get_language() == "zh-hans"
    arm: dict[str, Any] = next((a for a in definition.get("arms", []) if a.get("code") == allocation.arm), {})
    arm_label = (arm.get("name_zh") if chinese else None) or arm.get("name") or i18n.arm_name(allocation.arm)
    assessment = allocation.assessment
    criteria = assessment.criteria if assessment else []
    factors = [
        (
            translation.gettext("site") if code == "site" else readable.question_label(definition, code),
            {"yes": translation.gettext("yes"), "no": translation.gettext("no")}.get(str(value), str(value)),
        )
        for code, value in allocation.factors.items()
    ]
    zone = zone_for(participant)
    return {
        "c": confirmation,
        "participant": participant,
        "allocation": allocation,
        "site_name": participant.site.name_in(translation.get_language()),
        "trial": allocation.trial,
        "trial_title": (definition.get("trial", {}).get("title_zh") if chinese else None) or allocation.trial.title,
        "arm_label": arm_label,
        "arm_code": allocation.arm,
        "randomized_at": timezone.localtime(allocation.allocated_at, zone).strftime("%Y-%m-%d %H:%M"),
        "time_zone": str(zone),
        "randomized_by": person(allocation.allocated_by),
        # The electronic signature's manifestation (21 CFR 11.50): name, site time, meaning.
        "manifestations": signatures.manifestations(allocation),
        "assessment": assessment,
        "met": [readable.wording(c) or c.get("code", "") for c in criteria if c.get("status") == "met"],
        "not_met": readable.reasons(criteria, definition),
        "factors": factors,
        "html_lang": i18n.html_lang(),
    }


def render_html(confirmation: Confirmation, *, pdf_url: str = "", back_url: str = "") -> str:
    """The page; with `pdf_url`, the screen version with a print button and links."""
    extra = {"print_button": bool(pdf_url), "pdf_url": pdf_url, "back_url": back_url}
    return render_to_string("randomization/confirmation.html", {**context(confirmation), **extra})


def render_pdf(confirmation: Confirmation) -> bytes:
    return html_to_pdf(render_html(confirmation))


def filename(confirmation: Confirmation) -> str:
    suffix = f"-copy{confirmation.copy_number}" if confirmation.copy_number else ""
    return f"randomization-{confirmation.participant.screening_number}-R{confirmation.allocation.sequence}{suffix}.pdf"
