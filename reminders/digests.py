"""Staff morning digests, one email per staff member, site and local day: for research nurses
tomorrow's visits, unbooked cycles whose window closes within 3 days and participants with
overdue labs; for pharmacists the dose sheets due in the next 3 days that are not released
(dosing.selectors.dose_sheets_due, read through its selector, never its models)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.template.loader import render_to_string
from django.utils import translation

from dosing.selectors import dose_sheets_due
from reminders.models import DigestKind, StaffDigest
from schedules import selectors
from schedules.models import ScheduledEvent  # the rows the digest lists
from trialsite import roles
from trialsite.models import Site
from trialsite.transports import OutgoingMessage, PermanentTransportError, TemporaryTransportError, Transport

log = logging.getLogger(__name__)

DIGEST_TIME = dt.time(7, 0)  # local site time; the digests go out at the first beat tick after it
# A digest row claimed (sending) by a worker that died is taken back by a later tick after this.
# It is counted from the tick's `now`, so it must exceed the task's hard time limit (120 s): a
# slow but alive send is never doubled. Ticks are 15 minutes apart, so 10 minutes costs nothing.
DIGEST_LEASE = dt.timedelta(minutes=10)
WINDOW_CLOSING_DAYS = 3
DOSE_SHEET_DAYS = 3


@dataclass
class NurseDigest:
    tomorrow: list[ScheduledEvent] = field(default_factory=list)
    closing_unbooked: list[ScheduledEvent] = field(default_factory=list)
    overdue_labs: list[ScheduledEvent] = field(default_factory=list)

    def __bool__(self) -> bool:
        return bool(self.tomorrow or self.closing_unbooked or self.overdue_labs)


def nurse_digest(*, site: Site, today: dt.date) -> NurseDigest:
    return NurseDigest(**selectors.nurse_digest_events(site, today=today, closing_days=WINDOW_CLOSING_DAYS))


def pharmacist_digest(*, site: Site, today: dt.date) -> list[Any]:
    """Unreleased dose sheets whose day 1 is within 3 days."""
    return list(
        dose_sheets_due(site_ids=[site.pk], day1_from=today, day1_to=today + dt.timedelta(days=DOSE_SHEET_DAYS))
    )


def _language(user: User) -> str:
    profile = getattr(user, "staff_profile", None)
    return getattr(profile, "language", None) or "en"


def _render(kind: str, *, site: Site, today: dt.date, content: Any, language: str) -> tuple[str, str]:
    with translation.override(language):
        text = render_to_string(
            f"reminders/digest_{kind}.txt", {"site": site, "today": today, "digest": content}
        ).strip()
    subject, _, body = text.partition("\n")
    return subject.strip(), body.strip()


def _staff(site: Site, role: str) -> list[User]:
    return list(
        User.objects.filter(is_active=True, groups__name=role, site_memberships__site=site)
        .exclude(email="")
        .select_related("staff_profile")
        .distinct()
        .order_by("pk")
    )


def digests_send_due(*, now: dt.datetime, get_transport: Callable[[str], Transport]) -> dict[str, int]:
    """Send each site's digests of its local day once its local time has passed DIGEST_TIME.

    Once per (kind, site, user, day): the StaffDigest row is inserted first (the unique
    constraint decides between two ticks or two workers) and claimed pending → sending with a
    lease; a temporary SMTP error puts it back to pending for the next tick, and a row whose
    worker died while sending is claimed again by a tick of the same day once its lease ran out
    (sent at most twice in that one window, as for the reminders, whose guarantees
    reminders/services.py writes out; never on another day)."""
    counts = {"sent": 0, "empty": 0, "failed": 0, "retry": 0}
    for site in Site.objects.all().order_by("pk"):
        local = now.astimezone(ZoneInfo(site.time_zone))
        if local.time() < DIGEST_TIME:
            continue
        today = local.date()
        contents: dict[str, Any] = {
            DigestKind.NURSE: nurse_digest(site=site, today=today),
            DigestKind.PHARMACIST: pharmacist_digest(site=site, today=today),
        }
        for kind, role in ((DigestKind.NURSE, roles.RESEARCH_NURSE), (DigestKind.PHARMACIST, roles.PHARMACIST)):
            content = contents[kind]
            for user in _staff(site, role):
                try:
                    with transaction.atomic():
                        row, _ = StaffDigest.objects.get_or_create(kind=kind, site=site, user=user, day=today)
                except IntegrityError:
                    continue
                claimable = Q(status="pending") | Q(status="sending", lease_until__lt=now)
                if not StaffDigest.objects.filter(claimable, pk=row.pk).update(
                    status="sending", lease_until=now + DIGEST_LEASE
                ):
                    continue
                if not content:
                    StaffDigest.objects.filter(pk=row.pk).update(status="empty", lease_until=None)
                    counts["empty"] += 1
                    continue
                subject, body = _render(kind, site=site, today=today, content=content, language=_language(user))
                key = f"digest-{kind}-{site.pk}-{user.pk}-{today:%Y%m%d}"
                try:
                    get_transport("email").send(OutgoingMessage(user.email, subject, body, key))
                except TemporaryTransportError as exc:
                    StaffDigest.objects.filter(pk=row.pk).update(
                        status="pending", lease_until=None, last_error=str(exc)[:2000]
                    )
                    counts["retry"] += 1
                    continue
                except PermanentTransportError as exc:
                    StaffDigest.objects.filter(pk=row.pk).update(
                        status="failed", lease_until=None, last_error=str(exc)[:2000]
                    )
                    counts["failed"] += 1
                    continue
                StaffDigest.objects.filter(pk=row.pk).update(status="sent", sent_at=now, body=body, lease_until=None)
                counts["sent"] += 1
    return counts
